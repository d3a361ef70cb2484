"""What ``sim.runner`` builds and runs: a small description of a simulated top.

A ``Top`` names the core's Verilog module and how to elaborate it, its elaboration keywords
(the netlist cache key: runtime registers are not in it), the harness that instantiates the
core (Verilog text and its parameters) and the cocotb test module that drives the harness. The
layer core's top is ``sim.harness.layer_top``; the conv core's is ``sim.conv_harness.conv_top``;
the deep chain's is ``sim.chain_harness.chain_top``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HW_DIR = Path(__file__).parent.parent / "hw"
HARNESS_TOPLEVEL = "sim_harness"  # every harness's module name


def render_harness(path: Path) -> str:
    """The Verilog text of harness ``path`` with each ```include "NAME"`` line replaced by the
    file NAME beside it (the players the harnesses share), so that a build has one file."""
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        head = line.strip()
        if head.startswith("`include"):
            lines.append(render_harness(path.with_name(head.split('"')[1])))
        else:
            lines.append(line)
    return "".join(lines)


@dataclass(frozen=True)
class Top:
    """A core in its harness. ``module``: the core's Verilog module name (the harness
    instantiates it); ``args``: the core's elaboration keywords (JSON-able); ``elaborate``:
    returns the core to convert; ``harness``: the harness's Verilog text; ``parameters``: its
    Verilog parameters; ``test_module``: the cocotb test module (dotted name)."""

    module: str
    args: dict[str, Any]
    harness: str
    parameters: dict[str, int]
    test_module: str
    elaborate: Callable[[], Any] = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        """Digest of the module name, the elaboration keywords, the HDL sources and the
        harness: equal keys, equal simulations."""
        text = json.dumps({"module": self.module, "args": self.args}, sort_keys=True)
        digest = hashlib.sha256(text.encode())
        for src in sorted(HW_DIR.glob("*.py")):
            digest.update(src.read_bytes())
        digest.update(self.harness.encode())
        return digest.hexdigest()[:12]
