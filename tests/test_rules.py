"""Hand-worked cases of every rule in ``model.rules``; each expected number is derived in a comment.

Unless stated otherwise the default configuration is used: weight_bits W = 8 (w_max = 255),
stdp_frac_bits F = 12, so S = F + W = 20 and 2**S = 1_048_576.
"""

from __future__ import annotations

import numpy as np
import pytest

from synaprune.model import rules
from synaprune.model.config import Config

CFG = Config()
S = 20
R_MAX = (1 << S) - 1  # 1_048_575, the largest rounding offset


def test_default_stdp_shift_is_20() -> None:
    assert CFG.stdp_shift == S
    assert CFG.w_max == 255


# ---------------------------------------------------------------------------------------------
# integrate
# ---------------------------------------------------------------------------------------------
def test_integrate_adds_below_saturation() -> None:
    # 0 + 5 = 5; 100 + 0 = 100; 1000 + 234 = 1234 (all below v_max = 65535)
    v = np.array([0, 100, 1000], dtype=np.int64)
    c = np.array([5, 0, 234], dtype=np.int64)
    np.testing.assert_array_equal(rules.integrate(v, c, 65535), [5, 100, 1234])


def test_integrate_saturates_at_v_max() -> None:
    # v_max = 255: 250 + 5 = 255 exactly (no clipping needed), 250 + 6 = 256 -> 255,
    # 255 + 255 = 510 -> 255, 0 + 254 = 254
    v = np.array([250, 250, 255, 0], dtype=np.int64)
    c = np.array([5, 6, 255, 254], dtype=np.int64)
    np.testing.assert_array_equal(rules.integrate(v, c, 255), [255, 255, 255, 254])


# ---------------------------------------------------------------------------------------------
# leak
# ---------------------------------------------------------------------------------------------
def test_leak_shift_zero_is_no_leak() -> None:
    v = np.array([0, 1, 7, 65535], dtype=np.int64)
    np.testing.assert_array_equal(rules.leak(v, 0), [0, 1, 7, 65535])


def test_leak_shift_two_floors() -> None:
    # v >> 2 = [0, 0, 1, 1, 25, 16383]; v - that = [0, 3, 3, 6, 75, 49152]
    v = np.array([0, 3, 4, 7, 100, 65535], dtype=np.int64)
    np.testing.assert_array_equal(rules.leak(v, 2), [0, 3, 3, 6, 75, 49152])


def test_leak_shift_one_and_four() -> None:
    # shift 1: 5 - 2 = 3, 1 - 0 = 1; shift 4: 15 - 0 = 15, 16 - 1 = 15, 33 - 2 = 31
    np.testing.assert_array_equal(rules.leak(np.array([5, 1]), 1), [3, 1])
    np.testing.assert_array_equal(rules.leak(np.array([15, 16, 33]), 4), [15, 15, 31])


# ---------------------------------------------------------------------------------------------
# margin
# ---------------------------------------------------------------------------------------------
def test_margin() -> None:
    # threshold 60: 100 - (60 + 0) = 40, 50 - (60 + 10) = -20, 0 - (60 + 5) = -65,
    # 70 - (60 + 10) = 0 (exactly at threshold: fires)
    v = np.array([100, 50, 0, 70], dtype=np.int64)
    adapt = np.array([0, 10, 5, 10], dtype=np.int64)
    np.testing.assert_array_equal(rules.margin(v, adapt, 60), [40, -20, -65, 0])


# ---------------------------------------------------------------------------------------------
# select_winner
# ---------------------------------------------------------------------------------------------
def _sel(margins: list[int], eligible: list[bool]) -> tuple[int, list[bool]]:
    cand, fires = rules.select_winner(np.array(margins, dtype=np.int64),
                                      np.array(eligible, dtype=bool))
    return cand, fires.tolist()


def test_select_winner_largest_margin() -> None:
    assert _sel([1, 5, 2], [True] * 3) == (1, [True, True, True])


def test_select_winner_tie_goes_to_lowest_index() -> None:
    # 7 appears at indices 1 and 2: index 1 wins; -1 does not fire
    assert _sel([3, 7, 7, -1], [True] * 4) == (1, [True, True, True, False])


def test_select_winner_tie_skips_ineligible_lower_index() -> None:
    # index 0 has the same margin but has already fired (not eligible)
    assert _sel([7, 7, 7], [False, True, True]) == (1, [False, True, True])


def test_select_winner_ignores_ineligible_larger_margin() -> None:
    # index 1 has the largest margin but is not eligible; of 0 and 2, index 2 is larger
    assert _sel([1, 9, 2], [True, False, True]) == (2, [True, False, True])


def test_select_winner_nobody_eligible() -> None:
    assert _sel([5, 6, 7], [False, False, False]) == (-1, [False, False, False])


