"""``Regrow`` on its own in the Amaranth simulator, against ``model.rewiring.regrow``.

A wrapper gives the unit the memories ``LayerCore`` gives it (the column-mask words and the
row-mask words per lane in ``BankedRam``, latency ``ram_latency``, written by the unit, the lane's
row-mask writes enabled by its ``lane_onehot``) and the LFSR register that ``Learning`` steps on
``lfsr_step``. For each scenario the testbench loads a network's mask after a winner's pass
pruned ``n`` of the winner's synapses, replays that pass's strobes (``updated`` per live synapse
before pruning, ``pruned`` per pruning, some in the same cycle), then ``go``; it checks:

- ``pending`` after the pass (set iff ``n > 0``);
- the inputs regrown, in order, equal ``rewiring.regrow(live, states)`` with the next n LFSR
  states (``model.lfsr``): the weight written (``regrow_weight`` at i*K + k, in the winner's
  lane), the column word of the input's word with its bit set (after the earlier regrowths'
  bits), the row-mask word of the input with the winner's bit set;
- one ``grown`` per regrowth, the LFSR stepped n times, and ``idle`` back exactly
  ``n * model.cycles.regrow_cycles(cfg)`` cycles after ``go`` (the cycle model's cost).

Scenarios: several regrowths in one pass, one absent input left (a full column pruned once:
the pruned input grows back), absent inputs only in the last (partial) column word, and a pass
that pruned nothing; at two sizes (one lane, 8-bit words; three lanes, 16-bit words, the
die-wide latency).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Mux, Signal, UnusedElaboratable
from amaranth.sim import Simulator, SimulatorContext
from loadable_rams import LoadableRams

from synaprune.hw.banked_ram import BankedRam
from synaprune.hw.layouts import LFSR_BITS
from synaprune.hw.memory_map import col_mask_words, row_mask_words
from synaprune.hw.regrow import Regrow
from synaprune.model import rewiring
from synaprune.model.config import Config
from synaprune.model.cycles import regrow_cycles
from synaprune.model.lfsr import TOGGLE_MASK, LfsrStream

REGROW_WEIGHT = 77


class RegrowBench(Elaboratable):
    """``Regrow`` with the column and row-mask memories and an LFSR register; while ``loading``
    the memories' write ports take the testbench's ``load`` requests instead of the unit's."""

    def __init__(self, cfg: Config) -> None:
        P, K, n, L = cfg.lanes, cfg.rows, cfg.n_inputs, cfg.ram_latency
        self.dut = Regrow(lanes=P, rows=K, n_inputs=n, col_word_bits=cfg.col_word_bits,
                          weight_bits=cfg.weight_bits, ram_latency=L,
                          row_word_bits=cfg.row_word_bits)
        self.row = [BankedRam(width=cfg.row_word_width, depth=n * cfg.row_words, latency=L)
                    for _ in range(P)]
        self.col = BankedRam(width=cfg.col_word_bits, depth=cfg.n_neurons * cfg.col_words,
                             latency=L)
        self.lfsr = Signal(LFSR_BITS)
        self.rams = LoadableRams((*self.row, self.col))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dut = m.submodules.dut = self.dut
        lfsr = self.lfsr
        with m.If(dut.lfsr_step):
            m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ TOGGLE_MASK, lfsr >> 1))
        m.d.comb += dut.lfsr.eq(lfsr)

        for p in range(len(self.row)):
            self.rams.attach(m, f"row{p}", self.row[p], read_addr=dut.row_addr,
                             data_in=dut.row_words[p], addr=dut.row_write_addr,
                             data=dut.row_write_data[p], en=dut.row_write_en & dut.lane_onehot[p])
        self.rams.attach(m, "col", self.col, read_addr=dut.col_addr, data_in=dut.col_word,
                         addr=dut.col_write_addr, data=dut.col_write_data, en=dut.col_write_en)
        return m


@dataclass
class Scenario:
    """A winner j's pass: ``mask`` after the pass, ``pruned`` inputs the pass removed."""

    name: str
    mask: np.ndarray
    j: int
    pruned: list[int]


