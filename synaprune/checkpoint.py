"""Save and load a trained layer: the state the hardware would need to carry on where it stopped.

A checkpoint is one ``.npz`` file (NumPy zip, no pickles) with these members:

- ``format``: the string ``FORMAT`` below, so a stranger ``.npz`` is recognised as such;
- ``config``: the ``Config`` as TOML text (``Config.to_dict`` written with tomli_w);
- ``weights`` (n_inputs, n_neurons) unsigned ints, ``mask`` (same shape) bool,
  ``adapt`` (n_neurons,) unsigned ints, ``labels`` (n_neurons,) ints (-1 = unlabelled);
- ``lfsr_state``: the LFSR register, so learning can resume bit-exactly;
- ``counters``: JSON object {samples, syn_events, syn_updates, pruned} of the learning run;
- ``dataset``: the name of the data set it learned on.

``save_checkpoint`` is atomic: it writes a temporary file in the destination directory and
renames it over the destination, so a crash or a full disk never leaves a half-written
checkpoint under the final name (and an older checkpoint there survives a failed save).
``load_checkpoint`` checks every member and raises ``CheckpointError`` (a ``ValueError``) with
one line naming the file, or ``FileNotFoundError`` when there is no file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import tomli_w

from .model.config import Config
from .model.network import Network

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

FORMAT = "synaprune-checkpoint/1"
COUNTER_NAMES = ("samples", "syn_events", "syn_updates", "pruned")
MEMBERS = ("format", "config", "weights", "mask", "adapt", "labels", "lfsr_state", "counters",
           "dataset")


class CheckpointError(ValueError):
    """A checkpoint file exists but is corrupt, truncated or not a synaprune checkpoint."""


def _counters_dict(counters: object) -> dict[str, int]:
    """Accept ``readout.RunTotals`` (any dataclass) or a mapping; keep the known counters."""
    if dataclasses.is_dataclass(counters) and not isinstance(counters, type):
        counters = dataclasses.asdict(counters)
    if not isinstance(counters, Mapping):
        raise TypeError(f"counters must be a mapping or a dataclass, not {type(counters)}")
    missing = [k for k in COUNTER_NAMES if k not in counters]
    if missing:
        raise ValueError(f"counters lack {', '.join(missing)}")
    return {k: int(counters[k]) for k in COUNTER_NAMES}


def save_checkpoint(path: str | Path, net: Network, labels: np.ndarray, counters: object,
                    dataset: str) -> Path:
    """Write ``net``'s state, the neuron ``labels`` and the run's counters to ``path`` atomically.

    Returns the path written. The parent directory is created if needed.
    """
    path = Path(path)
    cfg = net.cfg
    labels = np.asarray(labels)
    if labels.shape != (cfg.n_neurons,):
        raise ValueError(f"labels must have shape ({cfg.n_neurons},), not {labels.shape}")
    # Smallest dtypes that hold the configured widths, so a 784 x 400 layer stays small.
    w_dtype = np.uint8 if cfg.weight_bits <= 8 else np.uint16
    a_dtype = np.uint16 if cfg.adapt_bits <= 16 else np.uint32
    members: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "config": np.array(tomli_w.dumps(cfg.to_dict())),
        "weights": net.weights.astype(w_dtype),
        "mask": net.mask.astype(bool),
        "adapt": net.adapt.astype(a_dtype),
        "labels": labels.astype(np.int16),
        "lfsr_state": np.array(net.lfsr.peek_state(), dtype=np.uint32),
        "counters": np.array(json.dumps(_counters_dict(counters))),
        "dataset": np.array(str(dataset)),
    }
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **members))


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Create or replace ``path`` with what ``write`` writes to a binary file, atomically.

    ``write`` fills a temporary file in the same directory (os.replace is atomic only within
    one file system), which is synced and renamed over ``path``; on any failure the temporary
    file is removed and ``path`` is left as it was. Creates the parent directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _scalar_str(arrays: Mapping[str, np.ndarray], key: str) -> str:
    value = arrays[key]
    if value.shape != () or value.dtype.kind != "U":
        raise CheckpointError(f"member {key!r} must be a string")
    return str(value[()])


def load_checkpoint(path: str | Path) -> tuple[Network, np.ndarray, dict[str, Any]]:
    """The network, neuron labels and metadata stored in ``path``.

    ``meta`` holds ``config`` (the Config), ``dataset`` (str), ``counters`` (dict of ints) and
    ``format``. Raises ``FileNotFoundError`` or ``CheckpointError`` with the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            raise CheckpointError(f"{path}: not a checkpoint (a .npy array, not an .npz archive)")
        # Read every member now: a truncated zip only fails when a member is decompressed.
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from None
    try:
        return _unpack(arrays)
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: invalid checkpoint: {err}") from None


def _unpack(arrays: dict[str, np.ndarray]) -> tuple[Network, np.ndarray, dict[str, Any]]:
    missing = [k for k in MEMBERS if k not in arrays]
    if missing:
        raise CheckpointError(f"not a synaprune checkpoint (missing {', '.join(missing)})")
    fmt = _scalar_str(arrays, "format")
    if fmt != FORMAT:
        raise CheckpointError(f"unsupported checkpoint format {fmt!r}, expected {FORMAT!r}")
    try:
        cfg = Config.from_dict(tomllib.loads(_scalar_str(arrays, "config")))
    except tomllib.TOMLDecodeError as err:
        raise CheckpointError(f"member 'config' is not valid TOML: {err}") from None
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"member 'config': {err}") from None
    shape = (cfg.n_inputs, cfg.n_neurons)
    for key, want, kinds in (("weights", shape, "ui"), ("mask", shape, "b"),
                             ("adapt", (cfg.n_neurons,), "ui"),
                             ("labels", (cfg.n_neurons,), "i"), ("lfsr_state", (), "ui")):
        got = arrays[key]
        if got.shape != want or got.dtype.kind not in kinds:
            raise CheckpointError(f"member {key!r} has shape {got.shape} and dtype {got.dtype}, "
                                  f"expected shape {want} for the stored config")
    adapt = arrays["adapt"].astype(np.int64)
    if adapt.min(initial=0) < 0 or adapt.max(initial=0) > cfg.adapt_max:
        raise CheckpointError(f"member 'adapt' outside 0..{cfg.adapt_max}")
    labels = arrays["labels"].astype(np.int64)
    if labels.min(initial=0) < -1:
        raise CheckpointError("member 'labels' holds values below -1 (unlabelled)")
    try:
        counters = json.loads(_scalar_str(arrays, "counters"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"member 'counters' is not JSON: {err}") from None
    if not isinstance(counters, dict) or any(
            not isinstance(counters.get(k), int) for k in COUNTER_NAMES):
        raise CheckpointError(f"member 'counters' must map {', '.join(COUNTER_NAMES)} to ints")
    # Network checks the weight range and the LFSR state (nonzero 32-bit) itself.
    net = Network(cfg, weights=arrays["weights"], mask=arrays["mask"], adapt=adapt,
                  lfsr_state=int(arrays["lfsr_state"][()]))
    meta = {"config": cfg, "dataset": _scalar_str(arrays, "dataset"),
            "counters": {k: counters[k] for k in COUNTER_NAMES}, "format": FORMAT}
    return net, labels, meta
