"""The deep golden model as a whole: property tests of its invariants (a pruned entry never
returns, weights stay in range, inference changes nothing, same seed same result, inhibition
and winners keep their contracts), the configuration's checks and the checkpoint's resume."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from deep_helpers import small_split, tiny_config
from hypothesis import given, settings
from hypothesis import strategies as st

from synaprune.checkpoint import CheckpointError
from synaprune.deep_checkpoint import load_deep_checkpoint, save_deep_checkpoint
from synaprune.deep_fit import fit_deep
from synaprune.model import conv
from synaprune.model.datasets import Split
from synaprune.model.deep_config import ClassifierSpec, DeepConfig
from synaprune.model.deep_network import ConvLayer, DeepNetwork

PROPS = settings(max_examples=25, derandomize=True, deadline=None)


def state(net: DeepNetwork) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for _, la in net.conv_layers():
        out += [la.weights.copy(), la.mask.copy(), np.array(la.lfsr.peek_state())]
    c = net.classifier.net
    return out + [c.weights.copy(), c.mask.copy(), c.adapt.copy(), np.array(c.lfsr.peek_state())]


def learn_all(net: DeepNetwork, split: Split) -> None:
    fit_deep(net, split, progress=False, svm=False)


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
def test_shapes_and_toml_round_trip(tmp_path: Path) -> None:
    cfg = tiny_config()
    assert cfg.shapes() == [(2, 8, 8), (6, 6, 6), (6, 3, 3), (8, 2, 2), (20, 1, 1)]
    path = tmp_path / "deep.toml"
    cfg.save(path)
    assert DeepConfig.load(path) == cfg
    assert cfg.classifier_config().n_inputs == 32


@pytest.mark.parametrize("layer,field,value,needle", [
    (0, "kernel", 9, "config.layers[0].kernel = 9: larger than its input (8x8)"),
    (0, "a_plus_max", 10, "config.layers[0].a_plus_max = 10"),
    (2, "k_winners", 0, "config.layers[2].k_winners = 0"),
    (3, "rule", "svm", "config.layers[3].rule = 'svm'"),
    (1, "size", 7, "config.layers[1].size = 7: larger than its input (6x6)"),
])
def test_bad_layer_field_is_named(layer: int, field: str, value: Any, needle: str) -> None:
    cfg = tiny_config()
    layers = list(cfg.layers)
    layers[layer] = dataclasses.replace(layers[layer], **{field: value})
    with pytest.raises(ValueError, match=re.escape(needle)):
        dataclasses.replace(cfg, layers=tuple(layers)).validate()


def test_toml_errors_name_the_key() -> None:
    text = tiny_config().dumps()
    with pytest.raises(ValueError, match=r"layers\[0\] \(conv\): unknown key\(s\): kernal"):
        DeepConfig.loads(text.replace("kernel = 3", "kernal = 3", 1))
    with pytest.raises(ValueError, match=r"layers\[1\].type = 'pooling'"):
        DeepConfig.loads(text.replace('type = "pool"', 'type = "pooling"'))
    with pytest.raises(TypeError, match=r"layers\[0\].maps must be an int"):
        DeepConfig.loads(text.replace("maps = 6", "maps = 6.5"))
    with pytest.raises(ValueError, match="last layer must be the classifier"):
        tiny_config(layers=tiny_config().layers[:3])


def test_presets_load() -> None:
    from synaprune.model.deep_config import CONFIG_DIR

    names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    assert {"digits", "mnist"} <= set(names)
    for name in names:
        cfg = DeepConfig.preset(name)
        assert isinstance(cfg.layers[-1], ClassifierSpec)
    with pytest.raises(ValueError, match="no deep preset"):
        DeepConfig.preset("cifar")


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
@PROPS
@given(st.integers(0, 2**31 - 1), st.sampled_from([0, 1]), st.integers(1, 3))
def test_pruned_entries_never_return_and_weights_stay_in_range(seed: int, radius: int,
                                                               k: int) -> None:
    cfg = tiny_config(seed=seed % 1000)
    cfg = cfg.replace(layers=(dataclasses.replace(cfg.layers[0], inhibit_radius=radius,
                                                  k_winners=k), *cfg.layers[1:]))
    net = DeepNetwork(cfg)
    layer = net.layers[0]
    assert isinstance(layer, ConvLayer)
    rng = np.random.default_rng(seed)
    times = rng.integers(0, cfg.never + 1, (12, 2, 8, 8))
    prev = layer.mask.copy()
    for x in times:
        res = layer.learn_sample(x)
        assert not (layer.mask & ~prev).any()  # nothing comes back
        assert layer.weights.min() >= 0 and layer.weights.max() <= cfg.w_max
        assert len(res.winners) <= k and len({w[0] for w in res.winners}) == len(res.winners)
        for a in res.winners:
            for b in res.winners:
                if a is not b:
                    assert max(abs(a[1] - b[1]), abs(a[2] - b[2])) > radius
        assert res.syn_updates == sum(int(prev[w[0]].sum()) for w in res.winners)
        assert res.pruned == int(prev.sum() - layer.mask.sum())
        prev = layer.mask.copy()


@PROPS
@given(st.integers(0, 2**31 - 1))
def test_inhibition_leaves_at_most_the_first_spike_per_position(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, (3, 7, 5))
    v = rng.integers(0, 50, (3, 7, 5))
    out = conv.inhibit(t, v, never=4, v_max=255)
    fired = out < 4
    assert (fired.sum(-1) <= 1).all()
    assert (fired.any(-1) == (t < 4).any(-1)).all()
    first = np.where(t < 4, t, 99).min(-1)
    np.testing.assert_array_equal(np.where(fired.any(-1), out.min(-1), 99), first)


def test_inference_changes_nothing(digits_split: Split) -> None:
    net = DeepNetwork(tiny_config())
    learn_all(net, small_split(digits_split, 40, 20))
    before = state(net)
    times = net.encode(digits_split.x_test[:30])
    p1, _ = net.predict(times)
    p2, _ = net.predict(times)
    np.testing.assert_array_equal(p1, p2)
    for a, b in zip(before, state(net), strict=True):
        np.testing.assert_array_equal(a, b)


def test_same_seed_same_result_and_other_seed_differs(digits_split: Split) -> None:
    split = small_split(digits_split, 40, 20)
    nets = [DeepNetwork(tiny_config(seed=s)) for s in (3, 3, 4)]
    for net in nets:
        learn_all(net, split)
    for a, b in zip(state(nets[0]), state(nets[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b)
               for a, b in zip(state(nets[0]), state(nets[2]), strict=True))


def test_learning_prunes_and_counts(digits_split: Split) -> None:
    net = DeepNetwork(tiny_config())
    res = fit_deep(net, small_split(digits_split), progress=False, svm=False)
    rows = res.layer_figures()
    assert [r["layer"] for r in rows] == [0, 2, 3]
    assert all(r["learn_samples"] == 60 for r in rows)
    assert rows[0]["pruned"] > 0 and rows[0]["live"] < rows[0]["entries"]
    assert rows[0]["learn_syn_events_per_sample"] > rows[0]["infer_syn_events_per_sample"] > 0
    assert res.trace.points[0] == (0, 0, 6 * 2 * 9)
    assert 0.0 <= res.accuracy <= 1.0


# ---------------------------------------------------------------------------------------------
# checkpoint and resume
# ---------------------------------------------------------------------------------------------
class _InterruptError(Exception):
    pass


def test_resume_after_a_layer_is_bit_exact(tmp_path: Path, digits_split: Split) -> None:
    split = small_split(digits_split, 40, 20)
    whole = DeepNetwork(tiny_config())
    learn_all(whole, split)
    ckpt = tmp_path / "ckpt.npz"

    def stop_after_first(net: DeepNetwork, counters: dict) -> None:
        save_deep_checkpoint(ckpt, net, counters, "digits")
        raise _InterruptError

    with pytest.raises(_InterruptError):
        fit_deep(DeepNetwork(tiny_config()), split, progress=False, svm=False,
                 after_layer=stop_after_first)
    net, meta = load_deep_checkpoint(ckpt)
    assert meta["done"] == 1 and net.done == 1 and set(meta["counters"]) == {0}
    fit_deep(net, split, progress=False, svm=False, counters=meta["counters"])
    for a, b in zip(state(whole), state(net), strict=True):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_round_trip_and_errors(tmp_path: Path, digits_split: Split) -> None:
    net = DeepNetwork(tiny_config())
    learn_all(net, small_split(digits_split, 30, 10))
    path = save_deep_checkpoint(tmp_path / "c.npz", net, {}, "digits")
    back, meta = load_deep_checkpoint(path)
    for a, b in zip(state(net), state(back), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.classifier.labels, net.classifier.labels)
    assert meta["dataset"] == "digits" and back.done == 3
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    members["layer0.weights"] = members["layer0.weights"][:2]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **members)
    with pytest.raises(CheckpointError, match=r"bad.npz: member 'layer0.weights' has shape"):
        load_deep_checkpoint(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="junk.npz: not a readable checkpoint"):
        load_deep_checkpoint(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        load_deep_checkpoint(tmp_path / "missing.npz")


# ---------------------------------------------------------------------------------------------
# classifier prune-threshold schedule
# ---------------------------------------------------------------------------------------------
def test_prune_threshold_schedule_and_sweep() -> None:
    cfg = tiny_config()
    spec = dataclasses.replace(cfg.layers[-1], prune_threshold=16, prune_ramp_start=2,
                               prune_ramp_step=50, prune_threshold_max=120)
    cfg = cfg.replace(layers=(*cfg.layers[:-1], spec))
    clf = DeepNetwork(cfg).classifier
    # epochs 0, 1: 16; epoch 2: 16 + 50 = 66; epoch 3: 116; epoch 4: 166 capped at 120
    assert [clf.prune_threshold_at(e) for e in range(6)] == [16, 16, 66, 116, 120, 120]
    w = clf.net.weights
    w[:] = 100
    w[0, :3] = (65, 66, 10)
    clf.net.mask[0, 2] = False  # already pruned: stays pruned, not counted again
    assert clf.start_epoch(0) == 0 and clf.start_epoch(1) == 0
    # threshold 66: only w[0, 0] = 65 is below it among the live synapses
    assert clf.start_epoch(2) == 1
    assert not clf.net.mask[0, 0] and clf.net.mask[0, 1] and clf.net.cfg.prune_threshold == 66
    # threshold 116: every other live synapse (all 100 or 66) goes
    before = int(clf.net.mask.sum())
    assert clf.start_epoch(3) == before and clf.live == 0


def test_prune_sweep_off_when_pruning_disabled() -> None:
    cfg = tiny_config()
    spec = dataclasses.replace(cfg.layers[-1], prune_enabled=False, prune_ramp_step=200,
                               prune_threshold_max=255)
    clf = DeepNetwork(cfg.replace(layers=(*cfg.layers[:-1], spec))).classifier
    assert clf.start_epoch(0) == 0 and clf.live == clf.net.mask.size
