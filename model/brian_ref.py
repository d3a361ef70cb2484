"""An independent Brian2 reference of the TTFS LIF layer, for the cross-check of the golden model.

This module shares only ``Config`` with the rest of ``model/``: the LFSR, the STDP arithmetic, the
pruning and the winner-take-all are written again here from the specification (the docstrings of
``model.network`` and ``model.rules``), so that a misreading in one place shows up as a
difference in ``synaprune crosscheck``.

Mapping onto Brian2 (numpy code generation, one Brian2 time step per model time step):

* sample s of a batch occupies the Brian2 steps ``s * T .. s * T + T - 1``; the input that spikes
  at model step t (``t < T``) is a spike of a ``SpikeGeneratorGroup`` at Brian2 step ``s * T + t``;
* ``Synapses`` with integer ``w`` and ``live`` add ``w * live`` to the integer membrane ``v`` of
  the neuron (``on_pre``), only while the sample is running (shared flag ``active``);
* a ``run_regularly`` operation after the synapses saturates ``v`` at ``v_max``, leaks
  (``v -= v // 2**leak_shift``, a floor like the hardware's shift; skipped when leak_shift = 0)
  and computes the margin ``v - (threshold + adapt)``;
* the threshold ``active and not fired and margin >= 0`` and the reset ``fired = 1`` run after that
  (``when="after_synapses"``), so a neuron fires at most once per sample and its spike time is
  kept in ``tspike``;
* a network operation at the end of each step picks the step's winner among the neurons that
  fired (largest margin, lowest index on ties) and clears ``active`` after the k_winners-th
  winner;
* a network operation at the start of the first step of each sample finishes the previous one
  (learning: for each winner, adapt += inc saturating, then multiplicative STDP over its live
  synapses in ascending input order, each rounded with the next LFSR state, then pruning of the
  weights below the threshold) and starts the next one (adaptation decay in learning mode,
  ``v = 0``, ``fired = 0``, ``active = 1``).

A batch of n samples is one ``Network.run`` of n * T steps; the learning update of the batch's
last sample is made right after the run by the same function.

Rewiring policies (``Config.rewire_policy``), written again from ``model.rewiring``'s docstring:
"fixed-density" regrows, after a winner's STDP pass, one absent synapse of the winner per
synapse that pass pruned (the ``(state * absent) >> 32``-th absent input, ascending, with the
next LFSR state, weight ``regrow_weight``); "pq" prunes nothing in the STDP pass, and after every
``rewire_block``-th learning sample computes per neuron the PQ-index ratio of its live weights
(plain Python floats here), prunes floor(ratio * live) of its smallest live weights (the lower
input first on ties) and regrows as many, neurons in ascending order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .config import Config

# Maximal-length feedback polynomial of the stochastic-rounding LFSR: taps 32, 22, 2, 1, in the
# right-shifting Galois form (the state's LSB, when 1, toggles the tap bits after the shift).
LFSR_TAPS = (32, 22, 2, 1)


class Lfsr32:
    """The 32-bit right-shifting Galois LFSR, one state at a time (deliberately plain Python).

    ``state`` is the state that the next ``take`` hands out first; the u-th synaptic update of a
    run rounds with the u-th state handed out.
    """

    def __init__(self, state: int) -> None:
        if not 0 < state < (1 << 32):
            raise ValueError(f"LFSR state must be a nonzero 32-bit value, not {state:#x}")
        self.toggle = sum(1 << (tap - 1) for tap in LFSR_TAPS)
        self.state = state

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` states (int64), advancing the register ``n`` times."""
        out = np.empty(n, dtype=np.int64)
        s, toggle = self.state, self.toggle
        for u in range(n):
            out[u] = s
            s = (s >> 1) ^ toggle if s & 1 else s >> 1
        self.state = s
        return out


@dataclass
class BrianSample:
    """What the Brian2 reference produced for one sample.

    ``spike_times[j]`` is the step at which neuron j fired, T when it did not. ``updates`` holds,
    per winner in order, (neuron, its live inputs before the update in ascending order, their new
    weights, which of them were pruned); it is empty when not learning.
    """

    spike_times: np.ndarray
    winners: list[tuple[int, int]]
    updates: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    pruned: int = 0
    regrown: int = 0


