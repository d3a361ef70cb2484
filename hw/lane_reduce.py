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

from amaranth.hdl import Array, Cat, Const, Module, Signal, signed
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
        with m.If(self.run):
            r = red[:lane_bits] if P > 1 else Const(0, 1)
            m.d.sync += [c_valid.eq(self.lane_valid.bit_select(r, 1) & (red != P)),
                         c_d.eq(Array(self.lane_margin)[r]), c_k.eq(Array(self.lane_row)[r]),
                         c_p.eq(r)]
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
