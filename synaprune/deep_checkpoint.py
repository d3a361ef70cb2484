"""Save and load a deep network: every layer's state, so learning resumes bit-exactly.

One ``.npz`` file (no pickles), written atomically (``checkpoint.atomic_write``), members:

- ``format``: ``FORMAT``; ``config``: the ``DeepConfig`` as TOML; ``dataset``: the data set name;
- ``done``: how many learning layers have finished learning (``--resume`` starts at the next);
- ``counters``: JSON {layer index: {samples, syn_events, syn_updates, pruned}} of the learning;
- per conv layer n: ``layer<n>.weights`` (maps, C, k, k), ``layer<n>.mask``,
  ``layer<n>.lfsr_state``, ``layer<n>.learned`` (learning samples so far: the rate schedule);
- the classifier (layer n): ``layer<n>.weights`` (inputs, neurons), ``.mask``, ``.adapt``,
  ``.labels``, ``.lfsr_state``, ``.learned``.

``load_deep_checkpoint`` checks every member against the stored configuration and raises
``CheckpointError`` naming the file, or ``FileNotFoundError``.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import CheckpointError, atomic_write
from .model.deep_config import DeepConfig
from .model.deep_network import ClassifierLayer, ConvLayer, DeepNetwork, Totals
from .model.lfsr import LfsrStream
from .model.network import Network

FORMAT = "synaprune-deep-checkpoint/1"


def save_deep_checkpoint(path: str | Path, net: DeepNetwork, counters: dict[int, Totals],
                         dataset: str) -> Path:
    """Write ``net`` (every layer), the learning counters and the data set name atomically."""
    cfg = net.cfg
    w_dtype = np.uint8 if cfg.weight_bits <= 8 else np.uint16
    members: dict[str, np.ndarray] = {
        "format": np.array(FORMAT), "config": np.array(cfg.dumps()),
        "dataset": np.array(str(dataset)), "done": np.array(net.done, dtype=np.int64),
        "counters": np.array(json.dumps({str(n): vars(t) for n, t in counters.items()})),
    }
    for n, layer in enumerate(net.layers):
        if isinstance(layer, ConvLayer):
            state = {"weights": layer.weights.astype(w_dtype), "mask": layer.mask,
                     "lfsr_state": layer.lfsr.peek_state(), "learned": layer.learned}
        elif isinstance(layer, ClassifierLayer):
            state = {"weights": layer.net.weights.astype(w_dtype), "mask": layer.net.mask,
                     "adapt": layer.net.adapt.astype(np.uint32), "labels": layer.labels,
                     "lfsr_state": layer.net.lfsr.peek_state(), "learned": layer.learned}
        else:
            continue
        for key, value in state.items():
            members[f"layer{n}.{key}"] = np.asarray(value)
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **members))


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, AttributeError, zipfile.BadZipFile,
            zlib.error) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from None


def is_deep_checkpoint(path: str | Path) -> bool:
    """True when ``path`` holds a deep-network checkpoint (False for a one-layer one)."""
    arrays = _read(Path(path))
    return "format" in arrays and str(arrays["format"][()]) == FORMAT


def load_deep_checkpoint(path: str | Path) -> tuple[DeepNetwork, dict[str, Any]]:
    """The network and ``meta`` (``config``, ``dataset``, ``counters``, ``done``) in ``path``."""
    path = Path(path)
    arrays = _read(path)
    try:
        return _unpack(arrays)
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"{path}: invalid deep checkpoint: {err}") from None


def _member(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...],
            kinds: str) -> np.ndarray:
    if key not in arrays:
        raise CheckpointError(f"member {key!r} missing")
    got = arrays[key]
    if got.shape != shape or got.dtype.kind not in kinds:
        raise CheckpointError(f"member {key!r} has shape {got.shape} and dtype {got.dtype}, "
                              f"expected shape {shape} for the stored config")
    return got


def _unpack(arrays: dict[str, np.ndarray]) -> tuple[DeepNetwork, dict[str, Any]]:
    fmt = str(arrays["format"][()]) if "format" in arrays else None
    if fmt != FORMAT:
        raise CheckpointError(f"not a deep-network checkpoint (format {fmt!r}, expected "
                              f"{FORMAT!r}); a one-layer checkpoint takes --network fc")
    cfg = DeepConfig.loads(str(arrays["config"][()]))
    net = DeepNetwork(cfg)
    for n, layer in enumerate(net.layers):
        p = f"layer{n}."
        if isinstance(layer, ConvLayer):
            shape = layer.weights.shape
            weights = _member(arrays, p + "weights", shape, "ui").astype(np.int64)
            if weights.max(initial=0) > cfg.w_max:
                raise CheckpointError(f"member {p}weights above w_max {cfg.w_max}")
            layer.weights = weights
            layer.mask = _member(arrays, p + "mask", shape, "b").copy()
            layer.lfsr = LfsrStream(int(_member(arrays, p + "lfsr_state", (), "ui")))
            layer.learned = int(_member(arrays, p + "learned", (), "i"))
        elif isinstance(layer, ClassifierLayer):
            c = layer.net.cfg
            shape = (c.n_inputs, c.n_neurons)
            layer.net = Network(
                c, weights=_member(arrays, p + "weights", shape, "ui"),
                mask=_member(arrays, p + "mask", shape, "b"),
                adapt=_member(arrays, p + "adapt", (c.n_neurons,), "ui").astype(np.int64),
                lfsr_state=int(_member(arrays, p + "lfsr_state", (), "ui")))
            layer.labels = _member(arrays, p + "labels", (c.n_neurons,), "i").astype(np.int64)
            layer.learned = int(_member(arrays, p + "learned", (), "i"))
    net.done = int(_member(arrays, "done", (), "i"))
    if not 0 <= net.done <= len(cfg.learning_layers()):
        raise CheckpointError(f"member 'done' = {net.done} outside 0..{len(cfg.learning_layers())}")
    try:
        raw = json.loads(str(arrays["counters"][()]))
        counters = {int(k): Totals(**v) for k, v in raw.items()}
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise CheckpointError(f"member 'counters' is not valid: {err}") from None
    meta = {"config": cfg, "dataset": str(arrays["dataset"][()]), "counters": counters,
            "done": net.done, "format": FORMAT}
    return net, meta
