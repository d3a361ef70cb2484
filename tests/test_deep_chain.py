"""``DeepChain`` (conv -> pool -> conv -> pool -> classifier) in the Amaranth simulator against
the golden model's ``DeepNetwork``, layer by layer.

Each case loads random kernels (about a third of the entries pruned, the last kernel of each
layer entirely) and a random classifier through the cores' host ports, then streams samples of
random input spike times (the first one empty) in at the bottom. For every sample it records
the event stream out of every core and compares, layer by layer, with the model: a conv
layer's events with ``ConvLayer.forward`` (or ``learn_sample`` for the layer that learns), a
pooling layer's with the first event of each window (``first_spike_pool``), the classifier's
spikes and END (last step, predicted neuron) with ``Network.run_sample`` on the re-binned
features, and ``pred_label`` with the neuron's label. Each conv core's counters equal
``model.conv_cycles`` (cycles of every phase, synaptic events, spikes), each pooling core's
``model.pool_cycles`` (cycles of every phase, events, spikes; its stall cycles the cycles the
test saw its output held back), the classifier's ``model.cycles.sample_cycles`` (read through
its host port). The first divergence is reported
as (layer, sample, step, map, position, expected, got).

Learning: ``learn_layer`` names one conv layer, whose kernels, masks and LFSR must equal the
model's after every sample; the other conv layers' kernels must be unchanged and the classifier
must make no update. Back-pressure: a random-gap input and a top consumer that is not always
ready, still bit-exact.
"""

from __future__ import annotations

import copy
import gc
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator, SimulatorContext
from deep_helpers import host_writes
from test_conv_core import random_kernels
from test_conv_learning import first_difference

from synaprune.hw import memory_map as mm
from synaprune.hw.conv_core import ConvCore, ConvCounter
from synaprune.hw.conv_map import host_words, kernels_from_words
from synaprune.hw.conv_pool import PoolCore, PoolCounter
from synaprune.hw.deep_chain import DeepChain, conv_knob_values
from synaprune.hw.event_adapt import EventAdapt
from synaprune.hw.layouts import Counter, EventKind, HostRegion, regs_value
from synaprune.model.config import Config
from synaprune.model.deep_config import ClassifierSpec, ConvSpec, DeepConfig, PoolSpec
from synaprune.model.deep_network import ClassifierLayer, ConvLayer, DeepNetwork
from synaprune.sim.chain_model import (
    Beat,
    classifier_host_words,
    first_divergence,
    input_beats,
    model_sample,
)

MAX_CYCLES = 200_000
STRETCH = 2000  # back-pressure: mean cycles between changes of the top consumer's ready

LEARN = dict(k_winners=2, inhibit_radius=1, a_plus=600, a_minus=-500, a_plus_max=2400,
             a_minus_max=-2000, rate_double_every=3, prune_threshold=60)
# A: 2 x 9 x 9 -> conv 3x3, 4 maps, 2 lanes -> pool 2 (the last row and column of the 7 x 7
# maps in no window) -> conv 2x2, 8 maps, 4 lanes -> pool 2 -> classifier on 3 steps (re-binned
# from 6)
CONFIG_A = DeepConfig(image_shape=(9, 9), time_steps=6, layers=(
    ConvSpec(maps=4, kernel=3, threshold=500, inhibition=True, inhibit_infer=False, **LEARN),
    PoolSpec(size=2),
    ConvSpec(maps=8, kernel=2, threshold=250, inhibition=False, inhibit_infer=True, **LEARN),
    PoolSpec(size=2),
    ClassifierSpec(neurons_per_class=2, n_classes=3, lanes=2, time_steps=3, threshold=300,
                   rule="wta"))).validate()
# B: 1 x 9 x 9 -> conv 2x2, 6 maps, 3 lanes -> pool 2 -> conv 3x3, 4 maps, 1 lane -> global
# pool -> classifier on the network's 5 steps
CONFIG_B = DeepConfig(image_shape=(9, 9), on_off=False, time_steps=5, layers=(
    ConvSpec(maps=6, kernel=2, threshold=200, inhibition=True, inhibit_infer=True, **LEARN),
    PoolSpec(size=2),
    ConvSpec(maps=4, kernel=3, threshold=500, inhibition=True, inhibit_infer=False, **LEARN),
    PoolSpec(size=0),
    ClassifierSpec(neurons_per_class=3, n_classes=2, lanes=3, threshold=250,
                   rule="wta"))).validate()
