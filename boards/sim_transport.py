"""A ``host.Transport`` that talks to a simulated design over bit-level UART pins.

``SimTransport(cfg)`` simulates ``LinkTop`` (UART, command unit and the real ``LayerCore``) in
Amaranth's simulator; ``UartSimTransport`` does the same for any design with an ``rx`` input and a
``tx`` output pin. Time is simulated time: ``read`` and ``idle`` advance the simulation, so
timeouts are in simulated seconds (at a small clock and divisor, for speed). The host side of the
line is an independent bit-level UART model: it drives frames onto ``rx`` and samples ``tx``
mid-bit, counting bad stop bits in ``framing_errors``.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from amaranth import Signal
from amaranth.hdl import Elaboratable
from amaranth.sim import Simulator, SimulatorContext

from ..hw.deep_chain import DeepChain
from ..model.config import Config
from .chain_link import ChainLinkTop
from .link import LinkTop

Testbench = Callable[[SimulatorContext], Coroutine[Any, Any, None]]


class UartSimTransport:
    """Bit-level UART to ``design``'s ``rx`` / ``tx`` pins at ``clk_freq`` and ``divisor`` clock
    cycles per bit. ``testbenches`` run alongside (e.g. a model of a missing block);
    ``vcd_file`` records a waveform of the whole session (until ``close``)."""

    def __init__(self, design: Elaboratable, *, rx: Signal, tx: Signal, clk_freq: float,
                 divisor: int, link_timeout: float, default_timeout: float,
                 testbenches: Sequence[Testbench] = (), vcd_file: str | None = None) -> None:
        self.clk_freq = clk_freq
        self.divisor = divisor
        self.link_timeout = link_timeout
        self.default_timeout = default_timeout
        self.byte_time = 10 * divisor / clk_freq
        self.framing_errors = 0
        self._rx, self._tx = rx, tx
        self._period = 1 / clk_freq
        self._to_board: deque[int] = deque()  # line levels, one per bit time
        self._from_board = bytearray()
        self._cycles = 0
        self._sim = Simulator(design)
        self._sim.add_clock(self._period)
        self._sim.add_testbench(self._drive, background=True)
        self._sim.add_testbench(self._listen, background=True)
        for bench in testbenches:
            self._sim.add_testbench(bench, background=True)
        self._stack = contextlib.ExitStack()
        if vcd_file is not None:
            self._stack.enter_context(self._sim.write_vcd(vcd_file))

    # Every event lies on the half-period grid: clock edges, and the line model acting half a
    # period after an edge. Deadlines on whole periods are therefore never overshot.
    async def _drive(self, ctx: SimulatorContext) -> None:
        bit = self.divisor * self._period
        ctx.set(self._rx, 1)
        await ctx.tick()
        await ctx.delay(self._period / 2)
        while True:
            if self._to_board:
                ctx.set(self._rx, self._to_board.popleft())
                await ctx.delay(bit)
            else:
                ctx.set(self._rx, 1)
                await ctx.delay(10 * bit)

    async def _listen(self, ctx: SimulatorContext) -> None:
        bit = self.divisor * self._period
        while True:
            await ctx.negedge(self._tx)
            await ctx.delay((self.divisor // 2) * self._period + self._period / 2)
            if ctx.get(self._tx):
                continue  # a glitch, not a start bit
            byte = 0
            for k in range(8):
                await ctx.delay(bit)
                byte |= ctx.get(self._tx) << k
            await ctx.delay(bit)
            if ctx.get(self._tx):
                self._from_board.append(byte)
            else:
                self.framing_errors += 1
                await ctx.posedge(self._tx)

    def _run(self, cycles: int) -> None:
        self._cycles += cycles
        self._sim.run_until(self._cycles * self._period)

    @property
    def now(self) -> float:
        """Simulated seconds so far."""
        return self._cycles * self._period

    def write(self, data: bytes) -> None:
        for byte in data:
            self._to_board.extend([0, *((byte >> k) & 1 for k in range(8)), 1])

    def send_break(self, duration: float) -> None:
        """Hold the line low for ``duration`` seconds (at least one bit time), then idle."""
        bits = max(1, round(duration * self.clk_freq / self.divisor))
        self._to_board.extend([0] * bits + [1])

    def read(self, n: int, timeout: float) -> bytes:
        limit = self._cycles + max(1, round(timeout * self.clk_freq))
        step = 10 * self.divisor
        while len(self._from_board) < n and self._cycles < limit:
            self._run(min(step, limit - self._cycles))
        out = bytes(self._from_board[:n])
        del self._from_board[:n]
        return out

    def flush_input(self) -> None:
        self._from_board.clear()

    def idle(self, seconds: float) -> None:
        if self._to_board:
            self._run(len(self._to_board) * self.divisor)
        self._run(max(1, round(seconds * self.clk_freq)))

    def close(self) -> None:
        self._stack.close()


def link_timing(clk_freq: float, divisor: int, timeout_s: float | None) -> tuple[float, int]:
    """A simulated link's inter-byte timeout (default 20 byte times) and baud rate."""
    byte_time = 10 * divisor / clk_freq
    return (20 * byte_time if timeout_s is None else timeout_s), round(clk_freq / divisor)


