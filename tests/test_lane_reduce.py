"""``LaneReduce`` on its own in the Amaranth simulator, against ``model.rules.select_winner``.

Each trial sets the lanes' candidates (valid, margin, row), strobes ``start`` for a cycle with
``run`` low (as the core does in the sweep's last cycle), then holds ``run`` high, sometimes with
pauses (``run`` low) before the last lane is loaded. Checked:

- ``done`` is low in every cycle before the (lanes + 1)-th cycle with ``run`` high and high in
  it (the reduce takes lanes + 1 cycles);
- after it, ``best_valid`` says whether any lane had a candidate and ``best_margin``,
  ``best_row``, ``best_lane`` name the candidate ``select_winner`` picks among the eligible
  neurons row * lanes + lane (largest margin, lowest neuron on a tie); they hold while ``run``
  stays low.

Margins are drawn from a few values (many ties, in lanes with equal and with different rows),
include the signed extremes and negative margins, and lanes that are not valid carry margins
larger than any valid one (they must be ignored). A trial with no valid lane follows one with
a winner, so ``start`` must clear the result.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.lane_reduce import LaneReduce
from synaprune.model.rules import select_winner

TRIALS = 150


@dataclass(frozen=True)
class Trial:
    valid: tuple[bool, ...]
    margin: tuple[int, ...]
    row: tuple[int, ...]
    pauses: tuple[int, ...]  # cycles of run low before run-high cycle i (i < lanes)


def expected(trial: Trial, lanes: int, row_bits: int) -> tuple[bool, int, int, int]:
    """(best_valid, margin, row, lane) of ``select_winner`` over neurons row * lanes + lane."""
    n = (1 << row_bits) * lanes
    margins = np.zeros(n, dtype=np.int64)
    eligible = np.zeros(n, dtype=bool)
    for p in range(lanes):
        neuron = trial.row[p] * lanes + p
        margins[neuron] = trial.margin[p]
        eligible[neuron] = trial.valid[p]
    winner, _ = select_winner(margins, eligible)
    if winner < 0:
        return False, 0, 0, 0
    return True, int(margins[winner]), winner // lanes, winner % lanes


def make_trials(lanes: int, margin_bits: int, row_bits: int, seed: int) -> list[Trial]:
    rng = random.Random(seed)
    lo, hi = -(1 << (margin_bits - 1)), (1 << (margin_bits - 1)) - 1
    trials = []
    for t in range(TRIALS):
        pool = rng.sample(range(lo, hi + 1), 3) + [lo, hi, -1, 0]
        if t % 3 == 0:  # two margins only: ties between most lanes, often in one row
            pool = rng.sample(pool, 2)
        valid = tuple(rng.random() < 0.6 for _ in range(lanes))
        if t % 10 == 5:  # no candidate at all, after a trial that (most likely) had one
            valid = (False,) * lanes
        # a lane that is not valid gets the largest margin: it must not win
        margin = tuple(rng.choice(pool) if v else hi for v in valid)
        rows = rng.sample(range(1 << row_bits), 1 if t % 3 == 0 else 2)  # equal neurons' rows
        row = tuple(rng.choice(rows) if t % 3 == 0 or rng.random() < 0.5
                    else rng.getrandbits(row_bits) for _ in range(lanes))
        pauses = tuple(rng.choice((0, 0, 0, 1, 2)) if t % 2 else 0 for _ in range(lanes))
        trials.append(Trial(valid, margin, row, pauses))
    return trials


def simulate(dut: LaneReduce, trials: list[Trial]) -> list[str]:
    """Run the trials one after the other; the differences from the reference, as text."""
    lanes, row_bits = dut.lanes, len(dut.best_row)
    errors: list[str] = []

    async def bench(ctx: SimulatorContext) -> None:
        for t, trial in enumerate(trials):
            ctx.set(dut.lane_valid, sum(v << p for p, v in enumerate(trial.valid)))
            for p in range(lanes):
                ctx.set(dut.lane_margin[p], trial.margin[p])
                ctx.set(dut.lane_row[p], trial.row[p])
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for i in range(lanes + 1):
                for _ in range(trial.pauses[i] if i < lanes else 0):
                    if ctx.get(dut.done):
                        errors.append(f"trial {t}: done in a pause before run cycle {i + 1}")
                    await ctx.tick()
                ctx.set(dut.run, 1)
                if ctx.get(dut.done) != (i == lanes):
                    errors.append(f"trial {t}: done={ctx.get(dut.done)} in run cycle {i + 1} "
                                  f"of {lanes + 1}")
                await ctx.tick()
                ctx.set(dut.run, 0)
            want = expected(trial, lanes, row_bits)
            for hold in range(2):
                valid = bool(ctx.get(dut.best_valid))
                seen = (valid, ctx.get(dut.best_margin), ctx.get(dut.best_row),
                        ctx.get(dut.best_lane))
                if valid != want[0] or (valid and seen != want):
                    errors.append(f"trial {t} ({trial}), {hold} cycles after done: {seen}, "
                                  f"expected {want}")
                await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return errors


@pytest.mark.parametrize("lanes", [1, 2, 5, 8])
@pytest.mark.parametrize(("margin_bits", "row_bits"), [(4, 2), (13, 5)])
def test_reduce_picks_the_model_winner(lanes: int, margin_bits: int, row_bits: int) -> None:
    dut = LaneReduce(lanes=lanes, margin_bits=margin_bits, row_bits=row_bits)
    trials = make_trials(lanes, margin_bits, row_bits, seed=lanes * 100 + margin_bits)
    errors = simulate(dut, trials)
    assert not errors, f"{len(errors)} differences; first: {errors[:3]}"
