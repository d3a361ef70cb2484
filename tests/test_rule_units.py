"""Amaranth-simulator tests: each hardware rule unit equals its model.rules function."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from synaprune.hw.rule_units import NeuronUpdate, PruneUnit, StdpUnit
from synaprune.model import rules
from synaprune.model.config import Config


def _run_comb(dut: object, cases: list[dict[str, int]], outputs: list[str],
              latency: int = 0, knobs: tuple[str, ...] = (), knob_setup: int = 0) -> list[dict]:
    """Outputs of each case; a pipelined unit (``latency`` > 0) is clocked that many times. The
    ``knobs`` of a case are set ``knob_setup`` cycles before its other inputs."""
    got: list[dict] = []

    async def bench(ctx: object) -> None:
        for case in cases:
            for name in knobs:
                ctx.set(getattr(dut, name), case[name])
            for _ in range(knob_setup):
                await ctx.tick()
            for name, value in case.items():
                ctx.set(getattr(dut, name), value)
            for _ in range(latency):
                await ctx.tick()
            got.append({name: ctx.get(getattr(dut, name)) for name in outputs})

    sim = Simulator(dut)
    if latency:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize(("weight_bits", "frac_bits"), [(8, 12), (6, 8)])
def test_stdp_unit_matches_rule(weight_bits: int, frac_bits: int) -> None:
    cfg = Config(weight_bits=weight_bits, stdp_frac_bits=frac_bits, time_steps=16)
    rng = np.random.default_rng(3)
    unit = StdpUnit(weight_bits=weight_bits, frac_bits=frac_bits, time_bits=cfg.time_bits)
    rate_mask = (1 << (frac_bits + 2)) - 1
    lim = (1 << (frac_bits + 1)) - 1
    cases, expected = [], []
    for _ in range(300):
        w = int(rng.integers(0, cfg.w_max + 1))
        t_pre, t_post = (int(x) for x in rng.integers(0, cfg.never + 1, 2))
        a_plus, a_minus = int(rng.integers(0, lim + 1)), -int(rng.integers(0, lim + 1))
        r = int(rng.integers(0, 1 << cfg.stdp_shift))
        cases.append({"w": w, "t_pre": t_pre, "t_post": t_post, "a_plus": a_plus,
                      "a_minus": a_minus & rate_mask, "rand": r})
        expected.append(int(rules.stdp_delta(np.array([w]), np.array([t_pre]), t_post,
                                             np.array([r]), cfg, a_plus, a_minus)[0]))
    got = [g["w_new"] for g in _run_comb(unit, cases, ["w_new"], unit.LATENCY)]
    assert got == expected


@pytest.mark.parametrize("die_wide", [False, True])
@pytest.mark.parametrize("membrane_bits", [16, 12])
def test_neuron_update_matches_rules(membrane_bits: int, die_wide: bool) -> None:
    adapt_bits = membrane_bits - 4
    unit = NeuronUpdate(membrane_bits=membrane_bits, adapt_bits=adapt_bits, die_wide=die_wide)
    rng = np.random.default_rng(5)
    cases, expected = [], []
    for _ in range(200):
        v = int(rng.integers(0, 1 << membrane_bits))
        a = int(rng.integers(0, 1 << adapt_bits))
        th = int(rng.integers(0, 1 << membrane_bits))
        leak, decay = int(rng.integers(0, membrane_bits)), int(rng.integers(0, adapt_bits))
        decay_en = int(rng.integers(0, 2))
        cases.append({"v": v, "adapt": a, "threshold": th, "leak_shift": leak,
                      "decay_en": decay_en, "decay_shift": decay})
        v2 = int(rules.leak(np.array([v]), leak)[0])
        a2 = int(rules.homeo_decay(np.array([a]), decay)[0]) if decay_en else a
        expected.append({"v_out": v2, "adapt_out": a2,
                         "margin": int(rules.margin(np.array([v2]), np.array([a2]), th)[0])})
    assert _run_comb(unit, cases, ["v_out", "adapt_out", "margin"], unit.latency,
                     knobs=("threshold", "leak_shift", "decay_en", "decay_shift"),
                     knob_setup=unit.knob_setup) == expected


@pytest.mark.parametrize("weight_bits", [8, 4])
def test_prune_unit_matches_rule(weight_bits: int) -> None:
    unit = PruneUnit(weight_bits=weight_bits)
    top = 1 << weight_bits
    cases = [{"w_new": w, "enable": e, "threshold": t}
             for w in range(0, top, max(1, top // 16)) for e in (0, 1)
             for t in (0, 1, top // 2, top - 1)]
    expected = [{"pruned": int(rules.prune_decision(np.array([c["w_new"]]), bool(c["enable"]),
                                                    c["threshold"])[0])} for c in cases]
    assert _run_comb(unit, cases, ["pruned"]) == expected


def test_units_reject_bad_parameters() -> None:
    with pytest.raises(TypeError, match="weight_bits"):
        PruneUnit(weight_bits="8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frac_bits"):
        StdpUnit(weight_bits=8, frac_bits=0, time_bits=5)
    with pytest.raises(TypeError, match="die_wide"):
        NeuronUpdate(membrane_bits=16, adapt_bits=12, die_wide=1)  # type: ignore[arg-type]
