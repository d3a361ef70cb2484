"""UART 8N1 receiver and transmitter with ``lib.stream`` byte interfaces.

Both take ``divisor``, the clock cycles per bit (``round(clk_freq / baud)``). A frame is one start
bit (0), eight data bits LSB first and one stop bit (1); the idle line is high.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

MIN_DIVISOR = 4


def check_divisor(divisor: int) -> int:
    """``divisor`` itself, or ``TypeError`` / ``ValueError`` if it is not an int >= 4."""
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"divisor must be an int (clock cycles per bit), not "
                        f"{type(divisor).__name__}")
    if divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be >= {MIN_DIVISOR} clock cycles per bit, not {divisor}")
    return divisor


def baud_divisor(clk_freq: float, baud: int, *, tolerance: float = 0.02) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_freq``; ``ValueError`` if the rounded divisor
    is below 4 or misses the baud rate by more than ``tolerance`` (a UART needs about 2 %)."""
    if clk_freq <= 0 or baud <= 0:
        raise ValueError(f"clk_freq ({clk_freq}) and baud ({baud}) must be positive")
    divisor = round(clk_freq / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"clk_freq {clk_freq} Hz is too slow for {baud} baud "
                         f"(needs >= {MIN_DIVISOR} cycles per bit)")
    error = abs(clk_freq / divisor - baud) / baud
    if error > tolerance:
        raise ValueError(f"{baud} baud at {clk_freq} Hz is off by {error:.1%} with divisor "
                         f"{divisor} (limit {tolerance:.0%})")
    return divisor


class UartTx(wiring.Component):
    """8N1 transmitter.

    ``data`` takes one byte whenever the transmitter can start it; back-to-back bytes follow each
    other with exactly one stop bit. ``tx`` is the serial line (idle high).
    """

    def __init__(self, *, divisor: int) -> None:
        self.divisor = check_divisor(divisor)
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shreg = Signal(10, init=0x3FF)  # bits still to send, LSB on the line; ones shift in
        bits = Signal(range(11))  # bits left in the current frame
        count = Signal(range(self.divisor))  # cycles left in the current bit
        m.d.comb += self.tx.eq(shreg[0])

        # A new byte may replace the last cycle of the previous stop bit.
        m.d.comb += self.data.ready.eq((bits == 0) | ((bits == 1) & (count == 0)))
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [shreg.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))),
                         bits.eq(10), count.eq(self.divisor - 1)]
        with m.Elif(bits != 0):
            with m.If(count == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), bits.eq(bits - 1),
                             count.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += count.eq(count - 1)
        return m


class UartRx(wiring.Component):
    """8N1 receiver with a two-flip-flop synchroniser and mid-bit sampling.

    A start bit that is no longer low at its middle is a glitch and ignored. A byte whose stop
    bit samples low is dropped and ``framing_error`` pulses for one cycle; the receiver then waits
    for the line to go high before it looks for the next start bit. ``data`` holds each byte
    until it is taken; a byte that completes while the previous one is still waiting is dropped
    and ``overrun`` pulses.
    """

    def __init__(self, *, divisor: int) -> None:
        self.divisor = check_divisor(divisor)
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8)),
                          "framing_error": Out(1), "overrun": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1, stages=2)

        count = Signal(range(self.divisor))
        bit = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"), m.If(~rx):
                m.d.sync += count.eq(self.divisor // 2 - 1)
                m.next = "START"
            with m.State("START"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(rx):
                    m.next = "IDLE"  # glitch, not a start bit
                with m.Else():
                    m.d.sync += [count.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), count.eq(self.divisor - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(rx):
                    with m.If(self.data.valid & ~self.data.ready):
                        m.d.comb += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.framing_error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"), m.If(rx):
                m.next = "IDLE"
        return m
