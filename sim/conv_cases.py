"""Cases of the conv-core testbench (``sim.tb_conv``): one conv layer of a deep network.

A ``ConvCase`` is everything one simulation of one conv layer needs, saved as one ``.npz`` so
the cocotb process reads exactly what the caller built: the deep configuration, the layer's
index and lane count, its kernels and live mask at the start, its input spike times and which
samples learn. The layer starts as the golden model's fresh layer (its LFSR at the spec's
seed, which is the core's reset state, and no learning sample yet, so the rate schedule starts
at its first rates).

``deep_cases`` builds the default run on the digits data set: every conv layer in turn, each
learning ``n_learn`` training samples in the model's order (``deep_network.sample_orders``)
and then inferring ``n_infer`` test samples; a layer's inputs are the golden model's output of
the layers below it (conv layers that have learned their samples, pooling), as
``DeepNetwork.forward`` computes them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..model.conv_cycles import ConvGeometry
from ..model.datasets import load_digits_split
from ..model.deep_config import ConvSpec, DeepConfig
from ..model.deep_network import ConvLayer, DeepNetwork, sample_orders
from .conv_harness import conv_top
from .top import Top

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class ConvCase:
    """One conv layer's RTL run: configuration, lanes, initial kernels, samples."""

    name: str
    cfg: DeepConfig
    layer: int  # index in cfg.layers (a ConvSpec)
    lanes: int
    weights: np.ndarray  # (M, C, k, k) at the start
    mask: np.ndarray  # (M, C, k, k) bool
    times: np.ndarray  # (n, C, H, W) input spike times, T = never
    learn: np.ndarray  # (n,) bool
    in_gap: float = 0.0  # probability that the input stream idles in a cycle
    out_stall: float = 0.0  # probability that the output stream is not ready in a cycle
    seed: int = 1
    # fault injection, to show that the bench catches a wrong core: (map, c, dy, dx, weight)
    # written into the core after the initial state check, not into the model
    weight_fault: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        spec = self.cfg.layers[self.layer] if 0 <= self.layer < len(self.cfg.layers) else None
        if not isinstance(spec, ConvSpec):
            raise ValueError(f"case {self.name}: config.layers[{self.layer}] is not a conv "
                             f"layer")
        self.geometry()  # the core can be built: lanes divide maps, widths fit

    @property
    def spec(self) -> ConvSpec:
        spec = self.cfg.layers[self.layer]
        assert isinstance(spec, ConvSpec)
        return spec

    def geometry(self) -> ConvGeometry:
        """The conv core of this layer (``ValueError`` naming the layer when it cannot be
        built)."""
        try:
            return ConvGeometry.from_spec(self.spec, self.cfg.shapes()[self.layer], self.cfg,
                                          lanes=self.lanes)
        except (TypeError, ValueError) as err:
            raise ValueError(f"config.layers[{self.layer}]: no conv core with {self.lanes} "
                             f"lanes: {err}") from None

    def top(self) -> Top:
        return conv_top(self.geometry(), self.spec.lfsr_seed)

    def model_layer(self) -> ConvLayer:
        """The golden model's layer in the case's initial state."""
        layer = ConvLayer(self.spec, self.cfg.shapes()[self.layer], self.cfg, seed=0)
        layer.weights, layer.mask = self.weights.copy(), self.mask.copy()
        return layer

    def head(self, n: int) -> ConvCase:
        """The same case cut after ``n`` samples (to re-run up to a failing sample)."""
        return replace(self, times=self.times[:n], learn=self.learn[:n])

    def save(self, path: str | Path) -> None:
        np.savez(path, name=self.name, cfg=self.cfg.dumps(), layer=self.layer,
                 lanes=self.lanes, weights=self.weights, mask=self.mask, times=self.times,
                 learn=self.learn, in_gap=self.in_gap, out_stall=self.out_stall,
                 seed=self.seed, weight_fault=np.array(self.weight_fault or (), dtype=np.int64))

    @classmethod
    def load(cls, path: str | Path) -> ConvCase:
        z = np.load(path, allow_pickle=False)
        fault = tuple(int(v) for v in z["weight_fault"])
        return cls(name=str(z["name"]), cfg=DeepConfig.from_dict(tomllib.loads(str(z["cfg"]))),
                   layer=int(z["layer"]), lanes=int(z["lanes"]), weights=z["weights"],
                   mask=z["mask"], times=z["times"], learn=z["learn"],
                   in_gap=float(z["in_gap"]), out_stall=float(z["out_stall"]),
                   seed=int(z["seed"]), weight_fault=fault or None)


def deep_cases(cfg: DeepConfig, *, lanes: int, n_learn: int, n_infer: int, name: str = "deep",
               in_gap: float = 0.0, out_stall: float = 0.0) -> list[ConvCase]:
    """One case per conv layer of ``cfg`` on the digits data set (see the module docstring);
    ``ValueError`` before any simulation when a layer's core cannot be built with ``lanes``
    lanes or the images do not fit the configuration."""
    split = load_digits_split()
    if tuple(cfg.image_shape) != split.x_train.shape[1:]:
        raise ValueError(f"the RTL bench runs on the digits data set (8x8 images); the "
                         f"configuration expects image_shape {tuple(cfg.image_shape)}")
    net = DeepNetwork(cfg)
    train, test = net.encode(split.x_train), net.encode(split.x_test)
    cases = []
    for n, layer in net.conv_layers():
        inputs, tests = net.forward(train, n), net.forward(test, n)
        order = np.concatenate(sample_orders(cfg.seed, n, len(inputs),
                                             max(1, layer.spec.epochs)))[:n_learn]
        if len(order) < n_learn:
            raise ValueError(f"layer {n} learns {len(order)} samples per run, asked for "
                             f"{n_learn}")
        times = np.concatenate([inputs[order], tests[:n_infer]]).astype(np.int16)
        flags = np.r_[np.ones(len(order), bool), np.zeros(len(times) - len(order), bool)]
        cases.append(ConvCase(name=f"{name}-layer{n}", cfg=cfg, layer=n, lanes=lanes,
                              weights=layer.weights.copy(), mask=layer.mask.copy(), times=times,
                              learn=flags, in_gap=in_gap, out_stall=out_stall))
        for idx in order:  # the layer learns what the RTL will, for the layers above
            layer.learn_sample(inputs[idx])
    return cases
