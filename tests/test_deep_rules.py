"""Hand-worked cases of the deep network's rules (``model.conv``, ``model.pooling``): convolution
with pruned entries, fire-once, lateral inhibition, winners with a radius, the rate schedule and
a kernel's STDP update. Every expected number is derived in a comment."""

from __future__ import annotations

import numpy as np
import pytest

from synaprune.model import conv
from synaprune.model.deep_config import DeepConfig
from synaprune.model.pooling import first_spike_pool, pool_sources

T = 4  # time steps; 4 = never

# One 3x3 input channel, spike times (4 = never):
TIMES = np.array([[[0, 1, 4],
                   [2, 0, 4],
                   [4, 4, 3]]])
# One 2x2 kernel, entries e0..e3 = (0,0), (0,1), (1,0), (1,1); e3 is pruned.
KERNEL = np.array([[[[10, 20], [30, 40]]]])
MASK = np.array([[[[True, True], [True, False]]]])


def _step_input(times: np.ndarray = TIMES) -> np.ndarray:
    matrix = (KERNEL * MASK).reshape(1, -1).T
    return conv.step_input(conv.patches(times[None], 2), matrix, T)[0]


def test_patches_are_receptive_fields_in_entry_order() -> None:
    # position (0, 1) sees inputs (0,1), (0,2), (1,1), (1,2): times 1, 4, 0, 4
    p = conv.patches(TIMES[None], 2)[0]
    assert p.shape == (4, 4)
    np.testing.assert_array_equal(p[1], [1, 4, 0, 4])
    np.testing.assert_array_equal(p[3], [0, 4, 4, 3])


def test_convolution_skips_pruned_entries() -> None:
    # position (0,0): e0 at t0 (10), e1 at t1 (20), e2 at t2 (30), e3 at t0 but pruned (0)
    # position (0,1): e2 at t0 (30), e0 at t1 (10)
    # position (1,0): e1 at t0 (20), e0 at t2 (10)
    # position (1,1): e0 at t0 (10), e3 at t3 pruned
    s = _step_input()[:, :, 0]  # (T, P)
    np.testing.assert_array_equal(s[:, 0], [10, 20, 30, 0])
    np.testing.assert_array_equal(s[:, 1], [30, 10, 0, 0])
    np.testing.assert_array_equal(s[:, 2], [20, 0, 10, 0])
    np.testing.assert_array_equal(s[:, 3], [10, 0, 0, 0])


def test_fire_once_at_threshold() -> None:
    # cumulative: (0,0) 10, 30, 60, 60 -> fires at t1 with 30 (30 >= 30)
    #             (0,1) 30, ...        -> t0 with 30; (1,0) 20, 20, 30 -> t2 with 30;
    #             (1,1) 10 forever     -> never
    t_fire, v_fire = conv.fire(_step_input()[None], threshold=30, leak_shift=0, v_max=255)
    np.testing.assert_array_equal(t_fire[0, :, 0], [1, 0, 2, 4])
    np.testing.assert_array_equal(v_fire[0, :, 0], [30, 30, 30, 0])


def test_fire_saturates_and_leaks() -> None:
    # v_max 25: (0,0) min(10,25)=10, min(30,25)=25 -> fires at t1 with 25 (threshold 25)
    t_fire, v_fire = conv.fire(_step_input()[None], threshold=25, leak_shift=0, v_max=25)
    assert (t_fire[0, 0, 0], v_fire[0, 0, 0]) == (1, 25)
    # leak shift 1 at (1,0): 20 -> 20 - 10 = 10; t1 10 - 5 = 5; t2 5 + 10 = 15 - 7 = 8: never
    # reaches 12; (0,1): 30 - 15 = 15 >= 12 at t0
    t_fire, v_fire = conv.fire(_step_input()[None], threshold=12, leak_shift=1, v_max=255)
    assert (t_fire[0, 2, 0], t_fire[0, 1, 0], v_fire[0, 1, 0]) == (4, 0, 15)


