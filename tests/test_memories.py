"""Amaranth-simulator tests of the core's memory blocks: BankedRam and DelayLine keep their
timing contracts (hw/banked_ram.py, hw/delay_line.py) at several sizes."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.banked_ram import BankedRam, block_depth
from synaprune.hw.delay_line import DelayLine


@pytest.mark.parametrize(("width", "depth", "bank_depth", "latency"),
                         [(8, 40, 16, 4), (50, 20, None, 4), (3, 100, 32, 5), (16, 7, 8, 6),
                          (8, 70, 16, 6), (8, 150, 16, 7), (4, 40, 16, 7),
                          (8, 80, 16, 7)])
def test_banked_ram_reads_what_was_written(width: int, depth: int, bank_depth: int | None,
                                           latency: int) -> None:
    ram = BankedRam(width=width, depth=depth, bank_depth=bank_depth, latency=latency)
    rng = np.random.default_rng(width * depth)
    words = [int(x) for x in rng.integers(0, 1 << width, depth)]
    got: list[tuple[int, int]] = []

    async def bench(ctx: SimulatorContext) -> None:
        for addr, word in enumerate(words):  # one write per cycle
            ctx.set(ram.write.addr, addr)
            ctx.set(ram.write.data, word)
            ctx.set(ram.write.en, 1)
            await ctx.tick()
        ctx.set(ram.write.en, 0)
        order = [int(a) for a in rng.permutation(depth)]
        for cycle in range(depth + latency - 1):  # one read per cycle, in flight
            if cycle < depth:
                ctx.set(ram.read.addr, order[cycle])
            await ctx.tick()
            if cycle + 1 >= latency:
                got.append((order[cycle + 1 - latency], ctx.get(ram.read.data)))

    sim = Simulator(ram)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) == depth
    assert all(word == words[addr] for addr, word in got)
    assert ram.banks == -(-depth // ram.bank_depth)


@pytest.mark.parametrize("latency", [4, 5, 6, 7])
def test_banked_ram_read_after_write_sees_the_new_word(latency: int) -> None:
    ram = BankedRam(width=8, depth=64, bank_depth=16, latency=latency)
    seen: list[int] = []

    async def bench(ctx: SimulatorContext) -> None:
        ctx.set(ram.write.addr, 37)
        ctx.set(ram.write.data, 0xA5)
        ctx.set(ram.write.en, 1)
        await ctx.tick()
        ctx.set(ram.write.en, 0)
        ctx.set(ram.read.addr, 37)  # the cycle after the write was presented
        await ctx.tick().repeat(latency)
        seen.append(ctx.get(ram.read.data))

    sim = Simulator(ram)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0xA5]


def test_block_depth_follows_dp16kd_aspects() -> None:
    assert [block_depth(w) for w in (1, 2, 4, 8, 9, 16, 18, 50)] == \
        [16384, 8192, 4096, 2048, 2048, 1024, 1024, 1024]
    with pytest.raises(ValueError, match="width"):
        block_depth(0)


@pytest.mark.parametrize("delay", [2, 3, 10, 16])
def test_delay_line_delays_every_word(delay: int) -> None:
    line = DelayLine(width=12, delay=delay)
    rng = np.random.default_rng(delay)
    words = [int(x) for x in rng.integers(0, 1 << 12, 60)]
    out: list[int] = []

    async def bench(ctx: SimulatorContext) -> None:
        for word in words + [0] * delay:
            ctx.set(line.data, word)
            await ctx.tick()
            out.append(ctx.get(line.out))

    sim = Simulator(line)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # out after tick n is data of tick n + 1 - delay
    assert out[delay - 1:delay - 1 + len(words)] == words


@pytest.mark.parametrize(("cls", "kwargs", "error", "match"), [
    (BankedRam, {"width": 0, "depth": 4}, ValueError, "width"),
    (BankedRam, {"width": 8, "depth": 4.0}, TypeError, "depth"),
    (BankedRam, {"width": 8, "depth": 64, "bank_depth": 12}, ValueError, "power of two"),
    (BankedRam, {"width": 8, "depth": 64, "latency": 3}, ValueError, "latency"),
    (BankedRam, {"width": 8, "depth": 64, "latency": 8}, ValueError, "latency"),
    (DelayLine, {"width": 8, "delay": 1}, ValueError, "delay"),
    (DelayLine, {"width": True, "delay": 4}, TypeError, "width"),
])
def test_memory_blocks_reject_bad_parameters(cls: type, kwargs: dict, error: type,
                                             match: str) -> None:
    with pytest.raises(error, match=match):
        cls(**kwargs)
