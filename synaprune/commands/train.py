"""``synaprune train``: learn one layer with STDP and pruning, label it, test it, save it.

Flow: choose the configuration (the data set's preset, or --config; --no-prune, --epochs and
--seed override single fields), load and encode the data, learn (``readout.learn``), give each
neuron the class it wins most often on the training set (inference, ``readout.assign_labels``),
measure test accuracy, and fit a plain non-spiking baseline (logistic regression on the pixels)
on the same split for context. Prints a summary, writes ``OUT/checkpoint.npz`` atomically and,
with --json, the figures (keys listed in ``TrainResult.figures``).

``fit`` is the whole computation without any I/O besides progress bars, for other commands.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..model.config import Config
from ..model.datasets import Split
from ..model.network import Network
from ..model.readout import UNLABELLED, RunTotals
from . import (
    DEFAULT_DATASET_NOTE,
    add_config_argument,
    add_data_arguments,
    add_network_argument,
    check_images_fit,
    choose_dataset,
    config_with_overrides,
    load_split,
    parse_overrides,
    positive_int,
    resolve_config,
    write_json,
)

CHECKPOINT_NAME = "checkpoint.npz"


@dataclass
class TrainResult:
    """A trained network, its neuron labels and the figures of the run."""

    net: Network
    labels: np.ndarray
    totals: RunTotals
    accuracy: float
    baseline_accuracy: float
    learn_seconds: float
    infer_seconds: float
    baseline_seconds: float
    n_train: int
    n_test: int

    @property
    def live_fraction(self) -> float:
        return self.net.live / self.net.mask.size

    def figures(self) -> dict[str, Any]:
        """Plain numbers for JSON: accuracies, connectivity, work counters and timings."""
        cfg = self.net.cfg
        return {
            "accuracy": self.accuracy,
            "baseline_accuracy": self.baseline_accuracy,
            "live_fraction": self.live_fraction,
            "connectivity_removed": 1.0 - self.live_fraction,
            "live_synapses": self.net.live,
            "synapses": int(self.net.mask.size),
            "samples": self.totals.samples,
            "syn_events": self.totals.syn_events,
            "syn_updates": self.totals.syn_updates,
            "pruned": self.totals.pruned,
            "seconds": self.learn_seconds,
            "learn_samples_per_s": self.totals.samples / max(self.learn_seconds, 1e-9),
            "infer_seconds": self.infer_seconds,
            "baseline_seconds": self.baseline_seconds,
            "unlabelled_neurons": int(np.sum(self.labels == UNLABELLED)),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_inputs": cfg.n_inputs,
            "n_neurons": cfg.n_neurons,
            "epochs": cfg.epochs,
            "seed": cfg.seed,
            "prune_enabled": cfg.prune_enabled,
        }


def baseline_accuracy(split: Split) -> float:
    """Test accuracy of multinomial logistic regression on pixels / 255: what a plain,
    non-spiking linear classifier gets from the same images, for context."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    x_tr = split.x_train.reshape(len(split.x_train), -1) / 255.0
    x_te = split.x_test.reshape(len(split.x_test), -1) / 255.0
    if len(np.unique(split.y_train)) < 2:
        return float("nan")  # too few classes to fit a classifier: reported as null
    clf = LogisticRegression(max_iter=1000)
    # Not converging within max_iter only costs the context figure a little; no need to shout.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, split.y_train)
    return float(clf.score(x_te, split.y_test))


