"""cocotb testbench: the RTL layer core against the golden model, cycle by cycle.

Run through ``sim.runner`` (``cocotb_tools.runner``), which passes a case file (``sim.cases``)
in ``SYNAPRUNE_CASE`` and a summary path in ``SYNAPRUNE_SUMMARY``. The bench drives the core
through the simulation harness (``sim/harness.v``, ``sim.harness``), which plays host-port
scripts and samples inside the simulator and logs the core's answers, so Python wakes once per
script or sample rather than once per cycle. It loads the case's initial network through the
host port, then for every sample streams its input events (with pseudo-random gaps and output
stalls when the case asks for back-pressure), and checks against
``Network.run_sample(trace=True)``:

- at every executed time step, the membrane potential of every neuron after leak (probe port,
  logged by the harness in every cycle that finishes a sweep row);
- every STDP update: neuron, input, new weight, pruned flag, in order (probe port);
- the output spikes (time, neuron), the END beat (last step, predicted neuron), the label;
- the core's counters: cycles of each phase against ``model.cycles.sample_cycles``, synaptic
  events, updates, pruned synapses, steps;
- every ``full_check_every`` samples and at the end, all weights, both masks, the adaptation
  and the LFSR, read back through the host port.

Under "pq" the bench is the host at a block's end: after the sample that ends it, it reads the
weights and the mask back, computes the rewire commands from them (``rewiring.pq_commands``)
and writes them (REWIRE), before it reads the counters (the commands' cycles count with the
sample's learning, as in ``model.cycles.sample_cycles``).

The first divergence is recorded as (sample, step, what, where, expected, got); the run stops
there and the summary says so. A case may carry a ``weight_fault``: one weight written into the
core but not into the model, to show that the bench catches it.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

from ..hw import layouts
from ..hw import memory_map as mm
from ..hw.layouts import Counter, EventKind, HostRegion
from ..model import cycles, rewiring
from ..model.config import Config
from ..model.encoding import events
from ..model.network import Network, SampleResult
from .cases import Case
from .harness import HarnessDriver, LayoutCodec, parameters
from .tally import Tally, mismatch_record

RECORDED_SAMPLES = 50  # samples whose RTL output spikes go into the summary (for pictures)
PHASE_COUNTERS = {"integrate": Counter.INTEGRATE_CYCLES, "sweep": Counter.SWEEP_CYCLES,
                  "learn": Counter.LEARN_CYCLES, "clear": Counter.CLEAR_CYCLES,
                  "load": Counter.LOAD_CYCLES, "emit": Counter.EMIT_CYCLES}


class MismatchError(Exception):
    """The first place where the RTL and the golden model disagree."""

    def __init__(self, **where: Any) -> None:
        super().__init__(", ".join(f"{k}={v}" for k, v in where.items()))
        self.where = where


@dataclass
class LayerTally(Tally):
    rtl_spikes: list[list[tuple[int, int]]] = field(default_factory=list)  # as the RTL sent them
    syn_events: int = 0
    regrown: int = 0  # synapses regrown (sparse policies), checked in the state read back
    rewire_commands: int = 0  # "pq": the host's rewire commands
    integrate_cycles: int = 0
    lanes_busy_cycles: int = 0


class LayerChecks:
    """What a layer core's probe logged for one sample against the golden model's trace, and
    its state and counters read through its host port: the layer bench's checks, and the
    chain bench's for its classifier (``sim.tb_chain``)."""

    def __init__(self, cfg: Config, harness: HarnessDriver, *, target: int = 0) -> None:
        self.cfg = cfg
        self.probe = LayoutCodec(layouts.probe_layout(cfg))
        self.harness, self.target = harness, target  # host scripts go to core ``target``

    def compare_probes(self, s: int, res: SampleResult, updates: list[tuple[int, int, int, bool]],
                       bits: np.ndarray, tally: Tally) -> None:
        """The probe's sweep rows (every (step, row) once, in order; every lane's membrane after
        leak) and STDP updates (in order) of sample ``s`` against the golden model's trace."""
        cfg, pf = self.cfg, self.probe
        sw = bits[pf.column(bits, "sweep_valid") == 1]
        steps, rows = pf.column(sw, "step"), pf.column(sw, "row")
        expected_rows = [(t, k) for t in range(res.steps) for k in range(cfg.rows)]
        swept = list(zip(steps.tolist(), rows.tolist(), strict=True))
        if swept != expected_rows:
            raise MismatchError(sample=s, what="sweep rows (step, row) in order",
                                expected=expected_rows, got=swept)
        neurons = rows[:, None] * cfg.lanes + np.arange(cfg.lanes)
        got_v = pf.element_columns(sw, "v")
        exp_v = (np.asarray(res.membranes, dtype=np.int64)[steps[:, None], neurons] if len(sw)
                 else got_v)
        bad = np.argwhere(got_v != exp_v)
        if len(bad):
            n, p = bad[0]
            raise MismatchError(sample=s, step=int(steps[n]), what="membrane",
                                neuron=int(neurons[n, p]), expected=int(exp_v[n, p]),
                                got=int(got_v[n, p]))
        tally.membranes += got_v.size
        lv = bits[pf.column(bits, "learn_valid") == 1]
        got_u = np.stack([pf.column(lv, f) for f in ("neuron", "input", "weight", "pruned")], 1)
        exp_u = np.array(updates, dtype=np.int64).reshape(-1, 4)
        n = min(len(got_u), len(exp_u))
        bad = np.flatnonzero((got_u[:n] != exp_u[:n]).any(axis=1))
        if len(bad):
            k = int(bad[0])
            raise MismatchError(sample=s, index=k, expected=updates[k],
                                got=(*(int(x) for x in got_u[k, :3]), bool(got_u[k, 3])),
                                what="stdp update (neuron, input, weight, pruned)")
        if len(got_u) != len(exp_u):
            raise MismatchError(sample=s, what="stdp updates count", expected=len(exp_u),
                                got=len(got_u))

    async def read_state(self) -> dict[str, Any]:
        """Weights, row and column masks, adaptation, LFSR and live counter, in the model's
        terms (``hw.memory_map``)."""
        cfg, P = self.cfg, self.cfg.lanes
        n_w, n_c = cfg.n_inputs * cfg.rows, cfg.n_neurons * cfg.col_words
        n_i = cfg.n_inputs * cfg.row_words  # row-mask words per lane
        h, to = self.harness, self.target

        def per_lane(region: HostRegion, count: int) -> list[int]:
            return [e for p in range(P) for e in h.reads(region, p, count, target=to)]

        script = per_lane(HostRegion.WEIGHT, n_w) + per_lane(HostRegion.ROW_MASK, n_i)
        script += h.reads(HostRegion.COL_MASK, 0, n_c, target=to)
        script += per_lane(HostRegion.ADAPT, cfg.rows)
        script += h.reads(HostRegion.LFSR, 0, 1, target=to)
        script += h.reads(HostRegion.LIVE, 0, 1, target=to)
        data = np.array(await h.host(script), dtype=object)
        w, data = data[:P * n_w], data[P * n_w:]
        rows, data = data[:P * n_i], data[P * n_i:]
        cols, data = data[:n_c], data[n_c:]
        adapt, (lfsr, live) = data[:P * cfg.rows], data[P * cfg.rows:]
        return {
            "weights": mm.weights_from_words(cfg, w.astype(np.int64).reshape(P, n_w)),
            "row_mask": mm.mask_from_row_words(cfg, rows.reshape(P, n_i)),
            "col_mask": mm.mask_from_col_words(cfg, cols),
            "adapt": mm.per_neuron_from_lanes(cfg, adapt.astype(np.int64).reshape(P, cfg.rows)),
            "lfsr": int(lfsr), "live": int(live),
        }

    async def read_counters(self) -> dict[Counter, int]:
        """Every counter's value (since the last clear)."""
        h = self.harness
        values = await h.host(h.reads(HostRegion.COUNTER, 0, len(Counter), target=self.target))
        return dict(zip(Counter, values, strict=True))

    async def check_state(self, s: int, net: Network, tally: Tally) -> None:
        st = await self.read_state()
        for name, got, exp in (("weight", st["weights"], net.weights),
                               ("row mask", st["row_mask"], net.mask),
                               ("column mask", st["col_mask"], net.mask),
                               ("adaptation", st["adapt"], net.adapt)):
            diff = np.argwhere(np.asarray(got) != np.asarray(exp))
            if len(diff):
                where = tuple(int(x) for x in diff[0])
                raise MismatchError(sample=s, what=name, synapse_or_neuron=where,
                               expected=int(np.asarray(exp)[where]),
                               got=int(np.asarray(got)[where]))
        if st["lfsr"] != net.lfsr.peek_state():
            raise MismatchError(sample=s, what="lfsr", expected=net.lfsr.peek_state(),
                                got=st["lfsr"])
        if st["live"] != net.live:
            raise MismatchError(sample=s, what="live counter", expected=net.live, got=st["live"])
        tally.weights += net.weights.size


