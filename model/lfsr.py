"""The 32-bit Galois LFSR that drives stochastic rounding in STDP, as a reproducible stream.

Hardware and model share one definition: state_0 is the seed, state_{u+1} = step(state_u), and
the u-th synaptic update of a run rounds with the low S bits of state_u. Because every step is
linear over GF(2), the model produces states in blocks with precomputed jump tables instead of a
Python loop per update.
"""

from __future__ import annotations

import numpy as np

TOGGLE_MASK = 0x80200003  # taps 32, 22, 2, 1: a maximal-length polynomial, right-shifting form
_BLOCK = 4096


def lfsr_step(state: int) -> int:
    """One step of the right-shifting Galois LFSR (the hardware does exactly this)."""
    lsb = state & 1
    state >>= 1
    return state ^ TOGGLE_MASK if lsb else state


def _step_vec(states: np.ndarray) -> np.ndarray:
    lsb = states & np.uint32(1)
    return (states >> np.uint32(1)) ^ (lsb * np.uint32(TOGGLE_MASK))


def _jump_table(block: int) -> np.ndarray:
    """table[k, b] = the state reached after k steps from the state with only bit b set."""
    table = np.empty((block, 32), dtype=np.uint32)
    basis = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)
    for k in range(block):
        table[k] = basis
        basis = _step_vec(basis)
    return table


_TABLE: np.ndarray | None = None


class LfsrStream:
    """Consecutive LFSR states, handed out in order by ``take``."""

    def __init__(self, seed: int) -> None:
        if not 0 < seed < (1 << 32):
            raise ValueError(f"LFSR seed must be a nonzero 32-bit value, not {seed:#x}")
        self._next_block_start = seed
        self._buf = np.empty(0, dtype=np.uint32)
        self._pos = 0
        self.count = 0  # states handed out so far

    def _refill(self) -> None:
        global _TABLE
        if _TABLE is None:
            _TABLE = _jump_table(_BLOCK)
        s = self._next_block_start
        bits = ((s >> np.arange(32)) & 1).astype(bool)
        block = np.bitwise_xor.reduce(_TABLE[:, bits], axis=1) if bits.any() else None
        assert block is not None  # a nonzero seed never reaches the all-zero state
        rest = self._buf[self._pos:]
        self._buf = np.concatenate([rest, block.astype(np.uint32)])
        self._pos = 0
        self._next_block_start = lfsr_step(int(block[-1]))

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` states (uint32), advancing the stream by ``n`` steps."""
        if n < 0:
            raise ValueError(f"cannot take a negative number of LFSR states ({n})")
        while len(self._buf) - self._pos < n:
            self._refill()
        out = self._buf[self._pos:self._pos + n]
        self._pos += n
        self.count += n
        return out

    def peek_state(self) -> int:
        """The state the next ``take`` would hand out first (the hardware's LFSR register)."""
        if len(self._buf) - self._pos < 1:
            self._refill()
        return int(self._buf[self._pos])
