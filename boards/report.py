"""The board report: utilization, Fmax, latency and energy per sample, the pruning unit's share.

``make_report(board)`` reads a finished build (``build/<board>/``: ``build_info.json``,
``nextpnr_report.json``, ``top_stat.json``), runs the golden model on a sample of the board's
default data (learning from the initial weights, then inference with the learned weights),
costs every sample with the cycle model and the power model (``boards.power``) at the achieved
Fmax, and writes ``build/<board>/report.json``. ``format_report`` prints it as a table.

Data: the configuration's image size decides. 8x8 layers use scikit-learn's built-in digits;
28x28 layers use MNIST IDX files when ``data_dir`` is given, else the built-in digits scaled 3x
to 24x24 in the middle of a 28x28 frame (``upscaled_digits``), so no download is needed.

Report keys (``report.json``): ``fmax_mhz``, ``target_mhz``, ``timing_met``, ``utilization``
(per resource: used, available, fraction), ``critical_path``, ``latency_us_inference``,
``latency_us_learning``, ``energy_uj_inference`` / ``_learning`` with ``_low`` / ``_high``,
``power_mw_inference`` / ``_learning``, ``prune_unit_power_share``, ``prune_unit_area_share``,
``prune_unit`` (cells, shares, the paper's 0.56 %), ``energy_inference`` / ``energy_learning``
(the full ``EnergyEstimate``), ``data`` and ``build``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..model.config import Config
from ..model.deep_config import DeepConfig
from ..model.network import Network, SampleResult
from .build import BUILD_ROOT, NEXTPNR_REPORT
from .build_outputs import (
    ReportError,
    cell_counts,
    clock_entry,
    critical_path,
    load_json,
    read_build_info,
    read_prune_cells,
    read_stat,
    read_utilization,
)
from .power import PAPER_PRUNE_POWER_OVERHEAD, DesignFacts, estimate_energy

REPORT_JSON = "report.json"
DEFAULT_LEARN_SAMPLES = 200
DEFAULT_INFER_SAMPLES = 200

# ------------------------------------------------------------------------------------------
# Data

def upscaled_digits(images: np.ndarray) -> np.ndarray:
    """8x8 digits scaled 3x (pixel repetition) to 24x24 and centred in a 28x28 frame, like
    MNIST's 20x20 digits in their 28x28 box."""
    big = np.kron(np.asarray(images, dtype=np.uint8), np.ones((3, 3), dtype=np.uint8))
    out = np.zeros((len(big), 28, 28), dtype=np.uint8)
    out[:, 2:26, 2:26] = big
    return out