CASES = {"A": (CONFIG_A, (2, 4)), "B": (CONFIG_B, (3, 1))}


@dataclass
class Snapshot:
    """The chain's state after sample ``upto`` - 1: each conv core's counters, kernels and
    LFSR, each pooling core's counters, the classifier's counters, weights, live mask and LFSR
    (host-port reads), and the cycles each core's output has been held back so far."""

    upto: int
    conv_counters: dict[int, list[int]] = field(default_factory=dict)
    pool_counters: dict[int, list[int]] = field(default_factory=dict)
    held: list[int] = field(default_factory=list)
    kernels: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    lfsr: dict[int, int] = field(default_factory=dict)
    clf_counters: list[int] = field(default_factory=list)
    clf: dict[str, object] = field(default_factory=dict)


@dataclass
class Runs:
    """A simulation: per sample every core's output events (layer order) and the classifier's
    label port after its END; the snapshots (before the first sample, then after every sample,
    or only after the last one when the samples overlap); per core, the cycles its output was
    held back (valid, the consumer not ready)."""

    events: list[list[list[Beat]]] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)


def random_network(chain: DeepChain, seed: int) -> DeepNetwork:
    """The golden model of the chain's configuration with random kernels (``random_kernels``:
    about a third of the entries pruned, the last kernel entirely) and a random classifier
    (weights uniform, about 30 % of the synapses pruned, labels j % classes)."""
    net = DeepNetwork(chain.config)
    rng = np.random.default_rng(seed)
    for n, layer in net.conv_layers():
        layer.weights, layer.mask = random_kernels(chain.geometries[n], rng)
    clf = net.classifier.net
    clf.weights = rng.integers(0, net.cfg.w_max + 1, clf.weights.shape)
    clf.mask = rng.random(clf.mask.shape) < 0.7
    net.classifier.labels = np.arange(clf.cfg.n_neurons) % net.classifier.spec.n_classes
    return net


def random_samples(cfg: DeepConfig, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Input spike times (C, H, W): an empty sample, then random ones of two densities."""
    c, h, w = cfg.shapes()[0]
    T = cfg.time_steps
    out = [np.full((c, h, w), T)]
    for s in range(n - 1):
        times = rng.integers(0, T, (c, h, w))
        out.append(np.where(rng.random((c, h, w)) < (0.35, 0.6)[s % 2], times, T))
    return out


async def host_reads(ctx: SimulatorContext, host: object, region: HostRegion, lane: int,
                     count: int) -> list[int]:
    """Words 0 .. count - 1 of a region of the classifier's host port, read back to back (one
    region at a time: ``layouts.host_signature``)."""
    values: list[int] = []
    ctx.set(host.region, region)
    ctx.set(host.lane, lane)
    for addr in range(count):
        ctx.set(host.addr, addr)
        ctx.set(host.re, 1)
        await ctx.tick()
        if ctx.get(host.rvalid):
            values.append(ctx.get(host.rdata))
    ctx.set(host.re, 0)
    while len(values) < count:
        await ctx.tick()
        if ctx.get(host.rvalid):
            values.append(ctx.get(host.rdata))
    return values


async def classifier_state(ctx: SimulatorContext, host: object, cfg: Config
                           ) -> tuple[list[int], dict[str, object]]:
    """The classifier's counters, and its weights, live mask (row words) and LFSR in the
    model's terms (``hw.memory_map``)."""
    counters = await host_reads(ctx, host, HostRegion.COUNTER, 0, len(Counter))
    weights = [await host_reads(ctx, host, HostRegion.WEIGHT, p, cfg.n_inputs * cfg.rows)
               for p in range(cfg.lanes)]
    rows = [await host_reads(ctx, host, HostRegion.ROW_MASK, p, cfg.n_inputs * cfg.row_words)
            for p in range(cfg.lanes)]
    lfsr = await host_reads(ctx, host, HostRegion.LFSR, 0, 1)
    return counters, {"weights": mm.weights_from_words(cfg, np.array(weights)),
                      "mask": mm.mask_from_row_words(cfg, np.array(rows, dtype=object)),
                      "lfsr": lfsr[0]}


