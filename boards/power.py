"""Activity-based energy estimate of the core on a board (method and sources:
``docs/power_model.md``).

Open FPGA tools have no power model, so this one multiplies per-resource activity by per-resource
energy coefficients and adds static power over the sample's duration:

    E = P_static * t + N_cycles * (e_clock + N_logic * e_logic)
        + N_block_reads * e_bram_read + N_block_writes * e_bram_write + N_dsp_cycles * e_dsp

* ``N_cycles``: the sample's cycles from the cycle model (``model.cycles.sample_cycles``);
  ``t = N_cycles / f``.
* ``N_logic``: logic cells in use (iCE40 logic cells; ECP5 max(LUT4, FF)) from the build.
* Block RAM: the core's read ports are always enabled (Amaranth's default), so every block RAM
  does a read every cycle: ``N_block_reads = N_blocks * N_cycles``. If a design gates its read
  enables, only the reads the schedule needs are counted (``DesignFacts.reads_gated``).
  Writes are the ones the schedule makes (``sample_activity``), each times the blocks a word
  spans.
* DSP: the STDP multipliers' inputs change on every integration and learning cycle.

Each coefficient has a nominal value and a low/high band; the estimate is reported as nominal
with the band obtained by taking all lows and all highs together. iCE40 coefficients are
measured (tinyvision-ai-inc/ice40_power, Joulescope JS110 readings); ECP5 dynamic coefficients are
assumptions scaled from them (no public ECP5 measurement was found), and ECP5 static power is
the data sheet's typical figure for the 12F/25F die, scaled by die size for the 45F/85F.

``estimate_energy(board, cfg, results, learn=..., fmax_mhz=...)`` is the entry point for
experiments; ``energy_from_activity`` is the arithmetic alone.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..model.config import Config
from ..model.network import SampleResult
from .build_outputs import read_prune_cells, read_utilization
from .platforms import block_shape_for, board_spec, device_spec

PAPER_PRUNE_POWER_OVERHEAD = 0.0056  # Nguyen, Veeravalli, Fong, ICONS 2021: 0.56 %
COEFFICIENT_NAMES = ("static_w", "clock_j", "logic_j", "bram_read_j", "bram_write_j", "dsp_j")


@dataclass(frozen=True)
class Coefficient:
    """One energy (J) or power (W) coefficient with its band and where it comes from."""

    nominal: float
    low: float
    high: float
    unit: str
    source: str

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.nominal <= self.high:
            raise ValueError(f"coefficient band must satisfy 0 <= low <= nominal <= high: "
                             f"{self.low}, {self.nominal}, {self.high}")

    def pick(self, corner: str) -> float:
        return {"nominal": self.nominal, "low": self.low, "high": self.high}[corner]


@dataclass(frozen=True)
class Coefficients:
    """Energy coefficients of one part."""

    static_w: Coefficient
    clock_j: Coefficient  # per clock cycle: clock tree and PLL dynamic
    logic_j: Coefficient  # per logic cell per cycle
    bram_read_j: Coefficient  # per block RAM read (one block, one cycle)
    bram_write_j: Coefficient  # per block RAM write (one block)
    dsp_j: Coefficient  # per DSP block per active cycle


# --- iCE40 UP5K: measured on the core rail at 1.219 V (tinyvision-ai-inc/ice40_power README,
# Joulescope JS110). Derivations in docs/power_model.md.
_ICE40_V = 1.219
_ICE40_SRC = "tinyvision-ai-inc/ice40_power (iCE40UP5K, Joulescope), see docs/power_model.md"
ICE40_UP5K = Coefficients(
    # blank design 85.6 uA core + I/O banks (3.4+1.3+1.5 uA at 3.283 V) + PLL rail 138.6 uA;
    # high: twice that (warm die, unmeasured leakage spread).
    static_w=Coefficient(
        nominal=(85.6 * _ICE40_V + (3.4 + 1.3 + 1.5) * 3.283 + 138.6 * _ICE40_V) * 1e-6,
        low=85.6 * _ICE40_V * 1e-6,
        high=2 * (85.6 * _ICE40_V + (3.4 + 1.3 + 1.5) * 3.283 + 138.6 * _ICE40_V) * 1e-6,
        unit="W", source=_ICE40_SRC + ": blank design, I/O banks, PLL rail"),
    # HFOSC 12..48 MHz slope 42.75 uA/MHz; external 12 MHz clock (613.5-85.6)/12 = 44 uA/MHz;
    # high: PLL at 16 MHz, (1419-85.6)/16 = 83 uA/MHz.
    clock_j=Coefficient(nominal=43e-6 * _ICE40_V / 1e6, low=36e-6 * _ICE40_V / 1e6,
                        high=83e-6 * _ICE40_V / 1e6, unit="J/cycle",
                        source=_ICE40_SRC + ": oscillator/PLL clock slope"),
    # counters: (641.3-613.5) uA over 196 LCs at 12 MHz = 14.4 fJ/LC/cycle (low toggle rate);
    # fabric 8x8 multiplier: (996-645) uA over 180 LCs = 198 fJ/LC/cycle (high toggle + glitch);
    # nominal: 30 fJ (toggle rate about twice the counters').
    logic_j=Coefficient(nominal=30e-15, low=(641.3 - 613.5) * 1e-6 * _ICE40_V / 12e6 / 196,
                        high=(996 - 645) * 1e-6 * _ICE40_V / 12e6 / 180, unit="J/cell/cycle",
                        source=_ICE40_SRC + ": counter and fabric-multiplier designs"),
    # No public iCE40 EBR measurement: assumption (40 nm 256x16 SRAM read, about 1-2 pJ, plus
    # driving 16 outputs into the routing), see docs/power_model.md.
    bram_read_j=Coefficient(nominal=3e-12, low=1e-12, high=10e-12, unit="J/read",
                            source="assumption (no public iCE40 EBR measurement)"),
    bram_write_j=Coefficient(nominal=3e-12, low=1e-12, high=10e-12, unit="J/write",
                             source="assumption (no public iCE40 EBR measurement)"),
    # 8x8 multiply in one SB_MAC16 each cycle: (882-645) uA at 12 MHz = 24 pJ/cycle; low: half
    # (fewer toggling inputs); high: the same multiply in fabric, 35.7 pJ/cycle.
    dsp_j=Coefficient(nominal=(882 - 645) * 1e-6 * _ICE40_V / 12e6,
                      low=(882 - 645) * 1e-6 * _ICE40_V / 12e6 / 2,
                      high=(996 - 645) * 1e-6 * _ICE40_V / 12e6, unit="J/cycle",
                      source=_ICE40_SRC + ": 8x8 multiply in SB_MAC16 vs fabric"),
)

# --- ECP5: static from the data sheet (DS1044 / FPGA-DS-02012 section 3.10, 12F/25F typical:
# ICC 77 mA at 1.1 V + ICCAUX 16 mA at 2.5 V); dynamic scaled from iCE40 (same 40 nm
# generation, 1.1 V core: (1.1/1.219)^2 = 0.81), with wider bands for the larger fabric.
_ECP5_STATIC_25F = 0.077 * 1.1 + 0.016 * 2.5
_V2 = (1.1 / _ICE40_V) ** 2
_ECP5_SRC = "assumption scaled from iCE40 measurements (no public ECP5 coefficient)"


def _ecp5(luts: int) -> Coefficients:
    # Static: the only published figure is for the 25F die (the 12F is a 25F die); for larger
    # dies leakage is assumed to scale with die size (LUT count) to the power 0.5 (low) .. 1
    # (high); nominal: the geometric mean.
    ratio = max(1.0, luts / 24_288)
    s_low, s_high = _ECP5_STATIC_25F * ratio ** 0.5, _ECP5_STATIC_25F * ratio
    static = Coefficient(nominal=math.sqrt(s_low * s_high), low=s_low, high=s_high, unit="W",
                         source="ECP5 data sheet 3.10 typical ICC/ICCAUX (25F die)"
                                + ("" if ratio == 1.0 else ", scaled by die size (assumption)"))
    ice = ICE40_UP5K

    def scaled(c: Coefficient, nominal_x: float, high_x: float) -> Coefficient:
        return Coefficient(nominal=c.nominal * _V2 * nominal_x, low=c.low * _V2,
                           high=c.high * _V2 * high_x, unit=c.unit, source=_ECP5_SRC)

    return Coefficients(
        static_w=static,
        clock_j=scaled(ice.clock_j, 4.0 * ratio ** 0.5, 10.0 * ratio ** 0.5),  # larger tree
        logic_j=scaled(ice.logic_j, 1.5, 2.0),  # longer routing per cell
        bram_read_j=scaled(ice.bram_read_j, 2.5, 3.0),  # 18 Kbit blocks, 1024-deep bit lines
        bram_write_j=scaled(ice.bram_write_j, 2.5, 3.0),
        dsp_j=scaled(ice.dsp_j, 1.3, 2.0),  # 18x18 against 16x16
    )


def coefficients(board: str, device: str | None = None) -> Coefficients:
    """The energy coefficients of ``board`` / ``device``'s part."""
    dev = device_spec(board, device)
    if dev.part.family == "ice40":
        return ICE40_UP5K
    return _ecp5(dev.part.luts)


# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DesignFacts:
    """What the power model needs from a build: resources in use and how the block RAMs are
    read. ``prune_cells``: logic cells of the pruning unit alone."""

    logic_cells: int
    block_rams: int
    dsps: int
    prune_cells: int = 0
    reads_gated: bool = False
    source: str = ""


@dataclass(frozen=True)
class Activity:
    """Counts of one sample (or a sum of samples)."""

    cycles: int = 0
    dsp_cycles: int = 0  # cycles in which the multipliers' inputs change (integrate + learn)
    block_reads_needed: int = 0  # block reads the schedule needs (used if reads are gated)
    block_writes: int = 0
    prune_block_writes: int = 0  # block writes that pruning adds (row-mask words)
    synaptic_events: int = 0
    synaptic_updates: int = 0
    pruned: int = 0

    def __add__(self, other: Activity) -> Activity:
        return Activity(**{k: getattr(self, k) + getattr(other, k) for k in asdict(self)})


@dataclass(frozen=True)
class MemoryPlan:
    """Blocks spanned by one word of each of the core's block-RAM memories (by role)."""

    width_blocks: dict[str, int]
    reads_gated: bool


# The memories whose reads and writes ``sample_activity`` counts.
BLOCK_ROLES = ("ev_mem", "t_in", "w", "row", "col")


