"""``Integration`` on its own in the Amaranth simulator, against ``model.rules.integrate``.

A wrapper gives the unit the memories ``LayerCore`` gives it, with the latencies its docstring
states: the event list (a ``Memory`` read into a register: latency 2), the weights and row-mask
words per lane (``BankedRam``: latency ``ram_latency``; the row-mask address is the event RAM's
registered word, as in the core), the membranes per lane (a ``Memory`` with a synchronous read,
written through ``hw.core_rams.registered_write``). The testbench loads random weights, masks and
membranes and runs the time steps of an event list as the core's FSM does (``start``, then
``run`` until ``idle``). After each step every membrane must be ``rules.integrate`` of the old one
and the step's live synapses (the network's ``weights * mask`` summed over the step's inputs,
saturating at ``v_max``), ``synapses`` must sum to the step's live synapses, and nothing may be
written once ``idle`` is high.

The steps' masks are chosen to reach the accumulate's corners: random, every event on one row
(back-to-back visits of one neuron: forwarding from the visit ahead), two rows (forwarding from
two visits ahead), empty (pruned synapses: no visit reaches the membranes), full, lanes of
different popcounts, and a step without events; and a long step whose work is skewed, first onto
lane 0 and then onto the last lane, with more events than the fetch may run ahead of a lane (the
credits bind). The cycles from ``start`` to ``idle`` of every step with events must be the
pipeline's fill and drain plus ``model.cycles.walk_cycles`` (lanes that walk their own queues).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal, unsigned
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.banked_ram import BankedRam
from synaprune.hw.core_rams import registered_write
from synaprune.hw.integration import Integration
from synaprune.hw.memory_map import row_mask_words, weight_words
from synaprune.model import rules
from synaprune.model.config import Config
from synaprune.model.cycles import walk_cycles
from synaprune.model.network import row_word_costs

# the steps' mask patterns, in order; "none" is a step without events
MODES = ("random", "one_row", "two_rows", "empty", "none", "full", "lanes", "random", "skew",
         "one_row")
EVENTS_PER_STEP = 4
SKEW_EVENTS = 30  # more than twice the fetch's credits per lane (2 + ram_latency + 4)
MAX_STEP_CYCLES = 2000


@dataclass(frozen=True)
class Step:
    """One time step: the event list's bounds and the inputs it holds."""

    first: int
    end: int
    inputs: tuple[int, ...]


class IntegrationBench(Elaboratable):
    """``Integration`` with the core's memories around it. ``events``: the event list (input
    indices). The weight and row-mask RAMs' write ports are left to the testbench (loading)."""

    def __init__(self, cfg: Config, *, pipelined: bool, events: list[int]) -> None:
        P, K, n = cfg.lanes, cfg.rows, cfg.n_inputs
        self.dut = Integration(lanes=P, rows=K, n_inputs=n, weight_bits=cfg.weight_bits,
                               membrane_bits=cfg.membrane_bits, ram_latency=cfg.ram_latency,
                               row_word_bits=cfg.row_word_bits, pipelined=pipelined)
        self.ev_mem = Memory(shape=unsigned(cfg.input_bits), depth=n, init=events)
        self.w = [BankedRam(width=cfg.weight_bits, depth=n * K, latency=cfg.ram_latency)
                  for _ in range(P)]
        self.row = [BankedRam(width=cfg.row_word_width, depth=n * cfg.row_words,
                              latency=cfg.ram_latency) for _ in range(P)]
        self.v = [Memory(shape=unsigned(cfg.membrane_bits), depth=K, init=[]) for _ in range(P)]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dut = m.submodules.dut = self.dut
        m.submodules.ev_mem = self.ev_mem
        ev_rd = self.ev_mem.read_port()
        ev_q = Signal.like(ev_rd.data)  # the event RAM's registered read: latency 2
        m.d.comb += [ev_rd.addr.eq(dut.event_addr), dut.event_index.eq(ev_q)]
        m.d.sync += ev_q.eq(ev_rd.data)
        for p in range(len(self.v)):
            m.submodules[f"w{p}"], m.submodules[f"row{p}"] = self.w[p], self.row[p]
            m.submodules[f"v{p}"] = self.v[p]
            m.d.comb += [self.row[p].read.addr.eq(dut.row_addr),
                         dut.row_words[p].eq(self.row[p].read.data),
                         self.w[p].read.addr.eq(dut.weight_addr[p]),
                         dut.weights[p].eq(self.w[p].read.data)]
            v_rd = self.v[p].read_port()
            m.d.comb += [v_rd.addr.eq(dut.v_read_addr[p]), dut.v_read[p].eq(v_rd.data)]
            v_wr = registered_write(m, self.v[p], f"v{p}")
            m.d.comb += [v_wr.addr.eq(dut.v_write_addr[p]), v_wr.data.eq(dut.v_write_data[p]),
                         v_wr.en.eq(dut.v_write_en[p])]
        return m