def simulate(chain: DeepChain, net: DeepNetwork, samples: list[np.ndarray], learn_layer: int,
             *, stall: bool, seed: int) -> Runs:
    """Load ``net`` into the chain, then run ``samples`` with ``learn_layer``, one at a time
    with a snapshot after each, or (``stall``) all in one stream with random gaps, the next
    sample's events following the last one's END at once (so a busy core holds back the ones
    below it), with a top consumer ready in random stretches and a snapshot after the last one.
    The conv layers' rates are the scheduled rates of the sample number (constant rates when
    ``stall``: there is no gap between samples to write them in)."""
    cfg = net.cfg
    clf_cfg = net.classifier.net.cfg
    clf_ctl = getattr(chain, f"layer{len(cfg.layers) - 1}")
    rng = np.random.default_rng(seed)
    links = [core.events_out for core in chain.cores]
    runs = Runs(held=[0] * len(links))

    async def stream(ctx: SimulatorContext, beats: list[Beat], n_samples: int) -> None:
        """Send ``beats``; record every core's output events and the label port, sample by
        sample, until the classifier's ``n_samples``-th END."""
        got: list[list[Beat]] = [[] for _ in links]
        sample = [0] * len(links)  # the sample each core is sending
        first = len(runs.events)
        runs.events += [[[] for _ in links] for _ in range(n_samples)]
        top_ready = True
        for _ in range(MAX_CYCLES):
            # stall: the top consumer ready and not ready in stretches of ~STRETCH cycles,
            # long enough to back the whole chain up (a core holds its input while it emits)
            top_ready ^= stall and rng.random() < 1 / STRETCH
            ctx.set(chain.events_out.ready, int(top_ready))
            send = bool(beats) and (not stall or rng.random() < 0.7)
            ctx.set(chain.events_in.valid, int(send))
            if send:
                ctx.set(chain.events_in.payload,
                        {"kind": EventKind(beats[0][0]), "time": beats[0][1],
                         "index": beats[0][2]})
            sent = send and ctx.get(chain.events_in.ready)
            for n, link in enumerate(links):
                if not ctx.get(link.valid):
                    continue
                if not ctx.get(link.ready):
                    runs.held[n] += 1
                else:
                    p = ctx.get(link.payload)
                    got[n].append((p.kind.value, p.time, p.index))
                    if p.kind == EventKind.END:
                        runs.events[first + sample[n]][n] = got[n]
                        got[n], sample[n] = [], sample[n] + 1
            top_end = sample[-1] > len(runs.labels) - first
            await ctx.tick()
            if sent:
                beats = beats[1:]
            if top_end:  # the label register follows the END
                runs.labels.append(ctx.get(chain.pred_label))
                if sample[-1] == n_samples:
                    return
        raise AssertionError(f"no END out of the classifier in {MAX_CYCLES} cycles; ENDs "
                             f"each layer sent (of {n_samples}): {sample}")

    async def snapshot(ctx: SimulatorContext) -> None:
        snap = Snapshot(upto=len(runs.events), held=list(runs.held))
        for n, g in chain.geometries.items():
            ctl, core = getattr(chain, f"layer{n}"), chain.cores[n]
            assert isinstance(core, ConvCore)
            snap.conv_counters[n] = [ctx.get(ctl.counters[c]) for c in ConvCounter]
            weights = [[ctx.get(d[a]) for a in range(d.depth)] for d in core.weight_data]
            live = [[ctx.get(d[a]) for a in range(d.depth)] for d in core.live_data]
            snap.kernels[n] = kernels_from_words(g, weights, live)
            snap.lfsr[n] = ctx.get(ctl.lfsr)
            assert ctx.get(ctl.error) == 0, f"layer {n}: error flags {ctx.get(ctl.error)}"
        for n, core in enumerate(chain.cores):
            if isinstance(core, PoolCore):
                counters = getattr(chain, f"layer{n}").counters
                snap.pool_counters[n] = [ctx.get(counters[c]) for c in PoolCounter]
        assert ctx.get(clf_ctl.error) == 0, f"classifier: error flags {ctx.get(clf_ctl.error)}"
        snap.clf_counters, snap.clf = await classifier_state(ctx, clf_ctl.host, clf_cfg)
        runs.snapshots.append(snap)

    def set_knobs(ctx: SimulatorContext, learned: int) -> None:
        for n, layer in net.conv_layers():
            g = chain.geometries[n]
            for name, value in conv_knob_values(layer.spec, g, learned).items():
                ctx.set(getattr(getattr(chain, f"layer{n}"), name), value)

    async def testbench(ctx: SimulatorContext) -> None:
        ctx.set(chain.learn_layer, learn_layer)
        regs = regs_value(clf_cfg, learn=False)
        for name, value in regs.items():
            if name != "learn":
                ctx.set(getattr(clf_ctl.regs, name), value)
        for n, layer in net.conv_layers():
            words = host_words(chain.geometries[n], layer.weights, layer.mask)
            await host_writes(ctx, getattr(chain, f"layer{n}").host, words)
        await host_writes(ctx, clf_ctl.host, classifier_host_words(net))
        await snapshot(ctx)
        if stall:
            set_knobs(ctx, 0)
            await stream(ctx, [b for times in samples
                               for b in input_beats(times, cfg.time_steps)], len(samples))
            await snapshot(ctx)
            return
        for learned, times in enumerate(samples):
            set_knobs(ctx, learned)
            await stream(ctx, input_beats(times, cfg.time_steps), 1)
            await snapshot(ctx)

    sim = Simulator(chain)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return runs