@dataclass
class Log:
    weights: list[tuple[int, int]] = field(default_factory=list)
    cols: list[tuple[int, int]] = field(default_factory=list)
    rows: list[tuple[int, int]] = field(default_factory=list)
    grown: int = 0
    idle_after: int = -1
    pending: int = 0
    lfsr: int = 0


def scenarios(cfg: Config, rng: np.random.Generator) -> list[Scenario]:
    n, N, B = cfg.n_inputs, cfg.n_neurons, cfg.col_word_bits
    out = []
    # several regrowths: a random mask, 5 of the winner's live synapses pruned
    mask = rng.random((n, N)) < 0.6
    j = int(rng.integers(N))
    live = np.flatnonzero(mask[:, j])
    gone = sorted(int(i) for i in rng.choice(live, size=5, replace=False))
    mask[gone, j] = False
    out.append(Scenario("several", mask, j, gone))
    # one absent input: a fully connected winner that pruned one synapse (it grows back)
    mask = rng.random((n, N)) < 0.5
    j = int(rng.integers(N))
    mask[:, j] = True
    i = int(rng.integers(n))
    mask[i, j] = False
    out.append(Scenario("one_absent", mask, j, [i]))
    # absent inputs in the last (partial) word only: everything else live, two pruned there
    mask = rng.random((n, N)) < 0.5
    j = int(rng.integers(N))
    first_last = (cfg.col_words - 1) * B
    mask[:, j] = True
    tail = list(range(first_last, n))
    gone = sorted(int(i) for i in rng.choice(tail, size=2, replace=False))
    mask[gone, j] = False
    out.append(Scenario("last_word", mask, j, gone))
    # nothing pruned: pending stays low
    out.append(Scenario("none", rng.random((n, N)) < 0.5, int(rng.integers(N)), []))
    return out


def run(cfg: Config, sc: Scenario, lfsr_seed: int, strobes_rng: np.random.Generator) -> Log:
    P = cfg.lanes
    bench = RegrowBench(cfg)
    dut = bench.dut
    log = Log()
    live_before = int(sc.mask[:, sc.j].sum()) + len(sc.pruned)
    # the pass's strobes: live_before updates and len(pruned) prunings, some in one cycle
    ups = [1] * live_before + [0] * len(sc.pruned)
    prs = [0] * live_before + [1] * len(sc.pruned)
    shift = int(strobes_rng.integers(0, min(live_before, 3) + 1)) if sc.pruned else 0
    prs = prs[shift:] + [0] * shift  # the first prunings overlap the last updates
    limit = 2 * len(sc.pruned) * regrow_cycles(cfg) + 50

    async def testbench(ctx: SimulatorContext) -> None:
        contents = [(bench.row[p], row_mask_words(cfg, sc.mask)[p]) for p in range(P)]
        contents.append((bench.col, col_mask_words(cfg, sc.mask)))
        await bench.rams.fill(ctx, contents, cfg.ram_latency)
        ctx.set(bench.lfsr, lfsr_seed)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for u, pr in zip(ups, prs, strict=True):
            ctx.set(dut.updated, u)
            ctx.set(dut.pruned, pr)
            await ctx.tick()
        ctx.set(dut.updated, 0)
        ctx.set(dut.pruned, 0)
        await ctx.tick()
        log.pending = ctx.get(dut.pending)
        if not log.pending:
            log.lfsr = ctx.get(bench.lfsr)
            return
        k, p = divmod(sc.j, P)
        for port, value in ((dut.win_row, k), (dut.win_lane, p),
                            (dut.win_col_base, sc.j * cfg.col_words),
                            (dut.regrow_weight, REGROW_WEIGHT), (dut.go, 1)):
            ctx.set(port, value)
        await ctx.tick()
        ctx.set(dut.go, 0)
        cycle = 1
        while True:
            assert ctx.get(dut.lane_onehot) == 1 << p
            if ctx.get(dut.weight_write_en):
                log.weights.append((ctx.get(dut.weight_write_addr),
                                    ctx.get(dut.weight_write_data)))
            if ctx.get(dut.col_write_en):
                log.cols.append((ctx.get(dut.col_write_addr), ctx.get(dut.col_write_data)))
            if ctx.get(dut.row_write_en):
                log.rows.append((ctx.get(dut.row_write_addr), ctx.get(dut.row_write_data[p])))
            log.grown += ctx.get(dut.grown)
            if ctx.get(dut.idle):
                log.idle_after = cycle
                break
            assert cycle < limit, f"idle never rose in {limit} cycles"
            await ctx.tick()
            cycle += 1
        log.lfsr = ctx.get(bench.lfsr)

    sim = Simulator(bench)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return log


