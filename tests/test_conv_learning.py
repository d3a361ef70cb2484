"""``ConvCore``'s learning phase in the Amaranth simulator against the golden model.

Each case loads kernels (about a third of the entries pruned, the last kernel entirely) through
the host port and runs a sequence of samples with ``learn`` high (every fifth low: inference,
the kernels must not change), the rates of ``conv.scheduled_rates`` for the layer's learning
sample number written before each sample. After every sample it compares, against
``model.deep_network.ConvLayer.learn_sample`` (``conv.select_winners``, ``conv.learn_kernel``):
every kernel weight and every live-entry bit, the winners in order, the output events, the
LFSR state, the counters (synaptic events and updates, entries pruned, winners) and every
phase's cycles with ``model.conv_cycles.sample_cycles`` and ``learn_cycles``.

Edge cases: samples with no spike (no winner), a kernel with every entry pruned that wins
(threshold 0: every neuron fires at step 0) and kernels pruned entirely by learning (a prune
threshold of w_max), ties in winner selection (equal kernels: equal membranes, so map, row and
column decide), weights saturating at 0 and w_max (the largest rates).
"""

from __future__ import annotations

import gc
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator, SimulatorContext
from deep_helpers import host_writes
from test_conv_core import GEOM_A, GEOM_B, random_kernels, sample_inputs

from synaprune.hw.conv_core import ConvCore, ConvCounter
from synaprune.hw.conv_learning import ConvLearning
from synaprune.hw.conv_map import host_words, kernels_from_words, output_events
from synaprune.hw.layouts import EventKind
from synaprune.model import conv
from synaprune.model.conv_cycles import ConvGeometry, learn_cycles, sample_cycles
from synaprune.model.deep_config import ConvSpec, DeepConfig
from synaprune.model.deep_network import ConvLayer, ConvSample

MAX_CYCLES = 100_000
LFSR_SEED = 0x5EED1
TIE_THRESHOLD = 200


@dataclass(frozen=True)
class LearnCase:
    """One simulated configuration: geometry, knobs, the kernels' kind, the samples."""

    geom: ConvGeometry
    threshold: int
    inhibit: bool
    k_winners: int
    radius: int
    samples: int
    seed: int
    a_plus: int = 600
    a_minus: int = -500
    a_plus_max: int = 2400
    a_minus_max: int = -2000
    double_every: int = 3
    prune: bool = True
    prune_threshold: int = 40
    # "random": ``random_kernels`` (the last kernel pruned entirely); "live": the last one too
    # has live entries; "equal": as "live", every weight equal (ties)
    kernels: str = "random"
    infer_every: int = 5  # every infer_every-th sample runs with learn low
    lfsr_by_port: bool = False  # the LFSR's seed written through lfsr_write, not elaborated


def model_layer(case: LearnCase, weights: np.ndarray, mask: np.ndarray) -> ConvLayer:
    """The golden model's conv layer with these kernels and knobs."""
    g = case.geom
    spec = ConvSpec(maps=g.maps, kernel=g.kernel, threshold=case.threshold, leak_shift=0,
                    inhibition=case.inhibit, inhibit_infer=case.inhibit,
                    k_winners=case.k_winners, inhibit_radius=case.radius, a_plus=case.a_plus,
                    a_minus=case.a_minus, a_plus_max=case.a_plus_max,
                    a_minus_max=case.a_minus_max, rate_double_every=case.double_every,
                    prune_enabled=case.prune, prune_threshold=case.prune_threshold,
                    lfsr_seed=LFSR_SEED)
    cfg = DeepConfig(image_shape=(g.height, g.width), time_steps=g.time_steps,
                     weight_bits=g.weight_bits, membrane_bits=g.membrane_bits,
                     stdp_frac_bits=g.stdp_frac_bits)
    layer = ConvLayer(spec, (g.channels, g.height, g.width), cfg, seed=0)
    layer.weights, layer.mask = weights.copy(), mask.copy()
    return layer


