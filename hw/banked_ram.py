"""BankedRam: a large memory split into block-RAM-sized banks, pipelined for a 100 MHz ECP5.

Yosys maps a deep memory onto a column of block RAMs and puts the bank-select multiplexer right
after their outputs, so the slow clock-to-out of an ECP5 DP16KD without its output register
(5.8 ns at speed grade 6, ECP5 data sheet FPGA-DS-02012) is followed by a LUT tree in the same
cycle. Here every bank is its own ``lib.memory.Memory`` of one block's depth, each read is
registered next to its block, and the bank multiplexer has a cycle of its own. Addresses, write
data and write enable are registered on the way in, so the address decode and the fan-out to
every bank are a cycle of their own too.

Ports ``read`` (addr, data) and ``write`` (addr, data, en) have the member names of
``lib.memory``'s ports. Timing contract, with ``latency`` L in 4..7 (whatever the depth): a read
address presented in cycle c gives its word on ``read.data`` in cycle c + L. Stages: input
registers (two when L >= 5: one next to the logic that computes the address, one next to the
banks), the bank read, the register next to each bank, the bank multiplexer, and when L >= 6 one
more register after it (so the word can travel to its user in a cycle of its own); L = 7 splits
the bank multiplexer in two registered levels (groups of ``GROUP`` banks, then the groups) and
gives each group its own copy of the input registers next to the banks, so that no cycle spans
the distance from the farthest bank of a die-wide memory to its user. All registers are
reset-less. A write
presented in cycle c is done by the end of cycle c + L - 3; a read presented one cycle later or
after sees it (reads and writes pass through the same input registers, so their order is kept).
A read presented in the same cycle as a write to the same address may return any word: block
RAMs leave such a collision undefined, and keeping the old word would cost a comparator and a
bypass per bank (every bank carries the ``hw.synthesis.COLLISION_FREE`` attribute, and the board
build tells Yosys so).
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Array, Module, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .delay_line import register_chain
from .synthesis import COLLISION_FREE

# DP16KD depth for a data width (the widest aspect ratio a word still fits in: 16K x 1 ... 1K x
# 18; wider words use several x18 blocks side by side).
_DP16KD_ASPECTS = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024))


def block_depth(width: int) -> int:
    """Words of ``width`` bits that one ECP5 DP16KD holds in its best aspect ratio."""
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width must be a positive int, not {width!r}")
    for max_width, depth in _DP16KD_ASPECTS:
        if width <= max_width:
            return depth
    return 1024


def ram_ports(width: int, depth: int) -> dict[str, wiring.Member]:
    """The ports ``read`` (addr, data) and ``write`` (addr, data, en) of a memory of ``depth``
    words of ``width`` bits, with the member names of ``lib.memory``'s ports, seen from the
    user's side (``BankedRam``, ``SinglePortRam``)."""
    addr = range(depth)
    return {
        "read": In(wiring.Signature({"addr": Out(addr), "data": In(width)})),
        "write": In(wiring.Signature({"addr": Out(addr), "data": Out(width), "en": Out(1)})),
    }


