"""Lockstep walk over the set bits of bitmap words: the mechanism that skips pruned synapses.

Each input entry carries a tag and one ``width``-bit word per lane. Every cycle each lane takes the
lowest set bit still left in its word; the entry is finished in the cycle when no lane has a bit
left, and the next entry starts in the following cycle. An entry therefore occupies exactly
``max(1, max over lanes of popcount)`` cycles, whatever the number of pruned (zero) bits: the
cost of a row or column is set by its live synapses only.

Entries wait in a small FIFO so the producer's memory reads run ahead of the walk; an entry
written into the empty FIFO can be taken two cycles later.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out


def one_hot_index(one_hot: Signal, width: int) -> Signal:
    """Binary index of a one-hot value as a tree of ORs (no priority chain)."""
    bits = max(1, (width - 1).bit_length())
    out = []
    for n in range(bits):
        terms = [one_hot[b] for b in range(width) if (b >> n) & 1]
        bit = terms[0] if terms else 0
        for term in terms[1:]:
            bit = bit | term
        out.append(bit)
    return Cat(*out)


def two_or_more(bits: Value) -> Value:
    """1 when two or more bits of ``bits`` are set: a tree of (any, several) pairs in LUTs,
    shallower than ``bits & (bits - 1)`` through a carry chain."""

    def tree(lo: int, hi: int) -> tuple[Value, Value]:
        if hi - lo == 1:
            return bits[lo], Const(0, 1)
        mid = (lo + hi) // 2
        (any_a, multi_a), (any_b, multi_b) = tree(lo, mid), tree(mid, hi)
        return any_a | any_b, multi_a | multi_b | (any_a & any_b)

    return tree(0, len(bits))[1]


def three_or_more(bits: Value) -> Value:
    """1 when three or more bits of ``bits`` are set: a tree of (any, two or more, three or
    more) triples in LUTs. ``three_or_more(rem)`` is ``two_or_more`` of ``rem`` without its
    lowest set bit, with no carry chain for the lowest bit in front."""

    def tree(lo: int, hi: int) -> tuple[Value, Value, Value]:
        if hi - lo == 1:
            return bits[lo], Const(0, 1), Const(0, 1)
        mid = (lo + hi) // 2
        (a1, a2, a3), (b1, b2, b3) = tree(lo, mid), tree(mid, hi)
        return a1 | b1, a2 | b2 | (a1 & b1), a3 | b3 | (a2 & b1) | (a1 & b2)

    return tree(0, len(bits))[2]


class LockstepWalker(wiring.Component):
    """Walk ``lanes`` bitmap words of ``width`` bits in lockstep, one set bit per lane per cycle.

    ``entries``: stream of {tag, words}; ``out`` (no back-pressure, valid for one cycle): the tag,
    per lane ``hit`` and ``bit`` (the index of the bit taken), and ``last`` (the entry's final
    visit). ``out`` is registered: it shows the visit the walk made one cycle earlier, so the
    index logic and the consumer's address arithmetic sit in different cycles. ``idle`` is high
    when no entry is queued, being walked or still in ``out``.
    """

    def __init__(self, *, lanes: int, width: int, tag_layout: data.Layout | int,
                 depth: int = 8) -> None:
        for name, value in (("lanes", lanes), ("width", width), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, not {value}")
        self.lanes, self.width, self.depth = lanes, width, depth
        bit_bits = max(1, (width - 1).bit_length())
        self.entry_layout = data.StructLayout({
            "tag": tag_layout, "words": data.ArrayLayout(width, lanes)})
        super().__init__({
            "entries": In(stream.Signature(self.entry_layout)),
            "level": Out(range(depth + 1)),
            "out": Out(data.StructLayout({
                "valid": 1, "last": 1, "tag": tag_layout,
                "hit": data.ArrayLayout(1, lanes), "bit": data.ArrayLayout(bit_bits, lanes)})),
            "idle": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # buffered: the storage is read synchronously, so it can be block RAM (iCE40 has no
        # distributed RAM, and the entries are wide). Its inner memory holds depth - 1 entries
        # plus the output register, and refuses a write while the memory is full even when the
        # output register is about to empty: one entry more keeps the producer's level count
        # (entries + reads in flight < depth) sufficient.
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.entry_layout.size,
                                                    depth=self.depth + 1)
        m.d.comb += [
            fifo.w_data.eq(self.entries.payload), fifo.w_en.eq(self.entries.valid),
            self.entries.ready.eq(fifo.w_rdy), self.level.eq(fifo.level),
        ]
        head = data.View(self.entry_layout, fifo.r_data)
        busy = Signal()
        tag = Signal.like(self.out.tag)
        # (reset-less: the words matter only while busy, which is reset)
        rem = [Signal(self.width, name=f"rem{p}", reset_less=True) for p in range(self.lanes)]
        left = []
        for p in range(self.lanes):
            low = Signal(self.width, name=f"low{p}")
            m.d.comb += low.eq(rem[p] & -rem[p])
            m.d.sync += [
                self.out.hit[p].eq(busy & (rem[p] != 0)),
                self.out.bit[p].eq(one_hot_index(low, self.width)),
            ]
            left.append(rem[p] & ~low)
        # The entry finishes when no lane has a bit left after this visit. Whether some lane
        # has two or more bits left (multi) is kept in a register, computed with the next rem,
        # so that the finish decision, whose fan-out is every rem bit and the FIFO's read, is
        # one LUT from registers.
        multi = Signal()
        finishing = busy & ~multi
        m.d.sync += [self.out.valid.eq(busy), self.out.last.eq(finishing), self.out.tag.eq(tag)]
        m.d.comb += self.idle.eq(~busy & (fifo.level == 0) & ~self.out.valid)
        with m.If(busy):
            m.d.sync += [r.eq(x) for r, x in zip(rem, left, strict=True)]
            m.d.sync += multi.eq(Cat(*[three_or_more(r) for r in rem]).any())
        take = (~busy | finishing) & fifo.r_rdy
        m.d.comb += fifo.r_en.eq(take)
        with m.If(take):
            m.d.sync += [busy.eq(1), tag.eq(head.tag)]
            m.d.sync += [rem[p].eq(head.words[p]) for p in range(self.lanes)]
            m.d.sync += multi.eq(Cat(*[two_or_more(head.words[p])
                                       for p in range(self.lanes)]).any())
        with m.Elif(finishing):
            m.d.sync += busy.eq(0)
        return m
