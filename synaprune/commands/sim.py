"""`synaprune sim`: the RTL core against the golden model in cocotb (Icarus or Verilator).

Default: the digits configuration; the golden model first learns part of the training set so
pruning is under way, then the RTL learns ``--learn`` further samples (pruning on) and infers
``--infer`` test samples; every time step, update and counter is compared (``sim/tb_layer.py``).
``--checkpoint FILE`` simulates a saved network instead (``synaprune train`` or ``import``):
``--infer`` test samples of its data set, inference only. ``--set KEY=VALUE`` changes a field of
the configuration, e.g. ``--set rewire_policy=fixed-density`` (the core regrows on the chip) or
``--set rewire_policy=pq`` (the bench, as the host, writes the rewire commands at each block's
end).

``--network deep``: the deep network's whole chain of cores (the digits deep preset, or
``--config`` a deep configuration; each conv core with ``--lanes`` lanes) from the model's
initial state: layer-wise learning, bottom up (each conv layer, and a "wta" classifier,
learns ``--learn`` training samples in the model's order, the layers below it inferring),
then ``--infer`` test samples through the whole chain; every layer's events, membranes,
winners, updates, counters and state are compared (``sim/tb_chain.py``).
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
from . import config_with_overrides, parse_overrides

if TYPE_CHECKING:
    from ..model.deep_config import DeepConfig
    from ..sim.cases import Case

# (learning, inference) samples of a run by default: the layer core's, and the deep chain's
# (learning: per layer that learns; its Icarus runs are slower: see docs/verification.md)
SAMPLES = {"fc": (200, 100), "deep": (40, 40)}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="compare the RTL core with the golden model, cycle by cycle",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", choices=("fc", "deep"), default="fc",
                   help="fc: the layer core (default); deep: the deep network's chain of cores")
    p.add_argument("--config", type=Path,
                   help="configuration TOML (default: the digits preset of --network)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration field with a TOML value, e.g. --set "
                        "rewire_policy=fixed-density (repeatable; --network fc)")
    p.add_argument("--simulator", choices=("auto", "icarus", "verilator"), default="auto",
                   help="HDL simulator (default auto: Verilator where installed, else Icarus)")
    p.add_argument("--pretrain", type=int, default=300,
                   help="samples the golden model learns before the RTL takes over")
    p.add_argument("--learn", type=int,
                   help=f"samples the RTL learns (per learning layer with --network deep; default "
                        f"{SAMPLES['fc'][0]}, deep {SAMPLES['deep'][0]})")
    p.add_argument("--infer", type=int,
                   help=f"test samples the RTL infers (through the chain with --network deep; "
                        f"default {SAMPLES['fc'][1]}, deep {SAMPLES['deep'][1]})")
    p.add_argument("--lanes", type=int, default=4,
                   help="--network deep: lanes of each conv core (must divide its maps)")
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


def verdict_lines(summary: dict) -> list[str]:
    """The mismatch count (and the first) and the cycles per sample of a bench's summary
    (``sim.tally.Tally.finish``)."""
    return [f"  mismatches: {summary['mismatches']}"
            + (f"  first: {summary['first_mismatch']}" if summary["first_mismatch"] else ""),
            f"  cycles per sample: {summary['cycles_per_sample']:.1f} (all equal to the cycle "
            f"model)" if not summary["mismatches"] else "  cycles: see mismatch"]


def speed_line(summary: dict) -> str:
    """The simulator's speed in a bench's summary."""
    return (f"  simulator speed: {summary['sim_cycles_per_s']:.0f} cycles/s "
            f"({summary['sim_cycles']} cycles in {summary['wall_s']:.1f} s)")


def summarize(summary: dict) -> str:
    cycles = summary.get("cycles") or []
    lanes_per_cycle = summary["syn_events"] / max(1, summary["integrate_cycles"])
    lines = [
        f"case {summary['case']} ({summary['simulator']}): {summary['samples']} samples "
        f"({summary['learn_samples']} learning, {summary['infer_samples']} inference)",
        f"  compared: {summary['spikes_compared']} spikes, {summary['membranes_compared']} "
        f"membrane values, {summary['updates_compared']} STDP updates, "
        f"{summary['weights_compared']} weights",
        *verdict_lines(summary),
        f"  synaptic events per integration cycle: {lanes_per_cycle:.2f}",
        *([f"  synapses regrown on the chip: {summary['regrown']}"]
          if summary.get("regrown") else []),
        *([f"  \"pq\" rewire commands from the host: {summary['rewire_commands']}"]
          if summary.get("rewire_commands") else []),
        speed_line(summary),
        "  wall time split: " + ", ".join(f"{k} {v:.1f} s"
                                          for k, v in summary["time_split_s"].items()),
    ]
    if cycles:
        phases = ("load", "integrate", "sweep", "learn", "clear", "emit")
        mean = {ph: np.mean([c[ph] for c in cycles]) for ph in phases}
        lines.append("  mean cycles by phase: " + ", ".join(f"{k} {v:.1f}"
                                                         for k, v in mean.items()))
    return "\n".join(lines)


def samples(args: argparse.Namespace) -> tuple[int, int]:
    """--learn and --infer, or the defaults of --network (``SAMPLES``)."""
    learn, infer = SAMPLES[args.network]
    return (learn if args.learn is None else args.learn,
            infer if args.infer is None else args.infer)


def summarize_chain(summary: dict, cfg: DeepConfig) -> str:
    """The printed summary of the chain's run (``sim.tb_chain``)."""
    spikes = ", ".join(f"layer {n} ({cfg.layers[int(n)].type}) {k}"
                       for n, k in summary["layer_spikes"].items())
    cycles = summary.get("cycles") or []
    per_layer = ", ".join(f"layer {n[5:]} {np.mean([c[n] for c in cycles]):.1f}"
                          for n in (cycles[0] if cycles else {}) if n != "total")
    lines = [
        f"deep chain ({summary['simulator']}, conv lanes {summary['conv_lanes']}): "
        f"{summary['samples']} samples ({summary['learn_samples']} learning, "
        f"{summary['infer_samples']} inference)",
        f"  compared: {summary['events_compared']} events of every layer (spikes: {spikes}), "
        f"{summary['membranes_compared']} membrane values, {summary['updates_compared']} STDP "
        f"updates ({summary['winners_compared']} conv winners, {summary['pruned']} entries "
        f"pruned), {summary['weights_compared']} weights",
        *verdict_lines(summary),
        *([f"  cycles per sample by core: {per_layer}"] if per_layer else []),
        speed_line(summary),
        *(f"  note: {note}" for note in summary.get("notes", [])),
    ]
    return "\n".join(lines)


