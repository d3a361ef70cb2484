"""``synaprune experiment``: dense vs pruned learning over several seeds, costed and RTL-checked.

See ``synaprune.experiment`` for what is computed. Prints a table next to the published figures
and the project's goal, writes ``OUT/results.json`` and the pictures (``synaprune.plots``), and
exits 1 if the RTL simulation of the pruned network differs from the golden model or from the
cycle model. ``--policy`` chooses the rewiring policy of the pruned runs (``model.rewiring``);
``--policy all`` runs each into ``OUT/POLICY/`` and writes ``OUT/policies.json`` and
``OUT/pareto.png`` (accuracy against learning speed-up, every policy and operating point).
Digits use the preset's configuration; MNIST learns on the first 6000 samples of the files and
tests on the last 2000 (or --train/--test). ``--network deep``: the deep network's dense vs
pruned layer-wise learning, costed in the cycles of its chain of cores and checked through the
whole chain in RTL (``synaprune.deep_experiment``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..model.config import Config
from ..model.rewiring import POLICIES
from . import (
    DEFAULT_DATASET_NOTE,
    add_config_argument,
    add_data_arguments,
    check_images_fit,
    choose_dataset,
    load_split,
    parse_overrides,
    positive_int,
    resolve_config,
    write_json,
)

SWEEP_THRESHOLDS = (0, 8, 16, 32, 48, 64)
SWEEP_DENSITIES = (0.05, 0.07, 0.1, 0.2, 0.3)


def _densities(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated densities in (0, 1), or 'none'."""
    if text == "none":
        return ()
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not all(0.0 < v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"densities must be in (0, 1): {text!r}")
    return values


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
    p.add_argument("--network", choices=("fc", "deep"), default="fc",
                   help="fc: the layer core (default); deep: the deep network's chain of cores, "
                        "learning layer-wise (synaprune.deep_experiment)")
    p.add_argument("--lanes", type=positive_int, nargs="+", metavar="P",
                   help="--network deep: lanes of each conv core, bottom up (default: the "
                        "largest divisor of its maps up to 8)")
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
    p.add_argument("--policy", choices=(*POLICIES, "all"), default="threshold",
                   help="rewiring policy of the pruned runs (default threshold: learned weights "
                        "below prune_threshold removed for good); all = each in OUT/POLICY")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration field of the pruned runs, e.g. --set "
                        "rewire_density=0.07 --set threshold=1000 (repeatable)")
    p.add_argument("--densities", type=_densities, default=SWEEP_DENSITIES, metavar="D,D,...",
                   help="densities swept (first seed) for fixed-density and pq (default "
                        f"{','.join(map(str, SWEEP_DENSITIES))}; 'none' = no sweep)")
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


