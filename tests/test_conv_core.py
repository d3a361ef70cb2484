"""``ConvCore`` in the Amaranth simulator against the golden model's conv layer.

Each case loads random kernels with pruned entries (one kernel with every entry pruned) through
the host port, then runs samples of random input spike times, cycle by cycle. For every sample
it checks, against ``model.deep_network.ConvLayer.forward`` (``model.conv``): the leaked
membranes of every neuron at every step (the probe, against ``rules.integrate`` and
``rules.leak`` over ``conv.step_input``), the output events in order (time, then position,
then map) and the END, and the core's counters: synaptic events as the model counts them, and
every phase's cycles equal to ``model.conv_cycles.sample_cycles``.

Edge cases among the samples: an empty input, every input at t = 0, saturating membranes (a
low threshold that never fires with large weights), and ties in inhibition (every weight equal,
so maps of one position cross with equal membranes).
"""

from __future__ import annotations

import dataclasses
import gc
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator, SimulatorContext
from deep_helpers import host_writes

from synaprune.hw.conv_core import HOST_READ_LATENCY, ConvCore, ConvCounter, ConvRegion
from synaprune.hw.conv_map import host_words, kernels_from_words, output_events
from synaprune.hw.layouts import EventKind
from synaprune.model.conv_cycles import ConvGeometry, entry_costs, sample_cycles, syn_events
from synaprune.model.deep_config import ConvSpec, DeepConfig
from synaprune.model.deep_network import ConvLayer

MAX_CYCLES = 200_000


@dataclass(frozen=True)
class Case:
    """One simulated configuration: geometry, the knobs and the number of random samples."""

    geom: ConvGeometry
    threshold: int
    leak_shift: int
    inhibit: bool
    samples: int
    seed: int
    weights: str = "random"  # "max": every weight w_max (saturation); "equal": ties


def model_layer(geom: ConvGeometry, case: Case, weights: np.ndarray,
                mask: np.ndarray) -> ConvLayer:
    """The golden model's conv layer with these kernels and knobs."""
    spec = ConvSpec(maps=geom.maps, kernel=geom.kernel, threshold=case.threshold,
                    leak_shift=case.leak_shift, inhibit_infer=case.inhibit)
    cfg = DeepConfig(image_shape=(geom.height, geom.width), time_steps=geom.time_steps,
                     weight_bits=geom.weight_bits, membrane_bits=geom.membrane_bits)
    layer = ConvLayer(spec, (geom.channels, geom.height, geom.width), cfg, seed=0)
    layer.weights, layer.mask = weights.copy(), mask.copy()
    return layer


