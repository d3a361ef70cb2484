"""SkidBuffer: a two-beat skid buffer in front of a consumer whose decision to take is late logic.

Contract: ``i`` is a ``lib.stream`` input whose ``ready`` is a register (high while the spare slot
is free), so the producer's handshake logic never continues the consumer's decodes; ``o`` is the
held beat: ``o.valid`` high while a beat is held, and the consumer takes it by raising
``o.ready`` in a cycle where ``o.valid`` is high. Beats leave in arrival order; a back-to-back
stream flows one beat per cycle (a beat taken in cycle c is replaced by the spare or by the beat
arriving in c). Latency: a beat accepted in cycle c is held (``o.valid``) from cycle c + 1.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


class SkidBuffer(wiring.Component):
    """Two beats of ``layout`` (a ``data.Layout``): the held one (``o``) and a spare."""

    def __init__(self, *, layout: data.Layout) -> None:
        if not isinstance(layout, data.Layout):
            raise TypeError(f"SkidBuffer: layout must be a data.Layout, not "
                            f"{type(layout).__name__}")
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spare_valid = Signal()
        spare = Signal.like(self.i.payload)
        accept = self.i.valid & ~spare_valid
        m.d.comb += self.i.ready.eq(~spare_valid)
        with m.If(~self.o.valid | self.o.ready):  # the held beat moves on: the spare or a new one
            m.d.sync += [self.o.valid.eq(spare_valid | accept),
                         self.o.payload.eq(Mux(spare_valid, spare, self.i.payload)),
                         spare_valid.eq(0)]
        with m.Elif(accept):
            m.d.sync += [spare_valid.eq(1), spare.eq(self.i.payload)]
        return m
