"""An independent Brian2 reference of the deep network, for ``synaprune crosscheck --network deep``.

It shares only ``DeepConfig`` with the golden model (``model.deep_network``, ``model.conv``,
``model.pooling``): connectivity, winners, the rate schedule, STDP with stochastic rounding and
pruning are written again here from the specification (``docs/deep_network.md``). The classifier
is the project's independent Brian2 reference of the fully connected layer
(``model.brian_ref.BrianNetwork``) with its reward-modulated rates.

Each stage is one Brian2 ``Network`` fed by a ``SpikeGeneratorGroup`` with the previous stage's
spike times; sample s of a batch occupies Brian2 steps s*T .. s*T + T - 1 (numpy code generation).

* Conv stage (inhibition: ``inhibition`` while learning, ``inhibit_infer`` otherwise):
  ``Synapses`` from every input to every output neuron whose receptive field holds it,
  each with the number of its kernel entry; ``on_pre`` adds ``w * live`` to the integer membrane.
  A ``run_regularly`` after the synapses saturates, leaks and computes the margin and whether the
  neuron crosses its threshold this step (not yet fired, position not blocked). Inhibition:
  ``Synapses`` between the neurons of one position (all maps) with a summed variable that counts,
  for each crossing neuron, the crossing neurons of its position with a larger membrane (or an
  equal one and a lower map); the threshold fires the crossing neurons that count 0, and their
  spikes block the position (``on_pre``, delivered after the reset of the same step).
  Fire-once: ``fired``. Kernel sharing, winners and STDP are network operations at the end of
  each learning sample.
* Pool stage: ``Synapses`` from each input to the pooled neurons whose window holds it; a pooled
  neuron fires at its first input spike, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .brian_ref import BrianNetwork, Lfsr32
from .deep_config import ClassifierSpec, ConvSpec, DeepConfig, PoolSpec


@dataclass
class ConvStep:
    """One conv sample of the reference: output spike times (M, H, W), winners
    (map, row, col, step) and per winner (map, live entries before, new weights, pruned)."""

    out: np.ndarray
    winners: list[tuple[int, int, int, int]] = field(default_factory=list)
    updates: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)


ConvCallback = Callable[[int, ConvStep, "BrianConv"], None]


def rates_at(spec: ConvSpec, sample: int) -> tuple[int, int]:
    """The schedule written out: start at (a_plus, a_minus), double both after every
    ``rate_double_every`` samples, never beyond the caps."""
    ltp, ltd = spec.a_plus, spec.a_minus
    if spec.rate_double_every:
        for _ in range(sample // spec.rate_double_every):
            if ltp >= spec.a_plus_max and ltd <= spec.a_minus_max:
                break
            ltp, ltd = min(2 * ltp, spec.a_plus_max), max(2 * ltd, spec.a_minus_max)
    return ltp, ltd


class _Stage:
    """Common part: the clock, the input generator and batch bookkeeping."""

    def __init__(self, cfg: DeepConfig, n_in: int, target: str) -> None:
        import brian2 as b2

        b2.prefs.codegen.target = target
        self.b2 = b2
        self.cfg = cfg
        self.dt = 1 * b2.ms
        self.clock = b2.Clock(dt=self.dt)
        self.inputs = b2.SpikeGeneratorGroup(n_in, np.zeros(0, dtype=int), np.zeros(0) * b2.ms,
                                             clock=self.clock, name="inputs*")
        self.last_run_seconds = 0.0

    def _feed(self, times: np.ndarray) -> int:
        """Queue the batch's input spikes; returns the Brian2 step of its first sample."""
        never = self.cfg.time_steps
        base = int(self.clock.variables["timestep"].get_value().item())
        sample, idx = np.nonzero(times < never)
        steps = base + sample * never + times[sample, idx]
        self.inputs.set_spikes(idx, steps * self.dt)
        return base

    def step(self) -> int:
        return int(self.clock.variables["timestep"].get_value().item())


