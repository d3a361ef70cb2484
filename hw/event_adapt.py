"""EventAdapt: one core's event word to the next core's, where the two differ (``hw.deep_chain``).

Cores of the deep network speak ``hw.layouts.event_layout`` words, but each sizes its ``index``
and ``time`` fields for itself: a conv core for the wider of its input and output indices, the
layer core for its own inputs and neurons and for its own number of steps. Between two cores
whose words differ this component passes every beat on unchanged but for the two fields:

- ``index`` zero-extended or narrowed to the consumer's width (the producer's indices are below
  ``n_indices``, which the consumer's width holds: nothing is lost);
- ``time`` re-binned t -> t * ``steps_out`` // ``steps_in``, the golden model's
  ``ClassifierLayer.rebin`` (identity when the two are equal): a constant table of
  ``steps_in`` entries. The map is monotone, so a stream in time order stays in time order.

SPIKE and END beats alike (an END's time is the producer's last step, re-binned too). The
handshake is combinational (``valid`` and ``ready`` pass straight through), so the adapter adds
no cycle and no buffer to the stream.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import event_layout


def time_bits(steps: int) -> int:
    """Bits of an event's time for ``steps`` steps (0 .. steps, steps = never), as every core
    sizes it."""
    return steps.bit_length()


class EventAdapt(wiring.Component):
    """``events_in`` (``index_in`` bits, ``steps_in`` steps) -> ``events_out`` (``index_out``
    bits, ``steps_out`` steps), for indices below ``n_indices``."""

    def __init__(self, *, n_indices: int, index_in: int, index_out: int, steps_in: int,
                 steps_out: int) -> None:
        args = dict(n_indices=n_indices, index_in=index_in, index_out=index_out,
                    steps_in=steps_in, steps_out=steps_out)
        for name, value in args.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"EventAdapt: {name} must be an int, not "
                                f"{type(value).__name__}")
            if value < 1:
                raise ValueError(f"EventAdapt: {name} must be >= 1, not {value}")
        need = max(1, (n_indices - 1).bit_length())
        for name in ("index_in", "index_out"):
            if args[name] < need:
                raise ValueError(f"EventAdapt: {name} = {args[name]}: too narrow for "
                                 f"{n_indices} indices")
        if steps_out > steps_in:
            raise ValueError(f"EventAdapt: steps_out = {steps_out}: more than steps_in = "
                             f"{steps_in} (re-binning only merges steps)")
        self.steps_in, self.steps_out = steps_in, steps_out
        super().__init__({
            "events_in": In(stream.Signature(event_layout(index_bits=index_in,
                                                          time_bits=time_bits(steps_in)))),
            "events_out": Out(stream.Signature(event_layout(index_bits=index_out,
                                                            time_bits=time_bits(steps_out)))),
        })

    def rebin(self, t: int) -> int:
        """The output time of input time ``t`` (``ClassifierLayer.rebin``)."""
        return t * self.steps_out // self.steps_in

    def elaborate(self, platform: object) -> Module:
        m = Module()
        i, o = self.events_in, self.events_out
        width = len(o.payload.time)
        table = Array(Const(self.rebin(t), width) for t in range(self.steps_in))
        m.d.comb += [o.valid.eq(i.valid), i.ready.eq(o.ready),
                     o.payload.kind.eq(i.payload.kind),
                     o.payload.index.eq(i.payload.index),
                     o.payload.time.eq(table[i.payload.time])]
        return m
