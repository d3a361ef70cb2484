"""The deep chain's board report (``make report NETWORK=deep``): the build's utilization, Fmax and
critical path, and each layer's inference latency at the achieved Fmax.

``make_deep_report(board)`` reads a finished chain build (``build/<board>-deep/``:
``build_info.json`` with its ``deep`` entry, ``nextpnr_report.json``), runs ``n_infer`` samples
of the board's data (``boards.report.report_data``: MNIST with ``data_dir``, else the built-in
digits scaled to 28x28) through the golden model's fresh network (its initial kernels, nothing
pruned yet), costs every layer's core with its cycle model (``deep_experiment.infer_cycles``:
the models that equal the cores' counters) and writes ``deep_report.json``. A sample's cores
work one after the other, so the chain's latency is their sum.

Learning: for each layer that learns on the chain (conv layers; the classifier only with the
"wta" rule), the whole chain's cycles per learning sample of ``n_learn`` samples, from a fresh
network (``learning_cycles``).

Not in it yet: energy and power per layer (``boards.power`` models the layer core only) and
the pruning logic's share of area and power (the conv cores' learning units are not kept as
separate hierarchies in synthesis).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..model.deep_config import DeepConfig
from ..model.deep_network import DeepNetwork
from .build import NEXTPNR_REPORT, default_build_dir
from .build_outputs import (
    ReportError,
    clock_entry,
    critical_path,
    load_json,
    read_build_info,
    read_utilization,
)
from .report import report_data

DEEP_REPORT_JSON = "deep_report.json"


def learning_cycles(config: DeepConfig, lanes: tuple[int, ...], times: np.ndarray
                    ) -> dict[int, float]:
    """Mean cycles of the whole chain per learning sample of each layer that can learn on it
    (a conv layer, a "wta" classifier), every core's phases summed as its counters count them
    (``sim.chain_model.model_sample``: the layers below infer, the layers above infer on the
    learning layer's output), from a fresh network for each layer."""
    from ..sim.chain_harness import describe_chain
    from ..sim.chain_model import model_sample

    chain = describe_chain(config, lanes)
    out = {}
    for n in config.learning_layers():
        spec = config.layers[n]
        if spec.type == "classifier" and getattr(spec, "rule", "") != "wta":
            continue  # the chain's classifier learns with "wta" only
        net = DeepNetwork(config)
        total = 0
        for x in times:
            exp = model_sample(net, chain, x, n)
            counts = [*exp.conv_counters.values(), *exp.pool_counters.values(),
                      exp.clf_counters]
            total += sum(v for c in counts for k, v in c.items()
                         if k.name.endswith("_CYCLES") and k.name != "STALL_CYCLES")
        out[n] = total / len(times)
    return out


def make_deep_report(board: str, *, build_dir: str | Path | None = None,
                     data_dir: str | Path | None = None, n_learn: int = 20, n_infer: int = 100,
                     write: bool = True) -> dict[str, Any]:
    """The report of the chain build of ``board`` (see the module docstring); ``ReportError``
    when the build is missing, incomplete or not a chain build."""
    from ..deep_experiment import geometries, infer_cycles
    from .platforms import board_spec

    spec = board_spec(board)
    out = Path(build_dir) if build_dir is not None else default_build_dir(spec.name, deep=True)
    info = read_build_info(out)
    if info.get("board") != spec.name:
        raise ReportError(f"{out} holds a build of {info.get('board')}, not {spec.name}")
    if not info.get("deep"):
        raise ReportError(f"{out} holds a layer build, not the deep chain (make report without "
                          f"NETWORK=deep)")
    if n_infer < 1 or n_learn < 1:
        raise ValueError("n_learn and n_infer must be >= 1")
    config = DeepConfig.from_dict(info["deep"]["config"])
    lanes = tuple(info["deep"]["conv_lanes"])
    nextpnr = load_json(out / NEXTPNR_REPORT, "nextpnr report")
    target = float(info["target_mhz"])
    clock, entry = clock_entry(nextpnr, target)
    fmax = float(entry["achieved"])
    learn_images, images, note = report_data(config, n_learn=n_learn, n_infer=n_infer,
                                             data_dir=data_dir)
    net = DeepNetwork(config)
    per_layer = infer_cycles(net, geometries(config, lanes), net.encode(images)).mean(axis=0)
    learning = learning_cycles(config, lanes, net.encode(learn_images))
    layers = [{"layer": n, "type": spec_.type, "cycles": float(c), "latency_us": float(c) / fmax,
               "learning_cycles": learning.get(n),
               "learning_latency_us": None if n not in learning else learning[n] / fmax}
              for n, (spec_, c) in enumerate(zip(config.layers, per_layer, strict=True))]
    report: dict[str, Any] = {
        "board": spec.name, "device": info["device"], "part": info["part"],
        "clock_net": clock, "fmax_mhz": fmax, "target_mhz": target,
        "timing_met": fmax >= target, "utilization": read_utilization(out),
        "critical_path": critical_path(nextpnr, clock),
        "shapes": [list(s) for s in config.shapes()], "conv_lanes": list(lanes),
        "layers": layers, "cycles_inference": float(per_layer.sum()),
        "latency_us_inference": float(per_layer.sum()) / fmax,
        "latency_us_inference_at_target": float(per_layer.sum()) / target,
        "data": {"source": note, "inference_samples": len(images),
                 "learning_samples": len(learn_images),
                 "network": "the configuration's fresh network (initial kernels, none pruned)"},
        "build": {k: info.get(k) for k in ("seed", "placer", "tmg_ripup", "toolchain", "phase_s",
                                           "bitstream", "baud")},
    }
    if write:
        (out / DEEP_REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def format_deep_report(r: dict[str, Any]) -> str:
    """The report as a text table."""
    lines = [f"{r['board']} ({r['part']}), deep chain "
             + " -> ".join("x".join(map(str, s)) for s in r["shapes"])
             + f", conv lanes {r['conv_lanes']}"]
    u = r["utilization"]
    for key, label in (("lut", "LUT4"), ("ff", "flip-flops"), ("block_ram", "block RAM"),
                       ("dsp", "DSP")):
        if key in u:
            lines.append(f"  {label:<22}{u[key]['used']:>8,.0f} / {u[key]['available']:,.0f} "
                         f"{100 * u[key]['fraction']:5.1f} %")
    verdict = "met" if r["timing_met"] else "MISSED"
    lines.append(f"  {'Fmax':<22}{r['fmax_mhz']:7.1f} MHz (target {r['target_mhz']:g} MHz, "
                 f"{verdict})")
    cp = r.get("critical_path")
    if cp:
        lines.append(f"  {'critical path':<22}{cp['delay_ns']:.2f} ns, {cp['logic_levels']} "
                     f"logic levels ({cp['logic_ns']:.2f} ns logic, {cp['routing_ns']:.2f} ns "
                     f"routing): {cp['from_cell']} -> {cp['to_cell']}.{cp['to_port']}")
    for row in r["layers"]:
        name = f"layer {row['layer']} {row['type']}"
        learn = ("" if row["learning_cycles"] is None else
                 f"; learning it: chain {row['learning_latency_us']:9.2f} us "
                 f"({row['learning_cycles']:,.0f} cycles)")
        lines.append(f"  {name:<22}inference {row['latency_us']:9.2f} us "
                     f"({row['cycles']:,.0f} cycles){learn}")
    lines.append(f"  {'chain, per inference':<22}{r['latency_us_inference']:9.2f} us "
                 f"({r['cycles_inference']:,.0f} cycles at Fmax; "
                 f"{r['latency_us_inference_at_target']:.2f} us at {r['target_mhz']:g} MHz)")
    d = r["data"]
    lines.append(f"  {'data':<22}{d['source']}: {d['inference_samples']} samples, "
                 f"{d['network']}")
    return "\n".join(lines)


__all__ = ["DEEP_REPORT_JSON", "format_deep_report", "make_deep_report"]
