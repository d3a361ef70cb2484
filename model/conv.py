"""The convolutional TTFS layer's rules: integration of live kernel entries, fire-once, lateral
inhibition, winners with an inhibition radius, the STDP rate schedule and the kernel update.

Layouts. Spike times are integer arrays (C, H, W) (a leading sample axis where stated), value T
("never") for no spike. Kernels are ``weights[m, c, dy, dx]`` with a live mask of the same
shape; entry number ``e = (c * k + dy) * k + dx`` (row-major) is the order in which the STDP
unit walks a kernel. Output neuron (m, y, x) sees input (c, y + dy, x + dx) (stride 1, valid).

Order inside a time step t (``docs/deep_network.md``): every input spike at t adds the live
kernel entries to every neuron whose receptive field holds it (saturating at v_max, so the
order of the additions does not matter: ``rules.integrate``), then leak (``rules.leak``), then
the compare (``rules.margin`` with no adaptation): a neuron that has not fired and whose margin
is >= 0 fires at t. With inhibition, a position's first spike (earliest step; on a tie the
larger membrane, then the lower map) is its only spike; the others at that position never fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from . import rules


@lru_cache(maxsize=32)
def patch_index(c: int, h: int, w: int, k: int) -> np.ndarray:
    """(P, K) indices into a flattened (C, H, W) input: row p = y * W' + x is the receptive
    field of output position (y, x), column e = (c * k + dy) * k + dx the kernel entry."""
    hh, ww = h - k + 1, w - k + 1
    cc, dy, dx = np.meshgrid(np.arange(c), np.arange(k), np.arange(k), indexing="ij")
    y, x = np.meshgrid(np.arange(hh), np.arange(ww), indexing="ij")
    idx = (cc.ravel()[None, :] * h + y.ravel()[:, None] + dy.ravel()[None, :]) * w \
        + x.ravel()[:, None] + dx.ravel()[None, :]
    idx.setflags(write=False)
    return idx


def patches(times: np.ndarray, k: int) -> np.ndarray:
    """Receptive-field spike times, shape (N, P, K), of a batch of inputs (N, C, H, W)."""
    n, c, h, w = times.shape
    return times.reshape(n, -1)[:, patch_index(c, h, w, k)]


def step_input(patch_times: np.ndarray, kernel_matrix: np.ndarray, never: int) -> np.ndarray:
    """Synaptic input of every neuron at every step, shape (N, T, P, M), int64.

    ``patch_times`` (N, P, K) from ``patches``; ``kernel_matrix`` (K, M) the live weights
    (weights * mask, one column per map). Entry (n, t, p, m) is the sum of the live entries of
    kernel m whose input spikes at t: an event-driven sum over the spikes only (sparse), which
    is what the hardware does, one synaptic event per live entry and output position.
    """
    n, p, k = patch_times.shape
    s, pos, e = np.nonzero(patch_times < never)
    rows = (s * never + patch_times[s, pos, e].astype(np.int64)) * p + pos
    events = sparse.csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, e)),
                               shape=(n * never * p, k))
    out = events @ kernel_matrix
    return np.asarray(out).reshape(n, never, p, -1)


def fire(step_in: np.ndarray, threshold: int, leak_shift: int, v_max: int,
         membranes: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fire-once integrate-and-fire over the steps of ``step_in`` (N, T, P, M).

    Per step: ``rules.integrate`` (saturating), ``rules.leak``, ``rules.margin`` (adaptation 0);
    a neuron fires at the first step whose margin is >= 0 (and keeps integrating). Returns the
    firing step (N, P, M), T where it never fired, and the membrane at that step (0 where it
    never fired); ``membranes``, when given, receives every step's leaked membranes (N, P, M).
    """
    n, never, p, m = step_in.shape
    v = np.zeros((n, p, m), dtype=np.int64)
    t_fire = np.full((n, p, m), never, dtype=np.int16)
    v_fire = np.zeros((n, p, m), dtype=np.int64)
    for t in range(never):
        v = rules.leak(rules.integrate(v, step_in[:, t], v_max), leak_shift)
        if membranes is not None:
            membranes.append(v)
        new = (rules.margin(v, 0, threshold) >= 0) & (t_fire == never)
        t_fire[new] = t
        v_fire[new] = v[new]
    return t_fire, v_fire


