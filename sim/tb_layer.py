"""cocotb testbench: the RTL layer core against the golden model, cycle by cycle.

Run through ``sim.runner`` (``cocotb_tools.runner``), which passes a case file (``sim.cases``)
in ``SYNAPRUNE_CASE`` and a summary path in ``SYNAPRUNE_SUMMARY``. The bench loads the case's
initial network through the host port, then for every sample streams its input events (with
random gaps when the case asks for back-pressure), and checks against
``Network.run_sample(trace=True)``:

- at every executed time step, the membrane potential of every neuron after leak (probe port);
- every STDP update: neuron, input, new weight, pruned flag, in order (probe port);
- the output spikes (time, neuron), the END beat (last step, predicted neuron), the label;
- the core's counters: cycles of each phase against ``model.cycles.sample_cycles``, synaptic
  events, updates, pruned synapses, steps;
- every ``full_check_every`` samples and at the end, all weights, both masks, the adaptation
  and the LFSR, read back through the host port.

The first divergence is recorded as (sample, step, what, where, expected, got); the run stops
there and the summary says so.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from ..hw import layouts
from ..hw import memory_map as mm
from ..hw.layouts import Counter, EventKind, HostRegion
from ..model import cycles
from ..model.encoding import events
from ..model.network import Network
from .cases import Case

RECORDED_SAMPLES = 50  # samples whose RTL output spikes go into the summary (for pictures)
PHASE_COUNTERS = {"integrate": Counter.INTEGRATE_CYCLES, "sweep": Counter.SWEEP_CYCLES,
                  "learn": Counter.LEARN_CYCLES, "clear": Counter.CLEAR_CYCLES,
                  "load": Counter.LOAD_CYCLES, "emit": Counter.EMIT_CYCLES}


_UNKNOWN = str.maketrans("xXzZuUwW-", "000000000")


def bits(value: Any) -> int:
    """A logic vector as an int, X/Z bits read as 0. Only for fields whose valid flag is
    checked first (the probe port carries unused, uninitialised values)."""
    return int(str(value).translate(_UNKNOWN), 2)


class MismatchError(Exception):
    """The first place where the RTL and the golden model disagree."""

    def __init__(self, **where: Any) -> None:
        super().__init__(", ".join(f"{k}={v}" for k, v in where.items()))
        self.where = where


@dataclass
class Tally:
    samples: int = 0
    learn_samples: int = 0
    spikes: int = 0
    membranes: int = 0
    updates: int = 0
    weights: int = 0
    cycles: list[dict[str, int]] = field(default_factory=list)
    rtl_spikes: list[list[tuple[int, int]]] = field(default_factory=list)  # as the RTL sent them
    syn_events: int = 0
    integrate_cycles: int = 0
    lanes_busy_cycles: int = 0


class Bench:
    """Drives one core instance; every method advances the clock itself."""

    def __init__(self, dut: Any, case: Case) -> None:
        self.dut, self.case, self.cfg = dut, case, case.cfg
        cfg = self.cfg
        self.regs_layout = layouts.regs_layout(cfg)
        self.event_layout = layouts.event_layout(index_bits=layouts.index_bits(cfg),
                                                 time_bits=cfg.time_bits)
        self.probe_layout = layouts.probe_layout(cfg)
        self.rng = random.Random(case.seed)
        self.cycle = 0

    async def tick(self) -> None:
        await FallingEdge(self.dut.clk)
        self.cycle += 1

    async def reset(self) -> None:
        d = self.dut
        for name in ("events_in__valid", "events_out__ready", "host__we", "host__re"):
            getattr(d, name).value = 0
        d.rst.value = 1
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst.value = 0
        await self.tick()

    # ---------------- host port ----------------
    async def host_write(self, region: HostRegion, lane: int, words: Any, start: int = 0) -> None:
        d = self.dut
        d.host__region.value = region.value
        d.host__lane.value = lane
        d.host__we.value = 1
        for n, word in enumerate(words):
            d.host__addr.value = start + n
            d.host__wdata.value = int(word)
            await self.tick()
        d.host__we.value = 0

    async def host_read(self, region: HostRegion, lane: int, count: int, start: int = 0
                        ) -> list[int]:
        """Pipelined reads of one region: one strobe per cycle, data in order (the latency is
        the region's, ``hw.layouts.host_signature``)."""
        d = self.dut
        d.host__region.value = region.value
        d.host__lane.value = lane
        out: list[int] = []
        n = 0
        while len(out) < count:
            if n < count:
                d.host__addr.value = start + n
                d.host__re.value = 1
                n += 1
            else:
                d.host__re.value = 0
            await self.tick()
            if int(d.host__rvalid.value):
                out.append(int(d.host__rdata.value))
        d.host__re.value = 0
        while int(d.host__rvalid.value):  # pragma: no cover - drained above
            await self.tick()
        return out

    async def load_network(self, net: Network, labels: np.ndarray) -> None:
        cfg = self.cfg
        for p, words in enumerate(mm.weight_words(cfg, net.weights)):
            await self.host_write(HostRegion.WEIGHT, p, words)
        for p, words in enumerate(mm.row_mask_words(cfg, net.mask)):
            await self.host_write(HostRegion.ROW_MASK, p, words)
        await self.host_write(HostRegion.COL_MASK, 0, mm.col_mask_words(cfg, net.mask))
        for p, words in enumerate(mm.lane_words(cfg, net.adapt)):
            await self.host_write(HostRegion.ADAPT, p, words)
        await self.host_write(HostRegion.LABEL, 0, labels)
        await self.host_write(HostRegion.LFSR, 0, [net.lfsr.peek_state()])
        await self.host_write(HostRegion.LIVE, 0, [net.live])

    async def read_state(self) -> dict[str, Any]:
        cfg = self.cfg
        w = [await self.host_read(HostRegion.WEIGHT, p, cfg.n_inputs * cfg.rows)
             for p in range(cfg.lanes)]
        rows = [await self.host_read(HostRegion.ROW_MASK, p, cfg.n_inputs)
                for p in range(cfg.lanes)]
        cols = await self.host_read(HostRegion.COL_MASK, 0, cfg.n_neurons * cfg.col_words)
        adapt = [await self.host_read(HostRegion.ADAPT, p, cfg.rows) for p in range(cfg.lanes)]
        lfsr = (await self.host_read(HostRegion.LFSR, 0, 1))[0]
        live = (await self.host_read(HostRegion.LIVE, 0, 1))[0]
        return {
            "weights": mm.weights_from_words(cfg, np.array(w)),
            "row_mask": mm.mask_from_row_words(cfg, np.array(rows, dtype=object)),
            "col_mask": mm.mask_from_col_words(cfg, np.array(cols, dtype=object)),
            "adapt": mm.per_neuron_from_lanes(cfg, np.array(adapt)),
            "lfsr": lfsr, "live": live,
        }

    async def read_counters(self) -> dict[Counter, int]:
        values = await self.host_read(HostRegion.COUNTER, 0, len(Counter))
        return dict(zip(Counter, values, strict=True))

    # ---------------- one sample ----------------
    def set_regs(self, learn: bool) -> None:
        value = self.regs_layout.const(layouts.regs_value(self.cfg, learn=learn)).as_bits()
        self.dut.regs.value = value

    async def run_sample(self, s: int, times: np.ndarray, learn: bool, net: Network,
                         tally: Tally) -> None:
        cfg, d = self.cfg, self.dut
        res = net.run_sample(times, learn=learn, trace=True)
        expect = cycles.sample_cycles(cfg, res)
        await self.host_write(HostRegion.COUNTER, 0, [0])  # clear counters
        self.set_regs(learn)
        beats = [self.event_layout.const({"kind": EventKind.SPIKE, "time": t, "index": i})
                 .as_bits() for t, i in events(times, cfg)]
        beats.append(self.event_layout.const({"kind": EventKind.END, "time": 0, "index": 0})
                     .as_bits())
        updates = [(j, int(i), int(w), bool(pr)) for j, inputs, ws, prs in res.updates
                   for i, w, pr in zip(inputs, ws, prs, strict=True)]
        gap, stall = self.case.in_gap, self.case.out_stall
        got_spikes: list[tuple[int, int]] = []
        end: tuple[int, int] | None = None
        upd = 0
        limit = self.cycle + 50 * (expect.total + 100)
        while end is None:
            if self.cycle > limit:
                raise MismatchError(sample=s, what="timeout", expected=f"{expect.total} cycles")
            # inputs for this cycle
            send = bool(beats) and self.rng.random() >= gap
            d.events_in__valid.value = int(send)
            if send:
                d.events_in__payload.value = beats[0]
            ready = self.rng.random() >= stall
            d.events_out__ready.value = int(ready)
            tr = self.probe_layout.from_bits(bits(d.probe.value))
            if tr.sweep_valid:
                step, row = int(tr.step), int(tr.row)
                for p in range(cfg.lanes):
                    j = row * cfg.lanes + p
                    exp_v = int(res.membranes[step][j]) if step < len(res.membranes) else None
                    if int(tr.v[p]) != exp_v:
                        raise MismatchError(sample=s, step=step, what="membrane", neuron=j,
                                       expected=exp_v, got=int(tr.v[p]))
                    tally.membranes += 1
            if tr.learn_valid:
                got = (int(tr.neuron), int(tr.input), int(tr.weight), bool(tr.pruned))
                exp_u = updates[upd] if upd < len(updates) else None
                if got != exp_u:
                    raise MismatchError(sample=s, index=upd, expected=exp_u, got=got,
                                        what="stdp update (neuron, input, weight, pruned)")
                upd += 1
            if send and int(d.events_in__ready.value):
                beats.pop(0)
            if ready and int(d.events_out__valid.value):
                ev = self.event_layout.from_bits(int(d.events_out__payload.value))
                if ev.kind == EventKind.END:
                    end = (int(ev.time), int(ev.index))
                else:
                    got_spikes.append((int(ev.time), int(ev.index)))
            await self.tick()
        d.events_in__valid.value = 0
        d.events_out__ready.value = 0
        if upd != len(updates):
            raise MismatchError(sample=s, what="stdp updates count", expected=len(updates), got=upd)
        if got_spikes != res.spikes:
            raise MismatchError(sample=s, what="spikes", expected=res.spikes, got=got_spikes)
        last = res.steps - 1
        if end != (last, res.prediction):
            raise MismatchError(sample=s, what="END (last step, predicted neuron)",
                           expected=(last, res.prediction), got=end)
        label = int(d.pred_label.value)
        if label != int(self.case.labels[res.prediction]):
            raise MismatchError(sample=s, what="predicted label", expected=
                           int(self.case.labels[res.prediction]), got=label)
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
        tally.integrate_cycles += expect.integrate
        tally.cycles.append(expect.as_dict())
        if len(tally.rtl_spikes) < RECORDED_SAMPLES:
            tally.rtl_spikes.append(got_spikes)

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


@cocotb.test()
async def layer_matches_golden_model(dut: Any) -> None:
    """Every sample of the case: RTL == golden model (see module docstring)."""
    case = Case.load(os.environ["SYNAPRUNE_CASE"])
    summary_path = os.environ.get("SYNAPRUNE_SUMMARY")
    bench = Bench(dut, case)
    Clock(dut.clk, 10, unit="ns").start()
    await bench.reset()
    net = case.network()
    tally = Tally()
    mismatch: dict[str, Any] | None = None
    t0 = time.perf_counter()
    progress = os.environ.get("SYNAPRUNE_PROGRESS") == "1"
    try:
        await bench.load_network(net, case.labels)
        await bench.check_state(-1, net, tally)
        for s, (times, learn) in enumerate(zip(case.times, case.learn, strict=True)):
            await bench.run_sample(s, times, bool(learn), net, tally)
            if (s + 1) % case.full_check_every == 0 or s + 1 == len(case.times):
                await bench.check_state(s, net, tally)
            if progress:
                print(f"[sim] sample {s + 1}/{len(case.times)}", flush=True)
    except MismatchError as err:
        mismatch = {k: (v if isinstance(v, (int, str, type(None))) else repr(v))
                    for k, v in err.where.items()}
    wall = time.perf_counter() - t0
    totals = [c["total"] for c in tally.cycles]
    summary = {
        "case": case.name, "samples": tally.samples, "learn_samples": tally.learn_samples,
        "infer_samples": tally.samples - tally.learn_samples,
        "spikes_compared": tally.spikes, "membranes_compared": tally.membranes,
        "updates_compared": tally.updates, "weights_compared": tally.weights,
        "mismatches": 0 if mismatch is None else 1, "first_mismatch": mismatch,
        "cycles_per_sample": float(np.mean(totals)) if totals else 0.0,
        "cycles": tally.cycles, "rtl_spikes": tally.rtl_spikes,
        "syn_events": tally.syn_events, "integrate_cycles": tally.integrate_cycles,
        "sim_cycles": bench.cycle, "wall_s": wall,
        "sim_cycles_per_s": bench.cycle / wall if wall else 0.0,
    }
    if summary_path:
        with open(summary_path, "w") as f:
            json.dump(summary, f)
    assert mismatch is None, f"RTL differs from the golden model: {mismatch}"
