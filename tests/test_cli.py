"""The CLI: every subcommand has a working --help; train and eval end to end; one-line errors."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synaprune.cli import build_parser, main
from synaprune.model.config import Config
from synaprune.model.datasets import Split

WriteIdx = Callable[..., tuple[Path, Path]]  # the write_idx fixture of conftest.py


def subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


def test_core_commands_registered() -> None:
    assert {"train", "eval", "bench"} <= set(subcommands())


@pytest.mark.parametrize("name", subcommands())
def test_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    assert f"usage: synaprune {name}" in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_console_script_version() -> None:
    # The entry point pip installs next to the interpreter (pyproject [project.scripts]).
    script = Path(sys.executable).with_name("synaprune")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.startswith("synaprune ")


def test_train_then_eval(tmp_path: Path, tiny_config_file: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits", "--config", str(tiny_config_file), "--epochs", "1",
               "--train", "400", "--test", "200", "--out", str(out),
               "--json", str(tmp_path / "train.json"), "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "live connections" in printed
    figures = json.loads((tmp_path / "train.json").read_text())
    for key in ("accuracy", "baseline_accuracy", "live_fraction", "connectivity_removed",
                "samples", "syn_events", "syn_updates", "seconds"):
        assert key in figures, key
    assert figures["samples"] == 400 and figures["n_test"] == 200
    assert 0.0 <= figures["accuracy"] <= 1.0 and 0.5 < figures["baseline_accuracy"] <= 1.0
    assert figures["connectivity_removed"] == pytest.approx(1 - figures["live_fraction"])
    assert (out / "checkpoint.npz").is_file()
    assert [p.name for p in out.iterdir()] == ["checkpoint.npz"]  # no temporary left

    rc = main(["eval", "--checkpoint", str(out / "checkpoint.npz"), "--test", "200",
               "--json", str(tmp_path / "eval.json"), "--no-progress"])
    assert rc == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    # Same checkpoint, same 200 test samples: the same accuracy as at the end of training.
    assert result["accuracy"] == pytest.approx(figures["accuracy"])
    assert result["dataset"] == "digits" and result["n_test"] == 200


def test_train_overrides(tmp_path: Path, tiny_config_file: Path) -> None:
    rc = main(["train", "--config", str(tiny_config_file), "--no-prune", "--seed", "5",
               "--epochs", "2", "--train", "50", "--test", "20", "--out", str(tmp_path),
               "--json", str(tmp_path / "t.json"), "--no-progress", "--set", "a_plus=1234",
               "--set", "seed=9"])
    assert rc == 0
    figures = json.loads((tmp_path / "t.json").read_text())
    assert figures["config"]["prune_enabled"] is False and figures["pruned"] == 0
    assert figures["live_fraction"] == 1.0
    assert figures["config"]["a_plus"] == 1234
    assert figures["config"]["seed"] == 5 and figures["samples"] == 100  # --seed after --set


def test_train_then_eval_mnist_files(tmp_path: Path, write_idx: WriteIdx,
                                     digits_split: Split) -> None:
    # MNIST-format files of 28x28 images (digits scaled 3x and padded), under the dev name.
    x = np.zeros((60, 28, 28), dtype=np.uint8)
    x[:, 2:26, 2:26] = np.kron(digits_split.x_train[:60], np.ones((3, 3), dtype=np.uint8))
    data = tmp_path / "mnist"
    data.mkdir()
    write_idx(data, x, digits_split.y_train[:60], names="dev8000", gz=True)
    cfg = tmp_path / "c.toml"
    Config(n_inputs=784, image_shape=(28, 28), n_neurons=8, threshold=20000).save(cfg)
    rc = main(["train", "--data", str(data), "--train", "40", "--test", "20", "--config",
               str(cfg), "--out", str(tmp_path / "o"), "--json", str(tmp_path / "t.json"),
               "--no-progress"])
    assert rc == 0
    figures = json.loads((tmp_path / "t.json").read_text())
    assert figures["dataset"] == "mnist" and figures["samples"] == 40
    assert figures["n_test"] == 20 and figures["n_inputs"] == 784
    rc = main(["eval", "--checkpoint", str(tmp_path / "o" / "checkpoint.npz"), "--data",
               str(data), "--test", "20", "--json", str(tmp_path / "e.json"), "--no-progress"])
    assert rc == 0
    assert json.loads((tmp_path / "e.json").read_text())["accuracy"] == pytest.approx(
        figures["accuracy"])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("synaprune: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_bad_images_path(tmp_path: Path, tiny_config_file: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "--dataset", "mnist", "--config", str(tiny_config_file),
               "--images", str(tmp_path / "no-such-images"), "--labels",
               str(tmp_path / "no-such-labels"), "--out", str(tmp_path / "o"), "--no-progress"])
    assert rc == 2
    assert "no-such-images" in one_line_error(capsys)


def test_mnist_without_data(tmp_path: Path, tiny_config_file: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "--dataset", "mnist", "--config", str(tiny_config_file),
               "--out", str(tmp_path)])
    assert rc == 2
    assert "--data DIR" in one_line_error(capsys)


def test_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("n_neurons = 'many'\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path)]) == 2
    assert "bad.toml" in one_line_error(capsys)
    cfg.write_text("n_neurons = 12\n")  # not a multiple of lanes = 8
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path)]) == 2
    assert "n_neurons" in one_line_error(capsys)
    assert main(["train", "--config", str(tmp_path / "absent.toml"), "--out",
                 str(tmp_path)]) == 2
    assert "absent.toml" in one_line_error(capsys)


def test_config_image_size_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "mnist-size.toml"
    Config(n_inputs=784, image_shape=(28, 28), n_neurons=8).save(cfg)
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path)]) == 2
    assert "8x8" in one_line_error(capsys)


def test_eval_corrupt_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "checkpoint.npz"
    bad.write_bytes(b"garbage")
    assert main(["eval", "--checkpoint", str(bad)]) == 2
    assert "checkpoint.npz" in one_line_error(capsys)
    assert main(["eval", "--checkpoint", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in one_line_error(capsys)


def test_bad_option_value_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", "x", "--epochs", "0"])
    assert info.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_bench_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--samples", "30", "--brian-samples", "0", "--sim-samples", "0",
               "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    result = json.loads((tmp_path / "golden.json").read_text())
    assert result["golden_samples_per_s"] > 0 and result["brian2_samples_per_s"] is None
    assert result["n_inputs"] == 784 and result["n_neurons"] == 400 and result["lanes"] == 8
