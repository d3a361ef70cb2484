"""The bit-exact golden model of the deep network: conv and pool layers under a classifier.

The network learns one layer at a time, bottom up, the layers below frozen (``learn_layer``):
a conv layer learns with STDP (``model.conv``), the classifier (``model.network.Network``, the
existing fully connected layer) with reward-modulated STDP or with its own WTA rule. A frozen
stack's output for every training sample is computed once, in batches, before a layer learns.

One conv learning sample, in the order the hardware follows (``docs/deep_network.md``):

1. all T steps of the layer run (integrate, leak, compare; fire once; lateral inhibition), so
   every neuron's first spike and its membrane at that step are known;
2. up to k winners are chosen (``conv.select_winners``);
3. for each winner in order, its kernel's live entries in entry order get one STDP update each
   with the rates of the layer's learning sample number (``conv.scheduled_rates``), rounded with
   the layer's own LFSR, and are pruned when below the threshold (``conv.learn_kernel``).

Counters per sample and layer: synaptic events (live kernel entries applied to output neurons
by input spikes), STDP updates, entries pruned; live kernel entries per layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..progress import progress_bar
from . import conv, rules
from .deep_config import ClassifierSpec, ConvSpec, DeepConfig, PoolSpec
from .dog import dog_kernel, dog_on_off
from .encoding import encode
from .lfsr import LfsrStream
from .network import Network, SampleResult
from .pooling import first_spike_pool
from .readout import assign_labels

BATCH_BYTES = 64 << 20  # memory for one batch of (N, T, P, M) step inputs in forward passes


def sample_orders(seed: int, n: int, n_samples: int, epochs: int) -> list[np.ndarray]:
    """The order in which layer ``n`` sees its ``n_samples`` learning samples, one permutation
    per epoch, seeded by (``seed``, ``n``) (``DeepNetwork.learn_layer``)."""
    rng = np.random.default_rng([seed, n])
    return [rng.permutation(n_samples) for _ in range(epochs)]


@dataclass
class Totals:
    """Counters of one layer summed over a pass."""

    samples: int = 0
    syn_events: int = 0
    syn_updates: int = 0
    pruned: int = 0

    def add(self, syn_events: int, syn_updates: int, pruned: int) -> None:
        self.samples += 1
        self.syn_events += syn_events
        self.syn_updates += syn_updates
        self.pruned += pruned


@dataclass
class ConvSample:
    """One conv learning sample: first spikes before and after inhibition (M, H, W), membranes
    at the first spike, winners (map, row, col, step), the kernel updates, and counters."""

    t_fire: np.ndarray
    v_fire: np.ndarray
    out: np.ndarray
    winners: list[tuple[int, int, int, int]]
    updates: list[conv.KernelUpdate]
    rates: tuple[int, int]
    syn_events: int
    syn_updates: int
    pruned: int


def initial_weights(shape: tuple[int, ...], mean: float, std: float, w_max: int,
                    seed: int) -> np.ndarray:
    """normal(mean, std) * w_max, rounded and clipped, with ``default_rng(seed)``."""
    real = np.random.default_rng(seed).normal(mean, std, shape)
    return np.clip(np.rint(real * w_max), 0, w_max).astype(np.int64)


class ConvLayer:
    """Kernels ``weights[m, c, dy, dx]``, their live mask, the layer's LFSR and its count of
    learning samples (which picks the scheduled rates)."""

    def __init__(self, spec: ConvSpec, in_shape: tuple[int, int, int], cfg: DeepConfig,
                 seed: int) -> None:
        self.spec, self.cfg, self.in_shape = spec, cfg, in_shape
        shape = (spec.maps, in_shape[0], spec.kernel, spec.kernel)
        self.weights = initial_weights(shape, spec.init_mean, spec.init_std, cfg.w_max, seed)
        self.mask = np.ones(shape, dtype=bool)
        self.lfsr = LfsrStream(spec.lfsr_seed)
        self.learned = 0

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        k = self.spec.kernel
        return self.spec.maps, h - k + 1, w - k + 1

    @property
    def live(self) -> int:
        return int(self.mask.sum())

    def kernel_matrix(self) -> np.ndarray:
        """(K, M) live weights, column m = kernel m flattened in entry order."""
        return (self.weights * self.mask).reshape(self.spec.maps, -1).T.copy()

    def _run(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """t_fire, v_fire (N, P, M) and synaptic events (N,) of a batch (N, C, H, W)."""
        k, never = self.spec.kernel, self.cfg.never
        pt = conv.patches(times, k)
        step_in = conv.step_input(pt, self.kernel_matrix(), never)
        t_fire, v_fire = conv.fire(step_in, self.spec.threshold, self.spec.leak_shift,
                                   self.cfg.v_max)
        live_per_entry = self.mask.reshape(self.spec.maps, -1).sum(0)
        events = ((pt < never) * live_per_entry).sum(axis=(1, 2))
        return t_fire, v_fire, events

    def step_membranes(self, times: np.ndarray) -> np.ndarray:
        """The leaked membrane of every neuron after every step of one input (C, H, W), as
        (T, P', M) (position y * W' + x, map): what the hardware's sweep sees; the layer is not
        changed."""
        pt = conv.patches(times[None], self.spec.kernel)
        step_in = conv.step_input(pt, self.kernel_matrix(), self.cfg.never)
        steps: list[np.ndarray] = []
        conv.fire(step_in, self.spec.threshold, self.spec.leak_shift, self.cfg.v_max, steps)
        return np.stack(steps)[:, 0]

    def _to_maps(self, a: np.ndarray) -> np.ndarray:
        """(N, P, M) -> (N, M, H', W')."""
        m, h, w = self.out_shape
        return a.transpose(0, 2, 1).reshape(len(a), m, h, w)

    def forward(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output spike times (N, M, H', W') int16 (after inhibition with ``inhibit_infer``)
        and synaptic events per sample of a batch of inputs (N, C, H, W); the layer is not
        changed."""
        m, h, w = self.out_shape
        per_sample = max(1, self.cfg.never * h * w * m * 8 * 3)
        batch = max(1, BATCH_BYTES // per_sample)
        outs, events = [], []
        for s in range(0, len(times), batch):
            t_fire, v_fire, ev = self._run(times[s:s + batch])
            if self.spec.inhibit_infer:
                t_fire = conv.inhibit(t_fire, v_fire, self.cfg.never, self.cfg.v_max)
            outs.append(self._to_maps(t_fire))
            events.append(ev)
        if not outs:
            return np.zeros((0, m, h, w), dtype=np.int16), np.zeros(0, dtype=np.int64)
        return np.concatenate(outs), np.concatenate(events)

    def learn_sample(self, times: np.ndarray) -> ConvSample:
        """One learning sample on input spike times (C, H, W); see the module docstring."""
        spec, cfg = self.spec, self.cfg
        t_fire, v_fire, events = self._run(times[None])
        out = (conv.inhibit(t_fire, v_fire, cfg.never, cfg.v_max) if spec.inhibition
               else t_fire)
        out_maps, v_maps = self._to_maps(out)[0], self._to_maps(v_fire)[0]
        winners = conv.select_winners(out_maps, v_maps, spec.k_winners, spec.inhibit_radius,
                                      cfg.never)
        rates = conv.scheduled_rates(spec.a_plus, spec.a_minus, spec.a_plus_max,
                                     spec.a_minus_max, spec.rate_double_every, self.learned)
        updates = []
        k = spec.kernel
        for m, y, x, t in winners:
            pre = times[:, y:y + k, x:x + k].reshape(-1)
            rand = self.lfsr.take(int(self.mask[m].sum()))
            updates.append(conv.learn_kernel(self.weights, self.mask, m, pre, t, rand, cfg,
                                             rates[0], rates[1], spec.prune_enabled,
                                             spec.prune_threshold))
        self.learned += 1
        return ConvSample(t_fire=self._to_maps(t_fire)[0], v_fire=v_maps, out=out_maps,
                          winners=winners, updates=updates, rates=rates,
                          syn_events=int(events[0]),
                          syn_updates=sum(len(u.entries) for u in updates),
                          pruned=sum(int(u.pruned.sum()) for u in updates))

    def convergence(self) -> float:
        """Kheradpisheh's C = mean of w (1 - w) over live entries (w in [0, 1]); < 0.01: done."""
        w = self.weights[self.mask] / self.cfg.w_max
        return float(np.mean(w * (1 - w))) if len(w) else 0.0


class PoolLayer:
    """First-spike max pooling (no state)."""

    def __init__(self, spec: PoolSpec) -> None:
        self.spec = spec

    def forward(self, times: np.ndarray) -> np.ndarray:
        return first_spike_pool(times, self.spec.size, self.spec.step)


@dataclass
class MarginSample:
    """One learning sample of the margin rule: the inference pass, the label's best neuron and
    the other classes' best, and the two learning passes (None when the lead was enough)."""

    infer: SampleResult
    best_true: int
    best_other: int
    punish: SampleResult | None
    reward: SampleResult | None

    @property
    def syn_events(self) -> int:
        return sum(r.syn_events for r in self.passes())

    @property
    def syn_updates(self) -> int:
        return sum(r.syn_updates for r in self.passes())

    @property
    def pruned(self) -> int:
        return sum(r.pruned for r in self.passes())

    def passes(self) -> list[SampleResult]:
        return [r for r in (self.infer, self.punish, self.reward) if r is not None]


class ClassifierLayer:
    """The existing fully connected layer on the flattened features, and each neuron's class."""

    def __init__(self, spec: ClassifierSpec, cfg: DeepConfig) -> None:
        self.spec = spec
        self.never = cfg.never
        self.net = Network(cfg.classifier_config())
        self.labels = (np.full(spec.n_neurons, -1) if spec.rule == "wta"
                       else np.arange(spec.n_neurons) // spec.neurons_per_class)
        self.learned = 0

    def prune_threshold_at(self, epoch: int) -> int:
        """The classifier's prune threshold in learning epoch ``epoch`` (0-based): the schedule
        of ``ClassifierSpec`` (a runtime register the host writes between epochs)."""
        s = self.spec
        steps = max(0, epoch - s.prune_ramp_start + 1) if s.prune_ramp_step else 0
        return min(s.prune_threshold + steps * s.prune_ramp_step, s.prune_threshold_max)

    def start_epoch(self, epoch: int) -> int:
        """Set the prune-threshold register for learning epoch ``epoch``; when it rises, a
        prune sweep applies ``rules.prune_decision`` to every live synapse (the prune unit
        walking the weight memory once, no learning). Returns the synapses it pruned."""
        thr = self.prune_threshold_at(epoch)
        if thr == self.net.cfg.prune_threshold:
            return 0
        self.net.cfg = self.net.cfg.replace(prune_threshold=thr)
        net = self.net
        pruned = net.mask & rules.prune_decision(net.weights, net.cfg.prune_enabled, thr)
        net.mask &= ~pruned
        return int(pruned.sum())

    def rebin(self, features: np.ndarray) -> np.ndarray:
        """Feature spike times (..., F) on the classifier's steps: t * T_c // T (T -> T_c)."""
        t_c = self.net.cfg.time_steps
        if t_c == self.never:
            return features
        return (features.astype(np.int64) * t_c // self.never).astype(np.int16)

    @property
    def live(self) -> int:
        return self.net.live

    def rates_for(self, label: int) -> Callable[[int], tuple[int, int]]:
        """R-STDP: a winner of the right class learns with STDP, any other with anti-STDP."""
        s = self.spec

        def rates(j: int) -> tuple[int, int]:
            if j // s.neurons_per_class == label:
                return s.a_plus, s.a_minus
            return s.punish_a_minus, s.punish_a_plus
        return rates

    def learn_sample(self, features: np.ndarray, label: int, trace: bool = False
                     ) -> SampleResult | MarginSample:
        """One learning sample on the features (F,) (the network's time steps)."""
        x = self.rebin(features)
        self.learned += 1
        if self.spec.rule == "margin":
            return self._learn_margin(x, int(label), trace)
        rates = self.rates_for(int(label)) if self.spec.rule == "rstdp" else None
        return self.net.run_sample(x, learn=True, trace=trace, rates=rates)

    def _learn_margin(self, x: np.ndarray, label: int, trace: bool) -> MarginSample:
        s = self.spec
        infer = self.net.run_sample(x, learn=False, trace=True)
        margins = infer.margins[-1]
        own = self.labels == label
        best_true = int(np.flatnonzero(own)[np.argmax(margins[own])])
        best_other = int(np.flatnonzero(~own)[np.argmax(margins[~own])])
        result = MarginSample(infer, best_true, best_other, None, None)
        if margins[best_true] - margins[best_other] < s.margin:
            neurons = np.arange(s.n_neurons)
            result.punish = self.net.run_sample(
                x, learn=True, trace=trace, allowed=neurons == best_other,
                rates=lambda j: (s.punish_a_minus, s.punish_a_plus))
            result.reward = self.net.run_sample(x, learn=True, trace=trace,
                                                allowed=neurons == best_true)
        return result

    def predict_neurons(self, features: np.ndarray) -> tuple[np.ndarray, Totals]:
        """The predicted neuron of each sample (N, F) and the inference counters."""
        out = np.empty(len(features), dtype=np.int64)
        totals = Totals()
        for s, x in enumerate(self.rebin(features)):
            res = self.net.run_sample(x, learn=False)
            out[s] = res.prediction
            totals.add(res.syn_events, 0, 0)
        return out, totals


Layer = ConvLayer | PoolLayer | ClassifierLayer


@dataclass
class LearnTrace:
    """Live kernel entries (or synapses) of the learning layer every ``every`` samples."""

    every: int = 100
    points: list[tuple[int, int, int]] = field(default_factory=list)  # (layer, sample, live)


class DeepNetwork:
    """Every layer of a ``DeepConfig`` and the learning schedule's state (``done``: the number
    of learning layers that have finished learning)."""

    def __init__(self, cfg: DeepConfig) -> None:
        self.cfg = cfg.validate()
        shapes = cfg.shapes()
        self.layers: list[Layer] = []
        for n, spec in enumerate(cfg.layers):
            if isinstance(spec, ConvSpec):
                self.layers.append(ConvLayer(spec, shapes[n], cfg, seed=cfg.seed + n))
            elif isinstance(spec, PoolSpec):
                self.layers.append(PoolLayer(spec))
            else:
                self.layers.append(ClassifierLayer(spec, cfg))
        self.done = 0

    @property
    def classifier(self) -> ClassifierLayer:
        last = self.layers[-1]
        assert isinstance(last, ClassifierLayer)
        return last

    def conv_layers(self) -> list[tuple[int, ConvLayer]]:
        return [(n, la) for n, la in enumerate(self.layers) if isinstance(la, ConvLayer)]

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Input spike times (N, C, H, W) of uint8 images (N, H, W): ``model.encoding.encode``,
        after the DoG ON/OFF filter (``model.dog``) when the configuration asks for it."""
        cfg = self.cfg
        c, h, w = cfg.shapes()[0]
        if cfg.on_off and cfg.input_filter == "dog":
            images = np.asarray(images)
            if images.dtype != np.uint8:
                raise TypeError(f"images must be uint8 intensities 0..255, not {images.dtype}")
            kernel = dog_kernel(cfg.dog_size, cfg.dog_sigma_center, cfg.dog_sigma_surround)
            on, off = dog_on_off(images.reshape(-1, h, w), kernel, cfg.dog_shift)
            enc = cfg.input_config()
            return np.stack([encode(on, enc), encode(off, enc)], 1).reshape(-1, c, h, w)
        return encode(images, cfg.input_config()).reshape(-1, c, h, w)

    def forward(self, times: np.ndarray, upto: int,
                events: list[np.ndarray] | None = None) -> np.ndarray:
        """Spike times after layers 0..upto-1 (conv and pool only) of inputs (N, C, H, W);
        ``events``, when given, receives each conv layer's synaptic events per sample."""
        for layer in self.layers[:upto]:
            if isinstance(layer, ConvLayer):
                times, ev = layer.forward(times)
                if events is not None:
                    events.append(ev)
            elif isinstance(layer, PoolLayer):
                times = layer.forward(times)
            else:
                raise ValueError("forward stops below the classifier")
        return times

    def features(self, times: np.ndarray, events: list[np.ndarray] | None = None) -> np.ndarray:
        """The classifier's input (N, F): the last pooled spike times, flattened (C, H, W)."""
        out = self.forward(times, len(self.layers) - 1, events)
        return out.reshape(len(out), -1)

    def learn_layer(self, n: int, inputs: np.ndarray, labels: np.ndarray, *, seed: int,
                    progress: bool = True, trace: LearnTrace | None = None,
                    on_sample: Callable[[int, object], None] | None = None) -> Totals:
        """Layer ``n`` learns its epochs on ``inputs`` (its own input spike times, N samples),
        in an order seeded by (seed, n); ``on_sample(step, result)`` after every sample."""
        layer = self.layers[n]
        spec = self.cfg.layers[n]
        assert not isinstance(layer, PoolLayer) and not isinstance(spec, PoolSpec)
        orders = sample_orders(seed, n, len(inputs), spec.epochs)
        totals = Totals()
        name = f"layer {n} ({spec.type})"
        with progress_bar(total=sum(len(o) for o in orders), desc=f"learn {name}", unit="sample",
                          disable=not progress) as bar:
            step = 0
            for epoch, order in enumerate(orders):
                if isinstance(layer, ClassifierLayer):
                    layer.start_epoch(epoch)
                for idx in order:
                    res: ConvSample | SampleResult | MarginSample
                    if isinstance(layer, ConvLayer):
                        res = layer.learn_sample(inputs[idx])
                    else:
                        res = layer.learn_sample(inputs[idx], int(labels[idx]))
                    totals.add(res.syn_events, res.syn_updates, res.pruned)
                    if on_sample is not None:
                        on_sample(step, res)
                    if trace is not None and step % trace.every == 0:
                        trace.points.append((n, step, layer.live))
                    step += 1
                    bar.update()
                    if step % 200 == 0:
                        bar.set_postfix(live=layer.live)
        return totals

    def label_classifier(self, features: np.ndarray, labels: np.ndarray) -> None:
        """WTA rule only: each neuron gets the class it wins most often on ``features``."""
        clf = self.classifier
        if clf.spec.rule == "wta":
            won, _ = clf.predict_neurons(features)
            clf.labels = assign_labels(won, labels, clf.spec.n_neurons, clf.spec.n_classes)

    def predict(self, times: np.ndarray) -> tuple[np.ndarray, dict[str, Totals]]:
        """Predicted class of each input (N, C, H, W) (-1 for an unlabelled neuron) and the
        inference counters per learning layer (keys ``layer N``)."""
        events: list[np.ndarray] = []
        feats = self.features(times, events)
        neurons, clf_totals = self.classifier.predict_neurons(feats)
        counters: dict[str, Totals] = {}
        for (n, _), ev in zip(self.conv_layers(), events, strict=True):
            counters[f"layer {n}"] = Totals(samples=len(ev), syn_events=int(ev.sum()))
        counters[f"layer {len(self.layers) - 1}"] = clf_totals
        return self.classifier.labels[neurons], counters
