"""Lockstep walk over the set bits of bitmap words: the mechanism that skips pruned synapses.

Each input entry carries a tag and one ``width``-bit word per lane. Every cycle each lane takes the
lowest set bit still left in its word; the entry is finished in the cycle when no lane has a bit
left, and the next entry starts in the following cycle. An entry therefore occupies exactly
``max(1, max over lanes of popcount)`` cycles, whatever the number of pruned (zero) bits: the
cost of a row or column is set by its live synapses only.

Entries wait in a small FIFO so the producer's memory reads run ahead of the walk. Each lane's
"two or more bits set" flag is computed on the way in and stored with the entry, so that the
flag logic and the finish decision sit in different cycles. An entry offered while the walker is
empty can be taken two cycles later.

``paced``: the walk advances only in cycles where ``pace`` is high (an entry is taken, a bit
visited, an entry finished); in the others it holds. A user that raises ``pace`` every other
cycle gets a visit every other cycle, and the cycles between free for its write-backs
(``hw.learning`` with single-port memories).

``pipelined`` (a walker spread over a large die): the entry is registered twice on its way in,
the lanes' bits are counted (and the flags computed) between and after the two registers, and
each lane's bits still to visit are a counter, not a count over its word: the producer's words
(which may come from block RAMs all over the die), the counting and the finish decision sit in
cycles of their own, and the decision is a few LUTs from registers. An entry can then be taken
four cycles after it is offered, and ``out`` shows a visit two cycles after it was made (the
lowest set bit, one-hot, and its index in cycles of their own).
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .synthesis import COLLISION_FREE


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


def sum_tree(terms: list[Value]) -> Value:
    """The sum of ``terms``: a balanced tree of additions (a chain would add its length in
    carry chains)."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def popcount(bits: Value) -> Value:
    """The number of set bits of ``bits``."""
    return sum_tree([bits[i] for i in range(len(bits))])


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


class _AttributedFifo(SyncFIFOBuffered):
    """``SyncFIFOBuffered`` whose memory (its submodule ``storage``) carries ``storage_attrs``:
    ``lib.fifo`` takes no attributes for the memory it makes. The memory is also marked
    ``COLLISION_FREE``: its read (enabled only while the queue holds an entry) and its write
    (only while it has room) meet at one address only when it is empty or full, so never both,
    and the synthesis tool needs no bypass logic for such a meeting (on the UP5K that logic was
    a flip-flop per bit of each walker's entries)."""

    def __init__(self, *, width: int, depth: int, storage_attrs: Mapping[str, object]) -> None:
        super().__init__(width=width, depth=depth)
        self.storage_attrs = {**storage_attrs, COLLISION_FREE: 1}

    def elaborate(self, platform: object) -> Module:
        m = super().elaborate(platform)
        m.submodules.storage.attrs.update(self.storage_attrs)
        return m


