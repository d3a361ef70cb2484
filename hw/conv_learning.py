"""ConvLearning: a conv core's learning phase: the winners, then each one's kernel STDP and pruning.

It follows ``model.deep_network.ConvLayer.learn_sample`` after the sample's last sweep:
``model.conv.select_winners`` (up to ``k`` winners, inhibition radius ``radius``), then for each
winner ``model.conv.learn_kernel`` (``rules.stdp_delta`` in ``StdpUnit`` and
``rules.prune_decision`` in ``PruneUnit``, the layer core's rule units) over its kernel's live
entries in entry order, one LFSR state (``model.lfsr``) per entry. ``docs/conv_core.md``.

Memories of its own: the candidate list (every output spike of the sample: step, membrane at the
spike, map, row, column; written by the sweep at the spike list's address) and the input slots
(per input index, the event-list slot and step of its spike this sample, written at LOAD). A
slot is this sample's when it is below ``n_events`` and the event list holds that input there,
so the slots are never cleared (a sparse set): an input without one never spiked (t_pre = T).

Rounds, one per winner (a round that finds no candidate ends the phase, as does the k-th):

* SELECT: the candidate list is read in order (latency 2); a candidate whose map has a winner,
  or that lies within ``radius`` (Chebyshev) of a winner, is skipped; the best of the others
  (earliest step, larger membrane, lower map, row, column: one unsigned key) is kept. Greedy
  selection in the model's order equals this repeated minimum over the candidates left.
* DECIDE: the best becomes the winner (``winner``), or the phase ends.
* PASS: the winner's kernel, slice by slice (channel c: bitmap word j * C + c of its lane), goes
  through a one-lane ``LockstepWalker``: one live entry per cycle, a pruned entry costs nothing
  (an empty slice one cycle). Visit stage s: 0: weight (wbase + b) and input-slot reads
  (input (c, y + dy, x + dx)); 2: the event list's read at the slot; 4: t_pre into ``StdpUnit``
  with the LFSR state (stepped per entry); 9: the new weight is written, the prune decision
  clears the entry's bit of the slice word, written after the slice's last entry.

Contract: ``start`` (the core's LEARN_START) begins the phase; ``done`` is high for one cycle
at its end. The kernel memories' read and write ports are the core's (the scatter is idle).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.conv_cycles import ConvGeometry
from ..model.lfsr import TOGGLE_MASK
from .credits import credit_flag
from .delay_line import register_chain
from .layouts import LFSR_BITS
from .rule_units import PruneUnit, StdpUnit
from .walker import LockstepWalker

SLICE_FETCH = 2  # a slice's bitmap word read (the core's memories: read, register)
TO_STDP = 4  # visit -> StdpUnit: weight and input-slot reads (2), event-list read (2)
WRITE_BACK = TO_STDP + StdpUnit.LATENCY  # visit -> the new weight and the prune decision


def candidate_layout(geom: ConvGeometry) -> data.StructLayout:
    """A candidate word; its value is the selection key, smaller = better (fields from the
    least significant: column, row, map, inverted membrane, step)."""
    return data.StructLayout({
        "x": unsigned(max(1, (geom.out_w - 1).bit_length())),
        "y": unsigned(max(1, (geom.out_h - 1).bit_length())),
        "map": unsigned(max(1, (geom.maps - 1).bit_length())),
        "v_inv": unsigned(geom.membrane_bits), "t": unsigned(geom.time_bits)})


class ConvLearning(wiring.Component):
    """The learning phase of one conv core of geometry ``geom``; ``lfsr_seed``: the LFSR's
    state after reset (``ConvSpec.lfsr_seed``; ``lfsr_write`` loads ``lfsr_data``)."""

    def __init__(self, *, geom: ConvGeometry, lfsr_seed: int) -> None:
        if not isinstance(geom, ConvGeometry):
            raise TypeError(f"ConvLearning: geom must be a ConvGeometry, not "
                            f"{type(geom).__name__}")
        if not isinstance(lfsr_seed, int) or not 0 < lfsr_seed < (1 << LFSR_BITS):
            raise ValueError(f"ConvLearning: lfsr_seed must be a nonzero 32-bit int, not "
                             f"{lfsr_seed!r}")
        self.geom = g = geom.validate()
        self.stdp = StdpUnit(weight_bits=g.weight_bits, frac_bits=g.stdp_frac_bits,
                             time_bits=g.time_bits)
        self.prune = PruneUnit(weight_bits=g.weight_bits)
        rate = self.stdp.signature.members["a_plus"].shape
        P, wb, mb, tb = g.lanes, g.weight_bits, g.membrane_bits, g.time_bits
        self.w_depth = g.map_rows * g.channels * g.entries
        self.m_depth = g.map_rows * g.channels
        super().__init__({
            "start": In(1), "done": Out(1),
            "k": In(range(g.max_winners + 1)), "radius": In(range(max(g.out_h, g.out_w))),
            "a_plus": In(rate), "a_minus": In(rate),
            "prune_enable": In(1), "prune_threshold": In(wb),
            "load_we": In(1), "load_index": In(range(g.n_inputs)),
            "load_slot": In(range(g.n_inputs)), "load_time": In(tb),
            "n_events": In(range(g.n_inputs + 1)),
            "spike": In(1), "spike_addr": In(range(g.n_outputs + 1)), "spike_time": In(tb),
            "spike_map": In(range(g.maps)), "spike_y": In(range(g.out_h)),
            "spike_x": In(range(g.out_w)), "spike_v": In(mb),
            "n_spikes": In(range(g.n_outputs + 1)),
            "event_addr": Out(range(g.n_inputs)),
            "event_index": In(max(1, (g.n_inputs - 1).bit_length())),
            "mask_addr": Out(range(self.m_depth)), "mask_words": In(g.entries).array(P),
            "weight_addr": Out(range(self.w_depth)), "weights": In(wb).array(P),
            "weight_write_addr": Out(range(self.w_depth)), "weight_write_data": Out(wb),
            "weight_write_en": Out(P),
            "mask_write_addr": Out(range(self.m_depth)), "mask_write_data": Out(g.entries),
            "mask_write_en": Out(P),
            "winner": Out(self.winner_layout(g)),
            "updates": Out(1), "pruned": Out(1),
            "lfsr_write": In(1), "lfsr_data": In(LFSR_BITS),
            "lfsr": Out(LFSR_BITS, init=lfsr_seed),
        })

    @staticmethod
    def winner_layout(geom: ConvGeometry) -> data.StructLayout:
        """``winner``: valid for one cycle per winner (DECIDE), its map, row, column, step."""
        cand = candidate_layout(geom)
        return data.StructLayout({"valid": 1, "map": cand["map"].shape, "y": cand["y"].shape,
                                  "x": cand["x"].shape, "time": unsigned(geom.time_bits)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geom
        cand = candidate_layout(g)
        m.submodules.cands = cands = Memory(shape=cand, depth=g.n_outputs, init=[])
        slot_layout = data.StructLayout({"slot": unsigned(max(1, (g.n_inputs - 1).bit_length())),
                                         "t": unsigned(g.time_bits)})
        m.submodules.slots = slots = Memory(shape=slot_layout, depth=g.n_inputs, init=[])
        cw, sw = cands.write_port(), slots.write_port()
        m.d.comb += [cw.addr.eq(self.spike_addr), cw.en.eq(self.spike),
                     cw.data.t.eq(self.spike_time), cw.data.v_inv.eq(~self.spike_v),
                     cw.data.map.eq(self.spike_map), cw.data.y.eq(self.spike_y),
                     cw.data.x.eq(self.spike_x),
                     sw.addr.eq(self.load_index), sw.en.eq(self.load_we),
                     sw.data.slot.eq(self.load_slot), sw.data.t.eq(self.load_time)]
        begin = Signal()  # DECIDE with a winner: record it, start its kernel's pass
        sel = self._select(m, cands, begin)
        pass_idle = self._pass(m, slots, begin, sel.best)
        done_round = Signal()  # the round's last step: the winner count reached k
        m.d.comb += done_round.eq(sel.rnd == self.k)
        with m.FSM(name="learn"):
            with m.State("IDLE"), m.If(self.start):
                m.d.sync += [sel.rnd.eq(0), sel.won.eq(0), sel.ptr.eq(0),
                             sel.b_valid.eq(0)]
                m.next = "SELECT"
            with m.State("SELECT"):
                m.d.comb += sel.scan.eq(~done_round)
                with m.If(done_round):
                    m.next = "DONE"
                with m.Elif((sel.ptr == self.n_spikes) & (sel.s_valid == 0)):
                    m.next = "DECIDE"
            with m.State("DECIDE"):
                with m.If(sel.b_valid):
                    m.d.comb += begin.eq(1)
                    m.next = "PASS"
                with m.Else():
                    m.next = "DONE"
            with m.State("PASS"), m.If(pass_idle):
                m.d.sync += [sel.ptr.eq(0), sel.b_valid.eq(0)]
                m.next = "SELECT"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m

    def _select(self, m: Module, cands: Memory, begin: Signal) -> SimpleNamespace:
        """The SELECT scan and the winners so far (recorded at ``begin``); returns its
        registers."""
        g = self.geom
        cand = candidate_layout(g)
        s = SimpleNamespace(
            rnd=Signal(range(g.max_winners + 1), name="rnd"), won=Signal(g.maps, name="won"),
            ptr=Signal(range(g.n_outputs + 1), name="sel_ptr"), s_valid=Signal(2),
            b_valid=Signal(name="b_valid"), best=Signal(cand, name="best"),
            scan=Signal(name="scan"))
        win_y = Array(Signal(cand["y"].shape, name=f"win_y{w}") for w in range(g.max_winners))
        win_x = Array(Signal(cand["x"].shape, name=f"win_x{w}") for w in range(g.max_winners))
        rd = cands.read_port()
        q = Signal(cand, name="cand_q")
        issue = s.scan & (s.ptr != self.n_spikes)
        m.d.sync += [q.eq(rd.data), s.s_valid.eq(Cat(issue, s.s_valid[0]))]
        m.d.comb += rd.addr.eq(s.ptr)
        with m.If(issue):
            m.d.sync += s.ptr.eq(s.ptr + 1)

        def within(a: object, b: object) -> object:
            return Mux(a >= b, a - b, b - a) <= self.radius

        near = Const(0, 1)
        for w in range(g.max_winners):
            near = near | ((w < s.rnd) & within(q.y, win_y[w]) & within(q.x, win_x[w]))
        ok = s.s_valid[1] & ~s.won.bit_select(q.map, 1) & ~near
        with m.If(ok & (~s.b_valid | (q.as_value() < s.best.as_value()))):
            m.d.sync += [s.b_valid.eq(1), s.best.eq(q)]
        b = s.best
        m.d.comb += [self.winner.map.eq(b.map), self.winner.y.eq(b.y), self.winner.x.eq(b.x),
                     self.winner.time.eq(b.t)]
        with m.If(begin):
            m.d.comb += self.winner.valid.eq(1)
            m.d.sync += [s.won.eq(s.won | (1 << b.map)), win_y[s.rnd].eq(b.y),
                         win_x[s.rnd].eq(b.x), s.rnd.eq(s.rnd + 1)]
        return s

    def _pass(self, m: Module, slots: Memory, begin: Signal, best: data.View) -> Signal:
        """The winner's kernel pass (loaded at ``begin``): fetch, walk, STDP, prune, write-back.
        Returns its idle flag (registered, low from ``begin`` until the pass has drained)."""
        g = self.geom
        P, C, k, k2 = g.lanes, g.channels, g.kernel, g.entries
        lane, t_post = Signal(range(P), name="p_lane"), Signal(g.time_bits, name="t_post")
        lane_of = Array(Const(mm % P, range(P)) for mm in range(g.maps))
        slot_of = Array(Const((mm // P) * C, range(self.m_depth)) for mm in range(g.maps))
        # fetch: slice c's bitmap word, with its weight base and input base counted alongside
        c_ptr = Signal(range(C + 1), name="p_c")
        more = Signal(name="p_more")
        slot = Signal(range(self.m_depth + 1), name="p_slot")
        wbase = Signal(range(self.w_depth + k2), name="p_wbase")
        ibase = Signal(range(g.n_inputs + g.height * g.width), name="p_ibase")
        depth = SLICE_FETCH + 8  # walker FIFO entries (credits), more than the fetch's round trip
        tag = data.StructLayout({"slot": unsigned(len(slot)), "wbase": unsigned(len(wbase)),
                                 "ibase": unsigned(len(ibase))})
        m.submodules.walker = walker = LockstepWalker(lanes=1, width=k2, tag_layout=tag,
                                                      depth=depth)
        issue = Signal()
        some = credit_flag(m, depth=depth, issue=issue, taken=walker.taken, name="p_fetch")
        m.d.comb += [issue.eq(more & some), self.mask_addr.eq(slot)]
        with m.If(begin):
            m.d.sync += [lane.eq(lane_of[best.map]), t_post.eq(best.t), c_ptr.eq(0),
                         more.eq(1), slot.eq(slot_of[best.map]),
                         wbase.eq(slot_of[best.map] * k2),
                         ibase.eq(best.y * g.width + best.x)]
        with m.Elif(issue):
            m.d.sync += [c_ptr.eq(c_ptr + 1), more.eq(c_ptr != C - 1), slot.eq(slot + 1),
                         wbase.eq(wbase + k2), ibase.eq(ibase + g.height * g.width)]
        f_valid = register_chain(m, issue, SLICE_FETCH, name="p_fvalid")
        m.d.comb += [walker.entries.valid.eq(f_valid[-1]),
                     walker.entries.payload.words[0].eq(Array(self.mask_words)[lane]),
                     walker.entries.payload.tag.eq(
                         register_chain(m, Cat(slot, wbase, ibase), SLICE_FETCH,
                                        name="p_ftag")[-1])]

        # visit (stage 0): the weight and input-slot reads
        v = walker.out
        bit = v.bit[0]
        in_off = Array(Const((b // k) * g.width + b % k, range(k * g.width)) for b in range(k2))
        index = Signal(range(g.n_inputs + g.height * g.width), name="p_index")
        m.d.comb += [index.eq(v.tag.ibase + in_off[bit]),
                     self.weight_addr.eq(v.tag.wbase + bit), self.updates.eq(v.valid & v.hit[0])]
        s_rd = slots.read_port()
        s_q = Signal.like(s_rd.data, name="slot_q")
        m.d.sync += s_q.eq(s_rd.data)
        m.d.comb += [s_rd.addr.eq(index), self.event_addr.eq(s_q.slot)]  # stage 2
        valid = register_chain(m, v.valid, WRITE_BACK, name="p_valid")  # [s - 1]: stage s
        hit = register_chain(m, v.valid & v.hit[0], WRITE_BACK, name="p_hit")
        last = register_chain(m, v.valid & v.last, WRITE_BACK, name="p_last")
        where = register_chain(m, Cat(bit, v.tag.slot, self.weight_addr), WRITE_BACK,
                               name="p_where")[-1]
        index4 = register_chain(m, index, TO_STDP, name="p_index")[-1]
        w4 = register_chain(m, Array(self.weights)[lane], TO_STDP - 2, name="p_w")[-1]
        t4 = register_chain(m, s_q.t, TO_STDP - 2, name="p_t")[-1]
        ours4 = register_chain(m, s_q.slot < self.n_events, TO_STDP - 2, name="p_ours")[-1]
        spiked = ours4 & (self.event_index == index4)  # stage 4: the slot is this sample's

        # stage 4: STDP with one LFSR state per live entry; stage 9: the new weight, pruning
        m.submodules.stdp = stdp = self.stdp
        m.submodules.prune = prune = self.prune
        lfsr = self.lfsr
        with m.If(hit[TO_STDP - 1]):
            m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ TOGGLE_MASK, lfsr >> 1))
        with m.If(self.lfsr_write):
            m.d.sync += lfsr.eq(self.lfsr_data)
        m.d.comb += [stdp.w.eq(w4), stdp.t_pre.eq(Mux(spiked, t4, g.time_steps)),
                     stdp.t_post.eq(t_post), stdp.a_plus.eq(self.a_plus),
                     stdp.a_minus.eq(self.a_minus), stdp.rand.eq(lfsr[:len(stdp.rand)]),
                     prune.w_new.eq(stdp.w_new), prune.enable.eq(self.prune_enable),
                     prune.threshold.eq(self.prune_threshold)]
        wb_bit = where[:len(bit)]
        wb_slot = where[len(bit):len(bit) + len(slot)]
        wb_waddr = where[len(bit) + len(slot):]
        lane_oh = Const(1, P) << lane
        pruned = hit[-1] & prune.pruned
        keep_acc = Signal(k2, name="p_keep")
        keep = keep_acc | Mux(hit[-1] & ~prune.pruned, Const(1, k2) << wb_bit, 0)
        m.d.comb += [self.weight_write_addr.eq(wb_waddr), self.weight_write_data.eq(stdp.w_new),
                     self.weight_write_en.eq(Mux(hit[-1], lane_oh, 0)), self.pruned.eq(pruned),
                     self.mask_write_addr.eq(wb_slot), self.mask_write_data.eq(keep),
                     self.mask_write_en.eq(Mux(last[-1], lane_oh, 0))]
        with m.If(valid[-1]):
            m.d.sync += keep_acc.eq(Mux(last[-1], 0, keep))

        idle = Signal(name="p_idle")
        busy = more | Cat(*f_valid).any() | ~walker.idle | Cat(*valid).any()
        m.d.sync += idle.eq(~busy)
        with m.If(begin):
            m.d.sync += idle.eq(0)
        return idle
