"""``--network deep`` of ``synaprune train`` and ``synaprune eval``: the deep network's runs.

The subcommand modules add the options and call these when ``--network deep``; the options
mean the same as for the one-layer network (data split, --config, --no-prune, --epochs, --seed,
--out, --json), plus ``--resume``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from .commands import choose_dataset, load_split, parse_value, write_json
from .model.deep_config import ClassifierSpec, ConvSpec, DeepConfig
from .model.deep_network import DeepNetwork, Totals

CHECKPOINT_NAME = "checkpoint.npz"


def deep_config(dataset: str, path: Path | None) -> DeepConfig:
    """The --config file if given, else the data set's deep preset."""
    return DeepConfig.load(path) if path is not None else DeepConfig.preset(dataset)


def apply_overrides(cfg: DeepConfig, args: argparse.Namespace) -> DeepConfig:
    """--no-prune (every learning layer), --epochs (every learning layer), --seed."""
    for kind in (ConvSpec, ClassifierSpec):
        if getattr(args, "no_prune", False):
            cfg = cfg.replace_layers(kind, prune_enabled=False)
        if getattr(args, "epochs", None) is not None:
            cfg = cfg.replace_layers(kind, epochs=args.epochs)
    if getattr(args, "seed", None) is not None:
        cfg = cfg.replace(seed=args.seed)
    return cfg


