"""The deep network's pruning experiment (``synaprune experiment --network deep``).

For every seed the deep configuration (``seed`` replaced) learns layer-wise twice, from the same
initial kernels and in the same sample orders (``synaprune.deep_fit.fit_deep``): once with
pruning off in every learning layer (dense), once as configured (pruned). Both are tested on
the test split by the network itself. Every sample is costed in cycles of the chain of cores
(``hw.deep_chain.DeepChain``), by the cycle models that equal its cores' counters:

- a conv layer: ``model.conv_cycles`` (``sample_cycles``; learning adds ``learn_cycles``), with
  the live mask the sample saw (before its own pruning) and ``lanes`` lanes per conv core;
- a pooling layer: ``model.pool_cycles``;
- the classifier: ``model.cycles`` for each pass of the layer core a sample makes; the "margin"
  rule's sample is its inference pass and up to two learning passes (the rule is not in the
  layer core yet: ``docs/deep_chain.md``, so these are the passes it would make);
- a learning sample of layer n enters the chain at the bottom, so it costs the inference of the
  layers below it on that sample plus layer n's learning; an inference sample costs every
  layer's inference. The cores work one after the other on a sample, so its cycles are their
  sum (the chain overlaps different samples, not the layers of one).

Not costed: the classifier's prune sweeps when its threshold ramps (``ClassifierLayer.
start_epoch``; not in hardware) and the host's input coding. Energy is not estimated: the
power model (``boards.power``) is calibrated on the layer core's synthesized builds, and the
chain has not been synthesized yet (``docs/deep_chain.md``); energy rows read n/a with that
reason. The first ``rtl_samples`` test samples of the first seed's pruned network are run
through the whole chain in RTL (``sim.tb_chain``); a mismatch or a cycle count that differs
from the cycle models makes the experiment fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .deep_fit import DeepResult, fit_deep
from .experiment import GOAL, PUBLISHED
from .model import conv_cycles, cycles, pool_cycles
from .model.conv_cycles import ConvGeometry
from .model.datasets import Split
from .model.deep_config import ClassifierSpec, ConvSpec, DeepConfig
from .model.deep_network import (
    ClassifierLayer,
    ConvLayer,
    ConvSample,
    DeepNetwork,
    MarginSample,
    PoolLayer,
    sample_orders,
)
from .model.network import SampleResult
from .progress import progress_bar

METRICS = ("accuracy_dense", "accuracy_pruned", "accuracy_change", "connectivity_removed",
           "learn_cycles_dense", "learn_cycles_pruned", "learn_speedup",
           "infer_cycles_dense", "infer_cycles_pruned", "infer_speedup")
NO_ENERGY = ("not estimated: the power model is calibrated on the layer core's builds and the "
             "deep chain has not been synthesized yet")


def default_lanes(cfg: DeepConfig, most: int = 8) -> tuple[int, ...]:
    """Lanes of each conv core: the largest divisor of its maps up to ``most``."""
    return tuple(max(p for p in range(1, most + 1) if spec.maps % p == 0)
                 for spec in cfg.layers if isinstance(spec, ConvSpec))


def geometries(cfg: DeepConfig, lanes: Sequence[int]) -> dict[int, ConvGeometry]:
    """Each conv layer's core (``ConvGeometry``) with its lanes, by layer index."""
    shapes = cfg.shapes()
    convs = [n for n, s in enumerate(cfg.layers) if isinstance(s, ConvSpec)]
    if len(lanes) != len(convs):
        raise ValueError(f"lanes has {len(lanes)} entries; the configuration has {len(convs)} "
                         f"conv layers")
    out = {}
    for n, p in zip(convs, lanes, strict=True):
        spec = cfg.layers[n]
        assert isinstance(spec, ConvSpec)
        try:
            out[n] = ConvGeometry.from_spec(spec, shapes[n], cfg, lanes=p)
        except (TypeError, ValueError) as err:
            raise ValueError(f"layers[{n}] (conv) with {p} lanes: {err}") from None
    return out


def classifier_passes(result: object) -> list[SampleResult]:
    """The layer-core passes of one classifier sample (a margin sample's passes)."""
    if isinstance(result, MarginSample):
        return list(result.passes())
    assert isinstance(result, SampleResult)
    return [result]


def infer_cycles(net: DeepNetwork, geoms: dict[int, ConvGeometry], times: np.ndarray,
                 upto: int | None = None) -> np.ndarray:
    """Inference cycles (N, layers) of inputs (N, C, H, W) through layers 0 .. ``upto`` - 1
    (default every layer), each layer's core on its own column."""
    layers = net.layers[:upto if upto is not None else len(net.layers)]
    T = net.cfg.time_steps
    out = np.zeros((len(times), len(layers)), dtype=np.int64)
    x = times
    for n, layer in enumerate(layers):
        if isinstance(layer, ConvLayer):
            y, _ = layer.forward(x)
            g, inhibit = geoms[n], layer.spec.inhibit_infer
            out[:, n] = [conv_cycles.sample_cycles(g, x[s], layer.mask, y[s], inhibit).total
                         for s in range(len(x))]
        elif isinstance(layer, PoolLayer):
            y = layer.forward(x)
            out[:, n] = [pool_cycles.sample_cycles(x[s], y[s], T).total for s in range(len(x))]
        else:
            assert isinstance(layer, ClassifierLayer)
            feats = layer.rebin(x.reshape(len(x), -1))
            out[:, n] = [cycles.sample_cycles(layer.net.cfg,
                                              layer.net.run_sample(f, learn=False)).total
                         for f in feats]
            y = x
        x = y
    return out