@functools.lru_cache(maxsize=32)
def memory_plan(cfg: Config, family: str) -> MemoryPlan:
    """Per memory role (``ev_mem``, ``t_in``, ``w``, ``row``, ``col``, ...) the blocks one word
    spans on ``family``, and whether any block-RAM read port of the roles the activity model
    counts (``BLOCK_ROLES``) has a read enable (False: all read every cycle). From the core's
    list of its memories (``LayerCore.memories``)."""
    from ..hw.core import LayerCore

    widths: dict[str, int] = {}
    gated = False
    for mem in LayerCore.from_config(cfg).memories():
        if not mem.sync_read:
            continue
        _depth, w = block_shape_for(mem.depth, mem.width, family)
        widths[mem.role] = max(widths.get(mem.role, 0), math.ceil(mem.width / w))
        gated |= mem.role in BLOCK_ROLES and mem.read_gated
    return MemoryPlan(widths, gated)


def sample_activity(cfg: Config, res: SampleResult, *, plan: MemoryPlan) -> Activity:
    """Activity of one sample of the core (``hw/core.py`` schedule):

    * load: each input event writes the event memory and the input-time memory;
    * integrate: per processed event one event-memory read and one row-mask read per lane;
      one weight read per live synapse;
    * learn: per winner one column-bitmap read and write per word; per update one read of
      the weight, input time and row-mask word and one weight write; per pruned synapse one
      row-mask write (the column-bitmap word is written anyway);
    * clear: per loaded event one event-memory read and one input-time write.
    """
    from ..model.cycles import sample_cycles

    cyc = sample_cycles(cfg, res)
    wb = plan.width_blocks

    def span(role: str) -> int:
        return wb.get(role, 1)

    # the integration's fetch reads the event list and the lanes' row-mask RAMs once per
    # row-mask word of each processed event (an entry of ``event_costs``)
    processed = sum(len(c) for c in res.event_costs)
    winners_learned = len(res.learn_word_pops)
    col_words = winners_learned * cfg.col_words
    reads = (processed * (span("ev_mem") + cfg.lanes * span("row"))
             + res.syn_events * span("w")
             + col_words * span("col")
             + res.syn_updates * (span("w") + span("t_in") + span("row"))
             + res.n_events * span("ev_mem"))
    prune_writes = res.pruned * span("row")
    writes = (res.n_events * (span("ev_mem") + span("t_in"))
              + col_words * span("col")
              + res.syn_updates * span("w")
              + prune_writes
              + res.n_events * span("t_in"))
    return Activity(cycles=cyc.total, dsp_cycles=cyc.integrate + cyc.learn,
                    block_reads_needed=reads, block_writes=writes,
                    prune_block_writes=prune_writes, synaptic_events=res.syn_events,
                    synaptic_updates=res.syn_updates, pruned=res.pruned)


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy (J) by resource for one corner."""

    static: float
    clock: float
    logic: float
    bram: float
    dsp: float
    prune: float  # part of logic and bram due to the pruning unit

    @property
    def total(self) -> float:
        return self.static + self.clock + self.logic + self.bram + self.dsp

    @property
    def dynamic(self) -> float:
        return self.total - self.static


def energy_from_activity(act: Activity, design: DesignFacts, coef: Coefficients, *,
                         fmax_mhz: float, corner: str = "nominal") -> EnergyBreakdown:
    """The arithmetic of the model for one corner ("nominal", "low", "high")."""
    if fmax_mhz <= 0:
        raise ValueError(f"fmax_mhz must be > 0, not {fmax_mhz}")
    if corner not in ("nominal", "low", "high"):
        raise ValueError(f"corner must be nominal, low or high, not {corner!r}")
    seconds = act.cycles / (fmax_mhz * 1e6)
    e_logic = coef.logic_j.pick(corner)
    e_read, e_write = coef.bram_read_j.pick(corner), coef.bram_write_j.pick(corner)
    reads = act.block_reads_needed if design.reads_gated else design.block_rams * act.cycles
    return EnergyBreakdown(
        static=coef.static_w.pick(corner) * seconds,
        clock=coef.clock_j.pick(corner) * act.cycles,
        logic=e_logic * design.logic_cells * act.cycles,
        bram=e_read * reads + e_write * act.block_writes,
        dsp=coef.dsp_j.pick(corner) * design.dsps * act.dsp_cycles,
        prune=e_logic * design.prune_cells * act.cycles + e_write * act.prune_block_writes,
    )


@dataclass
class EnergyEstimate:
    """Mean energy and latency per sample of a set of samples, with the band, a breakdown
    (nominal) and the pruning unit's share."""

    board: str
    device: str
    learn: bool
    samples: int
    fmax_mhz: float
    cycles_mean: float
    latency_us: float
    energy_uj: float  # nominal
    energy_uj_low: float
    energy_uj_high: float
    breakdown_uj: dict[str, float]
    power_mw: float  # nominal mean power while running
    prune_energy_share: float  # pruning unit's share of the total energy (nominal)
    prune_dynamic_share: float  # ... of the dynamic energy
    activity: dict[str, float]
    design: dict[str, Any]
    coefficients: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def design_facts_from_build(build_dir: str | Path) -> DesignFacts:
    """Resources from a finished build (``nextpnr_report.json`` and ``top_stat.json``)."""
    build_dir = Path(build_dir)
    util = read_utilization(build_dir)
    return DesignFacts(logic_cells=util["logic_cells"]["used"],
                       block_rams=util["block_ram"]["used"], dsps=util["dsp"]["used"],
                       prune_cells=read_prune_cells(build_dir) or 0,
                       source=f"build {build_dir}")