SampleCallback = Callable[[int, BrianSample, "BrianNetwork"], None]


class BrianNetwork:
    """The layer as Brian2 objects: weights, mask, adaptation and LFSR state, and a batch runner.

    ``weights[i, j]`` / ``mask[i, j]`` belong to the synapse from input i to neuron j (the layout
    of ``model.network.Network``); ``lfsr_state`` is the state the next STDP update rounds with.
    ``target`` is Brian2's code generation target: "numpy" (default, no compiler needed) or
    "cython" (about 1.4x faster per sample at 784 x 400, after a first compilation of over a
    minute that Brian2 caches per user).
    """

    def __init__(self, cfg: Config, weights: np.ndarray, mask: np.ndarray | None = None,
                 adapt: np.ndarray | None = None, lfsr_state: int | None = None, *,
                 learned: int = 0, target: str = "numpy") -> None:
        import brian2 as b2

        self.cfg = cfg = cfg.validate()
        shape = (cfg.n_inputs, cfg.n_neurons)
        weights = np.asarray(weights)
        mask = np.ones(shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        adapt = (np.zeros(cfg.n_neurons, dtype=np.int64) if adapt is None
                 else np.asarray(adapt, dtype=np.int64))
        if weights.shape != shape or mask.shape != shape:
            raise ValueError(f"weights and mask must have shape {shape}")
        if weights.min() < 0 or weights.max() > cfg.w_max:
            raise ValueError(f"weights must be in 0..{cfg.w_max}")
        if adapt.shape != (cfg.n_neurons,) or adapt.min() < 0 or adapt.max() > cfg.adapt_max:
            raise ValueError(f"adapt must have shape ({cfg.n_neurons},), values 0..{cfg.adapt_max}")
        self.lfsr = Lfsr32(cfg.lfsr_seed if lfsr_state is None else lfsr_state)
        self.learned = learned  # learning samples so far ("pq" rewires every rewire_block)

        b2.prefs.codegen.target = target
        self._dt = 1 * b2.ms
        self.clock = b2.Clock(dt=self._dt)
        ns = {"v_max": cfg.v_max, "threshold": cfg.threshold, "leak_div": 1 << cfg.leak_shift}

        self.inputs = b2.SpikeGeneratorGroup(cfg.n_inputs, np.zeros(0, dtype=int),
                                             np.zeros(0) * b2.ms, clock=self.clock,
                                             name="inputs*")
        self.neurons = b2.NeuronGroup(
            cfg.n_neurons,
            """v : integer
               adapt : integer
               margin : integer
               fired : integer
               tspike : integer
               active : integer (shared)""",
            threshold="active > 0 and fired == 0 and margin >= 0",
            reset="fired = 1\ntspike = t_in_timesteps",
            namespace=ns, dtype={"v": np.int64, "adapt": np.int64, "margin": np.int64,
                                 "tspike": np.int64},
            clock=self.clock, name="neurons*")
        # Integrate (saturating), leak, compare, in this order, after the synapses of the step.
        step_code = "v = clip(v, 0, v_max)\n"
        if cfg.leak_shift:
            step_code += "v = v - v // leak_div\n"
        step_code += "margin = v - (threshold + adapt)\n"
        self.neurons.run_regularly(step_code, clock=self.clock, when="after_synapses", order=0,
                                   name="neurons_step*")
        self.neurons.thresholder["spike"].when = "after_synapses"
        self.neurons.thresholder["spike"].order = 1
        self.neurons.resetter["spike"].when = "after_synapses"
        self.neurons.resetter["spike"].order = 2

        self.synapses = b2.Synapses(self.inputs, self.neurons, "w : integer\nlive : integer",
                                    on_pre="v_post += w * live * active_post",
                                    dtype={"w": np.int64, "live": np.int64}, clock=self.clock,
                                    name="synapses*")
        self.synapses.connect()
        index = np.full(shape, -1, dtype=np.int64)
        index[np.asarray(self.synapses.i[:]), np.asarray(self.synapses.j[:])] = np.arange(
            len(self.synapses))
        assert (index >= 0).all()
        self._syn = index  # synapse number of (input, neuron)
        self._var("synapses", "w")[index] = weights
        self._var("synapses", "live")[index] = mask
        self._var("neurons", "adapt")[:] = adapt

        self._start_op = b2.NetworkOperation(self._sample_boundary, clock=self.clock,
                                             when="start", order=0, name="sample_boundary*")
        self._wta_op = b2.NetworkOperation(self._winner_take_all, clock=self.clock, when="end",
                                           order=0, name="winner_take_all*")
        self.network = b2.Network(self.inputs, self.neurons, self.synapses, self._start_op,
                                  self._wta_op)
        # State of the batch being run.
        self._batch: np.ndarray = np.zeros((0, cfg.n_inputs), dtype=np.int64)
        self._base_step = 0  # Brian2 step of the batch's first sample
        self._learn = True
        self._current = -1  # index in the batch of the running sample
        self._winners: list[tuple[int, int]] = []
        self._results: list[BrianSample] = []
        self._callback: SampleCallback | None = None
        self._rates: Callable[[int, int], tuple[int, int]] | None = None
        self._allowed: np.ndarray | None = None
        self._first_step_at = 0.0
        #: Seconds of the last ``run`` from its first time step to its end (Brian2's per-run
        #: set-up, code generation included, excluded).
        self.last_run_seconds = 0.0

    # --- state --------------------------------------------------------------------------------
    def _var(self, group: str, name: str) -> np.ndarray:
        """The live NumPy array behind a Brian2 variable (writes go straight into the model)."""
        obj = self.synapses if group == "synapses" else self.neurons
        return obj.variables[name].get_value()

    @property
    def weights(self) -> np.ndarray:
        """A copy of the weight matrix, shape (n_inputs, n_neurons)."""
        return self._var("synapses", "w")[self._syn].astype(np.int64)

    @property
    def mask(self) -> np.ndarray:
        """A copy of the connection mask (True = live), shape (n_inputs, n_neurons)."""
        return self._var("synapses", "live")[self._syn] != 0

    @property
    def margins(self) -> np.ndarray:
        """A copy of every neuron's margin at the last step run."""
        return self._var("neurons", "margin").astype(np.int64)

    @property
    def adapt(self) -> np.ndarray:
        """A copy of the threshold adaptation of every neuron."""
        return self._var("neurons", "adapt").astype(np.int64)

    @property
    def live(self) -> int:
        return int(np.count_nonzero(self._var("synapses", "live")))

    # --- running ------------------------------------------------------------------------------
    def run(self, times: np.ndarray, *, learn: bool = True,
            callback: SampleCallback | None = None,
            rates: Callable[[int, int], tuple[int, int]] | None = None,
            allowed: np.ndarray | None = None) -> list[BrianSample]:
        """Run a batch of samples (``times``: int array (n, n_inputs), T = never) in one Brian2 run.

        ``rates(k, j)``, when given, is the (LTP, LTD) rate pair winner j of sample k learns with
        instead of (a_plus, a_minus): a reward-modulated rule (the deep network's classifier).
        ``allowed`` (bool per neuron), when given, limits who may fire and win in every sample.

        ``callback(k, sample, self)``, when given, is called after sample k of the batch is
        complete (after its learning update when learning), while the weights, mask, adaptation
        and LFSR state are those right after that sample. An exception raised by the callback
        stops the batch and propagates.
        """
        cfg = self.cfg
        times = np.asarray(times, dtype=np.int64)
        if times.ndim != 2 or times.shape[1] != cfg.n_inputs:
            raise ValueError(f"times must have shape (n, {cfg.n_inputs}), not {times.shape}")
        if times.size and (times.min() < 0 or times.max() > cfg.never):
            raise ValueError(f"spike times must be in 0..{cfg.never} ({cfg.never} = never)")
        n, T = len(times), cfg.time_steps
        if n == 0:
            return []
        base = int(self.clock.variables["timestep"].get_value().item())
        sample, inp = np.nonzero(times < cfg.never)
        steps = base + sample * T + times[sample, inp]
        self.inputs.set_spikes(inp, steps * self._dt)
        self._batch, self._base_step, self._learn = times, base, learn
        self._current, self._results, self._callback = -1, [], callback
        self._rates = rates
        self._allowed = None if allowed is None else np.asarray(allowed, dtype=bool)
        try:
            self.network.run(n * T * self._dt)
            self._finish_sample()  # the last sample's learning update
            self.last_run_seconds = time.perf_counter() - self._first_step_at
        finally:
            self._callback = None
            self._var("neurons", "active")[:] = 0
        return self._results

    def _step(self) -> int:
        return int(self.clock.variables["timestep"].get_value().item()) - self._base_step

    def _sample_boundary(self) -> None:
        """Start of a Brian2 step: on a sample's first step, finish the previous one and reset."""
        step = self._step()
        if step % self.cfg.time_steps:
            return
        if self._current >= 0:
            self._finish_sample()
        else:
            self._first_step_at = time.perf_counter()
        self._current = step // self.cfg.time_steps
        if self._learn and self.cfg.homeo_decay_shift:
            adapt = self._var("neurons", "adapt")
            adapt -= adapt // (1 << self.cfg.homeo_decay_shift)
        self._var("neurons", "v")[:] = 0
        # Neurons outside ``allowed`` start the sample as if they had fired: they can neither
        # fire nor win (a teacher's pass); tspike -1 tells them from real spikes.
        self._var("neurons", "fired")[:] = 0 if self._allowed is None else ~self._allowed
        self._var("neurons", "tspike")[:] = -1
        self._var("neurons", "active")[:] = 1
        self._winners = []

    def _winner_take_all(self) -> None:
        """End of a Brian2 step: the step's winner among this step's spikes; stop at k winners."""
        active = self._var("neurons", "active")
        if not active[0]:
            return
        spikes = np.asarray(self.neurons.spikes)
        if len(spikes):
            margins = self._var("neurons", "margin")[spikes]
            j = int(spikes[int(np.argmax(margins))])  # spikes ascend: ties go to the lowest index
            self._winners.append((j, self._step() % self.cfg.time_steps))
            if len(self._winners) == self.cfg.k_winners:
                active[0] = 0

    def _finish_sample(self) -> None:
        cfg = self.cfg
        k = self._current
        fired = self._var("neurons", "fired") != 0
        t_spike = self._var("neurons", "tspike") - (self._base_step + k * cfg.time_steps)
        result = BrianSample(spike_times=np.where(fired & (t_spike >= 0), t_spike,
                                                  cfg.never).astype(np.int64),
                             winners=list(self._winners))
        if self._learn:
            for j, t_post in result.winners:
                self._learn_winner(j, t_post, self._batch[k], result)
            self.learned += 1
            if (cfg.rewire_policy == "pq" and cfg.prune_enabled
                    and self.learned % cfg.rewire_block == 0):
                self._pq_rewire(result)
        self._results.append(result)
        self._current = -1
        if self._callback is not None:
            self._callback(k, result, self)

    def _learn_winner(self, j: int, t_post: int, times: np.ndarray, result: BrianSample) -> None:
        """Homeostasis, STDP with stochastic rounding and pruning for winner j (spike at t_post)."""
        cfg = self.cfg
        adapt = self._var("neurons", "adapt")
        adapt[j] = min(int(adapt[j]) + cfg.homeo_inc, cfg.adapt_max)
        w_all, live_all = self._var("synapses", "w"), self._var("synapses", "live")
        column = self._syn[:, j]
        inputs = np.flatnonzero(live_all[column])  # ascending input order
        syn = column[inputs]
        rand = self.lfsr.take(len(inputs))
        shift = cfg.stdp_frac_bits + cfg.weight_bits
        w = w_all[syn].astype(np.int64)
        causal = times[inputs] <= t_post  # a never-spiking input has time T > t_post
        ltp, ltd = (cfg.a_plus, cfg.a_minus) if self._rates is None else self._rates(
            self._current, j)
        rate = np.where(causal, np.int64(ltp), np.int64(ltd))
        rounding = rand % (1 << shift)
        dw = np.floor_divide(rate * w * (cfg.w_max - w) + rounding, 1 << shift)
        w_new = np.minimum(np.maximum(w + dw, 0), cfg.w_max)
        prunes = cfg.prune_enabled and cfg.rewire_policy != "pq"
        pruned = (w_new < cfg.prune_threshold) if prunes else np.zeros(len(w), bool)
        w_all[syn] = w_new
        live_all[syn[pruned]] = 0
        result.updates.append((j, inputs, w_new, pruned))
        result.pruned += int(pruned.sum())
        if cfg.rewire_policy == "fixed-density":
            result.regrown += self._regrow(j, int(pruned.sum()))

    def _regrow(self, j: int, n: int) -> int:
        """Grow n absent synapses of neuron j, one LFSR state each, at ``regrow_weight``."""
        w_all, live_all = self._var("synapses", "w"), self._var("synapses", "live")
        column = self._syn[:, j]
        for s in self.lfsr.take(n):
            absent = [i for i in range(self.cfg.n_inputs) if not live_all[column[i]]]
            i = absent[(int(s) * len(absent)) >> 32]
            live_all[column[i]] = 1
            w_all[column[i]] = self.cfg.regrow_weight
        return n

    def _pq_rewire(self, result: BrianSample) -> None:
        """The end of a "pq" block: per neuron, the PQ-index ratio of its live weights, then the
        prune of the smallest and as many regrowths."""
        cfg = self.cfg
        w_all, live_all = self._var("synapses", "w"), self._var("synapses", "live")
        p, q = cfg.pq_p, cfg.pq_q
        for j in range(cfg.n_neurons):
            column = self._syn[:, j]
            live = [i for i in range(cfg.n_inputs) if live_all[column[i]]]
            w = [float(w_all[column[i]]) for i in live]
            d = len(w)
            if d == 0:
                continue
            sum_q = sum(x ** q for x in w)
            if sum_q == 0.0:
                index = 1.0
            else:
                ratio = sum(x ** p for x in w) ** (1 / p) / sum_q ** (1 / q)
                index = 1 - d ** (1 / q - 1 / p) * ratio
            m = math.ceil(d * (1 + cfg.pq_eta) ** (q / (p - q))
                          * (1 - index) ** (q * p / (q - p)))
            r = min(max(cfg.pq_gamma * (1 - m / d), 0.0), cfg.pq_beta)
            n = math.floor(r * d)
            if n == 0:
                continue
            for i in sorted(live, key=lambda i: (int(w_all[column[i]]), i))[:n]:
                live_all[column[i]] = 0
            result.pruned += n
            result.regrown += self._regrow(j, n)


def initial_weights(cfg: Config) -> np.ndarray:
    """Weights drawn like the golden model's default: normal(init_mean, init_std) * w_max, rounded
    and clipped, with ``numpy.random.default_rng(cfg.seed)``."""
    rng = np.random.default_rng(cfg.seed)
    real = rng.normal(cfg.init_mean, cfg.init_std, (cfg.n_inputs, cfg.n_neurons))
    return np.clip(np.rint(real * cfg.w_max), 0, cfg.w_max).astype(np.int64)


def samples_per_second(cfg: Config, times: np.ndarray, *, learn: bool = True) -> float:
    """Samples per second of the Brian2 reference on ``times`` (int (n, n_inputs), T = never).

    The network (weights from ``initial_weights``) is built and warmed up with a run of the first
    sample; then all of ``times`` go through one ``Network.run`` (learning when ``learn``), timed
    from its first time step to the end of its last sample's learning update. Excluded: building
    the Brian2 objects, and each run's set-up (code generation of every code object, about
    0.1-0.3 s per ``run``, which a long batch amortises).
    """
    times = np.asarray(times)
    if len(times) == 0:
        raise ValueError("samples_per_second needs at least one sample")
    net = BrianNetwork(cfg, initial_weights(cfg))
    net.run(times[:1], learn=learn)
    net.run(times, learn=learn)
    return len(times) / net.last_run_seconds