def mask_before(mask: np.ndarray, result: ConvSample) -> np.ndarray:
    """The live mask (M, C, k, k) a conv learning sample integrated with, from the mask after
    it: its own pruning undone (``KernelUpdate.entries`` are the winner's live entries before
    the update, ``pruned`` those it removed)."""
    out = mask.copy()
    for u in result.updates:
        out[u.map].reshape(-1)[u.entries[u.pruned]] = True
    return out


@dataclass
class ChainCosts:
    """``fit_deep``'s observer: the chain's cycles of every learning sample, and each learning
    layer's live entries after each of its samples."""

    geoms: dict[int, ConvGeometry]
    train: np.ndarray  # the encoded training inputs (N, C, H, W)
    learn: dict[int, list[int]] = field(default_factory=dict)
    live: dict[int, list[int]] = field(default_factory=dict)
    _inputs: np.ndarray | None = None
    _order: np.ndarray | None = None
    _below: np.ndarray | None = None

    def start_layer(self, net: DeepNetwork, n: int, inputs: np.ndarray) -> None:
        spec = net.cfg.layers[n]
        self._inputs = inputs
        self._order = np.concatenate(sample_orders(net.cfg.seed, n, len(inputs),
                                                   getattr(spec, "epochs", 1)))
        self._below = (infer_cycles(net, self.geoms, self.train, upto=n).sum(axis=1) if n
                       else np.zeros(len(inputs), dtype=np.int64))
        self.learn[n], self.live[n] = [], []

    def sample(self, net: DeepNetwork, n: int, step: int, result: object) -> None:
        assert self._inputs is not None and self._order is not None and self._below is not None
        idx = int(self._order[step])
        layer = net.layers[n]
        if isinstance(layer, ConvLayer):
            assert isinstance(result, ConvSample)
            mask = mask_before(layer.mask, result)
            g, spec = self.geoms[n], layer.spec
            phases = conv_cycles.sample_cycles(g, self._inputs[idx], mask, result.out,
                                               spec.inhibition)
            spikes = int((result.out < g.time_steps).sum())
            own = phases.total + conv_cycles.learn_cycles(
                g, mask, spikes, [w[0] for w in result.winners], spec.k_winners)
        else:
            assert isinstance(layer, ClassifierLayer)
            own = sum(cycles.sample_cycles(layer.net.cfg, r).total
                      for r in classifier_passes(result))
        self.learn[n].append(int(self._below[idx]) + own)
        self.live[n].append(int(layer.live))


@dataclass
class DeepRun:
    """One learned network, its figures and its costs."""

    result: DeepResult
    costs: ChainCosts
    infer: np.ndarray  # (test samples, layers) inference cycles

    @property
    def learn_cycles(self) -> int:
        return int(sum(sum(c) for c in self.costs.learn.values()))

    @property
    def infer_cycles(self) -> float:
        return float(self.infer.sum(axis=1).mean())


def dense_config(cfg: DeepConfig) -> DeepConfig:
    """``cfg`` with pruning off in every learning layer."""
    return (cfg.replace_layers(ConvSpec, prune_enabled=False)
            .replace_layers(ClassifierSpec, prune_enabled=False))


def learn_and_cost(cfg: DeepConfig, split: Split, lanes: Sequence[int], *,
                   progress: bool = True) -> DeepRun:
    """Learn ``cfg`` layer-wise on ``split`` (``fit_deep``, no host SVM), cost every learning
    and test sample."""
    net = DeepNetwork(cfg)
    geoms = geometries(cfg, lanes)
    costs = ChainCosts(geoms, net.encode(split.x_train))
    result = fit_deep(net, split, progress=progress, svm=False, observer=costs)
    return DeepRun(result, costs, infer_cycles(net, geoms, net.encode(split.x_test)))


def compare(dense: DeepRun, pruned: DeepRun) -> dict[str, float]:
    """The figures of one seed (fractions, cycles, speed-ups as ratios)."""
    d, p = dense.result, pruned.result
    return {
        "accuracy_dense": d.accuracy, "accuracy_pruned": p.accuracy,
        "accuracy_change": p.accuracy - d.accuracy,
        "connectivity_removed": float(p.figures()["removed"]),
        "learn_cycles_dense": float(dense.learn_cycles),
        "learn_cycles_pruned": float(pruned.learn_cycles),
        "learn_speedup": dense.learn_cycles / max(pruned.learn_cycles, 1),
        "infer_cycles_dense": dense.infer_cycles, "infer_cycles_pruned": pruned.infer_cycles,
        "infer_speedup": dense.infer_cycles / max(pruned.infer_cycles, 1.0),
    }


