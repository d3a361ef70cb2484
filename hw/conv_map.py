"""The conv core's memory map and event order, as host-side functions (``hw.conv_core``).

Map ``m`` lives in lane ``m % P`` at map row ``j = m // P``; its channel slice ``c`` is the
bitmap word ``j * C + c`` (bit ``dy * k + dx`` set = entry live) and the weights from
``(j * C + c) * k * k``. ``host_words`` writes kernels there, ``kernels_from_words`` reads them
back from the lanes' memories, ``output_events`` is the stream the core sends for a sample.
Tests and the cocotb bench share them.
"""

from __future__ import annotations

import numpy as np

from ..model.conv_cycles import ConvGeometry
from .conv_core import ConvRegion
from .layouts import EventKind


def host_words(geom: ConvGeometry, weights: np.ndarray, mask: np.ndarray
               ) -> list[tuple[ConvRegion, int, int, int]]:
    """(region, lane, addr, word) writes that load kernels (M, C, k, k) and their live mask."""
    P, C, k2 = geom.lanes, geom.channels, geom.entries
    w = weights.reshape(geom.maps, C, k2)
    live = mask.reshape(geom.maps, C, k2)
    out = []
    for mm in range(geom.maps):
        p, j = mm % P, mm // P
        for c in range(C):
            slot = j * C + c
            bits = sum(1 << b for b in range(k2) if live[mm, c, b])
            out.append((ConvRegion.MASK, p, slot, bits))
            out += [(ConvRegion.WEIGHT, p, slot * k2 + b, int(w[mm, c, b])) for b in range(k2)]
    return out


def kernels_from_words(geom: ConvGeometry, weights: list[list[int]], live: list[list[int]]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The kernels (M, C, k, k) and their live mask from each lane's weight and bitmap words."""
    P, C, k2 = geom.lanes, geom.channels, geom.entries
    w = np.zeros((geom.maps, C, k2), dtype=np.int64)
    mask = np.zeros((geom.maps, C, k2), dtype=bool)
    for mm in range(geom.maps):
        p, j = mm % P, mm // P
        for c in range(C):
            slot = j * C + c
            w[mm, c] = weights[p][slot * k2:(slot + 1) * k2]
            mask[mm, c] = [(live[p][slot] >> b) & 1 for b in range(k2)]
    shape = (geom.maps, C, geom.kernel, geom.kernel)
    return w.reshape(shape), mask.reshape(shape)


def output_events(geom: ConvGeometry, out: np.ndarray) -> list[tuple[int, int, int]]:
    """(kind, time, index) of the output stream for output spike times ``out`` (M, H', W'):
    spikes by time, then position, then map; then END (time T - 1, index 0)."""
    m, y, x = np.nonzero(out < geom.time_steps)
    t = out[m, y, x]
    order = np.lexsort((m, y * geom.out_w + x, t))
    idx = (m * geom.out_h + y) * geom.out_w + x
    spikes = [(EventKind.SPIKE.value, int(t[o]), int(idx[o])) for o in order]
    return [*spikes, (EventKind.END.value, geom.time_steps - 1, 0)]


def input_events(geom: ConvGeometry, times: np.ndarray) -> list[tuple[int, int]]:
    """(time, index) of the input spikes of ``times`` (C, H, W) in the order a host sends them:
    by time, then index (T = no spike)."""
    flat = times.reshape(-1)
    order = np.lexsort((np.arange(len(flat)), flat))
    return [(int(flat[i]), int(i)) for i in order if flat[i] < geom.time_steps]
