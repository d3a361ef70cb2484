"""The boards the core runs on: parts, platforms, clocks and the default layer sized to each.

Two boards, each with its devices:

* ``ulx3s``: Radiona ULX3S, ECP5 ``LFE5U-12F/25F/45F/85F`` (default 85F), speed grade 6,
  25 MHz oscillator, FTDI FT231X USB-UART (``amaranth_boards.ulx3s``).
* ``icebreaker``: 1BitSquared iCEBreaker, iCE40 ``UP5K`` (SG48), 12 MHz oscillator on the PLL's
  dedicated input pin, FTDI FT2232H USB-UART (``amaranth_boards.icebreaker``).

``default_config(board, device)`` is the layer a board builds unless told otherwise: the MNIST
size (784 inputs, 400 neurons) on the 85F, the digits size (64 inputs) on the smaller ECP5
parts, the digits preset's ON/OFF layer (128 inputs x 256 neurons, one lane, weights in the
SPRAM) on the UP5K. The rule parameters come from the data set's preset
(``model/configs/<name>.toml``) when it exists; only sizes are set here. The lane counts are
chosen so that the block RAM estimate (``estimate_block_rams``, from the memories the core
actually declares) fits the part, and logic fits as measured by place-and-route
(``docs/boards.md`` has the measured figures).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amaranth.build import Platform

from ..hw.memories import CoreMemory
from ..model.config import Config
from ..model.deep_config import DeepConfig
from .protocol import DEFAULT_BAUD

__all__ = [
    "BOARDS", "PARTS", "BoardSpec", "DeviceSpec", "Part", "block_shape_for",
    "blocks_for", "board_names", "board_spec", "default_config", "device_spec",
    "estimate_block_rams", "make_platform",
]


@dataclass(frozen=True)
class Part:
    """Resources of an FPGA part as documented by its vendor (nextpnr may expose more: the
    LFE5U-12F is a 25F die and nextpnr offers all of it)."""

    name: str
    family: str  # "ecp5" or "ice40"
    luts: int  # LUT4s
    ffs: int
    block_rams: int  # DP16KD (18 Kbit) on ECP5, SB_RAM40_4K (4 Kbit) on iCE40
    dsps: int  # MULT18X18D on ECP5, SB_MAC16 on iCE40

    @property
    def block_ram_bits(self) -> int:
        return 18 * 1024 if self.family == "ecp5" else 4 * 1024


# ECP5 family data sheet (FPGA-DS-02012) table 1.1; iCE40 UltraPlus data sheet (FPGA-DS-02008)
# table 1.1.
PARTS: dict[str, Part] = {
    "LFE5U-12F": Part("LFE5U-12F", "ecp5", 12_288, 12_288, 32, 28),
    "LFE5U-25F": Part("LFE5U-25F", "ecp5", 24_288, 24_288, 56, 28),
    "LFE5U-45F": Part("LFE5U-45F", "ecp5", 43_848, 43_848, 108, 72),
    "LFE5U-85F": Part("LFE5U-85F", "ecp5", 83_640, 83_640, 208, 156),
    "iCE40UP5K": Part("iCE40UP5K", "ice40", 5_280, 5_280, 30, 8),
}


@dataclass(frozen=True)
class DeviceSpec:
    """One device choice of a board: the part, its Amaranth platform and its default layer."""

    key: str  # what --device takes: "85F", "UP5K", ...
    part: Part
    platform_factory: Callable[[], Platform]
    dataset: str  # "mnist" or "digits": the preset the default layer starts from
    n_neurons: int
    lanes: int
    target_mhz: float  # clock the PLL makes for the core
    config: dict[str, Any] = field(default_factory=dict)  # other fields the part needs
    seed: int | None = None  # nextpnr placement seed of a default build (None: nextpnr's own)
    placer: str | None = None  # nextpnr placer ("heap", "static", "sa"; None: nextpnr's default)
    # nextpnr's timing-driven rip-up in the router (--tmg-ripup): the router re-routes the nets
    # of failing paths, slower but faster designs where routing dominates (the 85F)
    tmg_ripup: bool = False
    # the deep network's chain this part builds by default (--network deep): the deep preset
    # (model/configs/deep/<name>.toml) and each conv layer's lanes; None: the part has none
    deep: tuple[str, tuple[int, ...]] | None = None


@dataclass(frozen=True)
class BoardSpec:
    """A board: its clock input, UART, LEDs and devices."""

    name: str
    title: str
    family: str
    clk_in_mhz: float
    default_device: str
    devices: dict[str, DeviceSpec] = field(default_factory=dict)
    leds: int = 0
    baud: int = DEFAULT_BAUD  # the host driver's default (boards.protocol)
    programmer: str = "openFPGALoader"
    programmer_board: str = ""  # openFPGALoader -b argument


def _ulx3s(device: str) -> Callable[[], Platform]:
    def factory() -> Platform:
        from amaranth_boards import ulx3s

        return getattr(ulx3s, f"ULX3S_{device}_Platform")()

    return factory


def _icebreaker() -> Platform:
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    return ICEBreakerPlatform()


# Default layers. Sizes were checked against the block RAM estimate below and the logic against
# place-and-route (docs/boards.md); targets: ECP5 >= 100 MHz with a register after each block RAM
# read (the DP16KD's clock-to-out is 5.8 ns without its output register, ECP5 data sheet
# FPGA-DS-02012, EBR timing); about 35-40 MHz is the practical ceiling on the UP5K (docs/boards.md).
BOARDS: dict[str, BoardSpec] = {
    "ulx3s": BoardSpec(
        name="ulx3s", title="Radiona ULX3S (ECP5)", family="ecp5", clk_in_mhz=25.0,
        default_device="85F", leds=8, programmer_board="ulx3s",
        devices={
            "12F": DeviceSpec("12F", PARTS["LFE5U-12F"], _ulx3s("12F"), "digits", 128, 8, 100.0),
            "25F": DeviceSpec("25F", PARTS["LFE5U-25F"], _ulx3s("25F"), "digits", 128, 8, 100.0),
            "45F": DeviceSpec("45F", PARTS["LFE5U-45F"], _ulx3s("45F"), "digits", 256, 16,
                              100.0),
            # the block RAMs fill the whole die: addresses and words cross it in cycles of
            # their own, the bank multiplexer in two levels (ram_latency 7)
            # nextpnr's analytic "static" placer: with every block RAM in use, router2 did not
            # converge on the heap placer's placements of this core; routing is most of every
            # long path, so the router rips up failing ones (docs/boards.md).
            # No regrowth unit by default: with it the core made 97.5 to 100.4 MHz over six
            # builds (placement seeds 1 and 2, three timing cuts), 100 MHz not closed
            # (docs/boards.md); a --config with regrow_unit = true builds it
            # Placement seed 2: at 571f881 the default placement made 94.2 MHz and seed 2
            # 100.2 MHz (docs/boards.md); the margin is placement luck.
            "85F": DeviceSpec("85F", PARTS["LFE5U-85F"], _ulx3s("85F"), "mnist", 400, 8, 100.0,
                              config={"ram_latency": 7, "regrow_unit": False}, placer="static",
                              tmg_ripup=True, seed=2, deep=("ulx3s", (4, 4))),
        }),
    "icebreaker": BoardSpec(
        name="icebreaker", title="1BitSquared iCEBreaker (iCE40 UP5K)", family="ice40",
        # openFPGALoader has no "icebreaker" board; its FT2232H and SPI flash are ice40_generic
        clk_in_mhz=12.0, default_device="UP5K", leds=2, programmer_board="ice40_generic",
        devices={
            # The digits preset's layer (128 ON/OFF inputs x 256 neurons, 93.6 % on digits) in
            # one lane: its weights (256 Kbit) and row masks in the SPRAM (single_port, which
            # needs an odd ram_latency), the row masks in 16-bit words and the fired flags in
            # the adaptation words, so that no logic grows with the 256 rows; 24-bit counters.
            # The 5,280 logic cells are nearly full, so placement decides the last MHz
            # (docs/boards.md). No regrowth unit (about 500 LUT4s more): this layer cannot learn
            # by "fixed-density" or "pq" (Config.regrow_unit)
            "UP5K": DeviceSpec("UP5K", PARTS["iCE40UP5K"], _icebreaker, "digits", 256, 1, 30.0,
                               config={"n_inputs": 128, "on_off": True, "row_word_bits": 16,
                                       "single_port": True, "fired_in_adapt": True,
                                       "ram_latency": 5, "counter_bits": 24,
                                       "regrow_unit": False}, seed=3),
        }),
}

# Sizes of the two data sets' layers when no preset file exists yet.
_DATASET_SIZES: dict[str, dict[str, Any]] = {
    "mnist": {"n_inputs": 784, "image_shape": (28, 28), "on_off": False},
    "digits": {"n_inputs": 64, "image_shape": (8, 8), "on_off": False},
}


def board_names() -> list[str]:
    return sorted(BOARDS)


def board_spec(board: str) -> BoardSpec:
    """The board called ``board`` (``ValueError`` naming the known boards otherwise)."""
    if not isinstance(board, str):
        raise TypeError(f"board must be a str, not {type(board).__name__}")
    try:
        return BOARDS[board.lower()]
    except KeyError:
        raise ValueError(f"unknown board {board!r}; boards: {', '.join(board_names())}") from None


def device_spec(board: str, device: str | None = None) -> DeviceSpec:
    """The device ``device`` of ``board`` (its default device when None); case-insensitive,
    with or without the part prefix ("85F", "85f", "LFE5U-85F")."""
    spec = board_spec(board)
    if device is None:
        return spec.devices[spec.default_device]
    if not isinstance(device, str):
        raise TypeError(f"device must be a str or None, not {type(device).__name__}")
    key = device.upper().removeprefix("LFE5U-").removeprefix("ICE40")
    if key not in spec.devices:
        raise ValueError(f"board {spec.name} has no device {device!r}; devices: "
                         f"{', '.join(spec.devices)}")
    return spec.devices[key]


def _preset_or_default(dataset: str) -> Config:
    """The data set's preset when its file exists, else ``Config()`` resized to the data set
    with the firing threshold scaled by the fan-in (the defaults are tuned for 64 inputs)."""
    try:
        return Config.preset(dataset)
    except ValueError:
        base = Config()
        sizes = _DATASET_SIZES[dataset]
        threshold = min(base.v_max, round(base.threshold * sizes["n_inputs"] / base.n_inputs))
        return base.replace(threshold=threshold, **sizes)


def default_config(board: str, device: str | None = None) -> Config:
    """The layer ``board`` (with ``device``) builds by default: the preset of its data set with
    this board's neuron and lane counts. A preset with ON/OFF channels is reduced to the plain
    image so that the input count is the data set's pixel count."""
    dev = device_spec(board, device)
    base = _preset_or_default(dev.dataset)
    # (a device's own fields win: the UP5K keeps the preset's ON/OFF inputs)
    fields = {**_DATASET_SIZES[dev.dataset], **dev.config}
    return base.replace(n_neurons=dev.n_neurons, lanes=dev.lanes, **fields)


