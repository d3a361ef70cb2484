"""Learn a deep network layer by layer, test it, and read its features with a host-side SVM.

``fit_deep`` is the whole computation of ``synaprune train --network deep`` without printing:
every learning layer in turn learns on the training split (the layers below frozen, their
output for every sample computed once), the classifier last; a checkpoint is written after each
layer (``after_layer``), and a run given a partly learned network (``--resume``) starts at its
first unfinished layer. Then the test split is classified by the network itself, and, for
comparison only, a linear SVM (scikit-learn, fitted on the host: not part of the network) reads
the same binary features (spike or not), as Kheradpisheh et al. 2018 did.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .model.datasets import Split
from .model.deep_network import ClassifierLayer, ConvLayer, DeepNetwork, LearnTrace, Totals

SVM_C = 2.4  # Kheradpisheh et al.'s LinearSVC C (SpykeTorch's KheradpishehDeep.py)


@dataclass
class DeepResult:
    """A learned deep network and the figures of its run."""

    net: DeepNetwork
    learn: dict[int, Totals]  # learning counters per learning layer
    infer: dict[str, Totals]  # inference counters on the test split, per learning layer
    accuracy: float
    host_svm_accuracy: float
    learn_seconds: dict[int, float]
    test_seconds: float
    svm_seconds: float
    n_train: int
    n_test: int
    trace: LearnTrace = field(default_factory=LearnTrace)

    def layer_figures(self) -> list[dict[str, Any]]:
        """Per learning layer: live and total entries, work per sample, convergence."""
        rows = []
        for n, layer in enumerate(self.net.layers):
            if isinstance(layer, ConvLayer):
                size, conv_c = layer.mask.size, layer.convergence()
            elif isinstance(layer, ClassifierLayer):
                size, conv_c = layer.net.mask.size, None
            else:
                continue
            lt = self.learn.get(n, Totals())
            it = self.infer.get(f"layer {n}", Totals())
            rows.append({
                "layer": n, "type": self.net.cfg.layers[n].type, "live": layer.live,
                "entries": size, "removed": 1 - layer.live / size,
                "learn_samples": lt.samples,
                "learn_syn_events_per_sample": lt.syn_events / max(lt.samples, 1),
                "learn_syn_updates_per_sample": lt.syn_updates / max(lt.samples, 1),
                "infer_syn_events_per_sample": it.syn_events / max(it.samples, 1),
                "pruned": lt.pruned, "convergence": conv_c,
                "learn_seconds": self.learn_seconds.get(n, 0.0),
            })
        return rows

    def figures(self) -> dict[str, Any]:
        rows = self.layer_figures()
        live = sum(r["live"] for r in rows)
        size = sum(r["entries"] for r in rows)
        learned = sum(r["learn_samples"] for r in rows)
        seconds = sum(self.learn_seconds.values())
        return {
            "accuracy": self.accuracy, "host_svm_accuracy": self.host_svm_accuracy,
            "live": live, "entries": size, "removed": 1 - live / size, "layers": rows,
            "learn_syn_events_per_sample": sum(r["learn_syn_events_per_sample"] for r in rows),
            "learn_syn_updates_per_sample": sum(r["learn_syn_updates_per_sample"] for r in rows),
            "infer_syn_events_per_sample": sum(r["infer_syn_events_per_sample"] for r in rows),
            "learn_seconds": seconds, "learn_samples_per_s": learned / max(seconds, 1e-9),
            "test_seconds": self.test_seconds, "svm_seconds": self.svm_seconds,
            "n_train": self.n_train, "n_test": self.n_test,
            "live_trace": [list(p) for p in self.trace.points],
        }


def host_svm_accuracy(train: np.ndarray, y_train: np.ndarray, test: np.ndarray,
                      y_test: np.ndarray, never: int) -> float:
    """Host-side LinearSVC (C = SVM_C) on binary features (spike or not); NaN with < 2 classes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    if len(np.unique(y_train)) < 2:
        return float("nan")
    clf = LinearSVC(C=SVM_C, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((train < never).astype(np.float32), y_train)
    return float(clf.score((test < never).astype(np.float32), y_test))


class LearnObserver(Protocol):
    """Follows the layer-wise learning of ``fit_deep`` (``synaprune.deep_experiment`` costs
    every learning sample with it): ``start_layer`` before layer n learns, with its inputs (the
    frozen layers' output of every training sample); ``sample`` after each of its learning
    samples, with the step (the position in ``deep_network.sample_orders``' order) and the
    layer's result."""

    def start_layer(self, net: DeepNetwork, n: int, inputs: np.ndarray) -> None: ...

    def sample(self, net: DeepNetwork, n: int, step: int, result: object) -> None: ...


def fit_deep(net: DeepNetwork, split: Split, *, progress: bool = True, svm: bool = True,
             after_layer: Callable[[DeepNetwork, dict[int, Totals]], None] | None = None,
             counters: dict[int, Totals] | None = None,
             observer: LearnObserver | None = None) -> DeepResult:
    """Learn the layers of ``net`` not yet learned (``net.done`` onwards), then test;
    ``observer`` follows every learning sample."""
    cfg = net.cfg
    if len(split.x_train) == 0 or len(split.x_test) == 0:
        raise ValueError("training and test sets must both be non-empty")
    shape = tuple(split.x_test.shape[1:])
    if shape != tuple(cfg.image_shape):
        raise ValueError(f"{split.name} images are {shape[0]}x{shape[1]} but the configuration "
                         f"expects image_shape {tuple(cfg.image_shape)}")
    learn = dict(counters or {})
    seconds: dict[int, float] = {}
    trace = LearnTrace()
    train = net.encode(split.x_train)
    last = len(cfg.layers) - 1
    for rank, n in enumerate(cfg.learning_layers()):
        if rank < net.done:
            continue
        t0 = time.perf_counter()
        inputs = net.features(train) if n == last else net.forward(train, n)
        on_sample = None
        if observer is not None:
            observer.start_layer(net, n, inputs)

            def on_sample(step: int, result: object, n: int = n) -> None:
                observer.sample(net, n, step, result)
        learn[n] = net.learn_layer(n, inputs, split.y_train, seed=cfg.seed, progress=progress,
                                   trace=trace, on_sample=on_sample)
        if n == last:
            net.label_classifier(inputs, split.y_train)
        seconds[n] = time.perf_counter() - t0
        net.done = rank + 1
        if after_layer is not None:
            after_layer(net, learn)
    t0 = time.perf_counter()
    test = net.encode(split.x_test)
    predicted, infer = net.predict(test)
    accuracy = float(np.mean(predicted == split.y_test))
    t1 = time.perf_counter()
    svm_acc = float("nan")
    if svm:
        svm_acc = host_svm_accuracy(net.features(train), split.y_train, net.features(test),
                                    split.y_test, cfg.never)
    t2 = time.perf_counter()
    return DeepResult(net=net, learn=learn, infer=infer, accuracy=accuracy,
                      host_svm_accuracy=svm_acc, learn_seconds=seconds, test_seconds=t1 - t0,
                      svm_seconds=t2 - t1, n_train=len(split.x_train), n_test=len(split.x_test),
                      trace=trace)
