"""RTL regressions: many samples over several configurations and both simulators, as
independent cases that run in parallel and resume after an interruption.

A case is a plain dict (``CaseSpec.as_dict``): configuration name, simulator, sample order,
sizes, back-pressure. ``run_spec`` runs one in any process and returns its result row;
``regress`` runs the cases on the machine's cores (a process pool, each simulation built once
first) or as tasks of the Dask engine (``synaprune.engine``: a local cluster or an existing one,
whose workers build what they need), keeps one JSON file per finished case in ``OUT/cases/``
(a rerun skips those) and writes ``OUT/summary.json``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..boards.platforms import default_config
from ..model.config import Config
from .cases import digits_case, edge_cases
from .harness import layer_top
from .runner import SIMULATORS, build_simulation, check_simulator, run_case


def regress_configs() -> dict[str, Config]:
    """The configurations a regression covers: sizes, lane counts (1, 3, 4, 8, 16), leak on and
    off, k > 1, pruning on and off, column words of 8, 16 and 32 bits, every ``ram_latency``
    (4..7, the die-wide pipelining at 6 and 7), 24-bit counters, a lane of more rows than
    twice the inputs, and the "fixed-density" rewiring (regrowth on the chip) and the "pq" one (the
    host's rewire commands) on A and D; row masks split into words (``row_word_bits``) on W and B,
    with "fixed-density" on W; single-port weights and row masks (``single_port``, the paced
    learning walk) on those three; the fired flags in the adaptation words (``fired_in_adapt``)
    on C (k = 3 winners, 4 lanes) and D (16 lanes, die-wide)."""
    configs = {
        "digits": Config.preset("digits"),  # the shipped digits layer, 128 x 256, 8 lanes
        "A": Config(n_neurons=32, lanes=8, time_steps=16, threshold=1500, a_plus=2000,
                    a_minus=-2000, prune_threshold=120, homeo_inc=64),
        "B": Config(n_neurons=21, lanes=3, time_steps=12, threshold=1200, leak_shift=3,
                    k_max=2, k_winners=2, col_word_bits=8, a_plus=1500, a_minus=-1500,
                    prune_enabled=False, homeo_inc=64, homeo_decay_shift=4, ram_latency=7),
        "C": Config(n_neurons=48, lanes=4, time_steps=8, threshold=1400, leak_shift=2,
                    k_max=3, k_winners=3, col_word_bits=32, a_plus=1800, a_minus=-2200,
                    prune_threshold=100, homeo_inc=48, ram_latency=5, counter_bits=24),
        "D": Config(n_neurons=64, lanes=16, time_steps=6, threshold=1300, k_max=2,
                    k_winners=2, a_plus=1600, a_minus=-2000, prune_threshold=110,
                    homeo_inc=40, ram_latency=6),
        "UP5K": default_config("icebreaker"),  # the iCEBreaker's layer: one lane
        # one lane of 128 rows, twice the inputs: 128-bit row bitmap words, and CLEAR counts
        # to K, not to the events (its counter once wrapped here)
        "W": Config(n_neurons=128, lanes=1, time_steps=6, threshold=1500, a_plus=2000,
                    a_minus=-2000, prune_threshold=120, homeo_inc=64),
    }
    # "fixed-density": a sparse start (30 % live) whose learning prunes and regrows every few
    # samples (the same netlists as A and D: the policy is a runtime register)
    for name in ("A", "D"):
        configs[f"{name}-fd"] = configs[name].replace(rewire_policy="fixed-density",
                                                      rewire_density=0.3)
    # "pq": the same sparse start, the host's rewire commands every 3 learning samples
    for name in ("A", "D"):
        configs[f"{name}-pq"] = configs[name].replace(rewire_policy="pq", rewire_density=0.3,
                                                      rewire_block=3, pq_eta=0.1, pq_gamma=2.0,
                                                      pq_beta=0.4)
    # row masks in words: W's 128 rows in 8 words of 16 bits; B's 7 rows per lane in two words
    # of 4 bits, the last partial (and die-wide); W's with regrowth into the split words
    configs["Wr"] = configs["W"].replace(row_word_bits=16)
    configs["Br"] = configs["B"].replace(row_word_bits=4)
    configs["Wr-fd"] = configs["Wr"].replace(rewire_policy="fixed-density", rewire_density=0.3)
    # single-port weights and row masks (the UP5K's SPRAM): an odd ram_latency, 5 and 7
    for name in ("Wr", "Br", "Wr-fd"):
        latency = configs[name].ram_latency | 1
        configs[f"{name}-sp"] = configs[name].replace(single_port=True, ram_latency=latency)
    for name in ("C", "D"):
        configs[f"{name}-fa"] = configs[name].replace(fired_in_adapt=True)
    return configs


@dataclass(frozen=True)
class CaseSpec:
    """One independent regression case: ``learn`` + ``infer`` samples simulated from the state
    the golden model reaches after ``pretrain`` samples, in sample order ``order``; or, with
    ``edge`` set, every corner case of ``sim.cases.edge_cases`` on the configuration."""

    config: str
    simulator: str
    order: int
    pretrain: int = 0
    learn: int = 0
    infer: int = 0
    backpressure: bool = False
    edge: bool = False

    @property
    def id(self) -> str:
        kind = "edge" if self.edge else f"{self.order:03d}"
        return f"{self.config}-{self.simulator}-{kind}"

    @property
    def samples(self) -> int:
        return self.learn + self.infer

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(samples: int, *, configs: Sequence[str], simulators: Sequence[str],
         case_samples: int = 200, icarus_share: float = 0.2, edge: bool = True
         ) -> list[CaseSpec]:
    """Cases for at least ``samples`` samples, round robin over ``configs``; a share
    ``icarus_share`` of them (spread evenly) on Icarus when both simulators are listed, since
    Icarus is several times slower. Every third case has back-pressure on both streams. With
    ``edge``, each configuration's corner cases run once on each simulator listed."""
    for sim in simulators:
        if sim not in SIMULATORS:
            raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    known = regress_configs()
    for name in configs:
        if name not in known:
            raise ValueError(f"no regression configuration {name!r}; known: {', '.join(known)}")
    if not 0.0 <= icarus_share <= 1.0:
        raise ValueError(f"icarus_share must be in [0, 1], not {icarus_share}")
    if case_samples < 4:
        raise ValueError(f"case_samples must be >= 4, not {case_samples}")
    n_cases = math.ceil(samples / case_samples)
    every = round(1 / icarus_share) if 0 < icarus_share < 1 else 1
    specs = []
    for n in range(n_cases):
        if len(simulators) == 1:
            sim = simulators[0]
        elif icarus_share == 0.0:
            sim = "verilator"
        else:
            sim = "icarus" if icarus_share == 1.0 or n % every == every - 1 else "verilator"
        learn = case_samples * 3 // 4
        specs.append(CaseSpec(config=configs[n % len(configs)], simulator=sim, order=n,
                              pretrain=(37 * n) % 400, learn=learn, infer=case_samples - learn,
                              backpressure=n % 3 == 2))
    if edge:
        specs += [CaseSpec(config=name, simulator=sim, order=0, edge=True)
                  for name in configs for sim in simulators]
    return specs


def run_spec(spec: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """Run one case (``CaseSpec.as_dict``) with its netlist built under ``OUT/build``; returns
    its result row: samples, mismatches, simulator cycles and seconds, the first mismatch
    (with its waveform directory) and the case's wall time. Importable and picklable, for a
    process pool or a distributed engine."""
    cs = CaseSpec(**spec)
    cfg = regress_configs()[cs.config]
    out = Path(out)
    build_root = out / "build"
    log_file = out / "logs" / f"{cs.id}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if cs.edge:
        cases = [replace(c, name=f"{cs.id}-{c.name}") for c in edge_cases(cfg)]
    else:
        gap = 0.3 if cs.backpressure else 0.0
        cases = [digits_case(cfg, pretrain=cs.pretrain, n_learn=cs.learn, n_infer=cs.infer,
                             seed=cs.order + 1, in_gap=gap, out_stall=gap, name=cs.id,
                             order=cs.order)]
    row: dict[str, Any] = {"id": cs.id, **cs.as_dict(), "samples": 0, "mismatches": 0,
                           "first_mismatch": None, "waveform_dir": None, "sim_cycles": 0,
                           "simulator_s": 0.0, "membranes_compared": 0, "updates_compared": 0,
                           "spikes_compared": 0, "log": str(log_file)}
    for case in cases:
        s = run_case(case, simulator=cs.simulator, build_root=build_root, log_file=log_file)
        row["samples"] += s["samples"]
        row["sim_cycles"] += s["sim_cycles"]
        row["simulator_s"] += s["time_split_s"]["simulator"]
        for key in ("membranes_compared", "updates_compared", "spikes_compared"):
            row[key] += s[key]
        if s["mismatches"] and not row["mismatches"]:
            row["first_mismatch"] = {"case": case.name, **s["first_mismatch"]}
            row["waveform_dir"] = s.get("waveform_dir")
        row["mismatches"] += s["mismatches"]
    row["wall_s"] = time.perf_counter() - t0
    return row


def run_point(point: dict[str, Any]) -> dict[str, Any]:
    """``run_spec`` as a task of ``synaprune.engine``: ``point`` is a case's dict plus ``out``;
    the row leaves out the case id (the engine's row holds it as the task id)."""
    spec = {k: v for k, v in point.items() if k != "out"}
    row = run_spec(spec, point["out"])
    del row["id"]
    return row


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    tmp.replace(path)


def _build(cfg_name: str, simulator: str, build_root: str) -> str:
    build_simulation(layer_top(regress_configs()[cfg_name]), simulator=simulator,
                     build_root=build_root)
    return cfg_name


def summarize(rows: Sequence[dict[str, Any]], *, planned: int, wall_s: float
              ) -> dict[str, Any]:
    """Totals over finished cases: samples, mismatches, per-simulator speed, per-config rows."""
    per_sim = {}
    for sim in sorted({r["simulator"] for r in rows}):
        mine = [r for r in rows if r["simulator"] == sim]
        cycles, secs = sum(r["sim_cycles"] for r in mine), sum(r["simulator_s"] for r in mine)
        per_sim[sim] = {"cases": len(mine), "samples": sum(r["samples"] for r in mine),
                        "sim_cycles": cycles, "cycles_per_s": cycles / secs if secs else 0.0}
    per_cfg = {}
    for name in sorted({r["config"] for r in rows}):
        mine = [r for r in rows if r["config"] == name]
        per_cfg[name] = {"cases": len(mine), "samples": sum(r["samples"] for r in mine),
                         "mismatches": sum(r["mismatches"] for r in mine),
                         "simulators": sorted({r["simulator"] for r in mine})}
    bad = [r for r in rows if r["mismatches"]]
    return {
        "cases_planned": planned, "cases_done": len(rows),
        "samples": sum(r["samples"] for r in rows),
        "mismatches": sum(r["mismatches"] for r in rows),
        # the testbench compares every phase's cycle counter with model.cycles in every sample
        # and counts a difference as a mismatch
        "cycles_equal_model": not bad,
        "membranes_compared": sum(r["membranes_compared"] for r in rows),
        "updates_compared": sum(r["updates_compared"] for r in rows),
        "spikes_compared": sum(r["spikes_compared"] for r in rows),
        "simulators": per_sim, "configs": per_cfg, "wall_s": wall_s,
        "first_mismatch": ({"id": bad[0]["id"], **bad[0]["first_mismatch"],
                            "waveform_dir": bad[0]["waveform_dir"]} if bad else None),
    }


def regress(specs: Sequence[CaseSpec], out: str | Path, *, workers: int | None = None,
            scheduler: str | None = None,
            on_done: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``specs`` not already finished in ``out``; each result row lands in
    ``OUT/cases/ID.json`` as it finishes, and ``on_done`` (a progress hook) is called with it.
    Returns the summary over every case of ``specs`` that has a result, also written to
    ``OUT/summary.json``.

    Where: ``scheduler=None``, a process pool of ``workers`` (default: the machine's cores);
    ``"local"``, a Dask ``LocalCluster`` of ``workers``; ``"tcp://HOST:PORT"``, an existing Dask
    cluster, whose workers must see ``out`` at the same path (a shared file system) and have
    this project installed. On Dask, a case that raises is recorded by the engine
    (``OUT/engine/results.json``) and counted in the summary's ``cases_failed``."""
    for sim in {s.simulator for s in specs}:
        check_simulator(sim)
    out = Path(out).resolve()
    cases_dir = out / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    todo = [s for s in specs if not (cases_dir / f"{s.id}.json").exists()]

    def finished(row: dict[str, Any]) -> None:
        _write_json(cases_dir / f"{row['id']}.json", row)
        if on_done:
            on_done(row)

    failed = 0
    if scheduler is None:
        _run_in_pool(todo, out, workers or os.cpu_count() or 1, finished)
    elif todo:
        failed = _run_on_engine(todo, out, workers, scheduler, finished)
    rows = [json.loads((cases_dir / f"{s.id}.json").read_text()) for s in specs
            if (cases_dir / f"{s.id}.json").exists()]
    summary = summarize(rows, planned=len(specs), wall_s=time.perf_counter() - t0)
    summary["cases_failed"] = failed
    _write_json(out / "summary.json", summary)
    return summary


def _run_in_pool(todo: Sequence[CaseSpec], out: Path, workers: int,
                 finished: Callable[[dict[str, Any]], None]) -> None:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # each simulation is built once, before the cases that share it run in parallel
        builds = {(s.config, s.simulator) for s in todo}
        for fut in [pool.submit(_build, c, sim, str(out / "build")) for c, sim in builds]:
            fut.result()
        pending = {pool.submit(run_spec, s.as_dict(), str(out)) for s in todo}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                finished(fut.result())


def _run_on_engine(todo: Sequence[CaseSpec], out: Path, workers: int | None, scheduler: str,
                   finished: Callable[[dict[str, Any]], None]) -> int:
    """The cases as tasks of the Dask engine; returns how many failed. Each worker builds the
    simulations it needs (``build_simulation`` holds a lock, so a netlist is built once)."""
    from ..engine import ENGINE_KEYS, Task, run_tasks

    def on_row(row: dict[str, Any]) -> None:
        if row["status"] == "ok":
            case = {k: v for k, v in row.items() if k not in ENGINE_KEYS}
            finished({"id": row["id"], **case, "worker": row["worker"]})

    tasks = [Task({**s.as_dict(), "out": str(out)}, id=s.id) for s in todo]
    rows = run_tasks(tasks, run_point, scheduler=None if scheduler == "local" else scheduler,
                     results_dir=out / "engine", workers=workers, progress=False,
                     on_row=on_row)
    return sum(r["status"] != "ok" for r in rows)
