"""``Sweep`` (hw/sweep.py) on its own in the Amaranth simulator, against ``model.rules``.

(The file is not ``test_sweep.py``: that one tests the ``synaprune sweep`` command.)

A wrapper gives the unit the memories ``LayerCore`` gives it: membranes and adaptations per lane,
``Memory`` objects with a synchronous read (address ``row_addr``, enable ``read_en``) and the
write-back through ``hw.core_rams.registered_write`` (``write_row``, ``write_lane``, ``v_out``,
``adapt_out``). The testbench fills them with random words and runs sweeps as the core's FSM
does (``zero``, ``start``, ``run`` until ``done``, ``best_reset``; ``clear_begin`` ..
``clear_end`` between samples). After each sweep, for neuron j = row * lanes + lane:

- every membrane is ``rules.leak`` of the old one and every adaptation ``rules.homeo_decay`` of
  the old one (when ``decay_en``), written back;
- the spikes are the neurons with ``rules.margin`` >= 0 that had not fired since the last clear,
  in the order of the network's neuron index (rows in order, lanes low to high within a row);
- each lane's best (``best_valid``, ``best_row``, ``best_margin``) is the candidate
  ``rules.select_winner`` gives for the lane's rows (largest margin, first of equal ones, none
  when no row is eligible).

The sweeps reach rows where every lane fires (the longest stall), sweeps where none is eligible,
ties, negative margins only, leak and decay shifts of 0 and not, and ``zero`` with ``start`` or
cycles ahead of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import Cat, Elaboratable, Module, unsigned
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.core_rams import registered_write
from synaprune.hw.sweep import Sweep
from synaprune.model import rules

MEMBRANE_BITS, ADAPT_BITS = 10, 8
V_MAX, A_MAX = (1 << MEMBRANE_BITS) - 1, (1 << ADAPT_BITS) - 1
# the sweeps of a run, in order; "clear" clears the fired flags (a new sample) before the sweep
PLAN = ("clear random", "random", "random", "clear all_fire", "random", "clear ties",
        "none_fire", "random", "clear random", "all_fire")
MAX_SWEEP_CYCLES = 2000


@dataclass(frozen=True)
class Knobs:
    threshold: int
    leak_shift: int
    decay_en: bool
    decay_shift: int


class SweepBench(Elaboratable):
    """``Sweep`` with the core's membrane and adaptation memories around it."""

    def __init__(self, *, lanes: int, rows: int, die_wide: bool, fired_in_adapt: bool) -> None:
        self.dut = Sweep(lanes=lanes, rows=rows, membrane_bits=MEMBRANE_BITS,
                         adapt_bits=ADAPT_BITS, die_wide=die_wide,
                         fired_in_adapt=fired_in_adapt)
        self.v = [Memory(shape=unsigned(MEMBRANE_BITS), depth=rows, init=[])
                  for _ in range(lanes)]
        # (fired_in_adapt: the fired flag one bit above the adaptation, as in the core)
        self.a = [Memory(shape=unsigned(ADAPT_BITS + fired_in_adapt), depth=rows, init=[])
                  for _ in range(lanes)]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dut = m.submodules.dut = self.dut
        in_adapt = dut.fired_in_adapt
        for p, (v_mem, a_mem) in enumerate(zip(self.v, self.a, strict=True)):
            m.submodules[f"v{p}"], m.submodules[f"a{p}"] = v_mem, a_mem
            a_new = Cat(dut.adapt_out[p], dut.fired_out[p]) if in_adapt else dut.adapt_out[p]
            for mem, word, new, name in ((v_mem, dut.v[p], dut.v_out[p], f"v{p}"),
                                         (a_mem, dut.adapt[p], a_new, f"a{p}")):
                rd = mem.read_port()
                m.d.comb += [rd.addr.eq(dut.row_addr[p]), rd.en.eq(dut.read_en[p]),
                             word.eq(rd.data)]
                if in_adapt and mem is a_mem:
                    m.d.comb += dut.fired_in[p].eq(rd.data[ADAPT_BITS])
                wr = registered_write(m, mem, name)
                m.d.comb += [wr.addr.eq(dut.write_row), wr.data.eq(new),
                             wr.en.eq(dut.write_lane[p])]
        return m