def test_select_winner_negative_margins() -> None:
    # nobody fires, but the candidate is still the least negative: -2 at index 1
    assert _sel([-5, -2, -9], [True] * 3) == (1, [False, False, False])
    # a tie of negatives goes to the lowest eligible index
    assert _sel([-4, -3, -3, -3], [True, False, True, True]) == (2, [False] * 4)


def test_select_winner_zero_margin_fires() -> None:
    assert _sel([-1, 0], [True, True]) == (1, [False, True])


# ---------------------------------------------------------------------------------------------
# stdp_delta
# ---------------------------------------------------------------------------------------------
def _stdp(w: int, t_pre: int, t_post: int, r: int, cfg: Config = CFG,
          a_plus: int = 200, a_minus: int = -150) -> int:
    out = rules.stdp_delta(np.array([w], dtype=np.int64), np.array([t_pre]), t_post,
                           np.array([r], dtype=np.uint32), cfg, a_plus, a_minus)
    return int(out[0])


def test_stdp_ltp_when_pre_before_post() -> None:
    # a = 200, w = 128: 200 * 128 * 127 = 3_251_200; / 2**20 = 3.10
    # r = 0: floor(3.10) = 3 -> 131; r = 2**20 - 1: (3_251_200 + 1_048_575) >> 20 = 4 -> 132
    assert _stdp(128, 3, 5, 0) == 131
    assert _stdp(128, 3, 5, R_MAX) == 132


def test_stdp_ltp_when_pre_equals_post() -> None:
    # a = 200, w = 100: 200 * 100 * 155 = 3_100_000 = 2.956 * 2**20
    # r = 0 -> 2 -> 102; r = max: 4_148_575 >> 20 = 3 -> 103
    assert _stdp(100, 5, 5, 0) == 102
    assert _stdp(100, 5, 5, R_MAX) == 103


def test_stdp_ltd_when_pre_after_post() -> None:
    # a = -150, w = 128: -150 * 128 * 127 = -2_438_400 = -2.325 * 2**20
    # r = 0: floor(-2.325) = -3 -> 125; r = max: -1_389_825 >> 20 = floor(-1.325) = -2 -> 126
    assert _stdp(128, 6, 5, 0) == 125
    assert _stdp(128, 6, 5, R_MAX) == 126


def test_stdp_never_spiked_input_is_late() -> None:
    # T = 16 stands for 'never'; with t_post = T - 1 = 15 it is still later -> LTD (125 as above),
    # while t_pre = 15 = t_post is LTP (131 as above with w = 128)
    assert _stdp(128, CFG.never, 15, 0) == 125
    assert _stdp(128, 15, 15, 0) == 131


def test_stdp_endpoints_do_not_move() -> None:
    # w * (w_max - w) = 0 at w = 0 and w = 255; dw = r >> 20 = 0 for every r < 2**20
    for r in (0, R_MAX):
        assert _stdp(0, 0, 5, r) == 0
        assert _stdp(255, 0, 5, r) == 255
        assert _stdp(0, 9, 5, r) == 0
        assert _stdp(255, 9, 5, r) == 255


def test_stdp_clamps_at_w_max() -> None:
    # a_plus = 8191 (largest legal), w = 254: 8191 * 254 * 1 = 2_080_514
    # r = 0: 2_080_514 >> 20 = 1 -> 255 (exactly w_max)
    # r = max: 3_129_089 >> 20 = 2 -> 256, clamped to 255
    assert _stdp(254, 0, 5, 0, a_plus=8191) == 255
    assert _stdp(254, 0, 5, R_MAX, a_plus=8191) == 255
    # without the clamp the raw value would be 256: check that the rounding really added 2
    raw = (8191 * 254 + R_MAX) >> S
    assert raw == 2


def test_stdp_clamps_at_zero() -> None:
    # a_minus = -8191, w = 1: -8191 * 1 * 254 = -2_080_514 = -1.98 * 2**20
    # r = 0: floor -> -2 -> -1, clamped to 0; r = max: -1_031_939 >> 20 = -1 -> 0
    assert _stdp(1, 9, 5, 0, a_minus=-8191) == 0
    assert _stdp(1, 9, 5, R_MAX, a_minus=-8191) == 0


def test_stdp_negative_shift_floors_not_truncates() -> None:
    # a_minus = -1, w = 128: -1 * 128 * 127 = -16_256; floor(-16_256 / 2**20) = -1 -> 127
    # (truncation toward zero would give 0 -> 128); with r = max: 1_032_319 >> 20 = 0 -> 128
    assert _stdp(128, 9, 5, 0, a_minus=-1) == 127
    assert _stdp(128, 9, 5, R_MAX, a_minus=-1) == 128