def differing(got: dict, want: dict) -> str:
    """The entries of two dicts that differ, as 'key: got (model want)'."""
    return ", ".join(f"{getattr(k, 'name', k)}: {got[k]} (model {want[k]})" for k in want
                     if got[k] != want[k])


def check_snapshot(net: DeepNetwork, snap: Snapshot, before: Snapshot, since: int,
                   conv_sum: dict[int, dict[ConvCounter, int]],
                   pool_sum: dict[int, dict[PoolCounter, int]],
                   clf_sum: dict[Counter, int]) -> None:
    """Counters added since ``before`` equal the model's sums over samples ``since`` ..
    ``snap.upto`` - 1 (a pooling core's stall cycles: the cycles its output was held back);
    kernels, masks and LFSRs (conv cores and classifier) the model's now."""
    where = f"samples {since}..{snap.upto - 1}"
    for n, counts in pool_sum.items():
        want = {**counts, PoolCounter.STALL_CYCLES: snap.held[n] - before.held[n]}
        got = {c: (snap.pool_counters[n][c] - before.pool_counters[n][c]) for c in want}
        assert got == want, f"layer {n} (pool), {where}: counters " + differing(got, want)
    for n, want in conv_sum.items():
        got = {c: (snap.conv_counters[n][c] - before.conv_counters[n][c]) for c in want}
        assert got == want, f"layer {n}, {where}: counters " + differing(got, want)
        layer = net.layers[n]
        assert isinstance(layer, ConvLayer)
        hw_w, hw_mask = snap.kernels[n]
        for what, hw, model in (("mask", hw_mask, layer.mask), ("weights", hw_w, layer.weights)):
            assert (hw == model).all(), f"layer {n}, {where}: {what}, " + \
                first_difference(hw, model)
        assert snap.lfsr[n] == layer.lfsr.peek_state(), f"layer {n}, {where}: LFSR"
    got = {c: snap.clf_counters[c] - before.clf_counters[c] for c in clf_sum}
    top = f"layer {len(net.layers) - 1} (classifier), {where}"
    assert got == clf_sum, f"{top}: counters " + differing(got, clf_sum)
    clf = net.classifier.net
    for what, model in (("mask", clf.mask), ("weights", clf.weights)):
        hw = np.asarray(snap.clf[what])
        assert (hw == model).all(), f"{top}: {what}, (input, neuron) " + \
            f"{tuple(int(i) for i in np.argwhere(hw != model)[0])}"
    assert snap.clf["lfsr"] == clf.lfsr.peek_state(), f"{top}: LFSR"


