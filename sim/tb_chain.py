"""cocotb testbench: the deep network's whole chain of cores (``hw.deep_chain.DeepChain``:
conv, pooling and classifier cores in one event stream) against the golden model.

Run through ``sim.runner`` like the layer and conv benches, with a
``sim.chain_cases.ChainCase`` in ``SYNAPRUNE_CASE``. The chain sits in
``sim/chain_harness.v``, which plays host scripts (to the layer each entry names) and samples,
and logs every layer's output beats, probes and winners. The bench loads every conv layer's
kernels and the classifier through their host ports and reads them back, then for every
sample sets every layer's knobs and ``learn_layer`` (the conv layers' rates are each layer's
scheduled rates), streams the input spikes into the bottom core and checks, against
``sim.chain_model.model_sample`` (``model.deep_network``, every layer in turn, the one named
learning):

- every layer's output events (conv spikes, pooled spikes, the classifier's spikes and END),
  in each core's order; the first divergence as (layer, sample, event, step, map, position,
  expected, got);
- every conv layer's leaked membranes at every step (each sweep row once, in order) and its
  winners; the classifier's membranes at every executed step and its STDP updates
  (``sim.tb_conv.ConvChecks``, ``sim.tb_layer.LayerChecks``);
- ``pred_label``, and every core's counters: each conv core's against ``model.conv_cycles``,
  each pooling core's against ``model.pool_cycles`` (its stall cycles, which depend on the
  cores above, left out), the classifier's against ``model.cycles`` (host-port reads);
- after every learning sample, the learning layer's state (a conv layer's kernels, live mask
  and LFSR; the classifier's weights, masks, adaptation, LFSR and live counter), and every
  layer's state at the start and the end.

The first divergence stops the case; the runner then re-runs it up to that sample with
waveforms.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from amaranth.lib import data

from ..hw.conv_core import ConvCounter
from ..hw.conv_map import host_words
from ..hw.conv_pool import PoolCounter
from ..hw.deep_chain import classifier_regs_layout, conv_knob_values
from ..hw.layouts import Counter, EventKind, HostRegion, regs_value
from ..model.deep_network import ConvLayer
from . import chain_harness
from .chain_cases import ChainCase
from .chain_model import (
    Expected,
    classifier_host_words,
    divergence,
    input_beats,
    model_sample,
)
from .harness import HarnessDriver, LayoutCodec, bit_matrix
from .tally import Tally, counter_increments, mismatch_record
from .tb_conv import ConvChecks
from .tb_layer import LayerChecks, MismatchError

CONV_PHASES = {"load": ConvCounter.LOAD_CYCLES, "integrate": ConvCounter.INTEGRATE_CYCLES,
               "sweep": ConvCounter.SWEEP_CYCLES, "learn": ConvCounter.LEARN_CYCLES,
               "clear": ConvCounter.CLEAR_CYCLES, "emit": ConvCounter.EMIT_CYCLES}
POOL_PHASES = {"take": PoolCounter.TAKE_CYCLES, "decide": PoolCounter.DECIDE_CYCLES,
               "send": PoolCounter.SEND_CYCLES, "clear": PoolCounter.CLEAR_CYCLES}
CLF_PHASES = {"load": Counter.LOAD_CYCLES, "integrate": Counter.INTEGRATE_CYCLES,
              "sweep": Counter.SWEEP_CYCLES, "learn": Counter.LEARN_CYCLES,
              "clear": Counter.CLEAR_CYCLES, "emit": Counter.EMIT_CYCLES}


@dataclass
class ChainTally(Tally):
    """``Tally`` with the chain's own counts: events compared (every layer), winners, entries
    pruned, and per layer the spikes it sent."""

    events: int = 0
    winners: int = 0
    pruned: int = 0
    layer_spikes: dict[int, int] = field(default_factory=dict)


class ChainBench:
    """Drives the chain through its harness and follows it with the golden model."""

    def __init__(self, dut: Any, case: ChainCase, workdir: Path) -> None:
        self.dut, self.case, self.cfg = dut, case, case.cfg
        chain = chain_harness.describe_chain(case.cfg, case.conv_lanes)
        self.chain, self.top = chain, len(case.cfg.layers) - 1
        self.harness = HarnessDriver(dut, chain_harness.parameters(chain), workdir)
        self.net = case.model_network()
        self.regs = LayoutCodec(chain_harness.regs_layout(chain))
        self.clf_regs = LayoutCodec(classifier_regs_layout(chain.cores[-1]))
        self.status = LayoutCodec(chain_harness.status_layout(chain))
        taps = chain_harness.tap_layouts(chain)
        self.events = {n: LayoutCodec(dict(layout)["payload"].shape)
                       for (kind, n), layout in taps.items() if kind == "events"}
        self.probe_w = {n: layout.size for (kind, n), layout in taps.items()
                        if kind == "probe"}
        payload = chain.signature.members["events_in"].signature.members["payload"].shape
        self.input = LayoutCodec(data.Layout.cast(payload))
        self.convs = {n: ConvChecks(g, n, self.harness, target=n)
                      for n, g in chain.geometries.items()}
        self.pools = [n for n, spec in enumerate(case.cfg.layers) if spec.type == "pool"]
        self.clf = LayerChecks(self.net.classifier.net.cfg, self.harness, target=self.top)
        self.counters: dict[int, dict[Any, int]] = {
            **{n: dict.fromkeys(ConvCounter, 0) for n in self.convs},
            **{n: dict.fromkeys(PoolCounter, 0) for n in self.pools}}
        self.golden_s = 0.0

    def status_field(self, name: str) -> int:
        return int(self.status.get(int(self.dut.status.value), name))

    # ---------------- host: the network's state ----------------
    async def load(self) -> None:
        """Every conv layer's kernels and the classifier, through their host ports."""
        h, script = self.harness, []
        for n, layer in self.net.conv_layers():
            script += [e for region, lane, addr, word in
                       host_words(self.chain.geometries[n], layer.weights, layer.mask)
                       for e in h.writes(region, lane, [word], addr, target=n)]
        script += [e for region, lane, addr, word in classifier_host_words(self.net)
                   for e in h.writes(region, lane, [word], addr, target=self.top)]
        await h.host(script)

    async def inject_kernel_fault(self, n: int, m: int, weight: int) -> None:
        """Write ``weight`` into every entry of conv layer n's kernel m, in the core only."""
        layer = self.net.layers[n]
        assert isinstance(layer, ConvLayer)
        weights = layer.weights.copy()
        weights[m] = weight
        h = self.harness
        await h.host([e for region, lane, addr, word in
                      host_words(self.chain.geometries[n], weights, layer.mask)
                      for e in h.writes(region, lane, [word], addr, target=n)])

    async def check_layer(self, s: int, n: int, tally: ChainTally) -> None:
        """Layer n's state (a conv layer's kernels, live mask and LFSR; the classifier's
        weights, masks, adaptation, LFSR and live counter) against the model's."""
        layer = self.net.layers[n]
        if isinstance(layer, ConvLayer):
            await self.convs[n].check_kernels(s, layer, self.status_field(f"lfsr{n}"), tally)
        elif n == self.top:
            try:
                await self.clf.check_state(s, self.net.classifier.net, tally)
            except MismatchError as err:
                raise in_layer(err, n) from None

    async def check_all(self, s: int, tally: ChainTally) -> None:
        for n in (*self.convs, self.top):
            await self.check_layer(s, n, tally)

    # ---------------- one sample ----------------
    def knobs(self, learn_layer: int) -> int:
        """The ``regs`` word for the next sample: ``learn_layer``, every conv layer's knobs
        (its scheduled rates; a radius past the map acts as the largest the register holds),
        the classifier's registers."""
        values: dict[str, int] = {"learn_layer": learn_layer}
        for n, layer in self.net.conv_layers():
            spec, g = layer.spec, self.chain.geometries[n]
            knobs = conv_knob_values(spec, g, layer.learned)
            values.update({f"l{n}_{k}": v for k, v in knobs.items()
                           if f"l{n}_{k}" in self.regs.fields})
        clf_cfg = self.net.classifier.net.cfg
        values["clf"] = self.clf_regs.pack(**{k: int(v) for k, v in
                                              regs_value(clf_cfg, learn=False).items()
                                              if k in self.clf_regs.fields})
        return self.regs.pack(**values)

    def parse(self, lines: list[str]) -> tuple[dict[int, list[tuple[int, int, int]]],
                                               dict[int, list[str]], dict[int, list[int]]]:
        """A sample's log: per layer the beats it sent (kind, time, index), its probe words
        (binary text) and its winners."""
        beats: dict[int, list[tuple[int, int, int]]] = {n: [] for n in self.events}
        probes: dict[int, list[str]] = {n: [] for n in self.probe_w}
        winners: dict[int, list[int]] = {n: [] for n in self.convs}
        for line in lines:
            kind = line[0]
            if kind == "O":  # the top's beats (the sample player's log)
                n, word = self.top, line[1:]
            else:
                head, _, word = line.partition(" ")
                if kind not in "EPW" or not head[1:].isdigit():
                    continue  # a host read ("H") or another player's line
                n = int(head[1:])
            if kind in "EO":
                w = int(word, 16)
                ev = self.events[n]
                beats[n].append((int(ev.get(w, "kind")), int(ev.get(w, "time")),
                                 int(ev.get(w, "index"))))
            elif kind == "P":
                probes[n].append(word)
            else:
                winners[n].append(int(word, 16))
        return beats, probes, winners

    async def run_sample(self, s: int, times: np.ndarray, learn_layer: int,
                         tally: ChainTally) -> None:
        h = self.harness
        await h.host(h.writes(HostRegion.COUNTER, 0, [0], target=self.top))  # clear them
        regs = self.knobs(learn_layer)  # before the model learns: the rates of this sample
        t0 = time.perf_counter()
        exp = model_sample(self.net, self.chain, times, learn_layer, probes=True)
        self.golden_s += time.perf_counter() - t0
        work = {n: sum(c[ph] for ph in CONV_PHASES.values())
                for n, c in exp.conv_counters.items()}
        work.update({n: sum(c[ph] for ph in POOL_PHASES.values())
                     for n, c in exp.pool_counters.items()})
        work[self.top] = sum(exp.clf_counters[ph] for ph in CLF_PHASES.values())
        ev = self.input
        beats = [ev.pack(kind=EventKind.SPIKE.value, time=t, index=i)
                 for _, t, i in input_beats(times, self.cfg.time_steps)[:-1]]
        beats.append(ev.pack(kind=EventKind.END.value, time=0, index=0))
        lines = await h.sample_lines(beats, regs=regs,
                                     gap=self.case.in_gap, stall=self.case.out_stall,
                                     seed=self.case.seed + s,
                                     timeout_cycles=50 * (sum(work.values()) + 100))
        if lines is None:
            raise MismatchError(sample=s, what="timeout",
                                expected=f"the top's END within {sum(work.values())} cycles")
        got, probes, winners = self.parse(lines)
        bad = divergence(self.cfg, exp.events, [got[n] for n in sorted(got)])
        if bad is not None:
            raise MismatchError(layer=bad["layer"], sample=s, event=bad["event"],
                                what=f"{bad['kind']} output event", where=bad["place"],
                                expected=bad["expected"], got=bad["got"])
        for n, checks in self.convs.items():
            checks.compare_membranes(s, exp.membranes[n],
                                     bit_matrix(probes[n], self.probe_w[n]), tally)
            checks.compare_winners(s, exp.winners[n], winners[n])
        res = exp.clf_result
        assert res is not None
        updates = [(j, int(i), int(w), bool(pr)) for j, inputs, ws, prs in res.updates
                   for i, w, pr in zip(inputs, ws, prs, strict=True)]
        try:
            self.clf.compare_probes(s, res, updates, bit_matrix(probes[self.top],
                                                                self.probe_w[self.top]), tally)
        except MismatchError as err:
            raise in_layer(err, self.top) from None
        label = int(self.net.classifier.labels[exp.prediction])
        if self.status_field("pred_label") != label:
            raise MismatchError(layer=self.top, sample=s, what="pred_label", expected=label,
                                got=self.status_field("pred_label"))
        await self.check_counters(s, exp)
        tally.samples += 1
        tally.learn_samples += int(learn_layer < len(self.cfg.layers))
        spikes = {n: len(b) - 1 for n, b in got.items()}
        tally.layer_spikes = {n: tally.layer_spikes.get(n, 0) + k for n, k in spikes.items()}
        tally.spikes += sum(spikes.values())
        tally.events += sum(len(b) for b in got.values())
        tally.updates += exp.updates
        tally.pruned += exp.pruned
        tally.winners += sum(len(w) for w in exp.winners.values())
        tally.cycles.append({**{f"layer{n}": c for n, c in sorted(work.items())},
                             "total": sum(work.values())})
        if learn_layer < len(self.cfg.layers):
            await self.check_layer(s, learn_layer, tally)

    async def check_counters(self, s: int, exp: Expected) -> None:
        """Every core's counter increments over the sample against the model's; the
        cores' error flags clear."""
        for n in (*self.convs, *self.pools):
            inc, self.counters[n] = counter_increments(self.status_field(f"counters{n}"),
                                                       self.counters[n],
                                                       chain_harness.COUNTER_BITS)
            want = exp.conv_counters[n] if n in self.convs else {
                c: v for c, v in exp.pool_counters[n].items() if c != PoolCounter.STALL_CYCLES}
            got = {c: inc[c] for c in want}
            if got != want:
                raise MismatchError(layer=n, sample=s, what="counters",
                                    expected=named(want), got=named(got))
        cnt = await self.clf.read_counters()
        got = {c: cnt[c] for c in exp.clf_counters}
        if got != exp.clf_counters:
            raise MismatchError(layer=self.top, sample=s, what="counters",
                                expected=named(exp.clf_counters), got=named(got))
        for n in (*self.convs, self.top):
            if self.status_field(f"error{n}"):
                raise MismatchError(layer=n, sample=s, what="error flags", expected=0,
                                    got=self.status_field(f"error{n}"))


