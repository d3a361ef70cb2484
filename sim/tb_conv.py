"""cocotb testbench: one RTL conv core (``hw.conv_core.ConvCore``) against the golden model.

Run through ``sim.runner`` like the layer core's bench (``sim.tb_layer``), with a
``sim.conv_cases.ConvCase`` in ``SYNAPRUNE_CASE``. The core sits in ``sim/conv_harness.v``,
which plays host scripts and samples and logs the core's answers (``sim.harness``). The bench
loads the layer's initial kernels through the host port and reads them back, then for every
sample sets the knobs (threshold, leak, inhibition; for a learning sample ``learn``, k winners,
radius, the rates of the model's schedule, the prune threshold), streams the input spikes and
checks, against ``model.deep_network.ConvLayer`` (``learn_sample`` or ``forward``):

- at every step, every neuron's leaked membrane (probe port: each sweep row once, in order);
- the output spikes (time, index) in the core's order and the END;
- the winners in order (map, row, column, step);
- after every learning sample (and after the last sample), every kernel weight and live bit,
  read back through the host port, and the STDP LFSR's state;
- the counters: every phase's cycles against ``model.conv_cycles`` (``sample_cycles``,
  ``learn_cycles``), synaptic events, spikes, steps, STDP updates, pruned entries, winners.

The first divergence stops the case and is recorded as (layer, sample, step, what, map,
position, expected, got); the runner then re-runs the case up to that sample with waveforms.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

from ..hw.conv_core import ConvCounter, ConvRegion
from ..hw.conv_map import host_words, input_events, kernels_from_words, output_events
from ..hw.layouts import EventKind
from ..model import conv
from ..model.conv_cycles import PHASES, ConvGeometry, learn_cycles, sample_cycles
from ..model.deep_network import ConvLayer
from . import conv_harness
from .conv_cases import ConvCase
from .harness import HarnessDriver, LayoutCodec
from .tally import Tally, counter_increments, mismatch_record
from .tb_layer import MismatchError

PHASE_COUNTERS = {"load": ConvCounter.LOAD_CYCLES, "integrate": ConvCounter.INTEGRATE_CYCLES,
                  "sweep": ConvCounter.SWEEP_CYCLES, "learn": ConvCounter.LEARN_CYCLES,
                  "clear": ConvCounter.CLEAR_CYCLES, "emit": ConvCounter.EMIT_CYCLES}


def first_difference(got: list[Any], want: list[Any]) -> int:
    """Index of the first element where two lists differ (the shorter one's length when one
    is the other's start)."""
    n = min(len(got), len(want))
    return next((k for k in range(n) if got[k] != want[k]), n)


@dataclass
class ConvTally(Tally):
    winners: int = 0
    pruned: int = 0


@dataclass
class Expected:
    """The golden model's answer to one sample, and the knobs the core needs for it."""

    out: np.ndarray  # output spike times (M, H', W') after inhibition
    membranes: np.ndarray  # (T, P', M) leaked membranes
    winners: list[tuple[int, int, int, int]]
    counts: dict[ConvCounter, int]  # counter increments besides the phases' cycles
    cycles: dict[str, int]
    regs: dict[str, int]


class ConvChecks:
    """What a conv core logged for one sample (probe rows, output beats, winners) and its
    kernels read back, against the golden model: the conv bench's checks, and the chain
    bench's for each conv layer (``sim.tb_chain``). ``layer_n``: the layer's index in the deep
    configuration."""

    def __init__(self, geom: ConvGeometry, layer_n: int, harness: HarnessDriver, *,
                 target: int = 0) -> None:
        self.geom, self.layer_n = geom, layer_n
        self.harness, self.target = harness, target  # host scripts go to core ``target``
        lay = conv_harness.layouts(geom)
        self.event, self.probe = LayoutCodec(lay["event"]), LayoutCodec(lay["probe"])
        self.winner = LayoutCodec(lay["winner"])

    def fail(self, sample: int, what: str, *, step: int | None = None, map: int | None = None,
             position: object = None, expected: object = None, got: object = None
             ) -> MismatchError:
        """The first divergence, with its place in this order."""
        return MismatchError(layer=self.layer_n, sample=sample, step=step, what=what,
                             map=map, position=position, expected=expected, got=got)

    def compare_membranes(self, s: int, membranes: np.ndarray, bits: np.ndarray,
                          tally: Tally) -> None:
        """Each sweep row (step, address pos * MR + j) once and in order, every lane's leaked
        membrane (lane p: map j * P + p) against the model's."""
        g, pf = self.geom, self.probe
        steps, addrs = pf.column(bits, "step"), pf.column(bits, "addr")
        rows = [(t, a) for t in range(g.time_steps) for a in range(g.lane_neurons)]
        swept = list(zip(steps.tolist(), addrs.tolist(), strict=True))
        if swept != rows:
            k = first_difference(swept, rows)
            raise self.fail(s, "sweep rows (step, address) in order",
                            step=rows[k][0] if k < len(rows) else None,
                            expected=rows[k] if k < len(rows) else "no more rows",
                            got=swept[k] if k < len(swept) else "no more rows")
        pos, j = np.divmod(addrs, g.map_rows)
        maps = j[:, None] * g.lanes + np.arange(g.lanes)
        got = pf.element_columns(bits, "v")
        want = membranes[steps[:, None], pos[:, None], maps]
        bad = np.argwhere(got != want)
        if len(bad):
            n, p = (int(v) for v in bad[0])
            y, x = divmod(int(pos[n]), g.out_w)
            raise self.fail(s, "membrane", step=int(steps[n]), map=int(maps[n, p]),
                            position=(y, x), expected=int(want[n, p]), got=int(got[n, p]))
        tally.membranes += got.size

    def _spike_place(self, beat: tuple[int, int, int]) -> dict[str, Any]:
        """Step, map and (row, column) of an output beat (kind, time, index)."""
        g = self.geom
        m, rest = divmod(beat[2], g.positions)
        return {"step": beat[1], "map": m, "position": divmod(rest, g.out_w)}

    def compare_spikes(self, s: int, out: np.ndarray, beats: list[int]) -> None:
        """The output stream (spikes in the core's order, then END) against the model's."""
        ev = self.event
        got = [(int(ev.get(b, "kind")), int(ev.get(b, "time")), int(ev.get(b, "index")))
               for b in beats]
        want = output_events(self.geom, out)
        if got == want:
            return
        k = first_difference(got, want)
        first = want[k] if k < len(want) else got[k]
        place = self._spike_place(first)
        if first[0] == EventKind.END.value:
            place = {"step": first[1]}

        def show(beats: list[tuple[int, int, int]]) -> object:
            if k >= len(beats):
                return "nothing"
            kind, t, i = beats[k]
            return "END" if kind == EventKind.END.value else (t, i)

        raise self.fail(s, f"output event {k} (time, index)", **place, expected=show(want),
                        got=show(got))

    def compare_winners(self, s: int, want: list[tuple[int, int, int, int]],
                        words: list[int]) -> None:
        wf = self.winner
        got = [tuple(int(wf.get(w, f)) for f in ("map", "y", "x", "time")) for w in words]
        if got == want:
            return
        k = first_difference(got, want)
        first = want[k] if k < len(want) else got[k]
        raise self.fail(s, f"winner {k} (map, row, column, step)", step=first[3], map=first[0],
                        position=first[1:3], expected=want[k] if k < len(want) else "none",
                        got=got[k] if k < len(got) else "none")

    async def check_kernels(self, s: int, model: ConvLayer, lfsr: int, tally: Tally) -> None:
        """Every kernel weight and live bit, read through the harness, and the STDP LFSR's
        state ``lfsr``, against ``model``'s."""
        g, h, to = self.geom, self.harness, self.target
        n_w, n_k = g.map_rows * g.channels * g.entries, g.map_rows * g.channels
        script = [e for p in range(g.lanes) for e in h.reads(ConvRegion.WEIGHT, p, n_w, target=to)]
        script += [e for p in range(g.lanes) for e in h.reads(ConvRegion.MASK, p, n_k, target=to)]
        data = await h.host(script)
        w_words = [data[p * n_w:(p + 1) * n_w] for p in range(g.lanes)]
        k_words = [data[g.lanes * n_w + p * n_k:][:n_k] for p in range(g.lanes)]
        weights, mask = kernels_from_words(g, w_words, k_words)
        for what, got, exp in (("live mask", mask, model.mask),
                               ("kernel weight", weights, model.weights)):
            diff = np.argwhere(got != exp)
            if len(diff):
                m, c, dy, dx = (int(v) for v in diff[0])
                raise self.fail(s, what, map=m, position=f"entry (c {c}, dy {dy}, dx {dx})",
                                expected=int(exp[m, c, dy, dx]), got=int(got[m, c, dy, dx]))
        if lfsr != model.lfsr.peek_state():
            raise self.fail(s, "STDP LFSR state", expected=model.lfsr.peek_state(), got=lfsr)
        tally.weights += weights.size


class Bench(ConvChecks):
    """Drives one conv core through its harness and follows it with the golden model."""

    def __init__(self, dut: Any, case: ConvCase, workdir: Path) -> None:
        geom = case.geometry()
        super().__init__(geom, case.layer,
                         HarnessDriver(dut, conv_harness.parameters(geom), workdir))
        self.dut, self.case = dut, case
        self.regs = LayoutCodec(conv_harness.regs_layout(self.geom))
        self.layer = case.model_layer()
        self.golden_s = 0.0
        self.counters = {c: 0 for c in ConvCounter}

    # ---------------- host: kernels ----------------
    async def load_kernels(self) -> None:
        h = self.harness
        await h.host([e for region, lane, addr, word in
                      host_words(self.geom, self.layer.weights, self.layer.mask)
                      for e in h.writes(region, lane, [word], addr)])

    async def inject_weight_fault(self, m: int, c: int, dy: int, dx: int, weight: int) -> None:
        """Write ``weight`` for kernel entry (m, c, dy, dx) into the core only."""
        g, h = self.geom, self.harness
        addr = ((m // g.lanes) * g.channels + c) * g.entries + dy * g.kernel + dx
        await h.host(h.writes(ConvRegion.WEIGHT, m % g.lanes, [weight], addr))

    def read_counters(self) -> dict[ConvCounter, int]:
        """The counters' increments since the last call."""
        inc, self.counters = counter_increments(int(self.dut.counters.value), self.counters,
                                                conv_harness.COUNTER_BITS)
        return inc

    async def check_state(self, s: int, tally: ConvTally) -> None:
        await self.check_kernels(s, self.layer, int(self.dut.core_lfsr.value), tally)

    # ---------------- one sample ----------------
    def golden(self, times: np.ndarray, learn: bool) -> Expected:
        """Run the model's layer on one sample (learning or not) and say what the core must
        answer and which knobs it runs with."""
        layer, spec, g = self.layer, self.layer.spec, self.geom
        membranes = layer.step_membranes(times)
        mask = layer.mask.copy()
        rates = conv.scheduled_rates(spec.a_plus, spec.a_minus, spec.a_plus_max,
                                     spec.a_minus_max, spec.rate_double_every, layer.learned)
        if learn:
            res = layer.learn_sample(times)
            out, winners, inhibit = res.out, res.winners, spec.inhibition
            counts = {ConvCounter.SYN_EVENTS: res.syn_events,
                      ConvCounter.SYN_UPDATES: res.syn_updates, ConvCounter.PRUNED: res.pruned}
            learn_c = learn_cycles(g, mask, int((out < g.time_steps).sum()),
                                   [w[0] for w in winners], spec.k_winners)
        else:
            fw, events = layer.forward(times[None])
            out, winners, inhibit = fw[0], [], spec.inhibit_infer
            counts = {ConvCounter.SYN_EVENTS: int(events[0]), ConvCounter.SYN_UPDATES: 0,
                      ConvCounter.PRUNED: 0}
            learn_c = 0
        counts.update({ConvCounter.SPIKES: int((out < g.time_steps).sum()),
                       ConvCounter.STEPS: g.time_steps, ConvCounter.SAMPLES: 1,
                       ConvCounter.WINNERS: len(winners)})
        cycles = {**sample_cycles(g, times, mask, out, inhibit).as_dict(), "learn": learn_c}
        cycles["total"] = sum(cycles[ph] for ph in PHASES)
        rate_mask = (1 << (g.stdp_frac_bits + 2)) - 1
        regs = {"threshold": spec.threshold, "leak_shift": spec.leak_shift, "inhibit": inhibit,
                "learn": learn, "k_winners": spec.k_winners,
                # the register holds radii up to max(H', W') - 1, which already excludes
                # every position: a larger radius acts the same
                "radius": min(spec.inhibit_radius, max(g.out_h, g.out_w) - 1),
                "a_plus": rates[0] & rate_mask, "a_minus": rates[1] & rate_mask,
                "prune_enable": spec.prune_enabled, "prune_threshold": spec.prune_threshold}
        return Expected(out, membranes, winners, counts, cycles, regs)

    async def run_sample(self, s: int, times: np.ndarray, learn: bool, tally: ConvTally) -> None:
        t0 = time.perf_counter()
        exp = self.golden(times, learn)
        self.golden_s += time.perf_counter() - t0
        ev = self.event
        beats = [ev.pack(kind=EventKind.SPIKE.value, time=t, index=i)
                 for t, i in input_events(self.geom, times)]
        beats.append(ev.pack(kind=EventKind.END.value, time=0, index=0))
        regs = self.regs.pack(**{k: int(v) for k, v in exp.regs.items()
                                 if k in self.regs.fields})
        log = await self.harness.sample(beats, regs=regs, gap=self.case.in_gap,
                                        stall=self.case.out_stall, seed=self.case.seed + s,
                                        timeout_cycles=50 * (exp.cycles["total"] + 100))
        if log is None:
            raise self.fail(s, "timeout", expected=f"END within {exp.cycles['total']} cycles")
        self.compare_membranes(s, exp.membranes, log.probes, tally)
        self.compare_spikes(s, exp.out, log.beats)
        self.compare_winners(s, exp.winners, log.winners)
        inc = self.read_counters()
        got_cycles = {ph: inc[c] for ph, c in PHASE_COUNTERS.items()}
        want_cycles = {ph: exp.cycles[ph] for ph in PHASE_COUNTERS}
        if got_cycles != want_cycles:
            raise self.fail(s, "cycles per phase", expected=want_cycles, got=got_cycles)
        for c, want in exp.counts.items():
            if inc[c] != want:
                raise self.fail(s, f"counter {c.name}", expected=want, got=inc[c])
        if int(self.dut.error.value):
            raise self.fail(s, "error flags", expected=0, got=int(self.dut.error.value))
        tally.samples += 1
        tally.learn_samples += int(learn)
        tally.spikes += exp.counts[ConvCounter.SPIKES]
        tally.updates += exp.counts[ConvCounter.SYN_UPDATES]
        tally.pruned += exp.counts[ConvCounter.PRUNED]
        tally.winners += len(exp.winners)
        tally.cycles.append(exp.cycles)

@cocotb.test()
async def conv_layer_matches_golden_model(dut: Any) -> None:
    """Every sample of the case: RTL conv core == golden model (see module docstring)."""
    case = ConvCase.load(os.environ["SYNAPRUNE_CASE"])
    summary_path = os.environ.get("SYNAPRUNE_SUMMARY")
    bench = Bench(dut, case, Path.cwd())
    await bench.harness.start()
    tally = ConvTally()
    mismatch: dict[str, Any] | None = None
    t0 = time.perf_counter()
    bar = bench.harness.progress(len(case.times), f"sim layer {case.layer}")
    try:
        await bench.load_kernels()
        await bench.check_state(-1, tally)
        bench.read_counters()
        if case.weight_fault:
            await bench.inject_weight_fault(*case.weight_fault)
        for s, (times, learn) in enumerate(zip(case.times, case.learn, strict=True)):
            await bench.run_sample(s, times, bool(learn), tally)
            if learn or s + 1 == len(case.times):
                await bench.check_state(s, tally)
            bar.update()
    except MismatchError as err:
        mismatch = mismatch_record(err.where)
    bar.close()
    tally.finish(summary_path, mismatch=mismatch, sim_cycles=int(dut.cycles.value),
                 wall=time.perf_counter() - t0, sim_s=bench.harness.sim_s,
                 golden_s=bench.golden_s, case=case.name, layer=case.layer, lanes=case.lanes,
                 winners_compared=tally.winners, pruned=tally.pruned)

