"""`synaprune regress`: the RTL core against the golden model over many samples and
configurations, in parallel, resumable.

The samples are split into independent cases (``sim/regress.py``): each configuration of the
regression (sizes, lanes, leak, k > 1, pruning on and off, every ``ram_latency``) gets cases of
``--case-samples`` digits samples in their own order from their own pre-trained state, a third
of them with back-pressure, plus its corner cases; a share of the cases runs in Icarus, the rest
in Verilator. Each case compares everything ``synaprune sim`` compares. The cases run in a
process pool on this machine's cores, or with ``--scheduler`` as tasks on Dask distributed
(``local``: a local cluster; ``tcp://HOST:PORT``: an existing cluster whose workers see
``--out`` at the same path). Cases already finished in ``--out`` are not run again
(``--fresh`` starts over). Writes ``OUT/summary.json``; exits 1 on any mismatch, naming the
first with its waveform, or when a case fails.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from . import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from ..sim.regress import regress_configs

    names = list(regress_configs())
    p = sub.add_parser("regress", help="RTL against the golden model, many samples and configs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=positive_int, default=10_000,
                   help="samples in all, over the configurations (default 10000)")
    p.add_argument("--configs", default=",".join(names),
                   help=f"comma-separated configurations (default all: {','.join(names)})")
    p.add_argument("--simulators", default="icarus,verilator",
                   help="comma-separated simulators (default icarus,verilator)")
    p.add_argument("--icarus-share", type=float, default=0.2,
                   help="share of the cases run in Icarus when both are listed (default 0.2)")
    p.add_argument("--case-samples", type=positive_int, default=200,
                   help="samples per case (default 200: 150 learning, 50 inference)")
    p.add_argument("--no-edge-cases", action="store_true",
                   help="skip the corner cases of each configuration")
    p.add_argument("--workers", type=positive_int, help="parallel cases (default: the cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the cases on Dask: 'local' (a local cluster of --workers) or an "
                        "existing cluster's scheduler, tcp://HOST:PORT")
    p.add_argument("--out", type=Path, default=Path("build/regress"))
    p.add_argument("--fresh", action="store_true", help="forget finished cases in --out")
    p.set_defaults(func=run)


def report(summary: dict[str, Any]) -> str:
    lines = [f"regression: {summary['cases_done']}/{summary['cases_planned']} cases, "
             f"{summary['samples']} samples, mismatches {summary['mismatches']}, every cycle "
             f"count equal to the model: {'yes' if summary['cycles_equal_model'] else 'NO'}",
             f"  compared: {summary['spikes_compared']} spikes, {summary['membranes_compared']} "
             f"membrane values, {summary['updates_compared']} STDP updates"]
    for sim, s in summary["simulators"].items():
        lines.append(f"  {sim}: {s['cases']} cases, {s['samples']} samples, "
                     f"{s['cycles_per_s']:.0f} simulated cycles/s")
    for name, c in summary["configs"].items():
        lines.append(f"  config {name}: {c['samples']} samples in {c['cases']} cases "
                     f"({', '.join(c['simulators'])}), mismatches {c['mismatches']}")
    lines.append(f"  wall time {summary['wall_s']:.0f} s")
    if summary.get("cases_failed"):
        lines.append(f"  FAILED: {summary['cases_failed']} case(s) raised; their errors are in "
                     f"engine/results.json")
    bad = summary["first_mismatch"]
    if bad:
        lines.append(f"  first mismatch: {bad}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..progress import progress_bar
    from ..sim.regress import plan, regress

    specs = plan(args.samples, configs=[c for c in args.configs.split(",") if c],
                 simulators=[s for s in args.simulators.split(",") if s],
                 case_samples=args.case_samples, icarus_share=args.icarus_share,
                 edge=not args.no_edge_cases)
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out / "cases", ignore_errors=True)
    done = sum((args.out / "cases" / f"{s.id}.json").exists() for s in specs)
    print(f"regression: {len(specs)} cases ({sum(s.samples for s in specs)} samples + corner "
          f"cases), {done} already done in {args.out}", flush=True)
    bar = progress_bar(total=len(specs), initial=done, desc="regress", unit="case")
    state = {"samples": 0, "mismatches": 0}

    def on_done(row: dict[str, Any]) -> None:
        state["samples"] += row["samples"]
        state["mismatches"] += row["mismatches"]
        bar.set_postfix(state, refresh=False)  # shown with the next update, not a line of its own
        bar.update()
        if row["mismatches"]:
            bar.write(f"MISMATCH in {row['id']}: {row['first_mismatch']} "
                       f"(waveform: {row['waveform_dir']}; log: {row['log']})")

    if args.scheduler not in (None, "local"):
        from ..engine import check_scheduler

        check_scheduler(args.scheduler)
    summary = regress(specs, args.out, workers=args.workers, scheduler=args.scheduler,
                      on_done=on_done)
    bar.close()
    print(report(summary))
    print(f"wrote {args.out / 'summary.json'}")
    return 1 if summary["mismatches"] or summary["cases_failed"] else 0