def random_kernels(geom: ConvGeometry, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Weights and a live mask with about a third of the entries pruned and the last kernel
    pruned entirely."""
    shape = (geom.maps, geom.channels, geom.kernel, geom.kernel)
    w_max = (1 << geom.weight_bits) - 1
    weights = rng.integers(0, w_max + 1, shape)
    mask = rng.random(shape) < 0.65
    mask[-1] = False
    return weights, mask


def sample_inputs(geom: ConvGeometry, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Input spike times (C, H, W): an empty sample, every input at t = 0, then random ones of
    different densities."""
    shape, T = (geom.channels, geom.height, geom.width), geom.time_steps
    out = [np.full(shape, T), np.zeros(shape, dtype=np.int64)]
    for s in range(n):
        times = rng.integers(0, T, shape)
        out.append(np.where(rng.random(shape) < (0.15, 0.4)[s % 2], times, T))
    return out


def simulate(case: Case, weights: np.ndarray, mask: np.ndarray,
             samples: list[np.ndarray]) -> list[dict]:
    """Run ``samples`` through the core; per sample the probe's membranes {(step, addr):
    lanes}, the output events and the counters' increments."""
    geom = case.geom
    core = ConvCore(channels=geom.channels, height=geom.height, width=geom.width,
                    maps=geom.maps, kernel=geom.kernel, lanes=geom.lanes,
                    time_steps=geom.time_steps, weight_bits=geom.weight_bits,
                    membrane_bits=geom.membrane_bits)
    results: list[dict] = []

    async def testbench(ctx: SimulatorContext) -> None:
        ctx.set(core.threshold, case.threshold)
        ctx.set(core.leak_shift, case.leak_shift)
        ctx.set(core.inhibit, int(case.inhibit))
        ctx.set(core.events_out.ready, 1)
        await host_writes(ctx, core.host, host_words(geom, weights, mask))
        before = [ctx.get(core.counters[n]) for n in ConvCounter]
        for times in samples:
            flat = times.reshape(-1)
            order = np.lexsort((np.arange(len(flat)), flat))
            beats = [(EventKind.SPIKE, int(flat[i]), int(i)) for i in order
                     if flat[i] < geom.time_steps]
            beats.append((EventKind.END, 0, 0))
            probe: dict[tuple[int, int], list[int]] = {}
            events: list[tuple[int, int, int]] = []
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
                if ctx.get(core.probe.valid):
                    key = (ctx.get(core.probe.step), ctx.get(core.probe.addr))
                    assert key not in probe, f"row {key} swept twice"
                    probe[key] = [ctx.get(core.probe.v[p]) for p in range(geom.lanes)]
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
                raise AssertionError(f"no END in {MAX_CYCLES} cycles")
            now = [ctx.get(core.counters[n]) for n in ConvCounter]
            results.append({"probe": probe, "events": events,
                            "counters": {n: now[n] - before[n] for n in ConvCounter},
                            "error": ctx.get(core.error)})
            before = now

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return results


def check_case(case: Case) -> dict[str, int]:
    """Simulate a case and compare everything with the golden model; returns totals."""
    geom = case.geom.validate()
    rng = np.random.default_rng(case.seed)
    weights, mask = random_kernels(geom, rng)
    samples = sample_inputs(geom, rng, case.samples)
    if case.weights == "max":  # saturation: the largest weights, every entry live
        weights[:] = (1 << geom.weight_bits) - 1
        mask[:-1] = True
    elif case.weights == "equal":  # every map of a position crosses with the same membrane
        weights[:] = 100
        mask[:-1] = True
    results = simulate(case, weights, mask, samples)
    layer = model_layer(geom, case, weights, mask)
    totals = {"samples": 0, "spikes": 0, "membranes": 0, "saturated": 0, "cycles": 0}
    for n, (times, res) in enumerate(zip(samples, results, strict=True)):
        where = f"sample {n}"
        assert res["error"] == 0, f"{where}: error flags {res['error']}"
        out, events = layer.forward(times[None].astype(np.int16))
        v_steps = layer.step_membranes(times)
        P, MR = geom.lanes, geom.map_rows
        for t in range(geom.time_steps):
            for a in range(geom.lane_neurons):
                pos, j = divmod(a, MR)
                want = [int(v_steps[t, pos, j * P + p]) for p in range(P)]
                got = res["probe"].get((t, a))
                assert got == want, f"{where} step {t} row {a} (pos {pos}, map row {j}): " \
                    f"membranes {got}, model {want}"
        assert len(res["probe"]) == geom.time_steps * geom.lane_neurons
        assert res["events"] == output_events(geom, out[0]), f"{where}: output events"
        counters = res["counters"]
        assert counters[ConvCounter.SYN_EVENTS] == int(events[0]) \
            == syn_events(geom, times, mask), f"{where}: synaptic events"
        assert counters[ConvCounter.SPIKES] == int((out[0] < geom.time_steps).sum())
        assert counters[ConvCounter.STEPS] == geom.time_steps
        assert counters[ConvCounter.SAMPLES] == 1
        model = sample_cycles(geom, times, mask, out[0], case.inhibit)
        got = {"load": counters[ConvCounter.LOAD_CYCLES],
               "integrate": counters[ConvCounter.INTEGRATE_CYCLES],
               "sweep": counters[ConvCounter.SWEEP_CYCLES],
               "clear": counters[ConvCounter.CLEAR_CYCLES],
               "emit": counters[ConvCounter.EMIT_CYCLES],
               "learn": counters[ConvCounter.LEARN_CYCLES]}
        assert got == {k: v for k, v in model.as_dict().items() if k != "total"}, \
            f"{where}: cycles {got}, model {model.as_dict()}"
        totals["samples"] += 1
        totals["spikes"] += len(res["events"]) - 1
        totals["membranes"] += geom.time_steps * geom.n_outputs
        totals["saturated"] += int((v_steps == geom.v_max).sum())
        totals["cycles"] += model.total
    return totals


GEOM_A = ConvGeometry(channels=2, height=6, width=7, maps=2, kernel=3, lanes=1, time_steps=6)
GEOM_B = ConvGeometry(channels=2, height=7, width=7, maps=4, kernel=5, lanes=2, time_steps=5,
                      membrane_bits=12)


@pytest.mark.parametrize("inhibit", [False, True])
@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_core_matches_model(geom: ConvGeometry, inhibit: bool) -> None:
    totals = check_case(Case(geom=geom, threshold=300, leak_shift=0, inhibit=inhibit,
                             samples=3, seed=11 + geom.kernel + 7 * inhibit))
    assert totals["spikes"] > 0


@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_leak(geom: ConvGeometry) -> None:
    totals = check_case(Case(geom=geom, threshold=400, leak_shift=2, inhibit=True, samples=2,
                             seed=5))
    assert totals["spikes"] > 0


@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_saturation(geom: ConvGeometry) -> None:
    """The largest weights and a threshold of v_max (10-bit membranes): membranes saturate, and
    only a saturated membrane fires."""
    geom = dataclasses.replace(geom, membrane_bits=10)
    totals = check_case(Case(geom=geom, threshold=geom.v_max, leak_shift=0, inhibit=False,
                             samples=1, seed=6, weights="max"))
    assert totals["saturated"] > 0


@pytest.mark.parametrize("inhibit", [False, True])
@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_ties(geom: ConvGeometry, inhibit: bool) -> None:
    """Equal weights: the live maps of a position cross at the same step with equal membranes
    (the lower map wins with inhibition, all fire without)."""
    totals = check_case(Case(geom=geom, threshold=600, leak_shift=0, inhibit=inhibit,
                             samples=2, seed=7, weights="equal"))
    assert totals["spikes"] > 0


def test_elaboration_parameters_are_checked() -> None:
    sizes = dict(channels=2, height=6, width=6, maps=4, kernel=3, lanes=2, time_steps=4)
    with warnings.catch_warnings():
        # a constructor that raises leaves an object Amaranth reports as never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        ConvCore(**sizes)
        with pytest.raises(TypeError, match="kernel must be an int"):
            ConvCore(**{**sizes, "kernel": 3.0})
        with pytest.raises(TypeError, match="counter_bits must be an int"):
            ConvCore(**sizes, counter_bits=True)
        with pytest.raises(ValueError, match="lanes = 3 must divide maps = 4"):
            ConvCore(**{**sizes, "lanes": 3})
        with pytest.raises(ValueError, match="kernel = 7: larger than the input"):
            ConvCore(**{**sizes, "kernel": 7})
        with pytest.raises(ValueError, match="membrane_bits"):
            ConvCore(**sizes, membrane_bits=8)
        with pytest.raises(TypeError):
            ConvCore(2, 6, 6, 4, 3, 2, 4)  # keyword-only
        gc.collect()


def test_pruned_entries_cost_no_cycle() -> None:
    """The walker's cost of an event: live entries inside the layer only, at least 1."""
    geom = GEOM_B.validate()
    mask = np.ones((geom.maps, geom.channels, geom.kernel, geom.kernel), dtype=bool)
    centre = 3 * geom.width + 3  # (c 0, y 3, x 3)
    corner = 0
    costs = entry_costs(geom, mask, np.array([centre, corner]))
    assert costs.tolist() == [[9, 9], [1, 1]]  # 3x3 outputs reach the centre; the corner one
    mask[0::2] = False  # lane 0's maps pruned: lane 1 sets the cost
    assert entry_costs(geom, mask, np.array([centre])).tolist() == [[9, 9]]
    mask[:] = False
    assert entry_costs(geom, mask, np.array([centre, corner])).tolist() == [[1, 1], [1, 1]]


@pytest.mark.parametrize("geom", [GEOM_A, GEOM_B], ids=["k3m2l1", "k5m4l2"])
def test_host_reads_the_kernels_back(geom: ConvGeometry) -> None:
    """Kernels written through the host port read back through it: reads issued back to back,
    each word ``HOST_READ_LATENCY`` cycles after its strobe, every lane and both regions."""
    weights, mask = random_kernels(geom, np.random.default_rng(7))
    core = ConvCore(**dataclasses.asdict(geom))
    n_w, n_k = geom.map_rows * geom.channels * geom.entries, geom.map_rows * geom.channels
    reads = [(region, p, a) for region, n in ((ConvRegion.WEIGHT, n_w), (ConvRegion.MASK, n_k))
             for p in range(geom.lanes) for a in range(n)]
    got: list[int] = []

    async def testbench(ctx: SimulatorContext) -> None:
        await host_writes(ctx, core.host, host_words(geom, weights, mask))
        host = core.host
        for step in range(len(reads) + HOST_READ_LATENCY):
            if step < len(reads):
                region, lane, addr = reads[step]
                for port, value in ((host.region, region), (host.lane, lane),
                                    (host.addr, addr), (host.re, 1)):
                    ctx.set(port, value)
            else:
                ctx.set(host.re, 0)
            if ctx.get(host.rvalid):
                got.append(ctx.get(host.rdata))
            await ctx.tick()

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert len(got) == len(reads)
    w_words = [got[p * n_w:(p + 1) * n_w] for p in range(geom.lanes)]
    k_words = [got[geom.lanes * n_w + p * n_k:][:n_k] for p in range(geom.lanes)]
    hw_w, hw_mask = kernels_from_words(geom, w_words, k_words)
    assert (hw_mask == mask).all()
    assert (hw_w == weights).all()
