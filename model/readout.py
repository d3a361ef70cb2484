"""Training loop, label assignment and evaluation around ``Network.run_sample``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..progress import progress_bar
from .network import Network

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
