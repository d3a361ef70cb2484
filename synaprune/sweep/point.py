"""One sweep point on a worker: learn, test and cost with the cycle model; return its row.

``run_point(point)`` is the function the sweep hands to ``synaprune.engine.run_tasks``. The
point (``synaprune.sweep.spec``) names its network kind, data set and the whole ``Config``; the
row holds the point's labels and these figures (units as everywhere, docs/results_keys.md):

- ``accuracy``: test accuracy (fraction); ``connectivity_removed``: pruned share of the
  synapses (fraction); ``live_synapses`` and ``synapses``;
- ``learn_cycles``: core cycles of the whole learning run and ``learn_cycles_per_sample``;
  ``infer_cycles_per_sample``: mean core cycles of one test sample (``model.cycles``, equal to
  the RTL counters);
- ``n_train``, ``n_test``, ``learn_seconds`` (golden-model wall time).

Speed-ups need the point's dense reference and are added by ``synaprune.sweep.report``.
The data set is loaded and encoded once per worker process and configuration of the encoder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..model.config import Config


@lru_cache(maxsize=4)
def _split(dataset: str, mnist_dir: str | None, train: int | None, test: int | None) -> Any:
    from ..commands import load_split

    args = argparse.Namespace(dataset=dataset, data=Path(mnist_dir) if mnist_dir else None,
                              images=None, labels=None, train=train, test=test)
    return load_split(args, dataset)


@lru_cache(maxsize=8)
def _encoded(dataset: str, mnist_dir: str | None, train: int | None, test: int | None,
             encoder: tuple[Any, ...]) -> tuple[Any, np.ndarray, np.ndarray]:
    from ..commands import check_images_fit
    from ..model.encoding import encode

    split = _split(dataset, mnist_dir, train, test)
    cfg = Config(**dict(encoder))
    check_images_fit(split, cfg)
    return split, encode(split.x_train, cfg), encode(split.x_test, cfg)


# Config fields that the input encoding reads (model/encoding.py): points that share them share
# the encoded data.
ENCODER_FIELDS = ("n_inputs", "image_shape", "on_off", "input_min", "time_steps")


def run_layer(point: dict[str, Any]) -> dict[str, Any]:
    """The fully connected layer core: learn, label, test, cost every sample."""
    from ..experiment import train_and_cost

    cfg = Config.from_dict(point["config"])
    data = point["data"]
    encoder = tuple((f, getattr(cfg, f)) for f in ENCODER_FIELDS)
    split, train, test = _encoded(point["dataset"], data.get("mnist_dir"), data.get("train"),
                                  data.get("test"), encoder)
    t0 = time.perf_counter()
    run = train_and_cost(cfg, train, split.y_train, test, split.y_test, progress=False)
    seconds = time.perf_counter() - t0
    size = run.net.mask.size
    return {
        "accuracy": run.accuracy,
        "connectivity_removed": 1 - run.net.live / size,
        "live_synapses": run.net.live,
        "synapses": size,
        "learn_cycles": run.learn_cycles,
        "learn_cycles_per_sample": run.learn_cycles / max(len(run.trace.cycles), 1),
        "infer_cycles_per_sample": float(np.mean(run.infer_cycles)),
        "n_train": len(train),
        "n_test": len(test),
        "learn_seconds": seconds,
    }


# Network kinds (spec.NETWORKS) and the function that runs a point of each.
NETWORKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"layer": run_layer}


def run_point(point: dict[str, Any]) -> dict[str, Any]:
    """The row of one sweep point: its labels, dataset, network, policy and figures."""
    kind = point["network"]
    if kind not in NETWORKS:
        raise ValueError(f"network {kind!r} is not available; known: {', '.join(NETWORKS)}")
    figures = NETWORKS[kind](point)
    return {**point["labels"], "dataset": point["dataset"], "network": kind,
            "policy": point["policy"], **figures}
