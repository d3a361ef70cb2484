"""The deep golden model against its independent Brian2 reference (``crosscheck --network deep``).

Both start from the same state (``DeepNetwork``'s initial kernels, masks, LFSR states) and learn
the layers in turn on the same first N training samples, in order, one epoch each. For every
layer and sample the check compares: the spike time of every neuron of every layer below the
learning one (frozen) and of the learning one, its winners, each winner's update (live entries,
new weights, pruned entries), and after the sample the whole kernel tensor, mask and LFSR state
(for the classifier: the fully connected layer's check, ``fc_crosscheck``). The first
sample with a difference stops the check; its differences are reported with their place
(layer, sample, step, map, position).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fc_crosscheck import Report as FcReport
from .fc_crosscheck import compare_sample
from .model.deep_config import ClassifierSpec, ConvSpec, DeepConfig
from .model.deep_network import (
    ClassifierLayer,
    ConvLayer,
    ConvSample,
    DeepNetwork,
    MarginSample,
)
from .progress import progress_bar


@dataclass(frozen=True)
class DeepDifference:
    """One value where the Brian2 reference disagrees with the golden model."""

    layer: int
    sample: int
    what: str
    where: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return (f"layer {self.layer}, sample {self.sample}: {self.what} at {self.where}: golden "
                f"{self.expected}, brian2 {self.got}")


@dataclass
class DeepReport:
    """What was compared; ``differences`` counts the values of the first differing sample."""

    samples: dict[int, int] = field(default_factory=dict)  # learning samples per layer
    spikes_compared: int = 0  # neuron spike times compared (every layer, every sample)
    spikes: int = 0  # spikes among them
    winners: int = 0
    updates: int = 0  # STDP updates compared one by one
    entries_compared: int = 0  # kernel entries / synapses compared after samples (and masks)
    pruned: int = 0
    differences: int = 0
    found: list[DeepDifference] = field(default_factory=list)
    seconds_golden: float = 0.0
    seconds_brian: float = 0.0

    @property
    def first(self) -> DeepDifference | None:
        return self.found[0] if self.found else None

    @property
    def ok(self) -> bool:
        return self.differences == 0


class _StopError(Exception):
    """Ends the Brian2 run at the first sample with a difference."""


def _where(shape: tuple[int, ...], idx: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"map {idx[0]}, position ({idx[1]}, {idx[2]})"
    return f"index {idx}"


def compare_spikes(layer: int, sample: int, golden: np.ndarray, brian: np.ndarray,
                   never: int, report: DeepReport) -> list[DeepDifference]:
    """Spike times of one layer's neurons in one sample, (C, H, W) each."""
    report.spikes_compared += golden.size
    report.spikes += int((golden < never).sum())
    return [DeepDifference(layer, sample, f"spike time (step {int(golden[i])})",
                           _where(golden.shape, i), int(golden[i]), int(brian[i]))
            for i in zip(*np.nonzero(golden != brian), strict=True)]


def compare_conv_sample(n: int, k: int, g: ConvSample, g_layer: ConvLayer, b: Any,
                        b_conv: Any, report: DeepReport) -> list[DeepDifference]:
    """A conv learning sample: spikes, winners, updates, then kernels, masks and LFSR."""
    never = g_layer.cfg.never
    diffs = compare_spikes(n, k, g.out, b.out, never, report)
    if g.winners != b.winners:
        diffs.append(DeepDifference(n, k, "winners", "(map, row, col, step) list", g.winners,
                                    b.winners))
    report.winners += len(g.winners)
    for u, (gu, bu) in enumerate(zip(g.updates, b.updates, strict=False)):
        if gu.map != bu[0] or not np.array_equal(gu.entries, bu[1]):
            diffs.append(DeepDifference(n, k, "update", f"winner {u} map/live entries",
                                        (gu.map, len(gu.entries)), (bu[0], len(bu[1]))))
            continue
        for e in np.flatnonzero(gu.weights != bu[2]):
            diffs.append(DeepDifference(n, k, "updated weight", f"map {gu.map}, entry "
                                        f"{gu.entries[e]}", int(gu.weights[e]), int(bu[2][e])))
        for e in np.flatnonzero(gu.pruned != bu[3]):
            diffs.append(DeepDifference(n, k, "prune decision", f"map {gu.map}, entry "
                                        f"{gu.entries[e]}", bool(gu.pruned[e]), bool(bu[3][e])))
        report.updates += len(gu.entries)
    if len(g.updates) != len(b.updates):
        diffs.append(DeepDifference(n, k, "update", "number of winners' updates",
                                    len(g.updates), len(b.updates)))
    for what, gm, bm in (("kernel weight", g_layer.weights, b_conv.weights),
                         ("kernel mask", g_layer.mask, b_conv.mask)):
        for i in zip(*np.nonzero(gm != bm), strict=True):
            diffs.append(DeepDifference(n, k, what, f"map {i[0]}, entry (c {i[1]}, dy {i[2]}, "
                                        f"dx {i[3]})", gm[i].item(), bm[i].item()))
    report.entries_compared += g_layer.weights.size
    if g_layer.lfsr.peek_state() != b_conv.lfsr.state:
        diffs.append(DeepDifference(n, k, "lfsr state", "after the sample",
                                    f"{g_layer.lfsr.peek_state():#010x}",
                                    f"{b_conv.lfsr.state:#010x}"))
    report.pruned += g.pruned
    return diffs


