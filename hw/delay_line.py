"""DelayLine: a fixed delay of a word through a small RAM instead of a chain of registers.

A pipeline that carries a synapse's addresses through ten stages only to use them at the last one
spends ten registers per bit; on an iCE40 every register is a logic cell. Here the word is written
into a circular buffer every cycle and read back ``delay`` cycles later, so the whole delay costs
one RAM (block RAM on iCE40, distributed RAM on ECP5) and a pointer.

Contract: ``out`` in cycle c + ``delay`` is ``data`` of cycle c, every cycle, whatever is in the
buffer; before the first ``delay`` cycles after reset it is whatever the RAM held (zero after
configuration).
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .synthesis import COLLISION_FREE


def register_chain(m: Module, value: Value, stages: int, *, name: str = "delay",
                   reset_less: bool = False,
                   attrs: Mapping[str, object] | None = None) -> list[Signal]:
    """``value`` registered ``stages`` times in ``m``'s sync domain; element s-1 is its copy s
    cycles later (registers named ``name1``, ``name2``, ...). For short delays and for values
    that must be reset, where a ``DelayLine`` RAM does not pay; ``reset_less`` for data that
    the domain's reset need not reach; ``attrs``: synthesis attributes of every register."""
    out: list[Signal] = []
    for s in range(1, stages + 1):
        reg = Signal(Value.cast(value).shape(), name=f"{name}{s}", reset_less=reset_less,
                     attrs=attrs)
        m.d.sync += reg.eq(value if not out else out[-1])
        out.append(reg)
    return out


class DelayLine(wiring.Component):
    """``out`` = ``data`` delayed by ``delay`` >= 2 cycles (one cycle is the RAM's read
    register, the rest the distance between write and read pointers). ``ram_attrs``:
    synthesis attributes of the RAM (``hw.synthesis``)."""

    def __init__(self, *, width: int, delay: int,
                 ram_attrs: Mapping[str, object] | None = None) -> None:
        for name, value in (("width", width), ("delay", delay)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"DelayLine: {name} must be an int, not {type(value).__name__}")
        if width < 1:
            raise ValueError(f"DelayLine: width must be >= 1, not {width}")
        if delay < 2:
            raise ValueError(f"DelayLine: delay must be >= 2, not {delay}")
        self.width, self.delay = width, delay
        self.ram_attrs = dict(ram_attrs or {})
        super().__init__({"data": In(width), "out": Out(width)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        depth = 1 << self.delay.bit_length()  # > delay - 1: reads never meet the write
        # (so the synthesis tool needs no logic for a read of the word being written)
        m.submodules.buf = buf = Memory(shape=self.width, depth=depth, init=[],
                                        attrs={**self.ram_attrs, COLLISION_FREE: 1})
        wr, rd = buf.write_port(), buf.read_port()
        ptr = Signal(range(depth))
        m.d.sync += ptr.eq(ptr + 1)  # wraps: depth is a power of two
        m.d.comb += [wr.addr.eq(ptr), wr.data.eq(self.data), wr.en.eq(1),
                     rd.addr.eq(ptr - (self.delay - 1)), self.out.eq(rd.data)]
        return m
