"""ConvScatter: a time step's input events into the conv layer's membranes, event-driven.

An input spike (c, y, x) reaches output neuron (m, y - dy, x - dx) through kernel entry
(c, dy, dx) of map m, for every (dy, dx) whose output position lies inside the layer. Lane p
holds the maps m = j * lanes + p (map row j). For each event and each map row j, the lanes'
live-entry bitmap words of channel c (k x k bits, one per lane, bit b = dy * k + dx), ANDed
with the event's window (the entries whose output position exists), go to a
``LockstepWalker``: a pruned entry, or one that falls off the layer's edge, costs no cycle;
an entry (event, j) costs max(1, the busiest lane's bits) cycles.

Three pipelines in a row, every memory read synchronous with a register after it (latency 2,
the core's memories):

* fetch, stage s = cycles after the pair (event ``event_addr``, map row j) is issued: 2: the
  event's input index (``event_index``) into the decode ROM (input -> channel, output position
  times MR, window bits; a constant ``Memory`` of this unit); 4: the bitmap address
  ``mask_addr`` = j * C + c; 6: the words (``mask_words``) into the walker with the weight base
  (j * C + c) * k * k and the membrane base pos * MR + j. At most ``depth`` entries in flight
  (credits, ``hw.credits``), one pair issued per cycle, so the walker is never starved.
* walk: each visit's lane p reads weight ``wbase + b`` and membrane ``vbase - off[b]``
  (off[b] = (dy * W' + dx) * MR, a constant table).
* accumulate, stage 2 after the visit: weight + membrane, saturated at 2^membrane_bits - 1, a
  direct write (``v_write_*``). The membrane read at stage 0 misses the writes of the two visits
  ahead of it, so a visit whose membrane one of them wrote takes that sum instead (forwarding).

Contract: ``start`` loads the step's bounds (``first``, ``end``) and clears ``idle``; the
fetch issues while ``first`` .. ``end`` - 1 remain, and ``idle`` goes high (registered) the
cycle after every pipeline has drained. ``synapses`` is the number of lanes hit by this
cycle's visit (synaptic events).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.conv_cycles import ConvGeometry
from .credits import credit_flag
from .delay_line import register_chain
from .walker import LockstepWalker, popcount

FETCH_STAGES = 6  # event read (2), decode ROM read (2), bitmap read (2)


def decode_layout(geom: ConvGeometry) -> data.StructLayout:
    """A decode ROM word: the input's channel, its output-position base (y * W' + x) * MR and
    its window (bit b = dy * k + dx: the entry's output position exists)."""
    return data.StructLayout({
        "c": unsigned(max(1, (geom.channels - 1).bit_length())),
        "pos_mr": unsigned((geom.height * geom.out_w * geom.map_rows).bit_length() + 1),
        "win": unsigned(geom.entries),
    })


def decode_table(geom: ConvGeometry) -> list[dict[str, int]]:
    """The decode ROM's words, one per input index."""
    words = []
    hw = geom.height * geom.width
    for i in range(geom.n_inputs):
        c, y, x = i // hw, (i % hw) // geom.width, i % geom.width
        win = sum(1 << b for b in range(geom.entries) if geom.window[i, b])
        words.append({"c": c, "pos_mr": (y * geom.out_w + x) * geom.map_rows, "win": win})
    return words


class ConvScatter(wiring.Component):
    """The scatter of one conv core of geometry ``geom`` (``model.conv_cycles.ConvGeometry``)."""

    def __init__(self, *, geom: ConvGeometry) -> None:
        if not isinstance(geom, ConvGeometry):
            raise TypeError(f"ConvScatter: geom must be a ConvGeometry, not "
                            f"{type(geom).__name__}")
        self.geom = geom.validate()
        g = geom
        P = g.lanes
        ev_bits = g.n_inputs.bit_length()
        self.w_depth = g.map_rows * g.channels * g.entries
        self.m_depth = g.map_rows * g.channels
        self.v_depth = g.lane_neurons
        super().__init__({
            "start": In(1), "first": In(ev_bits), "end": In(ev_bits), "idle": Out(1),
            "event_addr": Out(ev_bits),
            "event_index": In(max(1, (g.n_inputs - 1).bit_length())),
            "mask_addr": Out(range(self.m_depth)),
            "mask_words": In(g.entries).array(P),
            "weight_addr": Out(range(self.w_depth)).array(P),
            "weights": In(g.weight_bits).array(P),
            "v_read_addr": Out(range(self.v_depth)).array(P),
            "v_read": In(g.membrane_bits).array(P),
            "v_write_addr": Out(range(self.v_depth)).array(P),
            "v_write_data": Out(g.membrane_bits).array(P), "v_write_en": Out(P),
            "synapses": Out(range(P + 1)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geom
        P, MR, C, k2 = g.lanes, g.map_rows, g.channels, g.entries
        # walker FIFO entries: more than a credit's round trip (the taken entry's credit, the
        # issue, the fetch, the FIFO's write and read), so a run of one-cycle entries never
        # starves the walk
        depth = FETCH_STAGES + 8
        tag = data.StructLayout({"wbase": unsigned(self.w_depth.bit_length()),
                                 "vbase": unsigned(decode_layout(g).members["pos_mr"].width)})
        m.submodules.walker = walker = LockstepWalker(lanes=P, width=k2, tag_layout=tag,
                                                      depth=depth)
        layout = decode_layout(g)
        m.submodules.decode = rom = Memory(shape=layout, depth=g.n_inputs,
                                           init=decode_table(g))
        rom_rd = rom.read_port()
        rom_q = Signal(layout)
        m.d.sync += rom_q.eq(rom_rd.data)
        m.d.comb += rom_rd.addr.eq(self.event_index)

        # fetch: pairs (event, map row j), j inner; jc = j * C counted alongside
        fptr, fend = self.event_addr, Signal.like(self.end, name="fend")
        j = Signal(range(MR), name="fj")
        jc = Signal(range(MR * C), name="fjc")
        more = Signal(name="f_more")
        fs_valid = Signal(FETCH_STAGES)
        issue = Signal()
        some = credit_flag(m, depth=depth, issue=issue, taken=walker.taken, name="fetch")
        m.d.comb += issue.eq(more & some)
        with m.If(self.start):
            m.d.sync += [fptr.eq(self.first), fend.eq(self.end), more.eq(self.first != self.end),
                         j.eq(0), jc.eq(0)]
        with m.Elif(issue):
            with m.If(j == MR - 1):
                m.d.sync += [j.eq(0), jc.eq(0), fptr.eq(fptr + 1), more.eq(fptr + 1 != fend)]
            with m.Else():
                m.d.sync += [j.eq(j + 1), jc.eq(jc + C)]
        m.d.sync += fs_valid.eq(Cat(issue, fs_valid[:-1]))
        j4 = register_chain(m, j, 4, name="fj_d")[-1]
        jc4 = register_chain(m, jc, 4, name="fjc_d")[-1]
        slot = jc4 + rom_q.c  # stage 4: the kernel slice (map row j, channel c)
        m.d.comb += self.mask_addr.eq(slot)
        wbase6 = register_chain(m, slot * k2, 2, name="f_wbase")[-1]
        vbase6 = register_chain(m, rom_q.pos_mr + j4, 2, name="f_vbase")[-1]
        win6 = register_chain(m, rom_q.win, 2, name="f_win")[-1]
        m.d.comb += [walker.entries.valid.eq(fs_valid[-1]),
                     walker.entries.payload.tag.wbase.eq(wbase6),
                     walker.entries.payload.tag.vbase.eq(vbase6)]
        m.d.comb += [walker.entries.payload.words[p].eq(self.mask_words[p] & win6)
                     for p in range(P)]

        # walk: the visit's addresses
        walk = walker.out
        off = Array(Const(((b // g.kernel) * g.out_w + b % g.kernel) * MR,
                          unsigned(tag.members["vbase"].width)) for b in range(k2))
        v_addr = [Signal(range(self.v_depth), name=f"visit_v{p}") for p in range(P)]
        for p in range(P):
            m.d.comb += [self.weight_addr[p].eq(walk.tag.wbase + walk.bit[p]),
                         v_addr[p].eq(walk.tag.vbase - off[walk.bit[p]]),
                         self.v_read_addr[p].eq(v_addr[p])]
        hits = Cat(*[walk.valid & walk.hit[p] for p in range(P)])
        m.d.comb += self.synapses.eq(popcount(hits))

        # accumulate at stage 2, forwarding the sums of the two visits ahead (stages 3, 4)
        hit_d = register_chain(m, hits, 4, name="acc_hit")  # [s-1]: stage s
        v_max = g.v_max
        for p in range(P):
            addr_d = register_chain(m, v_addr[p], 4, name=f"acc_a{p}_")
            last1 = Signal(g.membrane_bits, name=f"acc_last1_{p}")
            last2 = Signal(g.membrane_bits, name=f"acc_last2_{p}")
            fwd1 = hit_d[2][p] & (addr_d[2] == addr_d[1])
            fwd2 = hit_d[3][p] & (addr_d[3] == addr_d[1])
            base = Mux(fwd1, last1, Mux(fwd2, last2, self.v_read[p]))
            total = base + self.weights[p]
            acc = Mux(total > v_max, v_max, total[:g.membrane_bits])
            m.d.sync += [last1.eq(acc), last2.eq(last1)]
            m.d.comb += [self.v_write_addr[p].eq(addr_d[1]), self.v_write_data[p].eq(acc),
                         self.v_write_en[p].eq(hit_d[1][p])]
        # (a visit's stages count whether or not it hit: the drain does not depend on the data)
        visit_d = register_chain(m, walk.valid, 2, name="acc_valid")
        busy = more | fs_valid.any() | ~walker.idle | visit_d[0] | visit_d[1]
        m.d.sync += self.idle.eq(~busy)
        with m.If(self.start):
            m.d.sync += self.idle.eq(0)
        return m
