"""The deep chain's word map: every knob, status word, counter and memory of a ``DeepChain`` at
one 32-bit word address (``docs/host_protocol.md``, "The deep chain's link").

One source of truth for the chain's link: the hardware (``boards.chain_bus.ChainBus``) decodes
these addresses and the host (``boards.chain_host.ChainBoard``) builds them, both from the same
``ChainMap``. An address is::

    layer field (4 bits) | space (4 bits) | lane (4 bits) | offset (20 bits)

with layer field 0 for the chain's own registers and n + 1 for layer n. A space is a run of
``size`` words per lane (``lanes`` banks, lane 0 only where the space has no lanes), readable,
writable or both; an access of ``count`` words at ``offset`` must stay inside it.

- chain: ``regs`` (``learn_layer``: the layer that learns; any other value and all infer),
  ``status`` (``idle``: every core waits for a sample; ``pred_label``).
- conv layer: ``knobs`` (``CONV_KNOB_WORDS``), ``status`` (``error``, ``idle``, ``lfsr``),
  ``lfsr_load`` (write: the learning unit's LFSR state), ``counters`` (``ConvCounter``),
  ``weight`` and ``mask`` (the kernel memories, ``hw.conv_map``'s lane layout).
- pool layer: ``counters`` (``PoolCounter``).
- classifier: ``regs`` (the layer core's registers but ``learn``, one word per field),
  ``status`` (``error``), and one space per ``HostRegion`` (code 8 + region): the layer core's
  host port as ``boards.protocol`` sizes it (``region_depth``, ``region_laned``,
  ``region_readable``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hw.conv_core import ConvCore, ConvCounter, ConvRegion
from ..hw.conv_pool import PoolCore, PoolCounter
from ..hw.deep_chain import CONV_KNOBS, DeepChain, classifier_regs_layout
from ..hw.layouts import HostRegion, host_data_bits
from .protocol import region_depth, region_laned, region_readable

WORD_BITS = 32
LAYER_SHIFT, SPACE_SHIFT, LANE_SHIFT = 28, 24, 20
OFFSET_BITS = LANE_SHIFT
MAX_LAYERS = 15  # layer fields 1 .. 15
MAX_LANES = 16

# a conv layer's knob words, in address order: the conv core's knobs (but the LFSR load, a
# space of its own) and the two inhibition levels the chain chooses between
CONV_KNOB_WORDS = (*(k for k in CONV_KNOBS if not k.startswith("lfsr")),
                   "inhibit_learn", "inhibit_infer")
CONV_STATUS_WORDS = ("error", "idle", "lfsr")
CHAIN_REGS_WORDS = ("learn_layer",)
CHAIN_STATUS_WORDS = ("idle", "pred_label")
HOST_SPACE_BASE = 8  # the classifier's HostRegion r is space 8 + r


@dataclass(frozen=True)
class Space:
    """One space of the map: ``layer`` (None for the chain's own), its ``code``, ``size`` words
    per lane, ``lanes`` banks, whether it may be read and written, and the names of its words
    (register spaces; empty for memories)."""

    layer: int | None
    name: str
    code: int
    size: int
    lanes: int = 1
    read: bool = True
    write: bool = False
    words: tuple[str, ...] = ()
    region: ConvRegion | HostRegion | None = None  # a memory behind a core's host port

    @property
    def layer_field(self) -> int:
        return 0 if self.layer is None else self.layer + 1

    def address(self, lane: int = 0, offset: int = 0) -> int:
        return ((self.layer_field << LAYER_SHIFT) | (self.code << SPACE_SHIFT)
                | (lane << LANE_SHIFT) | offset)

    def word(self, name: str) -> int:
        """The address of register word ``name``."""
        return self.address(0, self.words.index(name))


class ChainMap:
    """The word map of ``chain`` (a ``DeepChain``; built, not elaborated). ``ValueError`` when
    the chain does not fit the address format (more than 15 layers or 16 lanes, a space deeper
    than 2**20 words, a word wider than 32 bits)."""

    def __init__(self, chain: DeepChain) -> None:
        if not isinstance(chain, DeepChain):
            raise TypeError(f"ChainMap needs a DeepChain, not {type(chain).__name__}")
        layers = chain.config.layers
        if len(layers) > MAX_LAYERS:
            raise ValueError(f"the chain's link addresses at most {MAX_LAYERS} layers, not "
                             f"{len(layers)}")
        spaces = [Space(None, "regs", 0, len(CHAIN_REGS_WORDS), write=True,
                        words=CHAIN_REGS_WORDS),
                  Space(None, "status", 1, len(CHAIN_STATUS_WORDS), words=CHAIN_STATUS_WORDS)]
        for n, core in enumerate(chain.cores):
            if isinstance(core, ConvCore):
                g = chain.geometries[n]
                depth = g.map_rows * g.channels
                spaces += [
                    Space(n, "knobs", 0, len(CONV_KNOB_WORDS), write=True,
                          words=CONV_KNOB_WORDS),
                    Space(n, "status", 1, len(CONV_STATUS_WORDS), words=CONV_STATUS_WORDS),
                    Space(n, "lfsr_load", 5, 1, read=False, write=True),
                    Space(n, "counters", 2, len(ConvCounter)),
                    Space(n, "weight", 3, depth * g.entries, g.lanes, write=True,
                          region=ConvRegion.WEIGHT),
                    Space(n, "mask", 4, depth, g.lanes, write=True, region=ConvRegion.MASK)]
            elif isinstance(core, PoolCore):
                spaces.append(Space(n, "counters", 2, len(PoolCounter)))
            else:
                cfg = chain.classifier_config
                if host_data_bits(cfg) > WORD_BITS:
                    raise ValueError(f"the classifier's host words are {host_data_bits(cfg)} "
                                     f"bits wide; the chain's link carries {WORD_BITS} (set "
                                     f"row_word_bits or col_word_bits)")
                fields = tuple(name for name, _ in classifier_regs_layout(core))
                spaces += [Space(n, "regs", 0, len(fields), write=True, words=fields),
                           Space(n, "status", 1, 1, words=("error",))]
                spaces += [Space(n, r.name.lower(), HOST_SPACE_BASE + r.value,
                                 region_depth(cfg, r), cfg.lanes if region_laned(r) else 1,
                                 read=region_readable(r), write=True, region=r)
                           for r in HostRegion]
        for s in spaces:
            if s.size > 1 << OFFSET_BITS or s.lanes > MAX_LANES:
                raise ValueError(f"layer {s.layer} space {s.name}: {s.lanes} lanes of {s.size} "
                                 f"words do not fit the address format (at most {MAX_LANES} "
                                 f"lanes of {1 << OFFSET_BITS} words)")
        self.chain = chain
        self.spaces = spaces
        self._by_name = {(s.layer, s.name): s for s in spaces}
        self._by_code = {(s.layer_field, s.code): s for s in spaces}

    def space(self, layer: int | None, name: str) -> Space:
        """The space ``name`` of layer ``layer`` (None: the chain's own); ``KeyError`` names
        what there is."""
        try:
            return self._by_name[(layer, name)]
        except KeyError:
            have = sorted(s.name for s in self.spaces if s.layer == layer)
            raise KeyError(f"layer {layer} has no space {name!r} (it has {have})") from None

    def check(self, addr: int, count: int, *, write: bool) -> Space:
        """The space an access of ``count`` words at ``addr`` falls in; ``ValueError`` (what the
        board answers with BAD_ARG) when no space holds it all or the space refuses the
        direction."""
        layer_field, code = addr >> LAYER_SHIFT & 0xF, addr >> SPACE_SHIFT & 0xF
        lane, offset = addr >> LANE_SHIFT & 0xF, addr & ((1 << OFFSET_BITS) - 1)
        s = self._by_code.get((layer_field, code))
        if not 0 <= addr < 1 << WORD_BITS or s is None:
            raise ValueError(f"address {addr:#010x} is in no space of the chain's map")
        if lane >= s.lanes:
            raise ValueError(f"address {addr:#010x}: lane {lane} of layer {s.layer} "
                             f"{s.name}, which has {s.lanes}")
        if count < 1 or offset + count > s.size:
            raise ValueError(f"{count} words at {addr:#010x} pass the end of layer {s.layer} "
                             f"{s.name} ({s.size} words)")
        if (write and not s.write) or (not write and not s.read):
            raise ValueError(f"layer {s.layer} {s.name} cannot be "
                             f"{'written' if write else 'read'}")
        return s


__all__ = ["CHAIN_REGS_WORDS", "CHAIN_STATUS_WORDS", "CONV_KNOB_WORDS", "CONV_STATUS_WORDS",
           "HOST_SPACE_BASE", "WORD_BITS", "ChainMap", "Space"]
