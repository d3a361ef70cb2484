"""``synaprune experiment --network deep`` (``synaprune.deep_experiment``): the chain's cycles of
every learning and test sample, the dense/pruned comparison, the command's checks.

The costs must be the cycle models' that the chain's RTL counters equal (``sim.chain_model``
gives them per core, and the chain benches check them against the RTL): a conv learning
sample's cost is checked against ``chain_model.conv_counters`` on the mask the sample
integrated with, which the experiment rebuilds from the mask after it (``mask_before``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from deep_helpers import small_split, tiny_config

from synaprune.cli import main
from synaprune.deep_experiment import (
    ChainCosts,
    compare,
    default_lanes,
    geometries,
    infer_cycles,
    learn_and_cost,
    mask_before,
)
from synaprune.hw.conv_core import ConvCounter
from synaprune.model.datasets import load_digits_split
from synaprune.model.deep_config import DeepConfig
from synaprune.model.deep_network import ConvLayer, DeepNetwork, sample_orders
from synaprune.sim.chain_model import conv_counters

CONV_PHASES = (ConvCounter.LOAD_CYCLES, ConvCounter.INTEGRATE_CYCLES, ConvCounter.SWEEP_CYCLES,
               ConvCounter.LEARN_CYCLES, ConvCounter.CLEAR_CYCLES, ConvCounter.EMIT_CYCLES)


def test_mask_before_undoes_a_samples_own_pruning() -> None:
    cfg = tiny_config()
    net = DeepNetwork(cfg)
    layer = net.layers[0]
    assert isinstance(layer, ConvLayer)
    times = net.encode(load_digits_split().x_train[:40])
    pruned = 0
    for x in times:
        before = layer.mask.copy()
        res = layer.learn_sample(x)
        pruned += res.pruned
        assert (mask_before(layer.mask, res) == before).all()
    assert pruned > 0  # the check saw pruning


def test_conv_learning_cost_is_the_cores_counters() -> None:
    """Layer 0's learning samples cost what ``chain_model.conv_counters`` (checked against the
    RTL) says the core spends, on the mask before each sample; layer 2's add the inference of
    the layers below on the same input."""
    cfg = tiny_config()
    split = small_split(load_digits_split(), n_train=30, n_test=10)
    lanes = (2, 2)
    geoms = geometries(cfg, lanes)
    net = DeepNetwork(cfg)
    train = net.encode(split.x_train)
    costs = ChainCosts(geoms, train)
    twin = DeepNetwork(cfg)  # learns the same samples outside the observer
    layer, own = twin.layers[0], []
    assert isinstance(layer, ConvLayer)
    for idx in np.concatenate(sample_orders(cfg.seed, 0, len(train), layer.spec.epochs)):
        mask = layer.mask.copy()
        res = layer.learn_sample(train[idx])
        counts = conv_counters(geoms[0], layer.spec, train[idx], res.out, mask, res)
        own.append(sum(counts[c] for c in CONV_PHASES))
    from synaprune.deep_fit import fit_deep

    fit_deep(net, split, progress=False, svm=False, observer=costs)
    assert costs.learn[0] == own
    below = infer_cycles(net, geoms, train, upto=2).sum(axis=1)
    order = np.concatenate(sample_orders(cfg.seed, 2, len(train), cfg.layers[2].epochs))
    assert min(c - below[i] for c, i in zip(costs.learn[2], order, strict=True)) > 0
    assert len(costs.live[2]) == len(costs.learn[2]) == len(order)


def test_dense_and_pruned_are_compared() -> None:
    cfg = tiny_config()
    split = small_split(load_digits_split(), n_train=40, n_test=20)
    lanes = default_lanes(cfg)
    assert lanes == (6, 8)  # the largest divisors of 6 and 8 maps up to 8
    from synaprune.deep_experiment import dense_config

    dense = learn_and_cost(dense_config(cfg), split, lanes, progress=False)
    pruned = learn_and_cost(cfg, split, lanes, progress=False)
    fig = compare(dense, pruned)
    assert 0 < fig["connectivity_removed"] < 1
    assert fig["learn_speedup"] == pytest.approx(dense.learn_cycles / pruned.learn_cycles)
    assert dense.infer.shape == (20, len(cfg.layers)) and (dense.infer > 0).all()
    assert fig["infer_cycles_dense"] == pytest.approx(dense.infer.sum(axis=1).mean())


def test_lanes_that_build_no_core_are_named() -> None:
    with pytest.raises(ValueError, match=r"layers\[0\] \(conv\) with 5 lanes: lanes = 5 must "
                                         r"divide maps = 16"):
        geometries(DeepConfig.preset("digits"), (5, 4))
    with pytest.raises(ValueError, match="lanes has 1 entries; the configuration has 2 conv"):
        geometries(DeepConfig.preset("digits"), (4,))


def test_command_rejects_the_layer_cores_options(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    base = ["experiment", "--network", "deep", "--out", str(tmp_path), "--seeds", "1"]
    assert main([*base, "--policy", "pq"]) == 2
    assert "--policy is for the layer core (--network fc)" in capsys.readouterr().err
    assert main([*base, "--lanes", "5", "4"]) == 2
    assert "lanes = 5 must divide maps = 16" in capsys.readouterr().err
