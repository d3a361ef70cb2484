"""Checkpoints: exact round trip, atomic writes, one-line errors for broken files."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

import synaprune.checkpoint as ckpt
from synaprune.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from synaprune.model.config import Config
from synaprune.model.network import Network
from synaprune.model.readout import RunTotals


def trained(cfg: Config, samples: int = 30) -> Network:
    """A network with learned weights, pruned synapses, adaptation and an advanced LFSR."""
    net = Network(cfg.replace(prune_threshold=200))  # high: some synapses get pruned at once
    rng = np.random.default_rng(3)
    for _ in range(samples):
        net.run_sample(rng.integers(0, cfg.time_steps + 1, cfg.n_inputs), learn=True)
    return net


def test_round_trip_is_exact(tmp_path: Path, tiny_config: Config) -> None:
    net = trained(tiny_config)
    assert not net.mask.all() and net.adapt.any()
    labels = np.arange(tiny_config.n_neurons) % 11 - 1  # includes -1 (unlabelled)
    totals = RunTotals(samples=30, syn_events=123, syn_updates=456, pruned=7)
    path = save_checkpoint(tmp_path / "sub" / "c.npz", net, labels, totals, "digits")
    assert path.is_file()
    got, got_labels, meta = load_checkpoint(path)
    assert got.cfg == net.cfg
    assert np.array_equal(got.weights, net.weights) and np.array_equal(got.mask, net.mask)
    assert np.array_equal(got.adapt, net.adapt) and np.array_equal(got_labels, labels)
    assert meta["dataset"] == "digits" and meta["config"] == net.cfg
    assert meta["counters"] == {"samples": 30, "syn_events": 123, "syn_updates": 456,
                                "pruned": 7}
    # The LFSR resumes where it stopped, so learning continues bit-exactly.
    times = np.random.default_rng(4).integers(0, tiny_config.time_steps, tiny_config.n_inputs)
    a = net.run_sample(times, learn=True)
    b = got.run_sample(times, learn=True)
    assert a.winners == b.winners
    assert np.array_equal(got.weights, net.weights) and np.array_equal(got.mask, net.mask)
    assert got.lfsr.peek_state() == net.lfsr.peek_state()


def test_counters_from_mapping(tmp_path: Path, tiny_config: Config) -> None:
    net = Network(tiny_config)
    counters = {"samples": 1, "syn_events": 2, "syn_updates": 3, "pruned": 4, "other": 5}
    save_checkpoint(tmp_path / "c.npz", net, np.zeros(16, int), counters, "mnist")
    assert load_checkpoint(tmp_path / "c.npz")[2]["counters"] == {
        "samples": 1, "syn_events": 2, "syn_updates": 3, "pruned": 4}
    with pytest.raises(ValueError, match="pruned"):
        save_checkpoint(tmp_path / "d.npz", net, np.zeros(16, int), {"samples": 1}, "mnist")


def test_failed_write_leaves_nothing(tmp_path: Path, tiny_config: Config,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    net = Network(tiny_config)
    labels = np.zeros(tiny_config.n_neurons, dtype=int)
    path = save_checkpoint(tmp_path / "c.npz", net, labels, RunTotals(), "digits")
    before = path.read_bytes()

    def half_write(fh: BinaryIO, **members: object) -> None:
        fh.write(b"PK\x03\x04 partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(ckpt.np, "savez_compressed", half_write)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, trained(tiny_config, 3), labels, RunTotals(), "digits")
    # The old checkpoint is intact and no temporary file is left behind.
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_written_file_is_not_private(tmp_path: Path, tiny_config: Config) -> None:
    # The temporary file behind the atomic write starts as 0600; the result must not stay so.
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.npz", Network(tiny_config), np.zeros(16, int),
                               RunTotals(), "digits")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.npz: checkpoint not found"):
        load_checkpoint(tmp_path / "absent.npz")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 40])
def test_garbage_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="c.npz"):
        load_checkpoint(path)


def test_truncated_file(tmp_path: Path, tiny_config: Config) -> None:
    path = save_checkpoint(tmp_path / "c.npz", trained(tiny_config, 3),
                           np.zeros(16, int), RunTotals(), "digits")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match="c.npz"):
        load_checkpoint(path)


def _rewrite(path: Path, **changes: np.ndarray) -> None:
    """Replace or drop (value None) members of a saved checkpoint."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(path, **arrays)


@pytest.mark.parametrize(("changes", "message"), [
    ({"weights": None}, "missing weights"),
    ({"format": np.array("something-else/9")}, "unsupported checkpoint format"),
    ({"weights": np.zeros((3, 3), np.uint8)}, "'weights' has shape"),
    ({"labels": np.zeros(15, np.int16)}, "'labels' has shape"),
    ({"config": np.array("n_neurons = ")}, "not valid TOML"),
    ({"config": np.array("bogus = 1")}, "unknown config key"),
    ({"counters": np.array("{}")}, "'counters' must map"),
    ({"lfsr_state": np.array(0, np.uint32)}, "LFSR seed"),
])
def test_invalid_members(tmp_path: Path, tiny_config: Config, changes: dict[str, np.ndarray],
                         message: str) -> None:
    path = save_checkpoint(tmp_path / "c.npz", Network(tiny_config), np.zeros(16, int),
                           RunTotals(), "digits")
    _rewrite(path, **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_a_plain_zip_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not a"):
        load_checkpoint(path)
