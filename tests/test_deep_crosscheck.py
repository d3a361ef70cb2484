"""The deep golden model against its independent Brian2 reference: identical on digits with
pruning, inhibition and k > 1 in use (both classifier rules), and a corrupted kernel weight or
classifier weight is caught with its place."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from deep_helpers import tiny_config

from synaprune.deep_crosscheck import crosscheck_deep
from synaprune.model.datasets import Split
from synaprune.model.deep_config import DeepConfig
from synaprune.model.deep_network import ConvLayer, DeepNetwork

pytest.importorskip("brian2", reason="the reference needs Brian2")


def _times(cfg: DeepConfig, digits: Split, n: int) -> tuple[np.ndarray, np.ndarray]:
    return DeepNetwork(cfg).encode(digits.x_train[:n]), digits.y_train[:n]


@pytest.mark.parametrize("rule,clf_steps", [("margin", 1), ("rstdp", 0)])
def test_identical_with_pruning_inhibition_and_k_winners(digits_split: Split, rule: str,
                                                         clf_steps: int) -> None:
    cfg = tiny_config()
    # margin: a prune-threshold schedule whose first epoch sweeps (16 + 100 = 116 > some of the
    # initial weights, normal(0.5, 0.05) * 255)
    cfg = cfg.replace(layers=(*cfg.layers[:3], dataclasses.replace(
        cfg.layers[3], rule=rule, time_steps=clf_steps, threshold=0 if rule == "margin"
        else cfg.layers[3].threshold, margin=500, prune_ramp_step=100 if rule == "margin" else 0,
        prune_threshold_max=116)))
    times, labels = _times(cfg, digits_split, 30)
    golden = DeepNetwork(cfg)
    report = crosscheck_deep(cfg, times, labels, golden=golden)
    assert report.ok, report.first
    assert report.samples == {0: 30, 2: 30, 3: 30}
    assert report.pruned > 0  # pruning happened (fast rates, high prune threshold)
    assert report.winners > 60  # k = 2 winners in the conv layers
    assert report.spikes > 0 and report.updates > 0
    conv = golden.layers[0]
    assert isinstance(conv, ConvLayer) and conv.live < conv.mask.size
    if rule == "margin":  # the first epoch's sweep removed classifier synapses on both sides
        assert golden.classifier.live < golden.classifier.net.mask.size


def test_corrupted_kernel_weight_is_caught(digits_split: Split) -> None:
    cfg = tiny_config()
    times, labels = _times(cfg, digits_split, 12)

    def corrupt(layer: int, k: int, golden: DeepNetwork) -> None:
        if (layer, k) == (2, 5):
            conv = golden.layers[2]
            assert isinstance(conv, ConvLayer)
            conv.weights[3, 1, 0, 1] ^= 1  # one bit of one entry of map 3

    report = crosscheck_deep(cfg, times, labels, golden_hook=corrupt)
    assert not report.ok
    first = report.first
    assert first is not None and first.layer == 2 and first.sample == 5
    assert any(d.what == "kernel weight" and d.where.startswith("map 3, entry (c 1, dy 0, dx 1)")
               for d in report.found)
    assert report.samples[0] == 12 and report.samples.get(2, 0) == 5


def test_corrupted_classifier_weight_is_caught(digits_split: Split) -> None:
    cfg = tiny_config()
    times, labels = _times(cfg, digits_split, 6)

    def corrupt(layer: int, k: int, golden: DeepNetwork) -> None:
        if (layer, k) == (3, 2):
            golden.classifier.net.weights[7, 4] += 1

    report = crosscheck_deep(cfg, times, labels, golden_hook=corrupt)
    assert not report.ok and report.first is not None
    assert (report.first.layer, report.first.sample) == (3, 2)
    assert any("(7, 4)" in d.where for d in report.found)
