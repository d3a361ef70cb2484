"""``synaprune crosscheck``: the golden model against the independent Brian2 reference.

Both start from the same weights, mask, adaptation and LFSR state and see the same first N
training samples; after every sample the spike time of every neuron, the winners, each winner's
learning update (inputs, new weights, pruned synapses) and then the full weight matrix, mask,
threshold adaptation and LFSR state must be identical. The first difference stops the check and
is printed with its location; the exit status is then 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..fc_crosscheck import crosscheck, print_outcome
from ..model.config import CONFIG_DIR, Config
from . import (
    DATASETS,
    add_config_argument,
    add_network_argument,
    check_images_fit,
    config_with_overrides,
    load_split,
    parse_overrides,
    positive_int,
    resolve_config,
)


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
    changes = parse_overrides(args.set)
    if args.no_prune:
        changes["prune_enabled"] = False
    return config_with_overrides(cfg, changes)


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
                        "--set layers.0.a_plus=400; a rewiring policy: --set "
                        "rewire_policy=fixed-density or pq (repeatable)")
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
          f"k_winners={cfg.k_winners}, learn={learn}, prune={cfg.prune_enabled and learn}, "
          f"rewire_policy={cfg.rewire_policy}")
    report = crosscheck(cfg, times, learn=learn, progress=True)
    print(f"samples compared    {report.samples}")
    print(f"spike times         {report.spikes_compared} ({report.spikes} spikes, "
          f"{report.winners} winners)")
    print(f"STDP updates        {report.synapse_updates}")
    print(f"weights compared    {report.weights_compared} (and as many mask bits)")
    print(f"synapses pruned     {report.pruned} (live at the end: {report.live})")
    print(f"synapses regrown    {report.regrown}")
    return print_outcome(report)
