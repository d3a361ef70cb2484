"""The pruning experiment: the same network learns twice, without and with pruning, and is costed.

For every seed the configuration (``seed`` replaced) learns the training split twice from the same
initial weights and the same sample order, once with ``prune_enabled`` False (dense) and once True
(pruned) under the rewiring policy ``policy`` (``model.rewiring``; "threshold" is the default and
the experiment of before: the pruned run is the base configuration with pruning on). A policy
that starts sparse runs at ``sparse_config``: its density, and a neuron threshold scaled with
the density (``sparse_threshold``) unless the caller sets one. The cycle model costs the
"fixed-density" regrowth (the chip's REGROW, ``model.cycles.regrow_cycles``) but not a "pq"
block's rewiring (not yet in hardware).
Both are labelled on the training set and tested on the test split. Costs come from the
golden model's per-sample results through the exact cycle model (``model.cycles.sample_cycles``,
equal to the RTL counters) and an energy model. The first ``rtl_samples`` test samples of the
first seed's pruned network are then simulated in RTL; any mismatch or any cycle count that
differs from the cycle model makes the experiment fail (``ExperimentResult.rtl_ok`` False).

Energy comes from the project's activity-based power model (``boards.power.estimate_energy``,
coefficients and their sources in ``docs/power_model.md``) for ``board`` at ``fmax_mhz``: static
power over the run time plus per-resource dynamic energy; it is an estimate with a low/high band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model.config import Config
from .model.cycles import sample_cycles
from .model.datasets import Split
from .model.encoding import encode
from .model.network import Network, SampleResult
from .model.readout import UNLABELLED, learn_label_test
from .progress import progress_bar

# Published figures that the experiment is compared with, and this project's goal. Units as in
# the results (docs/results_keys.md): shares are fractions (0.9283 = 92.83 %), speed-ups ratios.
PUBLISHED = {"connectivity_removed": 0.9283, "learn_speedup": 2.1, "learn_energy_saving": 0.64,
             "infer_speedup": 2.83, "infer_energy_saving": 0.7824, "accuracy_change": 0.0,
             "prune_power_overhead": 0.0056}
GOAL = {"connectivity_removed": ">= 93 %", "learn_speedup": ">= 4x", "infer_speedup": ">= 6x",
        "accuracy_change": ">= -0.5 points"}
# The neuron threshold of a sparse start is the base threshold times SPARSE_THRESHOLD_GAIN times
# the density (at most the base threshold): the drive of a neuron with d of its inputs falls
# with d. Measured on digits at density 0.1 (thresholds 500..2000 tried, 1 epoch, seed 1):
# 1400 = 7000 x 2 x 0.1 was best; at 0.2, 2800 (docs/rewiring.md).
SPARSE_THRESHOLD_GAIN = 2.0
SWEEP_DENSITIES = (0.05, 0.07, 0.1, 0.2, 0.3)
METRICS = ("accuracy_dense", "accuracy_pruned", "accuracy_change", "connectivity_removed",
           "learn_cycles_dense", "learn_cycles_pruned", "learn_speedup",
           "infer_cycles_dense", "infer_cycles_pruned", "infer_speedup", "infer_floor_pruned",
           "learn_energy_dense_uj", "learn_energy_pruned_uj", "learn_energy_saving",
           "infer_energy_dense_uj", "infer_energy_pruned_uj", "infer_energy_saving",
           "prune_power_overhead")


@dataclass
class Trace:
    """Per learning sample: live connections after it and its cycles."""

    live: list[int] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)


@dataclass
class RunFigures:
    """One learned network and its costs."""

    net: Network
    labels: np.ndarray
    accuracy: float
    trace: Trace
    infer_cycles: np.ndarray  # per test sample
    learn_results: list[SampleResult]  # for the power model
    infer_results: list[SampleResult]

    @property
    def learn_cycles(self) -> int:
        return int(sum(self.trace.cycles))


def train_and_cost(cfg: Config, train: np.ndarray, y_train: np.ndarray, test: np.ndarray,
                   y_test: np.ndarray, *, progress: bool = True, desc: str = "") -> RunFigures:
    """Learn ``cfg.epochs`` epochs on encoded ``train`` (order seeded by ``cfg.seed``), label on
    the training set, test on ``test``, recording the cycles and results of every sample."""
    net = Network(cfg)
    trace = Trace()
    learn_results: list[SampleResult] = []

    def on_sample(_step: int, res: object) -> None:
        assert isinstance(res, SampleResult)
        trace.live.append(res.live)
        trace.cycles.append(sample_cycles(cfg, res).total)
        learn_results.append(res)

    run = learn_label_test(net, train, y_train, test, y_test, progress=progress, desc=desc,
                           on_sample=on_sample)
    cyc = np.array([sample_cycles(cfg, r).total for r in run.test_results], dtype=np.int64)
    return RunFigures(net, run.labels, run.accuracy, trace, cyc, learn_results,
                      run.test_results)


def compare(dense: RunFigures, pruned: RunFigures, *, board: str,
            fmax_mhz: float) -> dict[str, float]:
    """The figures of one seed: accuracies, their change, connections removed, savings and the
    pruning unit's share as fractions (0..1); cycles; speed-ups as ratios; energies in uJ."""
    from .boards.power import estimate_energy

    size = pruned.net.mask.size
    cfg = pruned.net.cfg

    def energy(run: RunFigures, learn: bool) -> Any:
        results = run.learn_results if learn else run.infer_results
        return estimate_energy(board, cfg, results, learn=learn, fmax_mhz=fmax_mhz)

    le_d, le_p = energy(dense, True), energy(pruned, True)
    ie_d, ie_p = energy(dense, False), energy(pruned, False)
    return {
        "accuracy_dense": dense.accuracy, "accuracy_pruned": pruned.accuracy,
        "accuracy_change": pruned.accuracy - dense.accuracy,
        "connectivity_removed": 1 - pruned.net.live / size,
        "learn_cycles_dense": float(dense.learn_cycles),
        "learn_cycles_pruned": float(pruned.learn_cycles),
        "learn_speedup": dense.learn_cycles / max(pruned.learn_cycles, 1),
        "infer_cycles_dense": float(np.mean(dense.infer_cycles)),
        "infer_cycles_pruned": float(np.mean(pruned.infer_cycles)),
        "infer_speedup": float(np.mean(dense.infer_cycles) / max(np.mean(pruned.infer_cycles), 1)),
        # the cycles no P-lane core can beat: the live synapses the sample integrates, P a cycle
        "infer_floor_pruned": float(np.mean([r.syn_events for r in pruned.infer_results])
                                    / cfg.lanes),
        "learn_energy_dense_uj": le_d.energy_uj, "learn_energy_pruned_uj": le_p.energy_uj,
        "learn_energy_saving": 1 - le_p.energy_uj / le_d.energy_uj,
        "infer_energy_dense_uj": ie_d.energy_uj, "infer_energy_pruned_uj": ie_p.energy_uj,
        "infer_energy_saving": 1 - ie_p.energy_uj / ie_d.energy_uj,
        "prune_power_overhead": le_p.prune_energy_share,
    }