def run_deep(args: argparse.Namespace) -> int:
    """``--network deep``: dense vs pruned layer-wise learning of the deep configuration,
    costed in the chain's cycles, RTL-checked through the whole chain."""
    from ..deep_commands import deep_config
    from ..deep_experiment import run_deep_experiment
    from ..deep_plots import plot_deep, plot_deep_learning
    from ..experiment import format_table

    for flag, given in (("--policy", args.policy != "threshold"), ("--set", args.set),
                        ("--densities", args.densities != SWEEP_DENSITIES)):
        if given:
            raise ValueError(f"{flag} is for the layer core (--network fc), not --network deep")
    dataset = choose_dataset(args)
    cfg = deep_config(dataset, args.config)
    split = load_split(args, dataset)
    result = run_deep_experiment(cfg, split, seeds=list(range(1, args.seeds + 1)),
                                 lanes=args.lanes, rtl_samples=min(args.rtl_samples,
                                                                   len(split.x_test)),
                                 progress=not args.no_progress, simulator=args.simulator)
    summary = result.summary()
    summary["n_train"], summary["n_test"] = len(split.x_train), len(split.x_test)
    summary["config"] = cfg.to_dict()
    if not args.no_plots and result.first is not None:
        dense, pruned = result.first
        plots = plot_deep(pruned.result, args.out)
        plots.append(plot_deep_learning(dense, pruned, args.out / "deep_learning.png"))
        summary["plots"] = [str(p) for p in plots]
    write_json(args.out / "results.json", summary)
    print(f"{dataset}: deep network, {len(split.x_train)} learning / {len(split.x_test)} test "
          f"samples, seeds {result.seeds}, conv lanes {list(result.lanes)}")
    print(format_table(summary))
    print("per layer (first seed): removed, cycles per learning sample and per inference, "
          "dense -> pruned")
    for row in summary["layers"]:
        learn = ("" if row["learn_cycles_per_sample_dense"] is None else
                 f", learning {row['learn_cycles_per_sample_dense']:.0f} -> "
                 f"{row['learn_cycles_per_sample_pruned']:.0f}")
        removed = "" if row["removed"] is None else f"{100 * row['removed']:.1f}% removed"
        print(f"  layer {row['layer']} ({row['type']}): {removed or 'no entries'}{learn}, "
              f"inference {row['infer_cycles_dense']:.0f} -> {row['infer_cycles_pruned']:.0f}")
    print(f"wrote {args.out / 'results.json'}")
    if not result.rtl_ok:
        print(f"synaprune: error: RTL check failed: {result.rtl}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    from ..experiment import run_experiment, sparse_config
    from ..plots import plot_pareto

    if args.rtl_samples < 0:
        raise ValueError(f"--rtl-samples must be >= 0, not {args.rtl_samples}")
    if args.network == "deep":
        return run_deep(args)
    dataset = choose_dataset(args)
    cfg = base_config(dataset, args.config)
    changes = parse_overrides(args.set)
    policies = list(POLICIES) if args.policy == "all" else [args.policy]
    for policy in policies:  # a bad --set fails now, not after the first policy's runs
        sparse_config(cfg, policy, changes)
    split = load_split(args, dataset)
    check_images_fit(split, cfg)
    results, summaries, rc = [], {}, 0
    for policy in policies:
        out = args.out / policy if len(policies) > 1 else args.out
        result = run_experiment(cfg, split, seeds=list(range(1, args.seeds + 1)),
                                rtl_samples=min(args.rtl_samples, len(split.x_test)),
                                sweep_thresholds=SWEEP_THRESHOLDS, progress=not args.no_progress,
                                simulator=args.simulator, policy=policy, changes=changes,
                                sweep_densities=args.densities)
        summaries[policy] = _report(args, dataset, split, cfg, result, out)
        results.append(result)
        rc = rc or (0 if result.rtl_ok else 1)
    if len(policies) > 1:
        write_json(args.out / "policies.json", summaries)
        print(f"wrote {args.out / 'policies.json'}")
    if not args.no_plots:
        print(f"wrote {plot_pareto(results, args.out / 'pareto.png')}")
    return rc


def _report(args: argparse.Namespace, dataset: str, split: Any, cfg: Config, result: Any,
            out: Path) -> dict[str, Any]:
    """Write ``out/results.json`` and the pictures of one policy's result, print its table."""
    from ..experiment import format_table
    from ..plots import plot_all

    summary = result.summary()
    summary["n_train"], summary["n_test"] = len(split.x_train), len(split.x_test)
    summary["config"] = cfg.to_dict()
    write_json(out / "results.json", summary)
    if not args.no_plots:
        summary["plots"] = [str(p) for p in plot_all(result, out)]
        write_json(out / "results.json", summary)
    print(f"{dataset}: {len(split.x_train)} learning / {len(split.x_test)} test samples, "
          f"seeds {result.seeds}, rewiring policy {result.policy}")
    print(format_table(summary))
    print(f"wrote {out / 'results.json'}")
    if not result.rtl_ok:
        print(f"synaprune: error: RTL check failed ({result.policy}): {result.rtl}",
              file=sys.stderr)
    return summary
