"""Performance counters of the deep network's cores (``ConvCore``, ``PoolCore``).

A core's counters are one ``counters`` port, an ``ArrayLayout`` of ``counter_bits``-wide
counters indexed by the core's ``IntEnum`` of counter kinds; each counter is cumulative (never
cleared: the host takes differences) and wraps at ``counter_bits``.
"""

from __future__ import annotations

import enum

from amaranth.hdl import Module, Signal
from amaranth.lib import data

COUNTER_BITS_RANGE = range(8, 65)


def check_counter_bits(owner: str, counter_bits: object) -> None:
    """Raise ``TypeError`` / ``ValueError`` (prefixed by ``owner``) unless ``counter_bits`` is
    an int in 8..64."""
    if not isinstance(counter_bits, int) or isinstance(counter_bits, bool):
        raise TypeError(f"{owner}: counter_bits must be an int, not "
                        f"{type(counter_bits).__name__}")
    if counter_bits not in COUNTER_BITS_RANGE:
        raise ValueError(f"{owner}: counter_bits must be in {COUNTER_BITS_RANGE.start}.."
                         f"{COUNTER_BITS_RANGE.stop - 1}, not {counter_bits}")


def counters_layout(kinds: type[enum.IntEnum], counter_bits: int) -> data.ArrayLayout:
    """The ``counters`` port's layout: one ``counter_bits``-wide counter per member of
    ``kinds`` (whose values are 0 .. len - 1), at the member's value."""
    return data.ArrayLayout(counter_bits, len(kinds))


def counter_bank(m: Module, port: data.View, kinds: type[enum.IntEnum],
                 max_inc: int = 1) -> dict[enum.IntEnum, Signal]:
    """The counters of ``kinds`` behind ``port`` (a ``counters_layout`` view): each adds, every
    cycle, its increment (0 .. ``max_inc``). Returns the increments by kind, for the caller to
    drive combinationally (an undriven one stays 0)."""
    inc = {}
    for kind in kinds:
        name = kind.name.lower()
        count = Signal(len(port[kind]), name=f"count_{name}")
        inc[kind] = Signal(range(max_inc + 1), name=f"inc_{name}")
        m.d.sync += count.eq(count + inc[kind])
        m.d.comb += port[kind].eq(count)
    return inc
