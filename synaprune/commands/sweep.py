"""``synaprune sweep SPEC.toml``: many learning runs on Dask distributed, one table, Pareto
pictures.

The spec (``synaprune.sweep.spec``, example in docs/sweeps.md) expands into points: networks x
data sets x config axes x seeds x policies, as a grid or a seeded random sample, each with its
dense reference. Every point learns, tests and is costed with the cycle model
(``synaprune.sweep.point``) on a Dask ``LocalCluster`` of ``--workers`` processes (default: the
machine's cores), on an existing cluster (``--scheduler tcp://HOST:PORT``) or, with
``--serial``, one after another in this process. ``OUT/results.json`` and ``OUT/results.csv``
get one row per point (its whole point, config included), written atomically as points finish;
points already ``ok`` there are not run again (resume). Prints the table grouped over seeds and
writes ``pareto_speedup.png`` and ``pareto_removed.png``. Exits 1 when a point failed (its row
holds the error), 0 otherwise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="many learning runs (grid or random) on Dask: table and Pareto pictures",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  synaprune sweep docs/sweeps/digits_prune.toml\n"
               "  synaprune sweep my.toml --scheduler tcp://10.0.0.5:8786 --out build/sweep\n"
               "  synaprune sweep my.toml --serial   # one process, no Dask")
    p.add_argument("spec", type=Path, metavar="SPEC.toml", help="the sweep specification")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="results directory (default build/sweep/<spec name>)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler of an existing cluster, e.g. tcp://HOST:8786 "
                            "(default: a local cluster)")
    where.add_argument("--workers", type=positive_int, metavar="N",
                       help="worker processes of the local cluster (default: the cores)")
    where.add_argument("--serial", action="store_true",
                       help="run the points one after another in this process, without Dask")
    p.add_argument("--no-plots", action="store_true", help="write no pictures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine import run_tasks
    from ..results_table import read_rows, write_rows
    from ..sweep.point import run_point
    from ..sweep.report import add_speedups, format_summary, plot_pareto, summarize
    from ..sweep.spec import expand

    t0 = time.perf_counter()
    tasks = expand(args.spec)
    out = args.out or Path("build/sweep") / args.spec.stem
    rows = run_tasks(tasks, run_point, scheduler=args.scheduler, results_dir=out,
                     workers=args.workers, serial=args.serial, progress=not args.no_progress)
    rows = add_speedups(rows)
    # rows of points that are not in this spec (an earlier version of it) stay in the table
    ours = {r["id"]: r for r in rows}
    write_rows(out, [ours.pop(r["id"], r) for r in read_rows(out)] + list(ours.values()))
    print(format_summary(summarize(rows)))
    if not args.no_plots:
        for path in plot_pareto(rows, out, title=f"{args.spec.stem}: "):
            print(f"wrote {path}")
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed[:5]:
        print(f"failed point {r['id']} ({r['point']['labels']}): {r['error']}")
    print(f"{len(rows)} points, {len(failed)} failed, wall time {time.perf_counter() - t0:.1f} s;"
          f" table {out / 'results.csv'}")
    return 1 if failed else 0
