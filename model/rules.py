"""The hardware rules, one pure integer function each; the core is tested against these.

All arrays are integer NumPy arrays; nothing here keeps state. The order inside a time step is
integrate -> leak -> compare (``docs/architecture.md``, section 'Golden model').
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class StdpWidths(Protocol):
    """What ``stdp_delta`` reads of a configuration: ``Config`` (one layer) and ``DeepConfig``
    (every layer of a deep network) both provide it."""

    @property
    def w_max(self) -> int: ...

    @property
    def stdp_shift(self) -> int: ...


def integrate(v: np.ndarray, contribution: np.ndarray, v_max: int) -> np.ndarray:
    """Add this step's synaptic input and saturate at ``v_max``.

    Weights are non-negative, so adding one event at a time with saturation (the hardware) equals
    adding the sum and saturating once.
    """
    return np.minimum(v + contribution, v_max)


def leak(v: np.ndarray, leak_shift: int) -> np.ndarray:
    """v - (v >> leak_shift); a shift of 0 means no leak (integrate-and-fire)."""
    return v - (v >> leak_shift) if leak_shift else v


def margin(v: np.ndarray, adapt: np.ndarray, threshold: int) -> np.ndarray:
    """Signed distance above the neuron's threshold (threshold + adaptation); >= 0 fires."""
    return v - (threshold + adapt)


def select_winner(margins: np.ndarray, eligible: np.ndarray) -> tuple[int, np.ndarray]:
    """The step's best candidate and the neurons that fire.

    ``eligible`` marks neurons that have not fired earlier in the sample. The candidate is the
    eligible neuron with the largest margin, the lowest index on a tie; it is a winner only if its
    margin is >= 0. Every eligible neuron with margin >= 0 fires. Returns (candidate or -1 when
    nobody is eligible, fires mask).
    """
    fires = eligible & (margins >= 0)
    if not eligible.any():
        return -1, fires
    masked = np.where(eligible, margins, np.iinfo(np.int64).min)
    return int(np.argmax(masked)), fires


def stdp_delta(w: np.ndarray, t_pre: np.ndarray, t_post: int, rand: np.ndarray,
               cfg: StdpWidths, a_plus: int, a_minus: int) -> np.ndarray:
    """New weights of the winner's live synapses after one multiplicative STDP update.

    dw = (a * w * (w_max - w) + r) >> S with a = a_plus when t_pre <= t_post (an input that never
    spiked has t_pre = T, so it is late), else a_minus; r is the low S bits of the LFSR state
    (stochastic rounding, floor shift), S = stdp_frac_bits + weight_bits. Result clamped to
    0..w_max.
    """
    s = cfg.stdp_shift
    a = np.where(t_pre <= t_post, a_plus, a_minus).astype(np.int64)
    w64 = w.astype(np.int64)
    r = (rand.astype(np.int64)) & ((1 << s) - 1)
    dw = (a * w64 * (cfg.w_max - w64) + r) >> s
    return np.clip(w64 + dw, 0, cfg.w_max)


def prune_decision(w_new: np.ndarray, enabled: bool, prune_threshold: int) -> np.ndarray:
    """True where a learned weight fell below the prune threshold: the synapse is removed."""
    if not enabled:
        return np.zeros(w_new.shape, dtype=bool)
    return w_new < prune_threshold


def homeo_decay(adapt: np.ndarray, decay_shift: int) -> np.ndarray:
    """Threshold adaptation decay at the start of a learning sample; shift 0 = no decay."""
    return adapt - (adapt >> decay_shift) if decay_shift else adapt


def homeo_win(adapt: int, inc: int, adapt_max: int) -> int:
    """Threshold adaptation of a winner: add ``inc``, saturate at ``adapt_max``."""
    return min(adapt + inc, adapt_max)
