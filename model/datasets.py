"""Data sets as uint8 images and integer labels: scikit-learn's digits, and MNIST from IDX files.

Every loader raises ``DataError`` with one line that names the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "dev8000": ("mnist-dev8000-images-idx3-ubyte", "mnist-dev8000-labels-idx1-ubyte"),
}
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.25


class DataError(ValueError):
    """A data file is missing, truncated or not what it claims to be."""


@dataclass(frozen=True)
class Split:
    """Train and test images (uint8, (n, H, W)) and labels (int64)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str


def load_digits_split() -> Split:
    """scikit-learn's 1,797 8x8 digits, intensities 0..16 scaled to 0..255 (x16, clipped), split
    75/25 with a stratified shuffle seeded by ``DIGITS_SPLIT_SEED``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.clip(d.images * 16, 0, 255).astype(np.uint8)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=DIGITS_TEST_FRACTION,
                                              random_state=DIGITS_SPLIT_SEED, stratify=y)
    return Split(x_tr, y_tr, x_te, y_te, "digits")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot decompress: {err}") from None
    if len(raw) < 8:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, no IDX header")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise DataError(f"{path}: wrong magic {got:#010x}, expected {magic:#010x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    dims = [int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    size = int(np.prod(dims))
    if len(raw) - header < size:
        raise DataError(f"{path}: truncated: {len(raw) - header} data bytes, header says {size}")
    return np.frombuffer(raw, dtype=np.uint8, count=size, offset=header).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    raise DataError(f"{directory / stem}[.gz]: file not found")


def load_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 (n, H, W)) and labels from two IDX files, gzip or raw."""
    x = _read_idx(Path(images), IDX_IMAGES_MAGIC)
    y = _read_idx(Path(labels), IDX_LABELS_MAGIC).astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"{images}: {len(x)} images but {labels} has {len(y)} labels")
    return x, y


def find_mnist(directory: str | Path) -> tuple[Path, Path]:
    """The image and label files of the first standard MNIST name pair present in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    for img, lab in MNIST_NAMES.values():
        try:
            images = _find(directory, img)
        except DataError:
            continue
        return images, _find(directory, lab)  # images without labels: name the missing file
    wanted = ", ".join(f"{a}[.gz]" for a, _ in MNIST_NAMES.values())
    raise DataError(f"{directory}: no MNIST image file found (looked for {wanted})")


def mnist_split(x: np.ndarray, y: np.ndarray, n_train: int, n_test: int) -> Split:
    """The first ``n_train`` samples for learning and the last ``n_test`` for testing."""
    if n_train + n_test > len(x):
        raise DataError(f"asked for {n_train} + {n_test} samples, the files hold {len(x)}")
    return Split(x[:n_train], y[:n_train], x[len(x) - n_test:], y[len(y) - n_test:], "mnist")


MNIST_LIKE_SEED = 2024


def mnist_like(n: int, seed: int = MNIST_LIKE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 28x28 images and their labels, with no MNIST files: built-in digits scaled 3x
    to 24x24 at a random offset (the benchmarks' MNIST-sized input)."""
    split = load_digits_split()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(split.x_train), n)
    dy, dx = rng.integers(0, 5, n), rng.integers(0, 5, n)
    big = np.kron(split.x_train[pick], np.ones((3, 3), dtype=np.uint8))
    out = np.zeros((n, 28, 28), dtype=np.uint8)
    for s in range(n):
        out[s, dy[s]:dy[s] + 24, dx[s]:dx[s] + 24] = big[s]
    return out, split.y_train[pick]
