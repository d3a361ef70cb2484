"""Packed words, enums and signatures shared by the core, its tests and the board top.

The event word is the same on the core's input and output, so cores can be chained: an input
event names an input index, an output event a neuron index.
"""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import Config
from ..model.rewiring import prunes_per_sample


class EventKind(enum.Enum, shape=1):
    """SPIKE carries (time, index); END closes a sample (input) or reports it (output: index is
    the predicted neuron, time the last step executed)."""

    SPIKE = 0
    END = 1


class HostRegion(enum.Enum, shape=4):
    """Address spaces of the host access port (``docs/architecture.md``, memory map)."""

    WEIGHT = 0  # lane p, addr i*K + k: weight of input i -> neuron k*P + p
    # lane p, addr i*W + w: R bits, bit b = synapse i -> (w*R + b)*P + p is live (W = 1, R = K
    # unless ``Config.row_word_bits`` splits the row)
    ROW_MASK = 1
    COL_MASK = 2  # addr j*G + g: B bits, bit b = synapse g*B + b -> j is live
    ADAPT = 3  # lane p, addr k: threshold adaptation of neuron k*P + p
    LABEL = 4  # addr j: class label of neuron j
    LFSR = 5  # the stochastic-rounding LFSR state
    LIVE = 6  # live-synapse counter (host sets it after loading masks; pruning decrements)
    COUNTER = 7  # read: counter number addr (see Counter); write: clear all counters
    # write only, a core with the regrowth unit, while idle: lane p, addr k, a ``rewire_layout``
    # word: rewire neuron k*P + p ("pq": prune what the cut selects, regrow as many)
    REWIRE = 8


class Counter(enum.IntEnum):
    """Performance counters, cumulative since the last clear, readable as HostRegion.COUNTER."""

    SAMPLES = 0
    LOAD_CYCLES = 1  # input beats accepted (events + END)
    INTEGRATE_CYCLES = 2
    SWEEP_CYCLES = 3
    LEARN_CYCLES = 4
    CLEAR_CYCLES = 5
    EMIT_CYCLES = 6  # output beats sent (spikes + END)
    SYN_EVENTS = 7  # synaptic events integrated
    SYN_UPDATES = 8  # STDP updates made
    PRUNED = 9  # synapses pruned
    STALL_CYCLES = 10  # cycles waiting on an empty input or a full output during a sample
    STEPS = 11  # time steps executed


N_COUNTERS = len(Counter)
COUNTER_BITS = 32  # on the host port; the core's counters are cfg.counter_bits wide and wrap
LABEL_BITS = 4
LFSR_BITS = 32


def event_layout(*, index_bits: int, time_bits: int) -> data.StructLayout:
    return data.StructLayout({"kind": EventKind, "time": unsigned(time_bits),
                              "index": unsigned(index_bits)})


def regs_layout(cfg: Config) -> data.StructLayout:
    """Runtime registers: the knobs a host may change between samples without re-synthesis.
    The regrowth registers exist only on a core with the regrowth unit (``Config.regrow_unit``):
    without it they would be bits the host writes and nothing reads."""
    regrowth = {
        # "fixed-density" rewiring (hw.regrow): a winner's pass regrows what it pruned
        "regrow": unsigned(1),
        "regrow_weight": unsigned(cfg.weight_bits),
    } if cfg.regrow_unit else {}
    return data.StructLayout({
        "learn": unsigned(1),
        "threshold": unsigned(cfg.membrane_bits),
        "leak_shift": unsigned(max(1, (cfg.membrane_bits - 1).bit_length())),
        "k_winners": unsigned(max(1, cfg.k_max.bit_length())),
        "a_plus": unsigned(cfg.stdp_frac_bits + 2),
        "a_minus": unsigned(cfg.stdp_frac_bits + 2),  # two's complement, sign-extended inside
        "prune_enable": unsigned(1),
        "prune_threshold": unsigned(cfg.weight_bits),
        "homeo_inc": unsigned(cfg.adapt_bits),
        "homeo_decay_shift": unsigned(max(1, (cfg.adapt_bits - 1).bit_length())),
        **regrowth,
    })