@dataclass
class ExperimentResult:
    """Everything ``run_experiment`` computed; ``summary()`` is what results.json holds."""

    dataset: str
    seeds: list[int]
    per_seed: list[dict[str, float]]
    rtl: dict[str, Any]
    sweep: list[dict[str, float]]
    first: tuple[RunFigures, RunFigures] | None = None  # dense, pruned of the first seed
    rtl_times: np.ndarray | None = None
    energy_model: str = ""
    policy: str = "threshold"
    pruned_config: Config | None = None  # the pruned run's configuration (first seed)

    @property
    def rtl_ok(self) -> bool:
        """False when the RTL check ran and failed; a check that did not run is no failure
        (``rtl["ran"]`` says whether it ran, and the table says so)."""
        return not self.rtl.get("ran") or bool(self.rtl.get("ok"))

    def summary(self) -> dict[str, Any]:
        sweep_key = "prune_threshold_sweep" if self.policy == "threshold" else "density_sweep"
        out: dict[str, Any] = {"dataset": self.dataset, "seeds": self.seeds,
                               "energy_model": self.energy_model, "published": PUBLISHED,
                               "goal": GOAL, "rtl": self.rtl, sweep_key: self.sweep,
                               "per_seed": self.per_seed, "rewire_policy": self.policy}
        if self.pruned_config is not None:
            out["pruned_config"] = self.pruned_config.to_dict()
        for key in METRICS:
            vals = np.array([s[key] for s in self.per_seed], dtype=float)
            finite = vals[np.isfinite(vals)]
            out[key] = float(finite.mean()) if len(finite) else None
            out[f"{key}_std"] = float(finite.std()) if len(finite) else None
            out[f"{key}_per_seed"] = [float(v) if np.isfinite(v) else None for v in vals]
        return out


