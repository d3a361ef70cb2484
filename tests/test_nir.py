"""NIR export and import: a learned network round-trips with identical predictions, the file
loads with ``nir.read``, foreign graphs are quantised, unsupported nodes are named."""

from __future__ import annotations

import shutil
from pathlib import Path

import nir
import numpy as np
import pytest

from synaprune.checkpoint import load_checkpoint, save_checkpoint
from synaprune.cli import main
from synaprune.interop.nir_export import export_graph, write_nir
from synaprune.interop.nir_import import NirImportError, import_graph
from synaprune.interop.nir_mapping import thresholds_from_nir, thresholds_to_nir
from synaprune.model.config import Config
from synaprune.model.datasets import Split
from synaprune.model.encoding import encode
from synaprune.model.readout import assign_labels, learn, predict_neurons

# IF (no leak), and LIF (leak) with two winners and other widths
CONFIGS = {
    "if": Config(n_neurons=16, lanes=8, prune_threshold=200, epochs=1),
    "lif": Config(n_neurons=24, lanes=4, leak_shift=3, k_max=2, k_winners=2, threshold=500,
                  weight_bits=6, prune_threshold=40, epochs=1),
}


def learned(cfg: Config, split: Split) -> tuple[object, np.ndarray, np.ndarray]:
    """A network that learned 300 digits (pruning some synapses), its labels, encoded test."""
    from synaprune.model.network import Network

    train, test = encode(split.x_train[:300], cfg), encode(split.x_test, cfg)
    net = Network(cfg)
    learn(net, train, epochs=1, seed=cfg.seed, progress=False)
    labels = assign_labels(predict_neurons(net, train, progress=False), split.y_train[:300],
                           cfg.n_neurons)
    return net, labels, test


@pytest.mark.parametrize("name", list(CONFIGS))
def test_round_trip_identical_predictions(name: str, tmp_path: Path,
                                          digits_split: Split) -> None:
    cfg = CONFIGS[name]
    net, labels, test = learned(cfg, digits_split)
    assert 0 < net.live < net.mask.size, "some synapses should be pruned"
    path = write_nir(tmp_path / "layer.nir", export_graph(net, labels, dataset="digits"))

    graph = nir.read(path)  # the file loads with the reference reader
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert kinds == {"input": "Input", "fc": "Linear", "output": "Output",
                     "neurons": "IF" if cfg.leak_shift == 0 else "LIF"}
    assert sorted(graph.edges) == sorted([("input", "fc"), ("fc", "neurons"),
                                          ("neurons", "output")])
    weight = graph.nodes["fc"].weight
    assert weight.shape == (cfg.n_neurons, cfg.n_inputs)
    assert np.all(weight.T[~net.mask] == 0)  # pruned synapses are zeros
    assert np.allclose(weight.T[net.mask] * cfg.w_max, net.weights[net.mask])
    meta = graph.metadata["synaprune"]
    assert bool(meta["fire_once"]) and meta["coding"] == "ttfs"
    assert int(meta["winner_take_all"]) == cfg.k_winners

    got = import_graph(graph, base=Config())
    assert got.exact and got.net.cfg == cfg and got.dataset == "digits"
    assert np.array_equal(got.net.weights[net.mask], net.weights[net.mask])
    assert np.array_equal(got.net.mask, net.mask) and np.array_equal(got.labels, labels)
    assert np.array_equal(got.net.adapt, net.adapt)
    assert got.net.lfsr.peek_state() == net.lfsr.peek_state()
    before = predict_neurons(net, test, progress=False)
    after = predict_neurons(got.net, test, progress=False)
    assert np.array_equal(before, after)  # identical predictions on the whole test split


