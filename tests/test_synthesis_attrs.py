"""The synthesis attributes land where the signals and memories are made (hw/synthesis.py), as
the board build writes them (RTLIL of the board top), and the core's public memory list
(hw/memories.py) matches its netlist."""

from __future__ import annotations

import gc
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import UnusedElaboratable

from synaprune.boards.build import build_bitstream, resolve_toolchain, toolchain_available
from synaprune.boards.platforms import default_config
from synaprune.hw.core import LayerCore
from synaprune.hw.memories import GATED_READ_ROLES, role_of
from synaprune.hw.synthesis import COLLISION_FREE, KEEP_REGISTER, KEEP_WHOLE, SynthesisHints
from synaprune.model.config import Config

CORE = "top.link.core"
# the per-lane register copies of the core and its components: module -> <name><lane> (the
# sweep's row counter, flag and stall only with two lanes or more)
LANE_COPIES = {CORE: ("a_oaddr_l", "in_learn_l", "in_regrow_l"), f"{CORE}.sweep": ("in_clear_l",),
               f"{CORE}.host_port": ("hq_re_l",), f"{CORE}.integration": ("f_more_l", "f_ok_l")}
SWEEP_COPIES = {f"{CORE}.sweep": ("in_sweep_l", "sw_stall_l", "sweep_k_l")}
# the copies of the spike list's read pointer, one per bank (not per lane)
EMIT_COPIES = {f"{CORE}.emit": ("bank_addr_q0", "bank_addr_q1")}
# the small memories: (module, memory); and each lane's row walker's FIFO
SMALL_MEMORIES = ((CORE, "spk0"), (CORE, "spk1"), (CORE, "labels"),
                  (f"{CORE}.learning.col_walker.fifo", "storage"),
                  (f"{CORE}.learning.wb_line", "buf"))


@dataclass
class Module:
    """What the tests need of one RTLIL module: attributes of its wires and memories, the output
    wire of each $dff, and (memory, EN) of each read port."""

    wires: dict[str, dict[str, str]] = field(default_factory=dict)
    memories: dict[str, dict[str, str]] = field(default_factory=dict)
    dff_q: list[str] = field(default_factory=list)
    reads: list[tuple[str, str]] = field(default_factory=list)


def parse_rtlil(text: str) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    mod = Module()
    attrs: dict[str, str] = {}
    cell: dict[str, str] | None = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "module":
            mod = modules.setdefault(words[1].lstrip("\\"), Module())
        elif words[0] == "attribute":
            attrs[words[1].lstrip("\\")] = " ".join(words[2:]).strip('"')
        elif words[0] in ("wire", "memory"):
            table = mod.wires if words[0] == "wire" else mod.memories
            table[words[-1].lstrip("\\")] = attrs
            attrs = {}
        elif words[0] == "cell":
            cell, attrs = {"type": words[1]}, {}
        elif cell is not None and words[0] in ("connect", "parameter"):
            cell[words[1].lstrip("\\")] = " ".join(words[2:])
        elif cell is not None and words[0] == "end":
            if cell["type"] == "$dff":
                mod.dff_q.append(cell["Q"].lstrip("\\"))
            elif cell["type"] == "$memrd_v2":
                mod.reads.append((cell["MEMID"].strip('"').lstrip("\\"), cell["EN"]))
            cell = None
    return modules


def board_top(tmp_path: Path, board: str, device: str, lanes: int,
              ram_latency: int) -> tuple[dict[str, Module], str]:
    """The board top's RTLIL (parsed) and Yosys script, as the board build writes them."""
    cfg = default_config(board, device).replace(lanes=lanes, n_neurons=16 * lanes,
                                                ram_latency=ram_latency)
    build_bitstream(board, device=device, cfg=cfg, do_build=False, build_dir=tmp_path,
                    say=lambda _: None)
    return (parse_rtlil((tmp_path / "top.il").read_text()), (tmp_path / "top.ys").read_text())


def marked(mod: Module, attr: str) -> set[str]:
    """The wires of ``mod`` that carry ``attr`` = 1."""
    return {name for name, attrs in mod.wires.items() if attrs.get(attr) == "1"}


@pytest.mark.parametrize(("lanes", "ram_latency"), [(2, 4), (5, 7)])
def test_ecp5_board_top_carries_the_attributes(tmp_path: Path, lanes: int,
                                               ram_latency: int) -> None:
    """Every per-lane copy of the core's is a flip-flop whose output carries KEEP_WHOLE, every
    register of the BankedRams and NeuronUpdates KEEP_REGISTER, every small memory ram_style
    distributed, every banked or collision-free memory COLLISION_FREE."""
    mods, _script = board_top(tmp_path, "ulx3s", "12F", lanes, ram_latency)
    core = mods[CORE]
    for table in (LANE_COPIES, SWEEP_COPIES):
        for module, names in table.items():
            copies = {f"{name}{p}" for name in names for p in range(lanes)}
            assert copies <= marked(mods[module], KEEP_WHOLE) & set(mods[module].dff_q), module
    for module, names in EMIT_COPIES.items():
        assert set(names) <= marked(mods[module], KEEP_WHOLE) & set(mods[module].dff_q), module
    owners = [f"{CORE}.{name}{p}" for name in ("w", "row", "sweep.neuron")
              for p in range(lanes)]
    for owner in [*owners, f"{CORE}.col"]:
        assert mods[owner].dff_q, owner
        assert set(mods[owner].dff_q) <= marked(mods[owner], KEEP_REGISTER), owner
    walker_fifos = [(f"{CORE}.integration.row_walker{p}.fifo", "storage") for p in range(lanes)]
    for module, memory in [*SMALL_MEMORIES, *walker_fifos]:
        assert mods[module].memories[memory].get("ram_style") == "distributed", module
    banks = [attrs for name in ("w0", f"row{lanes - 1}", "col")
             for attrs in mods[f"{CORE}.{name}"].memories.values()]
    assert banks and all(attrs.get(COLLISION_FREE) == "1" for attrs in banks)
    assert all(core.memories[name].get(COLLISION_FREE) == "1" for name in ("ev_mem", "t_in"))