def run_rtl_check(net: Network, labels: np.ndarray, times: np.ndarray, *,
                  simulator: str = "auto") -> dict[str, Any]:
    """Simulate ``times`` (inference) on ``net`` in RTL; ok iff no mismatch, every sample ran and
    every per-phase cycle count equals the cycle model's."""
    from .sim.cases import Case
    from .sim.runner import resolve_simulator, run_case

    simulator = resolve_simulator(simulator)
    hw_labels = np.where(labels == UNLABELLED, 0xF, labels)
    case = Case.from_network("experiment", net, times, np.zeros(len(times), bool), hw_labels)
    expected = [sample_cycles(net.cfg, net.run_sample(t, learn=False)).as_dict() for t in times]
    summary = run_case(case, simulator=simulator)
    got = summary.get("cycles", [])
    cycles_equal = got == expected
    ok = summary.get("mismatches", 1) == 0 and summary.get("samples") == len(times) and cycles_equal
    return {"ok": ok, "samples": summary.get("samples"), "mismatches": summary.get("mismatches"),
            "first_mismatch": summary.get("first_mismatch"), "cycles_equal_model": cycles_equal,
            "spikes_compared": summary.get("spikes_compared"), "simulator": simulator,
            "cycles_per_sample": summary.get("cycles_per_sample"),
            "rtl_spikes": summary.get("rtl_spikes", [])}


def sparse_threshold(base: Config, density: float) -> int:
    """The neuron threshold of a sparse start at ``density`` (see SPARSE_THRESHOLD_GAIN)."""
    return round(base.threshold * min(1.0, SPARSE_THRESHOLD_GAIN * density))


def sparse_config(base: Config, policy: str, changes: dict[str, Any] | None = None) -> Config:
    """The pruned run's configuration of ``policy``: pruning on, the policy, and for a policy
    that starts sparse the scaled threshold at its density, then ``changes`` (which may set
    the density, the threshold or any other field)."""
    changes = dict(changes or {})
    cfg = base.replace(prune_enabled=True, rewire_policy=policy)
    if policy == "threshold":
        return cfg.replace(**changes)
    density = float(changes.get("rewire_density", cfg.rewire_density))
    threshold = int(changes.pop("threshold", sparse_threshold(base, density)))
    return cfg.replace(threshold=threshold, **changes)


def run_experiment(base: Config, split: Split, *, seeds: Sequence[int], rtl_samples: int = 20,
                   sweep_thresholds: Sequence[int] = (), progress: bool = True,
                   simulator: str = "auto", board: str = "ulx3s",
                   fmax_mhz: float | None = None, policy: str = "threshold",
                   changes: dict[str, Any] | None = None,
                   sweep_densities: Sequence[float] = ()) -> ExperimentResult:
    """Dense vs pruned learning for each seed, an RTL check, and a sweep (first seed, pruned
    runs only): of the prune threshold (``sweep_thresholds``, policy "threshold") or of the
    density (``sweep_densities``, the other policies). The pruned runs use
    ``sparse_config(base, policy, changes)``. Energy is estimated for ``board`` at
    ``fmax_mhz`` (default: the board's target clock)."""
    from .boards.platforms import device_spec

    if fmax_mhz is None:
        fmax_mhz = device_spec(board).target_mhz
    train, test = encode(split.x_train, base), encode(split.x_test, base)
    per_seed: list[dict[str, float]] = []
    first: tuple[RunFigures, RunFigures] | None = None
    for seed in progress_bar(list(seeds), desc="seeds", unit="seed", disable=not progress):
        cfg = base.replace(seed=int(seed))
        dense = train_and_cost(cfg.replace(prune_enabled=False), train, split.y_train, test,
                               split.y_test, progress=progress, desc=f"seed {seed} dense")
        pruned = train_and_cost(sparse_config(cfg, policy, changes), train, split.y_train, test,
                                split.y_test, progress=progress, desc=f"seed {seed} {policy}")
        per_seed.append(compare(dense, pruned, board=board, fmax_mhz=fmax_mhz))
        dense.learn_results.clear()  # the power model has them; free the memory
        dense.infer_results.clear()
        if first is None:
            first = (dense, pruned)
    assert first is not None, "need at least one seed"
    sweep = []
    cfg0 = base.replace(seed=int(seeds[0]))
    dense0 = first[0]
    points: list[tuple[str, Any]] = (
        [("prune_threshold", int(t)) for t in sweep_thresholds] if policy == "threshold"
        else [("rewire_density", float(d)) for d in sweep_densities])
    for key, value in progress_bar(points, desc="sweep", disable=not progress):
        run_changes = {k: v for k, v in (changes or {}).items() if k != "threshold"}
        run = train_and_cost(sparse_config(cfg0, policy, {**run_changes, key: value}), train,
                             split.y_train, test, split.y_test, progress=False)
        sweep.append({key: value, "accuracy": run.accuracy,
                      "connectivity_removed": 1 - run.net.live / run.net.mask.size,
                      "learn_speedup": dense0.learn_cycles / max(run.learn_cycles, 1),
                      "infer_speedup": float(np.mean(dense0.infer_cycles)
                                             / max(np.mean(run.infer_cycles), 1))})
    rtl_times = test[:rtl_samples]
    rtl: dict[str, Any] = {"ran": False, "ok": None, "samples": 0,
                           "why_not": "rtl_samples = 0"}
    if rtl_samples > 0:
        rtl = {"ran": True, **run_rtl_check(first[1].net, first[1].labels, rtl_times,
                                            simulator=simulator)}
    model = (f"boards.power.estimate_energy({board!r}, fmax {fmax_mhz:g} MHz): static + "
             f"activity x coefficients, docs/power_model.md (estimate, see its band)")
    return ExperimentResult(split.name, [int(s) for s in seeds], per_seed, rtl, sweep, first,
                            rtl_times, model, policy, first[1].net.cfg)


