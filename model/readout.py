"""Training loop, label assignment and evaluation around ``Network.run_sample``.

``learn_label_test`` is the one learn -> label -> test sequence that ``synaprune train``, the
experiment (and its sweeps) and the simulation cases (``learn_and_label``) share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..progress import progress_bar
from .network import Network, SampleResult

UNLABELLED = -1


@dataclass
class RunTotals:
    """Counters summed over a pass: samples, synaptic events and updates, pruned synapses."""

    samples: int = 0
    syn_events: int = 0
    syn_updates: int = 0
    pruned: int = 0


def learn(net: Network, times: np.ndarray, *, epochs: int, seed: int, progress: bool = True,
          on_sample: Callable[[int, object], None] | None = None) -> RunTotals:
    """Present the samples ``epochs`` times in a seeded shuffled order, learning on each."""
    rng = np.random.default_rng(seed)
    totals = RunTotals()
    orders = [rng.permutation(len(times)) for _ in range(epochs)]
    step = 0
    with progress_bar(total=epochs * len(times), desc="learn", unit="sample",
                      disable=not progress) as bar:
        for order in orders:
            for idx in order:
                res = net.run_sample(times[idx], learn=True)
                totals.samples += 1
                totals.syn_events += res.syn_events
                totals.syn_updates += res.syn_updates
                totals.pruned += res.pruned
                if on_sample is not None:
                    on_sample(step, res)
                step += 1
                bar.update()
                if step % 200 == 0:
                    bar.set_postfix(live=f"{net.live / net.mask.size:.1%}", refresh=False)
    return totals


def predict_neurons(net: Network, times: np.ndarray, *, progress: bool = True,
                    desc: str = "infer") -> np.ndarray:
    """The predicted (first-firing) neuron of each sample, in inference mode."""
    out = np.empty(len(times), dtype=np.int64)
    for s in progress_bar(range(len(times)), desc=desc, unit="sample", disable=not progress):
        out[s] = net.run_sample(times[s], learn=False).prediction
    return out


def assign_labels(neurons: np.ndarray, labels: np.ndarray, n_neurons: int,
                  n_classes: int = 10) -> np.ndarray:
    """Each neuron's label: the class it won most often (lowest class on ties), or UNLABELLED."""
    counts = np.zeros((n_neurons, n_classes), dtype=np.int64)
    np.add.at(counts, (neurons, labels), 1)
    out = np.argmax(counts, axis=1)
    out[counts.sum(1) == 0] = UNLABELLED
    return out


def accuracy(neurons: np.ndarray, labels: np.ndarray, neuron_labels: np.ndarray) -> float:
    """Fraction of samples whose predicted neuron carries the true label."""
    return float(np.mean(neuron_labels[neurons] == labels))


def learn_and_label(net: Network, times: np.ndarray, labels: np.ndarray, *, epochs: int,
                    seed: int, progress: bool = True, desc: str = "",
                    on_sample: Callable[[int, object], None] | None = None
                    ) -> tuple[np.ndarray, RunTotals]:
    """``learn`` on ``times``, then ``label_neurons`` on the same samples; returns the neuron
    labels and the learning totals."""
    totals = learn(net, times, epochs=epochs, seed=seed, progress=progress, on_sample=on_sample)
    return label_neurons(net, times, labels, progress=progress, desc=desc), totals


def label_neurons(net: Network, times: np.ndarray, labels: np.ndarray, *,
                  progress: bool = True, desc: str = "") -> np.ndarray:
    """Each neuron's class: the one it wins most often on ``times`` in inference
    (``assign_labels``)."""
    won = predict_neurons(net, times, progress=progress, desc=f"{desc} label".strip())
    return assign_labels(won, labels, net.cfg.n_neurons)


@dataclass
class Fit:
    """A network learned and labelled on a training set, then tested: the neuron labels, the
    learning totals, each test sample's result (prediction, work counters) and the accuracy."""

    net: Network
    labels: np.ndarray
    totals: RunTotals
    test_results: list[SampleResult]
    accuracy: float
    learn_seconds: float
    test_seconds: float  # labelling and testing

    @property
    def predicted(self) -> np.ndarray:
        return np.array([r.prediction for r in self.test_results], dtype=np.int64)


def learn_label_test(net: Network, train: np.ndarray, y_train: np.ndarray, test: np.ndarray,
                     y_test: np.ndarray, *, progress: bool = True, desc: str = "",
                     on_sample: Callable[[int, object], None] | None = None) -> Fit:
    """Learn ``net.cfg.epochs`` epochs on ``train`` (order seeded by ``net.cfg.seed``), label the
    neurons on ``train``, infer every sample of ``test``; ``on_sample(step, result)`` sees each
    learning sample."""
    t0 = time.perf_counter()
    totals = learn(net, train, epochs=net.cfg.epochs, seed=net.cfg.seed, progress=progress,
                   on_sample=on_sample)
    t1 = time.perf_counter()
    labels = label_neurons(net, train, y_train, progress=progress, desc=desc)
    results = [net.run_sample(test[s], learn=False)
               for s in progress_bar(range(len(test)), desc=f"{desc} test".strip(),
                                     unit="sample", disable=not progress)]
    predicted = np.array([r.prediction for r in results], dtype=np.int64)
    return Fit(net, labels, totals, results, accuracy(predicted, y_test, labels),
               learn_seconds=t1 - t0, test_seconds=time.perf_counter() - t1)
