"""Synthesis attributes the hardware sets where a signal or memory is made.

A part's synthesis wants some choices the HDL cannot express as logic: a register copied on
purpose per lane (or per group of banks) must stay a copy, and the small memories belong in
distributed RAM where block RAM is the scarce resource (the ECP5 parts: the 85F layer fills it).
The components take a ``SynthesisHints`` and put the attributes on the ``Signal`` or
``lib.memory.Memory`` they make; Amaranth writes them into the RTLIL, where Yosys reads them.
Nothing here changes the logic, so simulation ignores it.

* Register copies: Yosys' ``opt_merge`` merges registers with the same next-state logic unless
  the flip-flop *cell* carries ``keep``. Amaranth writes a signal's attributes on the
  flip-flop's output *wire* (and on every other wire of the same value, such as a memory
  port's address the copy drives), and ``keep`` there does not stop the merge. So the signal
  carries a mark of ours and the board build sets ``keep`` where the mark says
  (``boards.build.synthesis_commands``, selected by the marks):

  - ``keep_attrs`` (``KEEP_WHOLE``): ``keep`` on the flip-flops and their output wire (the
    core's per-lane flags and addresses, every bit of which is read);
  - ``keep_register_attrs`` (``KEEP_REGISTER``): ``keep`` on the flip-flops only, so Yosys may
    still drop the bits nobody reads (``BankedRam``'s and ``NeuronUpdate``'s registers).

  ``keep`` itself on the signals would change the netlist: on every wire of ``BankedRam`` and
  ``NeuronUpdate`` registers it gave 108 flip-flops more on the 85F; on the core's copies
  Amaranth also puts it on the address ports they drive (273 LUTs fewer, another mapping).
* ``ram_style`` on a small memory: read by Yosys' ``memory_libmap``.
* ``COLLISION_FREE``: an attribute of a memory whose reads never meet a write of the same word
  in a cycle whose read is used; the build sets Yosys' ``COLLISION_X_MASK`` on its read ports
  (no attribute of Yosys' own says so).
* ``NO_INIT``: an attribute of a memory whose contents at power-up do not matter (the host
  writes every word before use); the build deletes its initial contents, which Amaranth always
  writes and the iCE40's SPRAM cannot hold (``single_port_attrs``: with ``ram_style = "huge"``,
  Yosys' name for the SPRAM).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COLLISION_FREE", "KEEP_REGISTER", "KEEP_WHOLE", "NO_INIT", "SynthesisHints"]

# signal attributes that the board build turns into keep on the flip-flops driving the signal
# (KEEP_WHOLE: and on their output wire)
KEEP_REGISTER = "synaprune_keep_register"
KEEP_WHOLE = "synaprune_keep_whole"

# the memory attribute that the board build turns into COLLISION_X_MASK on the memory's reads
COLLISION_FREE = "synaprune_collision_free"
# the memory attribute that the board build turns into the deletion of its initial contents
NO_INIT = "synaprune_no_init"

_RAM_STYLES = (None, "distributed", "block")


@dataclass(frozen=True)
class SynthesisHints:
    """``small_ram_style``: Yosys ``ram_style`` of the small memories (None: Yosys chooses);
    ``keep_copies``: the registers copied on purpose are marked to stay apart (False: Yosys
    may merge them); ``spram``: the single-port memories go to the part's SPRAM (iCE40)."""

    small_ram_style: str | None = None
    keep_copies: bool = False
    spram: bool = False

    def __post_init__(self) -> None:
        if self.small_ram_style not in _RAM_STYLES:
            raise ValueError(f"small_ram_style must be one of {_RAM_STYLES}, not "
                             f"{self.small_ram_style!r}")
        if not isinstance(self.keep_copies, bool):
            raise TypeError(f"keep_copies must be a bool, not {type(self.keep_copies).__name__}")
        if not isinstance(self.spram, bool):
            raise TypeError(f"spram must be a bool, not {type(self.spram).__name__}")

    @classmethod
    def for_family(cls, family: str) -> SynthesisHints:
        """The hints of a part family: ECP5 (block RAM scarce, a die wide enough that one
        register driving every lane is the critical path) gets both; iCE40 none (it has no
        distributed RAM, and every kept copy would be a logic cell; its single-port memories
        go to the SPRAM)."""
        if family == "ecp5":
            return cls(small_ram_style="distributed", keep_copies=True)
        if family == "ice40":
            return cls(spram=True)
        raise ValueError(f"unknown family {family!r}; families: ecp5, ice40")

    @property
    def keep_attrs(self) -> dict[str, int]:
        """Attributes of a register copied on purpose, kept whole (wire and flip-flops)."""
        return {KEEP_WHOLE: 1} if self.keep_copies else {}

    @property
    def keep_register_attrs(self) -> dict[str, int]:
        """Attributes of a register whose flip-flops are kept apart from equal ones (its
        unread bits may go)."""
        return {KEEP_REGISTER: 1} if self.keep_copies else {}

    @property
    def single_port_attrs(self) -> dict[str, object]:
        """Attributes of a single-port memory (``hw.single_port_ram``)."""
        return {"ram_style": "huge", NO_INIT: 1} if self.spram else {}

    @property
    def small_ram_attrs(self) -> dict[str, str]:
        """Attributes of a small memory."""
        return {} if self.small_ram_style is None else {"ram_style": self.small_ram_style}
