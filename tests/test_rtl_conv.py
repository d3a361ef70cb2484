"""cocotb runs of the RTL conv cores against the golden model (``sim.tb_conv`` via
``sim.runner``), the deep network's conv layers one after the other.

The fast configuration (Icarus, the default suite): ``deep_helpers.tiny_config`` with a 4x4
first kernel, 6 maps then 8 maps over 2 lanes, entries pruned while learning, first-spike
pooling between the layers (the second layer learns on the pooled output of the first as the
model computes it) and a second layer whose output is one position (its radius register has no
bits). Each layer learns then infers; a weight written wrong into the core must be reported at
its place. The digits deep preset under Verilator (16 and 32 maps, 3x3 and 2x2 kernels, 4
lanes) is marked slow.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from deep_helpers import tiny_config

from synaprune.cli import main
from synaprune.model.deep_config import ConvSpec, DeepConfig
from synaprune.sim.conv_cases import ConvCase, deep_cases
from synaprune.sim.runner import run_case

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None,
                                  reason="Icarus Verilog (iverilog) is not installed")


def second_config() -> DeepConfig:
    """``tiny_config`` with a 4x4 first kernel: 2x8x8 -> 6 maps 5x5 -> pool 2x2 -> 8 maps 1x1;
    a prune threshold of 200 (the initial weights are about 204) prunes from the first
    learning sample on, so later samples run with pruned entries."""
    base = tiny_config()
    first = dataclasses.replace(base.layers[0], kernel=4)
    return base.replace(layers=(first, *base.layers[1:])).replace_layers(ConvSpec,
                                                                         prune_threshold=200)


def _check(summary: dict) -> None:
    assert summary["mismatches"] == 0, summary["first_mismatch"]
    assert summary["samples"] > 0 and summary["membranes_compared"] > 0
    assert len(summary["cycles"]) == summary["samples"]


@needs_icarus
def test_conv_layers_match_golden_model(rtl_build_root: Path) -> None:
    cases = deep_cases(second_config(), lanes=2, n_learn=4, n_infer=2, name="tiny")
    assert [c.layer for c in cases] == [0, 2]  # conv, pool, conv: the second on pooled input
    assert cases[1].times.shape[1:] == (6, 2, 2)
    for case in cases:
        summary = run_case(case, build_root=rtl_build_root, rerun_with_waves=False)
        _check(summary)
        assert summary["learn_samples"] == 4 and summary["infer_samples"] == 2
        assert summary["updates_compared"] > 0 and summary["winners_compared"] > 0
        assert summary["pruned"] > 0
        # after loading, after each learning sample and at the end
        assert summary["weights_compared"] == 6 * case.weights.size


@needs_icarus
def test_a_wrong_kernel_weight_is_caught_with_a_waveform(rtl_build_root: Path) -> None:
    case = deep_cases(second_config(), lanes=2, n_learn=0, n_infer=3, name="fault")[0]
    g = case.geometry()
    # entry (c, 0, 0) of map m: input (c, y, x) reaches output position (y, x) through it, so
    # the first wrong membrane is at the first step and position where such an input spikes
    window = case.times[0][:, :g.out_h, :g.out_w]
    step = int(window.min())
    c, y, x = (int(v) for v in np.argwhere(window == step)[0])  # row-major: sweep order
    m = 1  # lane 1's first map
    case.weight_fault = (m, c, 0, 0, (int(case.weights[m, c, 0, 0]) + 97) % 256)
    summary = run_case(case, build_root=rtl_build_root)
    assert summary["mismatches"] == 1
    bad = summary["first_mismatch"]
    assert (bad["layer"], bad["sample"], bad["what"], bad["map"]) == (0, 0, "membrane", m), bad
    assert (bad["step"], bad["position"]) == (step, repr((y, x))), bad
    waves = list(Path(summary["waveform_dir"]).glob("*.fst"))
    assert waves and waves[0].stat().st_size > 0


def test_a_core_that_cannot_be_built_is_named() -> None:
    with pytest.raises(ValueError, match=r"layers\[0\]: no conv core with 5 lanes: .*divide"):
        deep_cases(DeepConfig.preset("digits"), lanes=5, n_learn=1, n_infer=1)
    cfg = tiny_config()
    with pytest.raises(ValueError, match=r"config.layers\[1\] is not a conv layer"):
        ConvCase(name="x", cfg=cfg, layer=1, lanes=2, weights=np.zeros(1), mask=np.zeros(1),
                 times=np.zeros((0, 2, 8, 8)), learn=np.zeros(0, bool))


@needs_icarus  # the command checks its simulator first
def test_sim_command_rejects_bad_input(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "--network", "cnn"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'cnn'" in capsys.readouterr().err
    args = ["sim", "--network", "deep", "--simulator", "icarus", "--out", str(tmp_path)]
    assert main([*args, "--lanes", "3"]) == 2
    assert "lanes = 3 must divide maps = 16" in capsys.readouterr().err
    assert main([*args, "--edge-cases"]) == 2
    assert "--edge-cases is for the layer core" in capsys.readouterr().err


@pytest.mark.slow
def test_digits_deep_preset_under_verilator(rtl_build_root: Path) -> None:
    from synaprune.sim.runner import SimulatorMissingError, check_simulator

    try:
        check_simulator("verilator")
    except SimulatorMissingError as err:
        pytest.skip(str(err))
    cfg = DeepConfig.preset("digits")
    assert all(isinstance(cfg.layers[n], ConvSpec) for n in (0, 1))
    for case in deep_cases(cfg, lanes=4, n_learn=10, n_infer=5, name="digits"):
        _check(run_case(case, simulator="verilator", build_root=rtl_build_root,
                        rerun_with_waves=False))
