"""The fully connected layer's golden model against the independent Brian2 reference.

Both start from the same weights, mask, adaptation and LFSR state and see the same first N
training samples; after every sample the spike time of every neuron, the winners, each winner's
learning update (inputs, new weights, pruned synapses) and then the full weight matrix, mask,
threshold adaptation and LFSR state must be identical. The first difference stops the check
(``crosscheck`` returns a ``Report`` holding it). ``compare_sample`` is the per-sample
comparison, shared with the deep network's check (``deep_crosscheck``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model.config import Config
from .model.network import Network, SampleResult


@dataclass(frozen=True)
class Difference:
    """One place where the reference disagrees with the golden model."""

    sample: int
    what: str  # spike time, winners, update, weight, mask, adapt, lfsr state
    where: str  # neuron j, synapse (i, j), winner k, ...
    expected: Any  # the golden model's value
    got: Any  # the Brian2 reference's value

    def __str__(self) -> str:
        return (f"sample {self.sample}: {self.what} at {self.where}: golden {self.expected}, "
                f"brian2 {self.got}")


@dataclass
class Report:
    """Counts of what was compared; ``differences`` counts mismatching values of the first
    differing sample (the check stops there, the states having diverged)."""

    samples: int = 0
    spikes_compared: int = 0  # neuron spike times compared
    spikes: int = 0  # spikes among them (neurons that fired)
    winners: int = 0
    synapse_updates: int = 0  # STDP updates compared one by one
    weights_compared: int = 0  # weight-matrix entries compared (the mask is compared alike)
    pruned: int = 0  # synapses pruned over the samples
    regrown: int = 0  # synapses regrown over the samples (rewiring policies)
    live: int = 0  # live synapses at the end
    differences: int = 0
    first: Difference | None = None
    seconds_golden: float = 0.0
    seconds_brian: float = 0.0
    found: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.differences == 0


class _StopError(Exception):
    """Raised by the per-sample comparison to end the Brian2 run at the first differing sample."""


def compare_sample(k: int, golden: SampleResult, g_net: Network, brian: Any, b_net: Any,
                    report: Report) -> list[Difference]:
    cfg = g_net.cfg
    diffs: list[Difference] = []
    expected = np.full(cfg.n_neurons, cfg.never, dtype=np.int64)
    for t, j in golden.spikes:
        expected[j] = t
    for j in np.flatnonzero(expected != brian.spike_times):
        diffs.append(Difference(k, "spike time", f"neuron {j}", int(expected[j]),
                                int(brian.spike_times[j])))
    report.spikes_compared += cfg.n_neurons
    report.spikes += int((expected < cfg.never).sum())
    if [tuple(map(int, w)) for w in golden.winners] != list(brian.winners):
        diffs.append(Difference(k, "winners", "(neuron, step) list", golden.winners,
                                brian.winners))
    report.winners += len(golden.winners)
    for u, (g_up, b_up) in enumerate(zip(golden.updates, brian.updates, strict=False)):
        (gj, g_in, g_w, g_pr), (bj, b_in, b_w, b_pr) = g_up, b_up
        if gj != bj or not np.array_equal(g_in, b_in):
            diffs.append(Difference(k, "update", f"winner {u} neuron/live inputs",
                                    (int(gj), len(g_in)), (int(bj), len(b_in))))
            continue
        for m in np.flatnonzero(g_w != b_w):
            diffs.append(Difference(k, "updated weight", f"synapse ({g_in[m]}, {gj})",
                                    int(g_w[m]), int(b_w[m])))
        for m in np.flatnonzero(g_pr != b_pr):
            diffs.append(Difference(k, "prune decision", f"synapse ({g_in[m]}, {gj})",
                                    bool(g_pr[m]), bool(b_pr[m])))
        report.synapse_updates += len(g_in)
    if len(golden.updates) != len(brian.updates):
        diffs.append(Difference(k, "update", "number of learning updates", len(golden.updates),
                                len(brian.updates)))
    b_w, b_m = b_net.weights, b_net.mask
    for what, g_mat, b_mat in (("weight", g_net.weights, b_w), ("mask", g_net.mask, b_m)):
        for i, j in zip(*np.nonzero(g_mat != b_mat), strict=True):
            diffs.append(Difference(k, what, f"synapse ({i}, {j})", g_mat[i, j].item(),
                                    b_mat[i, j].item()))
    report.weights_compared += g_net.weights.size
    for j in np.flatnonzero(g_net.adapt != b_net.adapt):
        diffs.append(Difference(k, "adapt", f"neuron {j}", int(g_net.adapt[j]),
                                int(b_net.adapt[j])))
    if g_net.lfsr.peek_state() != b_net.lfsr.state:
        diffs.append(Difference(k, "lfsr state", "after the sample",
                                f"{g_net.lfsr.peek_state():#010x}", f"{b_net.lfsr.state:#010x}"))
    report.pruned += golden.pruned
    if golden.regrown != brian.regrown:
        diffs.append(Difference(k, "regrown", "synapses regrown in the sample", golden.regrown,
                                brian.regrown))
    report.regrown += golden.regrown
    return diffs


def crosscheck(cfg: Config, times: np.ndarray, *, learn: bool = True,
               golden: Network | None = None, progress: bool = False,
               golden_hook: Callable[[int, Network], None] | None = None) -> Report:
    """Run the golden model and the Brian2 reference in lockstep on ``times`` (int (n, n_inputs)).

    Both start from the state of ``golden`` (a fresh ``Network(cfg)`` when None), which is
    advanced in place. ``golden_hook(k, golden)`` is called before the golden model runs sample
    k (a test uses it to corrupt the golden state). Stops at the first sample with a difference.
    """
    from .model.brian_ref import BrianNetwork
    from .progress import progress_bar

    times = np.asarray(times)
    g_net = golden if golden is not None else Network(cfg)
    report = Report()
    start = time.perf_counter()
    b_net = BrianNetwork(cfg, g_net.weights, g_net.mask, g_net.adapt, g_net.lfsr.peek_state(),
                         learned=g_net.learned)
    bar = progress_bar(total=len(times), desc="crosscheck", unit="sample", disable=not progress)
    golden_seconds = 0.0

    def check(k: int, brian: Any, net: Any) -> None:
        nonlocal golden_seconds
        if golden_hook is not None:
            golden_hook(k, g_net)
        t0 = time.perf_counter()
        result = g_net.run_sample(times[k], learn=learn, trace=True)
        golden_seconds += time.perf_counter() - t0
        diffs = compare_sample(k, result, g_net, brian, net, report)
        report.samples += 1
        bar.update(1)
        if diffs:
            report.differences = len(diffs)
            report.first = diffs[0]
            report.found = diffs
            raise _StopError

    try:
        b_net.run(times, learn=learn, callback=check)
    except _StopError:
        pass
    except Exception as err:  # Brian2 may wrap errors raised inside a network operation
        if not isinstance(err.__cause__, _StopError) and report.first is None:
            raise
    finally:
        bar.close()
    report.live = g_net.live
    report.seconds_golden = golden_seconds
    report.seconds_brian = time.perf_counter() - start - golden_seconds
    return report


def print_outcome(report: Any) -> int:
    """Print the last lines of a check's summary (differences, times, the first differences)
    for this check's ``Report`` or the deep network's; 0 when identical, else 1."""
    print(f"differences         {report.differences}")
    print(f"time                golden {report.seconds_golden:.2f} s, brian2 "
          f"{report.seconds_brian:.2f} s")
    if report.first is not None:
        print(f"FIRST DIFFERENCE    {report.first}")
        for d in report.found[1:5]:
            print(f"                    {d}")
        return 1
    return 0
