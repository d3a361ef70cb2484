"""``synaprune bench``: learning throughput of the golden model (and of Brian2) at MNIST size.

The work: one layer of 784 inputs (28x28, no ON/OFF) x 400 neurons on 8 lanes, learning with
STDP and pruning on MNIST-like images. The images are scikit-learn's built-in digits scaled up
3x to 24x24 and placed at a seeded random offset in a 28x28 frame, so no MNIST files are
needed and every run sees the same samples. The rule parameters (threshold, rates, ...) come
from the MNIST preset when it exists, else the ``Config`` defaults, or from --config; the sizes
are always forced to the ones above.

The golden model runs in this one process after a short warm-up (the LFSR jump table and first
allocations are not counted). Brian2 runs the same configuration and spike times through
``synaprune.model.brian_ref.samples_per_second`` when that module is importable, on the first
--brian-samples samples. Writes ``OUT/golden.json`` with ``golden_samples_per_s``,
``golden_infer_samples_per_s``, ``brian2_samples_per_s`` (null when not measured) and the
configuration and machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..model.config import Config
from ..model.datasets import mnist_like
from . import add_network_argument, load_config_file, positive_int, write_json

TARGET_SAMPLES_PER_S = 300  # golden-model learning throughput the project aims for
SIZES = {"image_shape": (28, 28), "n_inputs": 784, "n_neurons": 400, "lanes": 8,
         "on_off": False}
WARMUP_SAMPLES = 20


def bench_config(config_path: Path | None) -> tuple[Config, str]:
    """The benchmark configuration and where its rule parameters came from."""
    if config_path is not None:
        base, source = load_config_file(config_path), str(config_path)
    else:
        try:
            base, source = Config.preset("mnist"), "preset mnist"
        except ValueError:  # preset not written (yet): the defaults still make a fair benchmark
            base, source = Config(), "Config defaults"
    return base.replace(**SIZES), source


def golden_throughput(cfg: Config, times: np.ndarray, *, learn: bool,
                      progress: bool) -> tuple[float, dict[str, float]]:
    """Samples per second of ``Network.run_sample`` over ``times``, and per-sample work."""
    from ..model.network import Network
    from ..progress import progress_bar

    warm = Network(cfg)
    for s in range(min(WARMUP_SAMPLES, len(times))):
        warm.run_sample(times[s], learn=learn)
    net = Network(cfg)
    steps = events = updates = 0
    t0 = time.perf_counter()
    for s in progress_bar(range(len(times)), desc="golden learn" if learn else "golden infer",
                          unit="sample", disable=not progress):
        res = net.run_sample(times[s], learn=learn)
        steps += res.steps
        events += res.syn_events
        updates += res.syn_updates
    seconds = time.perf_counter() - t0
    n = len(times)
    return n / seconds, {"seconds": seconds, "steps_per_sample": steps / n,
                         "syn_events_per_sample": events / n,
                         "syn_updates_per_sample": updates / n,
                         "live_fraction_end": net.live / net.mask.size}


def brian2_throughput(cfg: Config, times: np.ndarray) -> float | None:
    """Brian2's samples per second, or None (with a note) when its reference is not there."""
    try:
        from ..model.brian_ref import samples_per_second
    except ModuleNotFoundError as err:
        if err.name not in (f"{__package__.rsplit('.', 1)[0]}.model.brian_ref", "brian2"):
            raise
        print(f"note: Brian2 throughput skipped ({err})")
        return None
    return float(samples_per_second(cfg, times, learn=True))


