"""The one configuration that the golden model, the hardware, the simulations and the reports read.

Every number that shapes the network lives here, once. Elaboration-time sizes (inputs, neurons,
lanes, widths) fix the hardware; the rest are runtime register values that the host writes before
a run. ``Config.validate`` states the legal ranges; loading a TOML file checks names and types so a
typo is an error rather than a silent default.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from .rewiring import POLICIES, live_per_neuron, starts_sparse
from .widths import FixedPointWidths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class Config(FixedPointWidths):
    """Sizes, widths and rule parameters of one fully connected TTFS LIF layer.

    Weights are unsigned ``weight_bits`` integers, ``w_max = 2**weight_bits - 1`` standing for 1.0.
    Learning rates are signed fixed-point numbers with ``stdp_frac_bits`` fraction bits, in units
    of weight steps (see ``model.rules.stdp_delta``).
    """

    # --- sizes (elaboration time) ---
    n_inputs: int = 64
    n_neurons: int = 128
    lanes: int = 8  # P: parallel synapse lanes; neuron j lives in lane j % P at row j // P
    time_steps: int = 16  # T: time bins of the TTFS code; an input that never spikes has time T
    k_max: int = 1  # largest k_winners the hardware is built for
    col_word_bits: int = 16  # B: inputs per word of the column (per-neuron) connection bitmap
    # R: neurons per word of a lane's row (per-input) connection bitmap; 0: the lane's whole row
    # of K neurons in one word. Narrow words keep the integration's walker, its queue and the
    # row registers narrow whatever K is (a small part with one lane of many neurons, the UP5K);
    # an event then costs a lane max(1, live) cycles per word (``model.cycles``)
    row_word_bits: int = 0
    # --- widths (elaboration time) ---
    weight_bits: int = 8
    membrane_bits: int = 16
    adapt_bits: int = 12  # homeostatic threshold adaptation, unsigned, saturating
    stdp_frac_bits: int = 12  # F: fraction bits of a_plus / a_minus
    counter_bits: int = 32  # hardware performance counters (wrap around); read as 32-bit words
    # cycles from address to data of the block-RAM memories (4..7); 5 to 7 add registers that
    # let the addresses and the read words cross a large die (ECP5 85F) in cycles of their own;
    # 6 and 7 also pipeline the core's control for such a die (see ``die_wide``)
    ram_latency: int = 4
    # the core's regrowth unit (``hw.regrow.Regrow``, the REGROW state and its port
    # multiplexers), which "fixed-density" learning needs on the chip; False leaves it out of the
    # hardware for a part that is full (the iCE40 UP5K), and such a core cannot learn by
    # "fixed-density" (``require_regrow_unit``)
    regrow_unit: bool = True
    # the weights and row masks in single-port memories (``hw.single_port_ram``: the iCE40
    # UP5K's four 256-Kbit SPRAMs, the only place a 256-neuron layer's weights fit there); a
    # learning pass then visits a synapse every other cycle, its write-backs in the cycles
    # between (an odd ``ram_latency`` keeps each write off its memory's reads), so learning costs
    # two cycles per visit (``model.cycles``)
    single_port: bool = False
    # each neuron's fired flag (fire once per sample) as a bit above its adaptation word, read
    # and written with it by the sweep, instead of two K-bit registers per lane in the sweep:
    # on a small part those are a logic cell per neuron and more (the UP5K's 256-neuron lane)
    fired_in_adapt: bool = False
    # --- input encoding ---
    image_shape: tuple[int, int] = (8, 8)
    on_off: bool = False  # centre-surround ON/OFF channels (doubles n_inputs)
    input_min: int = 1  # intensities (0..255) below this never spike
    # --- neuron and competition (runtime registers) ---
    threshold: int = 600  # base firing threshold, in weight units
    leak_shift: int = 0  # v -= v >> leak_shift each step; 0 = non-leaky integrate-and-fire
    k_winners: int = 1  # the sample ends once this many winners have fired
    # --- learning (runtime registers) ---
    a_plus: int = 200  # LTP rate, fixed point with stdp_frac_bits fraction bits
    a_minus: int = -150  # LTD rate (negative)
    prune_enabled: bool = True
    prune_threshold: int = 16  # a learned weight below this removes the synapse for good
    # --- rewiring (model.rewiring; prune_enabled False also stops every regrowth) ---
    rewire_policy: str = "threshold"  # "threshold" | "fixed-density" | "pq"
    rewire_density: float = 0.1  # fixed-density, pq: live share of each neuron's inputs at start
    regrow_weight: int = 128  # fixed-density, pq: the weight a regrown synapse starts with
    rewire_block: int = 100  # pq: learning samples between two rewirings
    pq_p: float = 0.5  # pq: the norms of the PQ index, 0 < p < q
    pq_q: float = 1.0
    pq_eta: float = 0.001  # pq: the bound's tolerance
    pq_gamma: float = 1.2  # pq: scale of the rewiring ratio
    pq_beta: float = 0.1  # pq: largest rewiring ratio
    homeo_inc: int = 32  # threshold adaptation added to each winner
    homeo_decay_shift: int = 8  # adapt -= adapt >> shift at the start of each learning sample
    lfsr_seed: int = 0xACE1  # state of the stochastic-rounding LFSR after reset
    # --- initialisation and training ---
    init_mean: float = 0.8
    init_std: float = 0.05
    seed: int = 1
    epochs: int = 1

    # ----------------------------------------------------------------------------------------
    @property
    def adapt_max(self) -> int:
        return (1 << self.adapt_bits) - 1

    @property
    def die_wide(self) -> bool:
        """The core is pipelined for a die-wide layout (``ram_latency`` >= 6): the walkers take
        their entries through two registers, count each lane's bits and register each visit once
        more (``LockstepWalker``'s ``pipelined``), and each lane's neuron update copies its knobs
        next to it and gives the shifts a stage of their own; three cycles more per executed
        step's integration and per learning pass, one per sweep (``model.cycles``). Small parts
        keep the logic cells."""
        return self.ram_latency >= 6

    @property
    def rows(self) -> int:
        """K: neurons per lane."""
        return self.n_neurons // self.lanes

    @property
    def row_word_width(self) -> int:
        """R: bits of a row-mask word (``row_word_shape``)."""
        return row_word_shape(self.rows, self.row_word_bits)[0]

    @property
    def row_words(self) -> int:
        """W: row-mask words per input and lane (neuron row k is bit k % R of word k // R)."""
        return row_word_shape(self.rows, self.row_word_bits)[1]

    @property
    def col_words(self) -> int:
        """G: words of the column bitmap per neuron."""
        return -(-self.n_inputs // self.col_word_bits)

    @property
    def time_bits(self) -> int:
        return self.time_steps.bit_length()  # holds 0..T, T = never

    @property
    def input_bits(self) -> int:
        return max(1, (self.n_inputs - 1).bit_length())

    @property
    def neuron_bits(self) -> int:
        return max(1, (self.n_neurons - 1).bit_length())

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed, validated."""
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> Config:
        """Raise ``ValueError`` naming the field for any value outside its legal range."""

        def need(ok: bool, name: str, why: str) -> None:
            if not ok:
                raise ValueError(f"config.{name} = {getattr(self, name)!r}: {why}")

        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"config.{f.name} must be an int, not {type(value).__name__}")
            if f.type in ("bool", bool) and not isinstance(value, bool):
                raise TypeError(f"config.{f.name} must be true or false, not {value!r}")
            if f.type in ("float", float) and (not isinstance(value, (int, float))
                                               or isinstance(value, bool)):
                raise TypeError(f"config.{f.name} must be a number, not {value!r}")
            if f.type in ("str", str) and not isinstance(value, str):
                raise TypeError(f"config.{f.name} must be a string, not {value!r}")
        need(self.n_inputs >= 1, "n_inputs", "must be >= 1")
        need(self.lanes >= 1, "lanes", "must be >= 1")
        need(self.n_neurons >= self.lanes, "n_neurons", "must be >= lanes")
        need(self.n_neurons % self.lanes == 0, "n_neurons", f"must be a multiple of lanes "
             f"({self.lanes})")
        need(1 <= self.time_steps <= 255, "time_steps", "must be in 1..255")
        need(1 <= self.k_max <= 8, "k_max", "must be in 1..8")
        need(1 <= self.k_winners <= self.k_max, "k_winners", f"must be in 1..k_max ({self.k_max})")
        need(self.col_word_bits in (8, 16, 32), "col_word_bits", "must be 8, 16 or 32")
        need(self.row_word_bits in ROW_WORD_BITS, "row_word_bits",
             "must be 0 (a whole row), 4, 8, 16 or 32")
        need(2 <= self.weight_bits <= 12, "weight_bits", "must be in 2..12")
        need(8 <= self.membrane_bits <= 24, "membrane_bits", "must be in 8..24")
        need(self.weight_bits < self.membrane_bits, "membrane_bits", "must exceed weight_bits")
        need(2 <= self.adapt_bits <= self.membrane_bits, "adapt_bits",
             "must be in 2..membrane_bits")
        need(4 <= self.stdp_frac_bits <= 16, "stdp_frac_bits", "must be in 4..16")
        need(16 <= self.counter_bits <= 32, "counter_bits", "must be in 16..32")
        need(4 <= self.ram_latency <= 7, "ram_latency", "must be in 4..7")
        need(not self.single_port or self.ram_latency % 2 == 1, "ram_latency",
             "must be odd (5 or 7) with single_port: a learning pass's write-backs then fall "
             "between its reads")
        need(self.stdp_shift <= 31, "stdp_frac_bits", "stdp_frac_bits + weight_bits must be <= 31")
        need(len(self.image_shape) == 2 and all(s >= 1 for s in self.image_shape), "image_shape",
             "must be two positive ints")
        pixels = self.image_shape[0] * self.image_shape[1]
        need(self.n_inputs == pixels * (2 if self.on_off else 1), "n_inputs",
             f"must equal the pixels of image_shape {tuple(self.image_shape)}"
             f"{' times 2 (on_off)' if self.on_off else ''} = {pixels * (2 if self.on_off else 1)}")
        need(0 <= self.input_min <= 255, "input_min", "must be in 0..255")
        need(0 <= self.threshold <= self.v_max, "threshold", f"must be in 0..{self.v_max}")
        need(0 <= self.leak_shift < self.membrane_bits, "leak_shift",
             "must be in 0..membrane_bits-1")
        lim = 1 << (self.stdp_frac_bits + 1)
        need(0 <= self.a_plus < lim, "a_plus", f"must be in 0..{lim - 1}")
        need(-lim < self.a_minus <= 0, "a_minus", f"must be in {-lim + 1}..0")
        need(0 <= self.prune_threshold <= self.w_max, "prune_threshold",
             f"must be in 0..{self.w_max}")
        need(self.rewire_policy in POLICIES, "rewire_policy",
             f"must be one of {', '.join(POLICIES)}")
        live = live_per_neuron(self.n_inputs, self.rewire_density)
        need(0.0 < self.rewire_density <= 1.0, "rewire_density", "must be in (0, 1]")
        need(not (starts_sparse(self.rewire_policy) and live >= self.n_inputs), "rewire_density",
             f"leaves no input to regrow ({live} of {self.n_inputs} live per neuron); "
             f"must be below {(self.n_inputs - 0.5) / self.n_inputs:.4f}")
        need(not starts_sparse(self.rewire_policy)
             or self.prune_threshold <= self.regrow_weight <= self.w_max, "regrow_weight",
             f"must be in prune_threshold..w_max ({self.prune_threshold}..{self.w_max}), so a "
             f"regrown synapse is not pruned by its first update")
        need(self.rewire_block >= 1, "rewire_block", "must be >= 1")
        need(0.0 < self.pq_p < self.pq_q, "pq_p", f"must be in (0, pq_q = {self.pq_q})")
        need(self.pq_eta >= 0.0, "pq_eta", "must be >= 0")
        need(self.pq_gamma >= 0.0, "pq_gamma", "must be >= 0")
        need(0.0 <= self.pq_beta <= 1.0, "pq_beta", "must be in [0, 1]")
        need(0 <= self.homeo_inc <= self.adapt_max, "homeo_inc", f"must be in 0..{self.adapt_max}")
        need(0 <= self.homeo_decay_shift < self.adapt_bits, "homeo_decay_shift",
             "must be in 0..adapt_bits-1 (0 = no decay)")
        need(0 < self.lfsr_seed < (1 << 32), "lfsr_seed", "must be a nonzero 32-bit value")
        need(0.0 <= self.init_mean <= 1.0, "init_mean", "must be in [0, 1]")
        need(self.init_std >= 0.0, "init_std", "must be >= 0")
        need(self.epochs >= 1, "epochs", "must be >= 1")
        return self

    def pq_block_ends(self, learned: int) -> bool:
        """After ``learned`` learning samples, a "pq" block ends (pruning on): the host's rewire
        step (``model.rewiring.pq_commands``) runs now."""
        return (self.rewire_policy == "pq" and self.prune_enabled and learned > 0
                and learned % self.rewire_block == 0)

    def require_regrow_unit(self) -> None:
        """Raise ``ValueError`` when learning by this configuration on the chip needs the
        regrowth unit (the sparse policies: "fixed-density" regrows, "pq" rewires with it) and
        ``regrow_unit`` leaves it out of the hardware: the core would not regrow while the
        golden model and the cycle model do. The register values (``hw.layouts.regs_value``),
        the simulation cases and the cycle model call it before they learn."""
        if self.rewire_policy != "threshold" and not self.regrow_unit:
            raise ValueError(f"config.regrow_unit = False: the core has no regrowth unit, so "
                             f"it cannot learn with rewire_policy = '{self.rewire_policy}'; "
                             f"set regrow_unit = true (a larger part) or learn with "
                             f"'threshold'")

    # ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        return cls(**known_fields(cls, data)).validate()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(tomli_w.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: not valid TOML: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def preset(cls, name: str) -> Config:
        """A configuration shipped in ``model/configs/NAME.toml`` (digits, mnist, ...)."""
        path = CONFIG_DIR / f"{name}.toml"
        if not path.exists():
            names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
            raise ValueError(f"no preset config {name!r}; presets: {', '.join(names)}")
        return cls.load(path)


ROW_WORD_BITS = (0, 4, 8, 16, 32)  # the legal ``Config.row_word_bits``


def row_word_shape(rows: int, row_word_bits: int) -> tuple[int, int]:
    """(R, W) of a lane's row mask over ``rows`` neurons split by ``row_word_bits``
    (``Config.row_word_bits``): R bits per word (the whole row when ``row_word_bits`` is 0 or not
    below ``rows``), W = ceil(rows / R) words. One definition for the model, the memory map and
    the hardware units; ``ValueError`` for a split that is not 0 or a power of two in 4..32."""
    if row_word_bits not in ROW_WORD_BITS:
        raise ValueError(f"row_word_bits must be one of {ROW_WORD_BITS}, not {row_word_bits!r}")
    width = rows if row_word_bits == 0 or row_word_bits >= rows else row_word_bits
    return width, -(-rows // width)


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` (a configuration read from TOML) for the dataclass ``cls``: a
    ValueError names any key that is not one of its fields; ``image_shape`` becomes a tuple of
    ints (TOML has only arrays). Shared by ``Config`` and ``DeepConfig``."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
    data = dict(data)
    if "image_shape" in data:
        data["image_shape"] = tuple(int(s) for s in data["image_shape"])
    return data
