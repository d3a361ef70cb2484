"""The power model's arithmetic on hand cases, its coefficients, and its response to activity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synaprune.boards import power
from synaprune.boards.power import (
    Activity,
    Coefficient,
    Coefficients,
    DesignFacts,
    energy_from_activity,
    estimate_energy,
)
from synaprune.model.config import Config
from synaprune.model.datasets import Split
from synaprune.model.encoding import encode
from synaprune.model.network import Network


def _c(nominal: float, low: float | None = None, high: float | None = None) -> Coefficient:
    return Coefficient(nominal=nominal, low=nominal if low is None else low,
                       high=nominal if high is None else high, unit="-", source="test")


UNIT = Coefficients(static_w=_c(2.0, 1.0, 4.0), clock_j=_c(3.0), logic_j=_c(5.0),
                    bram_read_j=_c(7.0), bram_write_j=_c(11.0), dsp_j=_c(13.0))


def test_hand_case_every_term() -> None:
    act = Activity(cycles=10, dsp_cycles=4, block_reads_needed=6, block_writes=2,
                   prune_block_writes=1)
    design = DesignFacts(logic_cells=100, block_rams=3, dsps=2, prune_cells=1)
    e = energy_from_activity(act, design, UNIT, fmax_mhz=1.0)  # 10 cycles at 1 MHz = 10 us
    assert e.static == pytest.approx(2.0 * 10e-6)
    assert e.clock == 3.0 * 10
    assert e.logic == 5.0 * 100 * 10
    assert e.bram == 7.0 * 3 * 10 + 11.0 * 2  # ungated: every block reads every cycle
    assert e.dsp == 13.0 * 2 * 4
    assert e.prune == 5.0 * 1 * 10 + 11.0 * 1
    assert e.total == pytest.approx(e.static + 30 + 5000 + 232 + 104)
    assert e.dynamic == pytest.approx(e.total - e.static)


def test_gated_reads_count_only_needed_reads() -> None:
    act = Activity(cycles=10, block_reads_needed=6)
    gated = DesignFacts(logic_cells=0, block_rams=3, dsps=0, reads_gated=True)
    assert energy_from_activity(act, gated, UNIT, fmax_mhz=1.0).bram == 7.0 * 6


def test_static_energy_scales_with_time() -> None:
    act = Activity(cycles=1000)
    design = DesignFacts(logic_cells=0, block_rams=0, dsps=0)
    slow = energy_from_activity(act, design, UNIT, fmax_mhz=10.0)
    fast = energy_from_activity(act, design, UNIT, fmax_mhz=20.0)
    assert slow.static == pytest.approx(2 * fast.static)
    assert slow.clock == fast.clock


def test_corners_bracket_nominal() -> None:
    act = Activity(cycles=100, dsp_cycles=50, block_writes=5)
    design = DesignFacts(logic_cells=10, block_rams=1, dsps=1)
    e = {c: energy_from_activity(act, design, UNIT, fmax_mhz=1.0, corner=c).total
         for c in ("low", "nominal", "high")}
    assert e["low"] < e["nominal"] < e["high"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="fmax_mhz"):
        energy_from_activity(Activity(), DesignFacts(0, 0, 0), UNIT, fmax_mhz=0)
    with pytest.raises(ValueError, match="corner"):
        energy_from_activity(Activity(), DesignFacts(0, 0, 0), UNIT, fmax_mhz=1, corner="x")
    with pytest.raises(ValueError, match="low <= nominal"):
        Coefficient(nominal=1.0, low=2.0, high=3.0, unit="-", source="-")


def test_activity_adds() -> None:
    a = Activity(cycles=1, block_writes=2, pruned=3)
    assert (a + a) == Activity(cycles=2, block_writes=4, pruned=6)


def test_ice40_coefficients_match_the_measurements() -> None:
    c = power.ICE40_UP5K
    assert c.logic_j.low == pytest.approx(14.4e-15, rel=0.01)  # ice40_power: about 14 fJ
    assert c.clock_j.nominal == pytest.approx(52e-12, rel=0.02)  # about 52 uW/MHz
    assert c.static_w.low == pytest.approx(85.6e-6 * 1.219)
    assert c.logic_j.high == pytest.approx(198e-15, rel=0.01)


def test_ecp5_static_grows_with_die() -> None:
    small = power.coefficients("ulx3s", "25F").static_w
    big = power.coefficients("ulx3s", "85F").static_w
    assert small.nominal == pytest.approx(0.077 * 1.1 + 0.016 * 2.5)
    assert small.low == small.nominal == small.high
    assert big.low < big.nominal < big.high
    assert big.low > small.nominal
    assert math.isclose(big.nominal, math.sqrt(big.low * big.high))


def _cfg() -> Config:
    return Config(n_neurons=16, lanes=4)


def _results(cfg: Config, mask_keep: float, digits: np.ndarray) -> list:
    rng = np.random.default_rng(0)
    mask = rng.random((cfg.n_inputs, cfg.n_neurons)) < mask_keep
    net = Network(cfg, mask=mask)
    return [net.run_sample(t, learn=False) for t in encode(digits, cfg)]


def test_energy_falls_with_fewer_synaptic_events(digits_split: Split) -> None:
    cfg = _cfg()
    x = digits_split.x_test[:20]
    design = power.design_facts_estimate("icebreaker", cfg)
    dense = _results(cfg, 1.0, x)
    sparse = _results(cfg, 0.3, x)
    assert sum(r.syn_events for r in sparse) < sum(r.syn_events for r in dense)
    e_dense = estimate_energy("icebreaker", cfg, dense, learn=False, fmax_mhz=30.0,
                              design=design)
    e_sparse = estimate_energy("icebreaker", cfg, sparse, learn=False, fmax_mhz=30.0,
                               design=design)
    assert e_sparse.cycles_mean < e_dense.cycles_mean
    assert e_sparse.energy_uj < e_dense.energy_uj
    assert e_sparse.energy_uj_low <= e_sparse.energy_uj <= e_sparse.energy_uj_high
    assert e_dense.latency_us == pytest.approx(e_dense.cycles_mean / 30.0)


def test_learning_energy_counts_updates_and_pruning(digits_split: Split) -> None:
    cfg = _cfg().replace(prune_threshold=250)  # prune nearly every update
    net = Network(cfg)
    results = [net.run_sample(t, learn=True) for t in encode(digits_split.x_train[:5], cfg)]
    design = power.design_facts_estimate("ulx3s", cfg, "25F")
    est = estimate_energy("ulx3s", cfg, results, learn=True, fmax_mhz=100.0, device="25F",
                          design=design)
    assert est.activity["synaptic_updates"] > 0
    assert est.activity["pruned"] > 0
    assert est.activity["prune_block_writes"] > 0
    assert 0 < est.prune_energy_share < est.prune_dynamic_share < 1
    assert sum(v for k, v in est.breakdown_uj.items() if k != "prune") \
        == pytest.approx(est.energy_uj)


def test_estimate_energy_rejects_bad_input() -> None:
    cfg = _cfg()
    with pytest.raises(ValueError, match="empty"):
        estimate_energy("icebreaker", cfg, [], learn=False, fmax_mhz=30.0)
    with pytest.raises(ValueError, match="fmax_mhz"):
        estimate_energy("icebreaker", cfg, [object()], learn=False, fmax_mhz=-1.0)
    with pytest.raises(ValueError, match="unknown board"):
        estimate_energy("nexys", cfg, [object()], learn=False, fmax_mhz=1.0)


def test_memory_plan_sees_always_enabled_reads() -> None:
    plan = power.memory_plan(_cfg(), "ice40")
    assert not plan.reads_gated
    assert set(plan.width_blocks) >= {"w", "row", "col", "ev_mem", "t_in"}