def inhibit(t_fire: np.ndarray, v_fire: np.ndarray, never: int, v_max: int) -> np.ndarray:
    """Pointwise lateral inhibition over the map axis (the last): per position, only the first
    spike survives (earliest step, then larger membrane at that step, then lower map); returns
    the surviving spike times, T elsewhere."""
    key = t_fire.astype(np.int64) * (v_max + 1) + (v_max - v_fire)
    best = np.argmin(key, axis=-1)[..., None]  # argmin: the lowest map on a full tie
    keep = np.zeros(t_fire.shape, dtype=bool)
    np.put_along_axis(keep, best, True, axis=-1)
    return np.where(keep & (t_fire < never), t_fire, never).astype(np.int16)


def select_winners(t_fire: np.ndarray, v_fire: np.ndarray, k: int, radius: int,
                   never: int) -> list[tuple[int, int, int, int]]:
    """Up to ``k`` learning winners of one sample from its spikes (t_fire, v_fire: (M, H, W)).

    Candidates in order: earliest step, larger membrane, lower map, row, column. Taken greedily:
    a candidate is skipped when its map already has a winner or when it lies within
    ``radius`` (Chebyshev distance) of a winner, in any map. Returns (map, row, col, step).
    """
    m, y, x = np.nonzero(t_fire < never)
    if not len(m):
        return []
    t, v = t_fire[m, y, x], v_fire[m, y, x]
    order = np.lexsort((x, y, m, -v, t))
    winners: list[tuple[int, int, int, int]] = []
    for o in order:
        mm, yy, xx = int(m[o]), int(y[o]), int(x[o])
        if any(mm == wm or (abs(yy - wy) <= radius and abs(xx - wx) <= radius)
               for wm, wy, wx, _ in winners):
            continue
        winners.append((mm, yy, xx, int(t[o])))
        if len(winners) == k:
            break
    return winners


def scheduled_rates(a_plus: int, a_minus: int, a_plus_max: int, a_minus_max: int,
                    double_every: int, sample: int) -> tuple[int, int]:
    """STDP rates of learning sample number ``sample`` (0-based, counted per layer): both rates
    doubled once per ``double_every`` samples, each capped (``a_plus_max``, ``a_minus_max``);
    ``double_every`` 0 keeps them constant. SpykeTorch's schedule in integers."""
    if not double_every:
        return a_plus, a_minus
    doublings = min(sample // double_every, 32)
    return min(a_plus << doublings, a_plus_max), max(a_minus * (1 << doublings), a_minus_max)


@dataclass(frozen=True)
class KernelUpdate:
    """One winner's learning update: its map, the live entries before it (ascending), their new
    weights, and which of them were pruned."""

    map: int
    entries: np.ndarray
    weights: np.ndarray
    pruned: np.ndarray


def learn_kernel(weights: np.ndarray, mask: np.ndarray, m: int, pre_times: np.ndarray,
                 t_post: int, rand: np.ndarray, widths: rules.StdpWidths, a_plus: int,
                 a_minus: int, prune_enabled: bool, prune_threshold: int) -> KernelUpdate:
    """STDP of kernel ``m``'s live entries (in place): ``rules.stdp_delta`` with the winner's
    receptive-field times ``pre_times`` (K,), one LFSR state per live entry in entry order
    (``rand`` holds exactly that many), then ``rules.prune_decision``; a pruned entry is removed
    for every position."""
    w_flat, m_flat = weights[m].reshape(-1), mask[m].reshape(-1)
    entries = np.flatnonzero(m_flat)
    w_new = rules.stdp_delta(w_flat[entries], pre_times[entries], t_post, rand, widths,
                             a_plus, a_minus)
    pruned = rules.prune_decision(w_new, prune_enabled, prune_threshold)
    w_flat[entries] = w_new
    m_flat[entries[pruned]] = False
    return KernelUpdate(m, entries, w_new, pruned)