class BrianConv(_Stage):
    """Conv layer ``n`` of ``cfg`` as Brian2 objects, with its kernels, mask, LFSR and count of
    learning samples."""

    def __init__(self, cfg: DeepConfig, n: int, weights: np.ndarray, mask: np.ndarray,
                 lfsr_state: int, learned: int = 0, *, target: str = "numpy") -> None:
        spec = cfg.layers[n]
        assert isinstance(spec, ConvSpec)
        c, h, w = cfg.shapes()[n]
        super().__init__(cfg, c * h * w, target)
        b2 = self.b2
        self.spec, self.in_shape = spec, (c, h, w)
        k, m_count = spec.kernel, spec.maps
        oh, ow = h - k + 1, w - k + 1
        self.out_shape = (m_count, oh, ow)
        self.kernel_w = np.array(weights, dtype=np.int64).reshape(m_count, -1)
        self.kernel_live = np.array(mask, dtype=bool).reshape(m_count, -1)
        self.lfsr = Lfsr32(lfsr_state)
        self.learned = learned
        n_out = m_count * oh * ow
        ns = {"v_max": cfg.v_max, "thr": spec.threshold, "leak_div": 1 << spec.leak_shift,
              "n_maps": m_count}
        self.layer = b2.NeuronGroup(
            n_out,
            """v : integer
               margin : integer
               cross : integer
               beaten : integer
               fired : integer
               blocked : integer
               tspike : integer
               vfire : integer
               map_index : integer (constant)
               inhibit : integer (shared)
               active : integer (shared)""",
            threshold="cross == 1 and beaten == 0", reset="fired = 1\ntspike = t_in_timesteps\n"
            "vfire = v", namespace=ns, clock=self.clock, name="conv*",
            dtype={name: np.int64 for name in ("v", "margin", "vfire", "tspike")})
        self.layer.map_index = np.repeat(np.arange(m_count), oh * ow)
        code = "v = clip(v, 0, v_max)\n"
        if spec.leak_shift:
            code += "v = v - v // leak_div\n"
        code += ("margin = v - thr\n"
                 "cross = int(active == 1 and fired == 0 and blocked == 0 and margin >= 0)\n")
        self.layer.run_regularly(code, clock=self.clock, when="after_synapses", order=0,
                                 name="conv_step*")
        for obj, order in ((self.layer.thresholder["spike"], 2),
                           (self.layer.resetter["spike"], 3)):
            obj.when, obj.order = "after_synapses", order
        # Connectivity: output (m, y, x) <- input (c, y + dy, x + dx) through entry (c, dy, dx).
        grid = np.meshgrid(np.arange(m_count), np.arange(oh), np.arange(ow), np.arange(c),
                           np.arange(k), np.arange(k), indexing="ij")
        m_, y_, x_, c_, dy_, dx_ = (g.ravel() for g in grid)
        pre = (c_ * h + y_ + dy_) * w + x_ + dx_
        post = (m_ * oh + y_) * ow + x_
        entry = ((m_ * c + c_) * k + dy_) * k + dx_
        self.syn = b2.Synapses(self.inputs, self.layer,
                               "w : integer\nlive : integer\nentry : integer (constant)",
                               on_pre="v_post += w * live * active_post", clock=self.clock,
                               dtype={"w": np.int64}, name="conv_syn*")
        self.syn.connect(i=pre, j=post)
        # Brian2 may store the synapses in another order: match them by (pre, post), unique here.
        got = np.asarray(self.syn.i[:]).astype(np.int64) * n_out + np.asarray(self.syn.j[:])
        want = pre.astype(np.int64) * n_out + post
        order = np.argsort(want)
        self._entry = entry[order][np.searchsorted(want[order], got)]
        self.syn.entry[:] = self._entry
        objects: list[Any] = [self.inputs, self.layer, self.syn]
        if spec.inhibition or spec.inhibit_infer:
            # Same position, every map (itself included: it never beats itself).
            pos = np.arange(oh * ow)
            ii = (np.arange(m_count)[:, None, None] * oh * ow + pos[None, None, :])
            jj = (np.arange(m_count)[None, :, None] * oh * ow + pos[None, None, :])
            ii, jj = np.broadcast_arrays(ii, jj)
            self.lateral = b2.Synapses(
                self.layer, self.layer,
                """beaten_post = cross_pre * cross_post * int(v_pre > v_post or (v_pre == v_post
                    and map_index_pre < map_index_post)) * inhibit_post : integer (summed)""",
                on_pre="blocked_post = inhibit_post", clock=self.clock, name="lateral*")
            self.lateral.connect(i=ii.ravel(), j=jj.ravel())
            self.lateral.summed_updaters["beaten_post"].when = "after_synapses"
            self.lateral.summed_updaters["beaten_post"].order = 1
            # Deliver the block in the step of the spike (after the reset), so that a spike of a
            # sample's last step cannot reach into the next sample.
            self.lateral.pre.when, self.lateral.pre.order = "after_synapses", 4
            objects.append(self.lateral)
        self._boundary = b2.NetworkOperation(self._sample_boundary, clock=self.clock,
                                             when="start", order=0, name="conv_boundary*")
        objects.append(self._boundary)
        self.network = b2.Network(*objects)
        self._write_kernels()
        self._batch = np.zeros((0, c, h, w), dtype=np.int64)
        self._base = 0
        self._current = -1
        self._learn = False
        self._results: list[ConvStep] = []
        self._callback: ConvCallback | None = None

    # --- state --------------------------------------------------------------------------------
    def _write_kernels(self) -> None:
        """Kernel sharing: every synapse takes its entry's weight and live bit."""
        self.syn.w[:] = self.kernel_w.ravel()[self._entry]
        self.syn.live[:] = self.kernel_live.ravel()[self._entry].astype(np.int64)

    @property
    def weights(self) -> np.ndarray:
        return self.kernel_w.reshape(self.spec.maps, self.in_shape[0], self.spec.kernel,
                                     self.spec.kernel).copy()

    @property
    def mask(self) -> np.ndarray:
        return self.kernel_live.reshape(self.spec.maps, self.in_shape[0], self.spec.kernel,
                                        self.spec.kernel).copy()

    # --- running ------------------------------------------------------------------------------
    def run(self, times: np.ndarray, *, learn: bool,
            callback: ConvCallback | None = None) -> list[ConvStep]:
        """A batch (N, C, H, W) of input spike times in one Brian2 run; ``callback(k, step,
        self)`` after each sample (after its learning when ``learn``)."""
        times = np.asarray(times, dtype=np.int64)
        if len(times) == 0:
            return []
        self._batch, self._learn, self._callback = times, learn, callback
        self.layer.inhibit = int(self.spec.inhibition if learn else self.spec.inhibit_infer)
        self._base = self._feed(times.reshape(len(times), -1))
        self._current, self._results = -1, []
        t0 = time.perf_counter()
        try:
            self.network.run(len(times) * self.cfg.time_steps * self.dt)
            self._finish()
        finally:
            self._callback = None
            self.layer.active = 0
        self.last_run_seconds = time.perf_counter() - t0
        return self._results

    def _sample_boundary(self) -> None:
        rel = self.step() - self._base
        if rel % self.cfg.time_steps:
            return
        if self._current >= 0:
            self._finish()
        self._current = rel // self.cfg.time_steps
        for name in ("v", "fired", "blocked", "cross", "vfire"):
            getattr(self.layer, name)[:] = 0
        self.layer.active = 1

    def _finish(self) -> None:
        never = self.cfg.time_steps
        k = self._current
        fired = np.asarray(self.layer.fired[:]) != 0
        start = self._base + k * never
        t = np.where(fired, np.asarray(self.layer.tspike[:]) - start, never)
        result = ConvStep(out=t.reshape(self.out_shape).astype(np.int64))
        if self._learn:
            vfire = np.asarray(self.layer.vfire[:]).reshape(self.out_shape)
            result.winners = self._winners(result.out, vfire)
            ltp, ltd = rates_at(self.spec, self.learned)
            for winner in result.winners:
                result.updates.append(self._stdp(winner, self._batch[k], ltp, ltd))
            self._write_kernels()
            self.learned += 1
        self._results.append(result)
        self._current = -1
        if self._callback is not None:
            self._callback(k, result, self)

    def _winners(self, out: np.ndarray, vfire: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Repeatedly the best remaining spike (earliest, larger membrane, lower map, row,
        column); each winner removes its map and a (2r+1)^2 square of every map."""
        never, r = self.cfg.time_steps, self.spec.inhibit_radius
        allowed = out < never
        winners: list[tuple[int, int, int, int]] = []
        while len(winners) < self.spec.k_winners and allowed.any():
            cands = list(zip(*np.nonzero(allowed), strict=True))
            m, y, x = min(cands, key=lambda q: (out[q], -vfire[q], q[0], q[1], q[2]))
            winners.append((int(m), int(y), int(x), int(out[m, y, x])))
            allowed[m] = False
            allowed[:, max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = False
        return winners

    def _stdp(self, winner: tuple[int, int, int, int], inputs: np.ndarray, ltp: int,
              ltd: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        m, y, x, t_post = winner
        k, cfg = self.spec.kernel, self.cfg
        pre = inputs[:, y:y + k, x:x + k].reshape(-1)
        live = np.flatnonzero(self.kernel_live[m])
        rand = self.lfsr.take(len(live))
        shift = cfg.stdp_frac_bits + cfg.weight_bits
        w = self.kernel_w[m, live]
        rate = np.where(pre[live] <= t_post, ltp, ltd).astype(np.int64)
        dw = np.floor_divide(rate * w * (cfg.w_max - w) + rand % (1 << shift), 1 << shift)
        w_new = np.minimum(np.maximum(w + dw, 0), cfg.w_max)
        pruned = ((w_new < self.spec.prune_threshold) if self.spec.prune_enabled
                  else np.zeros(len(live), dtype=bool))
        self.kernel_w[m, live] = w_new
        self.kernel_live[m, live[pruned]] = False
        return m, live, w_new, pruned


class BrianPool(_Stage):
    """A first-spike pooling stage: a pooled neuron fires at its window's first spike."""

    def __init__(self, cfg: DeepConfig, n: int, *, target: str = "numpy") -> None:
        spec = cfg.layers[n]
        assert isinstance(spec, PoolSpec)
        c, h, w = cfg.shapes()[n]
        super().__init__(cfg, c * h * w, target)
        b2 = self.b2
        _, oh, ow = cfg.shapes()[n + 1]
        self.out_shape = (c, oh, ow)
        self.group = b2.NeuronGroup(c * oh * ow, "got : integer\nfired : integer\n"
                                    "tspike : integer", threshold="got > 0 and fired == 0",
                                    reset="fired = 1\ntspike = t_in_timesteps",
                                    clock=self.clock, name="pool*", dtype={"tspike": np.int64})
        for obj, order in ((self.group.thresholder["spike"], 1), (self.group.resetter["spike"], 2)):
            obj.when, obj.order = "after_synapses", order
        size = spec.size or max(h, w)
        step = spec.stride or size
        win_h, win_w = (h, w) if not spec.size else (size, size)
        grid = np.meshgrid(np.arange(c), np.arange(oh), np.arange(ow), np.arange(win_h),
                           np.arange(win_w), indexing="ij")
        c_, py, px, wy, wx = (g.ravel() for g in grid)
        pre = (c_ * h + py * step + wy) * w + px * step + wx
        post = (c_ * oh + py) * ow + px
        self.syn = b2.Synapses(self.inputs, self.group, on_pre="got_post = 1", clock=self.clock,
                               name="pool_syn*")
        self.syn.connect(i=pre, j=post)
        self._boundary = b2.NetworkOperation(self._sample_boundary, clock=self.clock,
                                             when="start", order=0, name="pool_boundary*")
        self.network = b2.Network(self.inputs, self.group, self.syn, self._boundary)
        self._base, self._current = 0, -1
        self._out = np.zeros((0, *self.out_shape), dtype=np.int64)

    def run(self, times: np.ndarray) -> np.ndarray:
        """Pooled spike times (N, C, H', W') of a batch (N, C, H, W), in one Brian2 run."""
        times = np.asarray(times, dtype=np.int64)
        never = self.cfg.time_steps
        self._out = np.full((len(times), *self.out_shape), never, dtype=np.int64)
        if len(times) == 0:
            return self._out
        self._base = self._feed(times.reshape(len(times), -1))
        self._current = -1
        t0 = time.perf_counter()
        self.network.run(len(times) * never * self.dt)
        self._finish()
        self.last_run_seconds = time.perf_counter() - t0
        return self._out

    def _sample_boundary(self) -> None:
        rel = self.step() - self._base
        if rel % self.cfg.time_steps:
            return
        if self._current >= 0:
            self._finish()
        self._current = rel // self.cfg.time_steps
        self.group.got = 0
        self.group.fired = 0

    def _finish(self) -> None:
        never = self.cfg.time_steps
        start = self._base + self._current * never
        fired = np.asarray(self.group.fired[:]) != 0
        t = np.where(fired, np.asarray(self.group.tspike[:]) - start, never)
        self._out[self._current] = t.reshape(self.out_shape)
        self._current = -1


def frozen_outputs(cfg: DeepConfig, upto: int, times: np.ndarray,
                   convs: dict[int, BrianConv], *, target: str = "numpy"
                   ) -> list[np.ndarray]:
    """The spike times after each of layers 0..upto-1 (conv stages from ``convs``, not learning;
    pool stages built here), for a batch of inputs (N, C, H, W)."""
    outs = []
    for n in range(upto):
        spec = cfg.layers[n]
        if isinstance(spec, ConvSpec):
            times = np.stack([r.out for r in convs[n].run(times, learn=False)])
        elif isinstance(spec, PoolSpec):
            times = BrianPool(cfg, n, target=target).run(times)
        outs.append(times)
    return outs


def classifier(cfg: DeepConfig, weights: np.ndarray, mask: np.ndarray, adapt: np.ndarray,
               lfsr_state: int, *, target: str = "numpy") -> BrianNetwork:
    """The classifier as the fully connected layer's Brian2 reference."""
    return BrianNetwork(cfg.classifier_config(), weights, mask, adapt, lfsr_state,
                        target=target)


def reward_rates(spec: ClassifierSpec, labels: np.ndarray) -> Callable[[int, int], tuple[int, int]]:
    """R-STDP written out: winner j of sample k gets STDP when j's class (j // neurons_per_class)
    is the label of sample k, anti-STDP (signs reversed) otherwise."""
    def rates(k: int, j: int) -> tuple[int, int]:
        if j // spec.neurons_per_class == labels[k]:
            return spec.a_plus, spec.a_minus
        return spec.punish_a_minus, spec.punish_a_plus
    return rates


@dataclass
class MarginStep:
    """The margin rule on one sample: the inference pass, the label's best neuron, the other
    classes' best, and the punishment and reward passes (None when the lead was enough)."""

    infer: Any
    best_true: int
    best_other: int
    punish: Any = None
    reward: Any = None


def margin_learn(net: BrianNetwork, spec: ClassifierSpec, x: np.ndarray, label: int
                 ) -> MarginStep:
    """The margin rule written out: one inference run; the best (largest margin, lowest index)
    neuron of the label's class and of the others; if the former does not lead by
    ``spec.margin``, a run where only the latter may fire learns with anti-STDP, then a run
    where only the former may fire learns with STDP."""
    infer = net.run(x[None], learn=False)[0]
    m = net.margins
    best: dict[bool, int] = {}
    for j in range(spec.n_neurons):
        mine = j // spec.neurons_per_class == label
        if mine not in best or m[j] > m[best[mine]]:
            best[mine] = j
    step = MarginStep(infer, best[True], best[False])
    if m[step.best_true] - m[step.best_other] < spec.margin:
        only = np.arange(spec.n_neurons)
        step.punish = net.run(x[None], learn=True, allowed=only == step.best_other,
                              rates=lambda k, j: (spec.punish_a_minus, spec.punish_a_plus))[0]
        step.reward = net.run(x[None], learn=True, allowed=only == step.best_true)[0]
    return step


def rebin(times: np.ndarray, t_net: int, t_clf: int) -> np.ndarray:
    """Feature times on the classifier's steps: step t of t_net lands in step t * t_clf // t_net
    (a never-spike, t_net, becomes t_clf)."""
    return times * t_clf // t_net


def prune_sweep(net: BrianNetwork, spec: ClassifierSpec, epoch: int) -> None:
    """The classifier's prune-threshold schedule written out for learning epoch ``epoch``: the
    threshold rises by ``prune_ramp_step`` per epoch from ``prune_ramp_start`` on, never above
    ``prune_threshold_max``; when it rises, every live synapse below it is removed."""
    thr = spec.prune_threshold
    if spec.prune_ramp_step:
        for _ in range(spec.prune_ramp_start, epoch + 1):
            thr = min(thr + spec.prune_ramp_step, spec.prune_threshold_max)
    if thr == net.cfg.prune_threshold:
        return
    net.cfg = net.cfg.replace(prune_threshold=thr)
    if spec.prune_enabled:
        w, live = net._var("synapses", "w"), net._var("synapses", "live")
        live[w < thr] = 0