def run_deep(args: argparse.Namespace) -> int:
    """``--network deep``: the deep configuration's whole chain in RTL (module docstring);
    its summary, ``OUT/summary.json``."""
    from ..model.deep_config import DeepConfig
    from ..sim.chain_cases import layerwise_case
    from ..sim.runner import build_simulation, run_case

    for flag, value in (("--checkpoint", args.checkpoint), ("--edge-cases", args.edge_cases),
                        ("--profile", args.profile), ("--set", args.set)):
        if value:
            raise ValueError(f"{flag} is for the layer core (--network fc), not --network deep")
    n_learn, n_infer = samples(args)
    cfg = DeepConfig.load(args.config) if args.config else DeepConfig.preset("digits")
    gap = 0.3 if args.backpressure else 0.0
    n_conv = sum(spec.type == "conv" for spec in cfg.layers)
    case = layerwise_case(cfg, conv_lanes=(args.lanes,) * n_conv, n_learn=n_learn,
                          n_infer=n_infer, in_gap=gap, out_stall=gap)
    shapes = cfg.shapes()
    print("simulating the deep network's chain in " + args.simulator + ": "
          + " -> ".join(f"{spec.type} {'x'.join(map(str, shapes[n + 1]))}"
                        for n, spec in enumerate(cfg.layers))
          + f"; {len(case.times)} samples", flush=True)
    t0 = time.perf_counter()
    work = build_simulation(case.top(), simulator=args.simulator, build_root=args.out)
    print(f"simulation built in {time.perf_counter() - t0:.0f} s (once per netlist; "
          f"{work / 'build.log'})", flush=True)
    summary = run_case(case, simulator=args.simulator, build_root=args.out, progress=True)
    seconds = time.perf_counter() - t0
    print(summarize_chain(summary, cfg))
    args.out.mkdir(parents=True, exist_ok=True)
    main = {**{k: v for k, v in summary.items() if k != "cycles"}, "network": "deep",
            "wall_s": seconds}
    (args.out / "summary.json").write_text(json.dumps(main, indent=2))
    print(f"deep chain: {summary['samples']} samples, mismatches: {summary['mismatches']}; "
          f"{seconds:.0f} s; wrote {args.out / 'summary.json'}")
    return 1 if summary["mismatches"] else 0


def run(args: argparse.Namespace) -> int:
    from ..sim.cases import digits_case, edge_cases
    from ..sim.runner import build_simulation, resolve_simulator, run_case

    args.simulator = resolve_simulator(args.simulator)
    if args.network == "deep":
        return run_deep(args)
    args.learn, args.infer = samples(args)
    gap = 0.3 if args.backpressure else 0.0
    if args.checkpoint is not None:
        cfg, case = checkpoint_case(args.checkpoint, args.infer, args.data)
    else:
        cfg = Config.load(args.config) if args.config else Config.preset("digits")
        cfg = config_with_overrides(cfg, parse_overrides(args.set))
        case = digits_case(cfg, pretrain=args.pretrain, n_learn=args.learn, n_infer=args.infer,
                           in_gap=gap, out_stall=gap)
    print(f"simulating {len(case.times)} samples in {args.simulator} "
          f"({cfg.n_inputs} inputs x {cfg.n_neurons} neurons, {cfg.lanes} lanes, "
          f"{case.mask.mean():.1%} of synapses live at the start)", flush=True)
    t0 = time.perf_counter()
    work = build_simulation(case.top(), simulator=args.simulator, build_root=args.out)
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
