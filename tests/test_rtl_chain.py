"""cocotb runs of the deep network's whole chain of cores (``hw.deep_chain.DeepChain``) against
the golden model (``sim.tb_chain`` via ``sim.runner``).

Default suite (Icarus): the chain's second configuration (``sim/configs/chain_b.toml``: conv,
pool, conv, a "wta" classifier on re-binned steps; 2 lanes) learning layer-wise then
inferring, with random gaps on the input and stalls at the top; a kernel written wrong into
one layer's core must be reported in that layer. Slow (Verilator): the digits deep preset as
``make sim NETWORK=deep`` runs it, and the second configuration long enough that every
learning layer prunes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synaprune.model.deep_config import DeepConfig
from synaprune.sim.chain_cases import ChainCase, layerwise_case
from synaprune.sim.runner import run_case

CHAIN_B = Path(__file__).parent.parent / "sim" / "configs" / "chain_b.toml"
needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None,
                                  reason="Icarus Verilog (iverilog) is not installed")


def chain_b_case(n_learn: int, n_infer: int, **changes: float) -> ChainCase:
    return layerwise_case(DeepConfig.load(CHAIN_B), conv_lanes=(2, 2), n_learn=n_learn,
                          n_infer=n_infer, name="chain-b", **changes)


def _check(summary: dict, case: ChainCase) -> None:
    assert summary["mismatches"] == 0, summary["first_mismatch"]
    assert summary["samples"] == len(case.times) and len(summary["cycles"]) == len(case.times)
    assert summary["membranes_compared"] > 0 and summary["events_compared"] > 0
    # every layer sent spikes
    assert min(summary["layer_spikes"].values()) > 0, summary["layer_spikes"]


@needs_icarus
def test_chain_matches_golden_model_under_back_pressure(rtl_build_root: Path) -> None:
    case = chain_b_case(3, 2, in_gap=0.3, out_stall=0.3)
    assert list(case.learn_layer) == [0] * 3 + [2] * 3 + [3] * 3 + [4] * 2  # 4: none learns
    summary = run_case(case, build_root=rtl_build_root, rerun_with_waves=False)
    _check(summary, case)
    assert summary["learn_samples"] == 9 and summary["infer_samples"] == 2
    assert summary["updates_compared"] > 0 and summary["winners_compared"] > 0


@needs_icarus
def test_a_wrong_kernel_is_reported_in_its_layer(rtl_build_root: Path) -> None:
    case = chain_b_case(0, 3)
    case.kernel_fault = (2, 0, 255)  # layer 2's kernel 0 at w_max in the core only
    summary = run_case(case, build_root=rtl_build_root, rerun_with_waves=False)
    assert summary["mismatches"] == 1
    bad = summary["first_mismatch"]
    assert bad["layer"] == 2 and bad["what"] == "conv output event", bad


def test_the_bench_runs_on_digits_images_only() -> None:
    cfg = DeepConfig.load(CHAIN_B).replace(image_shape=(9, 9))
    with pytest.raises(ValueError, match=r"digits data set \(8x8 images\); the configuration "
                                         r"expects image_shape \(9, 9\)"):
        layerwise_case(cfg, conv_lanes=(2, 2), n_learn=1, n_infer=1)


def test_a_case_survives_its_file(tmp_path: Path) -> None:
    case = chain_b_case(2, 1)
    case.kernel_fault = (0, 1, 7)
    case.save(tmp_path / "case.npz")
    back = ChainCase.load(tmp_path / "case.npz")
    assert back.cfg == case.cfg and back.conv_lanes == case.conv_lanes
    assert back.kernel_fault == case.kernel_fault and back.notes == case.notes
    assert (back.times == case.times).all() and (back.learn_layer == case.learn_layer).all()
    for n, (w, m) in case.kernels.items():
        assert (back.kernels[n][0] == w).all() and (back.kernels[n][1] == m).all()
    for name, value in case.classifier.items():
        assert (back.classifier[name] == value).all()
    assert len(back.head(2).times) == 2


def _verilator() -> None:
    from synaprune.sim.runner import SimulatorMissingError, check_simulator

    try:
        check_simulator("verilator")
    except SimulatorMissingError as err:
        pytest.skip(str(err))


@pytest.mark.slow
def test_digits_deep_preset_chain_under_verilator(rtl_build_root: Path) -> None:
    _verilator()
    case = layerwise_case(DeepConfig.preset("digits"), conv_lanes=(4, 4), n_learn=40,
                          n_infer=40)
    assert case.notes and "margin" in case.notes[0]  # its classifier infers only
    summary = run_case(case, simulator="verilator", build_root=rtl_build_root,
                       rerun_with_waves=False)
    _check(summary, case)
    assert summary["samples"] >= 100


@pytest.mark.slow
def test_second_configuration_prunes_under_verilator(rtl_build_root: Path) -> None:
    _verilator()
    case = chain_b_case(40, 40, in_gap=0.3, out_stall=0.3)
    summary = run_case(case, simulator="verilator", build_root=rtl_build_root,
                       rerun_with_waves=False)
    _check(summary, case)
    assert summary["pruned"] > 0
