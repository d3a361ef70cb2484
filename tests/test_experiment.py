"""The pruning experiment end to end on a small digits run (one seed, two RTL samples)."""

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
    assert summary["learn_speedup"] >= 1.0
    assert summary["infer_speedup"] >= 1.0
    assert "RTL check" in format_table(summary)
    paths = plot_all(result, tmp_path / "out")
    assert len(paths) == 4 and all(p.stat().st_size > 0 for p in paths)
