"""``synaprune export``: a checkpoint's network as a NIR graph (``--nir OUT.nir``).

A one-layer checkpoint (``synaprune.interop.nir_export``) is Input -> Linear (weights / w_max,
pruned synapses as zeros) -> IF (or LIF when the core leaks; thresholds per neuron) -> Output;
it comes back with ``synaprune import``. A deep checkpoint (``--network deep``, found by its
format; ``synaprune.interop.nir_export_deep``) is one graph: Input (ON/OFF channels x H x W)
-> per conv layer Conv2d + IF/LIF -> per pooling layer SumPool2d + an IF one spike fires
(first-spike max pooling) -> Flatten -> the classifier's Linear + IF -> Output; it is export
only. Both carry what NIR cannot say (fire once, inhibition, winner-take-all, TTFS coding, the
weight scale, the configuration, the labels) in their metadata; docs/nir.md. The files load
with ``nir.read``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write a checkpoint's network as a NIR graph",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  synaprune export --checkpoint build/train/checkpoint.npz "
               "--nir build/train/layer.nir")
    p.add_argument("--checkpoint", metavar="FILE", type=Path, required=True,
                   help="checkpoint.npz written by 'synaprune train' (either network) or "
                        "'synaprune import'")
    p.add_argument("--nir", metavar="OUT.nir", type=Path, required=True,
                   help="NIR file to write (HDF5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..deep_checkpoint import is_deep_checkpoint, load_deep_checkpoint
    from ..interop.nir_export import export_graph, write_nir
    from ..interop.nir_export_deep import export_deep_graph

    if is_deep_checkpoint(args.checkpoint):
        deep, meta = load_deep_checkpoint(args.checkpoint)
        graph = export_deep_graph(deep, dataset=meta["dataset"])
        masks = [la.mask for _, la in deep.conv_layers()] + [deep.classifier.net.mask]
        live, total = sum(int(m.sum()) for m in masks), sum(m.size for m in masks)
        what = "kernel entries and synapses"
    else:
        from ..checkpoint import load_checkpoint

        net, labels, meta = load_checkpoint(args.checkpoint)
        graph = export_graph(net, labels, dataset=meta["dataset"])
        live, total, what = net.live, net.mask.size, "synapses"
    path = write_nir(args.nir, graph)
    kinds = " -> ".join(f"{name} ({type(node).__name__})" for name, node in graph.nodes.items())
    print(f"wrote {path}: {kinds}; {live} of {total} {what} live "
          f"({total - live} pruned, written as zeros)")
    return 0
