"""``synaprune import``: a NIR graph quantised into a checkpoint that eval, sim and the board
commands run (``--nir FILE --out DIR``).

Accepted: Input -> Linear/Affine -> IF/LIF -> Output (``synaprune.interop.nir_import``); any
other node is an error that names it. A graph written by ``synaprune export`` comes back
exactly; another takes the rest of its configuration from --config or the data set's preset.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import DATASETS, resolve_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="quantise a NIR graph into a checkpoint",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  synaprune import --nir build/train/layer.nir --out build/imported\n"
               "  synaprune import --nir theirs.nir --config my.toml --dataset mnist "
               "--out build/theirs")
    p.add_argument("--nir", metavar="FILE", type=Path, required=True, help="NIR file (HDF5)")
    p.add_argument("--out", metavar="DIR", type=Path, required=True,
                   help="directory for checkpoint.npz (created if missing)")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="configuration for a graph without synaprune metadata (its sizes, "
                        "threshold and leak come from the graph)")
    p.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="data set of a graph without synaprune metadata: its preset is the "
                        "configuration without --config, and eval tests on it (default digits)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import nir

    from ..checkpoint import save_checkpoint
    from ..interop.nir_import import import_graph
    from .train import CHECKPOINT_NAME

    if not args.nir.is_file():
        raise FileNotFoundError(f"{args.nir}: NIR file not found")
    try:
        graph = nir.read(args.nir)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as err:
        raise ValueError(f"{args.nir}: not a readable NIR graph ({err})") from None
    got = import_graph(graph, base=resolve_config(args.dataset, args.config),
                       dataset=args.dataset)
    counters = {"samples": 0, "syn_events": 0, "syn_updates": 0, "pruned": 0}
    ckpt = save_checkpoint(args.out / CHECKPOINT_NAME, got.net, got.labels, counters,
                           got.dataset)
    cfg = got.net.cfg
    how = ("exact (synaprune metadata)" if got.exact else
           f"quantised to {cfg.weight_bits}-bit weights, largest error "
           f"{got.max_weight_error:.3f} weight steps")
    print(f"{args.nir}: {cfg.n_inputs} inputs x {cfg.n_neurons} neurons, {got.net.live} of "
          f"{got.net.mask.size} synapses live, {how}")
    print(f"wrote {ckpt} (data set {got.dataset})")
    return 0