class LockstepWalker(wiring.Component):
    """Walk ``lanes`` bitmap words of ``width`` bits in lockstep, one set bit per lane per cycle.

    ``entries``: stream of {tag, words}, taken whenever valid: the producer keeps the entries it
    has issued and not yet seen ``taken`` (in its pipeline or queued here) at most ``depth``
    (``ready`` is the FIFO's, for a check). ``taken`` is high in the cycle an entry leaves the
    queue to be walked: a credit back to the producer, so that its issue decision is a counter
    compared with zero, not a sum of occupancies.
    ``out`` (no back-pressure, valid for one cycle): the tag, per lane ``hit`` and ``bit`` (the
    index of the bit taken), and ``last`` (the entry's final visit). ``out`` is registered: it
    shows the visit the walk made one cycle earlier, so the index logic and the consumer's
    address arithmetic sit in different cycles. ``idle`` is high when no entry is queued, being
    walked or still in ``out``. ``fifo_attrs``: synthesis attributes of the FIFO's memory
    (``hw.synthesis``). ``paced``: a ``pace`` input gates every step of the walk.
    """

    def __init__(self, *, lanes: int, width: int, tag_layout: data.Layout | int,
                 depth: int = 8, pipelined: bool = False, paced: bool = False,
                 fifo_attrs: Mapping[str, object] | None = None) -> None:
        for name, value in (("lanes", lanes), ("width", width), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, not {value}")
        for name, flag in (("pipelined", pipelined), ("paced", paced)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
        self.lanes, self.width, self.depth = lanes, width, depth
        self.pipelined, self.paced = pipelined, paced
        self.fifo_attrs = dict(fifo_attrs or {})
        bit_bits = max(1, (width - 1).bit_length())
        self.entry_layout = data.StructLayout({
            "tag": tag_layout, "words": data.ArrayLayout(width, lanes)})
        # what the FIFO holds: the entry and, per lane, whether its word has two or more bits
        # (pipelined: and how many)
        stored = {"entry": self.entry_layout, "several": data.ArrayLayout(1, lanes)}
        if pipelined:
            stored["count"] = data.ArrayLayout(width.bit_length(), lanes)
        self.stored_layout = data.StructLayout(stored)
        super().__init__({
            "entries": In(stream.Signature(self.entry_layout)),
            "taken": Out(1),
            "out": Out(data.StructLayout({
                "valid": 1, "last": 1, "tag": tag_layout,
                "hit": data.ArrayLayout(1, lanes), "bit": data.ArrayLayout(bit_bits, lanes)})),
            "idle": Out(1),
            **({"pace": In(1)} if paced else {}),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # buffered: the storage is read synchronously, so it can be block RAM (iCE40 has no
        # distributed RAM, and the entries are wide). Its inner memory holds depth - 1 entries
        # plus the output register, and refuses a write while the memory is full even when the
        # output register is about to empty: one entry more keeps the producer's credit count
        # (entries issued and not yet taken <= depth) sufficient.
        m.submodules.fifo = fifo = _AttributedFifo(width=self.stored_layout.size,
                                                   depth=self.depth + 1,
                                                   storage_attrs=self.fifo_attrs)
        # the entry as offered, or (pipelined) after two registers (reset-less but for valid),
        # the lanes' bits counted in groups of 8 between them and the groups added after
        stored = Signal(self.stored_layout)
        if self.pipelined:
            a_valid, b_valid = Signal(), Signal()
            a_entry = Signal(self.entry_layout, reset_less=True)
            b_entry = Signal(self.entry_layout, reset_less=True)
            m.d.sync += [a_valid.eq(self.entries.valid), a_entry.eq(self.entries.payload),
                         b_valid.eq(a_valid), b_entry.eq(a_entry)]
            several = Signal(self.lanes, reset_less=True)
            m.d.sync += several.eq(Cat(*[two_or_more(a_entry.words[p])
                                         for p in range(self.lanes)]))
            for p in range(self.lanes):
                word = a_entry.words[p]
                groups = []
                for g in range(0, self.width, 8):
                    part = popcount(word[g:g + 8])
                    group = Signal(part.shape(), name=f"count{p}_{g // 8}", reset_less=True)
                    m.d.sync += group.eq(part)
                    groups.append(group)
                m.d.comb += stored.count[p].eq(sum_tree(groups))
            in_valid, in_entry = b_valid, b_entry
        else:
            in_valid, in_entry = self.entries.valid, self.entries.payload
            several = Cat(*[two_or_more(in_entry.words[p]) for p in range(self.lanes)])
        m.d.comb += [stored.entry.eq(in_entry), stored.several.eq(several)]
        m.d.comb += [
            fifo.w_data.eq(stored), fifo.w_en.eq(in_valid),
            self.entries.ready.eq(fifo.w_rdy),
        ]
        head = data.View(self.stored_layout, fifo.r_data)
        busy = Signal()
        tag = Signal.like(self.out.tag)
        # (reset-less: the words and counts matter only while busy, which is reset)
        rem = [Signal(self.width, name=f"rem{p}", reset_less=True) for p in range(self.lanes)]
        if self.pipelined:  # the bits left in rem, counted down
            cnt = [Signal(self.width.bit_length(), name=f"cnt{p}", reset_less=True)
                   for p in range(self.lanes)]
        lows, left = [], []
        for p in range(self.lanes):
            low = Signal(self.width, name=f"low{p}")
            m.d.comb += low.eq(rem[p] & -rem[p])
            lows.append(low)
            left.append(rem[p] & ~low)
        # The entry finishes when no lane has a bit left after this visit. Whether some lane
        # has two or more bits left (multi) is kept in a register, computed with the next rem,
        # so that the finish decision, whose fan-out is every rem bit and the FIFO's read, is
        # one LUT from registers.
        multi = Signal()
        # paced: every step waits for pace (rem, counts and multi hold in the other cycles)
        step = self.pace if self.paced else 1
        finishing = busy & ~multi & step if self.paced else busy & ~multi
        # this cycle's visit: valid, last, tag, per lane hit and the bit taken (one-hot)
        active = busy & step if self.paced else busy  # a visit is made this cycle
        visit = [active, finishing, Value.cast(tag),
                 Cat(*[active & ((cnt[p] if self.pipelined else rem[p]) != 0)
                       for p in range(self.lanes)]), *lows]
        if self.pipelined:  # registered once more before the index of the bit is taken
            held = [Signal(len(x), name=f"visit{n}") for n, x in enumerate(visit)]
            m.d.sync += [h.eq(x) for h, x in zip(held, visit, strict=True)]
            visit = held
        v_valid, v_last, v_tag, v_hit, *v_low = visit
        m.d.sync += [self.out.valid.eq(v_valid), self.out.last.eq(v_last), self.out.tag.eq(v_tag)]
        m.d.sync += [self.out.hit[p].eq(v_hit[p]) for p in range(self.lanes)]
        m.d.sync += [self.out.bit[p].eq(one_hot_index(v_low[p], self.width))
                     for p in range(self.lanes)]
        idle = ~busy & (fifo.level == 0) & ~self.out.valid
        m.d.comb += self.idle.eq(idle & ~a_valid & ~b_valid & ~v_valid if self.pipelined
                                 else idle)
        take = (~busy | finishing) & fifo.r_rdy
        if self.paced:
            take = take & step
            left = [Mux(step, x, r) for r, x in zip(rem, left, strict=True)]
        m.d.comb += [fifo.r_en.eq(take), self.taken.eq(take)]
        # rem and multi have no enable (they matter only while busy, and a taken entry sets
        # them): one multiplexer select, not an enable and a select, fans out to every bit
        m.d.sync += [r.eq(Mux(take, head.entry.words[p], x))
                     for p, (r, x) in enumerate(zip(rem, left, strict=True))]
        if self.pipelined:
            counted = [c - (c != 0) for c in cnt]
            if self.paced:
                counted = [Mux(step, x, c) for c, x in zip(cnt, counted, strict=True)]
            m.d.sync += [c.eq(Mux(take, head.count[p], x))
                         for p, (c, x) in enumerate(zip(cnt, counted, strict=True))]
            three = [c >= 3 for c in cnt]
        else:
            three = [three_or_more(r) for r in rem]
        multi_next = Cat(*three).any()
        if self.paced:
            multi_next = Mux(step, multi_next, multi)
        m.d.sync += multi.eq(Mux(take, head.several.as_value().any(), multi_next))
        with m.If(take):
            m.d.sync += [busy.eq(1), tag.eq(head.entry.tag)]
        with m.Elif(finishing):
            m.d.sync += busy.eq(0)
        return m
