"""NIR export of the deep network: one graph (Conv2d + IF per conv layer, SumPool2d + IF per
first-spike pooling layer, Flatten + the classifier's Linear + IF) that loads with ``nir.read``,
its weights the learned ones with pruned entries as zeros, the rest in its metadata; run with
NIR's semantics plus fire-once it gives the golden model's features spike for spike; the CLI
exports a deep checkpoint; the importer names the node it does not support."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
from deep_helpers import small_split, tiny_config
from numpy.lib.stride_tricks import sliding_window_view

from synaprune.cli import main
from synaprune.deep_checkpoint import save_deep_checkpoint
from synaprune.deep_fit import fit_deep
from synaprune.interop.nir_export import write_nir
from synaprune.interop.nir_export_deep import export_deep_graph
from synaprune.model.datasets import Split
from synaprune.model.deep_config import ConvSpec, DeepConfig, PoolSpec
from synaprune.model.deep_network import ConvLayer, DeepNetwork

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def variant() -> DeepConfig:
    """Other map counts, a leaky first conv layer (LIF), and global pooling (size 0) last."""
    conv0, pool, conv1, clf = tiny_config().layers
    assert isinstance(conv0, ConvSpec) and isinstance(conv1, ConvSpec)
    return tiny_config().replace(layers=(
        dataclasses.replace(conv0, maps=4, leak_shift=3), pool,
        dataclasses.replace(conv1, maps=5, inhibit_infer=True), PoolSpec(size=0), clf))


CONFIGS = {"tiny": tiny_config, "variant": variant}


def learned(name: str, digits: Split) -> DeepNetwork:
    """A deep network that learned 60 digits, with some more kernel entries pruned by hand so
    that zeros are checked in every conv layer."""
    net = DeepNetwork(CONFIGS[name]())
    fit_deep(net, small_split(digits), progress=False, svm=False)
    for _, layer in net.conv_layers():
        layer.mask[0, 0, 0, :] = False  # a pruned entry keeps its stale weight in memory
        layer.weights[0, 0, 0, :] = np.maximum(layer.weights[0, 0, 0, :], 1)
    return net


def chain(graph: nir.NIRGraph) -> list[str]:
    """The node names in edge order from the input (the file stores them alphabetically)."""
    nexts = dict(graph.edges)
    assert len(nexts) == len(graph.edges) == len(graph.nodes) - 1, "one simple chain"
    order = ["input"]
    while order[-1] in nexts:
        order.append(nexts[order[-1]])
    return order


@pytest.mark.parametrize("name", list(CONFIGS))
def test_deep_graph(name: str, tmp_path: Path, digits_split: Split) -> None:
    net = learned(name, digits_split)
    cfg = net.cfg
    graph = nir.read(write_nir(tmp_path / "deep.nir", export_deep_graph(net, dataset="digits")))

    want: list[tuple[str, str]] = [("input", "Input")]
    for n, spec in enumerate(cfg.layers):
        if isinstance(spec, ConvSpec):
            want += [(f"conv{n}", "Conv2d"), (f"conv{n}_neurons", "LIF" if spec.leak_shift
                                             else "IF")]
        elif isinstance(spec, PoolSpec):
            want += [(f"pool{n}", "SumPool2d"), (f"pool{n}_first_spike", "IF")]
    want += [("flatten", "Flatten"), ("fc", "Linear"), ("neurons", "IF"), ("output", "Output")]
    assert [(k, type(graph.nodes[k]).__name__) for k in chain(graph)] == want

    shapes = cfg.shapes()
    assert graph.nodes["input"].input_type["input"].tolist() == list(shapes[0])
    for n, layer in net.conv_layers():
        conv = graph.nodes[f"conv{n}"]
        assert isinstance(layer, ConvLayer) and 0 < layer.live < layer.mask.size
        assert conv.weight.shape == layer.weights.shape
        assert np.all(conv.weight[~layer.mask] == 0)  # pruned entries: exactly zero
        assert np.array_equal(conv.weight[layer.mask] * cfg.w_max, layer.weights[layer.mask])
        assert tuple(conv.input_shape) == shapes[n][1:]
        assert np.all(np.asarray(conv.stride) == 1) and np.all(np.asarray(conv.padding) == 0)
        neurons = graph.nodes[f"conv{n}_neurons"]
        assert neurons.v_threshold.shape == shapes[n + 1]
        assert np.allclose(neurons.v_threshold, (layer.spec.threshold - 0.5) / cfg.w_max)
        if layer.spec.leak_shift:
            assert np.all(neurons.tau == 2 ** layer.spec.leak_shift)
    for n, spec in enumerate(cfg.layers):
        if isinstance(spec, PoolSpec):
            size = [spec.size] * 2 if spec.size else list(shapes[n][1:])  # 0: the whole map
            assert graph.nodes[f"pool{n}"].kernel_size.tolist() == size
            first = graph.nodes[f"pool{n}_first_spike"]
            assert first.v_threshold.shape == shapes[n + 1]
            assert np.all(first.v_threshold == 0.5) and np.all(first.r == 1)  # one spike fires

    clf = net.classifier.net
    assert graph.nodes["flatten"].output_type["output"].tolist() == [clf.cfg.n_inputs]
    fc = graph.nodes["fc"].weight
    assert fc.shape == (clf.cfg.n_neurons, clf.cfg.n_inputs)
    assert np.all(fc.T[~clf.mask] == 0)
    assert np.allclose(fc.T[clf.mask] * cfg.w_max, clf.weights[clf.mask])
    assert graph.nodes["output"].output_type["output"].tolist() == [clf.cfg.n_neurons]

    meta = graph.metadata["synaprune"]
    assert meta["network"] == "deep" and meta["coding"] == "ttfs" and bool(meta["fire_once"])
    assert int(meta["time_steps"]) == cfg.time_steps and meta["weight_scale"] == cfg.w_max
    assert DeepConfig.from_dict(tomllib.loads(str(meta["config"]))) == cfg
    assert np.array_equal(meta["labels"], net.classifier.labels)
    assert meta["input_channels"] == "on,off"
    for n, layer in net.conv_layers():
        assert np.array_equal(meta[f"conv{n}_mask"], layer.mask)
    assert np.array_equal(meta["classifier_mask"], clf.mask)
    layers = json.loads(str(meta["layers"]))
    assert [la["type"] for la in layers] == [s.type for s in cfg.layers]
    for la, spec in zip(layers, cfg.layers, strict=True):
        if isinstance(spec, ConvSpec):
            assert (la["k_winners"], la["inhibit_radius"], la["inhibition_infer"]) == \
                (spec.k_winners, spec.inhibit_radius, spec.inhibit_infer)
        elif isinstance(spec, PoolSpec):
            assert la["global"] == (spec.size == 0) and "earliest spike" in la["meaning"]


def test_cli_export_deep_and_import_names_the_node(tmp_path: Path, digits_split: Split,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    net = learned("tiny", digits_split)
    ckpt = save_deep_checkpoint(tmp_path / "run" / "checkpoint.npz", net, {}, "digits")
    out = tmp_path / "deep.nir"
    assert main(["export", "--checkpoint", str(ckpt), "--nir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "conv0 (Conv2d) -> conv0_neurons (IF) -> pool1 (SumPool2d)" in text
    assert "flatten (Flatten) -> fc (Linear) -> neurons (IF) -> output (Output)" in text
    live = sum(la.live for _, la in net.conv_layers()) + net.classifier.live
    assert f"{live} of " in text and "written as zeros" in text
    graph = nir.read(out)
    assert np.array_equal(graph.nodes["conv2"].weight * net.cfg.w_max,
                          np.where(net.layers[2].mask, net.layers[2].weights, 0))

    assert main(["import", "--nir", str(out), "--out", str(tmp_path / "imp")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("synaprune: error: node 'conv0' (Conv2d): not supported")
    assert err.count("\n") == 1


def graph_features(graph: nir.NIRGraph, times: np.ndarray, never: int) -> np.ndarray:
    """Run the graph's nodes before ``flatten`` on input spike times (N, C, H, W) with NIR's
    semantics, one step of dt = 1 at a time (Conv2d: cross-correlation; SumPool2d: window sums;
    IF: v += r * I, spike when v > v_threshold) and the metadata's fire_once (a neuron that
    spiked stays silent); the first spike time of every feature (N, F), ``never`` for none."""
    names = chain(graph)
    names = names[1:names.index("flatten")]
    neurons: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for t in range(never):
        x = (times == t).astype(np.float64)
        for name in names:
            node = graph.nodes[name]
            if isinstance(node, nir.Conv2d):
                win = sliding_window_view(x, node.weight.shape[2:], axis=(2, 3))
                x = np.einsum("nchwyx,mcyx->nmhw", win, node.weight)
            elif isinstance(node, nir.SumPool2d):
                (ky, kx), (sy, sx) = node.kernel_size, node.stride
                x = sliding_window_view(x, (ky, kx), axis=(2, 3))[:, :, ::sy, ::sx].sum((-2, -1))
            else:
                assert isinstance(node, nir.IF)
                v, first = neurons.setdefault(name, (np.zeros(x.shape), np.full(x.shape, never)))
                v += node.r * x
                spikes = (v > node.v_threshold) & (first == never)
                first[spikes] = t
                x = spikes.astype(np.float64)
    return neurons[names[-1]][1].reshape(len(times), -1)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_graph_runs_as_the_golden_model(name: str, digits_split: Split) -> None:
    """Without leak and inference inhibition (which NIR's nodes cannot say), the exported graph
    run as NIR says gives the golden model's feature spike times: the Conv2d + IF layers and
    the SumPool2d + one-spike IF pooling (2x2 and global) are the golden model's layers."""
    cfg = CONFIGS[name]().replace_layers(ConvSpec, leak_shift=0, inhibit_infer=False)
    net = DeepNetwork(cfg)
    split = small_split(digits_split)
    fit_deep(net, split, progress=False, svm=False)
    times = net.encode(split.x_test)
    want = net.features(times)
    assert np.unique(want).size > 1, "features spike at different steps"
    got = graph_features(export_deep_graph(net, dataset="digits"), times, cfg.never)
    assert np.array_equal(got, want)
