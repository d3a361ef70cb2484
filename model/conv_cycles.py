"""Geometry and exact cycle model of ``hw.conv_core.ConvCore`` (one convolutional layer).

``ConvGeometry`` holds the elaboration-time sizes of a conv core (the fields of ``ConvSpec``
and ``DeepConfig`` that fix the hardware, and the lane count) and what follows from them: the
output shape, the map rows per lane and the index of every input and output event. It is the
one description of the core's shape, read by the core, its cycle model and its tests.

The cycle model reads only the geometry and structural facts of the golden model
(``model.conv``): the input spike times, the live mask of the kernels and, when inhibition is
off, the output spikes per (step, sweep row). Phase costs (``docs/conv_core.md``, cycle
schedule), ``MR = maps / lanes`` map rows, ``P' = H' x W'`` output positions:

- load      input beats: n_events + 1 (the END);
- integrate per step: ``INTEG_SETUP``; if the step has events, + ``INTEG_FILL_DRAIN`` + for each
            of its events and each map row j: max(1, the largest number, over the row's lanes,
            of live entries of the kernel's slice for the event's channel whose output position
            lies inside the layer) (the walker visits only those);
- sweep     per step: ``SWEEP_SETUP`` + ``MR x P'`` rows + ``SWEEP_FILL`` + (inhibition off)
            for each row that fires s > 1 lanes, s - 1 (one spike written per cycle);
- learn     (``learn`` high only) ``LEARN_SETUP``; per winner, a selection round
            (``select_cycles``: a scan of the sample's n output spikes) + ``DECIDE`` +
            ``PASS_FILL_DRAIN`` + for each channel slice of its kernel max(1, live entries); then
            a last round that finds no candidate (a selection + ``DECIDE``) or, with k winners,
            one cycle (``learn_cycles``);
- clear     max(MR x P', P') (membranes, fired and blocked bits zeroed);
- emit      output beats: spikes + 1 (the END).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from . import conv
from .deep_config import ConvSpec, DeepConfig

INTEG_SETUP = 3  # the FSM's start cycle and the scatter's registered idle flag (2)
# event read (2), decode ROM read (2), bitmap read (2), walker FIFO (2) and visit register (1),
# weight and membrane reads (2), accumulate (1)
INTEG_FILL_DRAIN = 12
SWEEP_SETUP = 1  # the FSM's start cycle of a step's sweep
# membrane / fired / blocked read (2), NeuronUpdate (2), last stage (1)
SWEEP_FILL = 4
LEARN_SETUP = 2  # the FSM's LEARN_START and the unit's DONE
SELECT_FILL = 3  # a scan's candidate read (2) and its last compare (1)
DECIDE = 1
# slice word read (2), walker FIFO (2) and visit register (1), visit stages 0 .. 9 to the
# write-back (10), the pass's registered idle flag (2)
PASS_FILL_DRAIN = 17
PHASES = ("load", "integrate", "sweep", "learn", "clear", "emit")


@dataclass(frozen=True)
class ConvGeometry:
    """A conv layer as the core sees it: input (channels, height, width), ``maps`` kernels of
    ``kernel`` x ``kernel``, ``lanes`` lanes over maps (map m in lane m % lanes, map row
    m // lanes), ``time_steps`` steps, widths. Event indices are the model's flattening:
    input (c, y, x) -> (c * H + y) * W + x; output (m, y, x) -> (m * H' + y) * W' + x."""

    channels: int
    height: int
    width: int
    maps: int
    kernel: int
    lanes: int
    time_steps: int
    weight_bits: int = 8
    membrane_bits: int = 16  # (the last two: the learning unit)
    stdp_frac_bits: int = 12
    max_winners: int = 4  # the k-winners register's largest value (winner positions held)

    @classmethod
    def from_spec(cls, spec: ConvSpec, in_shape: tuple[int, int, int], cfg: DeepConfig, *,
                  lanes: int) -> ConvGeometry:
        """The core of layer ``spec`` of ``cfg`` whose input is ``in_shape`` (C, H, W)
        (``DeepConfig.shapes``), with ``lanes`` lanes."""
        c, h, w = in_shape
        return cls(channels=c, height=h, width=w, maps=spec.maps, kernel=spec.kernel,
                   lanes=lanes, time_steps=cfg.time_steps, weight_bits=cfg.weight_bits,
                   membrane_bits=cfg.membrane_bits, stdp_frac_bits=cfg.stdp_frac_bits,
                   max_winners=spec.k_winners).validate()

    def validate(self) -> ConvGeometry:
        """Raise ``TypeError`` / ``ValueError`` naming the offending field."""
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, not {value}")
        if self.kernel > min(self.height, self.width):
            raise ValueError(f"kernel = {self.kernel}: larger than the input "
                             f"({self.height}x{self.width})")
        if self.maps % self.lanes:
            raise ValueError(f"lanes = {self.lanes} must divide maps = {self.maps}")
        if not 2 <= self.weight_bits <= 16:
            raise ValueError(f"weight_bits must be in 2..16, not {self.weight_bits}")
        if not self.weight_bits < self.membrane_bits <= 32:
            raise ValueError(f"membrane_bits must be in {self.weight_bits + 1}..32, not "
                             f"{self.membrane_bits}")
        frac_max = min(20, 31 - self.weight_bits)  # hw.rule_units.StdpUnit's range
        if not 1 <= self.stdp_frac_bits <= frac_max:
            raise ValueError(f"stdp_frac_bits must be in 1..{frac_max}, not "
                             f"{self.stdp_frac_bits}")
        if self.time_steps > 255:
            raise ValueError(f"time_steps must be <= 255, not {self.time_steps}")
        return self

    @property
    def out_h(self) -> int:
        return self.height - self.kernel + 1

    @property
    def out_w(self) -> int:
        return self.width - self.kernel + 1

    @property
    def positions(self) -> int:
        """Output positions P' = H' x W'."""
        return self.out_h * self.out_w

    @property
    def map_rows(self) -> int:
        """MR: maps per lane."""
        return self.maps // self.lanes

    @property
    def entries(self) -> int:
        """Kernel entries per channel slice, k x k (bits of a bitmap word)."""
        return self.kernel * self.kernel

    @property
    def n_inputs(self) -> int:
        return self.channels * self.height * self.width

    @property
    def n_outputs(self) -> int:
        return self.maps * self.positions

    @property
    def lane_neurons(self) -> int:
        """Membranes per lane, MR x P' (address pos * MR + j)."""
        return self.map_rows * self.positions

    @property
    def time_bits(self) -> int:
        return self.time_steps.bit_length()  # holds 0..T, T = never

    @property
    def index_bits(self) -> int:
        """Bits of an event's index: the input's or the output's, whichever is wider."""
        return max(1, (max(self.n_inputs, self.n_outputs) - 1).bit_length())

    @property
    def w_max(self) -> int:
        return (1 << self.weight_bits) - 1

    @property
    def stdp_shift(self) -> int:
        """S of ``rules.stdp_delta``: the geometry is a ``rules.StdpWidths``."""
        return self.stdp_frac_bits + self.weight_bits

    @property
    def v_max(self) -> int:
        return (1 << self.membrane_bits) - 1

    @cached_property
    def window(self) -> np.ndarray:
        """(n_inputs, k*k) bool: entry (dy, dx) of input (c, y, x) reaches an output position
        inside the layer (0 <= y - dy < H', 0 <= x - dx < W')."""
        k = self.kernel
        y = np.arange(self.height)[:, None, None, None]
        x = np.arange(self.width)[None, :, None, None]
        dy = np.arange(k)[None, None, :, None]
        dx = np.arange(k)[None, None, None, :]
        ok = (y - dy >= 0) & (y - dy < self.out_h) & (x - dx >= 0) & (x - dx < self.out_w)
        per_pixel = ok.reshape(self.height * self.width, k * k)
        return np.tile(per_pixel, (self.channels, 1))


@dataclass(frozen=True)
class ConvPhaseCycles:
    """Cycles of one sample per phase of the conv core; ``total`` is their sum."""

    load: int
    integrate: int
    sweep: int
    clear: int
    emit: int
    learn: int = 0

    @property
    def total(self) -> int:
        return self.load + self.integrate + self.sweep + self.learn + self.clear + self.emit

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def entry_costs(geom: ConvGeometry, mask: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Walker cycles (n_events, MR) of the events ``inputs`` (input indices): for each map row,
    max(1, the largest lane's live entries inside the layer). ``mask`` (M, C, k, k) bool."""
    k2, P = geom.entries, geom.lanes
    c = inputs // (geom.height * geom.width)
    live = mask.reshape(geom.maps, geom.channels, k2)[:, c, :]  # (M, E, k2)
    per_map = (live & geom.window[inputs][None]).sum(-1)  # (M, E)
    per_row = per_map.reshape(geom.map_rows, P, len(inputs)).max(axis=1)  # (MR, E)
    return np.maximum(per_row.T, 1)


def sweep_extra(geom: ConvGeometry, out_times: np.ndarray) -> int:
    """Stall cycles of the sweeps with inhibition off: for each (step, position, map row) with
    s > 1 spiking lanes, s - 1. ``out_times`` (M, H', W') the output spike times."""
    t = out_times.reshape(geom.map_rows, geom.lanes, geom.positions)
    extra = 0
    for step in range(geom.time_steps):
        per_row = (t == step).sum(axis=1)
        extra += int(np.maximum(per_row - 1, 0).sum())
    return extra


def sample_cycles(geom: ConvGeometry, in_times: np.ndarray, mask: np.ndarray,
                  out_times: np.ndarray, inhibit: bool) -> ConvPhaseCycles:
    """Exact per-phase cycles of one sample: input spike times (C, H, W) (T = none), the live
    mask (M, C, k, k), the output spike times (M, H', W') the golden model gives (after
    inhibition when ``inhibit``)."""
    never = geom.time_steps
    flat = in_times.reshape(-1)
    integrate = 0
    for step in range(never):
        inputs = np.flatnonzero(flat == step)
        integrate += INTEG_SETUP
        if len(inputs):
            integrate += INTEG_FILL_DRAIN + int(entry_costs(geom, mask, inputs).sum())
    rows = geom.lane_neurons
    sweep = never * (SWEEP_SETUP + rows + SWEEP_FILL)
    if not inhibit:
        sweep += sweep_extra(geom, out_times)
    n_events = int((flat < never).sum())
    return ConvPhaseCycles(load=n_events + 1, integrate=integrate, sweep=sweep,
                           clear=max(rows, geom.positions),
                           emit=int((out_times < never).sum()) + 1)


def syn_events(geom: ConvGeometry, in_times: np.ndarray, mask: np.ndarray) -> int:
    """Synaptic events of a sample (live entries applied to output neurons), as
    ``model.conv`` counts them: every input spike times the live entries that reach a neuron."""
    pt = conv.patches(in_times[None], geom.kernel)[0]
    live_per_entry = mask.reshape(geom.maps, -1).sum(0)
    return int(((pt < geom.time_steps) * live_per_entry).sum())


def select_cycles(n_spikes: int) -> int:
    """Cycles of one winner-selection round over ``n_spikes`` candidates (the sample's output
    spikes): one per candidate and the scan's fill, or one cycle when there is none."""
    return n_spikes + SELECT_FILL if n_spikes else 1


def pass_cycles(geom: ConvGeometry, mask: np.ndarray, m: int) -> int:
    """Cycles of winner map ``m``'s kernel pass: per channel slice, max(1, live entries) (the
    walker visits live entries only), and the pipeline's fill and drain. ``mask`` (M, C, k, k)
    the live mask before the pass."""
    live = mask[m].reshape(geom.channels, geom.entries).sum(axis=1)
    return PASS_FILL_DRAIN + int(np.maximum(live, 1).sum())


def learn_cycles(geom: ConvGeometry, mask: np.ndarray, n_spikes: int, winner_maps: list[int],
                 k: int) -> int:
    """Exact cycles of the learning phase of one sample: ``n_spikes`` output spikes (the
    candidates), the maps of its winners (``model.conv.select_winners``, at most ``k``) and the
    live mask (M, C, k, k) before learning."""
    select = select_cycles(n_spikes)
    cycles = LEARN_SETUP
    for m in winner_maps:
        cycles += select + DECIDE + pass_cycles(geom, mask, m)
    return cycles + (1 if len(winner_maps) == k else select + DECIDE)