def test_ice40_board_top_keeps_todays_netlist(tmp_path: Path) -> None:
    """iCE40: no kept copies (each would be a logic cell), no ram_style but the SPRAM's ("huge",
    no distributed RAM) on the UP5K layer's single-port weights and row masks, whose initial
    contents the script deletes."""
    mods, script = board_top(tmp_path, "icebreaker", "UP5K", 2, 5)
    assert not any(marked(mod, KEEP_WHOLE) | marked(mod, KEEP_REGISTER)
                   for mod in mods.values())
    styled = {(path.rsplit(".", 1)[-1], attrs["ram_style"]) for path, mod in mods.items()
              for attrs in mod.memories.values() if "ram_style" in attrs}
    assert styled == {("w0", "huge"), ("w1", "huge"), ("row0", "huge"), ("row1", "huge")}
    assert script.count("delete ") == 4 and "$meminit_v2" in script
    assert "COLLISION_X_MASK" in script


@pytest.mark.skipif(not toolchain_available("ecp5"), reason="no ECP5 toolchain (Yosys) found")
def test_build_script_keeps_exactly_the_marked_flip_flops(tmp_path: Path) -> None:
    """Yosys, after the build's commands: keep on exactly the $dff cells that drive a wire
    marked KEEP_WHOLE or KEEP_REGISTER and on the output wires of the KEEP_WHOLE ones, and
    COLLISION_X_MASK on every read of a COLLISION_FREE memory."""
    lanes = 3
    mods, script = board_top(tmp_path, "ulx3s", "12F", lanes, 7)
    kept = sum(len(set(mod.dff_q) & (marked(mod, KEEP_WHOLE) | marked(mod, KEEP_REGISTER)))
               for mod in mods.values())
    whole = sum(len(set(mod.dff_q) & marked(mod, KEEP_WHOLE)) for mod in mods.values())
    free = sum(1 for mod in mods.values() for memid, _en in mod.reads
               if mod.memories[memid].get(COLLISION_FREE) == "1")
    commands = [line for line in script.splitlines() if line.startswith(("read_rtlil",
                                                                        "setattr", "setparam"))]
    commands += [f"select -assert-count {kept} t:$dff a:keep %i",
                 f"select -assert-count {whole} w:* a:keep %i",
                 f"select -assert-count {free} t:$memrd_v2 r:COLLISION_X_MASK=1 %i"]
    (tmp_path / "check.ys").write_text("\n".join(commands) + "\n")
    yosys = resolve_toolchain("ecp5").env["YOSYS"]
    subprocess.run([yosys, "-q", "check.ys"], cwd=tmp_path, check=True, timeout=300)
    assert kept > whole >= 7 * lanes and free > 2


@pytest.mark.parametrize("lanes", [1, 3])
def test_gated_read_roles_match_the_netlist(lanes: int) -> None:
    """The roles whose reads have an enable (hw.memories.GATED_READ_ROLES) are those whose
    $memrd_v2 cells have an EN other than constant 1 in the core's netlist."""
    cfg = Config(n_inputs=16, n_neurons=4 * lanes, lanes=lanes, k_max=2)
    mods = parse_rtlil(rtlil.convert(LayerCore.from_config(cfg)))
    gated = set()
    for path, mod in mods.items():
        for memid, en in mod.reads:
            if en != "1'1":
                gated.add(role_of(f"{path}.{memid}"))
    assert gated == set(GATED_READ_ROLES)


@pytest.mark.parametrize(("lanes", "hints"), [(2, SynthesisHints()),
                                              (4, SynthesisHints.for_family("ecp5"))])
def test_memory_list(lanes: int, hints: SynthesisHints) -> None:
    """Every memory once, with its shape; the banks of a lane's weights hold n_inputs * K words;
    the small ones distributed exactly when the hints ask."""
    cfg = Config(n_inputs=40, n_neurons=8 * lanes, lanes=lanes)
    mems = LayerCore.from_config(cfg, synthesis=hints).memories()
    assert len({m.path for m in mems}) == len(mems)
    by_role: dict[str, list] = {}
    for mem in mems:
        by_role.setdefault(mem.role, []).append(mem)
    assert sum(m.depth for m in by_role["w"]) == lanes * cfg.n_inputs * cfg.rows
    assert all(m.width == cfg.weight_bits for m in by_role["w"])
    assert len(by_role["v"]) == len(by_role["a"]) == lanes
    small = {"spk", "labels", "row_walker", "col_walker", "wb_line"}
    distributed = {m.role for m in mems if m.kind == "distributed"}
    assert distributed == (small if hints.small_ram_style == "distributed" else set())
    assert {m.role for m in mems if m.collision_free} == {"w", "row", "col", "ev_mem", "t_in",
                                                          "row_walker", "col_walker", "wb_line"}


def test_synthesis_hints_checks() -> None:
    with pytest.raises(ValueError, match="small_ram_style"):
        SynthesisHints(small_ram_style="ultra")
    with pytest.raises(ValueError, match="family"):
        SynthesisHints.for_family("xc7")
    with warnings.catch_warnings():
        # a constructor that raises leaves an object Amaranth reports as never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(TypeError, match="synthesis"):
            LayerCore.from_config(Config(), synthesis="ecp5")  # type: ignore[arg-type]
        gc.collect()
