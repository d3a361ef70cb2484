"""The 32-bit Galois LFSR: the single step by hand, and the block-wise stream against the chain."""

from __future__ import annotations

import numpy as np
import pytest

from synaprune.model import lfsr as lfsr_mod
from synaprune.model.lfsr import TOGGLE_MASK, LfsrStream, lfsr_step


def chain(seed: int, n: int) -> list[int]:
    """Independent reference: n states state_0 = seed, state_{u+1} = lfsr_step(state_u)."""
    out = []
    s = seed
    for _ in range(n):
        out.append(s)
        s = lfsr_step(s)
    return out


# ---------------------------------------------------------------------------------------------
# single step, by hand
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "expected"), [
    # lsb 1: 1 >> 1 = 0, 0 ^ 0x80200003 = 0x80200003
    (0x00000001, 0x80200003),
    # lsb 0: plain shift
    (0x00000002, 0x00000001),
    (0x80000000, 0x40000000),
    # lsb 1: 0x80200003 >> 1 = 0x40100001, ^ 0x80200003 = 0xC0300002
    (0x80200003, 0xC0300002),
    # lsb 0: 0xC0300002 >> 1 = 0x60180001
    (0xC0300002, 0x60180001),
    # lsb 1: 0x60180001 >> 1 = 0x300C0000, ^ 0x80200003 = 0xB02C0003
    (0x60180001, 0xB02C0003),
    # lsb 1: 0x7FFFFFFF ^ 0x80200003 = 0xFFDFFFFC
    (0xFFFFFFFF, 0xFFDFFFFC),
    # lsb 1: 0xACE1 >> 1 = 0x5670, ^ 0x80200003 = 0x80205673
    (0x0000ACE1, 0x80205673),
])
def test_lfsr_step_by_hand(state: int, expected: int) -> None:
    assert lfsr_step(state) == expected


def test_toggle_mask_is_taps_32_22_2_1() -> None:
    # right-shifting Galois form: tap k is bit k - 1
    assert sum(1 << (k - 1) for k in (32, 22, 2, 1)) == TOGGLE_MASK == 0x80200003


def test_lfsr_step_stays_32_bit() -> None:
    s = 0xFFFFFFFF
    for _ in range(1000):
        s = lfsr_step(s)
        assert 0 < s < (1 << 32)


# ---------------------------------------------------------------------------------------------
# maximal length: the step is a linear map M over GF(2)^32; the period of every nonzero state is
# 2**32 - 1 iff M**(2**32 - 1) = I and M**((2**32 - 1) / p) != I for every prime p dividing it.
# ---------------------------------------------------------------------------------------------
def _apply(cols: list[int], x: int) -> int:
    out = 0
    b = 0
    while x:
        if x & 1:
            out ^= cols[b]
        x >>= 1
        b += 1
    return out


def _compose(a: list[int], b: list[int]) -> list[int]:
    """Columns of the map a(b(x))."""
    return [_apply(a, c) for c in b]


def _power(cols: list[int], n: int) -> list[int]:
    result = [1 << b for b in range(32)]
    base = cols
    while n:
        if n & 1:
            result = _compose(base, result)
        base = _compose(base, base)
        n >>= 1
    return result


def test_lfsr_is_maximal_length() -> None:
    m = [lfsr_step(1 << b) for b in range(32)]
    identity = [1 << b for b in range(32)]
    period = (1 << 32) - 1
    assert period == 3 * 5 * 17 * 257 * 65537
    assert _power(m, period) == identity
    for p in (3, 5, 17, 257, 65537):
        assert _power(m, period // p) != identity, p
    # sanity of the helper: a small power equals the chain
    assert _apply(_power(m, 7), 0xACE1) == chain(0xACE1, 8)[7]


# ---------------------------------------------------------------------------------------------
# LfsrStream
# ---------------------------------------------------------------------------------------------
def test_stream_first_states_by_hand() -> None:
    st = LfsrStream(1)
    out = st.take(6)
    assert out.dtype == np.uint32
    # states from the hand-worked steps above, plus 0xB02C0003 >> 1 = 0x58160001,
    # ^ 0x80200003 = 0xD8360002
    assert out.tolist() == [0x1, 0x80200003, 0xC0300002, 0x60180001, 0xB02C0003, 0xD8360002]


@pytest.mark.parametrize("seed", [0xACE1, 1, 0xFFFFFFFF, 0x80000000, 0x12345678])
@pytest.mark.parametrize("lengths", [
    (1, 5000, 3),
    (4095, 1, 1, 2),
    (4096, 4096, 1),
    (0, 4097, 0, 8191, 5),
    (10000,),
])
def test_stream_take_equals_sequential_chain(seed: int, lengths: tuple[int, ...]) -> None:
    st = LfsrStream(seed)
    ref = chain(seed, sum(lengths) + 1)
    pos = 0
    for n in lengths:
        assert st.peek_state() == ref[pos]
        assert st.count == pos
        out = st.take(n)
        assert len(out) == n
        assert out.tolist() == ref[pos:pos + n]
        pos += n
    assert st.count == pos
    assert st.peek_state() == ref[pos]


def test_peek_state_does_not_advance() -> None:
    st = LfsrStream(0xACE1)
    assert st.peek_state() == 0xACE1
    assert st.peek_state() == 0xACE1
    assert st.count == 0
    assert st.take(1).tolist() == [0xACE1]
    assert st.peek_state() == 0x80205673
    assert st.count == 1


def test_peek_state_at_block_boundary() -> None:
    n = 4096
    ref = chain(7, n + 2)
    st = LfsrStream(7)
    st.take(n)
    assert st.peek_state() == ref[n]
    assert st.take(2).tolist() == ref[n:n + 2]


def test_taken_states_are_not_overwritten_later() -> None:
    st = LfsrStream(0xACE1)
    first = st.take(10)
    kept = first.tolist()
    st.take(20000)
    assert first.tolist() == kept == chain(0xACE1, 10)


def test_streams_are_independent() -> None:
    a, b = LfsrStream(5), LfsrStream(5)
    a.take(100)
    assert b.take(3).tolist() == chain(5, 3)
    assert a.take(1).tolist() == [chain(5, 101)[100]]


def test_block_size_crossing_uses_module_block() -> None:
    # the lengths above are chosen around the block size; make sure it is still 4096
    assert lfsr_mod._BLOCK == 4096


@pytest.mark.parametrize("seed", [0, 1 << 32, -1, (1 << 32) + 5])
def test_bad_seed_rejected(seed: int) -> None:
    with pytest.raises(ValueError, match="seed"):
        LfsrStream(seed)
