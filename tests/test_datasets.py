"""Data loaders: the IDX reader's errors name the file; MNIST discovery; the digits split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synaprune.model.datasets import (
    DataError,
    Split,
    find_mnist,
    load_digits_split,
    load_idx_pair,
    mnist_split,
)

WriteIdx = Callable[..., tuple[Path, Path]]  # the write_idx fixture of conftest.py
Data = tuple[np.ndarray, np.ndarray]


@pytest.fixture
def data() -> Data:
    rng = np.random.default_rng(7)
    return (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, 5, dtype=np.uint8))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_pair_round_trip(tmp_path: Path, write_idx: WriteIdx, data: Data, gz: bool) -> None:
    x, y = data
    img, lab = write_idx(tmp_path, x, y, gz=gz)
    got_x, got_y = load_idx_pair(img, lab)
    assert got_x.dtype == np.uint8 and got_x.shape == (5, 28, 28)
    assert np.array_equal(got_x, x)
    assert got_y.dtype == np.int64 and np.array_equal(got_y, y)


def test_missing_file_is_named(tmp_path: Path, write_idx: WriteIdx, data: Data) -> None:
    _, lab = write_idx(tmp_path, *data)
    with pytest.raises(DataError, match="nope-images.*not found"):
        load_idx_pair(tmp_path / "nope-images", lab)


@pytest.mark.parametrize("cut", [3, 10, 100])
def test_truncated_file_is_named(tmp_path: Path, write_idx: WriteIdx, data: Data,
                                 cut: int) -> None:
    img, lab = write_idx(tmp_path, *data)
    img.write_bytes(img.read_bytes()[:cut])  # inside the magic, the header, the pixels
    with pytest.raises(DataError, match=f"{img.name}.*truncated"):
        load_idx_pair(img, lab)


def test_truncated_gzip_is_named(tmp_path: Path, write_idx: WriteIdx, data: Data) -> None:
    img, lab = write_idx(tmp_path, *data, gz=True)
    img.write_bytes(img.read_bytes()[:40])
    with pytest.raises(DataError, match=f"{img.name}: cannot decompress"):
        load_idx_pair(img, lab)


def test_wrong_magic_is_named(tmp_path: Path, write_idx: WriteIdx, data: Data) -> None:
    img, lab = write_idx(tmp_path, *data)
    # Image and label files swapped: each has the other's magic number.
    with pytest.raises(DataError, match=f"{lab.name}: wrong magic"):
        load_idx_pair(lab, img)


def test_count_mismatch_names_both_files(tmp_path: Path, write_idx: WriteIdx,
                                         data: Data) -> None:
    x, y = data
    img, lab = write_idx(tmp_path, x, y[:4])
    with pytest.raises(DataError, match=f"{img.name}.*5 images.*{lab.name}.*4 labels"):
        load_idx_pair(img, lab)


def test_find_mnist_prefers_gzip_and_standard_names(tmp_path: Path, write_idx: WriteIdx,
                                                    data: Data) -> None:
    write_idx(tmp_path, *data, names="dev8000")
    write_idx(tmp_path, *data, names="train")
    img, lab = write_idx(tmp_path, *data, names="train", gz=True)
    assert find_mnist(tmp_path) == (img, lab)


def test_find_mnist_dev_subset(tmp_path: Path, write_idx: WriteIdx, data: Data) -> None:
    img, lab = write_idx(tmp_path, *data, names="dev8000")
    assert find_mnist(tmp_path) == (img, lab)


def test_find_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="absent: not a directory"):
        find_mnist(tmp_path / "absent")
    with pytest.raises(DataError, match=f"{tmp_path}: no MNIST"):
        find_mnist(tmp_path)


def test_mnist_split_first_and_last(data: Data) -> None:
    x, y = data
    s = mnist_split(x, y.astype(np.int64), 2, 2)
    assert np.array_equal(s.x_train, x[:2]) and np.array_equal(s.x_test, x[3:])
    assert np.array_equal(s.y_train, y[:2]) and np.array_equal(s.y_test, y[3:])
    assert s.name == "mnist"
    with pytest.raises(DataError, match="3 \\+ 3"):
        mnist_split(x, y, 3, 3)


def test_digits_split_sizes_and_determinism(digits_split: Split) -> None:
    s = digits_split
    assert s.name == "digits"
    assert s.x_train.shape == (1347, 8, 8) and s.x_test.shape == (450, 8, 8)
    assert s.x_train.dtype == np.uint8 and s.y_train.dtype == np.int64
    assert len(s.y_train) == 1347 and len(s.y_test) == 450
    assert s.x_train.max() == 255 and set(np.unique(s.y_test)) == set(range(10))
    again = load_digits_split()
    for a, b in ((s.x_train, again.x_train), (s.y_train, again.y_train),
                 (s.x_test, again.x_test), (s.y_test, again.y_test)):
        assert np.array_equal(a, b)
