"""The bit-exact golden model of one TTFS LIF layer that learns with STDP and prunes as it learns.

``Network.run_sample`` is the reference for one sample, in the order the hardware follows:

1. learning mode only: threshold adaptation decays (``rules.homeo_decay``);
2. for t = 0, 1, ...: integrate the live synapses of the inputs that spike at t, leak, compare;
   every eligible neuron with a margin >= 0 fires (once per sample); the eligible neuron with the
   largest margin (lowest index on ties) is the step's winner if it fires; the sample stops after
   the step that brings the k_winners-th winner, or after step T-1;
3. learning mode only, for each winner in order: its adaptation grows (``rules.homeo_win``), then
   each of its live synapses, inputs in ascending order, gets one STDP update rounded with the
   next LFSR state, and is pruned if the new weight is below the prune threshold;
   under ``rewire_policy`` "fixed-density" each pruned synapse then regrows one absent synapse of
   the winner (the next LFSR states), under "pq" nothing is pruned here;
4. learning mode, "pq" only: after every ``rewire_block``-th learning sample, the block's
   rewiring (``Network.rewire``: the host's commands, counts and cuts, then the chip's prune
   and regrowth per command).

The rules of step 3's regrowth and step 4 are in ``model.rewiring``.

Besides the outcome, a sample returns the structural facts that the cycle model needs (live
synapses per lane for each event, live synapses per column word for each learning update, the
regrowths of each winner's pass), so the
cycle count of a whole data set follows without RTL simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import rewiring, rules
from .config import Config
from .encoding import check_times
from .lfsr import LfsrStream


def row_word_costs(cfg: Config, mask: np.ndarray) -> np.ndarray:
    """The live synapses of each row-mask word of ``mask`` (events x neurons, the mask rows of
    a step's events in order) per lane: shape (events * W, lanes), event e's word w at row
    e * W + w (``Config.row_words``; neuron j = k * P + p is bit k % R of word k // R)."""
    n_events, k_rows, p = len(mask), cfg.rows, cfg.lanes
    width, words = cfg.row_word_width, cfg.row_words
    per_row = np.asarray(mask, dtype=np.int64).reshape(n_events, k_rows, p)
    padded = np.pad(per_row, ((0, 0), (0, words * width - k_rows), (0, 0)))
    return padded.reshape(n_events, words, width, p).sum(2).reshape(n_events * words, p)


@dataclass
class SampleResult:
    """Everything one sample produced; the fields marked trace are filled with ``trace=True``."""

    winners: list[tuple[int, int]]  # (neuron, time step), in order
    spikes: list[tuple[int, int]]  # (time step, neuron), in the order the core emits them
    prediction: int  # first winner, else the best candidate of the last step
    steps: int  # time steps executed
    n_events: int  # input spike events of the sample (all are loaded, even late ones)
    syn_events: int  # synaptic events integrated (live synapses of the processed events)
    syn_updates: int  # STDP updates made
    live: int  # live synapses after the sample
    pruned: int  # synapses pruned in this sample (rewiring included)
    # per step, (row-mask words of the events, in input order, each event's W words in order) x
    # (lanes): the live synapses of each processed event's row word in each lane (neuron j is in
    # lane j % lanes at row k = j // lanes, bit k % R of word k // R; W = 1: one per event)
    event_costs: list[np.ndarray]
    spikes_per_step: list[int]
    learn_word_pops: list[np.ndarray]  # per winner: live synapses in each column-bitmap word
    regrown: int = 0  # synapses regrown in this sample (rewiring policies)
    learn: bool = False  # the sample was run with learning on (winners or not)
    # per winner, the synapses its learning pass regrew ("fixed-density"; the chip's REGROW)
    learn_regrowths: list[int] = field(default_factory=list)
    # per "pq" rewire command (a block's end, neurons in ascending order): the neuron's live
    # synapses in each column-bitmap word before the command, and the synapses it regrew
    rewire_word_pops: list[np.ndarray] = field(default_factory=list)
    rewire_regrowths: list[int] = field(default_factory=list)
    membranes: list[np.ndarray] = field(default_factory=list)  # trace: v after leak, per step
    margins: list[np.ndarray] = field(default_factory=list)  # trace: margins, per step
    updates: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list)  # trace: (neuron, inputs, new weights, pruned) per winner
    regrowths: list[tuple[int, np.ndarray]] = field(
        default_factory=list)  # trace: (neuron, inputs regrown in order), per regrowth pass


class Network:
    """Weights, connection mask, threshold adaptation and LFSR of one layer, and its dynamics.

    ``weights[i, j]`` and ``mask[i, j]`` belong to the synapse from input i to neuron j. A synapse
    with ``mask`` False is pruned: it is never integrated nor updated again (unless a rewiring
    policy regrows it). The default mask is ``rewiring.initial_mask`` for a policy that starts
    sparse, else all live. ``learned`` counts the learning samples run so far (the "pq"
    policy rewires after every ``rewire_block`` of them).
    """

    def __init__(self, cfg: Config, *, weights: np.ndarray | None = None,
                 mask: np.ndarray | None = None, adapt: np.ndarray | None = None,
                 lfsr_state: int | None = None, learned: int = 0) -> None:
        self.cfg = cfg.validate()
        shape = (cfg.n_inputs, cfg.n_neurons)
        if weights is None:
            rng = np.random.default_rng(cfg.seed)
            real = rng.normal(cfg.init_mean, cfg.init_std, shape)
            weights = np.clip(np.rint(real * cfg.w_max), 0, cfg.w_max)
        self.weights = np.asarray(weights, dtype=np.int64).copy()
        if mask is None:
            mask = (rewiring.initial_mask(*shape, cfg.rewire_density, cfg.seed)
                    if rewiring.starts_sparse(cfg.rewire_policy) else np.ones(shape, dtype=bool))
        self.mask = np.asarray(mask, dtype=bool).copy()
        self.adapt = (np.zeros(cfg.n_neurons, dtype=np.int64) if adapt is None
                      else np.asarray(adapt, dtype=np.int64).copy())
        if self.weights.shape != shape or self.mask.shape != shape:
            raise ValueError(f"weights and mask must have shape {shape}")
        if self.weights.min() < 0 or self.weights.max() > cfg.w_max:
            raise ValueError(f"weights must be in 0..{cfg.w_max}")
        if self.adapt.shape != (cfg.n_neurons,):
            raise ValueError(f"adapt must have shape ({cfg.n_neurons},)")
        if self.adapt.min(initial=0) < 0 or self.adapt.max(initial=0) > cfg.adapt_max:
            raise ValueError(f"adapt must be in 0..{cfg.adapt_max}")
        self.lfsr = LfsrStream(cfg.lfsr_seed if lfsr_state is None else lfsr_state)
        if learned < 0:
            raise ValueError(f"learned must be >= 0, not {learned}")
        self.learned = learned

    @property
    def live(self) -> int:
        return int(self.mask.sum())

    def run_sample(self, times: np.ndarray, *, learn: bool, trace: bool = False,
                   rates: Callable[[int], tuple[int, int]] | None = None,
                   allowed: np.ndarray | None = None) -> SampleResult:
        """Run one sample given its input spike times (shape (n_inputs,), T = never).

        ``rates(j)``, when given, returns the (a_plus, a_minus) that winner j learns with instead
        of the configuration's: how a reward-modulated rule (``model.deep_network``) drives the
        same STDP unit with the signs of STDP kept (reward) or reversed (punishment).
        """
        cfg = self.cfg
        times = check_times(times, cfg)
        n, p = cfg.n_neurons, cfg.lanes
        if learn:
            self.adapt = rules.homeo_decay(self.adapt, cfg.homeo_decay_shift)
        order = np.argsort(times, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(times, minlength=cfg.never + 1))])
        v = np.zeros(n, dtype=np.int64)
        fired = np.zeros(n, dtype=bool) if allowed is None else ~np.asarray(allowed, dtype=bool)
        res = SampleResult(winners=[], spikes=[], prediction=-1, steps=0,
                           n_events=int(bounds[cfg.never]), syn_events=0, syn_updates=0, live=0,
                           pruned=0, event_costs=[], spikes_per_step=[], learn_word_pops=[],
                           learn=learn)
        candidate = -1
        for t in range(cfg.time_steps):
            idx = order[bounds[t]:bounds[t + 1]]
            if len(idx):
                m = self.mask[idx]
                v = rules.integrate(v, (self.weights[idx] * m).sum(0), cfg.v_max)
                res.event_costs.append(row_word_costs(cfg, m))
                res.syn_events += int(m.sum())
            else:
                res.event_costs.append(np.zeros((0, p), dtype=np.int64))
            v = rules.leak(v, cfg.leak_shift)
            margins = rules.margin(v, self.adapt, cfg.threshold)
            candidate, fires = rules.select_winner(margins, ~fired)
            new = np.flatnonzero(fires)
            res.spikes.extend((t, int(j)) for j in new)
            res.spikes_per_step.append(len(new))
            fired |= fires
            res.steps += 1
            if trace:
                res.membranes.append(v.copy())
                res.margins.append(margins.copy())
            if candidate >= 0 and margins[candidate] >= 0:
                res.winners.append((candidate, t))
                if len(res.winners) == cfg.k_winners:
                    break
        res.prediction = res.winners[0][0] if res.winners else candidate
        if learn:
            for j, t_post in res.winners:
                a_plus, a_minus = (cfg.a_plus, cfg.a_minus) if rates is None else rates(j)
                self._learn(j, t_post, times, res, trace, a_plus, a_minus)
            self.learned += 1
            if cfg.pq_block_ends(self.learned):
                self.rewire(self.pq_commands(), res, trace)
        res.live = self.live
        return res

    def _learn(self, j: int, t_post: int, times: np.ndarray, res: SampleResult,
               trace: bool, a_plus: int, a_minus: int) -> None:
        cfg = self.cfg
        self.adapt[j] = rules.homeo_win(int(self.adapt[j]), cfg.homeo_inc, cfg.adapt_max)
        inputs = np.flatnonzero(self.mask[:, j])
        res.learn_word_pops.append(
            np.bincount(inputs // cfg.col_word_bits, minlength=cfg.col_words))
        rand = self.lfsr.take(len(inputs))
        w_new = rules.stdp_delta(self.weights[inputs, j], times[inputs], t_post, rand, cfg,
                                 a_plus, a_minus)
        pruned = rules.prune_decision(
            w_new, cfg.prune_enabled and rewiring.prunes_per_sample(cfg.rewire_policy),
            cfg.prune_threshold)
        self.weights[inputs, j] = w_new
        self.mask[inputs[pruned], j] = False
        res.syn_updates += len(inputs)
        res.pruned += int(pruned.sum())
        if trace:
            res.updates.append((j, inputs, w_new.copy(), pruned.copy()))
        regrow = cfg.rewire_policy == "fixed-density" and pruned.any()
        res.learn_regrowths.append(int(pruned.sum()) if regrow else 0)
        if regrow:
            self._regrow(j, int(pruned.sum()), res, trace)

    def _regrow(self, j: int, count: int, res: SampleResult, trace: bool) -> None:
        """Chip side: regrow ``count`` absent synapses of neuron j (``rewiring.regrow``, the next
        ``count`` LFSR states), each starting at ``regrow_weight``."""
        grown = rewiring.regrow(self.mask[:, j], self.lfsr.take(count))
        self.mask[grown, j] = True
        self.weights[grown, j] = self.cfg.regrow_weight
        res.regrown += len(grown)
        if trace:
            res.regrowths.append((j, grown))

    def pq_commands(self) -> list[tuple[int, int, int]]:
        """Host side: the "pq" policy's rewire commands now (``rewiring.pq_commands`` of the
        weights read back)."""
        c = self.cfg
        return rewiring.pq_commands(self.weights, self.mask, c.pq_p, c.pq_q, c.pq_eta,
                                    c.pq_gamma, c.pq_beta)

    def rewire(self, commands: list[tuple[int, int, int]], res: SampleResult,
               trace: bool = False) -> None:
        """Chip side: each rewire command ``(neuron, cut, n_equal)`` in order (the host's,
        ``pq_commands``): one walk over the neuron's live synapses prunes what the cut selects
        (``rewiring.cut_prune``), then as many regrow (``_regrow``). Each command's live
        synapses per column word (before its pruning) and its regrowths go to
        ``res.rewire_word_pops`` / ``res.rewire_regrowths``, for the cycle model."""
        cfg = self.cfg
        for j, cut, n_equal in commands:
            live = self.mask[:, j]
            res.rewire_word_pops.append(
                np.bincount(np.flatnonzero(live) // cfg.col_word_bits, minlength=cfg.col_words))
            gone = rewiring.cut_prune(self.weights[:, j], live, cut, n_equal)
            self.mask[gone, j] = False
            res.pruned += len(gone)
            res.rewire_regrowths.append(len(gone))
            self._regrow(j, len(gone), res, trace)
