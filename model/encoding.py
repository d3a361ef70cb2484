"""Time-to-first-spike input coding: brighter inputs spike earlier, each at most once.

Images arrive as uint8 intensities 0..255. Input i spikes at t = ((255 - x) * T) >> 8, which is in
0..T-1; intensities below ``input_min`` (and so 0) never spike and get time T ("never").
With ``on_off`` the image first goes through an integer 3x3 centre-surround filter that gives
an ON channel (centre brighter than surround) and an OFF channel (darker), ON inputs first.
"""

from __future__ import annotations

import numpy as np

from .config import Config


def center_surround(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ON and OFF channels (uint8) of an integer 3x3 centre-surround filter.

    dog = 9 * x - (sum of the 3x3 neighbourhood, zero padded); ON = clip(dog >> 3, 0, 255),
    OFF = clip((-dog) >> 3, 0, 255).
    """
    x = images.astype(np.int32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    h, w = x.shape[1:]
    box = sum(padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    dog = 9 * x - box
    on = np.clip(dog >> 3, 0, 255).astype(np.uint8)
    off = np.clip((-dog) >> 3, 0, 255).astype(np.uint8)
    return on, off


def encode(images: np.ndarray, cfg: Config) -> np.ndarray:
    """Spike times (int16, shape (n, n_inputs)) of uint8 images of shape (n, H, W) or (n, H*W)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 intensities 0..255, not {images.dtype}")
    h, w = cfg.image_shape
    if images.ndim == 2:
        if images.shape[1] != h * w:
            raise ValueError(f"images have {images.shape[1]} pixels, config expects {h}x{w}")
        images = images.reshape(-1, h, w)
    if images.ndim != 3 or images.shape[1:] != (h, w):
        raise ValueError(f"images have shape {images.shape}, config expects (n, {h}, {w})")
    if cfg.on_off:
        on, off = center_surround(images)
        flat = np.concatenate([on.reshape(len(images), -1), off.reshape(len(images), -1)], 1)
    else:
        flat = images.reshape(len(images), -1)
    x = flat.astype(np.int32)
    t = ((255 - x) * cfg.time_steps) >> 8
    t[x < max(cfg.input_min, 1)] = cfg.never
    return t.astype(np.int16)


def check_times(times: np.ndarray, cfg: Config) -> np.ndarray:
    """``times`` as an array after checking it is one sample's spike times: shape
    (n_inputs,), values 0..T (T = never). Raises ``ValueError`` otherwise."""
    times = np.asarray(times)
    if times.shape != (cfg.n_inputs,):
        raise ValueError(f"times must have shape ({cfg.n_inputs},), not {times.shape}")
    if not np.issubdtype(times.dtype, np.integer):
        raise ValueError(f"spike times must be integers, not {times.dtype}")
    if times.min(initial=0) < 0 or times.max(initial=0) > cfg.never:
        raise ValueError(f"spike times must be in 0..{cfg.never} ({cfg.never} = never)")
    return times


def events(times: np.ndarray, cfg: Config) -> list[tuple[int, int]]:
    """The address-event stream of one sample: (time step, input index), ordered by time, then
    by index. This is the order in which the host streams spikes into the core."""
    idx = np.flatnonzero(times < cfg.never)
    order = np.lexsort((idx, times[idx]))
    return [(int(times[idx[o]]), int(idx[o])) for o in order]