class SimTransport(UartSimTransport):
    """``LinkTop`` built from ``cfg`` in the simulator, at ``clk_freq`` (default 1 MHz) and
    ``divisor`` cycles per bit (default 4). The link's inter-byte timeout (``timeout_s``,
    default 20 byte times) and core watchdog (``run_timeout_s``) are in simulated seconds;
    ``default_timeout`` is the host's reply timeout. ``core_clk_freq``: run the core in a clock
    domain of its own at that frequency, behind ``CoreBridge`` (default: the link's clock)."""

    def __init__(self, cfg: Config, *, clk_freq: float = 1e6, divisor: int = 4,
                 timeout_s: float | None = None, run_timeout_s: float = 0.2,
                 default_timeout: float = 0.2, max_payload: int | None = None,
                 vcd_file: str | None = None, core_clk_freq: float | None = None) -> None:
        timeout_s, baud = link_timing(clk_freq, divisor, timeout_s)
        self.top = LinkTop(cfg=cfg, clk_freq=clk_freq, baud=baud, timeout_s=timeout_s,
                           run_timeout_s=run_timeout_s, max_payload=max_payload,
                           core_domain=None if core_clk_freq is None else "core")
        super().__init__(self.top, rx=self.top.rx, tx=self.top.tx, clk_freq=clk_freq,
                         divisor=self.top.divisor, link_timeout=timeout_s,
                         default_timeout=default_timeout, vcd_file=vcd_file)
        if core_clk_freq is not None:
            self._sim.add_clock(1 / core_clk_freq, domain="core")


class ChainSimTransport(UartSimTransport):
    """``ChainLinkTop`` (UART, the chain's executor and ``MappedChain``) for ``chain`` (a
    ``DeepChain``, built and not elaborated) in the simulator; the timing parameters are
    ``SimTransport``'s."""

    def __init__(self, chain: DeepChain, *, clk_freq: float = 1e6, divisor: int = 4,
                 timeout_s: float | None = None, run_timeout_s: float = 0.2,
                 default_timeout: float = 0.2, vcd_file: str | None = None) -> None:
        timeout_s, baud = link_timing(clk_freq, divisor, timeout_s)
        self.top = ChainLinkTop(chain=chain, clk_freq=clk_freq, baud=baud, timeout_s=timeout_s,
                                run_timeout_s=run_timeout_s)
        super().__init__(self.top, rx=self.top.rx, tx=self.top.tx, clk_freq=clk_freq,
                         divisor=self.top.divisor, link_timeout=timeout_s,
                         default_timeout=default_timeout, vcd_file=vcd_file)