def default_deep(board: str, device: str | None = None) -> tuple[DeepConfig, tuple[int, ...]]:
    """The deep chain ``board`` (with ``device``) builds by default: its configuration and
    conv lanes (``DeviceSpec.deep``); ``ValueError`` for a part without one."""
    dev = device_spec(board, device)
    if dev.deep is None:
        have = [f"{b.name} {d.key}" for b in BOARDS.values() for d in b.devices.values()
                if d.deep is not None]
        raise ValueError(f"{board} {dev.key} has no default deep chain (parts with one: "
                         f"{', '.join(have)}); give --config and --conv-lanes")
    name, lanes = dev.deep
    return DeepConfig.preset(name), lanes


def make_platform(board: str, device: str | None = None) -> Platform:
    """A fresh Amaranth platform for ``board`` / ``device``."""
    return device_spec(board, device).platform_factory()


# ------------------------------------------------------------------------------------------
# Block RAM estimate from the memories the core declares (``LayerCore.memories``).

# (depth, width) shapes of one block: DP16KD true dual port plus the 512x36 pseudo dual port;
# SB_RAM40_4K.
_BLOCK_SHAPES = {
    "ecp5": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
    "ice40": ((2048, 2), (1024, 4), (512, 8), (256, 16)),
}
# Below this many bits a synchronous-read memory goes to distributed RAM (ECP5) or flip-flops
# (iCE40) rather than a block: Yosys' memory_libmap weighs one block against this much logic.
_SMALL_MEMORY_BITS = {"ecp5": 1024, "ice40": 256}


