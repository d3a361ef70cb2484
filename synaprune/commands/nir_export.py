"""``synaprune export``: a checkpoint's network as a NIR graph (``--nir OUT.nir``).

The graph (``synaprune.interop.nir_export``) is Input -> Linear (weights / w_max, pruned
synapses as zeros) -> IF (or LIF when the core leaks; thresholds per neuron) -> Output, with
what NIR cannot say (fire once, winner-take-all, TTFS coding, the weight scale, the labels) in
its metadata; docs/nir.md. The file loads with ``nir.read`` and comes back with
``synaprune import``.
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
                   help="checkpoint.npz written by 'synaprune train' or 'synaprune import'")
    p.add_argument("--nir", metavar="OUT.nir", type=Path, required=True,
                   help="NIR file to write (HDF5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint
    from ..interop.nir_export import export_graph, write_nir

    net, labels, meta = load_checkpoint(args.checkpoint)
    graph = export_graph(net, labels, dataset=meta["dataset"])
    path = write_nir(args.nir, graph)
    kinds = " -> ".join(f"{name} ({type(node).__name__})" for name, node in graph.nodes.items())
    print(f"wrote {path}: {kinds}; {net.live} of {net.mask.size} synapses live "
          f"({net.mask.size - net.live} pruned, written as zeros)")
    return 0
