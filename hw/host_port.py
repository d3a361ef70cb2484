"""HostPort: the host access port's boundary registers, its read pipeline and the counters.

The host's strobes and operands are registered at the boundary, so the command unit's logic and
the core's address multiplexers sit in different cycles: a strobe taken in cycle c (``host.ready``
= ``idle``) acts in cycle c + 1, where ``addr``, ``wdata``, ``write`` (the write strobe decoded
per region, bit r for ``HostRegion`` r), ``lane`` (one-hot), ``lane_no`` (binary) and
``read_lane`` (the read strobe, once per lane: it selects the lanes' banked-RAM read addresses)
hold it. The core points its memories' ports at ``addr`` while idle and gives back what they
read (a REWIRE write is a command, not a memory: reading it gives 0):

* registers and small memories (``lane_adapt``, ``label`` read a cycle after the strobe acts,
  ``lfsr``, ``live``, the counters): ``host.rdata``/``host.rvalid`` in cycle c + 4;
* banked RAMs (``lane_weight``, ``lane_row_mask``, ``col_mask``, read latency ``ram_latency``):
  in cycle c + 3 + ram_latency.

Reads of one region pipeline; the host waits for ``rvalid`` before it reads another region (the
regions' words are ORed, never in flight together). Read data passes two registered stages: each
lane's word, zero unless its lane and region are read (next to the lane), then the OR of the
lanes' and the shared words, so no multiplexer over lanes spread across the die sits in one cycle.

Counters (``layouts.Counter``, ``counter_bits`` wide, wrapping): ``increments`` carries this
cycle's increment of each, added a cycle later from a register (so the adders and enables do not
hang off the core's FSM decodes); a write to the COUNTER region clears them all. A read taken in
cycle c returns the increments of the cycles before c; a clear taken in cycle w drops those of
the cycles up to w.
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth.hdl import Array, Cat, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .delay_line import register_chain
from .layouts import LFSR_BITS, Counter, HostRegion


def increment_layout(lanes: int) -> data.StructLayout:
    """One field per counter: its increment in a cycle (SYN_EVENTS: up to one per lane)."""
    return data.StructLayout({c.name.lower(): range(lanes + 1) if c == Counter.SYN_EVENTS else 1
                              for c in Counter})


class HostPort(wiring.Component):
    """``host``: ``layouts.host_signature`` (the core's own host port, passed through);
    ``lanes``; ``ram_latency``: the banked RAMs' read latency; ``counter_bits``; widths of the
    words read: ``adapt_bits``, ``weight_bits``, ``row_mask_bits`` (a row-mask word),
    ``col_word_bits``, ``label_bits``; ``keep_attrs``: synthesis attributes of the per-lane read
    strobes."""

    def __init__(self, *, host: wiring.Signature, lanes: int, ram_latency: int,
                 counter_bits: int, adapt_bits: int, weight_bits: int, row_mask_bits: int,
                 col_word_bits: int, label_bits: int,
                 keep_attrs: dict[str, object] | None = None) -> None:
        sizes = dict(lanes=lanes, ram_latency=ram_latency, counter_bits=counter_bits,
                     adapt_bits=adapt_bits, weight_bits=weight_bits, row_mask_bits=row_mask_bits,
                     col_word_bits=col_word_bits, label_bits=label_bits)
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"HostPort: {name} must be an int >= 1, not {value!r}")
        if not isinstance(host, wiring.Signature):
            raise TypeError(f"HostPort: host must be a wiring.Signature, not "
                            f"{type(host).__name__}")
        self.lanes, self.latency, self.counter_bits = lanes, ram_latency, counter_bits
        self.keep_attrs = dict(keep_attrs or {})
        members = host.members
        super().__init__({
            "host": In(host),
            "idle": In(1),
            "we": Out(1), "addr": Out(members["addr"].shape), "wdata": Out(members["wdata"].shape),
            "write": Out(len(HostRegion)), "lane": Out(lanes), "read_lane": Out(lanes),
            "lane_no": Out(members["lane"].shape),
            "lane_adapt": In(adapt_bits).array(lanes), "lane_weight": In(weight_bits).array(lanes),
            "lane_row_mask": In(row_mask_bits).array(lanes), "col_mask": In(col_word_bits),
            "label": In(label_bits), "lfsr": In(LFSR_BITS), "live": In(LFSR_BITS),
            "increments": In(increment_layout(lanes)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        P, L = self.lanes, self.latency
        host = self.host
        m.d.comb += host.ready.eq(self.idle)
        taken_we, taken_re = host.we & host.ready, host.re & host.ready
        region = Signal(HostRegion, name="hq_region")
        re = Signal(name="hq_re")
        lane_no = self.lane_no
        m.d.sync += [self.we.eq(taken_we), re.eq(taken_re), self.addr.eq(host.addr),
                     self.wdata.eq(host.wdata), region.eq(host.region), lane_no.eq(host.lane),
                     self.lane.eq(1 << host.lane)]
        for p in range(P):
            copy = Signal(name=f"hq_re_l{p}", attrs=self.keep_attrs)
            m.d.sync += copy.eq(taken_re)
            m.d.comb += self.read_lane[p].eq(copy)
        m.d.sync += self.write.eq(Cat(*[taken_we & (host.region == r) for r in HostRegion]))

        counters = self._counters(m)
        # re in cycle c, acted on in c+1 -> registers and small RAMs: picked at c+2,
        # rdata/rvalid c+4; banked RAMs: data c+1+L, rdata/rvalid c+3+L.
        h_valid = register_chain(m, re, L, name="h_valid")  # element s-1: cycle c+1+s
        h_region = register_chain(m, region, L, name="h_region")
        h_lane = register_chain(m, lane_no, L, name="h_lane")
        width = len(host.rdata)
        # Registers picked at c+2: the LFSR or the live count, and one counter of each group of
        # four (the group is picked in the next stage: no 12:1 multiplexer of counters spread
        # over the die in one cycle).
        h_imm = Signal(width, reset_less=True)
        m.d.sync += h_imm.eq(Mux(region == HostRegion.LFSR, self.lfsr, self.live))
        h_cnt = [Signal(self.counter_bits, name=f"h_cnt{g}", reset_less=True)
                 for g in range(-(-len(Counter) // 4))]
        for g, reg in enumerate(h_cnt):
            group = counters[4 * g:4 * g + 4]
            m.d.sync += reg.eq(Array(group)[self.addr[:2]] if len(group) > 1 else group[0])
        h_cnt_group = Signal(2, reset_less=True)
        h_cnt_ok = Signal(reset_less=True)  # the address names a counter
        m.d.sync += [h_cnt_group.eq(self.addr[2:4]), h_cnt_ok.eq(self.addr < len(Counter))]

        def reading(stage: int, *regions: HostRegion) -> Value:
            return h_valid[stage] & Cat(*[h_region[stage] == r for r in regions]).any()

        def pick(cond: Value, word: Value) -> Value:
            return Mux(cond, word, 0)

        words = []
        for p in range(P):
            word = Signal(width, name=f"h_word{p}", reset_less=True)
            m.d.sync += word.eq(
                pick(reading(0, HostRegion.ADAPT) & (h_lane[0] == p), self.lane_adapt[p])
                | pick(reading(L - 1, HostRegion.WEIGHT) & (h_lane[L - 1] == p),
                       self.lane_weight[p])
                | pick(reading(L - 1, HostRegion.ROW_MASK) & (h_lane[L - 1] == p),
                       self.lane_row_mask[p]))
            words.append(word)
        shared = Signal(width, name="h_shared", reset_less=True)
        m.d.sync += shared.eq(
            pick(reading(0, HostRegion.LABEL), self.label)
            | pick(reading(0, HostRegion.LFSR, HostRegion.LIVE), h_imm)
            | pick(reading(0, HostRegion.COUNTER) & h_cnt_ok, Array(h_cnt)[h_cnt_group])
            | pick(reading(L - 1, HostRegion.COL_MASK), self.col_mask))
        m.d.sync += host.rdata.eq(reduce(operator.or_, [*words, shared]))
        banked = [HostRegion.WEIGHT, HostRegion.ROW_MASK, HostRegion.COL_MASK]
        small = h_valid[0] & ~Cat(*[h_region[0] == r for r in banked]).any()
        done = register_chain(m, Cat(small, reading(L - 1, *banked)), 2, name="h_done")[-1]
        m.d.comb += host.rvalid.eq(done.any())
        return m

    def _counters(self, m: Module) -> list[Signal]:
        """The counters, each added its increment of the cycle before; all cleared by a write
        to the COUNTER region."""
        counters = []
        for c in Counter:
            name = c.name.lower()
            inc_q = Signal.like(getattr(self.increments, name), name=f"inc_{name}_q")
            count = Signal(self.counter_bits, name=f"cnt_{name}")
            m.d.sync += [inc_q.eq(getattr(self.increments, name)), count.eq(count + inc_q)]
            with m.If(self.write[HostRegion.COUNTER.value]):
                m.d.sync += count.eq(0)
            counters.append(count)
        return counters
