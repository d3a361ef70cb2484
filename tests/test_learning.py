"""``Learning`` on its own in the Amaranth simulator, against ``model.rules`` and ``model.lfsr``.

A wrapper gives the unit the memories ``LayerCore`` gives it, with the latencies its docstring
states: weights and row-mask words per lane and the column-mask words (``BankedRam``, latency
``ram_latency``; a lane's writes enabled by ``lane_onehot``, as in the core), the input times (a
``Memory`` read into a register: latency 2). The testbench loads a random network (the words laid
out by ``hw.memory_map``) and runs winners' passes as the core's FSM does (``start``, a cycle,
then ``run`` until ``idle``). For each pass of winner j (row k of lane p, spike time t) it
compares what the unit writes with the golden model's learning step (``model.network``):

- the weight of every live synapse i -> j, inputs in ascending order, written at i * K + k with
  ``rules.stdp_delta``, the u-th update rounded with the u-th LFSR state (``lfsr.lfsr_step``, one
  step per update, carried from pass to pass);
- for every synapse ``rules.prune_decision`` prunes, the row-mask word of input i with bit k
  cleared, and every column-mask word of j rebuilt with the pruned inputs removed;
- ``updates`` once per live synapse, ``pruned`` once per pruning, ``live`` (host-written first)
  one less two cycles after each ``pruned`` and never else, and the LFSR register after the pass.

The winners include one twice in a row (its second pass reads the first one's write-back), one
with no live synapse and one with all; ``n_inputs`` is not a multiple of the column word.

In rewire mode ("pq", ``cut_mode``) each pass gets a cut: the host's (``rewiring.pq_cut`` of a
random count) or an arbitrary one; the weights take four values, so ties are many. The unit
must prune what ``rewiring.cut_prune`` selects, write no weight and leave the LFSR alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal, unsigned
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator, SimulatorContext
from loadable_rams import LoadableRams

from synaprune.hw.banked_ram import BankedRam
from synaprune.hw.learning import Learning
from synaprune.hw.memory_map import col_mask_words, row_mask_words, weight_words
from synaprune.hw.single_port_ram import SinglePortRam
from synaprune.model import rewiring, rules
from synaprune.model.config import Config
from synaprune.model.lfsr import lfsr_step

FRAC_BITS = 6  # small rates' fraction: updates of many weight steps, so that pruning happens
PASSES = 8
MAX_PASS_CYCLES = 3000


@dataclass
class PassLog:
    """What the unit did in one pass: write requests (address, word) in order, flag counts, the
    cycles ``pruned`` was high and the cycles ``live`` changed (with its new value)."""

    weights: list[tuple[int, int]] = field(default_factory=list)
    rows: list[tuple[int, int]] = field(default_factory=list)
    cols: list[tuple[int, int]] = field(default_factory=list)
    updates: int = 0
    pruned_cycles: list[int] = field(default_factory=list)
    live_changes: list[tuple[int, int]] = field(default_factory=list)


class LearningBench(Elaboratable):
    """``Learning`` with the core's memories around it; while ``loading`` the banked RAMs'
    write ports take the testbench's ``load`` requests instead of the unit's."""

    def __init__(self, cfg: Config) -> None:
        P, K, n, L = cfg.lanes, cfg.rows, cfg.n_inputs, cfg.ram_latency
        self.dut = Learning(lanes=P, rows=K, n_inputs=n, col_word_bits=cfg.col_word_bits,
                            weight_bits=cfg.weight_bits, time_bits=cfg.time_bits,
                            stdp_frac_bits=cfg.stdp_frac_bits, ram_latency=L,
                            lfsr_seed=cfg.lfsr_seed, row_word_bits=cfg.row_word_bits,
                            paced=cfg.single_port, pipelined=cfg.die_wide)
        # single-port weights and row masks: a read in a write's cycle returns junk, so the
        # pass's reads and writes must never meet (the paced walk)
        ram = SinglePortRam if cfg.single_port else BankedRam
        self.w = [ram(width=cfg.weight_bits, depth=n * K, latency=L) for _ in range(P)]
        self.row = [ram(width=cfg.row_word_width, depth=n * cfg.row_words, latency=L)
                    for _ in range(P)]
        self.col = BankedRam(width=cfg.col_word_bits, depth=cfg.n_neurons * cfg.col_words,
                             latency=L)
        self.t_in = Memory(shape=unsigned(cfg.time_bits), depth=n, init=[])
        self.rams = LoadableRams((*self.w, *self.row, self.col))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dut = m.submodules.dut = self.dut
        m.submodules.t_in = self.t_in
        t_rd = self.t_in.read_port()
        t_q = Signal.like(t_rd.data)  # the input times' registered read: latency 2
        m.d.comb += [t_rd.addr.eq(dut.input_addr), dut.input_time.eq(t_q)]
        m.d.sync += t_q.eq(t_rd.data)

        for p in range(len(self.w)):
            lane = dut.lane_onehot[p]
            self.rams.attach(m, f"w{p}", self.w[p], read_addr=dut.weight_addr,
                             data_in=dut.weights[p], addr=dut.weight_write_addr,
                             data=dut.weight_write_data, en=dut.weight_write_en & lane)
            self.rams.attach(m, f"row{p}", self.row[p], read_addr=dut.row_addr,
                             data_in=dut.row_words[p], addr=dut.row_write_addr,
                             data=dut.row_write_data[p], en=dut.row_write_en & lane)
        self.rams.attach(m, "col", self.col, read_addr=dut.col_addr, data_in=dut.col_word,
                         addr=dut.col_write_addr, data=dut.col_write_data, en=dut.col_write_en)
        return m


def make_network(cfg: Config, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray, list[int]]:
    """Weights, mask [input, neuron], input times [input] and the winners, in order."""
    n, N = cfg.n_inputs, cfg.n_neurons
    weights = rng.integers(0, cfg.w_max + 1, (n, N))
    mask = rng.random((n, N)) < 0.6
    times = rng.integers(0, cfg.never + 1, n)  # never (T) too: a late input
    empty, full = rng.choice(N, size=2, replace=False)
    mask[:, empty], mask[:, full] = False, True
    winners = [int(x) for x in rng.integers(0, N, PASSES - 3)]
    winners[1:1] = [winners[0]]  # the same winner twice in a row
    winners += [int(empty), int(full)]
    return weights, mask, times, winners


def simulate(cfg: Config, mode: str, seed: int) -> int:
    """Run the winners' passes, check each against the model; return the pruned synapses.
    ``mode``: "prune" (STDP and the prune threshold), "stdp" (pruning off) or "cut" (rewire
    mode)."""
    rng = np.random.default_rng(seed)
    P, K, G = cfg.lanes, cfg.rows, cfg.col_words
    R, W = cfg.row_word_width, cfg.row_words
    weights, mask, times, winners = make_network(cfg, rng)
    prune, cut_mode = mode == "prune", mode == "cut"
    if cut_mode:
        weights = weights // 64 * 64  # four weights: ties at the cut
    bench = LearningBench(cfg)
    dut = bench.dut
    lfsr = int(rng.integers(1, 1 << 32))
    total_pruned = 0

    async def load(ctx: SimulatorContext) -> None:
        contents = [(bench.w[p], weight_words(cfg, weights)[p]) for p in range(P)]
        contents += [(bench.row[p], row_mask_words(cfg, mask)[p]) for p in range(P)]
        contents.append((bench.col, col_mask_words(cfg, mask)))
        await bench.rams.fill(ctx, contents, cfg.ram_latency)
        for i, t in enumerate(times):
            ctx.set(bench.t_in.data[i], int(t))
        for port, value in ((dut.lfsr_write, lfsr), (dut.live_write, int(mask.sum()))):
            ctx.set(dut.wdata, value)
            ctx.set(port, 1)
            await ctx.tick()
            ctx.set(port, 0)

    async def learn(ctx: SimulatorContext, j: int, t_post: int) -> PassLog:
        """start (the winner j), a cycle, then run until idle and two cycles more."""
        k, p = divmod(j, P)
        for port, value in ((dut.win_row, k), (dut.win_lane, p), (dut.win_time, t_post),
                            (dut.win_col_base, j * G),
                            (dut.win_kmask, ~(1 << k % R) & ((1 << R) - 1)),
                            (dut.start, 1)):
            ctx.set(port, value)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick()
        ctx.set(dut.run, 1)
        assert not ctx.get(dut.idle), "idle in the pass's first cycle"
        log, live = PassLog(), ctx.get(dut.live)
        cycle, end = 0, None
        while end is None or cycle < end:
            if ctx.get(dut.weight_write_en):
                log.weights.append((ctx.get(dut.weight_write_addr),
                                    ctx.get(dut.weight_write_data)))
            if ctx.get(dut.row_write_en):
                log.rows.append((ctx.get(dut.row_write_addr), ctx.get(dut.row_write_data[p])))
            if ctx.get(dut.col_write_en):
                log.cols.append((ctx.get(dut.col_write_addr), ctx.get(dut.col_write_data)))
            log.updates += ctx.get(dut.updates)
            if ctx.get(dut.pruned):
                log.pruned_cycles.append(cycle)
            if ctx.get(dut.live) != live:
                live = ctx.get(dut.live)
                log.live_changes.append((cycle, live))
            if end is None and ctx.get(dut.idle):
                ctx.set(dut.run, 0)
                end = cycle + 3
            assert cycle < MAX_PASS_CYCLES, f"idle never rose in {MAX_PASS_CYCLES} cycles"
            await ctx.tick()
            cycle += 1
        return log

    async def testbench(ctx: SimulatorContext) -> None:
        nonlocal lfsr, total_pruned
        await load(ctx)
        for number, j in enumerate(winners):
            k, p = divmod(j, P)
            t_post = int(rng.integers(0, cfg.time_steps))
            a_plus = int(rng.integers(0, 1 << (FRAC_BITS + 1)))
            a_minus = -int(rng.integers(0, 1 << (FRAC_BITS + 1)))
            threshold = int(rng.integers(cfg.w_max // 8, cfg.w_max // 3))
            inputs = np.flatnonzero(mask[:, j])
            if rng.random() < 0.5:  # the host's cut for a count, else any cut
                cut = rewiring.pq_cut(weights[:, j], mask[:, j],
                                      int(rng.integers(0, len(inputs) + 2)))
            else:
                cut = (int(rng.integers(0, cfg.w_max + 1)), int(rng.integers(0, cfg.n_inputs)))
            for port, value in ((dut.a_plus, a_plus),
                                (dut.a_minus, a_minus & ((1 << (FRAC_BITS + 2)) - 1)),
                                (dut.prune_enable, prune), (dut.prune_threshold, threshold),
                                (dut.cut_mode, cut_mode), (dut.cut, cut[0]),
                                (dut.cut_equal, cut[1])):
                ctx.set(port, value)
            log = await learn(ctx, j, t_post)

            row_words = row_mask_words(cfg, mask)[p]
            where = f"pass {number} (neuron {j}, {len(inputs)} live)"
            if cut_mode:  # the chip's rewire pass (model.network.Network.rewire)
                pruned = np.isin(inputs, rewiring.cut_prune(weights[:, j], mask[:, j], *cut))
                assert log.weights == [], f"{where}: weights written in rewire mode"
            else:  # the model's learning step of winner j (model.network.Network._learn)
                rand = []
                for _ in inputs:
                    rand.append(lfsr)
                    lfsr = lfsr_step(lfsr)
                w_new = rules.stdp_delta(weights[inputs, j], times[inputs], t_post,
                                         np.array(rand, dtype=np.uint32), cfg, a_plus, a_minus)
                pruned = rules.prune_decision(w_new, prune, threshold)
                weights[inputs, j] = w_new
                assert log.weights == [(int(i) * K + k, int(w))
                                       for i, w in zip(inputs, w_new, strict=True)], (
                    f"{where}: weights written {log.weights}, model {w_new.tolist()}")
            mask[inputs[pruned], j] = False
            total_pruned += int(pruned.sum())
            # the row-mask word of input i holding row k: i * W + k // R, bit k % R
            addrs = [int(i) * W + k // R for i in inputs[pruned]]
            assert log.rows == [(a, int(row_words[a]) & ~(1 << k % R)) for a in addrs], (
                f"{where}: row-mask words {log.rows}")
            cols = col_mask_words(cfg, mask)[j * G:(j + 1) * G]
            assert log.cols == [(j * G + g, int(cols[g])) for g in range(G)], (
                f"{where}: column words {log.cols}, model {cols.tolist()}")
            assert log.updates == len(inputs), f"{where}: {log.updates} updates"
            live_before = int(mask.sum()) + int(pruned.sum())
            assert log.live_changes == [(c + 2, live_before - 1 - n)
                                        for n, c in enumerate(log.pruned_cycles)], (
                f"{where}: live changes {log.live_changes}, pruned in {log.pruned_cycles}")
            assert len(log.pruned_cycles) == int(pruned.sum()), f"{where}: pruned flags"
            assert ctx.get(dut.live) == int(mask.sum()), f"{where}: live"
            assert ctx.get(dut.lfsr) == lfsr, f"{where}: LFSR {ctx.get(dut.lfsr):#x}"

    sim = Simulator(bench)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return total_pruned


def config(lanes: int, rows: int, n_inputs: int, col_word_bits: int, ram_latency: int,
           row_word_bits: int = 0, single_port: bool = False) -> Config:
    """The model's widths for these sizes (``die_wide`` follows ``ram_latency``)."""
    return Config(image_shape=(1, n_inputs), n_inputs=n_inputs, n_neurons=lanes * rows,
                  lanes=lanes, col_word_bits=col_word_bits, weight_bits=8, time_steps=8,
                  stdp_frac_bits=FRAC_BITS, a_plus=1, a_minus=-1, ram_latency=ram_latency,
                  row_word_bits=row_word_bits, single_port=single_port)