def design_facts_estimate(board: str, cfg: Config, device: str | None = None) -> DesignFacts:
    """Resources without a build: block RAMs from the memory estimate, logic cells from the
    fit in ``LOGIC_MODEL`` (measured builds, ``docs/boards.md``), one DSP per multiplier."""
    from .platforms import estimate_block_rams

    dev = device_spec(board, device)
    family = dev.part.family
    blocks, _rows = estimate_block_rams(cfg, family)
    base, per_lane, per_neuron = LOGIC_MODEL[family]
    cells = round(base + per_lane * cfg.lanes + per_neuron * cfg.n_neurons)
    return DesignFacts(logic_cells=cells, block_rams=blocks, dsps=STDP_MULTIPLIERS,
                       prune_cells=PRUNE_CELLS_ESTIMATE, source="estimate (no build)")


# Logic cells ~ base + per_lane * lanes + per_neuron * neurons, from the measured builds
# (docs/boards.md, "Measured builds"): per_lane is one NeuronUpdate and its lane datapath (231
# LUT4 in a UP5K build's per-module statistics); the ECP5 per_neuron is the slope between a 25F
# (128 neurons) and the 85F (400 neurons) build; on iCE40 the neuron state is block RAM, so
# per_neuron is only its fired flag and row-word share; base makes the latest measured build
# (85F: 20,039 cells; UP5K: 5,164 cells) come out exact.
LOGIC_MODEL: dict[str, tuple[float, float, float]] = {
    "ice40": (4773.0, 231.0, 5.0),
    "ecp5": (8839.0, 250.0, 23.0),
}
STDP_MULTIPLIERS = 2  # w * (w_max - w) and rate * spread (hw/rule_units.py StdpUnit)
PRUNE_CELLS_ESTIMATE = 9  # one weight_bits comparator and an AND (8-bit: measured 9 LUT4)