def sweep_state(rng: np.random.Generator, mode: str, n: int) -> tuple[np.ndarray, np.ndarray,
                                                                     Knobs]:
    """Membranes, adaptations [neuron] and knobs of a sweep of ``mode``."""
    leak, decay = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    decay_en = bool(rng.integers(0, 2))
    if mode == "all_fire":  # every margin >= 0: every row of every lane fires
        v = rng.integers(V_MAX - 8, V_MAX + 1, n)
        return v, rng.integers(0, 40, n), Knobs(100, 0, decay_en, decay)
    if mode == "ties":  # equal margins everywhere: the first row wins in every lane
        return np.full(n, 300), np.full(n, 20), Knobs(700, leak, decay_en, decay)
    if mode == "none_fire":
        v = rng.integers(0, V_MAX // 2, n)
        return v, rng.integers(0, A_MAX + 1, n), Knobs(V_MAX, leak, decay_en, decay)
    v, a = rng.integers(0, V_MAX + 1, n), rng.integers(0, A_MAX + 1, n)
    return v, a, Knobs(int(rng.integers(300, 700)), leak, decay_en, decay)


def simulate(lanes: int, rows: int, die_wide: bool, seed: int,
             fired_in_adapt: bool = False) -> dict[str, int]:
    """Run the PLAN's sweeps and check each against the model; return how often the corners
    were reached (rows with several spikes, sweeps with no eligible row). ``fired_in_adapt``:
    the flags live in the adaptation words; a "clear" is then the next sweep's ``first_step``
    (the stored bits, made random there, must be ignored)."""
    rng = np.random.default_rng(seed)
    P, K, n = lanes, rows, lanes * rows
    bench = SweepBench(lanes=lanes, rows=rows, die_wide=die_wide, fired_in_adapt=fired_in_adapt)
    dut = bench.dut
    fired = np.zeros(n, dtype=bool)
    reached = {"multi_spike_rows": 0, "nobody_eligible": 0}

    def words(ctx: SimulatorContext, mems: list[Memory]) -> np.ndarray:
        return np.array([ctx.get(mems[j % P].data[j // P]) for j in range(n)])

    async def clear(ctx: SimulatorContext) -> None:
        ctx.set(dut.clear_begin, 1)
        await ctx.tick()
        ctx.set(dut.clear_begin, 0)
        await ctx.tick().repeat(3)
        ctx.set(dut.clear_end, 1)
        await ctx.tick()
        ctx.set(dut.clear_end, 0)
        await ctx.tick()

    async def sweep(ctx: SimulatorContext, zero_ahead: bool) -> list[int]:
        """zero (with start or cycles ahead of it), start, run until done; the spikes."""
        ctx.set(dut.zero, 1)
        if zero_ahead:
            await ctx.tick()
            ctx.set(dut.zero, 0)
            await ctx.tick().repeat(2)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.zero, 0)
        ctx.set(dut.start, 0)
        ctx.set(dut.run, 1)
        assert ctx.get(dut.sweeping) and ctx.get(dut.sweeping_lane) == (1 << P) - 1
        spikes: list[int] = []
        for _ in range(MAX_SWEEP_CYCLES):
            if ctx.get(dut.spike):
                spikes.append(ctx.get(dut.spike_neuron))
            if ctx.get(dut.done):
                break
            await ctx.tick()
        else:
            raise AssertionError(f"done never rose in {MAX_SWEEP_CYCLES} cycles")
        await ctx.tick()
        ctx.set(dut.run, 0)
        assert not ctx.get(dut.sweeping) and ctx.get(dut.sweeping_lane) == 0
        return spikes

    async def testbench(ctx: SimulatorContext) -> None:
        nonlocal fired
        for number, entry in enumerate(PLAN):
            mode = entry.split()[-1]
            where = f"sweep {number} ({entry})"
            first = entry.startswith("clear")
            if first and not fired_in_adapt:
                await clear(ctx)
            if first:
                fired[:] = False
            # the stored fired bits: the flags so far, or anything in a sample's first step
            stored = rng.random(n) < 0.5 if first else fired.copy()
            if fired_in_adapt:
                ctx.set(dut.first_step, first)
            v, a, knobs = sweep_state(rng, mode, n)
            for j in range(n):
                ctx.set(bench.v[j % P].data[j // P], int(v[j]))
                ctx.set(bench.a[j % P].data[j // P],
                        int(a[j]) | int(stored[j] and fired_in_adapt) << ADAPT_BITS)
            ctx.set(dut.threshold, knobs.threshold)
            ctx.set(dut.leak_shift, knobs.leak_shift)
            ctx.set(dut.decay_en, knobs.decay_en)
            ctx.set(dut.decay_shift, knobs.decay_shift)
            await ctx.tick()  # (die-wide: the knobs are set up a cycle ahead)
            spikes = await sweep(ctx, zero_ahead=number % 2 == 1)

            v_new = rules.leak(v, knobs.leak_shift)
            a_new = rules.homeo_decay(a, knobs.decay_shift) if knobs.decay_en else a
            margins = rules.margin(v_new, a_new, knobs.threshold)
            eligible = ~fired
            fires = eligible & (margins >= 0)
            assert spikes == np.flatnonzero(fires).tolist(), (
                f"{where}: spikes {spikes}, model {np.flatnonzero(fires).tolist()}")
            fired |= fires
            reached["multi_spike_rows"] += int((fires.reshape(K, P).sum(1) > 1).sum())
            reached["nobody_eligible"] += not eligible.any()
            for p in range(P):
                cand, _ = rules.select_winner(margins[p::P], eligible[p::P])
                seen = (bool(ctx.get(dut.best_valid[p])), ctx.get(dut.best_row[p]),
                        ctx.get(dut.best_margin[p]))
                want = (cand >= 0, cand, int(margins[p::P][cand])) if cand >= 0 else (False,)
                assert seen[:len(want)] == want, f"{where}: lane {p} best {seen}, model {want}"
            ctx.set(dut.best_reset, 1)
            await ctx.tick()
            ctx.set(dut.best_reset, 0)
            assert ctx.get(dut.best_valid) == 0, f"{where}: best_reset kept a candidate"
            # (the last write-back is done: requested with done, registered, then written)
            assert np.array_equal(words(ctx, bench.v), v_new), (
                f"{where}: membranes {words(ctx, bench.v).tolist()}, model {v_new.tolist()}")
            a_words = words(ctx, bench.a)
            assert np.array_equal(a_words & A_MAX, a_new), (
                f"{where}: adaptations {(a_words & A_MAX).tolist()}, model {a_new.tolist()}")
            if fired_in_adapt:  # every row's flag written back: fired before or now
                assert np.array_equal(a_words >> ADAPT_BITS, fired.astype(int)), (
                    f"{where}: fired bits {(a_words >> ADAPT_BITS).tolist()}, model "
                    f"{fired.astype(int).tolist()}")

    sim = Simulator(bench)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return reached


@pytest.mark.parametrize("fired_in_adapt", [False, True])
@pytest.mark.parametrize("die_wide", [False, True])
@pytest.mark.parametrize(("lanes", "rows"), [(1, 6), (4, 16)])
def test_sweep_against_model(lanes: int, rows: int, die_wide: bool,
                             fired_in_adapt: bool) -> None:
    reached = simulate(lanes, rows, die_wide, seed=lanes * 100 + rows + die_wide,
                       fired_in_adapt=fired_in_adapt)
    assert reached["nobody_eligible"] > 0, reached
    if lanes > 1:
        assert reached["multi_spike_rows"] > 0, reached
