"""``--network deep`` on the command line: train (figures, checkpoint, pictures, --resume), eval
(same accuracy, inference only, --sweep), crosscheck, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from deep_helpers import tiny_config

from synaprune.cli import main
from synaprune.deep_checkpoint import load_deep_checkpoint


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_deep.toml"
    cfg = tiny_config()
    cfg.replace_layers(type(cfg.layers[0]), epochs=1).save(path)
    return path


def test_train_eval_resume(tmp_path: Path, tiny_file: Path, capsys: pytest.CaptureFixture
                           ) -> None:
    out = tmp_path / "run"
    args = ["train", "--network", "deep", "--config", str(tiny_file), "--train", "120",
            "--test", "60", "--out", str(out), "--json", str(out / "train.json"),
            "--no-progress", "--plots"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "learned by the network itself" in text and "host-side readout" in text
    figures = json.loads((out / "train.json").read_text())
    assert figures["network"] == "deep" and figures["n_train"] == 120
    assert [r["layer"] for r in figures["layers"]] == [0, 2, 3]
    assert 0 < figures["removed"] < 1 and figures["learn_samples_per_s"] > 0
    for name in ("kernels_layer0.png", "kernels_layer2.png", "live_entries.png"):
        assert (out / name).stat().st_size > 1000
    net, meta = load_deep_checkpoint(out / "checkpoint.npz")
    assert meta["done"] == 3 and meta["dataset"] == "digits"

    assert main(["eval", "--network", "deep", "--checkpoint", str(out / "checkpoint.npz"),
                 "--test", "60", "--json", str(out / "eval.json"), "--no-progress",
                 "--sweep"]) == 0
    evaluated = json.loads((out / "eval.json").read_text())
    assert evaluated["accuracy"] == pytest.approx(figures["accuracy"])
    assert evaluated["sweep"][0]["removed"] == pytest.approx(figures["removed"])
    assert (out / "accuracy_vs_removed.png").exists()
    again, _ = load_deep_checkpoint(out / "checkpoint.npz")
    np.testing.assert_array_equal(again.classifier.net.weights, net.classifier.net.weights)

    # --resume of a finished run learns nothing more and gives the same figures
    assert main(["train", "--network", "deep", "--train", "120", "--test", "60", "--out",
                 str(out), "--json", str(out / "resumed.json"), "--no-progress",
                 "--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
    resumed = json.loads((out / "resumed.json").read_text())
    assert resumed["accuracy"] == pytest.approx(figures["accuracy"])


@pytest.mark.parametrize("argv,needle", [
    (["train", "--network", "deep", "--out", "X", "--config", "BAD"], "layers[0].kernel = 0"),
    (["eval", "--network", "deep", "--checkpoint", "FC"], "a one-layer checkpoint takes "
                                                          "--network fc"),
    (["train", "--out", "X", "--resume"], "--resume and --plots apply to --network deep only"),
    (["train", "--network", "deep", "--out", "X", "--set", "layers.9.a_plus=1"],
     "the network has"),
    (["train", "--set", "a_plus=-5", "--out", "X"], "config.a_plus = -5"),
])
def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, tiny_file: Path,
                             argv: list[str], needle: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(tiny_file.read_text().replace("kernel = 3", "kernel = 0", 1))
    fc_dir = tmp_path / "fc"
    if "FC" in argv:
        assert main(["train", "--train", "50", "--test", "20", "--out", str(fc_dir),
                     "--no-progress", "--epochs", "1"]) == 0
    argv = [str(bad) if a == "BAD" else str(fc_dir / "checkpoint.npz") if a == "FC" else
            str(tmp_path / a) if a == "X" else a for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("synaprune: error: ") and needle in err and err.count("\n") == 1


def test_crosscheck_command(tiny_file: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("brian2", reason="the reference needs Brian2")
    assert main(["crosscheck", "--network", "deep", "--config", str(tiny_file), "--samples",
                 "8", "--set", "layers.0.k_winners=3"]) == 0
    out = capsys.readouterr().out
    assert "differences         0" in out and "k_winners=[3, 2]" in out
