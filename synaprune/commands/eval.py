"""``synaprune eval``: test a saved checkpoint on a data set's test split.

Rebuilds the ``Network`` from the checkpoint (weights, connection mask, threshold adaptation,
LFSR state, configuration) and runs inference only, so the checkpoint is not changed. The data
set defaults to the one the checkpoint learned on; for MNIST the test split is the last --test
samples of the files, the same samples ``synaprune train`` tests on with the same --test.
Prints the accuracy; --json writes {"accuracy", "n_test", "dataset", "checkpoint",
"live_fraction", "unlabelled_neurons", "seconds"}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from . import (
    add_data_arguments,
    add_network_argument,
    check_images_fit,
    load_split,
    write_json,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="test a saved checkpoint (inference only)",
        description="Load a checkpoint written by 'synaprune train' and measure its accuracy\n"
                    "on the test split, without learning (the checkpoint is not changed).",
        epilog="examples:\n"
               "  synaprune eval --checkpoint build/train/checkpoint.npz\n"
               "  synaprune eval --checkpoint build/mnist/checkpoint.npz --data ~/data/mnist \\\n"
               "      --test 2000 --json build/mnist/eval.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", metavar="FILE", type=Path, required=True,
                   help="checkpoint.npz written by 'synaprune train'")
    add_data_arguments(p, default_note="default: the data set the checkpoint learned on",
                       train=False)
    add_network_argument(p)
    p.add_argument("--sweep", action="store_true",
                   help="deep network: also test copies with every entry below each of a set "
                        "of thresholds removed, and draw accuracy_vs_removed.png next to the "
                        "checkpoint")
    p.add_argument("--json", metavar="FILE", type=Path, help="also write the figures as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.network == "deep":
        from ..deep_commands import evaluate

        return evaluate(args)
    if args.sweep:
        raise ValueError("--sweep applies to --network deep only")
    from ..checkpoint import load_checkpoint
    from ..model import readout
    from ..model.encoding import encode

    net, labels, meta = load_checkpoint(args.checkpoint)
    named_files = args.data is not None or args.images is not None
    dataset = args.dataset or ("mnist" if named_files else meta["dataset"])
    split = load_split(args, dataset)
    cfg = net.cfg
    check_images_fit(split, cfg)
    t0 = time.perf_counter()
    predicted = readout.predict_neurons(net, encode(split.x_test, cfg),
                                        progress=not args.no_progress, desc="test")
    acc = readout.accuracy(predicted, split.y_test, labels)
    seconds = time.perf_counter() - t0
    live = net.live / net.mask.size
    print(f"{dataset}: accuracy {acc:.2%} on {len(split.x_test)} test samples "
          f"({args.checkpoint}, {live:.1%} of connections live)")
    if args.json is not None:
        write_json(args.json, {
            "accuracy": acc, "n_test": len(split.x_test), "dataset": dataset,
            "checkpoint": str(args.checkpoint), "live_fraction": live,
            "unlabelled_neurons": int(np.sum(labels == readout.UNLABELLED)),
            "seconds": seconds,
        })
    return 0