def test_synaptic_events_count_live_entries_only() -> None:
    # live entries with an input spike: (0,0) e0, e1, e2 = 3; (0,1) e0, e2 = 2;
    # (1,0) e0, e1 = 2; (1,1) e0 = 1 -> 8 (the pruned e3 is never counted)
    p = conv.patches(TIMES[None], 2)
    live_per_entry = MASK.reshape(1, -1).sum(0)
    assert int(((p < T) * live_per_entry).sum()) == 8


def test_inhibition_keeps_earliest_then_larger_membrane_then_lower_map() -> None:
    # (N=1, P=3, M=3). Position 0: times 2, 1, 1; membranes 50, 40, 45 -> map 2 (earliest, 45)
    # position 1: times 1, 1, 3, membranes 40, 40, 90 -> map 0 (tie -> lower map)
    # position 2: nobody fires -> nothing
    t = np.array([[[2, 1, 1], [1, 1, 3], [4, 4, 4]]])
    v = np.array([[[50, 40, 45], [40, 40, 90], [0, 0, 0]]])
    out = conv.inhibit(t, v, never=4, v_max=255)
    np.testing.assert_array_equal(out[0], [[4, 4, 1], [1, 4, 4], [4, 4, 4]])


def _winner_case() -> tuple[np.ndarray, np.ndarray]:
    t = np.full((2, 4, 4), 4)
    v = np.zeros((2, 4, 4), dtype=np.int64)
    for m, y, x, tt, vv in ((0, 0, 0, 1, 50), (1, 1, 1, 1, 60), (1, 3, 3, 2, 40),
                            (0, 3, 0, 2, 70)):
        t[m, y, x], v[m, y, x] = tt, vv
    return t, v


def test_winners_with_radius() -> None:
    # order: (t1, v60) map1 (1,1); (t1, v50) map0 (0,0); (t2, v70) map0 (3,0); (t2, v40) map1
    # (3,3). r = 1: map1 (1,1) wins; map0 (0,0) is 1 away from it in both axes: skipped; map0
    # (3,0) is 2 rows away: wins; map1 (3,3): map 1 already won -> 2 winners.
    t, v = _winner_case()
    assert conv.select_winners(t, v, k=3, radius=1, never=4) == [(1, 1, 1, 1), (0, 3, 0, 2)]
    # r = 0: only the winner's own position is excluded: map0 (0,0) wins second; then map0
    # (3,0) and map1 (3,3) have maps that already won.
    assert conv.select_winners(t, v, k=3, radius=0, never=4) == [(1, 1, 1, 1), (0, 0, 0, 1)]
    assert conv.select_winners(t, v, k=1, radius=0, never=4) == [(1, 1, 1, 1)]


def test_winner_ties_go_to_lower_map_then_row_then_column() -> None:
    t = np.full((2, 2, 2), 4)
    v = np.zeros((2, 2, 2), dtype=np.int64)
    t[1, 0, 0] = t[0, 1, 1] = t[0, 1, 0] = 0
    v[1, 0, 0] = v[0, 1, 1] = v[0, 1, 0] = 9
    # all at t0 with 9: map 0 first, row 1, column 0 before column 1
    assert conv.select_winners(t, v, k=1, radius=0, never=4) == [(0, 1, 0, 0)]
    assert conv.select_winners(np.full((1, 2, 2), 4), v[:1], k=2, radius=0, never=4) == []


def test_rate_schedule_doubles_and_caps() -> None:
    # 16 / -12 doubled every 500 samples, capped at 614 / -460
    def rates(s: int) -> tuple[int, int]:
        return conv.scheduled_rates(16, -12, 614, -460, 500, s)

    assert rates(0) == rates(499) == (16, -12)
    assert rates(500) == (32, -24)
    assert rates(2500) == (512, -384)  # 5 doublings
    assert rates(3000) == (614, -460)  # 1024 and -768 capped
    assert rates(10**9) == (614, -460)
    assert conv.scheduled_rates(16, -12, 614, -460, 0, 10**6) == (16, -12)


