"""Emit: the sample's spike list out as events, then an END.

The spike list is a memory in two banks, the even and the odd entries (entry e at e // 2 of bank
e % 2), each read at an address this unit drives from a register of its own: bank 0 at
``eptr1 // 2``, bank 1 at ``eptr // 2``, where ``eptr`` is the next spike to send and
``eptr1 = eptr + 1`` is counted alongside. The two address registers are copies of those
(``keep_attrs``: kept apart by the synthesis tool), so each bank's distributed-RAM read, a
multiplexer tree as deep as the bank, starts from a register next to it (the 85F's critical path
ran from ``eptr`` across the die into it). Whether a spike was sent in the cycle before (``eptr``
moved to ``eptr1``) or not, the word of spike ``eptr`` is then in the read register of bank
``eptr % 2``: no logic sits in front of the (distributed-RAM) reads, and the multiplexer after
them has a registered select.

Contract: ``start`` points at entry 0 (the banks are read every cycle: an entry must be written at
least a cycle before it is shown, and the last may be written in the ``start`` cycle); ``arm``, with
``n_spikes``, ``last_step`` and ``pred`` final, starts the emission: from the next cycle ``out``
offers SPIKE (time, neuron) for entries 0 .. n_spikes - 1 in order, one per cycle ``out.ready``
is high, then END (time = ``last_step``, index = ``pred``); ``done`` is high in the cycle the
END is taken, and ``out.valid`` is low from the next cycle until the next ``arm``. The unit keeps
its own "sending" flag rather than taking a run input from the core's FSM, so the decode of the
FSM's state is not on the path to the spike pointer (on the 85F, where the unit sits far from
the FSM, that decode was the critical path). Reads of the spike banks must have latency 1 (a
synchronous read port).
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import EventKind


class Emit(wiring.Component):
    """``spike_layout``: the spike list's entries ({time, neuron}); ``event_layout``: the output
    events' payload ({kind, time, index}); ``max_spikes``: the list's length at most;
    ``keep_attrs``: synthesis attributes of the banks' address registers."""

    def __init__(self, *, spike_layout: data.StructLayout, event_layout: data.StructLayout,
                 max_spikes: int, keep_attrs: Mapping[str, object] | None = None) -> None:
        if not isinstance(max_spikes, int) or isinstance(max_spikes, bool) or max_spikes < 1:
            raise ValueError(f"Emit: max_spikes must be an int >= 1, not {max_spikes!r}")
        for name, layout in (("spike_layout", spike_layout), ("event_layout", event_layout)):
            if not isinstance(layout, data.StructLayout):
                raise TypeError(f"Emit: {name} must be a data.StructLayout, not "
                                f"{type(layout).__name__}")
        bank_depth = (max_spikes + 1) // 2
        time_shape = event_layout.members["time"]
        super().__init__({
            "start": In(1), "arm": In(1),
            "n_spikes": In(range(max_spikes + 1)),
            "last_step": In(time_shape), "pred": In(event_layout.members["index"]),
            # (one signal of both banks' addresses: a port that is a whole copy would give the
            # copy's flip-flops the port's name, not the copy's mark)
            "bank_addr": Out(data.ArrayLayout(range(bank_depth), 2)),
            "bank_data": In(spike_layout).array(2),
            "out": Out(stream.Signature(event_layout)),
            "done": Out(1),
        })
        self.max_spikes, self.bank_depth = max_spikes, bank_depth
        self.keep_attrs = dict(keep_attrs or {})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        N = self.max_spikes
        eptr = Signal(range(N + 1))
        eptr1 = Signal(range(N + 2))  # eptr + 1, counted alongside
        more = Signal()  # eptr != n_spikes (n_spikes holds still while sending)
        sending = Signal()  # from the cycle after arm to the END taken
        word = data.View(self.bank_data[0].shape(),
                         Mux(eptr[0], self.bank_data[1], self.bank_data[0]))
        addr = [Signal(range(self.bank_depth), name=f"bank_addr_q{b}", attrs=self.keep_attrs)
                for b in range(2)]  # eptr1 // 2 and eptr // 2
        m.d.comb += [self.bank_addr[b].eq(addr[b]) for b in range(2)]
        with m.If(self.start):
            m.d.sync += [eptr.eq(0), eptr1.eq(1), addr[0].eq(0), addr[1].eq(0)]
        with m.If(self.arm):
            m.d.sync += [more.eq(self.n_spikes != 0), sending.eq(1)]
        out = self.out
        with m.If(sending):
            m.d.comb += out.valid.eq(1)
            with m.If(more):
                m.d.comb += [out.payload.kind.eq(EventKind.SPIKE),
                             out.payload.time.eq(word.time), out.payload.index.eq(word.neuron)]
                with m.If(out.ready):
                    m.d.sync += [eptr.eq(eptr1), eptr1.eq(eptr1 + 1),
                                 addr[0].eq((eptr1 + 1) >> 1), addr[1].eq(eptr1 >> 1),
                                 more.eq(eptr1 != self.n_spikes)]
            with m.Else():
                m.d.comb += [out.payload.kind.eq(EventKind.END),
                             out.payload.time.eq(self.last_step),
                             out.payload.index.eq(self.pred), self.done.eq(out.ready)]
                with m.If(out.ready):
                    m.d.sync += sending.eq(0)
        return m