def regs_value(cfg: Config, *, learn: bool) -> dict[str, int]:
    """The register values that make the core follow ``cfg`` (what the host writes). Learning
    by "fixed-density" on a core without the regrowth unit is refused
    (``Config.require_regrow_unit``): such a core has no ``regrow`` register."""
    if learn:
        cfg.require_regrow_unit()
    regrowth = {"regrow": int(cfg.rewire_policy == "fixed-density"),
                "regrow_weight": cfg.regrow_weight} if cfg.regrow_unit else {}
    return {
        "learn": int(learn), "threshold": cfg.threshold, "leak_shift": cfg.leak_shift,
        "k_winners": cfg.k_winners, "a_plus": cfg.a_plus,
        "a_minus": cfg.a_minus & ((1 << (cfg.stdp_frac_bits + 2)) - 1),
        # "pq" prunes at a block's end (the host's REWIRE commands), not in a sample's pass
        "prune_enable": int(cfg.prune_enabled and prunes_per_sample(cfg.rewire_policy)),
        "prune_threshold": cfg.prune_threshold,
        "homeo_inc": cfg.homeo_inc, "homeo_decay_shift": cfg.homeo_decay_shift, **regrowth,
    }


def index_bits(cfg: Config) -> int:
    return max(cfg.input_bits, cfg.neuron_bits)


def rewire_layout(cfg: Config) -> data.StructLayout:
    """A REWIRE command's word (``model.rewiring.pq_cut``): prune the neuron's live weights below
    ``cut`` and the first ``n_equal`` equal to it."""
    return data.StructLayout({"cut": unsigned(cfg.weight_bits),
                              "n_equal": unsigned(cfg.n_inputs.bit_length())})


def host_data_bits(cfg: Config) -> int:
    return max(cfg.row_word_width, cfg.col_word_bits, cfg.membrane_bits, COUNTER_BITS, LFSR_BITS)


def host_signature(cfg: Config) -> wiring.Signature:
    """Memory-mapped access from the host side (the core is ``In`` of this).

    A write (``we``) or read (``re``) strobe is taken in a cycle where ``ready`` is high (core
    idle and no input beat held); the core registers strobes and operands and acts on them in
    the next cycle. Read data
    comes back with ``rvalid`` 4 cycles after the strobe for registers, adaptation and labels,
    ``cfg.ram_latency`` + 3 cycles after it for weights and masks. Reads of one
    region may be issued back to back; a host waits for ``rvalid`` before switching region.
    """
    addr_bits = max(20, (cfg.n_inputs * cfg.rows).bit_length() + 1)
    return wiring.Signature({
        "region": Out(HostRegion), "lane": Out(max(1, (cfg.lanes - 1).bit_length())),
        "addr": Out(addr_bits), "wdata": Out(host_data_bits(cfg)), "we": Out(1), "re": Out(1),
        "rdata": In(host_data_bits(cfg)), "rvalid": In(1), "ready": In(1),
    })


def event_signature(cfg: Config) -> stream.Signature:
    return stream.Signature(event_layout(index_bits=index_bits(cfg), time_bits=cfg.time_bits))


def probe_layout(cfg: Config) -> data.StructLayout:
    """Observation port for verification: what the core computed this cycle. Unused on a board,
    where synthesis removes it."""
    return data.StructLayout({
        "sweep_valid": unsigned(1),  # this cycle finishes the sweep of row k at step `step`
        "step": unsigned(cfg.time_bits),
        "row": unsigned(max(1, (cfg.rows - 1).bit_length())),
        "v": data.ArrayLayout(unsigned(cfg.membrane_bits), cfg.lanes),  # after leak, per lane
        "learn_valid": unsigned(1),  # this cycle writes one STDP update
        "neuron": unsigned(cfg.neuron_bits),
        "input": unsigned(cfg.input_bits),
        "weight": unsigned(cfg.weight_bits),
        "pruned": unsigned(1),
    })