def layer_rows(dense: DeepRun, pruned: DeepRun) -> list[dict[str, Any]]:
    """Per layer (first seed): entries removed, learning and inference cycles dense/pruned."""
    rows = []
    fig_p = {r["layer"]: r for r in pruned.result.layer_figures()}
    cfg = pruned.result.net.cfg
    for n, spec in enumerate(cfg.layers):
        learn_d, learn_p = dense.costs.learn.get(n), pruned.costs.learn.get(n)
        rows.append({
            "layer": n, "type": spec.type,
            "removed": fig_p[n]["removed"] if n in fig_p else None,
            "learn_cycles_per_sample_dense": float(np.mean(learn_d)) if learn_d else None,
            "learn_cycles_per_sample_pruned": float(np.mean(learn_p)) if learn_p else None,
            "infer_cycles_dense": float(dense.infer[:, n].mean()),
            "infer_cycles_pruned": float(pruned.infer[:, n].mean()),
        })
    return rows


@dataclass
class DeepExperimentResult:
    """Everything ``run_deep_experiment`` computed; ``summary()`` is what results.json holds."""

    dataset: str
    seeds: list[int]
    lanes: tuple[int, ...]
    per_seed: list[dict[str, float]]
    layers: list[dict[str, Any]]
    rtl: dict[str, Any]
    first: tuple[DeepRun, DeepRun] | None = None

    @property
    def rtl_ok(self) -> bool:
        return not self.rtl.get("ran") or bool(self.rtl.get("ok"))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"network": "deep", "dataset": self.dataset, "seeds": self.seeds,
                               "conv_lanes": list(self.lanes), "published": PUBLISHED,
                               "goal": GOAL, "rtl": self.rtl, "per_seed": self.per_seed,
                               "layers": self.layers, "energy_model": NO_ENERGY}
        for key in METRICS:
            vals = np.array([s[key] for s in self.per_seed], dtype=float)
            out[key] = float(vals.mean())
            out[f"{key}_std"] = float(vals.std())
            out[f"{key}_per_seed"] = [float(v) for v in vals]
        return out


def run_chain_check(net: DeepNetwork, lanes: Sequence[int], times: np.ndarray, *,
                    simulator: str = "auto") -> dict[str, Any]:
    """``times`` (inference) through the RTL chain holding ``net``; ok iff every sample ran
    with no mismatch (the bench compares every core's counters with its cycle model)."""
    from .sim.chain_cases import ChainCase, network_state
    from .sim.runner import resolve_simulator, run_case

    simulator = resolve_simulator(simulator)
    kernels, classifier = network_state(net)
    case = ChainCase(name="deep-experiment", cfg=net.cfg, conv_lanes=tuple(lanes),
                     kernels=kernels, classifier=classifier, times=times.astype(np.int16),
                     learn_layer=np.full(len(times), len(net.cfg.layers), dtype=np.int64))
    summary = run_case(case, simulator=simulator)
    ok = summary.get("mismatches", 1) == 0 and summary.get("samples") == len(times)
    return {"ok": ok, "samples": summary.get("samples"), "mismatches": summary.get("mismatches"),
            "first_mismatch": summary.get("first_mismatch"), "simulator": simulator,
            "cycles_equal_model": ok, "events_compared": summary.get("events_compared"),
            "membranes_compared": summary.get("membranes_compared")}


def run_deep_experiment(cfg: DeepConfig, split: Split, *, seeds: Sequence[int],
                        lanes: Sequence[int] | None = None, rtl_samples: int = 20,
                        progress: bool = True, simulator: str = "auto"
                        ) -> DeepExperimentResult:
    """Dense vs pruned layer-wise learning for each seed, costed; an RTL check of the first
    seed's pruned network."""
    lanes = tuple(lanes) if lanes is not None else default_lanes(cfg)
    geometries(cfg, lanes)  # fail before learning when a core cannot be built
    per_seed, first = [], None
    for seed in progress_bar(list(seeds), desc="seeds", unit="seed", disable=not progress):
        seeded = cfg.replace(seed=int(seed))
        dense = learn_and_cost(dense_config(seeded), split, lanes, progress=progress)
        pruned = learn_and_cost(seeded, split, lanes, progress=progress)
        per_seed.append(compare(dense, pruned))
        if first is None:
            first = (dense, pruned)
    assert first is not None, "need at least one seed"
    rtl: dict[str, Any] = {"ran": False, "ok": None, "samples": 0, "why_not": "rtl_samples = 0"}
    if rtl_samples > 0:
        net = first[1].result.net
        rtl = {"ran": True, **run_chain_check(net, lanes, net.encode(split.x_test[:rtl_samples]),
                                              simulator=simulator)}
    return DeepExperimentResult(split.name, [int(s) for s in seeds], lanes, per_seed,
                                layer_rows(*first), rtl, first)