def simulate(case: LearnCase, layer: ConvLayer, samples: list[np.ndarray]) -> list[dict]:
    """Run ``samples`` through the core, learning as the case says; per sample the output
    events, the winners, the counters' increments, the kernels after it and the LFSR."""
    g = case.geom
    core = ConvCore(channels=g.channels, height=g.height, width=g.width, maps=g.maps,
                    kernel=g.kernel, lanes=g.lanes, time_steps=g.time_steps,
                    weight_bits=g.weight_bits, membrane_bits=g.membrane_bits,
                    stdp_frac_bits=g.stdp_frac_bits, max_winners=g.max_winners,
                    lfsr_seed=1 if case.lfsr_by_port else LFSR_SEED)
    rate_mask = (1 << (g.stdp_frac_bits + 2)) - 1
    spec = layer.spec
    results: list[dict] = []

    async def testbench(ctx: SimulatorContext) -> None:
        for port, value in ((core.threshold, case.threshold), (core.leak_shift, 0),
                            (core.inhibit, case.inhibit), (core.k_winners, case.k_winners),
                            (core.radius, case.radius), (core.prune_enable, case.prune),
                            (core.prune_threshold, case.prune_threshold),
                            (core.events_out.ready, 1)):
            ctx.set(port, int(value))
        await host_writes(ctx, core.host, host_words(g, layer.weights, layer.mask))
        if case.lfsr_by_port:
            ctx.set(core.lfsr_write, 1)
            ctx.set(core.lfsr_data, LFSR_SEED)
            await ctx.tick()
            ctx.set(core.lfsr_write, 0)
        before = [ctx.get(core.counters[n]) for n in ConvCounter]
        learned = 0
        for n, times in enumerate(samples):
            learn = (n + 1) % case.infer_every != 0
            a_plus, a_minus = conv.scheduled_rates(spec.a_plus, spec.a_minus, spec.a_plus_max,
                                                   spec.a_minus_max, spec.rate_double_every,
                                                   learned)
            learned += learn
            ctx.set(core.learn, learn)
            ctx.set(core.a_plus, a_plus & rate_mask)
            ctx.set(core.a_minus, a_minus & rate_mask)
            flat = times.reshape(-1)
            order = np.lexsort((np.arange(len(flat)), flat))
            beats = [(EventKind.SPIKE, int(flat[i]), int(i)) for i in order
                     if flat[i] < g.time_steps]
            beats.append((EventKind.END, 0, 0))
            events: list[tuple[int, int, int]] = []
            winners: list[tuple[int, int, int, int]] = []
            for _ in range(MAX_CYCLES):
                if beats:
                    kind, t, i = beats[0]
                    ctx.set(core.events_in.valid, 1)
                    ctx.set(core.events_in.payload.kind, kind)
                    ctx.set(core.events_in.payload.time, t)
                    ctx.set(core.events_in.payload.index, i)
                    sent = ctx.get(core.events_in.ready)
                else:
                    ctx.set(core.events_in.valid, 0)
                    sent = False
                if ctx.get(core.winner.valid):
                    w = core.winner
                    winners.append((ctx.get(w.map), ctx.get(w.y), ctx.get(w.x),
                                    ctx.get(w.time)))
                if ctx.get(core.events_out.valid):
                    beat = core.events_out.payload
                    events.append((ctx.get(beat.kind).value, ctx.get(beat.time),
                                   ctx.get(beat.index)))
                await ctx.tick()
                if sent:
                    beats.pop(0)
                if events and events[-1][0] == EventKind.END.value:
                    break
            else:
                raise AssertionError(f"sample {n}: no END in {MAX_CYCLES} cycles")
            now = [ctx.get(core.counters[c]) for c in ConvCounter]
            weights = [[ctx.get(d[a]) for a in range(d.depth)] for d in core.weight_data]
            live = [[ctx.get(d[a]) for a in range(d.depth)] for d in core.live_data]
            results.append({"learn": learn, "events": events, "winners": winners,
                            "counters": {c: now[c] - before[c] for c in ConvCounter},
                            "kernels": kernels_from_words(g, weights, live),
                            "lfsr": ctx.get(core.lfsr), "error": ctx.get(core.error)})
            before = now

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return results


