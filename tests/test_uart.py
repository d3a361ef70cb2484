"""UART 8N1 receiver and transmitter against an independent bit-level model of the line."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable

import pytest
from amaranth import Module, Signal
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator, SimulatorContext

from synaprune.boards.uart import UartRx, UartTx, baud_divisor

DIVISORS = [4, 9]

async def drive_byte(ctx: SimulatorContext, line: Signal, byte: int, divisor: int, *,
                     stop: int = 1) -> None:
    """Put one 8N1 frame on ``line``, each bit held for ``divisor`` clock cycles."""
    for level in [0, *((byte >> k) & 1 for k in range(8)), stop]:
        ctx.set(line, level)
        await ctx.tick().repeat(divisor)

async def sample_byte(ctx: SimulatorContext, line: Signal, divisor: int) -> tuple[int, int]:
    """Wait for a start bit on ``line`` and sample the frame mid-bit: (byte, stop bit)."""
    await ctx.tick().until(line == 0)
    await ctx.tick().repeat(divisor // 2)
    assert ctx.get(line) == 0, "start bit too short"
    byte = 0
    for k in range(8):
        await ctx.tick().repeat(divisor)
        byte |= ctx.get(line) << k
    await ctx.tick().repeat(divisor)
    return byte, ctx.get(line)

@pytest.mark.parametrize("divisor", DIVISORS)
def test_rx_back_to_back_and_framing_error(divisor: int) -> None:
    dut = UartRx(divisor=divisor)
    sent = [0x00, 0xFF, 0xA5, 0x5A, 0x01, 0x80]
    got: list[int] = []
    errors: list[int] = []

    async def line(ctx: SimulatorContext) -> None:
        await ctx.tick().repeat(3)
        for b in sent[:3]:
            await drive_byte(ctx, dut.rx, b, divisor)
        await drive_byte(ctx, dut.rx, 0x3C, divisor, stop=0)  # bad stop bit: dropped
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(3 * divisor)  # the line stays low (break) for a while
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        for b in sent[3:]:
            await drive_byte(ctx, dut.rx, b, divisor)
        await ctx.tick().repeat(4 * divisor)

    async def sink(ctx: SimulatorContext) -> None:
        ctx.set(dut.data.ready, 1)
        async for _, _, valid, payload, ferr in ctx.tick().sample(
                dut.data.valid, dut.data.payload, dut.framing_error):
            if valid:
                got.append(payload)
            if ferr:
                errors.append(len(got))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(line)
    sim.add_testbench(sink, background=True)
    sim.run()
    assert got == sent
    assert errors == [3]

@pytest.mark.parametrize("divisor", DIVISORS)
def test_rx_ignores_glitch_and_reports_overrun(divisor: int) -> None:
    dut = UartRx(divisor=divisor)
    overruns: list[int] = []

    async def line(ctx: SimulatorContext) -> None:
        await ctx.tick().repeat(3)
        ctx.set(dut.rx, 0)  # a one-cycle low glitch is no start bit
        await ctx.tick()
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        assert not ctx.get(dut.data.valid)
        await drive_byte(ctx, dut.rx, 0x42, divisor)
        await drive_byte(ctx, dut.rx, 0x43, divisor)  # nobody takes 0x42: this one is lost
        await ctx.tick().repeat(divisor)
        assert ctx.get(dut.data.valid) and ctx.get(dut.data.payload) == 0x42
        assert overruns == [1]

    async def watch(ctx: SimulatorContext) -> None:
        async for _, _, ovr in ctx.tick().sample(dut.overrun):
            if ovr:
                overruns.append(1)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(line)
    sim.add_testbench(watch, background=True)
    sim.run()

@pytest.mark.parametrize("divisor", DIVISORS)
def test_tx_back_to_back(divisor: int) -> None:
    dut = UartTx(divisor=divisor)
    sent = [0x00, 0xFF, 0xA5, 0x5A, 0x13]
    got: list[int] = []

    async def source(ctx: SimulatorContext) -> None:
        assert ctx.get(dut.tx) == 1
        for b in sent:
            ctx.set(dut.data.payload, b)
            ctx.set(dut.data.valid, 1)
            await ctx.tick().until(dut.data.ready)
        ctx.set(dut.data.valid, 0)

    async def line(ctx: SimulatorContext) -> None:
        for _ in sent:
            byte, stop = await sample_byte(ctx, dut.tx, divisor)
            assert stop == 1
            got.append(byte)
        # Back to back: the frames take exactly 10 bits each, so the line idles right after.
        await ctx.tick().repeat(divisor)
        assert ctx.get(dut.tx) == 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(line)
    sim.run()
    assert got == sent

@pytest.mark.parametrize("divisor", DIVISORS)
def test_tx_frame_timing(divisor: int) -> None:
    """Two bytes back to back occupy exactly 20 bit times on the line."""
    dut = UartTx(divisor=divisor)
    levels: list[int] = []

    async def source(ctx: SimulatorContext) -> None:
        for b in (0x00, 0xFE):
            ctx.set(dut.data.payload, b)
            ctx.set(dut.data.valid, 1)
            await ctx.tick().until(dut.data.ready)
        ctx.set(dut.data.valid, 0)

    async def record(ctx: SimulatorContext) -> None:
        for _ in range(23 * divisor):
            levels.append(ctx.get(dut.tx))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(record)
    sim.run()
    start = levels.index(0)
    bits = [levels[start + k * divisor + divisor // 2] for k in range(20)]
    expect = [0] + [0] * 8 + [1] + [0] + [0] + [1] * 7 + [1]
    assert bits == expect
    assert all(levels[start + 20 * divisor:])

def test_loopback() -> None:
    """Transmitter into receiver at the same divisor."""

    divisor = 5
    m = Module()
    m.submodules.tx = tx = UartTx(divisor=divisor)
    m.submodules.rx = rx = UartRx(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = list(range(0, 256, 37))
    got: list[int] = []

    async def source(ctx: SimulatorContext) -> None:
        for b in sent:
            ctx.set(tx.data.payload, b)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    async def sink(ctx: SimulatorContext) -> None:
        ctx.set(rx.data.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(rx.data.valid, rx.data.payload):
            if valid:
                got.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink, background=True)
    sim.run()
    assert got == sent

def assert_rejects(exc: type[Exception], match: str, make: Callable[[], object]) -> None:
    """``make()`` raises ``exc``; the half-built object it leaves is collected quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(exc, match=match) as info:
            make()
        del info
        gc.collect()


@pytest.mark.parametrize("bad", [0, 3, -1])
def test_divisor_value_checked(bad: int) -> None:
    assert_rejects(ValueError, "divisor", lambda: UartRx(divisor=bad))
    assert_rejects(ValueError, "divisor", lambda: UartTx(divisor=bad))


@pytest.mark.parametrize("bad", [4.0, "8", True, None])
def test_divisor_type_checked(bad: object) -> None:
    assert_rejects(TypeError, "divisor", lambda: UartRx(divisor=bad))
    assert_rejects(TypeError, "divisor", lambda: UartTx(divisor=bad))


def test_baud_divisor() -> None:
    assert baud_divisor(48e6, 115_200) == 417
    assert baud_divisor(1_000_000, 125_000) == 8
    with pytest.raises(ValueError, match="too slow"):
        baud_divisor(300_000, 115_200)
    with pytest.raises(ValueError, match="off by"):
        baud_divisor(1_000_000, 222_222)
