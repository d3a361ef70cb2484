"""The deep chain's UART link (``boards.chain_link``, ``boards.chain_bus``, ``boards.chain_map``)
and its host driver (``boards.chain_host.ChainBoard``) on the simulated board top
(``boards.sim_transport.ChainSimTransport``: bit-level UART, the chain's executor and every
core), against the golden model: loading and reading back every layer's state, layer-wise
learning (each conv layer, then the "wta" classifier) and inference, sample by sample; the
checks of the link (an address outside the map, a range past a space's end, a read of a
write-only space: BAD_ARG, nothing written) and of the host (fingerprint).

The chain simulates at about 2,000 cycles per second in Amaranth's simulator and a word costs
160 cycles on the simulated line, so the run here is small (a few hundred words, one sample per
learning layer); the slow test runs more samples on a second configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synaprune.boards import chain_protocol as cp
from synaprune.boards.build import DeepBuild, build_bitstream
from synaprune.boards.build_outputs import ReportError
from synaprune.boards.chain_host import ChainBoard
from synaprune.boards.chain_link import ChainLinkTop
from synaprune.boards.chain_map import CONV_KNOB_WORDS, ChainMap
from synaprune.boards.deep_report import format_deep_report, make_deep_report
from synaprune.boards.host import CommandError, ConfigMismatchError
from synaprune.boards.link import uart_link_timing
from synaprune.boards.platforms import default_deep
from synaprune.boards.protocol import Status
from synaprune.boards.sim_transport import ChainSimTransport
from synaprune.hw.deep_chain import DeepChain
from synaprune.model.datasets import load_digits_split
from synaprune.model.deep_config import ClassifierSpec, ConvSpec, DeepConfig, PoolSpec
from synaprune.model.deep_network import ClassifierLayer, ConvLayer, DeepNetwork
from synaprune.sim.chain_model import model_sample


def small_config(maps: tuple[int, int] = (4, 4), kernels: tuple[int, int] = (3, 2),
                 neurons_per_class: int = 1, lanes: int = 2) -> DeepConfig:
    """8x8 ON/OFF digits, conv -> pool -> conv -> "wta" classifier, rates that learn and
    prune within a few samples."""
    rates = {"a_plus": 600, "a_minus": -500, "a_plus_max": 1200, "a_minus_max": -1000,
             "prune_threshold": 120}
    return DeepConfig(image_shape=(8, 8), time_steps=6, input_min=24, layers=(
        ConvSpec(maps=maps[0], kernel=kernels[0], threshold=3 * 255, k_winners=2,
                 inhibit_radius=1, **rates),
        PoolSpec(size=2),
        ConvSpec(maps=maps[1], kernel=kernels[1], threshold=2 * 255, k_winners=2,
                 inhibit_radius=0, **rates),
        ClassifierSpec(rule="wta", neurons_per_class=neurons_per_class, lanes=lanes,
                       threshold=255, a_plus=400, a_minus=-300, prune_threshold=60))).validate()


def random_network(cfg: DeepConfig, seed: int) -> DeepNetwork:
    """The model with random kernels (a quarter pruned) and classifier weights."""
    rng = np.random.default_rng(seed)
    net = DeepNetwork(cfg)
    for _, layer in net.conv_layers():
        layer.weights = rng.integers(0, 256, layer.weights.shape).astype(layer.weights.dtype)
        layer.mask = rng.random(layer.mask.shape) > 0.25
    clf = net.classifier.net
    clf.weights = rng.integers(0, 256, clf.weights.shape).astype(clf.weights.dtype)
    # a "wta" neuron has no class until the readout; the label register holds one
    labels = net.classifier.labels
    net.classifier.labels = np.arange(len(labels)) % net.classifier.spec.n_classes
    return net


def check_layer(board: ChainBoard, net: DeepNetwork, n: int) -> None:
    """Layer n's state on the board equals the model's."""
    layer = net.layers[n]
    if isinstance(layer, ConvLayer):
        weights, mask = board.read_kernels(n)
        np.testing.assert_array_equal(mask, layer.mask, err_msg=f"layer {n} mask")
        np.testing.assert_array_equal(weights, layer.weights, err_msg=f"layer {n} kernels")
        assert board.read_conv_lfsr(n) == layer.lfsr.peek_state(), f"layer {n} LFSR"
    else:
        assert isinstance(layer, ClassifierLayer)
        got, clf = board.read_classifier(), layer.net
        np.testing.assert_array_equal(got["weights"], clf.weights, err_msg="classifier weights")
        np.testing.assert_array_equal(got["mask"], clf.mask, err_msg="classifier mask")
        assert got["lfsr"] == clf.lfsr.peek_state() and got["live"] == clf.live


def layerwise(cfg: DeepConfig, conv_lanes: tuple[int, ...], per_layer: int, n_infer: int,
              seed: int, learning: tuple[int, ...] | None = None) -> int:
    """Load a random network (each ``learning`` layer's state read back), then each of the
    ``learning`` layers (default: every conv layer and the classifier, bottom up)
    ``per_layer`` samples and ``n_infer`` test samples through the board, each sample's
    spikes, prediction and label and the learning layer's state compared with the model.
    Returns the samples run."""
    chain = DeepChain(config=cfg, conv_lanes=conv_lanes)
    board = ChainBoard(ChainSimTransport(chain), chain)
    board.check()
    net = random_network(cfg, seed)
    board.load_network(net)
    if learning is None:
        learning = tuple(n for n, spec in enumerate(cfg.layers) if spec.type != "pool")
    for n in learning:
        check_layer(board, net, n)
    split = load_digits_split()
    times = net.encode(split.x_train[:len(learning) * per_layer + n_infer])
    schedule = [n for n in learning for _ in range(per_layer)] + [None] * n_infer
    for s, n in enumerate(schedule):
        if n is None:
            board.set_learn_layer(None)
            res = board.run_sample(times[s])
        else:
            res = board.learn_sample(net, n, times[s])
        exp = model_sample(net, chain, times[s], len(cfg.layers) if n is None else n)
        want = [(t, i) for _, t, i in exp.events[-1][:-1]]
        assert res.spikes == want, f"sample {s} (layer {n} learning): classifier spikes"
        assert res.prediction == exp.prediction, f"sample {s}: prediction"
        assert res.label == int(net.classifier.labels[exp.prediction])
        assert res.error == 0
        if n is not None:
            check_layer(board, net, n)
    return len(schedule)


def test_chain_map_addresses() -> None:
    chain = DeepChain(config=small_config(), conv_lanes=(2, 2))
    cmap = ChainMap(chain)
    knobs = cmap.space(0, "knobs")
    assert knobs.words == CONV_KNOB_WORDS and knobs.address() == 1 << 28
    weight = cmap.space(2, "weight")
    assert weight.address(1, 5) == (3 << 28) | (3 << 24) | (1 << 20) | 5
    assert weight.size == 2 * 4 * 4  # map rows x channels x entries
    assert cmap.check(weight.address(1, 0), weight.size, write=True) is weight
    with pytest.raises(ValueError, match="pass the end"):
        cmap.check(weight.address(1, 1), weight.size, write=True)
    with pytest.raises(ValueError, match="lane 2"):
        cmap.check(weight.address(2, 0), 1, write=False)
    with pytest.raises(ValueError, match="cannot be read"):
        cmap.check(cmap.space(0, "lfsr_load").address(), 1, write=False)
    with pytest.raises(ValueError, match="cannot be written"):
        cmap.check(cmap.space(1, "counters").address(), 1, write=True)
    with pytest.raises(ValueError, match="no space"):
        cmap.check(7 << 24, 1, write=False)
    with pytest.raises(KeyError, match="has no space 'knobs'"):
        cmap.space(1, "knobs")
    assert cmap.space(3, "weight").lanes == 2 and cmap.space(3, "label").lanes == 1
    with pytest.raises(TypeError, match="DeepChain"):
        ChainMap(small_config())  # type: ignore[arg-type]


def test_fingerprint_differs_with_lanes() -> None:
    cfg = small_config()
    a = cp.fingerprint(DeepChain(config=cfg, conv_lanes=(2, 2)))
    assert a == cp.fingerprint(DeepChain(config=cfg, conv_lanes=(2, 2)))
    assert a != cp.fingerprint(DeepChain(config=cfg, conv_lanes=(4, 2)))


def test_link_refuses_bad_accesses() -> None:
    """The board answers BAD_ARG for accesses the map refuses (sent raw, past the host's
    own check) and writes nothing; a host with other lanes is refused before any access."""
    cfg = small_config()
    chain = DeepChain(config=cfg, conv_lanes=(2, 2))
    board = ChainBoard(ChainSimTransport(chain), chain)
    knobs = board.space(0, "knobs")
    before = board.read_words(knobs.address(), knobs.size)
    for payload in (cp.ADDR.pack(knobs.address(knobs.size - 1)) + bytes(8),  # past the end
                    cp.ADDR.pack(7 << 24) + bytes(4),  # no space
                    cp.ADDR.pack(board.space(1, "counters").address()) + bytes(4)):  # read-only
        with pytest.raises(CommandError) as err:
            board.link.request(cp.ChainCmd.WRITE_WORDS, payload)
        assert err.value.status == Status.BAD_ARG
    with pytest.raises(CommandError) as err:
        board.link.request(cp.ChainCmd.READ_WORDS,
                           cp.READ_HEADER.pack(board.space(0, "lfsr_load").address(), 1))
    assert err.value.status == Status.BAD_ARG
    assert board.read_words(knobs.address(), knobs.size) == before
    board.write_registers(0, "knobs", {"threshold": 1234})
    assert board.read_registers(0, "knobs")["threshold"] == 1234
    other = ChainBoard(board.link.transport, DeepChain(config=cfg, conv_lanes=(4, 2)))
    with pytest.raises(ConfigMismatchError, match="fingerprint"):
        other.check()


def test_learning_and_inference_on_the_board() -> None:
    """Conv layer 0 learns a sample, then a test sample (the quick run)."""
    assert layerwise(small_config(), (2, 2), per_layer=1, n_infer=1, seed=3,
                     learning=(0,)) == 2


@pytest.mark.slow
def test_layerwise_learning_and_inference_on_the_board() -> None:
    """One sample per learning layer (both conv layers, the classifier), one test sample."""
    assert layerwise(small_config(), (2, 2), per_layer=1, n_infer=1, seed=3) == 4


@pytest.mark.slow
def test_layerwise_second_configuration() -> None:
    """Other maps, kernels, lanes and classifier; three samples per layer, four tests."""
    cfg = small_config(maps=(6, 8), kernels=(2, 3), neurons_per_class=2, lanes=4)
    assert layerwise(cfg, (3, 4), per_layer=3, n_infer=4, seed=5) == 13


def cell_port(rtlil: str, cell: str, port: str) -> str:
    """The wire on ``port`` of cell ``cell`` in the RTLIL of ``top``."""
    block = rtlil.split(f"  cell \\{cell} ", 1)[1].split("\n  end", 1)[0]
    for line in block.splitlines():
        parts = line.split()
        if parts[:2] == ["connect", f"\\{port}"]:
            return parts[2]
    raise AssertionError(f"{cell} has no port {port}")


def test_chain_build_files(tmp_path: Path) -> None:
    """``build_bitstream(deep=...)`` writes the chain's build files: the link on the core clock
    (no clock-domain bridge), ``deep.toml`` and the ``deep`` entry of ``build_info.json``;
    the 85F's default chain is the ulx3s preset; a part without one says so."""
    cfg = small_config()
    deep = DeepBuild(cfg, (2, 2))
    res = build_bitstream("ulx3s", deep=deep, build_dir=tmp_path, do_build=False,
                          say=lambda _: None)
    info = json.loads((tmp_path / "build_info.json").read_text())
    assert info["deep"]["conv_lanes"] == [2, 2] and res.bitstream is None
    script = (tmp_path / "build_top.sh").read_text()
    assert "--tmg-ripup" not in script and "--placer static" in script
    assert DeepConfig.load(tmp_path / "deep.toml") == cfg
    assert not (tmp_path / "layer.toml").exists()
    rtlil = (tmp_path / "top.il").read_text()
    assert "module \\top.link.mapped\n" in rtlil and "module \\top.link.executor\n" in rtlil
    assert "bridge" not in rtlil  # one clock domain: no CoreBridge
    # ... and it is the PLL's clock (the core clock), not the oscillator
    assert cell_port(rtlil, "top.link", "clk") == cell_port(rtlil, "top.pll", "clk_out")
    config, lanes = default_deep("ulx3s", "85F")
    assert config == DeepConfig.preset("ulx3s") and lanes == (4, 4)
    with pytest.raises(ValueError, match="no default deep chain"):
        default_deep("icebreaker")


def fake_chain_build(out: Path, deep: dict[str, object] | None, fmax: float = 40.0) -> None:
    """The files ``make_deep_report`` reads, as a finished ECP5 build writes them."""
    out.mkdir(parents=True, exist_ok=True)
    info = {"board": "ulx3s", "device": "85F", "part": "LFE5U-85F", "family": "ecp5",
            "built": True, "target_mhz": 100.0, "deep": deep}
    (out / "build_info.json").write_text(json.dumps(info))
    step = {"delay": 1.0, "type": "logic", "net": "link.mapped.chain.layer0.sweep.x",
            "from": {"cell": "a_TRELLIS_FF_Q"}, "to": {"cell": "b_TRELLIS_FF_Q", "port": "DI"}}
    report = {"fmax": {"clk": {"achieved": fmax, "constraint": 100.0}},
              "utilization": {"TRELLIS_COMB": {"used": 1000, "available": 83640},
                              "DP16KD": {"used": 20, "available": 208}},
              "critical_paths": [{"from": "posedge clk", "to": "posedge clk",
                                  "path": [step, step]}]}
    (out / "nextpnr_report.json").write_text(json.dumps(report))


def test_deep_report(tmp_path: Path) -> None:
    """Utilization, Fmax, the critical path and each layer's latency (cycles of the cycle
    models over Fmax); learning latency for the conv layers and the "wta" classifier."""
    cfg = small_config()
    fake_chain_build(tmp_path / "deep", {"config": cfg.to_dict(), "conv_lanes": [2, 2]})
    r = make_deep_report("ulx3s", build_dir=tmp_path / "deep", n_learn=2, n_infer=3)
    assert r["fmax_mhz"] == 40.0 and not r["timing_met"]
    assert r["utilization"]["block_ram"]["used"] == 20
    assert r["critical_path"]["logic_levels"] == 2
    rows = r["layers"]
    assert [row["type"] for row in rows] == ["conv", "pool", "conv", "classifier"]
    assert all(row["cycles"] > 0 and row["latency_us"] == row["cycles"] / 40.0 for row in rows)
    assert [row["learning_cycles"] is not None for row in rows] == [True, False, True, True]
    assert r["cycles_inference"] == pytest.approx(sum(row["cycles"] for row in rows))
    assert "layer 2 conv" in format_deep_report(r)
    assert (tmp_path / "deep" / "deep_report.json").exists()
    fake_chain_build(tmp_path / "layer", None)
    with pytest.raises(ReportError, match="not the deep chain"):
        make_deep_report("ulx3s", build_dir=tmp_path / "layer")


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"baud": 250_000.0}, TypeError, "baud must be an int"),
    ({"clk_freq": "1e6"}, TypeError, "clk_freq must be a number"),
    ({"timeout_s": 1e-6}, ValueError, "shorter than two byte times"),
    ({"run_timeout_s": 1e-9}, ValueError, "less than one clock cycle"),
    ({"baud": 300_000}, ValueError, "too slow for 300000 baud"),
])
def test_link_timing_checked(kwargs: dict[str, object], error: type, match: str) -> None:
    """The chain's link and the layer's share the timing checks (``uart_link_timing``)."""
    args: dict[str, object] = {"clk_freq": 1e6, "baud": 250_000, "timeout_s": 1e-3,
                               "run_timeout_s": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        uart_link_timing(**args)  # type: ignore[arg-type]
    chain = DeepChain(config=small_config(), conv_lanes=(2, 2))
    with pytest.raises(error, match=match):
        ChainLinkTop(chain=chain, **args)  # type: ignore[arg-type]
