"""The pruning experiment end to end on a small digits run (one seed, two RTL samples), its
units (fractions, docs/results_keys.md) and the report of an RTL check that did not run."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from synaprune.experiment import METRICS, format_table, run_experiment
from synaprune.model.config import Config
from synaprune.model.datasets import Split, load_digits_split
from synaprune.plots import plot_all


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
def test_experiment_small_digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the RTL build goes under build/sim here
    s = load_digits_split()
    split = Split(s.x_train[:300], s.y_train[:300], s.x_test[:60], s.y_test[:60], "digits")
    # a high prune threshold makes pruning happen within a few hundred samples
    cfg = Config(n_neurons=16, lanes=8, prune_threshold=200)
    result = run_experiment(cfg, split, seeds=[1], rtl_samples=2, sweep_thresholds=(0, 200),
                            progress=False, simulator="icarus")
    assert result.rtl_ok, result.rtl
    assert result.rtl["samples"] == 2 and result.rtl["mismatches"] == 0
    summary = result.summary()
    for key in METRICS:
        assert key in summary and f"{key}_per_seed" in summary
    for key in ("accuracy_dense", "accuracy_pruned", "connectivity_removed", "learn_speedup",
                "infer_speedup", "learn_energy_saving", "infer_energy_saving"):
        assert math.isfinite(summary[key]), key
    assert summary["connectivity_removed"] > 0
    for key in ("accuracy_dense", "accuracy_pruned", "connectivity_removed"):
        assert 0.0 <= summary[key] <= 1.0, key  # fractions, not percent
    assert all(0.0 <= s["accuracy"] <= 1.0 for s in summary["prune_threshold_sweep"])
    assert summary["learn_speedup"] >= 1.0
    assert summary["infer_speedup"] >= 1.0
    # the floor: live synapses over lanes, below the pruned cycles (which add the fixed cost)
    assert 0 < summary["infer_floor_pruned"] < summary["infer_cycles_pruned"]
    assert summary["rtl"]["ran"] is True
    assert "RTL check: 2 test samples, mismatches 0" in format_table(summary)
    paths = plot_all(result, tmp_path / "out")
    assert len(paths) == 4 and all(p.stat().st_size > 0 for p in paths)


def small_split(n_train: int, n_test: int) -> Split:
    s = load_digits_split()
    return Split(s.x_train[:n_train], s.y_train[:n_train], s.x_test[:n_test], s.y_test[:n_test],
                 "digits")


@pytest.mark.parametrize(("n_train", "seeds"), [(80, [1]), (120, [1, 2])])
def test_rtl_not_run_says_so(n_train: int, seeds: list[int]) -> None:
    """rtl_samples 0: no RTL check, and the table says "not run" rather than a PASS."""
    cfg = Config(n_neurons=16, lanes=8, prune_threshold=200)
    result = run_experiment(cfg, small_split(n_train, 30), seeds=seeds, rtl_samples=0,
                            progress=False)
    summary = result.summary()
    assert summary["rtl"]["ran"] is False and summary["rtl"]["ok"] is None
    table = format_table(summary)
    assert "RTL check: not run" in table
    assert "PASS" not in table and "None" not in table
    assert result.rtl_ok  # not run is not a failure: the command exits 0
    # the table shows the fractions of the results as percent
    line = next(ln for ln in table.splitlines() if ln.startswith("accuracy pruned"))
    assert f"{100 * summary['accuracy_pruned']:.2f}%" in line


@pytest.mark.parametrize(("policy", "densities"), [("fixed-density", (0.1,)),
                                                    ("pq", (0.1, 0.3))])
def test_policy_experiment_and_pareto(policy: str, densities: tuple[float, ...],
                                      tmp_path: Path) -> None:
    """A sparse policy: its density held (removed = 1 - density), a density sweep with
    speed-ups, the sparse threshold scaled with the density, and the Pareto picture."""
    from synaprune.experiment import sparse_config, sparse_threshold
    from synaprune.model.rewiring import live_per_neuron
    from synaprune.plots import plot_pareto

    cfg = Config(n_neurons=16, lanes=8, threshold=900)
    result = run_experiment(cfg, small_split(120, 30), seeds=[1], rtl_samples=0, progress=False,
                            policy=policy, changes={"rewire_block": 10},
                            sweep_densities=densities)
    summary = result.summary()
    live = live_per_neuron(cfg.n_inputs, cfg.rewire_density) / cfg.n_inputs
    assert summary["connectivity_removed"] == pytest.approx(1 - live)
    assert summary["rewire_policy"] == policy
    assert summary["pruned_config"]["threshold"] == sparse_threshold(cfg, 0.1) == 180
    assert [p["rewire_density"] for p in summary["density_sweep"]] == list(densities)
    assert all(p["learn_speedup"] > 1.0 for p in summary["density_sweep"])
    assert summary["learn_speedup"] > 1.0 and summary["infer_speedup"] > 1.0
    assert "include the regrowth and the rewire commands" in format_table(summary)
    path = plot_pareto([result], tmp_path / "pareto.png")
    assert path.stat().st_size > 0
    assert sparse_config(cfg, policy, {"threshold": 500}).threshold == 500
