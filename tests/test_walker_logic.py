"""The walker's LUT-tree bit counters and popcount against a count of ones, exhaustively for small
widths; its parameter checks."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.walker import LockstepWalker, popcount, three_or_more, two_or_more


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 11])
@pytest.mark.parametrize(("fn", "at_least"), [(two_or_more, 2), (three_or_more, 3)])
def test_bit_count_trees(width: int, fn: object, at_least: int) -> None:
    bits, out = Signal(width), Signal()
    m = Module()
    m.d.comb += out.eq(fn(bits))
    wrong: list[int] = []

    async def bench(ctx: SimulatorContext) -> None:
        for value in range(1 << width):
            ctx.set(bits, value)
            if ctx.get(out) != (bin(value).count("1") >= at_least):
                wrong.append(value)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert wrong == []


@pytest.mark.parametrize("width", [1, 3, 8, 11])
def test_popcount_tree(width: int) -> None:
    bits = Signal(width)
    count = popcount(bits)
    out = Signal(count.shape())
    m = Module()
    m.d.comb += out.eq(count)
    wrong: list[int] = []

    async def bench(ctx: SimulatorContext) -> None:
        for value in range(1 << width):
            ctx.set(bits, value)
            if ctx.get(out) != bin(value).count("1"):
                wrong.append(value)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert wrong == []


def test_walker_rejects_bad_parameters() -> None:
    with pytest.raises(TypeError, match="pipelined"):
        LockstepWalker(lanes=2, width=8, tag_layout=4, pipelined=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="depth"):
        LockstepWalker(lanes=2, width=8, tag_layout=4, depth=0)
