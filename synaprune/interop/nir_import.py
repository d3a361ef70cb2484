"""A NIR graph quantised into the layer core: a ``Network`` and labels a checkpoint can hold.

``import_graph(graph, base=...)`` accepts the chain the layer core runs::

    Input -> Linear (or Affine with a zero bias) -> IF (or LIF with v_leak 0, r = tau a power
    of two >= 2) -> Output

and raises ``NirImportError`` (a ``ValueError``: the CLI prints one line) naming the first node
it cannot map (a Conv2d, a pooling layer, a second layer, a negative weight, a threshold out of
range, ...). The mapping is ``synaprune.interop.nir_mapping``'s.

A graph this project exported carries ``synaprune`` metadata (configuration, labels, threshold
adaptation, connection mask, LFSR state, data set): the network comes back exactly. Any other
graph takes the rest of its configuration from ``base`` (the data set's preset or --config;
its sizes, threshold and leak from the graph), its weight scale from its largest weight
(that weight becomes ``w_max``), its mask from its non-zero weights, and its labels from the
usual one-output-per-class readout when it has at most ``N_CLASSES`` outputs (else unlabelled).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.config import Config
from ..model.network import Network
from ..model.readout import UNLABELLED
from .nir_mapping import FORMAT, METADATA_KEY, leak_shift_of, thresholds_from_nir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

N_CLASSES = 10
CHAIN = "Input -> Linear/Affine -> IF/LIF -> Output"


class NirImportError(ValueError):
    """The graph cannot be mapped onto the layer core; the message names the node."""


@dataclass
class Imported:
    """The quantised network, its labels and where they came from."""

    net: Network
    labels: np.ndarray
    dataset: str
    exact: bool  # from this project's metadata (bit-exact), not quantised from floats
    max_weight_error: float  # largest |NIR weight * scale - stored weight|, in weight steps


def _node_error(name: str, node: Any, why: str) -> NirImportError:
    return NirImportError(f"node {name!r} ({type(node).__name__}): {why}")


def _chain(graph: Any) -> list[tuple[str, Any]]:
    """The graph's nodes in order, or an error naming the node that breaks a simple chain of
    the supported types."""
    import nir

    nodes, edges = graph.nodes, list(graph.edges)
    nexts: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise NirImportError(f"edge {a!r} -> {b!r} names a node the graph does not have")
        nexts[a].append(b)
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise NirImportError(f"the layer core needs exactly one Input node, the graph has "
                             f"{len(inputs)}")
    supported = (nir.Input, nir.Linear, nir.Affine, nir.IF, nir.LIF, nir.Output)
    order, name = [], inputs[0]
    while True:
        node = nodes[name]
        if not isinstance(node, supported):
            raise _node_error(name, node, f"not supported by the layer core ({CHAIN})")
        order.append((name, node))
        if isinstance(node, nir.Output) or len(order) > len(nodes):
            break
        if len(nexts[name]) != 1:
            raise _node_error(name, node, f"feeds {len(nexts[name])} nodes; the layer core is "
                              f"one chain ({CHAIN})")
        name = nexts[name][0]
    kinds = [(nir.Input,), (nir.Linear, nir.Affine), (nir.IF, nir.LIF), (nir.Output,)]
    for k, (name, node) in enumerate(order):
        if k >= len(kinds) or not isinstance(node, kinds[k]):
            raise _node_error(name, node, f"the layer core runs {CHAIN}; this node is at "
                              f"position {k + 1}")
    if len(order) != len(kinds):
        raise NirImportError(f"the graph ends after {len(order)} nodes; the layer core runs "
                             f"{CHAIN}")
    unused = sorted(set(nodes) - {n for n, _ in order})
    if unused:
        name = unused[0]
        raise _node_error(name, nodes[name], f"not on the chain {CHAIN}")
    return order


def _metadata(graph: Any) -> dict[str, Any] | None:
    meta = (getattr(graph, "metadata", None) or {}).get(METADATA_KEY)
    if isinstance(meta, dict) and str(meta.get("format", "")) == FORMAT:
        return meta
    return None


def _neuron_params(name: str, node: Any, n: int) -> tuple[np.ndarray, int]:
    """(v_threshold, leak_shift) of an IF or LIF node, checked."""
    import nir

    v_thr = np.asarray(node.v_threshold, dtype=np.float64).reshape(-1)
    if v_thr.shape != (n,):
        raise _node_error(name, node, f"{v_thr.size} thresholds for {n} neurons")
    if np.any(np.asarray(node.v_reset, dtype=np.float64) != 0):
        raise _node_error(name, node, "v_reset must be 0 (a neuron fires once per sample)")
    if isinstance(node, nir.IF):
        if not np.allclose(node.r, 1.0):
            raise _node_error(name, node, "r must be 1 (the core adds each weight once)")
        return v_thr, 0
    tau = np.asarray(node.tau, dtype=np.float64).reshape(-1)
    shift = leak_shift_of(float(tau[0])) if len(tau) else None
    if shift is None or not np.allclose(tau, tau[0]):
        raise _node_error(name, node, "tau must be one power of two >= 2 for every neuron "
                          "(the core leaks v >> leak_shift)")
    if not np.allclose(node.r, tau) or np.any(np.asarray(node.v_leak) != 0):
        raise _node_error(name, node, "needs r = tau and v_leak = 0 (the core's leak)")
    return v_thr, shift


def import_graph(graph: Any, *, base: Config, dataset: str = "digits") -> Imported:
    """Quantise ``graph`` into the layer core (see the module docstring)."""
    import nir

    (in_name, in_node), (fc_name, fc), (nn_name, neurons), (out_name, out) = _chain(graph)
    weight = np.asarray(fc.weight, dtype=np.float64)
    if weight.ndim != 2:
        raise _node_error(fc_name, fc, f"weight has shape {weight.shape}, expected 2 dimensions")
    n_neurons, n_inputs = weight.shape
    in_shape = np.asarray(in_node.input_type["input"]).reshape(-1)
    if int(np.prod(in_shape)) != n_inputs:
        raise _node_error(in_name, in_node, f"shape {in_shape.tolist()} does not match "
                          f"{fc_name!r}'s {n_inputs} inputs")
    out_shape = np.asarray(out.output_type["output"]).reshape(-1)
    if int(np.prod(out_shape)) != n_neurons:
        raise _node_error(out_name, out, f"shape {out_shape.tolist()} does not match "
                          f"{n_neurons} neurons")
    if isinstance(fc, nir.Affine) and np.any(np.asarray(fc.bias) != 0):
        raise _node_error(fc_name, fc, "non-zero bias: the core has none")
    if np.any(weight < 0):
        raise _node_error(fc_name, fc, "negative weights: the core's weights are unsigned "
                          "(excitatory only)")
    v_thr, leak_shift = _neuron_params(nn_name, neurons, n_neurons)
    meta = _metadata(graph)
    try:
        if meta is not None:
            cfg = Config.from_dict(tomllib.loads(str(meta["config"])))
            scale = float(meta["weight_scale"])
        else:
            lanes = next(p for p in (base.lanes, 8, 4, 2, 1) if n_neurons % p == 0)
            cfg = base.replace(n_inputs=n_inputs, n_neurons=n_neurons, lanes=lanes,
                               leak_shift=leak_shift)
            top = float(weight.max())
            scale = cfg.w_max / top if top > 0 else 1.0
    except (ValueError, TypeError) as err:
        raise NirImportError(f"the graph's sizes do not fit the configuration: {err}") from None
    if (cfg.n_inputs, cfg.n_neurons, cfg.leak_shift) != (n_inputs, n_neurons, leak_shift):
        raise NirImportError("the synaprune metadata's configuration does not match the graph's "
                             "nodes (edited after export?)")
    scaled = weight.T * scale
    w = np.rint(scaled).astype(np.int64)
    if w.max(initial=0) > cfg.w_max:
        raise _node_error(fc_name, fc, f"weight {weight.max():g} is above the scale's "
                          f"{cfg.w_max / scale:g} (w_max {cfg.w_max})")
    theta = thresholds_from_nir(v_thr, scale)
    labels, mask, adapt, lfsr = _state(meta, w, theta, cfg, nn_name, neurons)
    if meta is None:
        cfg = cfg.replace(threshold=int(theta.min()))
    net = Network(cfg, weights=w, mask=mask, adapt=adapt, lfsr_state=lfsr)
    return Imported(net=net, labels=labels,
                    dataset=str(meta["dataset"]) if meta is not None else dataset,
                    exact=meta is not None,
                    max_weight_error=float(np.abs(scaled - w).max(initial=0.0)))


def _state(meta: dict[str, Any] | None, w: np.ndarray, theta: np.ndarray, cfg: Config,
           nn_name: str, neurons: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """labels, mask, threshold adaptation and LFSR state: from the metadata, else derived."""
    n = cfg.n_neurons
    if meta is not None:
        labels = np.asarray(meta["labels"], dtype=np.int64).reshape(-1)
        mask = np.asarray(meta["mask"], dtype=bool)
        adapt = np.asarray(meta["adapt"], dtype=np.int64).reshape(-1)
        if labels.shape != (n,) or mask.shape != w.shape or adapt.shape != (n,):
            raise NirImportError("the synaprune metadata's labels, mask or adapt do not match "
                                 "the graph's sizes")
        if np.any(w[~mask] != 0):
            raise NirImportError("the graph has weights on synapses its metadata marks pruned")
        if not np.array_equal(cfg.threshold + adapt, theta):
            raise _node_error(nn_name, neurons, "thresholds differ from the metadata's "
                              "threshold + adapt (edited after export?)")
        return labels, mask, adapt, int(meta["lfsr_state"])
    base = int(theta.min())
    adapt = theta - base
    if base < 0 or base > cfg.v_max or adapt.max(initial=0) > cfg.adapt_max:
        raise _node_error(nn_name, neurons, f"thresholds {theta.min()}..{theta.max()} weight "
                          f"steps do not fit (threshold <= {cfg.v_max}, spread <= "
                          f"{cfg.adapt_max})")
    labels = (np.arange(n) if n <= N_CLASSES else np.full(n, UNLABELLED)).astype(np.int64)
    return labels, w != 0, adapt, cfg.lfsr_seed