def check_chain(name: str, learn_layer: int, *, samples: int = 8, stall: bool = False,
                seed: int = 1, fault: int | None = None) -> dict:
    """Simulate configuration ``name`` (constant rates when ``stall``) and compare every
    sample, layer by layer, with the golden model; ``fault``: a conv layer whose kernel 0 the
    hardware gets with every weight w_max (the model keeps its own). Returns totals: samples,
    events compared, the learning layer's updates and entries pruned, every layer's spikes, and
    ``held``: the cycles each core's output was held back."""
    cfg, conv_lanes = CASES[name]
    if stall:
        cfg = cfg.replace_layers(ConvSpec, rate_double_every=0)
    chain = DeepChain(config=cfg, conv_lanes=conv_lanes)
    net = random_network(chain, seed)
    inputs = random_samples(cfg, np.random.default_rng(seed + 100), samples)
    loaded = copy.deepcopy(net)
    if fault is not None:
        loaded.layers[fault].weights[0] = cfg.w_max
    runs = simulate(chain, loaded, inputs, learn_layer, stall=stall, seed=seed)
    totals = {"samples": 0, "events": 0, "updates": 0, "pruned": 0}
    spikes = [0] * len(cfg.layers)
    before, pending, since = runs.snapshots[0], runs.snapshots[1:], 0
    pools = [n for n, core in enumerate(chain.cores) if isinstance(core, PoolCore)]
    conv_sum: dict[int, dict[ConvCounter, int]] = {n: {} for n in chain.geometries}
    pool_sum: dict[int, dict[PoolCounter, int]] = {n: {} for n in pools}
    clf_sum: dict[Counter, int] = {}
    for s, (times, got) in enumerate(zip(inputs, runs.events, strict=True)):
        want = model_sample(net, chain, times, learn_layer)
        where = first_divergence(cfg, s, want.events, got)
        assert where is None, f"first divergence: {where}"
        label = net.classifier.labels[want.prediction]
        assert runs.labels[s] == label, f"sample {s}: pred_label {runs.labels[s]}, model {label}"
        for n, counts in want.conv_counters.items():
            conv_sum[n] = {c: conv_sum[n].get(c, 0) + v for c, v in counts.items()}
        for n, counts in want.pool_counters.items():
            pool_sum[n] = {c: pool_sum[n].get(c, 0) + v for c, v in counts.items()}
        clf_sum = {c: clf_sum.get(c, 0) + v for c, v in want.clf_counters.items()}
        if pending and pending[0].upto == s + 1:
            check_snapshot(net, pending[0], before, since, conv_sum, pool_sum, clf_sum)
            before, pending, since = pending[0], pending[1:], s + 1
            conv_sum, clf_sum = {n: {} for n in chain.geometries}, {}
            pool_sum = {n: {} for n in pools}
        totals["samples"] += 1
        totals["events"] += sum(len(e) for e in got)
        totals["updates"] += want.updates
        totals["pruned"] += want.pruned
        spikes = [a + len(e) - 1 for a, e in zip(spikes, got, strict=True)]
    assert not pending and before.upto == len(inputs), "a snapshot was not compared"
    return {**totals, "spikes": spikes, "held": runs.held}


@pytest.mark.parametrize("name", ["A", "B"])
def test_inference_matches_model(name: str) -> None:
    """learn_layer past the last layer: every layer infers; eight samples, the first empty."""
    totals = check_chain(name, learn_layer=len(CASES[name][0].layers))
    assert totals["samples"] == 8 and min(totals["spikes"]) > 0


@pytest.mark.parametrize(("name", "layer"), [("A", 0), ("A", 2), ("B", 0), ("B", 2)])
def test_layer_learns(name: str, layer: int) -> None:
    """learn_layer names a conv layer: its kernels follow ``ConvLayer.learn_sample``, the
    others stay as loaded and the classifier makes no update."""
    totals = check_chain(name, learn_layer=layer, seed=2)
    assert totals["updates"] > 0 and totals["pruned"] > 0


@pytest.mark.parametrize("name", ["A", "B"])
def test_classifier_learns(name: str) -> None:
    """learn_layer names the classifier: the layer core's STDP ("wta" rule) on the re-binned
    features, weights, live mask and LFSR read back through its host port."""
    totals = check_chain(name, learn_layer=len(CASES[name][0].layers) - 1, seed=4)
    assert totals["updates"] > 0


@pytest.mark.parametrize(("name", "layer"), [("A", 2), ("B", 0)])
def test_back_pressure(name: str, layer: int) -> None:
    """The samples back to back in one stream with random gaps, a top consumer ready in random
    stretches: a core still busy with a sample holds back the next one below it, and every
    core's output is held back at times."""
    totals = check_chain(name, learn_layer=layer, stall=True, seed=4)
    assert totals["updates"] > 0 and min(totals["spikes"]) > 0
    assert min(totals["held"]) > 0, f"a core's output was never held back: {totals['held']}"


@pytest.mark.parametrize("name", ["A", "B"])
def test_empty_sample(name: str) -> None:
    """No input spike while layer 0 learns: no spike anywhere, no winner, each END passes."""
    totals = check_chain(name, learn_layer=0, samples=1)
    assert totals["spikes"] == [0] * len(CASES[name][0].layers) and totals["updates"] == 0


