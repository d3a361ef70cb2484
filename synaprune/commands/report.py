"""``synaprune report``: utilization, Fmax, latency, energy and the pruning unit's share of a build.

Reads build/<board>/ (from ``synaprune bitstream``), runs the golden model on a sample of the
board's data (learning from the initial weights, then inference), costs each sample with the
cycle model and the power model (docs/power_model.md) at the achieved Fmax, prints a table and
writes build/<board>/report.json (keys: fmax_mhz, target_mhz, utilization,
latency_us_inference, latency_us_learning, energy_uj_inference, energy_uj_learning,
prune_unit_power_share, ...; see boards/report.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from ..boards.platforms import BOARDS
    from ..boards.report import DEFAULT_INFER_SAMPLES, DEFAULT_LEARN_SAMPLES

    p = sub.add_parser(
        "report", help="resource, timing, latency and energy report of a board build",
        description="Report on a finished 'synaprune bitstream' build: LUT/FF/block RAM/DSP\n"
                    "use, Fmax against the target, latency and estimated energy per inference\n"
                    "and per learning sample, and the pruning unit's share of area and power.",
        epilog="examples:\n"
               "  synaprune report --board icebreaker\n"
               "  synaprune report --board ulx3s --data ~/data/mnist --learn 500",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, choices=sorted(BOARDS), help="board of the build")
    p.add_argument("--network", choices=("fc", "deep"), default="fc",
                   help="deep: the chain build (build/<board>-deep): utilization, Fmax and each "
                        "layer's inference latency")
    p.add_argument("--device", metavar="DEV",
                   help="expected device; an error if the build is of another")
    p.add_argument("--build-dir", metavar="DIR", type=Path,
                   help="build directory (default: build/<board>)")
    p.add_argument("--data", metavar="DIR", type=Path,
                   help="MNIST IDX files for 28x28 layers (default: built-in digits scaled up)")
    p.add_argument("--learn", metavar="N", type=positive_int, default=DEFAULT_LEARN_SAMPLES,
                   help=f"learning samples costed (default {DEFAULT_LEARN_SAMPLES})")
    p.add_argument("--infer", metavar="N", type=positive_int, default=DEFAULT_INFER_SAMPLES,
                   help=f"inference samples costed (default {DEFAULT_INFER_SAMPLES})")
    p.add_argument("--json", action="store_true", help="print the JSON report instead")
    p.set_defaults(func=run)


def run_deep(args: argparse.Namespace) -> int:
    from ..boards.deep_report import DEEP_REPORT_JSON, format_deep_report, make_deep_report

    report = make_deep_report(args.board, build_dir=args.build_dir, data_dir=args.data,
                              n_learn=args.learn, n_infer=args.infer)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json
          else format_deep_report(report))
    out = args.build_dir or Path("build") / f"{args.board}-deep"
    print(f"report: {out / DEEP_REPORT_JSON}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.network == "deep":
        return run_deep(args)
    from ..boards.platforms import device_spec
    from ..boards.report import REPORT_JSON, format_report, make_report

    report = make_report(args.board, build_dir=args.build_dir, data_dir=args.data,
                         n_learn=args.learn, n_infer=args.infer)
    if args.device is not None and device_spec(args.board, args.device).key != report["device"]:
        raise ValueError(f"the build is for device {report['device']}, not {args.device}")
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_report(report))
    out = args.build_dir or Path("build") / args.board
    print(f"report: {out / REPORT_JSON}")
    return 0
