"""``synaprune experiment``: dense vs pruned learning over several seeds, costed and RTL-checked.

See ``synaprune.experiment`` for what is computed. Prints a table next to the published figures
and the project's goal, writes ``OUT/results.json`` and the pictures (``synaprune.plots``), and
exits 1 if the RTL simulation of the pruned network differs from the golden model or from the
cycle model. Digits use the preset's configuration; MNIST learns on the first 6000 samples of the
files and tests on the last 2000 (or --train/--test).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..model.config import Config
from . import (
    DEFAULT_DATASET_NOTE,
    add_config_argument,
    add_data_arguments,
    check_images_fit,
    choose_dataset,
    load_split,
    positive_int,
    resolve_config,
    write_json,
)

SWEEP_THRESHOLDS = (0, 8, 16, 32, 48, 64)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment", help="dense vs pruned learning: accuracy, cycles, energy, RTL check",
        description="Learn the same network with and without pruning for several seeds, compare\n"
                    "accuracy, connections removed, cycles and estimated energy, check the\n"
                    "pruned network in RTL simulation, write results.json and pictures.",
        epilog="examples:\n"
               "  synaprune experiment\n"
               "  synaprune experiment --dataset mnist --data ~/data/mnist --seeds 3\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p, default_note=DEFAULT_DATASET_NOTE)
    add_config_argument(p)
    p.add_argument("--seeds", type=positive_int, default=3, metavar="N",
                   help="number of seeds (1..N) (default 3)")
    p.add_argument("--out", type=Path, default=Path("build/experiment"), metavar="DIR",
                   help="output directory (default build/experiment)")
    p.add_argument("--rtl-samples", type=int, default=20, metavar="N",
                   help="test samples of the pruned network simulated in RTL (default 20; 0 = "
                        "no RTL check)")
    p.add_argument("--simulator", choices=("auto", "icarus", "verilator"), default="auto",
                   help="HDL simulator for the RTL check (default auto: Verilator where "
                        "installed, else Icarus)")
    p.add_argument("--no-plots", action="store_true", help="write no pictures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def base_config(dataset: str, config_path: Path | None) -> Config:
    """The configuration file or the data set's preset; without a digits preset file, the
    ``Config`` defaults (which describe the 8x8 digits layer)."""
    try:
        return resolve_config(dataset, config_path)
    except ValueError:
        if dataset == "digits" and config_path is None:
            return Config().validate()
        raise


def run(args: argparse.Namespace) -> int:
    from ..experiment import format_table, run_experiment
    from ..plots import plot_all

    if args.rtl_samples < 0:
        raise ValueError(f"--rtl-samples must be >= 0, not {args.rtl_samples}")
    dataset = choose_dataset(args)
    cfg = base_config(dataset, args.config)
    split = load_split(args, dataset)
    check_images_fit(split, cfg)
    progress = not args.no_progress
    result = run_experiment(cfg, split, seeds=list(range(1, args.seeds + 1)),
                            rtl_samples=min(args.rtl_samples, len(split.x_test)),
                            sweep_thresholds=SWEEP_THRESHOLDS, progress=progress,
                            simulator=args.simulator)
    summary = result.summary()
    summary["n_train"], summary["n_test"] = len(split.x_train), len(split.x_test)
    summary["config"] = cfg.to_dict()
    write_json(args.out / "results.json", summary)
    if not args.no_plots:
        summary["plots"] = [str(p) for p in plot_all(result, args.out)]
        write_json(args.out / "results.json", summary)
    print(f"{dataset}: {len(split.x_train)} learning / {len(split.x_test)} test samples, "
          f"seeds {result.seeds}")
    print(format_table(summary))
    print(f"wrote {args.out / 'results.json'}")
    if not result.rtl_ok:
        print(f"synaprune: error: RTL check failed: {result.rtl}", file=sys.stderr)
        return 1
    return 0
