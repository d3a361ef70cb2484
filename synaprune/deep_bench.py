"""``synaprune bench --network deep``: learning and inference throughput of the deep golden model
at MNIST size, in one process, next to its Brian2 reference on the same work.

The work: the MNIST preset (``model/configs/deep/mnist.toml``, or --config) on the bench's
MNIST-like images and their labels (``model.datasets.mnist_like``: no MNIST files needed). Learning:
every learning layer in turn learns one pass over the N samples (its frozen lower layers'
outputs computed first, in batches, and counted in its time); one "learning sample" is one
sample learned by one layer, so the learning rate is (layers x N) / (sum of the layers' times).
Inference: N samples through the whole network. Brian2 (``model.brian_deep_ref``) does the same
on the first --brian-samples samples from the same initial state; building its objects
(connecting the synapses) is not counted, its runs are. Writes ``OUT/deep.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import numpy as np

from .commands import write_json
from .model.datasets import mnist_like
from .model.deep_config import ClassifierSpec, ConvSpec, DeepConfig
from .model.deep_network import ClassifierLayer, ConvLayer, DeepNetwork
from .progress import progress_bar

TARGET_SAMPLES_PER_S = 100  # deep golden-model learning throughput the issue asks for
TARGET_SPEEDUP = 20  # golden learning against Brian2 on the same work


def golden_rates(cfg: DeepConfig, times: np.ndarray, labels: np.ndarray, progress: bool
                 ) -> dict[str, Any]:
    """Learning samples/s per layer and overall, inference samples/s, work per sample."""
    net = DeepNetwork(cfg)
    per_layer: dict[str, float] = {}
    seconds = 0.0
    last = len(cfg.layers) - 1
    for n in cfg.learning_layers():
        t0 = time.perf_counter()
        inputs = net.features(times) if n == last else net.forward(times, n)
        layer = net.layers[n]
        for k in progress_bar(range(len(times)), desc=f"golden learn layer {n}", unit="sample",
                              disable=not progress):
            if isinstance(layer, ConvLayer):
                layer.learn_sample(inputs[k])
            else:
                assert isinstance(layer, ClassifierLayer)
                layer.learn_sample(inputs[k], int(labels[k]))
        dt = time.perf_counter() - t0
        per_layer[f"layer {n}"] = len(times) / dt
        seconds += dt
    learned = len(times) * len(cfg.learning_layers())
    t0 = time.perf_counter()
    _, counters = net.predict(times)
    infer_seconds = time.perf_counter() - t0
    return {"learn_samples_per_s": learned / seconds, "learn_per_layer": per_layer,
            "infer_samples_per_s": len(times) / infer_seconds, "learn_seconds": seconds,
            "infer_seconds": infer_seconds,
            "infer_syn_events_per_sample": {k: c.syn_events / max(c.samples, 1)
                                            for k, c in counters.items()}}


def brian_rates(cfg: DeepConfig, times: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The same work on the Brian2 reference (runs timed, object building not)."""
    from .model import brian_deep_ref as ref

    init = DeepNetwork(cfg)
    convs: dict[int, ref.BrianConv] = {}
    per_layer: dict[str, float] = {}
    seconds = 0.0
    for n in cfg.learning_layers():
        spec = cfg.layers[n]
        lower = {m: ref.BrianConv(cfg, m, c.weights, c.mask, c.lfsr.state, c.learned)
                 for m, c in convs.items()}
        t0 = time.perf_counter()
        outs = ref.frozen_outputs(cfg, n, times, lower)
        dt = time.perf_counter() - t0
        inputs = outs[-1] if n else times
        if isinstance(spec, ConvSpec):
            g = init.layers[n]
            assert isinstance(g, ConvLayer)
            conv = ref.BrianConv(cfg, n, g.weights, g.mask, g.lfsr.peek_state())
            t0 = time.perf_counter()
            conv.run(inputs, learn=True)
            dt += time.perf_counter() - t0
            convs[n] = conv
        else:
            assert isinstance(spec, ClassifierSpec)
            c = init.classifier.net
            net = ref.classifier(cfg, c.weights, c.mask, c.adapt, c.lfsr.peek_state())
            feats = ref.rebin(inputs.reshape(len(inputs), -1).astype(np.int64), cfg.never,
                              c.cfg.time_steps)
            t0 = time.perf_counter()
            if spec.rule == "margin":
                for k in range(len(feats)):
                    ref.margin_learn(net, spec, feats[k], int(labels[k]))
            else:
                net.run(feats, learn=True, rates=ref.reward_rates(spec, labels)
                        if spec.rule == "rstdp" else None)
            dt += time.perf_counter() - t0
        per_layer[f"layer {n}"] = len(times) / dt
        seconds += dt
    return {"learn_samples_per_s": len(times) * len(cfg.learning_layers()) / seconds,
            "learn_per_layer": per_layer, "learn_seconds": seconds}


def run(args: argparse.Namespace) -> int:
    cfg = DeepConfig.load(args.config) if args.config else DeepConfig.preset("mnist")
    source = str(args.config) if args.config else "preset deep/mnist"
    images, labels = mnist_like(args.samples)
    times = DeepNetwork(cfg).encode(images)
    shapes = " -> ".join("x".join(map(str, s)) for s in cfg.shapes())
    print(f"deep golden model: {shapes}, T = {cfg.time_steps}, {source}, {args.samples} "
          f"MNIST-like samples, one process")
    gold = golden_rates(cfg, times, labels, not args.no_progress)
    layers = ", ".join(f"{k} {v:.0f}" for k, v in gold["learn_per_layer"].items())
    print(f"  learning   {gold['learn_samples_per_s']:8.1f} samples/s   (per layer: {layers})")
    print(f"  inference  {gold['infer_samples_per_s']:8.1f} samples/s")
    if gold["learn_samples_per_s"] < TARGET_SAMPLES_PER_S:
        print(f"  below the target of {TARGET_SAMPLES_PER_S} samples/s")
    brian = None
    n_brian = min(args.brian_samples, args.samples)
    if n_brian:
        brian = brian_rates(cfg, times[:n_brian], labels[:n_brian])
        layers = ", ".join(f"{k} {v:.1f}" for k, v in brian["learn_per_layer"].items())
        speedup = gold["learn_samples_per_s"] / brian["learn_samples_per_s"]
        print(f"  Brian2     {brian['learn_samples_per_s']:8.2f} samples/s   (learning, "
              f"{n_brian} samples; per layer: {layers})")
        print(f"  speed-up   {speedup:8.1f}x   (golden learning / Brian2 learning; target "
              f">= {TARGET_SPEEDUP}x)")
    result = {
        "network": "deep", "golden": gold, "brian2": brian, "brian2_samples": n_brian,
        "samples": args.samples, "rules_from": source, "config": cfg.to_dict(),
        "speedup": (gold["learn_samples_per_s"] / brian["learn_samples_per_s"]
                    if brian else None),
        "target_samples_per_s": TARGET_SAMPLES_PER_S, "target_speedup": TARGET_SPEEDUP,
        "python": platform.python_version(), "numpy": np.__version__,
        "machine": platform.machine(), "cpus": os.cpu_count(),
    }
    print(f"  written    {write_json(args.out / 'deep.json', result)}")
    return 0