@pytest.mark.parametrize("mode", ["prune", "stdp", "cut"])
# row_word_bits 4: three words of 4 rows per input (the winner's row in any of them);
# single_port: single-port weights and row masks, the paced walk (ram_latency 5 and 7)
@pytest.mark.parametrize(("lanes", "rows", "n_inputs", "col_word_bits", "ram_latency",
                          "row_word_bits", "single_port"),
                         [(1, 6, 21, 8, 4, 0, False), (3, 5, 37, 16, 7, 0, False),
                          (2, 12, 21, 8, 5, 4, False), (1, 20, 21, 8, 5, 8, True),
                          (3, 5, 37, 16, 7, 0, True)])
def test_learning_against_model(lanes: int, rows: int, n_inputs: int, col_word_bits: int,
                                 ram_latency: int, row_word_bits: int, single_port: bool,
                                 mode: str) -> None:
    cfg = config(lanes, rows, n_inputs, col_word_bits, ram_latency, row_word_bits, single_port)
    assert n_inputs % col_word_bits and cfg.die_wide == (ram_latency >= 6)
    seed = lanes * 1000 + n_inputs * 10 + ("stdp", "prune", "cut").index(mode)
    pruned = simulate(cfg, mode, seed=seed)
    assert (pruned > 0) == (mode != "stdp"), f"{pruned} synapses pruned"
