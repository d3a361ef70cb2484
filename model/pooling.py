"""First-spike max pooling: a pooled neuron spikes once, at the earliest spike in its window.

In TTFS coding the earliest spike is the largest value, so this is max pooling. In the event
stream (time step, then channel, then position row-major) the first event of a window makes
the pooled spike and every later one in the window is dropped; on a tie in time the window's
lowest (row, column) is that first event (``pool_sources``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _windows(times: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(..., C, H', W', size * size) windows of (..., C, H, W), valid, row-major inside."""
    win = sliding_window_view(times, (size, size), axis=(-2, -1))[..., ::stride, ::stride, :, :]
    return win.reshape(*win.shape[:-2], size * size)


def first_spike_pool(times: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Pooled spike times of (..., C, H, W): the minimum over each ``size`` x ``size`` window
    taken every ``stride`` (valid); ``size`` 0 pools each channel globally to (..., C, 1, 1).
    A window with no spike keeps T (never), since T is the largest time."""
    if size == 0:
        return times.min(axis=(-2, -1), keepdims=True)
    return _windows(times, size, stride).min(axis=-1)


def pool_sources(times: np.ndarray, size: int, stride: int) -> np.ndarray:
    """For each pooled neuron, the row-major offset inside its window of the input event that
    makes its spike: the earliest, the lowest offset on a tie (``size`` 0: offset in H x W)."""
    if size == 0:
        flat = times.reshape(*times.shape[:-2], -1)
        return flat.argmin(axis=-1)[..., None, None]
    return _windows(times, size, stride).argmin(axis=-1)
