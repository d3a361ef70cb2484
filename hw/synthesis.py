"""Synthesis attributes the hardware sets where a signal or memory is made.

A part's synthesis wants some choices the HDL cannot express as logic: a register copied on
purpose per lane (or per group of banks) must stay a copy, and the small memories belong in
distributed RAM where block RAM is the scarce resource (the ECP5 parts: the 85F layer fills it).
The components take a ``SynthesisHints`` and put the attributes on the ``Signal`` or
``lib.memory.Memory`` they make; Amaranth writes them into the RTLIL, where Yosys reads them.
Nothing here changes the logic, so simulation ignores it.

* ``KEEP_REGISTER`` on a register copy: Yosys' ``opt_merge`` merges registers with the same
  next-state logic unless the flip-flop *cell* carries ``keep``. Amaranth writes a signal's
  attributes on the flip-flop's output *wire* (``keep`` there does not stop the merge), so the
  signal carries this attribute and the board build sets ``keep`` on the flip-flops that drive
  a wire with it (``boards.build``, one command selected by the attribute). ``keep`` itself on
  the wire would also bar Yosys from trimming the register's unused or constant bits, which
  the cell's ``keep`` does not: the netlist would change (108 flip-flops more on the 85F).
* ``ram_style`` on a small memory: read by Yosys' ``memory_libmap``.
* ``COLLISION_FREE``: an attribute of a memory whose reads never meet a write of the same word
  in a cycle whose read is used; the build sets Yosys' ``COLLISION_X_MASK`` on its read ports
  (no attribute of Yosys' own says so).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COLLISION_FREE", "KEEP_REGISTER", "SynthesisHints"]

# the signal attribute that the board build turns into keep on the flip-flop driving the signal
KEEP_REGISTER = "synaprune_keep_register"

# the memory attribute that the board build turns into COLLISION_X_MASK on the memory's reads
COLLISION_FREE = "synaprune_collision_free"

_RAM_STYLES = (None, "distributed", "block")


@dataclass(frozen=True)
class SynthesisHints:
    """``small_ram_style``: Yosys ``ram_style`` of the small memories (None: Yosys chooses);
    ``keep_copies``: ``KEEP_REGISTER`` on every register copied on purpose (False: Yosys may
    merge them)."""

    small_ram_style: str | None = None
    keep_copies: bool = False

    def __post_init__(self) -> None:
        if self.small_ram_style not in _RAM_STYLES:
            raise ValueError(f"small_ram_style must be one of {_RAM_STYLES}, not "
                             f"{self.small_ram_style!r}")
        if not isinstance(self.keep_copies, bool):
            raise TypeError(f"keep_copies must be a bool, not {type(self.keep_copies).__name__}")

    @classmethod
    def for_family(cls, family: str) -> SynthesisHints:
        """The hints of a part family: ECP5 (block RAM scarce, a die wide enough that one
        register driving every lane is the critical path) gets both; iCE40 none (it has no
        distributed RAM, and every kept copy would be a logic cell)."""
        if family == "ecp5":
            return cls(small_ram_style="distributed", keep_copies=True)
        if family == "ice40":
            return cls()
        raise ValueError(f"unknown family {family!r}; families: ecp5, ice40")

    @property
    def copy_attrs(self) -> dict[str, int]:
        """Attributes of a register copied on purpose."""
        return {KEEP_REGISTER: 1} if self.keep_copies else {}

    @property
    def small_ram_attrs(self) -> dict[str, str]:
        """Attributes of a small memory."""
        return {} if self.small_ram_style is None else {"ram_style": self.small_ram_style}
