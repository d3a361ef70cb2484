"""Learning: one winner's STDP pass over its live synapses, pruning as it goes.

For the winner (row ``win_row`` of lane ``win_lane``, neuron row * lanes + lane, spike time
``win_time``) the unit walks the neuron's column bitmap (``col_words`` words of ``col_word_bits``
bits, from ``win_col_base``) with a one-lane ``LockstepWalker``: one synapse per cycle, pruned ones
cost nothing. Pipeline (``L`` = the banked RAMs' read latency), stage s = cycles after the
address stage:

* 0: the synapse's weight address (``weight_addr``), input time address (``input_addr``) and, at
  stage ls_wb - L, the address of its row-mask word holding the winner's row (``row_addr``: input
  * W + row // R, ``hw.row_words``), so the word arrives for the write-back;
* L: weight (``weights[win_lane]``) and input time (``input_time``, read latency 2) into
  ``StdpUnit``, one LFSR step per update (``model.lfsr``: the same sequence as ``model.rules``);
* L + StdpUnit.LATENCY: the new weight, the prune decision (``PruneUnit``);
* ls_wb = L + LATENCY + 1: write-back: the weight (``weight_write_*``), on pruning the row-mask
  word without the winner's bit (``row_write_*``; ``write_input`` the synapse's input), and a
  cycle after the word's last synapse the column word rebuilt from the visits (``col_write_*``,
  registered).

A rewire pass ("pq", ``model.rewiring.cut_prune``; ``cut_mode`` high at ``start``) walks the
same way but leaves the weights and the LFSR alone: at stage L a synapse is pruned when its
weight is below ``cut``, or equal to it while ``cut_equal`` (a count, loaded at ``start``) has
some left, one used per such synapse in walk (ascending input) order; the decision rides
registers to the write-back in place of ``PruneUnit``'s.

``paced`` (a core whose weights and row masks are single-port memories, ``Config.single_port``):
the walker visits a synapse every other cycle (``LockstepWalker``'s ``pace``, high in every
other cycle from ``start``), so with an odd L a write-back (ls_wb = L + 6 cycles after its
visit's address stage) and a row-mask word's write (L after its read) fall in the cycles between
the reads.

What the write-back needs rides a ``DelayLine`` (a RAM, not ls_wb registers per bit). Within one
pass every synapse is visited once and the pass drains before the next starts: no forwarding.

Contract: ``start`` loads the winner, at least two cycles before ``run`` (``idle`` still shows
the last pass in the cycle after ``start``; the core's LEARN_INC sits between); while ``run`` is
high the column words are fetched (credits, ``hw.credits``); ``idle`` (registered) goes high
the cycle after the pass has drained. ``lfsr`` and ``live`` (the live-synapse count, one less a
cycle after each pruning) are host-writable (``lfsr_write``/``live_write`` with ``wdata``);
outside a pass ``lfsr_step`` steps the LFSR and ``grown`` adds a live synapse (``hw.regrow``).
``updates``/``pruned`` flag this cycle's visit of a live synapse (address stage; an STDP update
unless the pass rewires) and pruning (write-back), for the counters and ``hw.regrow``.
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import row_word_shape
from ..model.lfsr import TOGGLE_MASK
from .credits import credit_flag
from .delay_line import DelayLine, register_chain
from .layouts import LFSR_BITS
from .row_words import row_split, row_word_addr
from .rule_units import PruneUnit, StdpUnit
from .walker import LockstepWalker


class Learning(wiring.Component):
    """``lanes`` x ``rows`` neurons, ``n_inputs`` inputs, column words of ``col_word_bits``
    (a power of two); ``weight_bits``, ``time_bits``, ``stdp_frac_bits``; ``ram_latency``;
    ``row_word_bits``: the row-mask words' split (``Config.row_word_bits``, 0: a whole row);
    ``paced``: a visit every other cycle (single-port memories; an odd ``ram_latency``);
    ``pipelined``: the walker's die-wide form; ``lfsr_seed``; ``ram_attrs``: synthesis
    attributes of the small RAMs (walker FIFO, delay line)."""

    def __init__(self, *, lanes: int, rows: int, n_inputs: int, col_word_bits: int,
                 weight_bits: int, time_bits: int, stdp_frac_bits: int, ram_latency: int,
                 lfsr_seed: int, row_word_bits: int = 0, paced: bool = False,
                 pipelined: bool = False,
                 ram_attrs: Mapping[str, object] | None = None) -> None:
        sizes = dict(lanes=lanes, rows=rows, n_inputs=n_inputs, col_word_bits=col_word_bits,
                     weight_bits=weight_bits, time_bits=time_bits,
                     stdp_frac_bits=stdp_frac_bits, ram_latency=ram_latency)
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Learning: {name} must be an int >= 1, not {value!r}")
        if col_word_bits & (col_word_bits - 1):
            raise ValueError(f"Learning: col_word_bits must be a power of two, not "
                             f"{col_word_bits}")
        if ram_latency < 2:
            raise ValueError(f"Learning: ram_latency must be >= 2, not {ram_latency}")
        if not isinstance(paced, bool):
            raise TypeError(f"Learning: paced must be a bool, not {type(paced).__name__}")
        if paced and ram_latency % 2 == 0:
            raise ValueError(f"Learning: ram_latency must be odd when paced, not {ram_latency}")
        self.paced = paced
        self.lanes, self.rows, self.n_inputs, self.word_bits = lanes, rows, n_inputs, col_word_bits
        self.words = -(-n_inputs // col_word_bits)
        self.row_width, self.row_word_count = row_word_shape(rows, row_word_bits)
        row_range = range(self.words * col_word_bits * self.row_word_count)
        self.time_bits = time_bits
        self.latency, self.lfsr_seed, self.pipelined = ram_latency, lfsr_seed, pipelined
        self.ram_attrs = dict(ram_attrs or {})
        row_bits = max(1, (rows - 1).bit_length())
        lane_bits = max(1, (lanes - 1).bit_length())
        col_addr_bits = (lanes * rows * self.words).bit_length()
        self.w_addr_bits = (n_inputs * rows).bit_length()
        # the rule units, made here so that the rate ports take their shapes
        self.stdp = StdpUnit(weight_bits=weight_bits, frac_bits=stdp_frac_bits,
                             time_bits=time_bits)
        self.prune = PruneUnit(weight_bits=weight_bits)
        rate = self.stdp.signature.members["a_plus"].shape
        super().__init__({
            "start": In(1), "run": In(1),
            "win_row": In(row_bits), "win_lane": In(lane_bits), "win_time": In(time_bits),
            "win_col_base": In(col_addr_bits), "win_kmask": In(self.row_width),
            "a_plus": In(rate), "a_minus": In(rate),
            "prune_enable": In(1), "prune_threshold": In(weight_bits),
            "cut_mode": In(1), "cut": In(weight_bits), "cut_equal": In(n_inputs.bit_length()),
            "weights": In(weight_bits).array(lanes), "input_time": In(time_bits),
            "row_words": In(self.row_width).array(lanes), "col_word": In(col_word_bits),
            "weight_addr": Out(self.w_addr_bits),
            "input_addr": Out(range(self.words * col_word_bits)),
            "row_addr": Out(row_range),
            "col_addr": Out(col_addr_bits),
            "weight_write_addr": Out(self.w_addr_bits), "weight_write_data": Out(weight_bits),
            "weight_write_en": Out(1),
            "row_write_addr": Out(row_range),
            "row_write_data": Out(self.row_width).array(lanes), "row_write_en": Out(1),
            "write_input": Out(range(self.words * col_word_bits)),
            "col_write_addr": Out(col_addr_bits), "col_write_data": Out(col_word_bits),
            "col_write_en": Out(1),
            "row": Out(row_bits), "lane": Out(lane_bits), "lane_onehot": Out(lanes),
            "updates": Out(1), "pruned": Out(1), "pruned_q": Out(1), "idle": Out(1),
            "lfsr_write": In(1), "live_write": In(1), "wdata": In(LFSR_BITS),
            "lfsr_step": In(1), "grown": In(1),
            "lfsr": Out(LFSR_BITS, init=lfsr_seed), "live": Out(LFSR_BITS),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        P, K, L = self.lanes, self.rows, self.latency
        B, G = self.word_bits, self.words
        depth = L + 6  # walker FIFO entries, as the integration's fetch (> the fetch latency)
        col_tag = data.StructLayout({"g": unsigned(max(1, (G - 1).bit_length())),
                                     "w_base": unsigned(self.w_addr_bits)})
        m.submodules.col_walker = walker = LockstepWalker(
            lanes=1, width=B, tag_layout=col_tag, depth=depth, pipelined=self.pipelined,
            paced=self.paced, fifo_attrs=self.ram_attrs)
        if self.paced:  # high in every other cycle from the pass's start
            pace = Signal()
            m.d.sync += pace.eq(Mux(self.start, 0, ~pace))
            m.d.comb += walker.pace.eq(pace)

        # the winner, loaded by start
        l_t = Signal(self.time_bits)
        col_base = Signal.like(self.win_col_base)
        kmask = Signal(self.row_width)  # ~(1 << row % R): clears the winner's bit of its words
        gptr = Signal(range(G + 1))
        g_more = Signal()  # gptr != G
        g_wbase = Signal(self.w_addr_bits)  # weight address of (input gptr * B, row): counted
        keep_acc = Signal(B)  # the live bits of the column word so far
        l_cut_mode, l_cut = Signal(), Signal.like(self.cut)
        eq_left, eq_some = Signal.like(self.cut_equal), Signal()  # eq_some: eq_left != 0
        with m.If(self.start):
            m.d.sync += [l_cut_mode.eq(self.cut_mode), l_cut.eq(self.cut),
                         eq_left.eq(self.cut_equal), eq_some.eq(self.cut_equal != 0)]
            m.d.sync += [self.row.eq(self.win_row), self.lane.eq(self.win_lane),
                         l_t.eq(self.win_time), col_base.eq(self.win_col_base),
                         gptr.eq(0), g_more.eq(1), g_wbase.eq(self.win_row), keep_acc.eq(0),
                         self.lane_onehot.eq(1 << self.win_lane), kmask.eq(self.win_kmask),
                         self.col_addr.eq(self.win_col_base)]

        # fetch of the column words
        cs_valid = Signal(L)
        cs_g = register_chain(m, gptr[:col_tag.members["g"].width], L, name="cs_g")
        cs_wbase = register_chain(m, g_wbase, L, name="cs_wbase")
        issue = Signal()
        some = credit_flag(m, depth=depth, issue=issue & self.run,
                           taken=walker.taken & self.run, name="col")
        m.d.comb += issue.eq(g_more & some)
        with m.If(self.run):
            m.d.sync += cs_valid.eq(Cat(issue, cs_valid[:-1]))
            with m.If(issue):
                m.d.sync += [gptr.eq(gptr + 1), g_more.eq(gptr + 1 != G),
                             g_wbase.eq(g_wbase + B * K), self.col_addr.eq(self.col_addr + 1)]
        m.d.comb += [walker.entries.valid.eq(cs_valid[-1]),
                     walker.entries.payload.tag.g.eq(cs_g[-1]),
                     walker.entries.payload.tag.w_base.eq(cs_wbase[-1]),
                     walker.entries.payload.words[0].eq(self.col_word)]

        # address stage: the walker's visit and its weight address, registered
        cw = walker.out
        input_w = Cat(cw.bit[0], cw.tag.g)  # g * B + bit, B a power of two
        bit_times_k = Array(Const(b * K, self.w_addr_bits) for b in range(B))  # a LUT
        cv_valid, cv_seen, c_hit, cv_last = Signal(), Signal(), Signal(), Signal()
        cv_bit, cv_g = Signal.like(cw.bit[0]), Signal.like(cw.tag.g)
        m.d.sync += [cv_valid.eq(cw.valid), cv_seen.eq(cw.hit[0]),
                     c_hit.eq(cw.hit[0] & (input_w < self.n_inputs)), cv_last.eq(cw.last),
                     self.input_addr.eq(input_w), cv_bit.eq(cw.bit[0]), cv_g.eq(cw.tag.g),
                     self.weight_addr.eq(cw.tag.w_base + bit_times_k[cw.bit[0]])]
        m.d.comb += self.updates.eq(c_hit)

        # the write-back's needs ride a DelayLine
        ls_wb = L + StdpUnit.LATENCY + 1
        wb_layout = data.StructLayout({"hit": 1, "last": 1, "seen": 1, "bit": len(cv_bit),
                                       "g": len(cv_g), "waddr": self.w_addr_bits})
        m.submodules.wb_line = wb_line = DelayLine(width=wb_layout.size, delay=ls_wb,
                                                   ram_attrs=self.ram_attrs)
        m.d.comb += wb_line.data.eq(Cat(c_hit, cv_last, cv_seen, cv_bit, cv_g, self.weight_addr))
        at_wb = data.View(wb_layout, wb_line.out)
        # the row-mask word is read at stage ls_wb - L (no copy of it in flight); no other
        # synapse of the pass has the same input
        win_word = row_split(self.row, self.row_width, self.row_word_count)[0]
        row_input = register_chain(m, Cat(cv_bit, cv_g), ls_wb - L, name="row_input")[-1]
        m.d.comb += self.row_addr.eq(row_word_addr(row_input, win_word, self.row_word_count))
        # valid stays a register chain: it is reset, so a reset never replays stale RAM words
        ls_valid = register_chain(m, cv_valid, ls_wb, name="ls_valid")
        ls_hit = register_chain(m, c_hit, L, name="ls_hit")
        wb_valid = ls_valid[-1]
        t_pre = register_chain(m, self.input_time, L - 2, name="t_pre")[-1]  # at stage L

        # STDP and prune
        lfsr = self.lfsr
        # one LFSR step per synaptic update, as it enters StdpUnit (stage L): the same sequence
        # as stepping at the address stage, with no copies of the state in flight
        with m.If((ls_hit[L - 1] & ~l_cut_mode) | self.lfsr_step):
            m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ TOGGLE_MASK, lfsr >> 1))
        with m.If(self.lfsr_write):
            m.d.sync += lfsr.eq(self.wdata)
        m.submodules.stdp = stdp = self.stdp
        m.submodules.prune = prune = self.prune
        m.d.comb += [stdp.w.eq(Array(self.weights)[self.lane]), stdp.t_pre.eq(t_pre),
                     stdp.t_post.eq(l_t), stdp.a_plus.eq(self.a_plus),
                     stdp.a_minus.eq(self.a_minus), stdp.rand.eq(lfsr[:len(stdp.rand)]),
                     prune.w_new.eq(stdp.w_new), prune.enable.eq(self.prune_enable),
                     prune.threshold.eq(self.prune_threshold)]
        # a rewire pass's decision at stage L, in walk order, to the write-back on registers
        w_l = stdp.w
        at_cut = ls_hit[L - 1] & (w_l == l_cut) & eq_some
        with m.If(at_cut):
            m.d.sync += [eq_left.eq(eq_left - 1), eq_some.eq(eq_left != 1)]
        cut_pruned = register_chain(m, (w_l < l_cut) | at_cut, StdpUnit.LATENCY,
                                    name="cut_pruned")[-1]
        w_new_q, pruned_q = self.weight_write_data, self.pruned_q  # stage ls_wb
        m.d.sync += [w_new_q.eq(stdp.w_new),
                     pruned_q.eq(Mux(l_cut_mode, cut_pruned, prune.pruned))]

        # write-back
        do_update = wb_valid & at_wb.hit
        pruned_now = do_update & pruned_q
        bit_oh = Const(1, B) << at_wb.bit  # the synapse's bit in its column word
        keep_now = Mux(at_wb.seen & ~pruned_now, bit_oh, 0)
        m.d.comb += [self.weight_write_addr.eq(at_wb.waddr),
                     self.weight_write_en.eq(do_update & ~l_cut_mode),
                     self.write_input.eq(Cat(at_wb.bit, at_wb.g)),
                     self.row_write_addr.eq(row_word_addr(Cat(at_wb.bit, at_wb.g), win_word,
                                                          self.row_word_count)),
                     self.row_write_en.eq(pruned_now), self.pruned.eq(pruned_now)]
        # the column word's write request leaves registers, a cycle after its last synapse's
        # write-back (the prune decision -> the rebuilt word -> the column RAM's input is then
        # not one cycle across the die); the pass's idle flag comes later still
        m.d.sync += [self.col_write_addr.eq(col_base + at_wb.g),
                     self.col_write_data.eq(keep_acc | keep_now),
                     self.col_write_en.eq(wb_valid & at_wb.last)]
        m.d.comb += [self.row_write_data[p].eq(self.row_words[p] & kmask) for p in range(P)]
        with m.If(self.run):
            with m.If(wb_valid & at_wb.last):
                m.d.sync += keep_acc.eq(0)
            with m.Elif(wb_valid):
                m.d.sync += keep_acc.eq(keep_acc | keep_now)
        # one live synapse less a cycle after each pruning (the flag registered: the 32-bit
        # decrement's enable then leaves a flip-flop); the pass ends later, on idle
        with m.If(self.live_write):
            m.d.sync += self.live.eq(self.wdata)
        pruned_late = Signal()
        m.d.sync += pruned_late.eq(pruned_now)
        with m.If(pruned_late):
            m.d.sync += self.live.eq(self.live - 1)
        with m.Elif(self.grown):
            m.d.sync += self.live.eq(self.live + 1)

        m.d.sync += self.idle.eq(~g_more & (cs_valid == 0) & walker.idle & ~cv_valid
                                 & ~Cat(*ls_valid).any())
        return m