def named(counts: dict[Any, int]) -> dict[str, int]:
    """Counter values by counter name (for the mismatch record)."""
    return {c.name: v for c, v in counts.items()}


def in_layer(err: MismatchError, n: int) -> MismatchError:
    """``err`` with the layer it happened in first."""
    return MismatchError(layer=n, **{k: v for k, v in err.where.items() if k != "layer"})


@cocotb.test()
async def chain_matches_golden_model(dut: Any) -> None:
    """Every sample of the case: the RTL chain == golden model (see module docstring)."""
    case = ChainCase.load(os.environ["SYNAPRUNE_CASE"])
    summary_path = os.environ.get("SYNAPRUNE_SUMMARY")
    bench = ChainBench(dut, case, Path.cwd())
    await bench.harness.start()
    tally = ChainTally()
    mismatch: dict[str, Any] | None = None
    t0 = time.perf_counter()
    bar = bench.harness.progress(len(case.times), "sim deep chain")
    try:
        await bench.load()
        await bench.check_all(-1, tally)
        if case.kernel_fault:
            await bench.inject_kernel_fault(*case.kernel_fault)
        for s, (times, learn_layer) in enumerate(zip(case.times, case.learn_layer,
                                                     strict=True)):
            await bench.run_sample(s, times, int(learn_layer), tally)
            bar.update()
        await bench.check_all(len(case.times) - 1, tally)
    except MismatchError as err:
        mismatch = mismatch_record(err.where)
    bar.close()
    tally.finish(summary_path, mismatch=mismatch, sim_cycles=int(dut.cycles.value),
                 wall=time.perf_counter() - t0, sim_s=bench.harness.sim_s,
                 golden_s=bench.golden_s, case=case.name, conv_lanes=list(case.conv_lanes),
                 events_compared=tally.events, winners_compared=tally.winners,
                 pruned=tally.pruned, layer_spikes={str(n): k for n, k
                                                    in sorted(tally.layer_spikes.items())},
                 notes=case.notes)
