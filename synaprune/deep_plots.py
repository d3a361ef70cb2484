"""Pictures of a deep run (matplotlib, Agg, PNG): learned kernels with pruned entries marked,
live kernel entries over learning, and accuracy against the share of entries removed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .deep_fit import DeepResult
from .model.deep_network import ConvLayer
from .plots import _plt


def plot_deep(result: DeepResult, out: str | Path) -> list[Path]:
    """Kernels of every conv layer and the live-entry trace, into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_kernels(layer, n, out / f"kernels_layer{n}.png")
             for n, layer in result.net.conv_layers()]
    if result.trace.points:
        paths.append(plot_live(result, out / "live_entries.png"))
    return paths


def kernel_image(layer: ConvLayer, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel m of a two-channel (ON/OFF) layer as one k x k image, ON minus OFF, and the
    entries pruned in both channels."""
    w = (layer.weights[m] * layer.mask[m]).astype(float)
    return w[0] - w[1], ~layer.mask[m, 0] & ~layer.mask[m, 1]


def plot_kernels(layer: ConvLayer, n: int, path: Path, n_show: int = 32) -> Path:
    """Conv layer ``n``'s kernels. On ON/OFF input: the first ``n_show`` kernels as images, red
    dots on pruned entries. Otherwise one matrix, a row per map and a column per entry
    (channel-major), grey levels for live weights and red for pruned entries."""
    plt = _plt()
    w_max = layer.cfg.w_max
    title = f"layer {n} kernels ({layer.live} of {layer.mask.size} entries live; red: pruned)"
    if layer.weights.shape[1] != 2:
        maps = layer.spec.maps
        w = (layer.weights * layer.mask).reshape(maps, -1) / w_max
        rgb = np.repeat(w[..., None], 3, axis=2)
        rgb[~layer.mask.reshape(maps, -1)] = (0.85, 0.1, 0.1)
        fig, ax = plt.subplots(figsize=(min(12, 2 + rgb.shape[1] / 12), 2 + maps / 14))
        ax.imshow(rgb, aspect="auto", interpolation="nearest")
        ax.set_xlabel("kernel entry (channel, row, column)")
        ax.set_ylabel("map")
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path
    n_show = min(n_show, layer.spec.maps)
    cols = 8
    rows = -(-n_show // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.4 * rows), squeeze=False)
    for m, ax in enumerate(axes.flat):
        ax.axis("off")
        if m >= n_show:
            continue
        img, dead = kernel_image(layer, m)
        ax.imshow(img, cmap="RdBu_r", vmin=-w_max, vmax=w_max, interpolation="nearest")
        yy, xx = np.nonzero(dead)
        ax.scatter(xx, yy, s=8, c="red", marker=".", linewidths=0)
        ax.set_title(f"map {m}: {100 * layer.mask[m].mean():.0f}% live", fontsize=6)
    fig.suptitle(f"{title}; ON - OFF", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_live(result: DeepResult, path: Path) -> Path:
    """Live entries (% of the layer) of each learning layer over its learning samples."""
    plt = _plt()
    sizes = {r["layer"]: r["entries"] for r in result.layer_figures()}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    points = np.array(result.trace.points)
    for n in np.unique(points[:, 0]):
        p = points[points[:, 0] == n]
        ax.plot(p[:, 1], 100 * p[:, 2] / sizes[int(n)],
                label=f"layer {n} ({result.net.cfg.layers[int(n)].type})")
    ax.set_xlabel("learning sample of the layer")
    ax.set_ylabel("live entries (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_accuracy_vs_removed(points: Sequence[dict[str, Any]], path: Path) -> Path:
    """Test accuracy against the share of entries removed (``deep_commands.prune_sweep``: the
    learned network with every entry below a threshold removed as well), threshold annotated."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    x = [100 * p["removed"] for p in points]
    ax.plot(x, [100 * p["accuracy"] for p in points], "o-")
    for p, xi in zip(points, x, strict=True):
        ax.annotate(f"< {p['label']}", (xi, 100 * p["accuracy"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("kernel entries and classifier synapses removed (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("learned network, entries below a threshold removed", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_deep_learning(dense: Any, pruned: Any, path: Path) -> Path:
    """Per learning layer (``deep_experiment.DeepRun`` dense and pruned): the chain's cycles per
    learning sample (a running mean) and the layer's live entries over its learning."""
    from .plots import _smooth

    plt = _plt()
    layers = sorted(pruned.costs.learn)
    fig, axes = plt.subplots(1, len(layers), figsize=(4.5 * len(layers), 3.6), squeeze=False)
    for ax, n in zip(axes[0], layers, strict=True):
        for run, label, style in ((dense, "dense", "--"), (pruned, "pruned", "-")):
            c = np.asarray(run.costs.learn[n], dtype=float)
            ax.plot(_smooth(c, max(1, len(c) // 50)), style, label=f"cycles, {label}")
        ax.set_xlabel(f"learning sample of layer {n}")
        ax.set_ylabel("chain cycles per sample")
        ax.set_title(f"layer {n} ({pruned.result.net.cfg.layers[n].type})")
        live = ax.twinx()
        live.plot(pruned.costs.live[n], color="tab:green", label="live entries, pruned")
        live.set_ylabel("live entries")
        live.set_ylim(bottom=0)
        lines = ax.get_legend_handles_labels()
        more = live.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
