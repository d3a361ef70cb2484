"""`synaprune sim`: the RTL core against the golden model in cocotb (Icarus or Verilator).

Default: the digits configuration; the golden model first learns part of the training set so
pruning is under way, then the RTL learns ``--learn`` further samples (pruning on) and infers
``--infer`` test samples; every time step, update and counter is compared (``sim/tb_layer.py``).
``--checkpoint FILE`` simulates a saved network instead (``synaprune train`` or ``import``):
``--infer`` test samples of its data set, inference only. ``--set KEY=VALUE`` changes a field of
the configuration, e.g. ``--set rewire_policy=fixed-density`` (the core regrows on the chip).
Writes ``build/sim/summary.json`` and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..model.config import Config
from . import parse_overrides

if TYPE_CHECKING:
    from ..sim.cases import Case


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="compare the RTL core with the golden model, cycle by cycle",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="configuration TOML (default: digits preset)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration field with a TOML value, e.g. --set "
                        "rewire_policy=fixed-density (repeatable)")
    p.add_argument("--simulator", choices=("auto", "icarus", "verilator"), default="auto",
                   help="HDL simulator (default auto: Verilator where installed, else Icarus)")
    p.add_argument("--pretrain", type=int, default=300,
                   help="samples the golden model learns before the RTL takes over")
    p.add_argument("--learn", type=int, default=200, help="samples the RTL learns")
    p.add_argument("--infer", type=int, default=100, help="test samples the RTL infers")
    p.add_argument("--backpressure", action="store_true",
                   help="random gaps on the input and stalls on the output stream")
    p.add_argument("--edge-cases", action="store_true", help="also run the corner cases")
    p.add_argument("--profile", action="store_true",
                   help="profile the testbench's Python (OUT/runs/*/profile.txt); the summary "
                        "splits the wall time into simulator, golden model and testbench")
    p.add_argument("--out", type=Path, default=Path("build/sim"))
    p.add_argument("--checkpoint", type=Path, metavar="FILE",
                   help="simulate this checkpoint's network (from train or import) on --infer "
                        "test samples of its data set, inference only")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="MNIST IDX directory, for a --checkpoint that learned MNIST")
    p.set_defaults(func=run)


def checkpoint_case(path: Path, n_infer: int, data: Path | None) -> tuple[Config, Case]:
    """A case that infers the first ``n_infer`` test samples of the checkpoint's data set on
    its network, with its labels."""
    from ..checkpoint import load_checkpoint
    from ..model.encoding import encode
    from ..model.readout import UNLABELLED
    from ..sim.cases import Case
    from . import check_images_fit, load_split

    net, labels, meta = load_checkpoint(path)
    split = load_split(argparse.Namespace(dataset=meta["dataset"], data=data, images=None,
                                          labels=None, test=n_infer))
    check_images_fit(split, net.cfg)
    times = encode(split.x_test, net.cfg)
    hw_labels = np.where(labels == UNLABELLED, 0xF, labels)
    return net.cfg, Case.from_network("checkpoint", net, times, np.zeros(len(times), bool),
                                      hw_labels)


def summarize(summary: dict) -> str:
    cycles = summary.get("cycles") or []
    lanes_per_cycle = summary["syn_events"] / max(1, summary["integrate_cycles"])
    lines = [
        f"case {summary['case']} ({summary['simulator']}): {summary['samples']} samples "
        f"({summary['learn_samples']} learning, {summary['infer_samples']} inference)",
        f"  compared: {summary['spikes_compared']} spikes, {summary['membranes_compared']} "
        f"membrane values, {summary['updates_compared']} STDP updates, "
        f"{summary['weights_compared']} weights",
        f"  mismatches: {summary['mismatches']}"
        + (f"  first: {summary['first_mismatch']}" if summary["first_mismatch"] else ""),
        f"  cycles per sample: {summary['cycles_per_sample']:.1f} (all equal to the cycle model)"
        if not summary["mismatches"] else "  cycles: see mismatch",
        f"  synaptic events per integration cycle: {lanes_per_cycle:.2f}",
        *([f"  synapses regrown on the chip: {summary['regrown']}"]
          if summary.get("regrown") else []),
        f"  simulator speed: {summary['sim_cycles_per_s']:.0f} cycles/s "
        f"({summary['sim_cycles']} cycles in {summary['wall_s']:.1f} s)",
        "  wall time split: " + ", ".join(f"{k} {v:.1f} s"
                                          for k, v in summary["time_split_s"].items()),
    ]
    if cycles:
        phases = ("load", "integrate", "sweep", "learn", "clear", "emit")
        mean = {ph: np.mean([c[ph] for c in cycles]) for ph in phases}
        lines.append("  mean cycles by phase: " + ", ".join(f"{k} {v:.1f}"
                                                         for k, v in mean.items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..sim.cases import digits_case, edge_cases
    from ..sim.runner import build_simulation, resolve_simulator, run_case

    args.simulator = resolve_simulator(args.simulator)
    gap = 0.3 if args.backpressure else 0.0
    if args.checkpoint is not None:
        cfg, case = checkpoint_case(args.checkpoint, args.infer, args.data)
    else:
        cfg = Config.load(args.config) if args.config else Config.preset("digits")
        changes = parse_overrides(args.set)
        if changes:
            cfg = Config.from_dict({**cfg.to_dict(), **changes})
        case = digits_case(cfg, pretrain=args.pretrain, n_learn=args.learn, n_infer=args.infer,
                           in_gap=gap, out_stall=gap)
    print(f"simulating {len(case.times)} samples in {args.simulator} "
          f"({cfg.n_inputs} inputs x {cfg.n_neurons} neurons, {cfg.lanes} lanes, "
          f"{case.mask.mean():.1%} of synapses live at the start)", flush=True)
    t0 = time.perf_counter()
    work = build_simulation(cfg, simulator=args.simulator, build_root=args.out)
    print(f"simulation built in {time.perf_counter() - t0:.0f} s (once per netlist; "
          f"{work / 'build.log'})", flush=True)
    summary = run_case(case, simulator=args.simulator, build_root=args.out, progress=True,
                       profile=args.profile)
    results = [summary]
    print(summarize(summary))
    if args.edge_cases:
        for edge in edge_cases(cfg):
            s = run_case(edge, simulator=args.simulator, build_root=args.out)
            results.append(s)
            print(f"edge case {edge.name}: {s['samples']} samples, mismatches {s['mismatches']}")
    args.out.mkdir(parents=True, exist_ok=True)
    main = {k: v for k, v in summary.items() if k != "cycles"}
    main["mismatches"] = sum(r["mismatches"] for r in results)
    main["cases"] = [{k: r[k] for k in ("case", "samples", "mismatches")} for r in results]
    (args.out / "summary.json").write_text(json.dumps(main, indent=2))
    print(f"wrote {args.out / 'summary.json'}")
    return 1 if main["mismatches"] else 0