def block_shape_for(depth: int, width: int, family: str) -> tuple[int, int]:
    """The (depth, width) block shape of ``family`` that holds a ``depth`` x ``width`` memory
    in the fewest blocks (the widest such shape on ties)."""
    if family not in _BLOCK_SHAPES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(_BLOCK_SHAPES)}")
    return min(_BLOCK_SHAPES[family],
               key=lambda s: (math.ceil(depth / s[0]) * math.ceil(width / s[1]), -s[1]))


def blocks_for(depth: int, width: int, family: str) -> int:
    """Fewest blocks of ``family`` that hold a ``depth`` x ``width`` memory."""
    d, w = block_shape_for(depth, width, family)
    return math.ceil(depth / d) * math.ceil(width / w)


def estimate_block_rams(cfg: Config, family: str) -> tuple[int, list[tuple[CoreMemory, int]]]:
    """Block RAMs the core built from ``cfg`` needs on ``family``: the total and, per memory,
    the blocks it takes (0: distributed RAM or flip-flops). An estimate of Yosys' mapping;
    the build's report has the real count."""
    from ..hw.core import LayerCore
    from ..hw.synthesis import SynthesisHints

    if family not in _BLOCK_SHAPES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(_BLOCK_SHAPES)}")
    # the core as the board build makes it: on ECP5 its small memories ask for distributed RAM
    core = LayerCore.from_config(cfg, synthesis=SynthesisHints.for_family(family))
    rows = []
    for mem in core.memories():
        # (an SPRAM memory, "huge", takes no block RAM)
        small = mem.bits < _SMALL_MEMORY_BITS[family] or mem.kind in ("distributed", "huge")
        n = 0 if small else blocks_for(mem.depth, mem.width, family) * mem.read_ports
        rows.append((mem, n))
    return sum(n for _, n in rows), rows
