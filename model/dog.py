"""Difference-of-Gaussians ON/OFF filtering in integers, the deep network's optional input stage.

As in Kheradpisheh et al. 2018 (and SpykeTorch's ``DoGKernel``), an image goes through a DoG
filter, centre sigma smaller than surround sigma; ON keeps the positive response, OFF the
negative one. Here the kernel is integer (zero sum) and the response is scaled by a right shift,
so the ON and OFF images are uint8 intensities that ``model.encoding.encode`` turns into spike
times with the project's TTFS rule, like the centre-surround channels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

KERNEL_SCALE = 64  # the kernel's largest magnitude


@lru_cache(maxsize=8)
def dog_kernel(size: int, sigma_center: float, sigma_surround: float) -> np.ndarray:
    """The integer DoG kernel (size x size): G(sigma_center) - G(sigma_surround) minus its
    mean, scaled to a largest magnitude of ``KERNEL_SCALE`` and rounded; the rounding remainder
    goes to the centre so the kernel sums to 0 (a flat image gives no response)."""
    ax = np.arange(size) - size // 2
    r2 = ax[:, None] ** 2 + ax[None, :] ** 2

    def gauss(s: float) -> np.ndarray:
        return np.exp(-r2 / (2 * s * s)) / (2 * np.pi * s * s)

    k = gauss(sigma_center) - gauss(sigma_surround)
    k -= k.mean()
    q = np.rint(k / np.abs(k).max() * KERNEL_SCALE).astype(np.int64)
    q[size // 2, size // 2] -= q.sum()
    q.setflags(write=False)
    return q


def dog_on_off(images: np.ndarray, kernel: np.ndarray, shift: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """ON and OFF uint8 images of uint8 images (N, H, W): ``dog`` = the kernel applied at every
    pixel (correlation, zero padding, same size), ON = clip(dog >> shift, 0, 255),
    OFF = clip((-dog) >> shift, 0, 255)."""
    k = kernel.shape[0]
    pad = k // 2
    x = np.pad(images.astype(np.int64), ((0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, (k, k), axis=(1, 2))
    dog = np.einsum("nhwij,ij->nhw", win, kernel)
    on = np.clip(dog >> shift, 0, 255).astype(np.uint8)
    off = np.clip((-dog) >> shift, 0, 255).astype(np.uint8)
    return on, off