def fit(cfg: Config, split: Split, *, progress: bool = True, baseline: bool = True) -> TrainResult:
    """Learn on ``split``'s training part, label the neurons, test; see the module docstring."""
    from ..model import readout
    from ..model.encoding import encode

    if len(split.x_train) == 0 or len(split.x_test) == 0:
        raise ValueError("training and test sets must both be non-empty")
    check_images_fit(split, cfg)
    times_train = encode(split.x_train, cfg)
    times_test = encode(split.x_test, cfg)
    run = readout.learn_label_test(Network(cfg), times_train, split.y_train, times_test,
                                   split.y_test, progress=progress)
    t0 = time.perf_counter()
    base = baseline_accuracy(split) if baseline else float("nan")
    return TrainResult(net=run.net, labels=run.labels, totals=run.totals,
                       accuracy=run.accuracy, baseline_accuracy=base,
                       learn_seconds=run.learn_seconds, infer_seconds=run.test_seconds,
                       baseline_seconds=time.perf_counter() - t0, n_train=len(split.x_train),
                       n_test=len(split.x_test))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="learn a layer with STDP and pruning, test it, save a checkpoint",
        description="Learn one TTFS LIF layer with STDP while it prunes weak synapses, label\n"
                    "the neurons on the training set, measure test accuracy next to a logistic\n"
                    "regression baseline on the pixels, and save OUT/checkpoint.npz.",
        epilog="examples:\n"
               "  synaprune train --dataset digits --out build/train\n"
               "  synaprune train --data ~/data/mnist --train 6000 --test 2000 \\\n"
               "      --out build/mnist --json build/mnist/train.json\n"
               "  synaprune train --config my.toml --no-prune --epochs 3 --out build/noprune",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p, default_note=DEFAULT_DATASET_NOTE, train=True)
    g = p.add_argument_group("configuration")
    add_network_argument(g)
    add_config_argument(g)
    g.add_argument("--no-prune", action="store_true",
                   help="learn without pruning (sets prune_enabled = false)")
    g.add_argument("--epochs", type=positive_int, metavar="N",
                   help="passes over the training samples (overrides the config)")
    g.add_argument("--seed", type=int, metavar="N",
                   help="seed of the initial weights and the sample order (overrides the config)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration field with a TOML value, e.g. --set "
                        "a_plus=1000; deep network: a network field or layers.N.FIELD "
                        "(repeatable; applied before --no-prune, --epochs and --seed)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", type=Path, required=True,
                   help=f"directory for {CHECKPOINT_NAME} (created if missing)")
    o.add_argument("--json", metavar="FILE", type=Path,
                   help="also write the figures (accuracy, baseline_accuracy, live_fraction, "
                        "connectivity_removed, samples, syn_events, syn_updates, seconds, ...)")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    o.add_argument("--resume", action="store_true",
                   help="deep network: continue OUT/checkpoint.npz from its first layer that "
                        "has not finished learning")
    o.add_argument("--plots", action="store_true",
                   help="deep network: also write the pictures (kernels, live entries) to OUT")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.network == "deep":
        from ..deep_commands import train

        return train(args)
    if args.resume or args.plots:
        raise ValueError("--resume and --plots apply to --network deep only")
    t_start = time.perf_counter()
    dataset = choose_dataset(args)
    cfg = config_with_overrides(resolve_config(dataset, args.config), parse_overrides(args.set))
    changes: dict[str, Any] = {}
    if args.no_prune:
        changes["prune_enabled"] = False
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.seed is not None:
        changes["seed"] = args.seed
    if changes:
        cfg = cfg.replace(**changes)
    split = load_split(args, dataset)
    res = fit(cfg, split, progress=not args.no_progress)

    from ..checkpoint import save_checkpoint

    ckpt = save_checkpoint(args.out / CHECKPOINT_NAME, res.net, res.labels, res.totals,
                           split.name)
    figures = res.figures()
    figures.update(dataset=split.name, checkpoint=str(ckpt),
                   total_seconds=time.perf_counter() - t_start, config=cfg.to_dict())
    t = res.totals
    print(f"{split.name}: {res.n_train} learning samples x {cfg.epochs} epoch(s), "
          f"{res.n_test} test samples, {cfg.n_inputs} inputs x {cfg.n_neurons} neurons")
    print(f"  accuracy            {res.accuracy:.2%}   (logistic regression on pixels: "
          f"{res.baseline_accuracy:.2%})")
    print(f"  live connections    {res.live_fraction:.1%}   (removed "
          f"{1 - res.live_fraction:.1%}, {t.pruned} synapses pruned)")
    print(f"  synaptic events     {t.syn_events}   STDP updates {t.syn_updates}")
    print(f"  time                learn {res.learn_seconds:.1f} s "
          f"({figures['learn_samples_per_s']:.0f} samples/s), label+test "
          f"{res.infer_seconds:.1f} s, total {figures['total_seconds']:.1f} s")
    print(f"  checkpoint          {ckpt}")
    if args.json is not None:
        write_json(args.json, figures)
        print(f"  figures             {args.json}")
    return 0