class Bench(LayerChecks):
    """Drives one core through the simulation harness (``sim.harness``)."""

    def __init__(self, dut: Any, case: Case, workdir: Path) -> None:
        super().__init__(case.cfg, HarnessDriver(dut, parameters(case.cfg), workdir))
        self.dut, self.case = dut, case
        cfg = self.cfg
        self.regs = LayoutCodec(layouts.regs_layout(cfg))
        self.event = LayoutCodec(layouts.event_layout(index_bits=layouts.index_bits(cfg),
                                                      time_bits=cfg.time_bits))
        self.golden_s = 0.0  # wall time in the golden model

    @property
    def cycle(self) -> int:
        return int(self.dut.cycles.value)

    # ---------------- host port ----------------
    async def load_network(self, net: Network, labels: np.ndarray) -> None:
        cfg, h = self.cfg, self.harness
        script = [e for p, words in enumerate(mm.weight_words(cfg, net.weights))
                  for e in h.writes(HostRegion.WEIGHT, p, words)]
        script += [e for p, words in enumerate(mm.row_mask_words(cfg, net.mask))
                   for e in h.writes(HostRegion.ROW_MASK, p, words)]
        script += h.writes(HostRegion.COL_MASK, 0, mm.col_mask_words(cfg, net.mask))
        script += [e for p, words in enumerate(mm.lane_words(cfg, net.adapt))
                   for e in h.writes(HostRegion.ADAPT, p, words)]
        script += h.writes(HostRegion.LABEL, 0, labels)
        script += h.writes(HostRegion.LFSR, 0, [net.lfsr.peek_state()])
        script += h.writes(HostRegion.LIVE, 0, [net.live])
        await h.host(script)

    async def inject_weight_fault(self, net: Network, i: int, j: int, weight: int) -> None:
        """Write ``weight`` for synapse i -> j into the core only (the model keeps its own)."""
        faulty = net.weights.copy()
        faulty[i, j] = weight
        words, good = mm.weight_words(self.cfg, faulty), mm.weight_words(self.cfg, net.weights)
        lane, addr = (int(x) for x in np.argwhere(words != good)[0])
        h = self.harness
        await h.host(h.writes(HostRegion.WEIGHT, lane, [words[lane, addr]], addr))

    async def rewire(self) -> int:
        """The host's "pq" block step: the rewire commands from the weights and mask read back,
        written to the core (each runs before the next is taken). Returns their number."""
        cfg, h = self.cfg, self.harness
        st = await self.read_state()
        commands = rewiring.pq_commands(st["weights"], st["col_mask"], cfg.pq_p, cfg.pq_q,
                                        cfg.pq_eta, cfg.pq_gamma, cfg.pq_beta)
        script = [e for lane, addr, word in mm.rewire_words(cfg, commands)
                  for e in h.writes(HostRegion.REWIRE, lane, [word], addr)]
        # a command walks the neuron's column and regrows: up to G + n_inputs + regrowths
        per_command = 4 * (cfg.col_words + cfg.n_inputs * (1 + cycles.regrow_cycles(cfg)))
        await h.host(script, cycles_per_entry=per_command)
        return len(commands)

    # ---------------- one sample ----------------
    async def run_sample(self, s: int, times: np.ndarray, learn: bool, net: Network,
                         tally: LayerTally) -> None:
        cfg = self.cfg
        t0 = time.perf_counter()
        res = net.run_sample(times, learn=learn, trace=True)
        self.golden_s += time.perf_counter() - t0
        expect = cycles.sample_cycles(cfg, res)
        h = self.harness
        await h.host(h.writes(HostRegion.COUNTER, 0, [0]))  # clear counters
        ev = self.event
        beats = [ev.pack(kind=EventKind.SPIKE.value, time=t, index=i)
                 for t, i in events(times, cfg)]
        beats.append(ev.pack(kind=EventKind.END.value, time=0, index=0))
        updates = [(j, int(i), int(w), bool(pr)) for j, inputs, ws, prs in res.updates
                   for i, w, pr in zip(inputs, ws, prs, strict=True)]
        regs = self.regs.pack(**layouts.regs_value(cfg, learn=learn))
        log = await self.harness.sample(beats, regs=regs, gap=self.case.in_gap,
                                        stall=self.case.out_stall, seed=self.case.seed + s,
                                        timeout_cycles=50 * (expect.total + 100))
        if log is None:
            raise MismatchError(sample=s, what="timeout", expected=f"{expect.total} cycles")
        self.compare_probes(s, res, updates, log.probes, tally)
        beats_out = np.array(log.beats, dtype=np.int64)  # LayoutCodec.get works on arrays too
        is_end = ev.get(beats_out, "kind") == EventKind.END.value
        times_out, index_out = ev.get(beats_out, "time").tolist(), ev.get(beats_out, "index")
        got_spikes = list(zip(times_out, index_out.tolist(), strict=True))
        got_spikes = [sp for sp, e in zip(got_spikes, is_end.tolist(), strict=True) if not e]
        if got_spikes != res.spikes:
            raise MismatchError(sample=s, what="spikes", expected=res.spikes, got=got_spikes)
        last = res.steps - 1
        end = (times_out[-1], int(index_out[-1]))
        if end != (last, res.prediction):
            raise MismatchError(sample=s, what="END (last step, predicted neuron)",
                                expected=(last, res.prediction), got=end)
        label = int(self.dut.pred_label.value)
        if label != int(self.case.labels[res.prediction]):
            raise MismatchError(sample=s, what="predicted label", expected=
                                int(self.case.labels[res.prediction]), got=label)
        if learn and cfg.pq_block_ends(net.learned):
            tally.rewire_commands += await self.rewire()
        cnt = await self.read_counters()
        got_cycles = {ph: cnt[c] for ph, c in PHASE_COUNTERS.items()}
        exp_cycles = {ph: getattr(expect, ph) for ph in PHASE_COUNTERS}
        if got_cycles != exp_cycles:
            raise MismatchError(sample=s, what="cycles per phase", expected=exp_cycles,
                                got=got_cycles)
        for what, c, exp in (("synaptic events", Counter.SYN_EVENTS, res.syn_events),
                             ("synaptic updates", Counter.SYN_UPDATES, res.syn_updates),
                             ("pruned", Counter.PRUNED, res.pruned),
                             ("steps", Counter.STEPS, res.steps), ("samples", Counter.SAMPLES, 1)):
            if cnt[c] != exp:
                raise MismatchError(sample=s, what=f"counter {what}", expected=exp, got=cnt[c])
        tally.samples += 1
        tally.learn_samples += int(learn)
        tally.spikes += len(res.spikes)
        tally.updates += len(updates)
        tally.syn_events += res.syn_events
        tally.regrown += res.regrown
        tally.integrate_cycles += expect.integrate
        tally.cycles.append(expect.as_dict())
        if len(tally.rtl_spikes) < RECORDED_SAMPLES:
            tally.rtl_spikes.append(got_spikes)