def first_difference(got: np.ndarray, want: np.ndarray) -> str:
    """(map, channel, dy, dx): got, model of the first differing kernel entry."""
    where = tuple(int(i) for i in np.argwhere(got != want)[0])
    return f"entry (map, c, dy, dx) {where}: got {got[where]}, model {want[where]}"


def initial_kernels(case: LearnCase, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    weights, mask = random_kernels(case.geom, rng)
    if case.kernels in ("live", "equal"):
        mask[-1] = rng.random(mask[-1].shape) < 0.65
    if case.kernels == "equal":
        weights[:] = 100
    return weights, mask


def check_case(case: LearnCase, samples: list[np.ndarray] | None = None) -> dict:
    """Simulate a case and compare every sample with the golden model; returns the model's
    per-sample results (``ConvSample`` or None for an inference sample) and totals."""
    geom = case.geom.validate()
    rng = np.random.default_rng(case.seed)
    weights, mask = initial_kernels(case, rng)
    if samples is None:
        samples = sample_inputs(geom, rng, case.samples - 2)
    layer = model_layer(case, weights, mask)
    results = simulate(case, model_layer(case, weights, mask), samples)
    out: dict = {"model": [], "updates": 0, "pruned": 0, "winners": 0}
    for n, (times, res) in enumerate(zip(samples, results, strict=True)):
        where = f"sample {n}"
        assert res["error"] == 0, f"{where}: error flags {res['error']}"
        mask_before = layer.mask.copy()
        counters = res["counters"]
        if res["learn"]:
            s = layer.learn_sample(times)
            out_times, winners, updates, pruned, ev = (s.out, s.winners, s.syn_updates,
                                                       s.pruned, s.syn_events)
            learn = learn_cycles(geom, mask_before, int((s.out < geom.time_steps).sum()),
                                 [w[0] for w in s.winners], case.k_winners)
            out["model"].append(s)
        else:
            fw, evs = layer.forward(times[None].astype(np.int16))
            out_times, winners, updates, pruned, ev, learn = fw[0], [], 0, 0, int(evs[0]), 0
            out["model"].append(None)
        assert res["winners"] == winners, f"{where}: winners {res['winners']}, model {winners}"
        hw_w, hw_mask = res["kernels"]
        assert (hw_mask == layer.mask).all(), f"{where}: live mask, " + \
            first_difference(hw_mask, layer.mask)
        assert (hw_w == layer.weights).all(), f"{where}: weights, " + \
            first_difference(hw_w, layer.weights)
        assert res["lfsr"] == layer.lfsr.peek_state(), f"{where}: LFSR state"
        assert res["events"] == output_events(geom, out_times), f"{where}: output events"
        assert counters[ConvCounter.SYN_EVENTS] == ev, f"{where}: synaptic events"
        assert counters[ConvCounter.SYN_UPDATES] == updates, f"{where}: synaptic updates"
        assert counters[ConvCounter.PRUNED] == pruned, f"{where}: pruned"
        assert counters[ConvCounter.WINNERS] == len(winners), f"{where}: winners counted"
        model = sample_cycles(geom, times, mask_before, out_times, case.inhibit)
        want = {**model.as_dict(), "learn": learn}
        want.pop("total")
        got = {"load": counters[ConvCounter.LOAD_CYCLES],
               "integrate": counters[ConvCounter.INTEGRATE_CYCLES],
               "sweep": counters[ConvCounter.SWEEP_CYCLES],
               "learn": counters[ConvCounter.LEARN_CYCLES],
               "clear": counters[ConvCounter.CLEAR_CYCLES],
               "emit": counters[ConvCounter.EMIT_CYCLES]}
        assert got == want, f"{where}: cycles {got}, model {want}"
        out["updates"] += updates
        out["pruned"] += pruned
        out["winners"] += len(winners)
    return out


@pytest.mark.parametrize("geom,inhibit,k,radius", [
    (GEOM_A, True, 2, 1), (GEOM_B, False, 3, 0)], ids=["k3m2l1", "k5m4l2"])
def test_learning_matches_model(geom: ConvGeometry, inhibit: bool, k: int, radius: int) -> None:
    """Fourteen samples (an empty one: no winner; every input at t = 0; random ones), learning
    but for every fifth (12 learning samples): kernels, masks, winners, counters and cycles
    after every sample."""
    totals = check_case(LearnCase(geom=geom, threshold=300, inhibit=inhibit, k_winners=k,
                                  radius=radius, samples=14, seed=21 + geom.kernel,
                                  kernels="live"))
    assert totals["updates"] > 0 and totals["pruned"] > 0
    assert any(s is not None and len(s.winners) > 1 for s in totals["model"])
    assert any(s is not None and not s.winners for s in totals["model"])  # no winner


@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_pruned_kernels(geom: ConvGeometry) -> None:
    """Threshold 0: every neuron fires at step 0 (membrane = its step-0 input), so every map
    wins somewhere, the entirely pruned last kernel too (a pass over empty slices); a prune
    threshold of w_max removes every entry learning leaves below w_max."""
    case = LearnCase(geom=geom, threshold=0, inhibit=False, k_winners=geom.maps, radius=0,
                     samples=4, seed=3, prune_threshold=geom.w_max, infer_every=99)
    totals = check_case(case)
    first = totals["model"][0]
    assert geom.maps - 1 in [w[0] for w in first.winners]  # the pruned kernel won
    assert totals["pruned"] > 0


def map_before_position_ties(geom: ConvGeometry, s: ConvSample) -> int:
    """Winners with a tied candidate (same step and membrane) of a higher map at an earlier
    position: there the model's order (map, then row and column) differs from the spike
    list's (position, then map)."""
    n = 0
    for m, y, x, t in s.winners:
        mm, yy, xx = np.nonzero((s.out == t) & (s.v_fire == s.v_fire[m, y, x]))
        n += int(((mm > m) & (yy * geom.out_w + xx < y * geom.out_w + x)).any())
    return n


@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_ties(geom: ConvGeometry) -> None:
    """Equal weights, random masks: candidates tie in step and membrane across maps and
    positions; the map, then the row, then the column decide."""
    case = LearnCase(geom=geom, threshold=TIE_THRESHOLD, inhibit=False, k_winners=geom.maps,
                     radius=1, samples=6, seed=5, kernels="equal", infer_every=99, prune=False,
                     lfsr_by_port=True)
    totals = check_case(case)
    assert sum(map_before_position_ties(geom, s) for s in totals["model"]) > 0


@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_saturation(geom: ConvGeometry) -> None:
    """The largest rates: STDP clamps weights at w_max (causal inputs) and 0 (late ones)."""
    lim = (1 << (geom.stdp_frac_bits + 1)) - 1
    case = LearnCase(geom=geom, threshold=300, inhibit=True, k_winners=2, radius=0, samples=4,
                     seed=4, a_plus=lim, a_minus=-lim, a_plus_max=lim, a_minus_max=-lim,
                     double_every=0, prune=False, infer_every=99)
    totals = check_case(case)
    new = np.concatenate([u.weights for s in totals["model"] for u in s.updates])
    assert (new == 0).any() and (new == geom.w_max).any()


def test_learning_parameters_are_checked() -> None:
    sizes = dict(channels=2, height=6, width=6, maps=4, kernel=3, lanes=2, time_steps=4)
    with warnings.catch_warnings():
        # a constructor that raises leaves an object Amaranth reports as never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="lfsr_seed must be a nonzero"):
            ConvCore(**sizes, lfsr_seed=0)
        with pytest.raises(TypeError, match="lfsr_seed must be an int"):
            ConvCore(**sizes, lfsr_seed=1.0)
        with pytest.raises(ValueError, match="stdp_frac_bits must be in 1..20"):
            ConvCore(**sizes, stdp_frac_bits=21)
        with pytest.raises(ValueError, match="max_winners must be >= 1"):
            ConvCore(**sizes, max_winners=0)
        with pytest.raises(TypeError, match="geom must be a ConvGeometry"):
            ConvLearning(geom=sizes, lfsr_seed=1)
        gc.collect()
