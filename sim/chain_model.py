"""What ``hw.deep_chain.DeepChain`` must do, from the golden model: the shared expectations of
its two benches (Amaranth's simulator, ``tests/test_deep_chain.py``; cocotb, ``sim.tb_chain``).

``model_sample`` runs one sample through ``model.deep_network.DeepNetwork`` as the chain does
(every layer in turn, one layer learning) and says what every core must send (its output
events in its order), the counters every core must add (``model.conv_cycles``,
``model.pool_cycles``, ``model.cycles``), the classifier's prediction and, for the cocotb
bench's probes, each conv layer's leaked membranes and winners and the classifier's traced
``SampleResult``. The loading words (``classifier_host_words``) and the
first-divergence report (``first_divergence``: layer, sample, event, step, map, position,
expected, got) are here too, so that both benches say the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..hw import memory_map as mm
from ..hw.conv_core import ConvCounter
from ..hw.conv_map import output_events
from ..hw.conv_pool import PoolCore, PoolCounter
from ..hw.deep_chain import DeepChain
from ..hw.layouts import Counter, EventKind, HostRegion
from ..model import conv_cycles, cycles, pool_cycles
from ..model.config import Config
from ..model.deep_config import ConvSpec, DeepConfig
from ..model.deep_network import ClassifierLayer, ConvLayer, ConvSample, DeepNetwork, PoolLayer
from ..model.network import SampleResult
from ..model.pooling import first_spike_pool

Beat = tuple[int, int, int]  # (kind, time, index)


def input_beats(times: np.ndarray, never: int) -> list[Beat]:
    """A sample's input stream: spikes by time, then index; then END."""
    flat = times.reshape(-1)
    order = np.lexsort((np.arange(len(flat)), flat))
    return [*((EventKind.SPIKE.value, int(flat[i]), int(i)) for i in order if flat[i] < never),
            (EventKind.END.value, 0, 0)]


def classifier_host_words(net: DeepNetwork) -> list[tuple[HostRegion, int, int, int]]:
    """(region, lane, addr, word) writes that load the classifier (``hw.memory_map``)."""
    clf = net.classifier.net
    cfg = clf.cfg
    out = []
    for region, lanes in ((HostRegion.WEIGHT, mm.weight_words(cfg, clf.weights)),
                          (HostRegion.ROW_MASK, mm.row_mask_words(cfg, clf.mask)),
                          (HostRegion.ADAPT, mm.lane_words(cfg, clf.adapt))):
        out += [(region, p, a, int(w)) for p, words in enumerate(lanes)
                for a, w in enumerate(words)]
    out += [(HostRegion.COL_MASK, 0, a, int(w))
            for a, w in enumerate(mm.col_mask_words(cfg, clf.mask))]
    out += [(HostRegion.LABEL, 0, a, int(w)) for a, w in enumerate(net.classifier.labels)]
    out += [(HostRegion.LFSR, 0, 0, clf.lfsr.peek_state()), (HostRegion.LIVE, 0, 0, clf.live)]
    return out


def pooled_events(times: np.ndarray, order: list[int], size: int, pool: PoolCore) -> list[Beat]:
    """The model's pooled stream: the first event of each window in the input order
    (``PoolCore.pooled_index`` says which window an input is in); ``RuntimeError`` if its
    times are not ``first_spike_pool``'s."""
    seen, out = set(), []
    flat = times.reshape(-1)
    for i in order:
        p = pool.pooled_index(i)
        if p is not None and p not in seen:
            seen.add(p)
            out.append((EventKind.SPIKE.value, int(flat[i]), p))
    pooled = first_spike_pool(times, size, size).reshape(-1)
    if {p: t for _, t, p in out} != {p: int(t) for p, t in enumerate(pooled)
                                     if t < pool.time_steps}:
        raise RuntimeError("pooled events differ from first_spike_pool")
    return out