def estimate_energy(board: str, cfg: Config, results: Sequence[SampleResult], *, learn: bool,
                    fmax_mhz: float, device: str | None = None,
                    design: DesignFacts | None = None,
                    build_dir: str | Path | None = None) -> EnergyEstimate:
    """Mean energy, latency and power per sample of ``results`` (golden-model samples run with
    ``learn``) on ``board`` / ``device`` at ``fmax_mhz``.

    Resources come from ``design`` if given, else from the build in ``build_dir`` (default
    ``build/<board>``) when its configuration is ``cfg``, else from ``design_facts_estimate``.
    ``learn`` only labels the estimate; the activity comes from the results themselves.
    Raises ``ValueError`` for an empty ``results`` or a non-positive ``fmax_mhz``.
    """
    spec = board_spec(board)
    dev = device_spec(board, device)
    if not results:
        raise ValueError("results is empty: need at least one sample")
    if not isinstance(fmax_mhz, (int, float)) or fmax_mhz <= 0:
        raise ValueError(f"fmax_mhz must be a positive number, not {fmax_mhz!r}")
    if design is None:
        design = _design_for(spec.name, dev.key, cfg, build_dir)
    plan = memory_plan(cfg, dev.part.family)
    if plan.reads_gated and not design.reads_gated:
        design = replace(design, reads_gated=True)
    coef = coefficients(spec.name, dev.key)
    total = Activity()
    for res in results:
        total = total + sample_activity(cfg, res, plan=plan)
    n = len(results)
    corners = {c: energy_from_activity(total, design, coef, fmax_mhz=fmax_mhz, corner=c)
               for c in ("nominal", "low", "high")}
    nom = corners["nominal"]
    seconds = total.cycles / (fmax_mhz * 1e6)
    return EnergyEstimate(
        board=spec.name, device=dev.key, learn=learn, samples=n, fmax_mhz=float(fmax_mhz),
        cycles_mean=total.cycles / n, latency_us=seconds / n * 1e6,
        energy_uj=nom.total / n * 1e6, energy_uj_low=corners["low"].total / n * 1e6,
        energy_uj_high=corners["high"].total / n * 1e6,
        breakdown_uj={k: getattr(nom, k) / n * 1e6
                      for k in ("static", "clock", "logic", "bram", "dsp", "prune")},
        power_mw=(nom.total / seconds * 1e3) if seconds > 0 else 0.0,
        prune_energy_share=nom.prune / nom.total if nom.total > 0 else 0.0,
        prune_dynamic_share=nom.prune / nom.dynamic if nom.dynamic > 0 else 0.0,
        activity={k: v / n for k, v in asdict(total).items()},
        design=asdict(design),
        coefficients={k: asdict(getattr(coef, k)) for k in COEFFICIENT_NAMES},
    )


def _design_for(board: str, device: str, cfg: Config,
                build_dir: str | Path | None) -> DesignFacts:
    from .build import BUILD_INFO, BUILD_ROOT

    path = Path(build_dir) if build_dir is not None else BUILD_ROOT / board
    try:
        info = json.loads((path / BUILD_INFO).read_text())
    except (OSError, ValueError):
        info = None
    if (info and info.get("built") and info.get("device") == device
            and info.get("config") == cfg.to_dict()):
        return design_facts_from_build(path)
    return design_facts_estimate(board, cfg, device)


__all__ = [
    "COEFFICIENT_NAMES", "PAPER_PRUNE_POWER_OVERHEAD", "Activity", "Coefficient", "Coefficients",
    "DesignFacts", "EnergyBreakdown", "EnergyEstimate", "ICE40_UP5K", "MemoryPlan",
    "coefficients", "design_facts_estimate", "design_facts_from_build",
    "energy_from_activity", "estimate_energy", "memory_plan", "sample_activity",
]