def profile_golden(cfg: Config, times: np.ndarray, top: int = 20) -> None:
    """Print the functions that take the golden model's time (cumulative, then own time)."""
    import cProfile
    import pstats

    from ..model.network import Network

    net = Network(cfg)
    prof = cProfile.Profile()
    prof.enable()
    for s in range(len(times)):
        net.run_sample(times[s], learn=True)
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="golden-model (and Brian2) learning throughput at 784 x 400",
        description="Measure how many samples per second the golden model learns on a layer of\n"
                    "784 inputs x 400 neurons (8 lanes) with MNIST-like images (built-in digits\n"
                    "scaled to 28x28; no MNIST files needed), and the same for the Brian2\n"
                    "reference when it is available. Rule parameters come from the mnist preset\n"
                    "(or the defaults, or --config); the sizes are always the ones above.\n"
                    f"Target: {TARGET_SAMPLES_PER_S} samples/s. Writes OUT/golden.json.",
        epilog="examples:\n"
               "  synaprune bench\n"
               "  synaprune bench --samples 500 --brian-samples 0 --profile\n"
               "  synaprune bench --network deep   # the deep network, writes OUT/deep.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=positive_int, default=2000, metavar="N",
                   help="samples the golden model learns on (default 2000)")
    p.add_argument("--brian-samples", type=_count, default=50, metavar="N",
                   help="samples for the (much slower) Brian2 run; 0 skips it (default 50)")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="take the rule parameters from this TOML (sizes are still forced); "
                        "deep network: the whole network description")
    add_network_argument(p)
    p.add_argument("--out", metavar="DIR", type=Path, default=Path("build/bench"),
                   help="directory for golden.json (default build/bench)")
    p.add_argument("--sim-samples", type=_count, default=40, metavar="N",
                   help="samples for the RTL simulator speed (Icarus, Verilator; 0 = skip)")
    p.add_argument("--profile", action="store_true",
                   help="also print a cProfile of the golden model's learning loop")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.network == "deep":
        from ..deep_bench import run as deep_run

        return deep_run(args)
    from ..model.encoding import encode

    cfg, source = bench_config(args.config)
    times = encode(mnist_like(args.samples)[0], cfg)
    progress = not args.no_progress
    print(f"golden model: {cfg.n_inputs} inputs x {cfg.n_neurons} neurons, {cfg.lanes} lanes, "
          f"T = {cfg.time_steps}, rules from {source}, {args.samples} samples")
    rate, work = golden_throughput(cfg, times, learn=True, progress=progress)
    infer_rate, _ = golden_throughput(cfg, times, learn=False, progress=progress)
    print(f"  learning   {rate:8.1f} samples/s   ({work['steps_per_sample']:.1f} steps, "
          f"{work['syn_events_per_sample']:.0f} synaptic events, "
          f"{work['syn_updates_per_sample']:.0f} STDP updates per sample)")
    print(f"  inference  {infer_rate:8.1f} samples/s")
    if rate < TARGET_SAMPLES_PER_S:
        print(f"  below the target of {TARGET_SAMPLES_PER_S} samples/s; run with --profile "
              f"to see where the time goes")
    if args.profile:
        profile_golden(cfg, times[:min(len(times), 500)])
    brian = None
    n_brian = min(args.brian_samples, args.samples)
    if n_brian > 0:
        brian = brian2_throughput(cfg, times[:n_brian])
        if brian is not None:
            print(f"  Brian2     {brian:8.1f} samples/s   (learning, {n_brian} samples)")
    result: dict[str, Any] = {
        "golden_samples_per_s": rate,
        "golden_infer_samples_per_s": infer_rate,
        "brian2_samples_per_s": brian,
        "brian2_samples": n_brian if brian is not None else 0,
        "target_samples_per_s": TARGET_SAMPLES_PER_S,
        "meets_target": rate >= TARGET_SAMPLES_PER_S,
        "samples": args.samples,
        "golden_seconds": work["seconds"],
        "steps_per_sample": work["steps_per_sample"],
        "syn_events_per_sample": work["syn_events_per_sample"],
        "syn_updates_per_sample": work["syn_updates_per_sample"],
        "live_fraction_end": work["live_fraction_end"],
        "rules_from": source,
        "n_inputs": cfg.n_inputs, "n_neurons": cfg.n_neurons, "lanes": cfg.lanes,
        "time_steps": cfg.time_steps, "threshold": cfg.threshold,
        "config": cfg.to_dict(),
        "python": platform.python_version(), "numpy": np.__version__,
        "machine": platform.machine(), "cpus": os.cpu_count(),
    }
    path = write_json(args.out / "golden.json", result)
    print(f"  written    {path}")
    if args.sim_samples:
        sims = simulator_throughput(args.sim_samples, args.out)
        print(f"  written    {write_json(args.out / 'sim.json', sims)}")
    return 0


def simulator_throughput(n_samples: int, out: Path) -> dict[str, Any]:
    """RTL simulation speed (cycles/s, cocotb bench included) of the digits core in each HDL
    simulator that is installed, on the same learning-then-inference case."""
    from ..sim.cases import digits_case
    from ..sim.runner import (
        SIMULATORS,
        SimulatorMissingError,
        build_simulation,
        check_simulator,
        run_case,
    )

    cfg = Config.preset("digits")
    case = digits_case(cfg, pretrain=300, n_learn=n_samples // 2,
                       n_infer=n_samples - n_samples // 2, name="bench")
    result: dict[str, Any] = {"samples": len(case.times), "n_inputs": cfg.n_inputs,
                              "n_neurons": cfg.n_neurons, "lanes": cfg.lanes}
    for sim in SIMULATORS:
        try:
            check_simulator(sim)
        except SimulatorMissingError as err:
            print(f"  {sim:10s} skipped: {err}")
            result[f"{sim}_cycles_per_s"] = None
            continue
        # built first: the run measures simulation, not compilation
        build_simulation(case.top(), simulator=sim, build_root=out / "sim")
        summary = run_case(case, simulator=sim, build_root=out / "sim", rerun_with_waves=False)
        if summary["mismatches"]:
            raise RuntimeError(f"{sim}: RTL differs from the golden model: "
                               f"{summary['first_mismatch']}")
        result[f"{sim}_cycles_per_s"] = summary["sim_cycles_per_s"]
        result[f"{sim}_sim_cycles"] = summary["sim_cycles"]
        print(f"  {sim:10s} {summary['sim_cycles_per_s']:8.0f} cycles/s "
              f"({summary['sim_cycles']} cycles, {len(case.times)} samples, 0 mismatches)")
    return result
