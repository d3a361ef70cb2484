"""Cycle model of ``hw.core.LayerCore``: the exact cycle count of every phase of every sample.

It reads only the configuration and the structural facts that ``Network.run_sample`` returns
(live synapses per lane for each processed event, spikes per step, live synapses per column word
for each learning update), so a whole data set can be costed without RTL simulation. The RTL
testbench checks it against the core's counters on every sample. Phase costs
(``docs/architecture.md``, cycle schedule):

- load      n_events + 1 input beats (the END beat closes the sample);
- integrate per step: 1 setup cycle; if the step has events, + integ_fill_drain(cfg) (event read,
            row-mask read, walker FIFO and visit register, weight read and accumulate
            pipelines) + the lanes' walk (``walk_cycles``): each lane walks its own queue of
            the step's events' row-mask words (W = ``Config.row_words`` per event), max(1, its
            live synapses in the word) cycles each, the fetch one word a cycle ahead of them
            within ``walker_depth`` entries of the slowest lane; the step ends when the last
            lane is done;
- sweep     per step: K rows, a row with s > 1 spikes takes s cycles; + sweep_fill(cfg) (row
            pipeline: membrane read, [shifts,] leak, margin, firing lanes; 1 for the two-stage
            reduce)
            + P cycles to reduce the lanes' candidates + 1 decision cycle;
- learn     per winner: LEARN_SETUP cycles (winner's registers, adaptation read; adaptation
            increment) + learn_fill_drain(cfg) (column-word read, walker, weight
            address, weight read, StdpUnit, prune compare, write-back) + for each column-bitmap word
            max(1, live synapses in it); + regrow_cycles(cfg) per synapse the pass regrew
            ("fixed-density": the REGROW state, counted with learning; 0 when nothing regrew);
            "pq": at a block's end, per rewire command (one neuron): the same pass without STDP
            (LEARN_SETUP + learn_fill_drain + per column word max(1, live)) + regrow_cycles per
            synapse it regrew + REWIRE_END (the state that hands the memories back), counted
            with learning;
- clear     zero K membranes and, in a learning sample, restore the input times of the loaded
            events (2-cycle read latency); an inference sample never writes them;
- emit      one output beat per spike + 1 END beat.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .config import Config
from .network import SampleResult

LEARN_SETUP = 2
REWIRE_END = 1
# single-port memories (``Config.single_port``): the paced walk takes its first column word at
# the first "pace" cycle (every other cycle from the pass's start) after the word is there
PACE_ALIGN = 1


def integ_fill_drain(cfg: Config) -> int:
    """Fill and drain cycles of a step's integration: event read, row-mask read, [the walker's
    two input registers,] walker FIFO, visit register [and one more], weight read (the
    block-RAM reads take ``cfg.ram_latency``), accumulate, and the registered "drained" flag.
    [...]: ``die_wide``."""
    return 8 + 2 * cfg.ram_latency + 3 * cfg.die_wide


def sweep_fill(cfg: Config) -> int:
    """Fill cycles of a step's sweep: membrane read, [shifts,] leak and decay, margin, firing
    lanes, and one for the two-stage reduce. [...]: ``die_wide``."""
    return 5 + cfg.die_wide


def learn_fill_drain(cfg: Config) -> int:
    """Fill and drain cycles of a winner's learning pass: column-word read, [the walker's two
    input registers,] walker FIFO and visit [register and one more], weight address, weight
    read, StdpUnit, prune compare, write-back, registered "drained" flag. [...]:
    ``die_wide``."""
    return 13 + 2 * cfg.ram_latency + 3 * cfg.die_wide


def regrow_schedule(*, n_inputs: int, col_word_bits: int, ram_latency: int) -> dict[str, int]:
    """The steps of one regrowth of ``hw.regrow.Regrow`` (its docstring says what each does):
    ``mul_bits`` A (bits of ``n_inputs``: the shift-and-add multiply's steps), ``read`` D (the
    first column-word read, late enough that the pick is ready for the first compare),
    ``found`` (the word holding the pick, registered), ``write`` X (the write requests shown:
    after a scan of the word's B bits) and ``cycles`` (per regrowth: the row-mask word's write
    L cycles after X ends it)."""
    A, B, L = n_inputs.bit_length(), col_word_bits, ram_latency
    G = -(-n_inputs // B)
    D = max(1, A - L - 1)
    found = D + L + G + 3
    write = found + B + 1
    return {"mul_bits": A, "read": D, "found": found, "write": write, "cycles": write + L + 1}


def regrow_cycles(cfg: Config) -> int:
    """Cycles of one regrowth ("fixed-density" rewiring, after a winner's learning pass), the
    same wherever the regrown input lies: ``max(1, A - L - 1) + 2 L + G + B + 5`` (A = bits of
    ``n_inputs``, L = ``ram_latency``, G column words of B bits)."""
    return regrow_schedule(n_inputs=cfg.n_inputs, col_word_bits=cfg.col_word_bits,
                           ram_latency=cfg.ram_latency)["cycles"]


PHASES = ("load", "integrate", "sweep", "learn", "clear", "emit")


@dataclass(frozen=True)
class PhaseCycles:
    """Cycles of one sample per phase; ``total`` is their sum."""

    load: int
    integrate: int
    sweep: int
    learn: int
    clear: int
    emit: int

    @property
    def total(self) -> int:
        return self.load + self.integrate + self.sweep + self.learn + self.clear + self.emit

    @property
    def compute(self) -> int:
        """Cycles that do not wait on the host's streams (all but load and emit)."""
        return self.integrate + self.sweep + self.learn + self.clear

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def walker_depth(ram_latency: int) -> int:
    """Entries the integration's fetch may have issued and not yet seen a lane's walker take:
    its pipeline (event read 2, row-mask read ``ram_latency``) and 4 more (``hw.integration``)."""
    return 2 + ram_latency + 4


def walk_cycles(costs: np.ndarray, *, ram_latency: int, pipelined: bool) -> int:
    """Cycles from a step's first walk to the end of its last lane's walk, given ``costs``
    ((entries in order) x (lanes): live synapses of each entry, an event's row-mask word, in
    each lane; ``SampleResult.event_costs``), for ``hw.integration.Integration`` with that RAM
    latency and walker form. The fetch issues entries as below ("event" e: entry e).

    The fetch issues event e at cycle I_e, one a cycle, on a flag a cycle old: every lane
    had two credits or more at cycle I_e - 1 (D = depth less the entries issued, plus those
    taken, a lane's credit coming back the cycle after its take). Straight after event
    e - 1 that needs event e - D taken by every lane two cycles before, later it needs
    event e - D + 1. Event e reaches the walkers' FIFOs F = 2 + L cycles after its issue; a
    lane takes it W = 2 (pipelined: 4) cycles after that at the earliest, and not before the
    lane is done with event e - 1; the lane then spends c = max(1, live synapses) cycles on
    it, with T_e = max_p T(e, p):
    T(e, p) = max(I_e + F + W, T(e-1, p) + c(e-1, p)),
    I_e = I_e-1 + 1 if T_e-D + 2 <= I_e-1 + 1, else max(I_e-1 + 2, T_e-D+1 + 2).
    The result is max_p (T(last, p) + c(last, p)) - (F + W): where the lanes' costs are equal
    and the fetch keeps up, the sum of the costs (lanes in lockstep)."""
    n = len(costs)
    if n == 0:
        return 0
    cost = np.maximum(np.asarray(costs, dtype=np.int64), 1)
    depth = walker_depth(ram_latency)
    lead = 2 + ram_latency + (4 if pipelined else 2)  # F + W
    free = np.full(cost.shape[1], lead, dtype=np.int64)  # per lane: first cycle it may take
    taken = np.zeros(n, dtype=np.int64)  # per event: the last lane's take
    issue = -1
    for e in range(n):
        issue += 1
        if e >= depth and taken[e - depth] + 2 > issue:
            issue = max(issue + 1, int(taken[e - depth + 1]) + 2)
        take = np.maximum(free, issue + lead)
        taken[e] = take.max()
        free = take + cost[e]
    return int(free.max()) - lead


def integrate_cycles(cfg: Config, event_costs: list[np.ndarray]) -> int:
    """Integration cycles of the executed steps, given each step's per-entry (an event's
    row-mask word), per-lane live synapses."""
    total = 0
    for costs in event_costs:
        total += 1
        if len(costs):
            total += integ_fill_drain(cfg) + walk_cycles(costs, ram_latency=cfg.ram_latency,
                                                         pipelined=cfg.die_wide)
    return total


def sweep_cycles(cfg: Config, spikes: list[tuple[int, int]], steps: int) -> int:
    """Sweep cycles: per step K rows (a row firing s > 1 lanes costs s) + sweep_fill + P reduce
    + 1."""
    extra = 0
    if spikes:
        rows = np.array([(t, j // cfg.lanes) for t, j in spikes])
        _, per_row = np.unique(rows, axis=0, return_counts=True)
        extra = int((per_row - 1).sum())
    return steps * (cfg.rows + sweep_fill(cfg) + cfg.lanes + 1) + extra


def learn_cycles(cfg: Config, word_pops: list[np.ndarray],
                 regrowths: list[int] | None = None) -> int:
    """Learning cycles: per winner LEARN_SETUP + learn_fill_drain + the walk's visits, sum
    over words of max(1, live), + ``regrow_cycles`` per synapse its pass regrew
    (``regrowths``, one count per winner; none: no regrowth). With single-port memories
    (``Config.single_port``) a visit takes two cycles and the walk starts ``PACE_ALIGN`` later.
    Regrowths on a core without the regrowth unit are refused (``Config.require_regrow_unit``):
    that core would not spend them."""
    fill = LEARN_SETUP + learn_fill_drain(cfg) + (PACE_ALIGN if cfg.single_port else 0)
    per_visit = 2 if cfg.single_port else 1
    grown = sum(regrowths) if regrowths else 0
    if grown:
        cfg.require_regrow_unit()
    return (sum(fill + per_visit * int(np.maximum(p, 1).sum()) for p in word_pops)
            + grown * regrow_cycles(cfg))


def rewire_cycles(cfg: Config, word_pops: list[np.ndarray], regrowths: list[int]) -> int:
    """Cycles of a block's rewire commands ("pq"; ``SampleResult.rewire_word_pops`` /
    ``rewire_regrowths``, one entry per command): each is a learning pass over the neuron's
    live synapses (``learn_cycles``) with its regrowths, then ``REWIRE_END``."""
    return learn_cycles(cfg, word_pops, regrowths) + REWIRE_END * len(word_pops)


def clear_cycles(cfg: Config, n_events: int, *, learn: bool) -> int:
    """Clear cycles: walk max(n_events, K) entries, then let the last t_in write land (a
    learning sample); K entries (inference, whose input times were never written)."""
    if not learn:
        return 2 + cfg.rows
    last = max(n_events, cfg.rows)
    if n_events:
        last = max(last, n_events + 2)
    return 2 + last


def sample_cycles(cfg: Config, res: SampleResult) -> PhaseCycles:
    """Exact per-phase cycle counts of one sample run by the core (``res.learn``: the sample was
    run with learning on, so its input times were written and are restored); a "pq" block's
    rewire commands, run after the sample that ends the block, count with its learning."""
    return PhaseCycles(
        load=res.n_events + 1,
        integrate=integrate_cycles(cfg, res.event_costs),
        sweep=sweep_cycles(cfg, res.spikes, res.steps),
        learn=(learn_cycles(cfg, res.learn_word_pops, res.learn_regrowths)
               + rewire_cycles(cfg, res.rewire_word_pops, res.rewire_regrowths)),
        clear=clear_cycles(cfg, res.n_events, learn=res.learn),
        emit=len(res.spikes) + 1,
    )