@cocotb.test()
async def layer_matches_golden_model(dut: Any) -> None:
    """Every sample of the case: RTL == golden model (see module docstring)."""
    case = Case.load(os.environ["SYNAPRUNE_CASE"])
    summary_path = os.environ.get("SYNAPRUNE_SUMMARY")
    bench = Bench(dut, case, Path.cwd())
    await bench.harness.start()
    net = case.network()
    tally = LayerTally()
    mismatch: dict[str, Any] | None = None
    t0 = time.perf_counter()
    # a bar in a terminal, a few lines in a log (SYNAPRUNE_PROGRESS, inherited, still decides)
    bar = bench.harness.progress(len(case.times), "sim")
    profile_path = os.environ.get("SYNAPRUNE_PROFILE")
    profiler = cProfile.Profile() if profile_path else None
    if profiler:  # the testbench's own Python: the simulator's time is outside any frame
        profiler.enable()
    try:
        await bench.load_network(net, case.labels)
        await bench.check_state(-1, net, tally)
        if case.weight_fault:
            await bench.inject_weight_fault(net, *case.weight_fault)
        for s, (times, learn) in enumerate(zip(case.times, case.learn, strict=True)):
            await bench.run_sample(s, times, bool(learn), net, tally)
            if (s + 1) % case.full_check_every == 0 or s + 1 == len(case.times):
                await bench.check_state(s, net, tally)
            bar.update()
    except MismatchError as err:
        mismatch = mismatch_record(err.where)
    bar.close()
    wall = time.perf_counter() - t0
    if profiler and profile_path:
        profiler.disable()
        with open(profile_path, "w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    tally.finish(summary_path, mismatch=mismatch, sim_cycles=bench.cycle, wall=wall,
                 sim_s=bench.harness.sim_s, golden_s=bench.golden_s, case=case.name,
                 rtl_spikes=tally.rtl_spikes, syn_events=tally.syn_events,
                 integrate_cycles=tally.integrate_cycles, regrown=tally.regrown,
                 rewire_commands=tally.rewire_commands)