class BankedRam(wiring.Component):
    """``depth`` words of ``width`` bits in banks of ``block_depth(width)`` words (or
    ``bank_depth`` when given), with one read and one write port. Contents start at zero.
    ``reg_attrs``: synthesis attributes of every register here (``hw.synthesis``: ``keep``, so
    that the copies of the input registers per group of banks, and the lanes' RAMs' registers
    that see the same addresses, stay apart)."""

    GROUP = 4  # banks per first-level multiplexer at latency 7 (a 4:1 mux is one ECP5 slice)

    def __init__(self, *, width: int, depth: int, bank_depth: int | None = None,
                 latency: int = 4, reg_attrs: Mapping[str, object] | None = None) -> None:
        for name, value in (("width", width), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"BankedRam: {name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"BankedRam: {name} must be >= 1, not {value}")
        if not isinstance(latency, int) or not 4 <= latency <= 7:
            raise ValueError(f"BankedRam: latency must be in 4..7, not {latency!r}")
        self.latency = latency
        self.reg_attrs = dict(reg_attrs or {})
        if bank_depth is None:
            bank_depth = block_depth(width)
        if not isinstance(bank_depth, int) or bank_depth < 1 or bank_depth & (bank_depth - 1):
            raise ValueError(f"BankedRam: bank_depth must be a power of two, not {bank_depth!r}")
        self.width, self.depth = width, depth
        self.bank_depth = min(bank_depth, 1 << max(0, (depth - 1).bit_length()))
        self.banks = -(-depth // self.bank_depth)
        super().__init__(ram_ports(width, depth))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        attrs = self.reg_attrs
        low = max(0, (self.bank_depth - 1).bit_length())
        # the inputs, registered once (next to the user's logic) ...
        inputs = (self.read.addr, self.write.addr, self.write.data, self.write.en)

        # Every register here is reset-less: a word in flight is harmless after a reset (a
        # write in flight was requested before it), and the reset net then reaches none of the
        # thousands of registers around the block RAMs.
        def registered(values: tuple[Value, ...], name: str) -> tuple[Signal, ...]:
            regs = tuple(Signal(x.shape(), name=f"{name}_{n}", reset_less=True,
                                attrs=attrs)
                         for n, x in enumerate(values))
            m.d.sync += [r.eq(x) for r, x in zip(regs, values, strict=True)]
            return regs

        inputs = registered(inputs, "in0")
        # ... and for L >= 5 once more next to the banks: at L = 7 one copy per group of GROUP
        # banks, so no register drives block RAMs spread over the whole die (the board build
        # keeps Yosys from merging the copies back into one: reg_attrs)
        copies = -(-self.banks // self.GROUP) if self.latency == 7 else 1
        near = ([registered(inputs, f"in1g{g}") for g in range(copies)] if self.latency >= 5
                else [inputs])
        # stage 2: every bank reads (registered inside the RAM); stage 3: the register next to it
        bank_q = []
        for b in range(self.banks):
            rd_addr, wr_addr, wr_data, wr_en = near[b // self.GROUP if copies > 1 else 0]
            depth = min(self.bank_depth, self.depth - b * self.bank_depth)
            bank = Memory(shape=Shape(self.width), depth=depth, init=[],
                          attrs={COLLISION_FREE: 1})
            m.submodules[f"bank{b}"] = bank
            rd, wr = bank.read_port(), bank.write_port()
            m.d.comb += [rd.addr.eq(rd_addr[:low]), wr.addr.eq(wr_addr[:low]),
                         wr.data.eq(wr_data), wr.en.eq(wr_en & (wr_addr[low:] == b))]
            q = Signal(self.width, name=f"bank_q{b}", reset_less=True, attrs=attrs)
            m.d.sync += q.eq(rd.data)
            bank_q.append(q)
        # the bank number of the read, alongside the bank read and the register after it
        bank_no = near[0][0][low:]
        if self.latency == 7:
            # first level: a registered multiplexer per group of GROUP banks, selected from the
            # group's own copy of the address
            groups = []
            for g in range(copies):
                q = Signal(self.width, name=f"group_q{g}", reset_less=True, attrs=attrs)
                members = bank_q[g * self.GROUP:(g + 1) * self.GROUP]
                if len(members) > 1:
                    pick = register_chain(m, near[g][0][low:] % self.GROUP, 2,
                                          name=f"sel_g{g}", reset_less=True,
                                          attrs=attrs)
                    m.d.sync += q.eq(Array(members)[pick[-1]])
                else:
                    m.d.sync += q.eq(members[0])
                groups.append(q)
            bank_q, sel = groups, register_chain(m, bank_no // self.GROUP, 3,
                                                 name="group_sel", reset_less=True,
                                                 attrs=attrs)
        else:
            sel = register_chain(m, bank_no, 2, name="sel", reset_less=True, attrs=attrs)
        # the bank (or group) multiplexer, registered (and once more for latency >= 6)
        word = Signal(self.width, reset_less=True, attrs=attrs)
        m.d.sync += word.eq(Array(bank_q)[sel[-1]] if len(bank_q) > 1 else bank_q[0])
        if self.latency >= 6:
            out = Signal(self.width, name="word_q", reset_less=True, attrs=attrs)
            m.d.sync += out.eq(word)
            word = out
        m.d.comb += self.read.data.eq(word)
        return m

