"""Shared pieces of the deep-network tests: a tiny configuration that learns and prunes within a
few dozen digits samples, a small digits split, and host-port writes in the simulator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from amaranth.sim import SimulatorContext

from synaprune.model.datasets import Split
from synaprune.model.deep_config import ClassifierSpec, ConvSpec, DeepConfig, PoolSpec


def tiny_config(**changes: Any) -> DeepConfig:
    """8x8 ON/OFF input, two small conv layers with fast rates (they prune within a few dozen
    samples), pooling, and an R-STDP classifier of 2 neurons per class."""
    base = DeepConfig(image_shape=(8, 8), time_steps=6, input_min=24, layers=(
        ConvSpec(maps=6, kernel=3, threshold=3 * 255, k_winners=2, inhibit_radius=1,
                 a_plus=600, a_minus=-500, a_plus_max=1200, a_minus_max=-1000,
                 rate_double_every=20, prune_threshold=120),
        PoolSpec(size=2),
        ConvSpec(maps=8, kernel=2, threshold=2 * 255, k_winners=2, inhibit_radius=0,
                 a_plus=600, a_minus=-500, a_plus_max=1200, a_minus_max=-1000,
                 prune_threshold=120),
        ClassifierSpec(neurons_per_class=2, lanes=4, threshold=2 * 255, a_plus=400,
                       a_minus=-300, prune_threshold=60)))
    return base.replace(**changes) if changes else base.validate()


def small_split(digits: Split, n_train: int = 60, n_test: int = 30) -> Split:
    return Split(digits.x_train[:n_train], digits.y_train[:n_train], digits.x_test[:n_test],
                 digits.y_test[:n_test], "digits")


async def host_writes(ctx: SimulatorContext, host: Any,
                      words: Iterable[tuple[Any, int, int, int]]) -> None:
    """Write (region, lane, addr, word) through a core's host port (``ConvCore.host`` or
    ``LayerCore.host``), one write per cycle (the cores take one per cycle while idle)."""
    for region, lane, addr, word in words:
        for port, value in ((host.region, region), (host.lane, lane), (host.addr, addr),
                            (host.wdata, word), (host.we, 1)):
            ctx.set(port, value)
        await ctx.tick()
    ctx.set(host.we, 0)