def pool_counters(c: pool_cycles.PoolSampleCycles) -> dict[PoolCounter, int]:
    """The pooling core's counter increments for one sample of the cycle model (its output
    always ready)."""
    return {PoolCounter.SAMPLES: 1, PoolCounter.TAKE_CYCLES: c.take,
            PoolCounter.DECIDE_CYCLES: c.decide, PoolCounter.SEND_CYCLES: c.send,
            PoolCounter.CLEAR_CYCLES: c.clear, PoolCounter.EVENTS: c.events,
            PoolCounter.SPIKES: c.spikes, PoolCounter.STALL_CYCLES: 0}


def conv_counters(g: conv_cycles.ConvGeometry, spec: ConvSpec, x: np.ndarray, y: np.ndarray,
                  mask: np.ndarray, learned: ConvSample | None) -> dict[ConvCounter, int]:
    """A conv core's counter increments for one sample: input ``x``, output ``y``, the mask
    before it; ``learned``: the layer's ``ConvSample`` when it learns (cycle model
    ``model.conv_cycles``)."""
    inhibit = spec.inhibition if learned is not None else spec.inhibit_infer
    phases = conv_cycles.sample_cycles(g, x, mask, y, inhibit)
    spikes = int((y < g.time_steps).sum())
    winners = [] if learned is None else [w[0] for w in learned.winners]
    learn = 0 if learned is None else conv_cycles.learn_cycles(g, mask, spikes, winners,
                                                               spec.k_winners)
    return {ConvCounter.SAMPLES: 1, ConvCounter.LOAD_CYCLES: phases.load,
            ConvCounter.INTEGRATE_CYCLES: phases.integrate,
            ConvCounter.SWEEP_CYCLES: phases.sweep, ConvCounter.CLEAR_CYCLES: phases.clear,
            ConvCounter.EMIT_CYCLES: phases.emit,
            ConvCounter.SYN_EVENTS: conv_cycles.syn_events(g, x, mask),
            ConvCounter.SPIKES: spikes, ConvCounter.STEPS: g.time_steps,
            ConvCounter.LEARN_CYCLES: learn,
            ConvCounter.SYN_UPDATES: 0 if learned is None else learned.syn_updates,
            ConvCounter.PRUNED: 0 if learned is None else learned.pruned,
            ConvCounter.WINNERS: len(winners)}


def classifier_counters(cfg: Config, res: SampleResult) -> dict[Counter, int]:
    """The layer core's counter increments for one sample (``model.cycles``); its stall
    cycles depend on the consumer, not the model, and are left out."""
    phases = cycles.sample_cycles(cfg, res)
    return {Counter.SAMPLES: 1, **{Counter[f"{ph.upper()}_CYCLES"]: getattr(phases, ph)
                                   for ph in cycles.PHASES},
            Counter.SYN_EVENTS: res.syn_events, Counter.SYN_UPDATES: res.syn_updates,
            Counter.PRUNED: res.pruned, Counter.STEPS: res.steps}


@dataclass
class Expected:
    """The golden model's sample: every layer's output events, the counters each conv core,
    pooling core (no stall) and the classifier must have added (``ConvCounter`` /
    ``PoolCounter`` / ``Counter`` -> value), the classifier's predicted neuron, what the
    learning layer did (updates, entries pruned); for the probes, each conv layer's leaked
    membranes (T, P', M) and winners (map, row, column, step) and the classifier's traced
    result (membranes at every step, STDP updates)."""

    events: list[list[Beat]] = field(default_factory=list)
    conv_counters: dict[int, dict[ConvCounter, int]] = field(default_factory=dict)
    pool_counters: dict[int, dict[PoolCounter, int]] = field(default_factory=dict)
    clf_counters: dict[Counter, int] = field(default_factory=dict)
    prediction: int = -1
    updates: int = 0
    pruned: int = 0
    membranes: dict[int, np.ndarray] = field(default_factory=dict)
    winners: dict[int, list[tuple[int, int, int, int]]] = field(default_factory=dict)
    clf_result: SampleResult | None = None


