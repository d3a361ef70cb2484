"""SinglePortRam: a memory with one address for reads and writes, for the iCE40's SPRAM.

The iCE40 UP5K has four 256-Kbit single-port RAMs (SB_SPRAM256KA, 16K x 16) beside its thirty
4-Kbit block RAMs: the weights and row masks of a one-lane layer of 256 neurons fit there and
nowhere else. Yosys maps a memory onto them only when its read and its write share one address
(and the memory has no initial contents, which an SPRAM cannot hold: the build deletes them,
``hw.synthesis.NO_INIT``; the host writes every word before use).

Ports ``read`` (addr, data) and ``write`` (addr, data, en), as ``BankedRam``'s, with the same
timing contract for ``latency`` L in 4..7: a read address presented in cycle c gives its word
on ``read.data`` in cycle c + L; a write presented in cycle c is done by the end of cycle c + 1
(<= c + L - 3), and a read presented one cycle later or after sees it. One difference: a write
takes the cycle's one access, so a read presented in the same cycle as a write returns an
undefined word. The core never needs both in one cycle: integration only reads, a learning
pass of a core with these memories visits a synapse every other cycle and writes back an odd
number of cycles after its reads (``Config.single_port``), and the host and the regrowth unit
access them one word at a time.
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from .banked_ram import ram_ports
from .delay_line import register_chain


class SinglePortRam(wiring.Component):
    """``depth`` words of ``width`` bits behind one address, read latency ``latency`` (4..7);
    ``ram_attrs``: synthesis attributes of the memory (``hw.synthesis``: the SPRAM's
    ``ram_style`` and ``NO_INIT``). Contents start at zero in simulation."""

    def __init__(self, *, width: int, depth: int, latency: int = 4,
                 ram_attrs: Mapping[str, object] | None = None) -> None:
        for name, value in (("width", width), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"SinglePortRam: {name} must be an int, not "
                                f"{type(value).__name__}")
            if value < 1:
                raise ValueError(f"SinglePortRam: {name} must be >= 1, not {value}")
        if not isinstance(latency, int) or not 4 <= latency <= 7:
            raise ValueError(f"SinglePortRam: latency must be in 4..7, not {latency!r}")
        self.width, self.depth, self.latency = width, depth, latency
        self.ram_attrs = dict(ram_attrs or {})
        super().__init__(ram_ports(width, depth))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.ram = ram = Memory(shape=Shape(self.width), depth=self.depth, init=[],
                                        attrs=self.ram_attrs)
        # cycle c + 1: the access, its address chosen by the write enable (reset-less: a word
        # in flight is harmless after a reset, as in BankedRam)
        addr = Signal(range(self.depth), name="addr", reset_less=True)
        data = Signal(self.width, name="wdata", reset_less=True)
        en = Signal(name="we")
        m.d.sync += [addr.eq(Mux(self.write.en, self.write.addr, self.read.addr)),
                     data.eq(self.write.data), en.eq(self.write.en)]
        wr, rd = ram.write_port(), ram.read_port()
        # the read is disabled while writing: the SPRAM keeps its output then ("no change"),
        # and the memory's read port says the same
        m.d.comb += [wr.addr.eq(addr), wr.data.eq(data), wr.en.eq(en),
                     rd.addr.eq(addr), rd.en.eq(~en)]
        # c + 2: the word (the memory's own output register); registers up to c + L
        word = register_chain(m, rd.data, self.latency - 2, name="word", reset_less=True)[-1]
        m.d.comb += self.read.data.eq(word)
        return m
