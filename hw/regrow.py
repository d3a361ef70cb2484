"""Regrow: after a winner's learning pass, one absent synapse of the winner regrown per synapse the
pass pruned ("fixed-density" rewiring, ``model.rewiring.regrow``).

While the pass runs the unit counts, from ``Learning``'s strobes, the winner's absent inputs
(``n_inputs`` less the live synapses the pass updated, plus those it pruned) and the regrowths
owed (the synapses pruned). ``go`` (after the pass, when ``pending``) starts them; each
regrowth, ``cycles_per_regrowth`` cycles (steps from ``model.cycles.regrow_schedule``, their one
definition), does what ``regrow_pick`` says with the a absent inputs left:

* t = 0: the absent count a is taken; t = 1..A (A = bits of ``n_inputs``): s * a with s the LFSR
  state (``lfsr``, the one STDP rounds with), shift and add, LSB of a first, keeping the high 32
  bits only (a 33-bit adder, no multiplier); at t = A ``lfsr_step`` asks for the next state;
  pick = (s * a) >> 32 is ready at t = A + 2;
* t = D .. D + G - 1 (D = max(1, A - L - 1)): the neuron's G column-bitmap words are read (latency
  L); each word's absent bits (inputs beyond ``n_inputs`` excepted) are counted in two registered
  stages (groups of 8, then their sum), and a running compare finds the word holding the
  pick-th absent input and its rank r there;
* t = F .. F + B - 1 (F = D + L + G + 3): the word's bits are scanned one a cycle for the rank-r
  absent bit;
* X = F + B + 1: write requests, from registers: the column word with the bit set, the weight
  (``regrow_weight``) at i*K + row in the winner's lane, and the read of input i's row-mask word
  holding the winner's row (``hw.row_words``); ``grown`` (the live count's increment); X + L:
  that word with the winner's bit set.

So a regrowth costs ``D + 2L + G + B + 5`` cycles, wherever its input lies. Its column
write is presented before the next regrowth's first read, its row write a cycle before ``idle``
(registered) goes high after the last regrowth; the banked RAMs keep writes and later reads in
order (``hw.banked_ram``). Every decision is on registers: the step counter's decodes, the
running compare (an A-bit compare and subtract), the scan (a log2(B) + 1-bit count down). The
unit is small on purpose (about 10 B + 3 A + 100 flip-flops, no multiplier, no RAM); still, the
full UP5K is built without it (``Config.regrow_unit``).

Contract: ``clear`` at the pass's start (the counts restart); ``updated`` / ``pruned``: the
pass's strobes (``Learning.updates`` / ``Learning.pruned``); ``go`` for one cycle after the pass
has drained, only when ``pending`` (registered: the pass pruned a synapse); the winner's inputs
are read at ``go``; the memory ports are the unit's from the cycle after ``go`` until ``idle``
(reset high; low from the cycle after ``go``; high in the last regrowth's last cycle).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model.config import row_word_shape
from ..model.cycles import regrow_schedule
from .delay_line import register_chain
from .layouts import LFSR_BITS
from .row_words import row_split, row_word_addr
from .walker import popcount, sum_tree


class Regrow(wiring.Component):
    """``lanes`` x ``rows`` neurons, ``n_inputs`` inputs, column words of ``col_word_bits`` (a
    power of two), ``weight_bits``, ``ram_latency`` L (4..7) of the banked RAMs,
    ``row_word_bits``: the row-mask words' split (``Config.row_word_bits``, 0: a whole row)."""

    def __init__(self, *, lanes: int, rows: int, n_inputs: int, col_word_bits: int,
                 weight_bits: int, ram_latency: int, row_word_bits: int = 0) -> None:
        sizes = dict(lanes=lanes, rows=rows, n_inputs=n_inputs, col_word_bits=col_word_bits,
                     weight_bits=weight_bits, ram_latency=ram_latency)
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Regrow: {name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"Regrow: {name} must be >= 1, not {value}")
        if col_word_bits < 2 or col_word_bits & (col_word_bits - 1):
            raise ValueError(f"Regrow: col_word_bits must be a power of two >= 2, not "
                             f"{col_word_bits}")
        if not 4 <= ram_latency <= 7:
            raise ValueError(f"Regrow: ram_latency must be in 4..7, not {ram_latency}")
        self.lanes, self.rows, self.n_inputs, self.word_bits = lanes, rows, n_inputs, col_word_bits
        self.words = -(-n_inputs // col_word_bits)
        self.row_width, self.row_word_count = row_word_shape(rows, row_word_bits)
        self.latency = ram_latency
        self.schedule = regrow_schedule(n_inputs=n_inputs, col_word_bits=col_word_bits,
                                        ram_latency=ram_latency)
        self.cycles_per_regrowth = self.schedule["cycles"]
        row_bits = max(1, (rows - 1).bit_length())
        lane_bits = max(1, (lanes - 1).bit_length())
        col_addr_bits = (lanes * rows * self.words).bit_length()
        self.w_addr_bits = (n_inputs * rows).bit_length()
        row_range = range(self.words * col_word_bits * self.row_word_count)
        super().__init__({
            "clear": In(1), "updated": In(1), "pruned": In(1), "go": In(1),
            "win_row": In(row_bits), "win_lane": In(lane_bits),
            "win_col_base": In(col_addr_bits),
            "regrow_weight": In(weight_bits), "lfsr": In(LFSR_BITS),
            "col_word": In(col_word_bits), "row_words": In(self.row_width).array(lanes),
            "pending": Out(1), "idle": Out(1, init=1), "lfsr_step": Out(1), "grown": Out(1),
            "lane_onehot": Out(lanes),
            "col_addr": Out(col_addr_bits),
            "col_write_addr": Out(col_addr_bits), "col_write_data": Out(col_word_bits),
            "col_write_en": Out(1),
            "row_addr": Out(row_range),
            "row_write_addr": Out(row_range), "row_write_data": Out(self.row_width).array(lanes),
            "row_write_en": Out(1),
            "weight_write_addr": Out(self.w_addr_bits), "weight_write_data": Out(weight_bits),
            "weight_write_en": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        P, K, L, B, G = self.lanes, self.rows, self.latency, self.word_bits, self.words
        n_in, sch = self.n_inputs, self.schedule
        A, D, R = sch["mul_bits"], sch["read"], sch["cycles"]
        levels = B.bit_length() - 1
        rank_bits = levels + 1  # a rank within a word: 0..B-1 (and the counts up to B)

        # the pass's counts: absent inputs of the winner, regrowths owed
        absent = Signal(range(n_in + 1), init=n_in)
        todo = Signal(range(n_in + 1))
        t = Signal(range(R))
        busy = Signal()
        at = {name: busy & (t == step) for name, step in
              (("take", 0), ("mul_last", A), ("rem", A + 1), ("write", sch["write"] - 1),
               ("last", R - 1))}
        with m.If(self.clear):
            m.d.sync += [absent.eq(n_in), todo.eq(0), self.pending.eq(0)]
        with m.Elif(at["last"]):
            m.d.sync += [absent.eq(absent - 1), todo.eq(todo - 1)]
        with m.Else():
            with m.If(self.updated & ~self.pruned):
                m.d.sync += absent.eq(absent - 1)
            with m.Elif(self.pruned & ~self.updated):
                m.d.sync += absent.eq(absent + 1)
            with m.If(self.pruned):
                m.d.sync += [todo.eq(todo + 1), self.pending.eq(1)]

        # the winner, and the step counter
        row, col_base = Signal.like(self.win_row), Signal.like(self.win_col_base)
        row_word, row_bit = row_split(row, self.row_width, self.row_word_count)
        with m.If(self.go):
            m.d.sync += [row.eq(self.win_row), col_base.eq(self.win_col_base),
                         self.lane_onehot.eq(1 << self.win_lane), busy.eq(1), t.eq(0),
                         self.idle.eq(0)]
        with m.Elif(busy):
            m.d.sync += t.eq(Mux(t == R - 1, 0, t + 1))
            with m.If(at["last"] & (todo == 1)):
                m.d.sync += busy.eq(0)
            with m.If((t == R - 2) & (todo == 1)):
                m.d.sync += self.idle.eq(1)

        # pick = (s * a) >> 32 with s the LFSR state (it holds still until the last step asks
        # for the next): shift and add, LSB of a first, keeping only the high part
        # (hi = floor(s * a / 2^k) after k steps, so pick = hi >> (32 - A))
        a_sh = Signal(A)
        hi = Signal(LFSR_BITS)
        m.d.comb += self.lfsr_step.eq(at["mul_last"])
        with m.If(at["take"]):
            m.d.sync += [a_sh.eq(absent), hi.eq(0)]
        with m.Elif(busy & (t <= A)):
            m.d.sync += [hi.eq((hi + Mux(a_sh[0], self.lfsr, 0)) >> 1), a_sh.eq(a_sh >> 1)]

        # the column words, read at t = D .. D + G - 1
        with m.If(self.go | at["take"]):
            m.d.sync += self.col_addr.eq(Mux(self.go, self.win_col_base, col_base))
        with m.Elif(busy & (t >= D) & (t < D + G - 1)):
            m.d.sync += self.col_addr.eq(self.col_addr + 1)
        # ... arrive at t = D + L + g: their absent bits (W1, inputs beyond n_inputs excepted),
        # counted in groups of 8 (W2), summed (W3), registered every cycle (they matter only at
        # the compare)
        full_mask, last_mask = (1 << B) - 1, (1 << (n_in - (G - 1) * B)) - 1
        arriving_last = busy & (t == D + L + G - 1)
        w1_abs = Signal(B, reset_less=True)
        m.d.sync += w1_abs.eq(~self.col_word & Mux(arriving_last, last_mask, full_mask))
        groups = []
        for g in range(0, B, 8):
            part = popcount(w1_abs[g:g + 8])
            group = Signal(part.shape(), name=f"abs_count{g // 8}", reset_less=True)
            m.d.sync += group.eq(part)
            groups.append(group)
        w3_abs = register_chain(m, w1_abs, 2, name="w_abs", reset_less=True)[-1]
        w3_count = Signal(rank_bits, reset_less=True)
        m.d.sync += w3_count.eq(sum_tree(groups))

        # the running compare, at t = D + L + 3 + g: rem = pick less the absent inputs before
        rem = Signal(A)
        found = Signal()
        f_abs, scan = Signal(B), Signal(B)  # the word found's absent bits; a copy to shift
        rank = Signal(rank_bits)
        f_g = Signal(range(max(2, G)))
        f_wbase = Signal(self.w_addr_bits)
        cg = Signal(range(max(2, G)))
        cwbase = Signal(self.w_addr_bits)  # the weight address of (input cg * B, row)
        comparing = busy & (t >= D + L + 3) & (t < D + L + 3 + G)
        with m.If(at["take"]):
            m.d.sync += [found.eq(0), cg.eq(0), cwbase.eq(row)]
        with m.If(at["rem"]):
            m.d.sync += rem.eq(hi[LFSR_BITS - A:])
        with m.If(comparing):
            m.d.sync += [cg.eq(cg + 1), cwbase.eq(cwbase + B * K)]
            with m.If(~found):
                with m.If(w3_count > rem):
                    m.d.sync += [found.eq(1), f_abs.eq(w3_abs), scan.eq(w3_abs),
                                 rank.eq(rem[:rank_bits]), f_g.eq(cg), f_wbase.eq(cwbase)]
                with m.Else():
                    m.d.sync += rem.eq(rem - w3_count)

        # the rank-th absent bit of the word: one bit a cycle, t = found .. found + B - 1 (the
        # rank counts down at each absent bit; past zero it wraps to >= B and stays clear of 0)
        pos, bit = Signal(levels), Signal(levels)
        with m.If(at["take"]):
            m.d.sync += pos.eq(0)
        with m.If(busy & (t >= sch["found"]) & (t < sch["found"] + B)):
            m.d.sync += [scan.eq(scan >> 1), pos.eq(pos + 1)]
            with m.If(scan[0]):
                m.d.sync += rank.eq(rank - 1)
                with m.If(rank == 0):
                    m.d.sync += bit.eq(pos)

        # the write requests, registered (shown at t = write); the row-mask word L cycles later
        bit_times_k = Array(Const(b * K, self.w_addr_bits) for b in range(B))  # a LUT
        present = ~f_abs & Mux(f_g == G - 1, last_mask, full_mask)
        m.d.sync += [self.col_write_en.eq(at["write"]), self.weight_write_en.eq(at["write"]),
                     self.grown.eq(at["write"])]
        with m.If(at["write"]):
            m.d.sync += [self.col_write_addr.eq(col_base + f_g),
                         self.col_write_data.eq(present | (Const(1, B) << bit)),
                         self.row_addr.eq(row_word_addr(Cat(bit, f_g), row_word,
                                                        self.row_word_count)),
                         self.weight_write_addr.eq(f_wbase + bit_times_k[bit]),
                         self.weight_write_data.eq(self.regrow_weight)]
        m.d.comb += [self.row_write_addr.eq(self.row_addr),
                     self.row_write_en.eq(register_chain(m, self.col_write_en, L,
                                                         name="row_we")[-1])]
        kbit = Const(1, self.row_width) << row_bit  # the winner's bit of its row-mask words
        m.d.comb += [self.row_write_data[p].eq(self.row_words[p] | kbit) for p in range(P)]
        return m
