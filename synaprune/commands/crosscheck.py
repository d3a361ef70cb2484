"""``synaprune crosscheck``: the golden model against the independent Brian2 reference.

Both start from the same weights, mask, adaptation and LFSR state and see the same first N
training samples; after every sample the spike time of every neuron, the winners, each winner's
learning update (inputs, new weights, pruned synapses) and then the full weight matrix, mask,
threshold adaptation and LFSR state must be identical. The first difference stops the check and
is printed with its location; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..model.config import CONFIG_DIR, Config
from ..model.network import Network, SampleResult
from . import (
    DATASETS,
    add_config_argument,
    add_network_argument,
    check_images_fit,
    load_split,
    positive_int,
    resolve_config,
)


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


def _compare_sample(k: int, golden: SampleResult, g_net: Network, brian: Any, b_net: Any,
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
    return diffs


def crosscheck(cfg: Config, times: np.ndarray, *, learn: bool = True,
               golden: Network | None = None, progress: bool = False,
               golden_hook: Callable[[int, Network], None] | None = None) -> Report:
    """Run the golden model and the Brian2 reference in lockstep on ``times`` (int (n, n_inputs)).

    Both start from the state of ``golden`` (a fresh ``Network(cfg)`` when None), which is
    advanced in place. ``golden_hook(k, golden)`` is called before the golden model runs sample
    k (a test uses it to corrupt the golden state). Stops at the first sample with a difference.
    """
    from ..model.brian_ref import BrianNetwork
    from ..progress import progress_bar

    times = np.asarray(times)
    g_net = golden if golden is not None else Network(cfg)
    report = Report()
    start = time.perf_counter()
    b_net = BrianNetwork(cfg, g_net.weights, g_net.mask, g_net.adapt, g_net.lfsr.peek_state())
    bar = progress_bar(total=len(times), desc="crosscheck", unit="sample", disable=not progress)
    golden_seconds = 0.0

    def check(k: int, brian: Any, net: Any) -> None:
        nonlocal golden_seconds
        if golden_hook is not None:
            golden_hook(k, g_net)
        t0 = time.perf_counter()
        result = g_net.run_sample(times[k], learn=learn, trace=True)
        golden_seconds += time.perf_counter() - t0
        diffs = _compare_sample(k, result, g_net, brian, net, report)
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


# --- command line ---------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(args: argparse.Namespace) -> Config:
    """The configuration of the check: --config FILE, else the data set's preset (the default
    ``Config()``, or its 28x28 variant for mnist, while no preset exists), then the --set
    overrides and --no-prune."""
    if args.config is not None or (CONFIG_DIR / f"{args.dataset}.toml").exists():
        cfg = resolve_config(args.dataset, args.config)
    elif args.dataset == "mnist":
        cfg = Config(n_inputs=784, image_shape=(28, 28)).validate()
    else:
        cfg = Config().validate()
    changes: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        changes[key.strip()] = parse_value(value.strip())
    if args.no_prune:
        changes["prune_enabled"] = False
    return Config.from_dict({**cfg.to_dict(), **changes}) if changes else cfg


def load_times(args: argparse.Namespace, cfg: Config) -> np.ndarray:
    """Spike times of the first --samples training samples of the data set."""
    from ..model.encoding import encode

    data = argparse.Namespace(dataset=args.dataset, data=args.data, images=args.images,
                              labels=args.labels, train=args.samples, test=1)
    split = load_split(data)
    check_images_fit(split, cfg)
    if len(split.x_train) < args.samples:
        raise ValueError(f"--samples {args.samples}: the {args.dataset} training set has "
                         f"{len(split.x_train)} samples")
    return encode(split.x_train[:args.samples], cfg)


def register(sub: Any) -> None:
    """Add the ``crosscheck`` subcommand to the subparsers ``sub``."""
    p = sub.add_parser(
        "crosscheck", help="check the golden model against the independent Brian2 reference",
        description="Run the golden model and an independent Brian2 reference of the same "
                    "network, learning and pruning, on the first N training samples from the "
                    "same initial state, and compare after every sample the spike time of every "
                    "neuron, the winners, each learning update and the full weight matrix, mask, "
                    "adaptation and LFSR state. Exit 0 when identical, 1 at the first difference.")
    p.add_argument("--samples", type=positive_int, default=200, metavar="N",
                   help="the first N training samples (default 200)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="digits = scikit-learn's built-in 8x8 digits; mnist = IDX files given by "
                        "--data or --images/--labels (default: digits)")
    g.add_argument("--data", metavar="DIR", type=Path,
                   help="directory holding MNIST IDX files (train-*, t10k-* or mnist-dev8000-*, "
                        "optionally .gz)")
    g.add_argument("--images", metavar="FILE", type=Path, help="MNIST IDX image file")
    g.add_argument("--labels", metavar="FILE", type=Path, help="MNIST IDX label file")
    add_network_argument(p)
    add_config_argument(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration field with a TOML value, e.g. --set "
                        "leak_shift=3; deep network: a network field or layers.N.FIELD, e.g. "
                        "--set layers.0.a_plus=400 (repeatable)")
    p.add_argument("--no-prune", action="store_true", help="learn without pruning")
    p.add_argument("--no-learn", action="store_true",
                   help="inference only: compare spikes and winners, no learning updates")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the check; print the summary and the first difference. 0 = identical, 1 = not."""
    if args.network == "deep":
        from ..deep_commands import crosscheck as deep_crosscheck

        return deep_crosscheck(args)
    cfg = load_config(args)
    times = load_times(args, cfg)
    learn = not args.no_learn
    print(f"crosscheck: {len(times)} {args.dataset} samples, {cfg.n_inputs} inputs x "
          f"{cfg.n_neurons} neurons, T={cfg.time_steps}, leak_shift={cfg.leak_shift}, "
          f"k_winners={cfg.k_winners}, learn={learn}, prune={cfg.prune_enabled and learn}")
    report = crosscheck(cfg, times, learn=learn, progress=True)
    print(f"samples compared    {report.samples}")
    print(f"spike times         {report.spikes_compared} ({report.spikes} spikes, "
          f"{report.winners} winners)")
    print(f"STDP updates        {report.synapse_updates}")
    print(f"weights compared    {report.weights_compared} (and as many mask bits)")
    print(f"synapses pruned     {report.pruned} (live at the end: {report.live})")
    print(f"differences         {report.differences}")
    print(f"time                golden {report.seconds_golden:.2f} s, brian2 "
          f"{report.seconds_brian:.2f} s")
    if report.first is not None:
        print(f"FIRST DIFFERENCE    {report.first}")
        for d in report.found[1:5]:
            print(f"                    {d}")
        return 1
    return 0
