"""LaneReduce: the lanes' best candidates reduced to one winner, a lane per cycle in two stages.

Each lane's sweep keeps its best candidate of a time step (valid, margin, row). The winner is the
candidate with the largest margin; among equal margins the lowest neuron, that is the lowest row
and then the lowest lane (neuron = row * lanes + lane), as ``model.rules`` picks it.

Contract: ``start`` clears the result. In each cycle ``run`` is high, stage 1 loads lane ``red``'s
candidate (``red`` counting 0 .. lanes, from ``start``) and stage 2 compares the candidate loaded in
the cycle before with the best so far (``run`` may pause between cycles); ``done`` is high while
``red == lanes``: the reduce's last cycle when ``run`` is high in it, after which ``best_*`` hold
the winner (``best_valid`` low if no lane had a candidate), and the user stops running (further
run cycles would count on). The reduce takes lanes + 1 run cycles. The lane inputs must hold still
while it runs.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class LaneReduce(wiring.Component):
    """``lanes`` candidates of a ``margin_bits``-bit signed margin and a ``row_bits``-bit row."""

    def __init__(self, *, lanes: int, margin_bits: int, row_bits: int) -> None:
        for name, value in (("lanes", lanes), ("margin_bits", margin_bits),
                            ("row_bits", row_bits)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"LaneReduce: {name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"LaneReduce: {name} must be >= 1, not {value}")
        self.lanes = lanes
        lane_bits = max(1, (lanes - 1).bit_length())
        margin = signed(margin_bits)
        super().__init__({
            "start": In(1), "run": In(1),
            "lane_valid": In(lanes), "lane_margin": In(margin).array(lanes),
            "lane_row": In(row_bits).array(lanes),
            "done": Out(1),
            "best_valid": Out(1), "best_margin": Out(margin), "best_row": Out(row_bits),
            "best_lane": Out(lane_bits),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        P = self.lanes
        lane_bits = max(1, (P - 1).bit_length())
        red = Signal(range(P + 1))
        # stage 1: lane red's candidate (c_*)
        c_valid = Signal()
        c_d, c_k = Signal.like(self.best_margin), Signal.like(self.best_row)
        c_p = Signal(lane_bits)
        best_valid, best_d = self.best_valid, self.best_margin
        best_k, best_p = self.best_row, self.best_lane
        m.d.comb += self.done.eq(red == P)
        with m.If(self.start):
            m.d.sync += [red.eq(0), best_valid.eq(0), c_valid.eq(0)]
        # Stage 1 takes lane 0's candidate in the first run cycle and copies every other lane's
        # into a shift register (sh_*[p] holds lane p's); each later cycle takes sh_*[1] and
        # shifts by one lane. No multiplexer over lanes spread across the die: each register
        # loads from its own lane or its neighbour.
        first = Signal()  # the first run cycle after start
        sh_valid = Signal(P)  # (entry 0 unused: lane 0's candidate is taken directly)
        sh_d = [Signal.like(self.best_margin, name=f"sh_d{p}") for p in range(P)]
        sh_k = [Signal.like(self.best_row, name=f"sh_k{p}") for p in range(P)]
        with m.If(self.start):
            m.d.sync += first.eq(1)
        with m.If(self.run):
            m.d.sync += [first.eq(0), c_p.eq(red[:lane_bits] if P > 1 else 0)]
            with m.If(first | (P == 1)):
                m.d.sync += [c_valid.eq(self.lane_valid[0] & (red != P)),
                             c_d.eq(self.lane_margin[0]),
                             c_k.eq(self.lane_row[0])]
            with m.Else():
                m.d.sync += [c_valid.eq(sh_valid[1 % P] & (red != P)), c_d.eq(sh_d[1 % P]),
                             c_k.eq(sh_k[1 % P])]
            for p in range(1, P):
                nxt = p + 1 if p + 1 < P else None
                with m.If(first):
                    m.d.sync += [sh_valid[p].eq(self.lane_valid[p]),
                                 sh_d[p].eq(self.lane_margin[p]), sh_k[p].eq(self.lane_row[p])]
                with m.Else():
                    m.d.sync += [sh_valid[p].eq(sh_valid[nxt] if nxt else 0),
                                 sh_d[p].eq(sh_d[nxt] if nxt else 0),
                                 sh_k[p].eq(sh_k[nxt] if nxt else 0)]
            # stage 2: c_d > best_d, or equal and c_k < best_k: one signed compare of (d, ~k)
            # keys, as the sign of a subtraction (a carry chain); lanes come in ascending order,
            # so a tie keeps the lower lane
            key_c = Cat(~c_k, c_d).as_signed()
            key_best = Cat(~best_k, best_d).as_signed()
            better = c_valid & (~best_valid | (key_best - key_c)[-1])
            with m.If(better):
                m.d.sync += [best_valid.eq(1), best_d.eq(c_d), best_k.eq(c_k), best_p.eq(c_p)]
            m.d.sync += red.eq(red + 1)
        return m