def test_first_divergence_is_reported() -> None:
    """A kernel loaded wrong into layer 2 only: the report names layer 2 and the event (the
    samples back to back: no kernel snapshot before the events are compared)."""
    with pytest.raises(AssertionError, match=r"first divergence: layer 2 \(conv\), sample \d+, "
                       r"event \d+: step \d+, (map \d+, position \(\d+, \d+\)|END).*: "
                       r"expected .*, got"):
        check_chain("A", learn_layer=5, samples=3, stall=True, fault=2)


def test_event_adapt_rebins_and_resizes() -> None:
    """Every time re-binned as ``ClassifierLayer.rebin`` (6 steps onto 4), indices narrowed
    (8 to 6 bits) and kinds passed on, the handshake straight through."""
    adapt = EventAdapt(n_indices=40, index_in=8, index_out=6, steps_in=6, steps_out=4)
    clf = ClassifierLayer(CONFIG_A.layers[-1], CONFIG_A.replace_layers(ClassifierSpec,
                                                                       time_steps=4))
    beats = [(EventKind.SPIKE, t, i) for t in range(6) for i in (0, 21, 39)]
    beats.append((EventKind.END, 5, 0))

    async def testbench(ctx: SimulatorContext) -> None:
        for ready in (0, 1):
            ctx.set(adapt.events_out.ready, ready)
            ctx.set(adapt.events_in.valid, 1)
            assert ctx.get(adapt.events_in.ready) == ready
        for kind, t, i in beats:
            ctx.set(adapt.events_in.payload, {"kind": kind, "time": t, "index": i})
            p = ctx.get(adapt.events_out.payload)
            assert ctx.get(adapt.events_out.valid) == 1
            want = int(clf.rebin(np.array([t]))[0])
            assert (p.kind, p.time, p.index) == (kind, want, i), f"time {t}, index {i}"

    sim = Simulator(adapt)  # combinational: no clock
    sim.add_testbench(testbench)
    sim.run()


def test_elaboration_parameters_are_checked() -> None:
    with warnings.catch_warnings():
        # a constructor that raises leaves an object Amaranth reports as never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        DeepChain(config=CONFIG_A, conv_lanes=(2, 4))
        with pytest.raises(TypeError, match="config must be a DeepConfig, not dict"):
            DeepChain(config=CONFIG_A.to_dict(), conv_lanes=(2, 4))
        with pytest.raises(TypeError, match="conv_lanes must be a sequence of ints, not int"):
            DeepChain(config=CONFIG_A, conv_lanes=2)
        with pytest.raises(TypeError, match="counter_bits must be an int"):
            DeepChain(config=CONFIG_A, conv_lanes=(2, 4), counter_bits=32.0)
        with pytest.raises(ValueError, match="conv_lanes has 1 entries; the configuration "
                                             "has 2 conv layers"):
            DeepChain(config=CONFIG_A, conv_lanes=(2,))
        with pytest.raises(ValueError, match=r"conv_lanes for layers\[2\]: lanes = 3 must "
                                             r"divide maps = 8"):
            DeepChain(config=CONFIG_A, conv_lanes=(2, 3))
        with pytest.raises(TypeError, match=r"conv_lanes for layers\[0\]: lanes must be an "
                                            r"int"):
            DeepChain(config=CONFIG_A, conv_lanes=(2.0, 4))
        overlap = CONFIG_A.replace(layers=(CONFIG_A.layers[0], PoolSpec(size=2, stride=1),
                                           *CONFIG_A.layers[2:]))
        with pytest.raises(ValueError, match=r"layers\[1\] \(pool\): stride = 1 differs from "
                                             r"size = 2"):
            DeepChain(config=overlap, conv_lanes=(2, 4))
        bad = DeepConfig(image_shape=(4, 4), layers=(ConvSpec(kernel=5), ClassifierSpec()))
        with pytest.raises(ValueError, match=r"DeepChain: config.layers\[0\].kernel = 5"):
            DeepChain(config=bad, conv_lanes=(1,))
        with pytest.raises(TypeError):
            DeepChain(CONFIG_A, (2, 4))  # keyword-only
        with pytest.raises(ValueError, match="index_out = 5: too narrow for 40 indices"):
            EventAdapt(n_indices=40, index_in=8, index_out=5, steps_in=6, steps_out=6)
        with pytest.raises(ValueError, match="steps_out = 7: more than steps_in = 6"):
            EventAdapt(n_indices=40, index_in=8, index_out=6, steps_in=6, steps_out=7)
        with pytest.raises(TypeError, match="steps_in must be an int"):
            EventAdapt(n_indices=40, index_in=8, index_out=6, steps_in=True, steps_out=6)
        gc.collect()
