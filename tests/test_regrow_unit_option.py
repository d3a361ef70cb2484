"""``Config.regrow_unit``: a core built without the regrowth unit (the iCEBreaker's UP5K is full).

Such a core has no ``Regrow``, no REGROW state and no regrowth port multiplexers; learning by
"fixed-density" on it is refused wherever it would start (the register values the host and the
testbench write, the simulation cases, the cycle model), so the golden model and the cycle model
never regrow where the core would not. Its threshold-rule learning costs what the core with the
unit costs (the RTL check of the UP5K layer, ``tests/test_rtl_sim.py``, compares it with the
cycle model).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment, UnusedElaboratable

from synaprune.boards.platforms import default_config
from synaprune.hw.core import LayerCore
from synaprune.hw.layouts import regs_value
from synaprune.model.config import Config
from synaprune.model.cycles import learn_cycles, sample_cycles
from synaprune.model.network import Network
from synaprune.sim.cases import digits_case

# two sizes: eight lanes of four rows, and the iCEBreaker's layer (one lane of 32 rows)
SIZES = {"A": Config(n_neurons=32, lanes=8, threshold=1500, a_plus=2000, a_minus=-2000,
                     prune_threshold=120, homeo_inc=64),
         "UP5K": default_config("icebreaker").replace(regrow_unit=True)}


def test_regrow_unit_is_a_checked_elaboration_field() -> None:
    warnings.simplefilter("ignore", UnusedElaboratable)  # the refused objects are never used
    with pytest.raises(TypeError, match="config.regrow_unit must be true or false"):
        Config(regrow_unit=1).validate()
    with pytest.raises(TypeError, match="LayerCore: regrow_unit must be a bool"):
        LayerCore(n_inputs=64, n_neurons=8, lanes=2, time_steps=8, regrow_unit="no")
    assert LayerCore.elaboration_args(Config(regrow_unit=False))["regrow_unit"] is False


def test_full_parts_build_without_the_unit() -> None:
    # the UP5K is full; the 85F did not close 100 MHz with it (boards.platforms)
    assert default_config("icebreaker").regrow_unit is False
    assert default_config("ulx3s").regrow_unit is False
    assert default_config("ulx3s", "25F").regrow_unit is True


@pytest.mark.parametrize("name", list(SIZES))
def test_core_without_the_unit_leaves_it_out(name: str) -> None:
    for unit in (True, False):
        core = LayerCore.from_config(SIZES[name].replace(regrow_unit=unit))
        subs = {sub_name for _, sub_name, *_ in Fragment.get(core, None).subfragments}
        assert ("regrow" in subs) is unit, (name, unit)
        # the REGROW flags (and the multiplexers they select) go with the unit
        assert ("in_regrow" in rtlil.convert(core)) is unit, (name, unit)


@pytest.mark.parametrize("name", list(SIZES))
def test_fixed_density_learning_is_refused_without_the_unit(name: str) -> None:
    fd = SIZES[name].replace(rewire_policy="fixed-density", rewire_density=0.3)
    absent = fd.replace(regrow_unit=False)
    assert regs_value(fd, learn=True)["regrow"] == 1
    with pytest.raises(ValueError, match="config.regrow_unit = False.*fixed-density"):
        regs_value(absent, learn=True)
    assert regs_value(absent, learn=False)["learn"] == 0  # inference is the core's to do
    with pytest.raises(ValueError, match="case digits-x: config.regrow_unit = False"):
        digits_case(absent, pretrain=0, n_learn=2, n_infer=0, name="digits-x")
    assert digits_case(absent, pretrain=0, n_learn=0, n_infer=2).learn.sum() == 0
    pops = [np.array([3, 0, 5, 1])]
    with pytest.raises(ValueError, match="regrow_unit"):
        learn_cycles(absent, pops, [2])
    assert learn_cycles(absent, pops, [0]) == learn_cycles(fd, pops, [0])


@pytest.mark.parametrize("name", list(SIZES))
def test_threshold_learning_costs_the_same_without_the_unit(name: str) -> None:
    """The cycle model of the threshold rule does not depend on the unit (no REGROW)."""
    with_unit, absent = SIZES[name], SIZES[name].replace(regrow_unit=False)
    nets = [Network(cfg) for cfg in (with_unit, absent)]
    rng = np.random.default_rng(7)
    learned = 0
    for _ in range(6):
        times = rng.integers(0, with_unit.time_steps + 1, with_unit.n_inputs)
        a, b = (net.run_sample(times, learn=True) for net in nets)
        assert sample_cycles(with_unit, a) == sample_cycles(absent, b)
        learned += len(a.learn_word_pops)
    assert learned > 0, "some samples should learn"
