"""Banked RAMs around a unit under test that a testbench can fill: while ``loading`` their
write ports take the testbench's ``load`` requests, otherwise the unit's (the benches of
``tests/test_learning.py`` and ``tests/test_regrow.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.sim import SimulatorContext

from synaprune.hw.banked_ram import BankedRam


class LoadableRams:
    """``rams``' load requests (``load[ram]``: addr, data, en) and the ``loading`` flag."""

    def __init__(self, rams: Sequence[BankedRam]) -> None:
        self.loading = Signal()
        self.load = {ram: SimpleNamespace(addr=Signal.like(ram.write.addr),
                                          data=Signal.like(ram.write.data), en=Signal())
                     for ram in rams}

    def attach(self, m: Module, name: str, ram: BankedRam, *, read_addr: Value,
               data_in: Value, addr: Value, data: Value, en: Value) -> None:
        """Add ``ram`` to ``m``: the unit reads it at ``read_addr`` into ``data_in`` and writes
        ``data`` at ``addr`` when ``en`` (the load requests instead while loading)."""
        m.submodules[name] = ram
        load = self.load[ram]
        m.d.comb += [ram.read.addr.eq(read_addr), data_in.eq(ram.read.data),
                     ram.write.addr.eq(Mux(self.loading, load.addr, addr)),
                     ram.write.data.eq(Mux(self.loading, load.data, data)),
                     ram.write.en.eq(Mux(self.loading, load.en, en))]

    async def fill(self, ctx: SimulatorContext, contents: Sequence[tuple[BankedRam, Sequence[int]]],
                   latency: int) -> None:
        """Write each RAM's words from address 0, all RAMs at once, then wait ``latency``
        cycles for the last writes and end loading."""
        ctx.set(self.loading, 1)
        for addr in range(max(len(words) for _, words in contents)):
            for ram, words in contents:
                port = self.load[ram]
                ctx.set(port.en, addr < len(words))
                if addr < len(words):
                    ctx.set(port.addr, addr)
                    ctx.set(port.data, int(words[addr]))
            await ctx.tick()
        for ram, _ in contents:
            ctx.set(self.load[ram].en, 0)
        await ctx.tick().repeat(latency)  # the last writes are done
        ctx.set(self.loading, 0)