def step_mask(rng: np.random.Generator, mode: str, n_events: int, K: int,
              P: int) -> np.ndarray:
    """The row-mask bits [event, row, lane] of a step's events for a mask pattern."""
    shape = (n_events, K, P)
    if mode == "random":
        return rng.random(shape) < 0.6
    if mode == "full":
        return np.ones(shape, dtype=bool)
    if mode == "empty":
        return np.zeros(shape, dtype=bool)
    mask = np.zeros(shape, dtype=bool)
    if mode == "skew":  # all rows of lane 0, then of the last lane; the other lanes row 0 only
        half = n_events // 2
        mask[:, 0, :] = True
        mask[:half, :, 0] = True
        mask[half:, :, P - 1] = True
        return mask
    if mode == "lanes":  # lane p: its first p + 1 rows (lanes of different popcounts)
        for p in range(P):
            mask[:, :p + 1, p] = True
        return mask
    rows = rng.choice(K, size=1 if mode == "one_row" else 2, replace=False)
    mask[:, rows, :] = True
    return mask


def make_network(cfg: Config, seed: int) -> tuple[list[Step], np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """Steps, weights [input, neuron], mask [input, neuron] and initial membranes [neuron]."""
    rng = np.random.default_rng(seed)
    n, K, P = cfg.n_inputs, cfg.rows, cfg.lanes
    inputs = rng.permutation(n)
    weights = rng.integers(0, cfg.w_max + 1, (n, cfg.n_neurons))
    mask = rng.random((n, cfg.n_neurons)) < 0.5  # inputs outside every step keep these
    steps, pos = [], 0
    for mode in MODES:
        count = {"none": 0, "skew": SKEW_EVENTS}.get(mode, EVENTS_PER_STEP)
        idx = inputs[pos:pos + count]
        steps.append(Step(pos, pos + count, tuple(int(i) for i in idx)))
        if count:
            mask[idx] = step_mask(rng, mode, count, K, P).reshape(count, cfg.n_neurons)
        pos += count
    # half the membranes near saturation, half low: sums that saturate and sums that do not
    v = np.where(rng.random(cfg.n_neurons) < 0.5, rng.integers(0, cfg.v_max // 4, cfg.n_neurons),
                 rng.integers(cfg.v_max - 3 * cfg.w_max, cfg.v_max + 1, cfg.n_neurons))
    return steps, weights, mask, v


def simulate(cfg: Config, pipelined: bool, seed: int) -> int:
    """Run every step of a random event list and check it against the model as it goes;
    return how many sums saturated (so that a test can see the corner was reached)."""
    steps, weights, mask, v = make_network(cfg, seed)
    events = [i for s in steps for i in s.inputs]
    bench = IntegrationBench(cfg, pipelined=pipelined, events=events)
    dut, P, K, L = bench.dut, cfg.lanes, cfg.rows, cfg.ram_latency
    w_words, r_words = weight_words(cfg, weights), row_mask_words(cfg, mask)

    def membranes(ctx: SimulatorContext) -> np.ndarray:
        return np.array([ctx.get(bench.v[j % P].data[j // P]) for j in range(cfg.n_neurons)])

    async def load(ctx: SimulatorContext) -> None:
        for addr in range(cfg.n_inputs * K):
            for p in range(P):
                ram = bench.w[p].write
                ctx.set(ram.addr, addr)
                ctx.set(ram.data, int(w_words[p, addr]))
                ctx.set(ram.en, 1)
                if addr < cfg.n_inputs * cfg.row_words:
                    ram = bench.row[p].write
                    ctx.set(ram.addr, addr)
                    ctx.set(ram.data, int(r_words[p, addr]))
                    ctx.set(ram.en, 1)
                else:
                    ctx.set(bench.row[p].write.en, 0)
            await ctx.tick()
        for p in range(P):
            ctx.set(bench.w[p].write.en, 0)
        await ctx.tick().repeat(L)  # the last writes are done
        for j in range(cfg.n_neurons):
            ctx.set(bench.v[j % P].data[j // P], int(v[j]))

    async def run_step(ctx: SimulatorContext, step: Step) -> tuple[int, int]:
        """start, then run until idle; the synapses counted while running and the cycles."""
        ctx.set(dut.first, step.first)
        ctx.set(dut.end, step.end)
        ctx.set(dut.some, step.first != step.end)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.run, 1)
        assert not ctx.get(dut.idle), "start must clear idle"
        synapses = cycles = 0
        while not ctx.get(dut.idle):
            assert cycles < MAX_STEP_CYCLES, f"idle never rose in {MAX_STEP_CYCLES} cycles"
            synapses += ctx.get(dut.synapses)
            await ctx.tick()
            cycles += 1
        return synapses, cycles

    saturated = 0

    async def testbench(ctx: SimulatorContext) -> None:
        nonlocal v, saturated
        await load(ctx)
        for number, step in enumerate(steps):
            synapses, cycles = await run_step(ctx, step)
            where = f"step {number} ({MODES[number]})"
            idx = list(step.inputs)
            live = mask[idx]
            if idx:
                # the fill and drain of ``integ_fill_drain`` for this walker form (whatever
                # the latency), less the core's setup cycle, which this bench does not count
                walk = walk_cycles(row_word_costs(cfg, live), ram_latency=L,
                                   pipelined=pipelined)
                fill = 8 + 2 * L + 3 * pipelined - 1
                assert cycles == fill + walk, (
                    f"{where}: {cycles} cycles, model {fill} + {walk}")
            contribution = (weights[idx] * live).sum(0)
            expected = rules.integrate(v, contribution, cfg.v_max)
            saturated += int((v + contribution > cfg.v_max).sum())
            seen = membranes(ctx)
            assert np.array_equal(seen, expected), (
                f"{where}: membranes at idle {seen.tolist()}, model {expected.tolist()}")
            assert synapses == int(live.sum()), (
                f"{where}: synapses counted {synapses}, live synapses {int(live.sum())}")
            # drained: nothing more is visited or written, run high or low
            for cycle in range(2 * L + 4):
                ctx.set(dut.run, cycle < L)
                assert ctx.get(dut.idle) and ctx.get(dut.synapses) == 0, f"{where}: not idle"
                assert ctx.get(dut.v_write_en) == 0, f"{where}: a write after idle"
                await ctx.tick()
            assert np.array_equal(membranes(ctx), expected), f"{where}: changed after idle"
            v = expected

    sim = Simulator(bench)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return saturated


def config(lanes: int, rows: int, n_inputs: int, ram_latency: int,
           row_word_bits: int = 0) -> Config:
    """Widths of the model (weight 8 bits, membrane 10: sums saturate after a few events)."""
    return Config(image_shape=(1, n_inputs), n_inputs=n_inputs, n_neurons=lanes * rows,
                  lanes=lanes, weight_bits=8, membrane_bits=10, threshold=0,
                  ram_latency=ram_latency, row_word_bits=row_word_bits)


@pytest.mark.parametrize("pipelined", [False, True])
# row_word_bits: 0 (a whole row per word), 4 (two words of 4 rows), 8 (three words, the last
# of 4 rows: W not a power of two)
@pytest.mark.parametrize(("lanes", "rows", "ram_latency", "row_word_bits"),
                         [(2, 8, 4, 0), (3, 5, 7, 0), (2, 8, 4, 4), (1, 20, 5, 8)])
def test_integration_against_model(lanes: int, rows: int, ram_latency: int, row_word_bits: int,
                                   pipelined: bool) -> None:
    counts = {"none": 0, "skew": SKEW_EVENTS}
    # 3 inputs outside the event list
    n_inputs = sum(counts.get(mode, EVENTS_PER_STEP) for mode in MODES) + 3
    cfg = config(lanes, rows, n_inputs, ram_latency, row_word_bits)
    saturated = simulate(cfg, pipelined,
                         seed=lanes * 1000 + rows * 10 + pipelined + row_word_bits * 7)
    assert saturated > 0, "no sum saturated: the saturation was not exercised"