def test_learn_kernel_stdp_with_pruned_entry_and_prune() -> None:
    # Kernel entries 204, 204, 204, 30 (last pruned). a+ = 4096 (1.0), a- = -4096, S = 20:
    # 4096 * 204 * 51 = 42_614_784; >> 20 = 40 (r = 0)  -> 244 for a causal input;
    # -42_614_784 >> 20 = -41 (floor)                     -> 163 for a late one.
    # pre times 0, 3 (late vs t_post 1), 4 (never: late); prune threshold 170 -> 163 pruned.
    cfg = DeepConfig()
    w = np.array([[[[204, 204], [204, 30]]]], dtype=np.int64)
    mask = np.array([[[[True, True], [True, False]]]])
    up = conv.learn_kernel(w, mask, 0, np.array([0, 3, 4, 0]), 1, np.zeros(3, np.uint32), cfg,
                           4096, -4096, True, 170)
    np.testing.assert_array_equal(up.entries, [0, 1, 2])
    np.testing.assert_array_equal(up.weights, [244, 163, 163])
    np.testing.assert_array_equal(up.pruned, [False, True, True])
    np.testing.assert_array_equal(w.ravel(), [244, 163, 163, 30])
    np.testing.assert_array_equal(mask.ravel(), [True, False, False, False])


def test_pooling_first_spike_and_ties() -> None:
    t = np.array([[[3, 1, 4, 4],
                   [1, 5, 4, 2],
                   [6, 6, 0, 6],
                   [6, 6, 6, 6]]])
    # windows 2x2 stride 2: min(3,1,1,5) = 1 (tie: offset 1 = (0,1) comes first), min(4,4,4,2)
    # = 2 at offset 3, min(6,6,6,6) = 6 at offset 0, min(0,6,6,6) = 0
    np.testing.assert_array_equal(first_spike_pool(t, 2, 2)[0], [[1, 2], [6, 0]])
    np.testing.assert_array_equal(pool_sources(t, 2, 2)[0], [[1, 3], [0, 0]])
    # stride 1, 3x3: first row of windows: min of rows 0..2 cols 0..2 = 0, cols 1..3 = 0
    np.testing.assert_array_equal(first_spike_pool(t, 3, 1)[0], [[0, 0], [0, 0]])
    # global: earliest anywhere, offset 10 = (2, 2)
    assert first_spike_pool(t, 0, 0).shape == (1, 1, 1)
    assert first_spike_pool(t, 0, 0)[0, 0, 0] == 0 and pool_sources(t, 0, 0)[0, 0, 0] == 10


@pytest.mark.parametrize("channels,k", [(1, 2), (3, 3)])
def test_step_input_equals_a_plain_loop(channels: int, k: int) -> None:
    """Two sizes: the event-driven sparse sum equals adding, per spike, every live entry."""
    rng = np.random.default_rng(channels)
    never, h, w, maps = 5, 6, 7, 4
    times = rng.integers(0, never + 1, (2, channels, h, w))
    weights = rng.integers(0, 256, (maps, channels, k, k))
    mask = rng.random((maps, channels, k, k)) < 0.7
    got = conv.step_input(conv.patches(times, k), (weights * mask).reshape(maps, -1).T, never)
    oh, ow = h - k + 1, w - k + 1
    want = np.zeros((2, never, oh * ow, maps), dtype=np.int64)
    for n in range(2):
        for c in range(channels):
            for y in range(h):
                for x in range(w):
                    t = times[n, c, y, x]
                    if t == never:
                        continue
                    for m in range(maps):
                        for dy in range(k):
                            for dx in range(k):
                                oy, ox = y - dy, x - dx
                                if 0 <= oy < oh and 0 <= ox < ow and mask[m, c, dy, dx]:
                                    want[n, t, oy * ow + ox, m] += weights[m, c, dy, dx]
    np.testing.assert_array_equal(got, want)
