"""A learned deep network (``model.deep_network.DeepNetwork``) as one NIR graph.

``export_deep_graph(net, dataset=...)`` builds the whole network on the layer exporter's
``Chain`` (write it with ``nir_export.write_nir``); the node names carry the layer index n of
the ``DeepConfig``::

    input (Input, (C, H, W): ON/OFF channels, or 1 of intensities)
    per conv layer n:  conv<n> (Conv2d: weights / weight_scale, pruned entries 0, stride 1,
                       padding 0) -> conv<n>_neurons (IF, or LIF when the layer leaks)
    per pool layer n:  pool<n> (SumPool2d, size 0: the whole map) -> pool<n>_first_spike (IF,
                       r = 1, v_threshold = 0.5: one input spike fires it)
    flatten (Flatten, (C, H, W) -> C*H*W) -> fc (Linear) -> neurons (IF/LIF): the classifier,
                       ``nir_export.export_layer``
    output (Output, classifier neurons)

Pooling. The golden model's first-spike max pooling spikes once, at the earliest spike in its
window. NIR has no max pooling over time, but for fire-once spikes (every neuron spikes at most
once, ``fire_once``) a sum pool followed by a fire-once IF whose threshold one spike exceeds is
exactly that: the IF's membrane is the number of window spikes so far, it passes 0.5 at the
window's first spike and fires then, and never again. Global pooling (size 0) is a SumPool2d
whose kernel and stride are the whole map.

What NIR cannot say goes into the metadata under ``synaprune`` (``nir_export.graph_metadata``
plus): ``network = "deep"``, ``config`` (the ``DeepConfig`` TOML), ``labels`` (classifier),
``input_channels``, ``input_filter``, ``layers`` (JSON: per layer its nodes and rules: fire
once, lateral inhibition in learning and in inference, k winners and inhibition radius of
learning, the pooling's first-spike meaning, the classifier's time re-binning), ``conv<n>_mask``
(live kernel entries), ``classifier_*`` (the classifier's adapt, mask, LFSR state, threshold,
leak shift). docs/nir.md.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..model.deep_network import ClassifierLayer, ConvLayer, DeepNetwork, PoolLayer
from .nir_export import Chain, export_layer, graph_metadata, neuron_node
from .nir_mapping import METADATA_KEY, thresholds_to_nir, weight_scale

# A pooled neuron's membrane counts window spikes (weight 1 each): theta = 1 spike.
POOL_THETA = 1
NOTES = ("Every neuron fires at most once per sample (fire_once); inputs are time-to-first-spike "
         "coded (coding = ttfs: one spike per input, brighter earlier, time_steps steps of "
         "dt = 1) after the ON/OFF filter (input_filter); a conv neuron fires when its integer "
         "membrane (weight steps, saturating at membrane_max) reaches its threshold, i.e. "
         "v > v_threshold; with lateral inhibition (layers: inhibition_infer) only the first "
         "spike of a position survives across maps; a pool<n>_first_spike neuron spikes at the "
         "earliest spike of its window (first-spike max pooling); the classifier re-bins its "
         "input times t -> t * classifier time_steps // time_steps and its first neuron to fire "
         "is the prediction (labels). NIR weight 1.0 = weight_scale steps.")
POOL_MEANING = ("first-spike max pooling: the pooled neuron spikes once, at the earliest spike "
                "in its window (SumPool2d + an IF that one spike fires, for fire-once spikes)")


def _conv(chain: Chain, n: int, layer: ConvLayer, scale: float) -> dict[str, Any]:
    import nir

    spec = layer.spec
    weight = np.where(layer.mask, layer.weights, 0).astype(np.float64) / scale
    c, h, w = layer.in_shape
    chain.add(f"conv{n}", nir.Conv2d(input_shape=(h, w), weight=weight, stride=1, padding=0,
                                     dilation=1, groups=1, bias=np.zeros(spec.maps)))
    theta = np.full(layer.out_shape, spec.threshold)
    chain.add(f"conv{n}_neurons", neuron_node(thresholds_to_nir(theta, scale), spec.leak_shift))
    return {"layer": n, "type": "conv", "nodes": [f"conv{n}", f"conv{n}_neurons"],
            "fire_once": True, "threshold": spec.threshold, "leak_shift": spec.leak_shift,
            "inhibition_infer": spec.inhibit_infer, "inhibition_learning": spec.inhibition,
            "k_winners": spec.k_winners, "inhibit_radius": spec.inhibit_radius,
            "live_entries": layer.live, "entries": int(layer.mask.size)}


def _pool(chain: Chain, n: int, layer: PoolLayer, in_shape: tuple[int, int, int],
          out_shape: tuple[int, int, int]) -> dict[str, Any]:
    import nir

    spec = layer.spec
    size = np.array([spec.size] * 2) if spec.size else np.array(in_shape[1:])
    stride = np.array([spec.step] * 2) if spec.size else size
    chain.add(f"pool{n}", nir.SumPool2d(kernel_size=size, stride=stride,
                                         padding=np.zeros(2, dtype=np.int64)))
    theta = np.full(out_shape, POOL_THETA)
    chain.add(f"pool{n}_first_spike", neuron_node(thresholds_to_nir(theta, 1.0), 0))
    return {"layer": n, "type": "pool", "nodes": [f"pool{n}", f"pool{n}_first_spike"],
            "fire_once": True, "size": spec.size, "stride": spec.step if spec.size else 0,
            "global": spec.size == 0, "meaning": POOL_MEANING}


def export_deep_graph(net: DeepNetwork, *, dataset: str) -> Any:
    """The NIR graph (``nir.NIRGraph``) of the deep network ``net`` (see the module
    docstring)."""
    import nir

    cfg = net.cfg
    scale = weight_scale(cfg)
    shapes = cfg.shapes()
    chain = Chain().add("input", nir.Input(input_type={"input": np.array(shapes[0])}))
    layers: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for n, layer in enumerate(net.layers):
        if isinstance(layer, ConvLayer):
            layers.append(_conv(chain, n, layer, scale))
            extra[f"conv{n}_mask"] = layer.mask.astype(bool)
        elif isinstance(layer, PoolLayer):
            layers.append(_pool(chain, n, layer, shapes[n], shapes[n + 1]))
        else:
            assert isinstance(layer, ClassifierLayer)
            chain.add("flatten", nir.Flatten(input_type={"input": np.array(shapes[n])},
                                             start_dim=0, end_dim=-1))
            clf_meta = export_layer(chain, layer.net)
            extra.update({f"classifier_{k}": v for k, v in clf_meta.items()})
            layers.append({"layer": n, "type": "classifier",
                           "nodes": ["flatten", "fc", "neurons"], "fire_once": True,
                           "rule": layer.spec.rule, "winner_take_all": 1,
                           "time_steps": layer.net.cfg.time_steps,
                           "rebin": "t -> t * time_steps // network time_steps"})
    n_out = net.classifier.spec.n_neurons
    chain.add("output", nir.Output(output_type={"output": np.array([n_out])}))
    meta = graph_metadata(
        network="deep", dataset=dataset, config=cfg.to_dict(), labels=net.classifier.labels,
        time_steps=cfg.time_steps, scale=scale, v_max=cfg.v_max, notes=NOTES,
        winner_take_all=1, input_channels="on,off" if cfg.on_off else "intensity",
        input_filter=cfg.input_filter if cfg.on_off else "none",
        layers=json.dumps(layers), **extra)
    return nir.NIRGraph(nodes=chain.nodes, edges=chain.edges, metadata={METADATA_KEY: meta})
