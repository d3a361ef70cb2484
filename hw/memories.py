"""The core's memories as a public list: where each is, its shape, kind and role.

``memory_list(design)`` elaborates ``design`` and lists every ``lib.memory.Memory`` in it, found
through Amaranth's public ``Fragment`` (each fragment's ``origins`` and ``subfragments``) and the
memory's own properties (depth, shape, read ports, attributes). Reports read this list (block
RAM estimate, power model) instead of walking Amaranth's private netlist classes.

* ``kind``: ``"huge"`` when the memory carries ``ram_style = "huge"`` (the iCE40's SPRAM,
  ``hw.single_port_ram``), ``"distributed"`` when it carries ``ram_style = "distributed"`` or
  any read is asynchronous (no block RAM can serve it), else ``"block"`` (a block-RAM
  candidate; Yosys may still put a tiny one in logic).
* ``role``: what the memory holds, its owner's name without the lane or bank number:
  ``w3.bank7`` -> ``w`` (weights), ``ev_mem``, ``t_in``, ``row``, ``col``, ``v``, ``a``,
  ``spk``, ``labels``, ``row_walker``/``col_walker`` (FIFO storage), ``wb_line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from amaranth.hdl import Fragment, Shape
from amaranth.lib.memory import Memory

from .synthesis import COLLISION_FREE, NO_INIT

__all__ = ["GATED_READ_ROLES", "CoreMemory", "memory_list", "role_of"]

# The roles whose read ports have a read enable (the sweep's stall holds the lane's membrane
# and adaptation reads; a walker's FIFO reads when it takes an entry); every other memory reads
# every cycle. Checked against the netlist by tests/test_synthesis_attrs.py.
GATED_READ_ROLES = ("v", "a", "row_walker", "col_walker")


# the names, inside a memory's owner, of the memory itself: a BankedRam's banks, a FIFO's
# storage, a DelayLine's buffer, a SinglePortRam's memory
_INNER = re.compile(r"bank\d+|fifo|storage|buf|ram")


def role_of(path: str) -> str:
    """What a memory at ``path`` (dotted, below ``top``) holds: the name of its owner (the
    memory itself, or the BankedRam, walker or delay line it is part of) without a lane or bank
    number, wherever the owner sits in the hierarchy."""
    parts = [x for x in path.split(".")[1:] if x] or [path]
    while len(parts) > 1 and _INNER.fullmatch(parts[-1]):
        parts.pop()
    return parts[-1].rstrip("0123456789")


@dataclass(frozen=True)
class CoreMemory:
    """One memory of an elaborated design. ``path``: hierarchical name from ``top``
    (``top.w3.bank7``)."""

    path: str
    depth: int
    width: int
    sync_read: bool  # all read ports registered (block RAM candidate)
    read_ports: int = 1  # a block has one read port: each more is a copy of the memory
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """The path below the top: ``w3.bank7``."""
        return self.path.split(".", 1)[1] if "." in self.path else self.path

    @property
    def bits(self) -> int:
        return self.depth * self.width

    @property
    def ram_style(self) -> str | None:
        """The Yosys ``ram_style`` the memory carries (None: Yosys chooses)."""
        return self.attrs.get("ram_style")

    @property
    def collision_free(self) -> bool:
        """No read meets a write of the same word in a cycle whose read is used."""
        return bool(self.attrs.get(COLLISION_FREE))

    @property
    def no_init(self) -> bool:
        """The build deletes the memory's initial contents (``hw.synthesis.NO_INIT``)."""
        return bool(self.attrs.get(NO_INIT))

    @property
    def kind(self) -> str:
        if self.ram_style == "huge":
            return "huge"
        return "distributed" if self.ram_style == "distributed" or not self.sync_read \
            else "block"

    @property
    def role(self) -> str:
        """``top.w3.bank7`` -> ``w``; ``top.integration.row_walker.fifo.storage`` ->
        ``row_walker`` (``role_of``)."""
        return role_of(self.path)

    @property
    def read_gated(self) -> bool:
        """The core gives its read ports a read enable (``GATED_READ_ROLES``)."""
        return self.role in GATED_READ_ROLES


def memory_list(design: Any, platform: Any = None) -> list[CoreMemory]:
    """Every ``lib.memory.Memory`` of ``design`` elaborated for ``platform``, in elaboration
    order, with its hierarchical path below ``top``."""
    found: list[CoreMemory] = []

    def walk(frag: Fragment, path: str) -> None:
        for origin in frag.origins or ():
            if isinstance(origin, Memory):
                ports = origin.read_ports
                found.append(CoreMemory(path, origin.depth, Shape.cast(origin.shape).width,
                                        all(p.domain != "comb" for p in ports), len(ports),
                                        dict(origin.attrs)))
                break
        for sub, name, _src in frag.subfragments:
            walk(sub, f"{path}.{name}" if name else path)

    walk(Fragment.get(design, platform), "top")
    return found
