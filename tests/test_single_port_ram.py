"""SinglePortRam (hw/single_port_ram.py): its timing contract against a model of the memory, in
Amaranth's simulator, at two sizes and the latencies 4 to 7; and on the iCE40 the board build's
commands make Yosys put it in an SB_SPRAM256KA."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator, SimulatorContext

from synaprune.boards.build import resolve_toolchain, synthesis_commands, toolchain_available
from synaprune.hw.memories import memory_list
from synaprune.hw.single_port_ram import SinglePortRam
from synaprune.hw.synthesis import SynthesisHints

CYCLES = 600


@pytest.mark.parametrize("latency", [4, 5, 6, 7])
@pytest.mark.parametrize(("width", "depth"), [(8, 300), (16, 64)])
def test_single_port_ram_against_model(width: int, depth: int, latency: int) -> None:
    """Random reads and writes, never both in one cycle (the core's contract): a read presented
    in cycle c shows in c + latency the word of the last write presented before c."""
    ram = SinglePortRam(width=width, depth=depth, latency=latency)
    rng = random.Random(f"{width} {depth} {latency}")
    model = [0] * depth
    checked = 0

    async def bench(ctx: SimulatorContext) -> None:
        nonlocal checked
        expected: dict[int, int] = {}  # cycle -> the word a read shows then
        for cycle in range(CYCLES + latency):
            if cycle in expected:
                assert ctx.get(ram.read.data) == expected.pop(cycle), f"cycle {cycle}"
                checked += 1
            op = rng.random() if cycle < CYCLES else 1.0
            write = op < 0.4
            addr = rng.randrange(depth)
            ctx.set(ram.write.en, write)
            ctx.set(ram.write.addr, addr)
            ctx.set(ram.read.addr, rng.randrange(depth) if write else addr)
            if write:
                word = rng.getrandbits(width)
                ctx.set(ram.write.data, word)
                model[addr] = word
            elif op < 0.8:
                expected[cycle + latency] = model[addr]
            await ctx.tick()

    sim = Simulator(ram)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert checked > CYCLES // 3


def test_single_port_ram_checks() -> None:
    with pytest.raises(ValueError, match="latency"):
        SinglePortRam(width=8, depth=16, latency=3)
    with pytest.raises(TypeError, match="width"):
        SinglePortRam(width=8.0, depth=16)
    with pytest.raises(ValueError, match="depth"):
        SinglePortRam(width=8, depth=0)


@pytest.mark.skipif(not toolchain_available("ice40"), reason="no iCE40 toolchain (Yosys) found")
@pytest.mark.parametrize(("width", "depth"), [(8, 32768), (16, 2048)])
def test_single_port_ram_maps_to_spram(tmp_path: Path, width: int, depth: int) -> None:
    """With the iCE40 hints the memory asks for the SPRAM and for no initial contents; the
    build's commands delete them, and synth_ice40 -spram maps it to one SB_SPRAM256KA (the
    weights of a 128 x 256 layer, and a row mask too small to win a SPRAM on cost alone)."""
    ram = SinglePortRam(width=width, depth=depth, latency=5,
                        ram_attrs=SynthesisHints.for_family("ice40").single_port_attrs)
    [mem] = memory_list(ram)
    assert (mem.kind, mem.no_init, mem.role) == ("huge", True, "ram")
    (tmp_path / "top.il").write_text(rtlil.convert(ram, name="top"))
    commands = ["read_rtlil top.il", *synthesis_commands(ram, prefix="top"),
                "synth_ice40 -spram -top top",
                "select -assert-count 1 t:SB_SPRAM256KA",
                "select -assert-none t:SB_RAM40_4K"]
    (tmp_path / "check.ys").write_text("\n".join(commands) + "\n")
    yosys = resolve_toolchain("ice40").env["YOSYS"]
    subprocess.run([yosys, "-q", "check.ys"], cwd=tmp_path, check=True, timeout=300)
