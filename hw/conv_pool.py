"""PoolCore: first-spike max pooling (``model.pooling``) on the event stream between conv cores.

A pooled neuron fires once, at the earliest spike of its window: in the event stream (time
order) the first event of a window makes the pooled spike and every later event of the window
is dropped (``model.pooling.pool_sources``). Windows of ``size`` x ``size`` every ``size``
(non-overlapping, valid: rows and columns past the last whole window belong to none) or, with
``size`` 0, one global window per channel. Input index (c * H + y) * W + x; output index
(c * H_p + y // size) * W_p + x // size.

One event at a time (no hazard on the fired bits): the beat is taken and registered (1), its
pooled index read from a decode ROM (2: read and register; ``none`` for an input in no window),
its window's fired bit read (2) and used a cycle later, then the pooled SPIKE is offered on
``events_out`` until taken and the bit set, or the event is dropped. END is passed on (same
time and index) and then the fired bits are cleared, one per cycle. ``lib.memory.Memory`` for
the ROM and the fired bits.
"""

from __future__ import annotations

import enum

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .counters import check_counter_bits, counter_bank, counters_layout
from .layouts import EventKind, event_layout


class PoolCounter(enum.IntEnum):
    """The pooling core's counters (``counters`` port, cumulative, wrapping at counter_bits)."""

    SAMPLES = 0
    TAKE_CYCLES = 1  # input beats taken (events + END)
    DECIDE_CYCLES = 2  # per event: decode ROM and fired-bit reads, the decision
    SEND_CYCLES = 3  # output beats sent (pooled spikes + END)
    CLEAR_CYCLES = 4  # fired bits cleared (one per pooled neuron)
    EVENTS = 5  # input spikes taken
    SPIKES = 6  # pooled spikes sent
    STALL_CYCLES = 7  # a beat offered on ``events_out`` and not taken (back-pressure)


