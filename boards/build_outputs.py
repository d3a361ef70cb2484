"""Reading a finished board build: nextpnr's report, Yosys' statistics and the build record.

The one place that parses build outputs (``boards/build.py`` writes them): resources used and
available, the pruning unit's cells, the core clock's entry and its critical path. The board
report (``boards.report``) and the power model (``boards.power``) both read builds through it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .build import BUILD_INFO, NEXTPNR_REPORT, STAT_JSON, core_clock

# nextpnr utilization names per family: (report key, nextpnr cell types).
_UTIL_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "ice40": {"logic_cells": ("ICESTORM_LC",), "block_ram": ("ICESTORM_RAM",),
              "dsp": ("ICESTORM_DSP",), "spram": ("ICESTORM_SPRAM",), "pll": ("ICESTORM_PLL",),
              "io": ("SB_IO",)},
    "ecp5": {"lut": ("TRELLIS_COMB",), "ff": ("TRELLIS_FF",), "lutram": ("TRELLIS_RAMW",),
             "block_ram": ("DP16KD",), "dsp": ("MULT18X18D",), "pll": ("EHXPLLL",),
             "io": ("TRELLIS_IO",)},
}
_LUT_CELLS = {"SB_LUT4": 1, "LUT4": 1, "CCU2C": 2, "TRELLIS_COMB": 1}
_FF_PREFIXES = ("SB_DFF", "TRELLIS_FF")


class ReportError(ValueError):
    """A build is missing or incomplete; the message says what to run."""


def load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: {what} not found; run 'synaprune bitstream --board ...' "
                          f"first") from None
    except ValueError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from None


def read_build_info(build_dir: str | Path) -> dict[str, Any]:
    info = load_json(Path(build_dir) / BUILD_INFO, "build record")
    if info.get("error"):
        raise ReportError(f"{build_dir}: the build failed: {info['error']}")
    if not info.get("built"):
        raise ReportError(f"{build_dir}: the build files were written but not built")
    return info


def cell_counts(stat_module: dict[str, Any]) -> tuple[int, int]:
    """(LUT4s, flip-flops) of one module of Yosys' ``stat -json``."""
    cells = stat_module.get("num_cells_by_type", {})
    luts = sum(n * _LUT_CELLS.get(t, 0) for t, n in cells.items())
    ffs = sum(n for t, n in cells.items() if t.startswith(_FF_PREFIXES))
    return luts, ffs


def read_stat(build_dir: str | Path) -> dict[str, Any]:
    return load_json(Path(build_dir) / STAT_JSON, "Yosys statistics")


def read_prune_cells(build_dir: str | Path, module: str | None = None) -> int | None:
    """LUT4s of the pruning unit in a build (None when the build did not keep it apart)."""
    build_dir = Path(build_dir)
    if module is None:
        module = read_build_info(build_dir).get("prune_module")
    if not module:
        return None
    mods = read_stat(build_dir).get("modules", {})
    entry = mods.get("\\" + module) or mods.get(module)
    return None if entry is None else cell_counts(entry)[0]


def read_utilization(build_dir: str | Path) -> dict[str, dict[str, float]]:
    """Resources used and available, from nextpnr's report (and Yosys' for the iCE40 LUT/FF
    split); every entry has used, available and fraction (used / available, 0..1).
    ``logic_cells`` is the count the power model uses: iCE40 logic cells, ECP5 max(LUT4, FF)."""
    build_dir = Path(build_dir)
    info = read_build_info(build_dir)
    family = info["family"]
    util = load_json(build_dir / NEXTPNR_REPORT, "nextpnr report").get("utilization", {})
    out: dict[str, dict[str, float]] = {}
    for key, names in _UTIL_NAMES[family].items():
        used = sum(util.get(n, {}).get("used", 0) for n in names)
        avail = sum(util.get(n, {}).get("available", 0) for n in names)
        out[key] = {"used": used, "available": avail,
                    "fraction": used / avail if avail else 0.0}
    if family == "ice40":
        luts, ffs = cell_counts(read_stat(build_dir).get("design", {}))
        lc = out["logic_cells"]["available"]
        out["lut"] = {"used": luts, "available": lc, "fraction": luts / lc if lc else 0.0}
        out["ff"] = {"used": ffs, "available": lc, "fraction": ffs / lc if lc else 0.0}
    else:
        cells = max(out["lut"]["used"], out["ff"]["used"])
        avail = out["lut"]["available"]
        out["logic_cells"] = {"used": cells, "available": avail,
                              "fraction": cells / avail if avail else 0.0}
    return out


_GENERATED = re.compile(r"(_(SB|TRELLIS|LUT4|CCU2C|DP16KD|MULT18|PFUMX|L6MUX|DPR16|ALU54|"
                        r"FD1|\$)[A-Za-z0-9_$]*)$")


def _net_name(name: str) -> str:
    """The design-level name in a synthesized net or cell name (``a.b.sig_SB_LUT4_O_I3`` ->
    ``a.b.sig``)."""
    head = name.split("_SB_", 1)[0].split("_TRELLIS_", 1)[0].split("_LUT4_", 1)[0]
    head = head.split("_CCU2C_", 1)[0].split("_DP16KD_", 1)[0].split("_MULT18X18D_", 1)[0]
    head = _GENERATED.sub("", head)
    return re.sub(r"\[\d+\]$", "", head)


def clock_entry(report: dict[str, Any], target_mhz: float) -> tuple[str, dict[str, float]]:
    """The nextpnr clock whose constraint is nearest ``target_mhz`` (the core clock)."""
    try:
        return core_clock(report, target_mhz)
    except ValueError as err:
        raise ReportError(str(err)) from None


def critical_path(report: dict[str, Any], clock: str) -> dict[str, Any] | None:
    """The worst path of ``clock`` in a nextpnr report: total and logic delay (ns), logic
    levels, start and end cells and the design-level names of the nets it crosses, in order."""
    for path in report.get("critical_paths", []):
        if path.get("from") != f"posedge {clock}" or path.get("to") != f"posedge {clock}":
            continue
        steps = path.get("path", [])
        if not steps:
            return None
        nets: list[str] = []
        for s in steps:
            net = s.get("net")
            if net:
                short = _net_name(net)
                if not nets or nets[-1] != short:
                    nets.append(short)
        return {
            "delay_ns": sum(s.get("delay", 0.0) for s in steps),
            "logic_ns": sum(s.get("delay", 0.0) for s in steps if s.get("type") == "logic"),
            "routing_ns": sum(s.get("delay", 0.0) for s in steps if s.get("type") == "routing"),
            "logic_levels": sum(1 for s in steps if s.get("type") == "logic"),
            "from_cell": _net_name(steps[0]["from"]["cell"]),
            "to_cell": _net_name(steps[-1]["to"]["cell"]),
            "to_port": steps[-1]["to"].get("port", ""),
            "nets": nets,
        }
    return None
