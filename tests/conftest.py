"""Shared pytest fixtures: a small configuration file, the built-in digits split, IDX files.

Fixtures here must stay cheap and deterministic; every test module of the project may use them.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synaprune.model.config import Config
from synaprune.model.datasets import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    MNIST_NAMES,
    Split,
    load_digits_split,
)

WriteIdx = Callable[..., tuple[Path, Path]]


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file: big-endian magic, one big-endian size per dimension, then uint8 data."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_pair(directory: Path, images: np.ndarray, labels: np.ndarray, *,
                   names: str = "train", gz: bool = False) -> tuple[Path, Path]:
    """Write MNIST-named IDX image and label files (``names`` is a key of MNIST_NAMES)."""
    img_name, lab_name = MNIST_NAMES[names]
    suffix = ".gz" if gz else ""
    img = directory / f"{img_name}{suffix}"
    lab = directory / f"{lab_name}{suffix}"
    for path, data in ((img, idx_bytes(images, IDX_IMAGES_MAGIC)),
                       (lab, idx_bytes(labels, IDX_LABELS_MAGIC))):
        path.write_bytes(gzip.compress(data) if gz else data)
    return img, lab


@pytest.fixture
def write_idx() -> WriteIdx:
    """``write_idx_pair``, for tests that need MNIST-format files in tmp_path."""
    return write_idx_pair


@pytest.fixture(scope="session")
def digits_split() -> Split:
    """scikit-learn's digits, split as ``synaprune train --dataset digits`` splits them."""
    return load_digits_split()


@pytest.fixture
def tiny_config() -> Config:
    """An 8x8-input layer of 16 neurons: learns the digits data set in well under a second."""
    return Config(n_neurons=16, lanes=8, epochs=1)


@pytest.fixture
def tiny_config_file(tmp_path: Path, tiny_config: Config) -> Path:
    """``tiny_config`` written as TOML, for ``--config``."""
    path = tmp_path / "tiny.toml"
    tiny_config.save(path)
    return path


@pytest.fixture(scope="session")
def rtl_build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build directory for the RTL tests of a session: each netlist and simulation is built
    once (``sim.runner`` keys them by the elaboration parameters) and shared by the tests."""
    return tmp_path_factory.mktemp("rtl")