Hook = Callable[[int, int, DeepNetwork], None]


def crosscheck_deep(cfg: DeepConfig, times: np.ndarray, labels: np.ndarray, *,
                    golden: DeepNetwork | None = None, progress: bool = False,
                    golden_hook: Hook | None = None, target: str = "numpy") -> DeepReport:
    """Golden model and Brian2 reference in lockstep on inputs (N, C, H, W) and their labels.

    ``golden_hook(layer, k, golden)`` runs before the golden model learns sample k of a layer
    (a test corrupts the golden state there). Stops at the first sample with a difference.
    """
    check = _Check(cfg, labels, golden or DeepNetwork(cfg), golden_hook, progress, target)
    try:
        for n in cfg.learning_layers():
            check.layer(n, times)
    except _StopError:
        pass
    return check.report


class _Check:
    """The state of one cross-check: both models, the report, the Brian2 conv stages learned."""

    def __init__(self, cfg: DeepConfig, labels: np.ndarray, golden: DeepNetwork,
                 hook: Hook | None, progress: bool, target: str) -> None:
        from .model import brian_deep_ref as ref

        self.ref, self.cfg, self.labels, self.golden = ref, cfg, labels, golden
        self.hook, self.progress, self.target = hook, progress, target
        self.report = DeepReport()
        self.brian_convs: dict[int, Any] = {}

    def stop_on(self, diffs: list[DeepDifference]) -> None:
        if diffs:
            self.report.found = list(diffs)
            self.report.differences = len(diffs)
            raise _StopError

    def done(self, n: int) -> None:
        self.report.samples[n] = self.report.samples.get(n, 0) + 1

    def layer(self, n: int, times: np.ndarray) -> None:
        """Compare the frozen layers below ``n`` on every sample, then let ``n`` learn."""
        t0 = time.perf_counter()
        g_outs = [self.golden.forward(times, m + 1) for m in range(n)]
        t1 = time.perf_counter()
        b_outs = self.ref.frozen_outputs(self.cfg, n, times, self.brian_convs,
                                         target=self.target)
        self.report.seconds_golden += t1 - t0
        self.report.seconds_brian += time.perf_counter() - t1
        for m in range(n):
            for k in range(len(times)):
                self.stop_on(compare_spikes(m, k, g_outs[m][k], b_outs[m][k], self.cfg.never,
                                            self.report))
        inputs = g_outs[-1] if n else times
        with progress_bar(total=len(times), desc=f"crosscheck layer {n}", unit="sample",
                          disable=not self.progress) as bar:
            if isinstance(self.cfg.layers[n], ConvSpec):
                self.conv(n, inputs, bar)
            else:
                self.classifier(n, inputs.reshape(len(inputs), -1), bar)

    def conv(self, n: int, inputs: np.ndarray, bar: Any) -> None:
        g_layer = self.golden.layers[n]
        assert isinstance(g_layer, ConvLayer)
        b_conv = self.ref.BrianConv(self.cfg, n, g_layer.weights, g_layer.mask,
                                    g_layer.lfsr.peek_state(), g_layer.learned,
                                    target=self.target)
        golden_seconds = 0.0

        def on_sample(k: int, b: Any, bc: Any) -> None:
            nonlocal golden_seconds
            if self.hook is not None:
                self.hook(n, k, self.golden)
            t = time.perf_counter()
            g = g_layer.learn_sample(inputs[k])
            golden_seconds += time.perf_counter() - t
            self.stop_on(compare_conv_sample(n, k, g, g_layer, b, bc, self.report))
            self.done(n)
            bar.update()

        t = time.perf_counter()
        try:
            b_conv.run(inputs, learn=True, callback=on_sample)
        finally:
            self.report.seconds_golden += golden_seconds
            self.report.seconds_brian += time.perf_counter() - t - golden_seconds
        self.brian_convs[n] = b_conv

    def classifier(self, n: int, feats: np.ndarray, bar: Any) -> None:
        g_layer = self.golden.layers[n]
        assert isinstance(g_layer, ClassifierLayer)
        net = g_layer.net
        b_net = self.ref.classifier(self.cfg, net.weights, net.mask, net.adapt,
                                    net.lfsr.peek_state(), target=self.target)
        b_feats = self.ref.rebin(feats.astype(np.int64), self.cfg.never, net.cfg.time_steps)
        # the first epoch's prune threshold (the check learns one epoch)
        g_layer.start_epoch(0)
        self.ref.prune_sweep(b_net, g_layer.spec, 0)
        fc = FcReport()
        try:
            if g_layer.spec.rule == "margin":
                self.margin(n, g_layer, b_net, feats, b_feats, fc, bar)
            else:
                self.winner_rule(n, g_layer, b_net, feats, b_feats, fc, bar)
        finally:
            r = self.report
            r.spikes_compared += fc.spikes_compared
            r.spikes += fc.spikes
            r.winners += fc.winners
            r.updates += fc.synapse_updates
            r.entries_compared += fc.weights_compared
            r.pruned += fc.pruned

    def winner_rule(self, n: int, g_layer: ClassifierLayer, b_net: Any, feats: np.ndarray,
                    b_feats: np.ndarray, fc: FcReport, bar: Any) -> None:
        """R-STDP or WTA: one pass per sample, compared like the fully connected layer's."""
        golden_seconds = 0.0

        def on_sample(k: int, b: Any, bn: Any) -> None:
            nonlocal golden_seconds
            if self.hook is not None:
                self.hook(n, k, self.golden)
            t = time.perf_counter()
            g = g_layer.learn_sample(feats[k], int(self.labels[k]), trace=True)
            golden_seconds += time.perf_counter() - t
            assert not isinstance(g, MarginSample)
            self.stop_on([DeepDifference(n, d.sample, d.what, d.where, d.expected, d.got)
                          for d in compare_sample(k, g, g_layer.net, b, bn, fc)])
            self.done(n)
            bar.update()

        spec = self.cfg.layers[n]
        assert isinstance(spec, ClassifierSpec)
        rates = self.ref.reward_rates(spec, self.labels) if spec.rule == "rstdp" else None
        t = time.perf_counter()
        try:
            b_net.run(b_feats, learn=True, callback=on_sample, rates=rates)
        finally:
            self.report.seconds_golden += golden_seconds
            self.report.seconds_brian += time.perf_counter() - t - golden_seconds

    def margin(self, n: int, g_layer: ClassifierLayer, b_net: Any, feats: np.ndarray,
               b_feats: np.ndarray, fc: FcReport, bar: Any) -> None:
        """The margin rule, sample by sample: both models' best neurons, then each pass
        (inference, punishment, reward) compared like the fully connected layer's samples."""
        for k in range(len(feats)):
            if self.hook is not None:
                self.hook(n, k, self.golden)
            label = int(self.labels[k])
            t = time.perf_counter()
            g = g_layer.learn_sample(feats[k], label, trace=True)
            t1 = time.perf_counter()
            b = self.ref.margin_learn(b_net, g_layer.spec, b_feats[k], label)
            self.report.seconds_golden += t1 - t
            self.report.seconds_brian += time.perf_counter() - t1
            assert isinstance(g, MarginSample)
            diffs: list[DeepDifference] = []
            if (g.best_true, g.best_other) != (b.best_true, b.best_other):
                diffs.append(DeepDifference(n, k, "best neurons", "(label's class, others)",
                                            (g.best_true, g.best_other),
                                            (b.best_true, b.best_other)))
            for name, gp, bp in (("inference", g.infer, b.infer),
                                 ("punishment", g.punish, b.punish),
                                 ("reward", g.reward, b.reward)):
                if (gp is None) != (bp is None):
                    diffs.append(DeepDifference(n, k, f"{name} pass", "taken", gp is not None,
                                                bp is not None))
                elif gp is not None:
                    diffs += [DeepDifference(n, k, f"{name} pass: {d.what}", d.where,
                                             d.expected, d.got)
                              for d in compare_sample(k, gp, g_layer.net, bp, b_net, fc)]
            self.stop_on(diffs)
            self.done(n)
            bar.update()
