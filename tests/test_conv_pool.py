"""``PoolCore`` against ``model.pooling``, alone and chained after a ``ConvCore``.

Alone: random spike maps streamed in time order (within a step in index order, or shuffled),
with a consumer that is always ready or not always ready; the output must be, in order, the
first event of each window (``model.pooling``: the pooled spike times of ``first_spike_pool``,
every window once), then the END unchanged. Sizes 2, 3 (rows and columns past the last window
dropped) and 0 (global). After each sample the counters must have added what
``model.pool_cycles`` predicts, and ``STALL_CYCLES`` the cycles the output waited on the
consumer (none when it is always ready). Chained: the conv core's output stream goes straight
into the pooling core (``wiring.connect``: the two share the event signature), and the pooled
spikes must be the golden model's conv layer followed by its pooling.
"""

from __future__ import annotations

import gc
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, UnusedElaboratable
from amaranth.lib import wiring
from amaranth.sim import Simulator, SimulatorContext
from deep_helpers import host_writes
from test_conv_core import GEOM_A, Case, model_layer, random_kernels, sample_inputs

from synaprune.hw.conv_core import ConvCore
from synaprune.hw.conv_map import host_words
from synaprune.hw.conv_pool import PoolCore, PoolCounter
from synaprune.hw.layouts import EventKind
from synaprune.model import pool_cycles
from synaprune.model.pooling import first_spike_pool
from synaprune.sim.chain_model import pool_counters, pooled_events

MAX_CYCLES = 100_000


@dataclass
class Streamed:
    """What ``stream_sample`` saw: the beats (kind, time, index) out, the cycles ``source``
    offered a beat that was not taken (stalls) and the cycles until its END was taken."""

    beats: list[tuple[int, int, int]]
    stalls: int
    cycles: int


async def stream_sample(ctx: SimulatorContext, sink: object, source: object,
                        beats: list[tuple[int, int, int]], rng: np.random.Generator,
                        ready_p: float = 0.7) -> Streamed:
    """Send ``beats`` (kind, time, index) into ``sink``, collect ``source`` until its END,
    taking its beats only in random cycles (each with probability ``ready_p``)."""
    got: list[tuple[int, int, int]] = []
    stalls = 0
    beats = list(beats)
    for cycle in range(1, MAX_CYCLES + 1):
        ready = int(rng.random() < ready_p)
        ctx.set(source.ready, ready)
        if beats:
            kind, t, i = beats[0]
            ctx.set(sink.valid, 1)
            ctx.set(sink.payload.kind, EventKind(kind))
            ctx.set(sink.payload.time, t)
            ctx.set(sink.payload.index, i)
            sent = ctx.get(sink.ready)
        else:
            ctx.set(sink.valid, 0)
            sent = False
        if ctx.get(source.valid):
            if ready:
                p = source.payload
                got.append((ctx.get(p.kind).value, ctx.get(p.time), ctx.get(p.index)))
            else:
                stalls += 1
        await ctx.tick()
        if sent:
            beats.pop(0)
        if got and got[-1][0] == EventKind.END.value:
            return Streamed(got, stalls, cycle)
    raise AssertionError(f"no END in {MAX_CYCLES} cycles")


def read_counters(ctx: SimulatorContext, counters: object) -> list[int]:
    return [ctx.get(counters[n]) for n in PoolCounter]


@pytest.mark.parametrize("ready_p", [1.0, 0.7])
@pytest.mark.parametrize(("shape", "size"), [((2, 6, 6), 2), ((3, 7, 7), 3), ((2, 5, 4), 0)])
def test_pool_core_forwards_first_event_of_each_window(shape: tuple[int, int, int],
                                                       size: int, ready_p: float) -> None:
    c, h, w = shape
    T = 6
    pool = PoolCore(channels=c, height=h, width=w, size=size, time_steps=T,
                    index_bits=(c * h * w - 1).bit_length(), counter_bits=16)
    rng = np.random.default_rng(3 + size)
    samples = [np.full(shape, T), np.zeros(shape, dtype=np.int64)]
    samples += [np.where(rng.random(shape) < 0.3, rng.integers(0, T, shape), T)
                for _ in range(3)]
    jobs = []
    for n, times in enumerate(samples):
        flat = times.reshape(-1)
        idx = np.flatnonzero(flat < T)
        key = rng.permutation(len(idx)) if n % 2 else idx  # shuffled within a step, or not
        order = [int(i) for i in idx[np.lexsort((key, flat[idx]))]]
        beats = [(EventKind.SPIKE.value, int(flat[i]), i) for i in order]
        beats.append((EventKind.END.value, T - 1, 0))
        want = [*pooled_events(times, order, size, pool), (EventKind.END.value, T - 1, 0)]
        cycles = pool_cycles.sample_cycles(times, first_spike_pool(times, size, size), T)
        jobs.append((beats, want, cycles))

    async def testbench(ctx: SimulatorContext) -> None:
        stalled = 0
        for n, (beats, want, cycles) in enumerate(jobs):
            before = read_counters(ctx, pool.counters)
            got = await stream_sample(ctx, pool.events_in, pool.events_out, beats, rng, ready_p)
            assert got.beats == want, f"sample {n}"
            await ctx.tick().repeat(pool.n_outputs)  # the fired bits' clear
            after = read_counters(ctx, pool.counters)
            added = {k: after[k] - before[k] for k in PoolCounter}
            assert added == {**pool_counters(cycles), PoolCounter.STALL_CYCLES: got.stalls}, \
                f"sample {n}: counters"
            # the phases hold every cycle of a sample whose input never waits, but the stalls
            assert got.cycles + pool.n_outputs == cycles.total + got.stalls, f"sample {n}: cycles"
            stalled += got.stalls
        assert (stalled > 0) == (ready_p < 1)

    sim = Simulator(pool)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