def model_sample(net: DeepNetwork, chain: DeepChain, times: np.ndarray, learn_layer: int, *,
                 probes: bool = False) -> Expected:
    """Run one sample through the golden model as the chain does: every layer in turn, layer
    ``learn_layer`` learning (``ConvLayer.learn_sample``, or for the classifier
    ``ClassifierLayer.learn_sample``, the "wta" rule), the others inferring. The chain's
    pooling cores say which window an index is in (``PoolCore.pooled_index``). ``probes``:
    also the conv layers' membranes and the classifier's trace."""
    T = net.cfg.time_steps
    out = Expected()
    prev = input_beats(times, T)
    x = times.astype(np.int16)
    for n, layer in enumerate(net.layers):
        if isinstance(layer, ConvLayer):
            mask = layer.mask.copy()
            if probes:
                out.membranes[n] = layer.step_membranes(x)
            learned = layer.learn_sample(x) if n == learn_layer else None
            y = layer.forward(x[None])[0][0] if learned is None else learned.out
            g = chain.geometries[n]
            out.conv_counters[n] = conv_counters(g, layer.spec, x, y, mask, learned)
            out.winners[n] = [] if learned is None else list(learned.winners)
            if learned is not None:
                out.updates, out.pruned = learned.syn_updates, learned.pruned
            beats = output_events(g, y)
        elif isinstance(layer, PoolLayer):
            order = [i for kind, _, i in prev if kind == EventKind.SPIKE.value]
            pool = chain.cores[n]
            assert isinstance(pool, PoolCore)
            beats = [*pooled_events(x, order, layer.spec.size, pool), prev[-1]]
            y = layer.forward(x[None])[0]
            out.pool_counters[n] = pool_counters(pool_cycles.sample_cycles(x, y, T))
        else:
            assert isinstance(layer, ClassifierLayer)
            if n == learn_layer and layer.spec.rule != "wta":
                raise ValueError(f"the chain's classifier learns with the 'wta' rule only; "
                                 f"this one's is {layer.spec.rule!r}")
            features = x.reshape(-1)
            res = (layer.learn_sample(features, 0, trace=probes) if n == learn_layer
                   else layer.net.run_sample(layer.rebin(features), learn=False, trace=probes))
            assert isinstance(res, SampleResult)
            out.clf_counters = classifier_counters(layer.net.cfg, res)
            out.prediction = res.prediction
            out.clf_result = res
            if n == learn_layer:
                out.updates, out.pruned = res.syn_updates, res.pruned
            beats = [*((EventKind.SPIKE.value, t, j) for t, j in res.spikes),
                     (EventKind.END.value, res.steps - 1, res.prediction)]
            y = x
        out.events.append(beats)
        prev, x = beats, y
    return out


def describe(cfg: DeepConfig, n: int, beat: Beat) -> str:
    """Where an event of layer n's output lies: step, map (channel or neuron), position."""
    kind, t, i = beat
    if kind == EventKind.END.value:
        return f"step {t}, END (index {i})"
    c, h, w = cfg.shapes()[n + 1]
    return f"step {t}, map {i // (h * w)}, position ({i % (h * w) // w}, {i % w})"


def divergence(cfg: DeepConfig, expected: list[list[Beat]], got: list[list[Beat]]
               ) -> dict[str, object] | None:
    """The first layer, bottom up, whose output events differ from the model's, and the first
    differing event there: layer, its kind, event number, place (``describe``), expected, got;
    None if every layer's events are equal."""
    for n, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want == have:
            continue
        e = next(e for e in range(max(len(want), len(have)))
                 if e >= len(want) or e >= len(have) or want[e] != have[e])
        w = want[e] if e < len(want) else None
        g = have[e] if e < len(have) else None
        return {"layer": n, "kind": cfg.layers[n].type, "event": e,
                "place": describe(cfg, n, w or g), "expected": w, "got": g}
    return None


def first_divergence(cfg: DeepConfig, sample: int, expected: list[list[Beat]],
                     got: list[list[Beat]]) -> str | None:
    """``divergence`` as one line: (layer, sample, step, map, position, expected, got)."""
    d = divergence(cfg, expected, got)
    if d is None:
        return None
    return (f"layer {d['layer']} ({d['kind']}), sample {sample}, event {d['event']}: "
            f"{d['place']}: expected {d['expected']}, got {d['got']}")