def test_stdp_uses_only_low_s_bits_of_the_lfsr_state() -> None:
    # 0xFFFFFFFF & (2**20 - 1) = 2**20 - 1; 0xFFF00000 & (2**20 - 1) = 0
    assert _stdp(128, 3, 5, 0xFFFFFFFF) == 132
    assert _stdp(128, 3, 5, 0xFFF00000) == 131
    assert _stdp(128, 6, 5, 0xFFF00000) == 125


def test_stdp_zero_rates_leave_weights() -> None:
    for r in (0, 12345, R_MAX):
        assert _stdp(77, 0, 5, r, a_plus=0, a_minus=0) == 77
        assert _stdp(77, 9, 5, r, a_plus=0, a_minus=0) == 77


def test_stdp_small_widths() -> None:
    # W = 4 (w_max = 15), F = 4: S = 8, 2**S = 256; rates 16 = 1.0, -16 = -1.0
    cfg = Config(weight_bits=4, stdp_frac_bits=4, prune_threshold=0)
    assert cfg.stdp_shift == 8
    # LTP, w = 5: 16 * 5 * 10 = 800 = 3.125 * 256; r = 0 -> 3 -> 8; r = 255: 1055 >> 8 = 4 -> 9
    assert _stdp(5, 0, 1, 0, cfg, 16, -16) == 8
    assert _stdp(5, 0, 1, 255, cfg, 16, -16) == 9
    # LTD, w = 5: -800 >> 8 = floor(-3.125) = -4 -> 1; r = 255: -545 >> 8 = -3 -> 2
    assert _stdp(5, 2, 1, 0, cfg, 16, -16) == 1
    assert _stdp(5, 2, 1, 255, cfg, 16, -16) == 2
    # r = 256 is outside the low 8 bits: same as r = 0
    assert _stdp(5, 0, 1, 256, cfg, 16, -16) == 8


def test_stdp_vectorised_mix() -> None:
    # t_post = 5; t_pre = [0, 5, 6, 16]: LTP, LTP, LTD, LTD (never); w = 128 everywhere
    # LTP r=0 -> 131, LTP r=max -> 132, LTD r=0 -> 125, LTD r=max -> 126 (see above)
    out = rules.stdp_delta(np.full(4, 128, dtype=np.int64), np.array([0, 5, 6, 16]), 5,
                           np.array([0, R_MAX, 0, R_MAX], dtype=np.uint32), CFG, 200, -150)
    np.testing.assert_array_equal(out, [131, 132, 125, 126])


# ---------------------------------------------------------------------------------------------
# prune_decision
# ---------------------------------------------------------------------------------------------
def test_prune_strictly_below_threshold() -> None:
    w = np.array([0, 15, 16, 17, 255])
    np.testing.assert_array_equal(rules.prune_decision(w, True, 16),
                                  [True, True, False, False, False])


def test_prune_disabled_never_prunes() -> None:
    w = np.array([0, 15, 16, 17, 255])
    out = rules.prune_decision(w, False, 16)
    assert out.dtype == bool
    np.testing.assert_array_equal(out, [False] * 5)


def test_prune_threshold_zero_never_prunes() -> None:
    np.testing.assert_array_equal(rules.prune_decision(np.array([0, 1]), True, 0), [False] * 2)


# ---------------------------------------------------------------------------------------------
# homeostasis
# ---------------------------------------------------------------------------------------------
def test_homeo_decay_shift_zero_is_none() -> None:
    a = np.array([0, 1, 4095])
    np.testing.assert_array_equal(rules.homeo_decay(a, 0), [0, 1, 4095])


def test_homeo_decay_shift_three() -> None:
    # a >> 3 = [0, 0, 1, 12, 511]; a - that = [0, 7, 7, 88, 3584]
    a = np.array([0, 7, 8, 100, 4095])
    np.testing.assert_array_equal(rules.homeo_decay(a, 3), [0, 7, 7, 88, 3584])


def test_homeo_decay_shift_one() -> None:
    # 1 - 0 = 1, 3 - 1 = 2, 64 - 32 = 32
    np.testing.assert_array_equal(rules.homeo_decay(np.array([1, 3, 64]), 1), [1, 2, 32])


@pytest.mark.parametrize(("adapt", "inc", "adapt_max", "expected"), [
    (100, 32, 4095, 132),   # plain add
    (4063, 32, 4095, 4095),  # lands exactly on adapt_max
    (4080, 32, 4095, 4095),  # 4112 saturates
    (4095, 0, 4095, 4095),
    (0, 0, 4095, 0),
    (3, 2, 3, 3),  # adapt_bits = 2: 5 saturates to 3
])
def test_homeo_win(adapt: int, inc: int, adapt_max: int, expected: int) -> None:
    assert rules.homeo_win(adapt, inc, adapt_max) == expected
