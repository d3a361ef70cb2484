"""Cases of the chain's testbench (``sim.tb_chain``): the deep network's whole chain of cores.

A ``ChainCase`` is everything one simulation of ``hw.deep_chain.DeepChain`` needs, saved as one
``.npz`` so the cocotb process reads exactly what the caller built: the deep configuration, the
conv cores' lanes, the network's state at the start (every conv layer's kernels and live mask;
the classifier's weights, mask, adaptation and labels), the input spike times of
every sample and the layer that learns in each (``learn_layer``; ``len(cfg.layers)``: none).
The conv layers start as the golden model's fresh layers (their LFSRs at the specs' seeds,
which is the cores' reset state, and no learning sample yet, so the rate schedules start at
their first rates).

``layerwise_case`` builds the run ``make sim NETWORK=deep`` makes on the digits data set: the
network's initial state, then layer-wise learning, bottom up (each conv layer, and a "wta"
classifier, learns ``n_learn`` training samples in the model's order,
``deep_network.sample_orders``, the layers below it inferring), then ``n_infer`` test samples
through the whole chain, nothing learning.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..model.datasets import load_digits_split
from ..model.deep_config import DeepConfig
from ..model.deep_network import DeepNetwork, sample_orders
from .chain_harness import chain_top
from .top import Top

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class ChainCase:
    """One RTL run of the chain: configuration, conv lanes, initial state, samples."""

    name: str
    cfg: DeepConfig
    conv_lanes: tuple[int, ...]
    kernels: dict[int, tuple[np.ndarray, np.ndarray]]  # conv layer -> (weights, mask)
    classifier: dict[str, np.ndarray]  # weights, mask, adapt, labels
    times: np.ndarray  # (n, C, H, W) input spike times, T = never
    learn_layer: np.ndarray  # (n,) the layer that learns in each sample
    in_gap: float = 0.0  # probability that the input stream idles in a cycle
    out_stall: float = 0.0  # probability that the top's output is not ready in a cycle
    seed: int = 1
    # fault injection, to show that the bench catches a wrong chain: (layer, map, weight)
    # written into every entry of that conv kernel after the initial state check, not into
    # the model
    kernel_fault: tuple[int, ...] | None = None
    notes: list[str] = field(default_factory=list)  # what the run leaves out, and why

    def top(self) -> Top:
        return chain_top(self.cfg, self.conv_lanes)

    def model_network(self) -> DeepNetwork:
        """The golden model in the case's initial state."""
        net = DeepNetwork(self.cfg)
        for n, layer in net.conv_layers():
            layer.weights, layer.mask = (a.copy() for a in self.kernels[n])
        clf, st = net.classifier, self.classifier
        clf.net.weights, clf.net.mask = st["weights"].copy(), st["mask"].copy()
        clf.net.adapt, clf.labels = st["adapt"].copy(), st["labels"].copy()
        return net

    def head(self, n: int) -> ChainCase:
        """The same case cut after ``n`` samples (to re-run up to a failing sample)."""
        return replace(self, times=self.times[:n], learn_layer=self.learn_layer[:n])

    def save(self, path: str | Path) -> None:
        arrays = {f"kernel{n}_{i}": a for n, pair in self.kernels.items()
                  for i, a in enumerate(pair)}
        arrays.update({f"clf_{k}": np.asarray(v) for k, v in self.classifier.items()})
        np.savez(path, name=self.name, cfg=self.cfg.dumps(),
                 conv_lanes=np.array(self.conv_lanes), times=self.times,
                 learn_layer=self.learn_layer, in_gap=self.in_gap, out_stall=self.out_stall,
                 seed=self.seed, notes=np.array(self.notes, dtype=str),
                 kernel_fault=np.array(self.kernel_fault or (), dtype=np.int64), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> ChainCase:
        z = np.load(path, allow_pickle=False)
        kernels = {int(k[6:-2]): (z[f"{k[:-2]}_0"], z[f"{k[:-2]}_1"])
                   for k in z.files if k.startswith("kernel") and k.endswith("_0")}
        classifier = {k[4:]: z[k] for k in z.files if k.startswith("clf_")}
        fault = tuple(int(v) for v in z["kernel_fault"])
        return cls(name=str(z["name"]), cfg=DeepConfig.from_dict(tomllib.loads(str(z["cfg"]))),
                   conv_lanes=tuple(int(v) for v in z["conv_lanes"]), kernels=kernels,
                   classifier=classifier, times=z["times"], learn_layer=z["learn_layer"],
                   in_gap=float(z["in_gap"]), out_stall=float(z["out_stall"]),
                   seed=int(z["seed"]), kernel_fault=fault or None,
                   notes=[str(v) for v in z["notes"]])


def network_state(net: DeepNetwork) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]],
                                             dict[str, np.ndarray]]:
    """A network's state as a case holds it. A "wta" classifier's neurons have no class
    (label -1) until the readout assigns them; the label register holds 0 .. classes - 1, so
    such a neuron is loaded as class j % classes (the bench checks the register, not a
    readout)."""
    kernels = {n: (layer.weights.copy(), layer.mask.copy()) for n, layer in net.conv_layers()}
    clf = net.classifier
    labels = clf.labels.copy()
    if (labels < 0).any():
        labels = np.arange(len(labels)) % clf.spec.n_classes
    return kernels, {"weights": clf.net.weights.copy(), "mask": clf.net.mask.copy(),
                     "adapt": clf.net.adapt.copy(), "labels": labels}


def layerwise_case(cfg: DeepConfig, *, conv_lanes: tuple[int, ...], n_learn: int,
                   n_infer: int, name: str = "deep-chain", in_gap: float = 0.0,
                   out_stall: float = 0.0) -> ChainCase:
    """The layer-wise run on the digits data set (see the module docstring); ``ValueError``
    before any simulation when the images do not fit the configuration or a layer has fewer
    learning samples than ``n_learn``."""
    split = load_digits_split()
    if tuple(cfg.image_shape) != split.x_train.shape[1:]:
        raise ValueError(f"the RTL bench runs on the digits data set (8x8 images); the "
                         f"configuration expects image_shape {tuple(cfg.image_shape)}")
    net = DeepNetwork(cfg)
    kernels, classifier = network_state(net)
    train, test = net.encode(split.x_train), net.encode(split.x_test)
    times, learn, notes = [], [], []
    for n, spec in enumerate(cfg.layers):
        if spec.type == "pool":
            continue
        if spec.type == "classifier" and spec.rule != "wta":
            notes.append(f"layer {n} (classifier) does not learn: its rule is {spec.rule!r}; "
                         f"the chain's classifier learns with 'wta' only (inference is the "
                         f"same for every rule)")
            continue
        epochs = max(1, getattr(spec, "epochs", 1))
        order = np.concatenate(sample_orders(cfg.seed, n, len(train), epochs))[:n_learn]
        if len(order) < n_learn:
            raise ValueError(f"layer {n} learns {len(order)} samples per run, asked for "
                             f"{n_learn}")
        times.append(train[order])
        learn += [n] * len(order)
    times.append(test[:n_infer])
    learn += [len(cfg.layers)] * n_infer
    return ChainCase(name=name, cfg=cfg, conv_lanes=conv_lanes, kernels=kernels,
                     classifier=classifier, times=np.concatenate(times).astype(np.int16),
                     learn_layer=np.array(learn, dtype=np.int64), in_gap=in_gap,
                     out_stall=out_stall, notes=notes)
