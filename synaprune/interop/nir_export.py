"""A learned network as a NIR graph (Neuromorphic Intermediate Representation, PyPI ``nir``).

``export_graph(net, labels, ...)`` builds the graph of the fully connected layer core;
``write_nir`` writes any graph (HDF5, loads with ``nir.read``). The graph is a chain of nodes
built by ``Chain``; each kind of layer network adds its layers to it with an exporter from
``EXPORTERS`` (the layer core, ``layer``: ``Linear`` + ``IF``/``LIF``). The deep network's
graph (``nir_export_deep.export_deep_graph``: ``Conv2d``, pooling, ``Flatten`` nodes) is built
on the same ``Chain``, with ``export_layer`` for its classifier and ``graph_metadata`` for the
keys every graph carries.

Layer core::

    input (Input, n_inputs) -> fc (Linear: weight[j, i] = w[i, j] / w_max, pruned = 0)
    -> neurons (IF with r = 1, or LIF when the core leaks; v_threshold per neuron)
    -> output (Output, n_neurons)

What NIR cannot say goes into the graph's metadata under ``synaprune`` (docs/nir.md):
``fire_once``, ``winner_take_all`` (k winners end a sample), ``coding`` (``ttfs``: an input
spikes once, brighter earlier, ``time_steps`` steps of ``dt = 1``), ``weight_scale``,
``threshold_offset``, ``membrane_max`` (saturation), and what a checkpoint needs to come back
exactly: ``config`` (TOML), ``labels``, ``adapt``, ``mask``, ``lfsr_state``, ``dataset``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from ..model.network import Network
from .nir_mapping import (
    FORMAT,
    METADATA_KEY,
    THRESHOLD_OFFSET,
    leak_tau,
    thresholds_to_nir,
    weight_scale,
)

NOTES = ("Each neuron fires at most once per sample (fire_once); the first neuron to fire wins "
         "and a sample ends after k_winners winners (winner_take_all); inputs are "
         "time-to-first-spike coded (coding = ttfs: one spike per input, brighter pixels "
         "earlier, time_steps steps of dt = 1); the membrane is an integer in weight steps "
         "that saturates at membrane_max; NIR weight 1.0 = weight_scale steps; the neuron fires "
         "when v > v_threshold, i.e. v >= (v_threshold * weight_scale + threshold_offset).")


@dataclass
class Chain:
    """Nodes joined one after another: ``add`` appends a node and the edge from the last."""

    nodes: dict[str, Any] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, node: Any) -> Chain:
        if name in self.nodes:
            raise ValueError(f"node name {name!r} used twice")
        if self.nodes:
            self.edges.append((list(self.nodes)[-1], name))
        self.nodes[name] = node
        return self


def neuron_node(v_threshold: np.ndarray, leak_shift: int) -> Any:
    """NIR's IF (``r = 1``) for ``leak_shift`` 0, else the LIF of the core's leak
    (``nir_mapping``), with ``v_reset = 0``; one neuron per entry of ``v_threshold`` (any
    shape, e.g. (maps, H, W) after a convolution)."""
    import nir

    zeros = np.zeros(np.shape(v_threshold))
    if leak_shift == 0:
        return nir.IF(r=np.ones_like(zeros), v_threshold=v_threshold, v_reset=zeros)
    tau = np.full_like(zeros, leak_tau(leak_shift))
    return nir.LIF(tau=tau, r=tau.copy(), v_leak=zeros.copy(), v_threshold=v_threshold,
                   v_reset=zeros.copy())


def export_layer(chain: Chain, net: Network) -> dict[str, Any]:
    """Append the layer core's synapses and neurons to ``chain``; the metadata they need."""
    import nir

    cfg = net.cfg
    scale = weight_scale(cfg)
    weight = np.where(net.mask, net.weights, 0).T.astype(np.float64) / scale
    theta = cfg.threshold + net.adapt
    v_threshold = thresholds_to_nir(theta, scale)
    chain.add("fc", nir.Linear(weight=weight))
    chain.add("neurons", neuron_node(v_threshold, cfg.leak_shift))
    return {"adapt": net.adapt.astype(np.int64), "mask": net.mask.astype(bool),
            "lfsr_state": int(net.lfsr.peek_state()), "threshold": int(cfg.threshold),
            "leak_shift": int(cfg.leak_shift)}


# Layer network kinds and their exporters (the deep network: ``nir_export_deep``).
EXPORTERS: dict[str, Callable[[Chain, Network], dict[str, Any]]] = {"layer": export_layer}


def graph_metadata(*, network: str, dataset: str, config: dict[str, Any], labels: np.ndarray,
                   time_steps: int, scale: float, v_max: int, notes: str,
                   **extra: Any) -> dict[str, Any]:
    """The ``synaprune`` metadata every exported graph carries (format, network kind, data set,
    configuration as TOML, labels, TTFS coding, fire once, the quantisation), plus ``extra``."""
    return {
        "format": FORMAT, "network": network, "dataset": dataset,
        "config": tomli_w.dumps(config), "labels": np.asarray(labels, dtype=np.int64),
        "coding": "ttfs", "time_steps": int(time_steps), "dt": 1.0, "fire_once": True,
        "weight_scale": scale, "threshold_offset": THRESHOLD_OFFSET,
        "membrane_max": v_max / scale, "notes": notes, **extra,
    }


def export_graph(net: Network, labels: np.ndarray, *, dataset: str,
                 network: str = "layer") -> Any:
    """The NIR graph (``nir.NIRGraph``) of ``net`` with its neuron ``labels``."""
    import nir

    if network not in EXPORTERS:
        raise ValueError(f"no NIR exporter for network {network!r}; known: "
                         f"{', '.join(EXPORTERS)}")
    cfg = net.cfg
    chain = Chain().add("input", nir.Input(input_type={"input": np.array([cfg.n_inputs])}))
    layer_meta = EXPORTERS[network](chain, net)
    chain.add("output", nir.Output(output_type={"output": np.array([cfg.n_neurons])}))
    meta = graph_metadata(network=network, dataset=dataset, config=cfg.to_dict(), labels=labels,
                          time_steps=cfg.time_steps, scale=weight_scale(cfg), v_max=cfg.v_max,
                          notes=NOTES, winner_take_all=int(cfg.k_winners), **layer_meta)
    return nir.NIRGraph(nodes=chain.nodes, edges=chain.edges, metadata={METADATA_KEY: meta})


def write_nir(path: str | Path, graph: Any) -> Path:
    """Write ``graph`` to ``path`` (HDF5), atomically: a temporary file in the same directory
    renamed over ``path``, so a failed write leaves no half file. Returns the path."""
    import nir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