class ConvPoolChain(Elaboratable):
    """A conv core whose output stream feeds a pooling core."""

    def __init__(self, conv: ConvCore, pool: PoolCore) -> None:
        self.conv, self.pool = conv, pool

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.conv, m.submodules.pool = self.conv, self.pool
        wiring.connect(m, self.conv.events_out, self.pool.events_in)
        return m


@pytest.mark.parametrize("inhibit", [False, True])
def test_conv_then_pool_chain(inhibit: bool) -> None:
    geom = GEOM_A.validate()
    rng = np.random.default_rng(21 + inhibit)
    weights, mask = random_kernels(geom, rng)
    samples = sample_inputs(geom, rng, 2)
    threshold, size = 300, 2
    conv = ConvCore(channels=geom.channels, height=geom.height, width=geom.width,
                    maps=geom.maps, kernel=geom.kernel, lanes=geom.lanes,
                    time_steps=geom.time_steps)
    pool = PoolCore(channels=geom.maps, height=geom.out_h, width=geom.out_w, size=size,
                    time_steps=geom.time_steps, index_bits=geom.index_bits)
    layer = model_layer(geom, Case(geom=geom, threshold=threshold, leak_shift=0,
                                   inhibit=inhibit, samples=0, seed=0), weights, mask)
    T = geom.time_steps

    async def testbench(ctx: SimulatorContext) -> None:
        ctx.set(conv.threshold, threshold)
        ctx.set(conv.inhibit, int(inhibit))
        await host_writes(ctx, conv.host, host_words(geom, weights, mask))
        spiked = 0
        for n, times in enumerate(samples):
            flat = times.reshape(-1)
            order = np.lexsort((np.arange(len(flat)), flat))
            beats = [(EventKind.SPIKE.value, int(flat[i]), int(i)) for i in order if flat[i] < T]
            beats.append((EventKind.END.value, 0, 0))
            got = (await stream_sample(ctx, conv.events_in, pool.events_out, beats, rng)).beats
            out, _ = layer.forward(times[None].astype(np.int16))
            pooled = first_spike_pool(out[0], size, size).reshape(-1)
            want = {p: int(t) for p, t in enumerate(pooled) if t < T}
            spikes = got[:-1]
            assert got[-1] == (EventKind.END.value, T - 1, 0), f"sample {n}: END"
            assert [t for _, t, _ in spikes] == sorted(t for _, t, _ in spikes)
            assert len(spikes) == len(want), f"sample {n}: pooled spikes"
            assert {p: t for _, t, p in spikes} == want, f"sample {n}: pooled spike times"
            spiked += len(spikes)
        assert spiked > 0

    sim = Simulator(ConvPoolChain(conv, pool))
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


def test_pool_parameters_are_checked() -> None:
    with warnings.catch_warnings():
        # a constructor that raises leaves an object Amaranth reports as never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(TypeError, match="size must be an int"):
            PoolCore(channels=1, height=4, width=4, size=2.0, time_steps=4, index_bits=4)
        with pytest.raises(ValueError, match="size = 5: larger than the input"):
            PoolCore(channels=1, height=4, width=4, size=5, time_steps=4, index_bits=4)
        with pytest.raises(ValueError, match="index_bits = 3: too narrow"):
            PoolCore(channels=1, height=4, width=4, size=2, time_steps=4, index_bits=3)
        with pytest.raises(TypeError, match="PoolCore: counter_bits must be an int"):
            PoolCore(channels=1, height=4, width=4, size=2, time_steps=4, index_bits=4,
                     counter_bits=16.0)
        with pytest.raises(ValueError, match="PoolCore: counter_bits must be in 8..64, not 7"):
            PoolCore(channels=1, height=4, width=4, size=2, time_steps=4, index_bits=4,
                     counter_bits=7)
        gc.collect()