class PoolCore(wiring.Component):
    """Pooling of a ``channels`` x ``height`` x ``width`` spike map, ``size`` x ``size``
    windows (0: global), ``time_steps``; events of ``index_bits`` bits (at least the input's);
    counters of ``counter_bits`` bits. ``idle``: waiting for a sample's first beat (the last
    sample sent and its fired bits cleared: the counters hold the whole sample)."""

    def __init__(self, *, channels: int, height: int, width: int, size: int,
                 time_steps: int, index_bits: int, counter_bits: int = 32) -> None:
        check_counter_bits("PoolCore", counter_bits)
        args = dict(channels=channels, height=height, width=width, size=size,
                    time_steps=time_steps, index_bits=index_bits)
        for name, value in args.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"PoolCore: {name} must be an int, not {type(value).__name__}")
            if value < (0 if name == "size" else 1):
                raise ValueError(f"PoolCore: {name} must be >= {0 if name == 'size' else 1}, "
                                 f"not {value}")
        if size > min(height, width):
            raise ValueError(f"PoolCore: size = {size}: larger than the input "
                             f"({height}x{width})")
        self.channels, self.height, self.width, self.size = channels, height, width, size
        self.out_h = height // size if size else 1
        self.out_w = width // size if size else 1
        self.n_inputs = channels * height * width
        self.n_outputs = channels * self.out_h * self.out_w
        if index_bits < max(1, (self.n_inputs - 1).bit_length()):
            raise ValueError(f"PoolCore: index_bits = {index_bits}: too narrow for "
                             f"{self.n_inputs} inputs")
        self.time_steps, self.counter_bits = time_steps, counter_bits
        sig = stream.Signature(event_layout(index_bits=index_bits,
                                            time_bits=time_steps.bit_length()))
        super().__init__({"events_in": In(sig), "events_out": Out(sig),
                          "counters": Out(counters_layout(PoolCounter, counter_bits)),
                          "idle": Out(1)})

    def pooled_index(self, i: int) -> int | None:
        """The pooled neuron of input index ``i``, None when it lies in no window."""
        hw = self.height * self.width
        c, y, x = i // hw, (i % hw) // self.width, i % self.width
        if not self.size:
            return c
        py, px = y // self.size, x // self.size
        if py >= self.out_h or px >= self.out_w:
            return None
        return (c * self.out_h + py) * self.out_w + px

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n_out = self.n_outputs
        rom_layout = data.StructLayout({"none": 1, "index": unsigned(max(1, n_out.bit_length()))})
        table = []
        for i in range(self.n_inputs):
            p = self.pooled_index(i)
            table.append({"none": 1, "index": 0} if p is None else {"none": 0, "index": p})
        m.submodules.decode = rom = Memory(shape=rom_layout, depth=self.n_inputs, init=table)
        m.submodules.fired = fired = Memory(shape=unsigned(1), depth=n_out, init=[])
        rom_rd, f_rd, f_wr = rom.read_port(), fired.read_port(), fired.write_port()
        rom_q = Signal(rom_layout)
        f_q = Signal()
        m.d.sync += [rom_q.eq(rom_rd.data), f_q.eq(f_rd.data)]
        beat = Signal.like(self.events_in.payload)
        m.d.comb += [rom_rd.addr.eq(beat.index), f_rd.addr.eq(rom_q.index),
                     f_wr.addr.eq(rom_q.index), f_wr.data.eq(1)]
        out = self.events_out
        cptr = Signal(range(n_out + 1))
        inc = counter_bank(m, self.counters, PoolCounter)
        m.d.comb += inc[PoolCounter.STALL_CYCLES].eq(out.valid & ~out.ready)
        started = Signal()  # a SPIKE of the current sample has been taken
        with m.FSM(name="pool") as fsm:
            with m.State("TAKE"):
                m.d.comb += [self.events_in.ready.eq(1), self.idle.eq(~started)]
                with m.If(self.events_in.valid):
                    m.d.comb += inc[PoolCounter.TAKE_CYCLES].eq(1)
                    m.d.sync += beat.eq(self.events_in.payload)
                    with m.If(self.events_in.payload.kind == EventKind.END):
                        m.d.sync += started.eq(0)
                        m.next = "END"
                    with m.Else():
                        m.d.sync += started.eq(1)
                        m.d.comb += inc[PoolCounter.EVENTS].eq(1)
                        m.next = "DECODE"
            with m.State("DECODE"):  # the ROM's read, then its register
                m.next = "DECODE2"
            with m.State("DECODE2"):
                m.next = "FIRED"
            with m.State("FIRED"):  # the fired bit's read, then its register
                m.next = "FIRED2"
            with m.State("FIRED2"):
                m.next = "FIRED3"
            with m.State("FIRED3"):
                with m.If(rom_q.none | f_q):
                    m.next = "TAKE"
                with m.Else():
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [out.valid.eq(1), out.payload.kind.eq(EventKind.SPIKE),
                             out.payload.time.eq(beat.time), out.payload.index.eq(rom_q.index)]
                with m.If(out.ready):
                    m.d.comb += [f_wr.en.eq(1), inc[PoolCounter.SEND_CYCLES].eq(1),
                                 inc[PoolCounter.SPIKES].eq(1)]
                    m.next = "TAKE"
            with m.State("END"):
                m.d.comb += [out.valid.eq(1), out.payload.eq(beat)]
                with m.If(out.ready):
                    m.d.comb += [inc[PoolCounter.SEND_CYCLES].eq(1),
                                 inc[PoolCounter.SAMPLES].eq(1)]
                    m.d.sync += cptr.eq(0)
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                m.d.comb += [f_wr.addr.eq(cptr), f_wr.data.eq(0), f_wr.en.eq(1),
                             inc[PoolCounter.CLEAR_CYCLES].eq(1)]
                m.d.sync += cptr.eq(cptr + 1)
                with m.If(cptr == n_out - 1):
                    m.next = "TAKE"
        m.d.comb += inc[PoolCounter.DECIDE_CYCLES].eq(
            Cat(fsm.ongoing(s) for s in ("DECODE", "DECODE2", "FIRED", "FIRED2", "FIRED3")).any())
        return m