def train(args: argparse.Namespace) -> int:
    """``synaprune train --network deep``: learn every layer, test, save, print the figures."""
    from .deep_checkpoint import load_deep_checkpoint, save_deep_checkpoint
    from .deep_fit import fit_deep

    t_start = time.perf_counter()
    dataset = choose_dataset(args)
    ckpt = args.out / CHECKPOINT_NAME
    counters: dict[int, Totals] = {}
    if args.resume and ckpt.exists():
        net, meta = load_deep_checkpoint(ckpt)
        counters = meta["counters"]
        if meta["dataset"] != dataset:
            raise ValueError(f"{ckpt} learned on {meta['dataset']}, not {dataset}")
        if (args.config is not None or args.no_prune or args.epochs or args.seed is not None
                or args.set):
            raise ValueError("--resume continues the checkpoint's configuration; drop --config, "
                             "--set, --no-prune, --epochs and --seed")
        print(f"resuming {ckpt}: {net.done} of {len(net.cfg.learning_layers())} learning "
              f"layers done")
    else:
        net = DeepNetwork(apply_overrides(set_fields(deep_config(dataset, args.config),
                                                     args.set), args))
    cfg = net.cfg
    split = load_split(args, dataset)

    def save(n: DeepNetwork, learned: dict[int, Totals]) -> None:
        save_deep_checkpoint(ckpt, n, learned, split.name)

    res = fit_deep(net, split, progress=not args.no_progress, after_layer=save,
                   counters=counters)
    save(net, res.learn)
    figures = res.figures()
    figures.update(dataset=split.name, checkpoint=str(ckpt), network="deep",
                   total_seconds=time.perf_counter() - t_start, config=cfg.to_dict())
    shapes = " -> ".join("x".join(map(str, s)) for s in cfg.shapes())
    print(f"{split.name}: deep network {shapes}, {res.n_train} learning samples, "
          f"{res.n_test} test samples")
    print(f"  accuracy            {res.accuracy:.2%}   (learned by the network itself)")
    print(f"  host-side readout   {res.host_svm_accuracy:.2%}   (scikit-learn LinearSVC on "
          f"the same features, fitted on the host; not part of the network)")
    for r in figures["layers"]:
        print(f"  layer {r['layer']} {r['type']:10s} live {r['live']:7d} / {r['entries']:7d} "
              f"(removed {r['removed']:.1%}); per sample: learning "
              f"{r['learn_syn_events_per_sample']:.0f} syn. events, "
              f"{r['learn_syn_updates_per_sample']:.0f} STDP updates; inference "
              f"{r['infer_syn_events_per_sample']:.0f} syn. events")
    print(f"  removed (all layers) {figures['removed']:.2%} of {figures['entries']} kernel "
          f"entries and classifier synapses")
    print(f"  time                learn {figures['learn_seconds']:.1f} s "
          f"({figures['learn_samples_per_s']:.0f} layer-samples/s), test "
          f"{res.test_seconds:.1f} s, host SVM {res.svm_seconds:.1f} s, wall "
          f"{figures['total_seconds']:.1f} s")
    print(f"  checkpoint          {ckpt}")
    if args.plots:
        from .deep_plots import plot_deep

        for p in plot_deep(res, args.out):
            print(f"  picture             {p}")
    if args.json is not None:
        write_json(args.json, figures)
        print(f"  figures             {args.json}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``synaprune eval --network deep``: test a deep checkpoint (inference only)."""
    from .deep_checkpoint import load_deep_checkpoint

    net, meta = load_deep_checkpoint(args.checkpoint)
    named_files = args.data is not None or args.images is not None
    dataset = args.dataset or ("mnist" if named_files else meta["dataset"])
    split = load_split(args, dataset)
    t0 = time.perf_counter()
    predicted, counters = net.predict(net.encode(split.x_test))
    acc = float(np.mean(predicted == split.y_test))
    seconds = time.perf_counter() - t0
    live = sum(la.live for _, la in net.conv_layers()) + net.classifier.live
    print(f"{dataset}: accuracy {acc:.2%} on {len(split.x_test)} test samples "
          f"({args.checkpoint}, deep network, {live} live kernel entries and synapses)")
    figures: dict[str, Any] = {
        "accuracy": acc, "n_test": len(split.x_test), "dataset": dataset,
        "checkpoint": str(args.checkpoint), "network": "deep", "live": live,
        "seconds": seconds,
        "infer_syn_events_per_sample": {k: t.syn_events / max(t.samples, 1)
                                        for k, t in counters.items()}}
    if args.sweep:
        from .deep_plots import plot_accuracy_vs_removed

        times = net.encode(split.x_test)
        points = prune_sweep(net, times, split.y_test, SWEEP_THRESHOLDS)
        for p in points:
            print(f"  after learning, entries below {p['threshold']:3d} removed too: "
                  f"removed {p['removed']:.2%}, accuracy {p['accuracy']:.2%}")
        path = plot_accuracy_vs_removed(points, Path(args.checkpoint).parent /
                                        "accuracy_vs_removed.png")
        print(f"  picture             {path}")
        figures["sweep"] = points
    if args.json is not None:
        write_json(args.json, figures)
    return 0


SWEEP_THRESHOLDS = (0, 16, 32, 64, 96, 128, 160, 192)


def prune_sweep(net: DeepNetwork, times: np.ndarray, labels: np.ndarray,
                thresholds: tuple[int, ...]) -> list[dict[str, Any]]:
    """Accuracy of copies of a learned network with every live entry (kernel entries and
    classifier synapses) below each threshold removed as well; the network is not changed."""
    import copy

    out = []
    for thr in thresholds:
        trial = copy.deepcopy(net)
        for _, layer in trial.conv_layers():
            layer.mask &= layer.weights >= thr
        clf = trial.classifier.net
        clf.mask &= clf.weights >= thr
        predicted, _ = trial.predict(times)
        live = sum(la.live for _, la in trial.conv_layers()) + clf.live
        size = sum(la.mask.size for _, la in trial.conv_layers()) + clf.mask.size
        out.append({"threshold": thr, "removed": 1 - live / size,
                    "accuracy": float(np.mean(predicted == labels)), "label": f"{thr}"})
    return out


def set_fields(cfg: DeepConfig, items: list[str]) -> DeepConfig:
    """Apply ``--set KEY=VALUE`` items: KEY a network field or ``layers.N.FIELD``; VALUE TOML."""
    data = cfg.to_dict()
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        parts = key.strip().split(".")
        if len(parts) == 3 and parts[0] == "layers" and parts[1].isdigit():
            n = int(parts[1])
            if n >= len(data["layers"]):
                raise ValueError(f"--set {item!r}: the network has {len(data['layers'])} layers")
            data["layers"][n][parts[2]] = parse_value(value.strip())
        elif len(parts) == 1:
            data[parts[0]] = parse_value(value.strip())
        else:
            raise ValueError(f"--set {item!r}: KEY must be a field or layers.N.FIELD")
    return DeepConfig.from_dict(data)


def crosscheck(args: argparse.Namespace) -> int:
    """``synaprune crosscheck --network deep``: the golden model against Brian2, layer by layer."""
    from .deep_crosscheck import crosscheck_deep
    from .fc_crosscheck import print_outcome

    cfg = set_fields(deep_config(args.dataset, args.config), args.set)
    if args.no_prune:
        cfg = apply_overrides(cfg, argparse.Namespace(no_prune=True))
    if args.no_learn:
        raise ValueError("--no-learn applies to --network fc; the deep check learns every layer")
    data = argparse.Namespace(dataset=args.dataset, data=args.data, images=args.images,
                              labels=args.labels, train=args.samples, test=1)
    split = load_split(data)
    if len(split.x_train) < args.samples:
        raise ValueError(f"--samples {args.samples}: the {args.dataset} training set has "
                         f"{len(split.x_train)} samples")
    net = DeepNetwork(cfg)
    times = net.encode(split.x_train[:args.samples])
    convs = [s for s in cfg.layers if isinstance(s, ConvSpec)]
    print(f"crosscheck: {len(times)} {args.dataset} samples, deep network "
          f"{' -> '.join('x'.join(map(str, s)) for s in cfg.shapes())}, T={cfg.time_steps}, "
          f"k_winners={[s.k_winners for s in convs]}, inhibition={[s.inhibition for s in convs]}, "
          f"prune={[s.prune_enabled for s in convs]}")
    report = crosscheck_deep(cfg, times, split.y_train[:args.samples], golden=net, progress=True)
    print(f"learning samples    {report.samples} (per layer)")
    print(f"spike times         {report.spikes_compared} ({report.spikes} spikes, every layer)")
    print(f"winners             {report.winners}")
    print(f"STDP updates        {report.updates}")
    print(f"entries compared    {report.entries_compared} (kernel entries and classifier "
          f"synapses after every sample, and as many mask bits)")
    print(f"entries pruned      {report.pruned}")
    return print_outcome(report)