def format_table(summary: dict[str, Any]) -> str:
    """The results side by side with the published figures and the goal, as plain text."""

    # The results hold fractions (docs/results_keys.md); the table shows them as % or points.
    scale = {"%": 100.0, "": 1.0, "x": 1.0, " points": 100.0}

    def fmt(key: str, unit: str) -> str:
        mean, std = summary.get(key), summary.get(f"{key}_std")
        if mean is None:
            return "n/a"
        k = scale[unit]
        if len(summary["seeds"]) > 1:
            return f"{k * mean:.2f}{unit} ± {k * std:.2f}"
        return f"{k * mean:.2f}{unit}"

    def published(ref: str) -> str:
        value = PUBLISHED[ref]
        if ref == "accuracy_change":
            return "(no loss)"
        return f"{value:g}x" if ref.endswith("speedup") else f"{100 * value:g}%"

    rows = [("accuracy dense", "accuracy_dense", "%", None),
            ("accuracy pruned", "accuracy_pruned", "%", None),
            ("accuracy change", "accuracy_change", " points", "accuracy_change"),
            ("connections removed", "connectivity_removed", "%", "connectivity_removed"),
            ("learning speed-up (cycles)", "learn_speedup", "x", "learn_speedup"),
            ("learning energy saving", "learn_energy_saving", "%", "learn_energy_saving"),
            ("inference speed-up (cycles)", "infer_speedup", "x", "infer_speedup"),
            ("inference energy saving", "infer_energy_saving", "%", "infer_energy_saving"),
            ("prune unit power overhead", "prune_power_overhead", "%", "prune_power_overhead"),
            ("inference cycles/sample dense", "infer_cycles_dense", "", None),
            ("inference cycles/sample pruned", "infer_cycles_pruned", "", None)]
    if "infer_floor_pruned" in summary:  # the layer core's experiment (not the deep chain's)
        rows.append(("  of which live synapses / lanes", "infer_floor_pruned", "", None))
    lines = [f"{'figure':<32} {'ours':>20} {'published':>16} {'goal':>16}", "-" * 87]
    for label, key, unit, ref in rows:
        pub = "" if ref is None or ref not in PUBLISHED else published(ref)
        goal = GOAL.get(ref, "") if ref else ""
        lines.append(f"{label:<32} {fmt(key, unit):>20} {pub:>16} {goal:>16}")
    rtl = summary["rtl"]
    lines.append("-" * 87)
    if rtl.get("ran"):
        lines.append(f"RTL check: {rtl.get('samples')} test samples, mismatches "
                     f"{rtl.get('mismatches')}, cycles equal to model: "
                     f"{rtl.get('cycles_equal_model')} -> {'PASS' if rtl.get('ok') else 'FAIL'}")
    else:
        lines.append(f"RTL check: not run ({rtl.get('why_not', 'no samples')})")
    lines.append(f"energy: {summary['energy_model']}")
    policy = summary.get("rewire_policy", "threshold")
    if policy != "threshold":
        cfg = summary.get("pruned_config", {})
        lines.append(f"policy {policy}: density {cfg.get('rewire_density')}, neuron threshold "
                     f"{cfg.get('threshold')}; the cycles include the regrowth and the rewire "
                     f"commands (the chip's REGROW)")
    return "\n".join(lines)