def test_cli_export_import_eval(tmp_path: Path, digits_split: Split,
                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = CONFIGS["if"]
    net, labels, _ = learned(cfg, digits_split)
    ckpt = save_checkpoint(tmp_path / "run" / "checkpoint.npz", net, labels,
                           {"samples": 300, "syn_events": 0, "syn_updates": 0, "pruned": 0},
                           "digits")
    nir_file = tmp_path / "layer.nir"
    assert main(["export", "--checkpoint", str(ckpt), "--nir", str(nir_file)]) == 0
    assert "written as zeros" in capsys.readouterr().out
    assert main(["import", "--nir", str(nir_file), "--out", str(tmp_path / "imp")]) == 0
    assert "exact" in capsys.readouterr().out
    back, back_labels, meta = load_checkpoint(tmp_path / "imp" / "checkpoint.npz")
    assert back.cfg == cfg and meta["dataset"] == "digits"
    accs = []
    for path in (ckpt, tmp_path / "imp" / "checkpoint.npz"):
        json_path = tmp_path / f"{len(accs)}.json"
        assert main(["eval", "--checkpoint", str(path), "--json", str(json_path),
                     "--no-progress"]) == 0
        accs.append(json_path.read_text())
    assert '"accuracy"' in accs[0]
    assert accs[0].split('"accuracy": ')[1].split(",")[0] == \
        accs[1].split('"accuracy": ')[1].split(",")[0]


def foreign_graph(weight: np.ndarray, v_threshold: np.ndarray, **extra: object) -> nir.NIRGraph:
    n, n_in = weight.shape
    nodes = {"in": nir.Input(input_type={"input": np.array([n_in])}),
             "dense": nir.Affine(weight=weight, bias=np.zeros(n)),
             "spiking": nir.IF(r=np.ones(n), v_threshold=v_threshold),
             "out": nir.Output(output_type={"output": np.array([n])}), **extra}
    edges = [("in", "dense"), ("dense", "spiking"), ("spiking", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("n", [10, 16])
def test_foreign_graph_is_quantised(n: int) -> None:
    rng = np.random.default_rng(n)
    steps = rng.integers(0, 256, size=(n, 64))
    steps[0, 0] = 255  # the largest weight becomes w_max
    weight = steps / 255.0 * 0.37  # any scale: the importer rescales
    theta = rng.integers(500, 900, size=n)
    graph = foreign_graph(weight, thresholds_to_nir(theta, 255 / 0.37))
    got = import_graph(graph, base=Config())
    assert not got.exact and got.max_weight_error < 1e-6
    assert np.array_equal(got.net.weights, steps.T) and np.array_equal(got.net.mask, steps.T > 0)
    assert np.array_equal(got.net.cfg.threshold + got.net.adapt, theta)
    assert got.net.cfg.n_neurons == n and got.net.cfg.n_neurons % got.net.cfg.lanes == 0
    want = np.arange(n) if n <= 10 else np.full(n, -1)  # one output per class, else none
    assert np.array_equal(got.labels, want)


def test_threshold_mapping() -> None:
    theta = np.array([0, 1, 600, 7000])
    for scale in (255.0, 63.0, 1.0):
        assert np.array_equal(thresholds_from_nir(thresholds_to_nir(theta, scale), scale), theta)
    # NIR fires when v > v_thr: an integer membrane must exceed 5.0, so theta = 6
    assert thresholds_from_nir(np.array([5.0, 5.2, 4.9999999]), 1.0).tolist() == [6, 6, 6]


@pytest.mark.parametrize(("change", "says"), [
    ({"conv1": "conv"}, "node 'conv1' (Conv2d): not on the chain"),
    ({"weight": -1}, "node 'dense' (Affine): negative weights"),
    ({"bias": 1}, "node 'dense' (Affine): non-zero bias"),
    ({"second": "linear"}, "node 'spiking' (IF): feeds 2 nodes"),
    ({"spiking": "pool"}, "node 'spiking' (SumPool2d): not supported by the layer core"),
])
def test_unsupported_nodes_are_named(change: dict[str, object], says: str) -> None:
    weight = np.full((10, 64), 0.5)
    if change.get("weight"):
        weight[3, 3] = -0.1
    graph = foreign_graph(weight, np.full(10, 2.0))
    if "conv1" in change:
        graph.nodes["conv1"] = nir.Conv2d(input_shape=(8, 8), weight=np.ones((1, 1, 3, 3)),
                                          stride=1, padding=0, dilation=1, groups=1,
                                          bias=np.zeros(1))
    if "bias" in change:
        graph.nodes["dense"] = nir.Affine(weight=weight, bias=np.ones(10))
    if "second" in change:
        graph.nodes["fc2"] = nir.Linear(weight=np.ones((10, 10)))
        graph.edges.append(("spiking", "fc2"))
    if "spiking" in change:
        graph.nodes["spiking"] = nir.SumPool2d(kernel_size=np.array([2, 2]),
                                               stride=np.array([2, 2]), padding=np.array([0, 0]))
    with pytest.raises(NirImportError) as info:
        import_graph(graph, base=Config())
    assert says in str(info.value)


def test_cli_import_error_is_one_line(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    graph = foreign_graph(np.full((10, 64), 0.5), np.full(10, 2.0))
    graph.nodes["dense"] = nir.Affine(weight=np.full((10, 64), 0.5), bias=np.ones(10))
    write_nir(tmp_path / "bad.nir", graph)
    assert main(["import", "--nir", str(tmp_path / "bad.nir"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("synaprune: error: node 'dense' (Affine): non-zero bias")
    assert err.count("\n") == 1
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    assert main(["import", "--nir", str(tmp_path / "junk.nir"), "--out", str(tmp_path)]) == 2
    assert "not a readable NIR graph" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
def test_imported_checkpoint_runs_in_rtl(tmp_path: Path, digits_split: Split,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``synaprune sim --checkpoint`` on an imported network: RTL == golden model."""
    monkeypatch.chdir(tmp_path)
    cfg = Config(n_neurons=8, lanes=8, prune_threshold=200, epochs=1)
    net, labels, _ = learned(cfg, digits_split)
    write_nir(tmp_path / "l.nir", export_graph(net, labels, dataset="digits"))
    assert main(["import", "--nir", str(tmp_path / "l.nir"), "--out", str(tmp_path / "i")]) == 0
    assert main(["sim", "--checkpoint", str(tmp_path / "i" / "checkpoint.npz"), "--infer", "3",
                 "--simulator", "icarus", "--out", str(tmp_path / "sim")]) == 0
