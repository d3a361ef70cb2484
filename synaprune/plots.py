"""Pictures of the pruning experiment (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .experiment import ExperimentResult


def _plt() -> Any:
    """pyplot on the Agg backend, imported lazily so the CLI starts fast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    n = max(1, min(n, len(x)))
    return np.convolve(x, np.ones(n) / n, mode="valid")


def plot_all(result: ExperimentResult, out: str | Path) -> list[Path]:
    """Write every picture of ``result`` into ``out``; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if result.sweep:
        paths.append(plot_sweep(result, out / "accuracy_vs_removed.png"))
    if result.first is not None:
        paths.append(plot_learning(result, out / "learning_curves.png"))
        paths.append(plot_fields(result, out / "receptive_fields.png"))
        if result.rtl_times is not None and len(result.rtl_times):
            paths.append(plot_raster(result, out / "raster.png"))
    return paths


def _point_label(point: dict[str, Any]) -> str:
    """A sweep point's label: its prune threshold or its density."""
    if "prune_threshold" in point:
        return f"thr {point['prune_threshold']}"
    return f"d {point['rewire_density']:g}"


def plot_pareto(results: list[ExperimentResult], path: Path) -> Path:
    """Test accuracy against learning speed-up in cycles: for every policy its operating point
    (mean over the seeds, error bars one standard deviation) and its sweep points (first seed),
    and the dense network (1x)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    dense = [s["accuracy_dense"] for r in results for s in r.per_seed]
    ax.plot([1.0], [100 * np.mean(dense)], "ks", label="dense")
    for k, r in enumerate(results):
        color = f"C{k}"
        acc = 100 * np.array([s["accuracy_pruned"] for s in r.per_seed])
        speed = np.array([s["learn_speedup"] for s in r.per_seed])
        ax.errorbar([speed.mean()], [acc.mean()], xerr=[speed.std()], yerr=[acc.std()],
                    fmt="o", color=color, ms=8, capsize=3, label=f"{r.policy} (operating point)")
        if r.sweep:
            sx = [p["learn_speedup"] for p in r.sweep]
            sy = [100 * p["accuracy"] for p in r.sweep]
            ax.plot(sx, sy, ".--", color=color, alpha=0.7, label=f"{r.policy} sweep")
            for p, xs, ys in zip(r.sweep, sx, sy, strict=True):
                ax.annotate(_point_label(p), (xs, ys), fontsize=6, xytext=(3, 3),
                            textcoords="offset points", color=color)
    ax.set_xlabel("learning speed-up in cycles (x, cycle model)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{results[0].dataset}: accuracy against learning speed-up")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_sweep(result: ExperimentResult, path: Path) -> Path:
    """Test accuracy against connections removed, one point per prune threshold or density."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    # the results hold fractions; the axes show percent
    x = [100 * s["connectivity_removed"] for s in result.sweep]
    y = [100 * s["accuracy"] for s in result.sweep]
    ax.plot(x, y, "o-")
    for s, xs, ys in zip(result.sweep, x, y, strict=True):
        ax.annotate(_point_label(s), (xs, ys), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("connections removed (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result.dataset}: accuracy vs pruning (seed {result.seeds[0]})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_learning(result: ExperimentResult, path: Path) -> Path:
    """Live connections and cycles per learning sample over the run, dense vs pruned."""
    assert result.first is not None
    plt = _plt()
    dense, pruned = result.first
    size = pruned.net.mask.size
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for run, name in ((dense, "dense"), (pruned, "pruned")):
        live = 100 * np.asarray(run.trace.live) / size
        a1.plot(live, label=name)
        cyc = np.asarray(run.trace.cycles, dtype=float)
        n = max(1, len(cyc) // 50)
        a2.plot(np.arange(len(_smooth(cyc, n))) + n - 1, _smooth(cyc, n),
                label=f"{name} (moving mean of {n})")
    a1.set_ylabel("live connections (%)")
    a2.set_ylabel("cycles per learning sample")
    a2.set_xlabel("learning sample")
    for a in (a1, a2):
        a.legend()
        a.grid(alpha=0.3)
    a1.set_title(f"{result.dataset}, seed {result.seeds[0]}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_fields(result: ExperimentResult, path: Path, n_show: int = 16) -> Path:
    """Learned weights of the first neurons as images; pruned synapses shown as red dots.

    With ON/OFF inputs the picture shows ON minus OFF weights and a pixel is marked when both of
    its synapses are pruned."""
    assert result.first is not None
    plt = _plt()
    net = result.first[1].net
    cfg = net.cfg
    h, w = cfg.image_shape
    n_show = min(n_show, cfg.n_neurons)
    cols = min(8, n_show)
    rows = -(-n_show // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n_show:
            continue
        wts = net.weights[:, k].astype(float)
        mask = net.mask[:, k]
        if cfg.on_off:
            img = (wts[:h * w] - wts[h * w:]).reshape(h, w)
            dead = (~mask[:h * w] & ~mask[h * w:]).reshape(h, w)
            ax.imshow(img, cmap="RdBu_r", vmin=-cfg.w_max, vmax=cfg.w_max)
        else:
            img = (wts * mask).reshape(h, w)
            dead = (~mask).reshape(h, w)
            ax.imshow(img, cmap="gray", vmin=0, vmax=cfg.w_max)
        yy, xx = np.nonzero(dead)
        ax.scatter(xx, yy, s=max(1.0, 160 / max(h, w)), c="red", marker=".", linewidths=0)
        label = result.first[1].labels[k]
        ax.set_title(f"n{k} " + (f"'{label}'" if label >= 0 else "-") +
                     f" {100 * mask.mean():.0f}%", fontsize=7)
    fig.suptitle("receptive fields of the pruned network (red: pruned, % = live)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_raster(result: ExperimentResult, path: Path) -> Path:
    """Input and output spikes of the first RTL test sample: the golden model's output spikes on
    the left, the spikes the RTL core streamed out (recorded by the cocotb testbench) on the
    right."""
    assert result.first is not None and result.rtl_times is not None
    plt = _plt()
    net, cfg = result.first[1].net, result.first[1].net.cfg
    times = result.rtl_times[0]
    res = net.run_sample(times, learn=False)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    inp = np.flatnonzero(times < cfg.never)
    rtl = [tuple(x) for x in (result.rtl.get("rtl_spikes") or [[]])[0]]
    titles = ("golden model",
              f"RTL (cocotb, {result.rtl.get('samples')} samples compared, "
              f"{result.rtl.get('mismatches')} mismatches)")
    for ax, title, spikes in zip(axes, titles, (res.spikes, rtl), strict=True):
        ax.scatter(times[inp], inp, s=6, c="grey", label="input spikes (index)")
        if spikes:
            t_out, j_out = zip(*spikes, strict=True)
            ax.scatter(t_out, j_out, s=30, c="red", marker="|", label="output spikes (neuron)")
        ax.set_xlim(-0.5, cfg.time_steps - 0.5)
        ax.set_xlabel("time step")
        ax.set_title(title, fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("input / neuron index")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
