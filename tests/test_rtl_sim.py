"""cocotb runs of the RTL core against the golden model (sim.runner), two configurations.

Configuration A: 8 lanes, 32 neurons, no leak, pruning on, one winner. Configuration B: 3 lanes
(not a power of two), 21 neurons (odd: the spike list's even bank holds one entry more), leak
on, two winners per sample, pruning off, 8-bit column words. Each learns from a pre-trained
state (so synapses are already pruned) and then infers; A also runs every corner case (empty
input, all inputs at time 0, saturation, ties, neurons with every synapse pruned,
back-pressure). W: one lane of 128 rows over 64 inputs (128-bit row words; CLEAR counts to K).
A-fd: A under the "fixed-density" rewiring, whose winners regrow on the chip what they prune.
A-pq: A under the "pq" rewiring, the bench writing the host's rewire commands every 3 samples.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synaprune.boards.platforms import default_config
from synaprune.model.config import Config
from synaprune.sim.cases import digits_case, edge_cases
from synaprune.sim.regress import regress_configs
from synaprune.sim.runner import run_case

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None,
                                reason="Icarus Verilog (iverilog) is not installed")

CONFIGS = regress_configs()  # the regression's configurations, described there
CONFIG_A, CONFIG_B = CONFIGS["A"], CONFIGS["B"]


def _check(summary: dict) -> None:
    assert summary["mismatches"] == 0, summary["first_mismatch"]
    assert summary["samples"] > 0 and summary["membranes_compared"] > 0


# the iCEBreaker's layer: one lane, 24-bit counters
CONFIG_UP5K = default_config("icebreaker")


@pytest.mark.parametrize(("name", "cfg"), [("A", CONFIG_A), ("B", CONFIG_B),
                                           ("UP5K", CONFIG_UP5K), ("W", CONFIGS["W"]),
                                           ("Wr", CONFIGS["Wr"]), ("Wr-sp", CONFIGS["Wr-sp"])])
def test_rtl_matches_golden_model(name: str, cfg: Config, rtl_build_root: Path) -> None:
    case = digits_case(cfg, pretrain=150, n_learn=12, n_infer=6, name=f"digits-{name}")
    summary = run_case(case, build_root=rtl_build_root, rerun_with_waves=False)
    _check(summary)
    assert summary["updates_compared"] > 0
    if cfg.prune_enabled:
        assert case.mask.mean() < 1.0, "pre-training should have pruned some synapses"


# (Wr-fd: one lane of 128 neurons, whose winners prune less often than A's: more samples)
@pytest.mark.parametrize(("name", "pretrain", "n_learn"), [("A-fd", 50, 8), ("Wr-fd", 100, 16)])
def test_rtl_regrows_as_golden_model(name: str, pretrain: int, n_learn: int,
                                     rtl_build_root: Path) -> None:
    """"fixed-density": every regrown synapse (weights and both masks read back after every
    sample), the LFSR and the learning cycles (REGROW included) equal the golden model's; also
    with the row masks in words (Wr-fd)."""
    cfg = CONFIGS[name]
    case = digits_case(cfg, pretrain=pretrain, n_learn=n_learn, n_infer=0, name=f"digits-{name}")
    case.full_check_every = 2
    net, regrown = case.network(), 0
    for times, learn in zip(case.times, case.learn, strict=True):
        regrown += net.run_sample(times, learn=bool(learn)).regrown
    assert regrown >= 10, f"the case should regrow synapses ({regrown})"
    summary = run_case(case, build_root=rtl_build_root, rerun_with_waves=False)
    _check(summary)
    assert summary["weights_compared"] >= len(case.times) // 2 * case.weights.size


def test_rtl_rewires_as_golden_model(rtl_build_root: Path) -> None:
    """"pq": at every block's end the bench, as the host, reads the weights back and writes the
    rewire commands; the pruned and regrown synapses (state read back after every sample), the
    LFSR and the learning cycles (the commands' included) equal the golden model's."""
    cfg = CONFIGS["A-pq"]
    case = digits_case(cfg, pretrain=30, n_learn=9, n_infer=2, name="digits-A-pq")
    case.full_check_every = 1
    summary = run_case(case, build_root=rtl_build_root, rerun_with_waves=False)
    _check(summary)
    assert summary["rewire_commands"] >= 10, summary["rewire_commands"]
    assert summary["regrown"] >= 10, summary["regrown"]


def test_rtl_corner_cases(rtl_build_root: Path) -> None:
    for case in edge_cases(CONFIG_A):
        _check(run_case(case, build_root=rtl_build_root, rerun_with_waves=False))


def test_dense_rows_do_p_events_per_cycle(rtl_build_root: Path) -> None:
    """Fully connected, every lane has a live synapse on every row: the walk issues P synaptic
    events in every integration cycle apart from the fixed fill/drain overhead."""
    from synaprune.model import cycles

    case = digits_case(CONFIG_A, pretrain=0, n_learn=0, n_infer=4, name="dense")
    summary = run_case(case, build_root=rtl_build_root, rerun_with_waves=False)
    _check(summary)
    walk = sum(c["integrate"] for c in summary["cycles"])
    steps_overhead = sum(1 for _ in summary["cycles"])  # at least one setup cycle per sample
    assert summary["syn_events"] > 0
    busy = walk - steps_overhead - cycles.integ_fill_drain(CONFIG_A) * len(summary["cycles"])
    assert summary["syn_events"] >= CONFIG_A.lanes * busy * 0.99


@pytest.mark.slow
def test_rtl_matches_under_verilator(rtl_build_root: Path) -> None:
    pytest.importorskip("cocotb_tools")
    from synaprune.sim.runner import SimulatorMissingError, check_simulator

    try:
        check_simulator("verilator")
    except SimulatorMissingError as err:
        pytest.skip(str(err))
    case = digits_case(CONFIG_A, pretrain=150, n_learn=8, n_infer=4, name="verilator")
    _check(run_case(case, simulator="verilator", build_root=rtl_build_root, rerun_with_waves=False))