def check(cfg: Config, sc: Scenario, log: Log, lfsr_seed: int) -> None:
    K, P, B, G = cfg.rows, cfg.lanes, cfg.col_word_bits, cfg.col_words
    stream = LfsrStream(lfsr_seed)
    n = len(sc.pruned)
    assert log.pending == (n > 0), f"{sc.name}: pending {log.pending}"
    grown = rewiring.regrow(sc.mask[:, sc.j], stream.take(n))
    assert log.lfsr == stream.peek_state(), f"{sc.name}: LFSR {log.lfsr:#x}"
    if n == 0:
        return
    k, p = divmod(sc.j, P)
    assert log.weights == [(int(i) * K + k, REGROW_WEIGHT) for i in grown], (
        f"{sc.name}: weights {log.weights}, model grows {grown.tolist()}")
    mask = sc.mask.copy()
    rows = row_mask_words(cfg, sc.mask)[p]
    cols = []
    for i in grown:
        mask[i, sc.j] = True
        g = int(i) // B
        cols.append((sc.j * G + g, int(col_mask_words(cfg, mask)[sc.j * G + g])))
    assert log.cols == cols, f"{sc.name}: column words {log.cols}, model {cols}"
    # the row-mask word of input i holding row k: i * W + k // R, bit k % R
    R, W = cfg.row_word_width, cfg.row_words
    addrs = [int(i) * W + k // R for i in grown]
    assert log.rows == [(a, int(rows[a]) | 1 << k % R) for a in addrs], (
        f"{sc.name}: row words {log.rows}")
    assert log.grown == n, f"{sc.name}: {log.grown} grown strobes"
    assert log.idle_after == n * regrow_cycles(cfg), (
        f"{sc.name}: idle after {log.idle_after} cycles, cycle model {n * regrow_cycles(cfg)}")


# row_word_bits 4: a lane's 10 rows in three words per input, the last of 2 rows
@pytest.mark.parametrize(("lanes", "rows", "n_inputs", "col_word_bits", "ram_latency",
                          "row_word_bits"),
                         [(1, 6, 21, 8, 4, 0), (3, 5, 37, 16, 7, 0), (2, 3, 70, 32, 5, 0),
                          (2, 10, 21, 8, 4, 4)])
def test_regrow_against_model(lanes: int, rows: int, n_inputs: int, col_word_bits: int,
                              ram_latency: int, row_word_bits: int) -> None:
    cfg = Config(image_shape=(1, n_inputs), n_inputs=n_inputs, n_neurons=lanes * rows,
                 lanes=lanes, col_word_bits=col_word_bits, ram_latency=ram_latency,
                 row_word_bits=row_word_bits)
    assert n_inputs % col_word_bits, "the last column word must be partial"
    rng = np.random.default_rng(n_inputs * 100 + lanes)
    for sc in scenarios(cfg, rng):
        seed = int(rng.integers(1, 1 << 32))
        check(cfg, sc, run(cfg, sc, seed, rng), seed)


def test_regrow_rejects_bad_sizes() -> None:
    warnings.simplefilter("ignore", UnusedElaboratable)  # the refused objects are never used
    with pytest.raises(ValueError, match="power of two"):
        Regrow(lanes=1, rows=2, n_inputs=8, col_word_bits=12, weight_bits=8, ram_latency=4)
    with pytest.raises(ValueError, match="ram_latency"):
        Regrow(lanes=1, rows=2, n_inputs=8, col_word_bits=8, weight_bits=8, ram_latency=3)
    with pytest.raises(TypeError, match="lanes"):
        Regrow(lanes=1.0, rows=2, n_inputs=8, col_word_bits=8, weight_bits=8, ram_latency=4)
