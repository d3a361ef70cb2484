"""The walker's LUT-tree bit counters against a popcount, exhaustively for small widths."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.walker import three_or_more, two_or_more


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