def report_data(cfg: Config | DeepConfig, *, n_learn: int, n_infer: int,
                data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(learning images, inference images, description) sized for ``cfg``'s images (a layer's
    or a deep network's configuration)."""
    from ..model.datasets import find_mnist, load_digits_split, load_idx_pair

    shape = tuple(cfg.image_shape)
    if data_dir is not None:
        if shape != (28, 28):
            raise ValueError(f"--data gives 28x28 MNIST images; this layer takes {shape}")
        images, labels = find_mnist(data_dir)
        x, _y = load_idx_pair(images, labels)
        if len(x) < n_learn + n_infer:
            raise ValueError(f"{images}: {len(x)} images, need {n_learn + n_infer}")
        return x[:n_learn], x[-n_infer:], f"MNIST {images}"
    split = load_digits_split()
    if shape == (8, 8):
        return split.x_train[:n_learn], split.x_test[:n_infer], "built-in digits (8x8)"
    if shape == (28, 28):
        return (upscaled_digits(split.x_train[:n_learn]), upscaled_digits(split.x_test[:n_infer]),
                "built-in digits scaled 3x to 24x24 in a 28x28 frame")
    raise ValueError(f"no built-in data of shape {shape}; give MNIST with --data")


def run_samples(cfg: Config, learn_images: np.ndarray, infer_images: np.ndarray
                ) -> tuple[list[SampleResult], list[SampleResult], Network]:
    """Learn on ``learn_images`` from the initial weights, then infer ``infer_images``."""
    from ..model.encoding import encode

    net = Network(cfg)
    learned = [net.run_sample(t, learn=True) for t in encode(learn_images, cfg)]
    inferred = [net.run_sample(t, learn=False) for t in encode(infer_images, cfg)]
    return learned, inferred, net


# ------------------------------------------------------------------------------------------

def make_report(board: str, *, build_dir: str | Path | None = None,
                data_dir: str | Path | None = None, n_learn: int = DEFAULT_LEARN_SAMPLES,
                n_infer: int = DEFAULT_INFER_SAMPLES, write: bool = True) -> dict[str, Any]:
    """The report of the build of ``board`` (see the module docstring); written to
    ``<build_dir>/report.json`` when ``write``. Raises ``ReportError`` when the build is missing
    or incomplete."""
    from .platforms import board_spec

    spec = board_spec(board)
    out = Path(build_dir) if build_dir is not None else BUILD_ROOT / spec.name
    info = read_build_info(out)
    if info.get("board") != spec.name:
        raise ReportError(f"{out} holds a build of {info.get('board')}, not {spec.name}")
    if n_learn < 1 or n_infer < 1:
        raise ValueError("n_learn and n_infer must be >= 1")
    cfg = Config.from_dict(info["config"])
    nextpnr = load_json(out / NEXTPNR_REPORT, "nextpnr report")
    target = float(info["target_mhz"])
    clock, entry = clock_entry(nextpnr, target)
    fmax = float(entry["achieved"])
    util = read_utilization(out)
    prune_cells = read_prune_cells(out)
    stat_luts, _ = cell_counts(read_stat(out).get("design", {}))
    design = DesignFacts(logic_cells=int(util["logic_cells"]["used"]),
                         block_rams=int(util["block_ram"]["used"]), dsps=int(util["dsp"]["used"]),
                         prune_cells=prune_cells or 0, source=f"build {out}")

    learn_x, infer_x, data_note = report_data(cfg, n_learn=n_learn, n_infer=n_infer,
                                              data_dir=data_dir)
    learned, inferred, net = run_samples(cfg, learn_x, infer_x)
    e_learn = estimate_energy(spec.name, cfg, learned, learn=True, fmax_mhz=fmax,
                              device=info["device"], design=design)
    e_infer = estimate_energy(spec.name, cfg, inferred, learn=False, fmax_mhz=fmax,
                              device=info["device"], design=design)
    area_share = (prune_cells / stat_luts) if (prune_cells is not None and stat_luts) else None
    report: dict[str, Any] = {
        "board": spec.name, "device": info["device"], "part": info["part"],
        "clock_net": clock, "fmax_mhz": fmax, "target_mhz": target,
        "timing_met": fmax >= target,
        "utilization": util,
        "critical_path": critical_path(nextpnr, clock),
        "latency_us_inference": e_infer.latency_us,
        "latency_us_learning": e_learn.latency_us,
        "latency_us_inference_at_target": e_infer.cycles_mean / target,
        "latency_us_learning_at_target": e_learn.cycles_mean / target,
        "cycles_inference": e_infer.cycles_mean, "cycles_learning": e_learn.cycles_mean,
        "energy_uj_inference": e_infer.energy_uj,
        "energy_uj_inference_low": e_infer.energy_uj_low,
        "energy_uj_inference_high": e_infer.energy_uj_high,
        "energy_uj_learning": e_learn.energy_uj,
        "energy_uj_learning_low": e_learn.energy_uj_low,
        "energy_uj_learning_high": e_learn.energy_uj_high,
        "power_mw_inference": e_infer.power_mw, "power_mw_learning": e_learn.power_mw,
        "prune_unit_power_share": e_learn.prune_energy_share,
        "prune_unit_area_share": area_share,
        "prune_unit": {
            "module": info.get("prune_module"), "luts": prune_cells, "design_luts": stat_luts,
            "area_share": area_share, "power_share_learning": e_learn.prune_energy_share,
            "dynamic_power_share_learning": e_learn.prune_dynamic_share,
            "power_share_inference": e_infer.prune_energy_share,
            "paper_power_overhead": PAPER_PRUNE_POWER_OVERHEAD,
        },
        "energy_learning": e_learn.to_dict(), "energy_inference": e_infer.to_dict(),
        "data": {"source": data_note, "learning_samples": len(learned),
                 "inference_samples": len(inferred),
                 "live_fraction_after_learning": net.live / net.mask.size},
        "config": cfg.to_dict(),
        "build": {k: info.get(k) for k in ("seed", "placer", "tmg_ripup", "toolchain", "phase_s",
                                           "bitstream", "pll", "baud", "requested_mhz")},
    }
    if write:
        _write_json(out / REPORT_JSON, report)
    return report


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_plain(data), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _pct(u: dict[str, float]) -> str:
    return f"{int(u['used']):>7,} / {int(u['available']):>7,}  {100 * u['fraction']:5.1f} %"


def format_report(r: dict[str, Any]) -> str:
    """The report as a text table."""
    lines = [f"{r['board']} ({r['part']}), layer {r['config']['n_inputs']} x "
             f"{r['config']['n_neurons']} on {r['config']['lanes']} lanes"]
    u = r["utilization"]
    for key, label in (("lut", "LUT4"), ("ff", "flip-flops"), ("logic_cells", "logic cells"),
                       ("block_ram", "block RAM"), ("spram", "SPRAM"), ("dsp", "DSP")):
        if key in u:
            lines.append(f"  {label:<22}{_pct(u[key])}")
    verdict = "met" if r["timing_met"] else "MISSED"
    lines.append(f"  {'Fmax':<22}{r['fmax_mhz']:7.1f} MHz (target {r['target_mhz']:g} MHz, "
                 f"{verdict})")
    cp = r.get("critical_path")
    if cp and not r["timing_met"]:
        lines.append(f"  {'critical path':<22}{cp['delay_ns']:.1f} ns, {cp['logic_levels']} "
                     f"logic levels ({cp['logic_ns']:.1f} ns logic, {cp['routing_ns']:.1f} ns "
                     f"routing)")
        lines.append(f"  {'':<22}{cp['from_cell']} -> {cp['to_cell']}.{cp['to_port']}")
        lines.append(f"  {'':<22}via " + " > ".join(cp["nets"][:12])
                     + (" > ..." if len(cp["nets"]) > 12 else ""))
    for kind in ("inference", "learning"):
        lines.append(f"  {'latency ' + kind:<22}{r['latency_us_' + kind]:9.2f} us "
                     f"({r['cycles_' + kind]:.0f} cycles at Fmax)")
    for kind in ("inference", "learning"):
        lines.append(f"  {'energy ' + kind:<22}{r['energy_uj_' + kind]:9.3f} uJ "
                     f"[{r['energy_uj_' + kind + '_low']:.3f} .. "
                     f"{r['energy_uj_' + kind + '_high']:.3f}], "
                     f"{r['power_mw_' + kind]:.1f} mW")
    p = r["prune_unit"]
    area = "n/a" if p["area_share"] is None else f"{100 * p['area_share']:.2f} %"
    lines.append(f"  {'pruning unit':<22}area {area} ({p['luts']} of {p['design_luts']} LUT4), "
                 f"power {100 * p['power_share_learning']:.3f} % of learning energy "
                 f"(paper: {100 * p['paper_power_overhead']:.2f} %)")
    d = r["data"]
    lines.append(f"  {'data':<22}{d['source']}: {d['learning_samples']} learning + "
                 f"{d['inference_samples']} inference samples, "
                 f"{100 * d['live_fraction_after_learning']:.1f} % synapses live after")
    return "\n".join(lines)


__all__ = ["REPORT_JSON", "format_report", "make_report", "report_data", "run_samples",
           "upscaled_digits"]
