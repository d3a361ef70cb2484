"""What a sweep's rows say: speed-ups against the dense references, a summary table, Pareto
pictures.

- ``add_speedups``: each ``ok`` row gets ``learn_speedup`` (reference learning cycles / its
  own), ``infer_speedup`` (the same per test sample) and ``accuracy_change`` (its accuracy minus
  the reference's, a difference of fractions), ``reference`` naming the dense point used; None
  where the reference failed or is missing.
- ``summarize`` / ``format_summary``: the rows grouped by their labels less the seed (mean and
  spread over seeds).
- ``plot_pareto``: accuracy against learning and inference speed-up (``pareto_speedup.png``)
  and against connections removed (``pareto_removed.png``); every point faint, the means of
  each group bold, the Pareto front of the means (no other group is at least as good on both
  axes and better on one) joined by a line.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

SPEEDUP_KEYS = ("learn_speedup", "infer_speedup", "accuracy_change", "reference")
SUMMARY_FIGURES = ("accuracy", "connectivity_removed", "learn_speedup", "infer_speedup",
                   "infer_cycles_per_sample", "accuracy_change")


def add_speedups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the speed-up keys (see the module docstring) added or refreshed."""
    by_id = {r["id"]: r for r in rows}
    out = []
    for row in rows:
        ref_id = (row.get("point") or {}).get("reference")
        ref = by_id.get(ref_id)
        ok = row["status"] == "ok" and ref is not None and ref["status"] == "ok"
        added = {
            "learn_speedup": ref["learn_cycles"] / max(row["learn_cycles"], 1) if ok else None,
            "infer_speedup": (ref["infer_cycles_per_sample"]
                              / max(row["infer_cycles_per_sample"], 1e-9)) if ok else None,
            "accuracy_change": row["accuracy"] - ref["accuracy"] if ok else None,
            "reference": ref_id,
        }
        # after id, status and error, so the CSV shows them next to the labels
        lead = {k: row[k] for k in ("id", "status", "error") if k in row}
        rest = {k: v for k, v in row.items() if k not in SPEEDUP_KEYS and k not in lead}
        out.append({**lead, **added, **rest})
    return out


def group_name(row: dict[str, Any]) -> str:
    """The row's labels less the seed, as ``policy=prune prune_threshold=16``."""
    labels = (row.get("point") or {}).get("labels", {})
    return " ".join(f"{k}={v}" for k, v in labels.items() if k != "seed")


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per group (labels less the seed) in first-seen order: ``group``, ``points``,
    ``failed`` and, for each of SUMMARY_FIGURES, its mean and standard deviation over the ok
    points (``<figure>`` and ``<figure>_std``; None without a value)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[group_name(row)].append(row)
    out = []
    for name, members in groups.items():
        ok = [r for r in members if r["status"] == "ok"]
        entry: dict[str, Any] = {"group": name, "points": len(members),
                                 "failed": len(members) - len(ok)}
        for key in SUMMARY_FIGURES:
            vals = np.array([r[key] for r in ok if r.get(key) is not None], dtype=float)
            entry[key] = float(vals.mean()) if len(vals) else None
            entry[f"{key}_std"] = float(vals.std()) if len(vals) else None
        out.append(entry)
    return out


def _cell(entry: dict[str, Any], key: str, scale: float, unit: str, digits: int) -> str:
    mean, std = entry[key], entry[f"{key}_std"]
    if mean is None:
        return "n/a"
    return f"{scale * mean:.{digits}f}{unit} ±{scale * std:.{digits}f}"


def format_summary(summary: list[dict[str, Any]]) -> str:
    """The summary as a text table: accuracies and removed connections in %, speed-ups as x."""
    width = max([len("group")] + [len(e["group"]) for e in summary])
    head = (f"{'group':<{width}} {'n':>3} {'accuracy':>15} {'change (pts)':>14} "
            f"{'removed':>15} {'learn speed-up':>15} {'infer speed-up':>15} "
            f"{'infer cyc/sample':>17}")
    lines = [head, "-" * len(head)]
    for e in summary:
        n = f"{e['points'] - e['failed']}" + (f"!{e['failed']}" if e["failed"] else "")
        lines.append(
            f"{e['group']:<{width}} {n:>3} {_cell(e, 'accuracy', 100, '%', 2):>15} "
            f"{_cell(e, 'accuracy_change', 100, '', 2):>14} "
            f"{_cell(e, 'connectivity_removed', 100, '%', 1):>15} "
            f"{_cell(e, 'learn_speedup', 1, 'x', 2):>15} "
            f"{_cell(e, 'infer_speedup', 1, 'x', 2):>15} "
            f"{_cell(e, 'infer_cycles_per_sample', 1, '', 0):>17}")
    return "\n".join(lines)


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates (>= on both, > on one), by ascending x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = [i for i in range(len(x))
            if not np.any((x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i])))]
    return np.array(sorted(keep, key=lambda i: x[i]), dtype=int)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panel(ax: Any, rows: list[dict[str, Any]], summary: list[dict[str, Any]], key: str,
           scale: float, xlabel: str) -> None:
    policies = list(dict.fromkeys(r["policy"] for r in rows if r["status"] == "ok"))
    colours = {p: f"C{k}" for k, p in enumerate(policies)}
    for row in rows:
        if row["status"] == "ok" and row.get(key) is not None:
            ax.scatter(scale * row[key], 100 * row["accuracy"], s=10, alpha=0.3,
                       color=colours[row["policy"]])
    means = [e for e in summary if e[key] is not None and e["accuracy"] is not None]
    if not means:
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center")
        return
    x = np.array([scale * e[key] for e in means])
    y = np.array([100 * e["accuracy"] for e in means])
    for e, xs, ys in zip(means, x, y, strict=True):
        policy = e["group"].split()[0].removeprefix("policy=")
        ax.errorbar(xs, ys, xerr=scale * e[f"{key}_std"], yerr=100 * e["accuracy_std"],
                    fmt="o", color=colours.get(policy, "k"), ms=5, capsize=2)
        tag = " ".join(part.split("=", 1)[1] for part in e["group"].split()[1:])
        if tag:
            ax.annotate(tag, (xs, ys), fontsize=6, xytext=(3, 3), textcoords="offset points")
    front = pareto_front(x, y)
    ax.plot(x[front], y[front], "-", color="grey", lw=1, marker="o", ms=11, mfc="none",
            label="Pareto front (group means)")
    for p in policies:
        ax.scatter([], [], color=colours[p], label=p)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_pareto(rows: list[dict[str, Any]], out: str | Path, title: str = "") -> list[Path]:
    """Write ``pareto_speedup.png`` and ``pareto_removed.png`` into ``out``; their paths."""
    plt = _plt()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    _panel(axes[0], rows, summary, "learn_speedup", 1, "learning speed-up (x, cycles)")
    _panel(axes[1], rows, summary, "infer_speedup", 1, "inference speed-up (x, cycles/sample)")
    fig.suptitle(f"{title}accuracy against speed-up (each against its dense reference)")
    fig.tight_layout()
    paths.append(out / "pareto_speedup.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    _panel(ax, rows, summary, "connectivity_removed", 100, "connections removed (%)")
    ax.set_title(f"{title}accuracy against connections removed", fontsize=10)
    fig.tight_layout()
    paths.append(out / "pareto_removed.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
