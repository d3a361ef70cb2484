"""The golden-model network: hand-built samples, an independent pure-Python reference, and
property tests of the invariants (weights in range, pruning for good, counters, inference purity,
determinism, per-lane event costs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synaprune.model.config import Config
from synaprune.model.network import Network, SampleResult

PROPS = settings(max_examples=40, derandomize=True, deadline=None)
REF = settings(max_examples=60, derandomize=True, deadline=None)


# ---------------------------------------------------------------------------------------------
# hand-built sample
# ---------------------------------------------------------------------------------------------
def hand_cfg(lanes: int = 2, **changes: Any) -> Config:
    base: dict[str, Any] = dict(
        n_inputs=16, image_shape=(4, 4), n_neurons=8, lanes=lanes, time_steps=8,
        k_max=2, k_winners=1, col_word_bits=8, threshold=100, leak_shift=0,
        a_plus=200, a_minus=-150, prune_enabled=True, prune_threshold=16, homeo_inc=32,
        homeo_decay_shift=0, lfsr_seed=1)
    base.update(changes)
    return Config(**base).validate()


def hand_net(cfg: Config) -> Network:
    """Weights 10 everywhere except w[0:4, 3] = 40. Column 3 is live only on inputs 0..4;
    input 1 is pruned for neurons 0, 2, 4 and 1, 5."""
    w = np.full((16, 8), 10, dtype=np.int64)
    w[0:4, 3] = 40
    mask = np.ones((16, 8), dtype=bool)
    mask[5:, 3] = False  # 11 synapses
    mask[1, [0, 2, 4, 1, 5]] = False  # 5 synapses
    return Network(cfg, weights=w, mask=mask)


def hand_times(t: int = 8) -> np.ndarray:
    times = np.full(16, t, dtype=np.int16)  # T = 8: never
    times[[0, 1]] = 0
    times[[2, 3]] = 2
    return times


# Step 0: inputs 0, 1. Input 0 is live on all 8 neurons, input 1 only on 3, 6, 7.
#   v = [10, 10, 10, 80, 10, 10, 20, 20]; margins v - 100: neuron 3 best (-20), nobody fires.
#   event costs, lanes 2: input 0: lane 0 {0,2,4,6} = 4, lane 1 {1,3,5,7} = 4;
#                         input 1: lane 0 {6} = 1, lane 1 {3,7} = 2
#                 lanes 4: input 0: 2 per lane; input 1: lanes {0,4}: 0, {1,5}: 0,
#                         {2,6}: 1, {3,7}: 2
# Step 1: no events.
# Step 2: inputs 2, 3, live on all neurons: v3 = 80 + 80 = 160 (margin 60, fires),
#   others + 20. Winner (3, 2); k_winners = 1 ends the sample: 3 steps.
# syn_events = 8 + 3 + 8 + 8 = 27; n_events = 4.
# Learning (LFSR seed 1, states 0x1, 0x80200003, 0xC0300002, 0x60180001, 0xB02C0003; low 20
# bits r = 1, 3, 2, 0x80001 = 524289, 0xC0003 = 786435), column 3 live inputs 0..4:
#   inputs 0..3: t_pre 0, 0, 2, 2 <= 2 -> LTP, w = 40: 200 * 40 * 215 = 1_720_000 (1.64 * 2**20)
#     r = 1, 3, 2 -> floor(1.64) = 1 -> 41; r = 524289: 2_244_289 >> 20 = 2 -> 42
#   input 4: never (8) > 2 -> LTD, w = 10: -150 * 10 * 245 = -367_500;
#     + 786_435 = 418_935 >> 20 = 0 -> 10, and 10 < 16 -> pruned
# adapt[3] = 0 + 32 = 32. live before = 128 - 16 = 112, after 111.
# Next LFSR state: 0xB02C0003 >> 1 = 0x58160001, ^ 0x80200003 = 0xD8360002.
@pytest.mark.parametrize(("lanes", "costs"), [(2, [[[4, 4], [1, 2]], [], [[4, 4], [4, 4]]]),
                                              (4, [[[2, 2, 2, 2], [0, 0, 1, 2]], [],
                                                   [[2, 2, 2, 2], [2, 2, 2, 2]]])])
def test_hand_sample_learn(lanes: int, costs: list[list[list[int]]]) -> None:
    net = hand_net(hand_cfg(lanes))
    assert net.live == 112
    res = net.run_sample(hand_times(), learn=True, trace=True)
    assert res.winners == [(3, 2)]
    assert res.spikes == [(2, 3)]
    assert res.spikes_per_step == [0, 0, 1]
    assert res.prediction == 3
    assert res.steps == 3
    assert res.n_events == 4
    assert res.syn_events == 27
    assert [c.tolist() for c in res.event_costs] == costs
    assert res.membranes[0].tolist() == [10, 10, 10, 80, 10, 10, 20, 20]
    assert res.margins[0].tolist() == [-90, -90, -90, -20, -90, -90, -80, -80]
    assert res.membranes[2].tolist() == [30, 30, 30, 160, 30, 30, 40, 40]
    assert res.syn_updates == 5
    assert res.pruned == 1
    assert res.live == 111 == net.live
    assert [p.tolist() for p in res.learn_word_pops] == [[5, 0]]  # inputs 0..4 all in word 0
    j, inputs, w_new, pruned = res.updates[0]
    assert j == 3
    assert inputs.tolist() == [0, 1, 2, 3, 4]
    assert w_new.tolist() == [41, 41, 41, 42, 10]
    assert pruned.tolist() == [False, False, False, False, True]
    assert net.weights[0:5, 3].tolist() == [41, 41, 41, 42, 10]
    assert not net.mask[4, 3]
    assert net.adapt.tolist() == [0, 0, 0, 32, 0, 0, 0, 0]
    assert net.lfsr.count == 5
    assert net.lfsr.peek_state() == 0xD8360002
    # other columns untouched
    assert (net.weights[:, [0, 1, 2, 4, 5, 6, 7]] == 10).all()


def test_hand_sample_inference_changes_nothing() -> None:
    net = hand_net(hand_cfg())
    res = net.run_sample(hand_times(), learn=False)
    assert res.winners == [(3, 2)]
    assert (res.syn_updates, res.pruned, res.live) == (0, 0, 112)
    assert res.learn_word_pops == []
    assert net.lfsr.count == 0 and net.lfsr.peek_state() == 1
    assert net.weights[0, 3] == 40 and net.adapt.sum() == 0


def test_hand_sample_adaptation_delays_the_winner() -> None:
    # adapt[3] = 61: threshold of neuron 3 is 161 > 160 -> it never fires in the sample.
    # Everybody else stays below 100, so nobody fires; prediction = candidate of the last step:
    # margins at step 7: neuron 3: 160 - 161 = -1, others <= 40 - 100 -> 3.
    net = hand_net(hand_cfg())
    net.adapt[3] = 61
    res = net.run_sample(hand_times(), learn=True)
    assert res.winners == [] and res.spikes == []
    assert res.prediction == 3
    assert res.steps == 8
    assert res.syn_updates == 0 and net.lfsr.count == 0
    # adapt[3] = 60: margin 0 fires
    net = hand_net(hand_cfg())
    net.adapt[3] = 60
    assert net.run_sample(hand_times(), learn=True).winners == [(3, 2)]
    assert net.adapt[3] == 92


def test_hand_sample_homeo_decay_only_when_learning() -> None:
    # decay shift 2 at the start of a learning sample: 64 - 16 = 48, 7 - 1 = 6, 3 - 0 = 3;
    # adapt[3] = 48 -> threshold 148 <= 160, neuron 3 still wins at step 2 -> 48 + 32 = 80
    cfg = hand_cfg(homeo_decay_shift=2)
    net = hand_net(cfg)
    net.adapt[:] = [64, 7, 3, 64, 0, 0, 0, 0]
    net.run_sample(hand_times(), learn=False)
    assert net.adapt.tolist() == [64, 7, 3, 64, 0, 0, 0, 0]
    net.run_sample(hand_times(), learn=True)
    assert net.adapt.tolist() == [48, 6, 3, 80, 0, 0, 0, 0]


def test_early_termination_after_k_winners() -> None:
    # Add input 5 at t = 4 with w[5, 6] = 100 (input 5 is not live for neuron 3).
    # Step 2: neuron 3 wins (160). Step 4: v6 = 40 + 100 = 140 >= 100 -> fires, second winner;
    # others reach 30 + 10 = 40. Input 6 at t = 6 comes after the end with k = 2.
    def run(k: int) -> SampleResult:
        cfg = hand_cfg(k_winners=k)
        net = hand_net(cfg)
        net.weights[5, 6] = 100
        times = hand_times()
        times[5] = 4
        times[6] = 6
        return net.run_sample(times, learn=False)

    r1 = run(1)
    assert r1.winners == [(3, 2)]
    assert r1.steps == 3
    assert r1.n_events == 6  # all events are loaded, even the late ones
    assert r1.syn_events == 27  # only the events of steps 0..2
    r2 = run(2)
    assert r2.winners == [(3, 2), (6, 4)]
    assert r2.spikes == [(2, 3), (4, 6)]
    assert r2.prediction == 3
    assert r2.steps == 5
    assert r2.n_events == 6
    assert r2.syn_events == 27 + 7  # input 5 is live on 7 neurons (not 3)
    assert len(r2.event_costs) == 5


def test_simultaneous_spikes_one_winner_per_step() -> None:
    # Neurons 2 and 5 get identical columns and cross the threshold at the same step: both spike,
    # the lower index is the step's winner, and the other has fired, so with k = 2 it can never
    # win later; nobody else fires, so the sample runs all 8 steps with a single winner.
    cfg = hand_cfg(k_winners=2, threshold=50)
    w = np.zeros((16, 8), dtype=np.int64)
    w[0, [2, 5]] = 60
    net = Network(cfg, weights=w)
    times = np.full(16, 8, dtype=np.int16)
    times[0] = 3
    res = net.run_sample(times, learn=False)
    assert res.spikes == [(3, 2), (3, 5)]
    assert res.spikes_per_step == [0, 0, 0, 2, 0, 0, 0, 0]
    assert res.winners == [(2, 3)]
    assert res.steps == 8
    assert res.prediction == 2


def test_larger_margin_wins_over_lower_index() -> None:
    # both fire at step 0; neuron 6 has margin 70 - 50 = 20 > neuron 1's 55 - 50 = 5
    cfg = hand_cfg(threshold=50)
    w = np.zeros((16, 8), dtype=np.int64)
    w[0, 1] = 55
    w[0, 6] = 70
    times = np.full(16, 8, dtype=np.int16)
    times[0] = 0
    res = Network(cfg, weights=w).run_sample(times, learn=False)
    assert res.winners == [(6, 0)]
    assert res.spikes == [(0, 1), (0, 6)]
    assert res.steps == 1


@pytest.mark.parametrize("t", [1, 8])
def test_fallback_prediction_ties_to_lowest_index(t: int) -> None:
    # nothing spikes at all: every margin is -100 at the last step -> neuron 0, T steps
    cfg = hand_cfg(time_steps=t)
    res = Network(cfg, weights=np.zeros((16, 8))).run_sample(np.full(16, t), learn=True)
    assert res.winners == [] and res.prediction == 0 and res.steps == t
    assert res.n_events == 0 and res.syn_events == 0
    assert [c.tolist() for c in res.event_costs] == [[]] * t


def test_fallback_prediction_uses_adaptation() -> None:
    # all v = 40 after step 2; adapt [5, 3, 9, ...]: margins 40 - 100 - adapt, best = neuron 4
    # (adapt 0), the lowest index among those with adapt 0 being 4
    cfg = hand_cfg()
    net = Network(cfg, weights=np.full((16, 8), 10), adapt=[5, 3, 9, 1, 0, 0, 2, 0])
    times = np.full(16, 8)
    times[[0, 1, 2, 3]] = [0, 0, 2, 2]
    res = net.run_sample(times, learn=False)
    assert res.winners == [] and res.prediction == 4


def test_leak_by_hand() -> None:
    # leak_shift 2, threshold 100, neuron 3 (w = 40 on inputs 0..3):
    # t0: 80 - 20 = 60; t1: 60 - 15 = 45; t2: 45 + 80 = 125 - 31 = 94; t3: 94 - 23 = 71;
    # t4: 71 - 17 = 54; t5: 54 - 13 = 41; t6: 41 - 10 = 31; t7: 31 - 7 = 24 -> never fires.
    # neuron 0 (only input 0 live at t0, inputs 2, 3 at t2):
    # 10 - 2 = 8; 8 - 2 = 6; 6 + 20 = 26 - 6 = 20; 15; 12; 9; 7; 6
    net = hand_net(hand_cfg(leak_shift=2))
    res = net.run_sample(hand_times(), learn=False, trace=True)
    assert [int(v[3]) for v in res.membranes] == [60, 45, 94, 71, 54, 41, 31, 24]
    assert [int(v[0]) for v in res.membranes] == [8, 6, 20, 15, 12, 9, 7, 6]
    assert res.winners == [] and res.prediction == 3
    # threshold 90: margin at t2 is 94 - 90 = 4 -> fires at step 2
    net = hand_net(hand_cfg(leak_shift=2, threshold=90))
    assert net.run_sample(hand_times(), learn=False).winners == [(3, 2)]


def test_membrane_saturates() -> None:
    # membrane_bits 9 (v_max 511): 3 * 255 = 765 saturates to 511; threshold 511 fires exactly
    cfg = hand_cfg(membrane_bits=9, adapt_bits=9, threshold=511)
    w = np.zeros((16, 8), dtype=np.int64)
    w[0:3, 0] = 255
    w[0:2, 1] = 255  # 510: one short
    times = np.full(16, 8)
    times[0:3] = 1
    res = Network(cfg, weights=w).run_sample(times, learn=False, trace=True)
    assert res.membranes[0][:2].tolist() == [0, 0]
    assert res.membranes[1][:2].tolist() == [511, 510]
    assert res.winners == [(0, 1)]


def test_default_init_by_hand() -> None:
    # init_std 0: rint(0.8 * 255) = rint(204.0) = 204 everywhere; init_mean 1 -> 255
    cfg = hand_cfg(init_std=0.0)
    assert (Network(cfg).weights == 204).all()
    assert (Network(hand_cfg(init_std=0.0, init_mean=1.0)).weights == 255).all()
    a, b = Network(hand_cfg(seed=3)), Network(hand_cfg(seed=3))
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, Network(hand_cfg(seed=4)).weights)
    assert a.weights.min() >= 0 and a.weights.max() <= 255
    assert a.mask.all() and a.live == 128 and (a.adapt == 0).all()
    assert a.lfsr.peek_state() == 1  # lfsr_seed of hand_cfg


def test_lfsr_state_argument() -> None:
    net = Network(hand_cfg(), lfsr_state=0xACE1)
    assert net.lfsr.peek_state() == 0xACE1


@pytest.mark.parametrize("kwargs", [
    {"weights": np.zeros((16, 7))},
    {"weights": np.full((16, 8), 256)},
    {"weights": np.full((16, 8), -1)},
    {"mask": np.ones((8, 16), dtype=bool)},
    {"adapt": np.zeros(7)},
])
def test_network_rejects_bad_state(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Network(hand_cfg(), **kwargs)


@pytest.mark.parametrize("times", [np.zeros(15), np.full(16, 9), np.full(16, -1),
                                   np.zeros((1, 16))])
def test_run_sample_rejects_bad_times(times: np.ndarray) -> None:
    net = hand_net(hand_cfg())
    with pytest.raises(ValueError):
        net.run_sample(times.astype(np.int64), learn=False)


def test_network_copies_its_inputs() -> None:
    w = np.full((16, 8), 10)
    mask = np.ones((16, 8), dtype=bool)
    net = Network(hand_cfg(), weights=w, mask=mask)
    net.run_sample(hand_times(), learn=True)
    net.weights[:] = 0
    assert (w == 10).all() and mask.all()


# ---------------------------------------------------------------------------------------------
# independent pure-Python reference
# ---------------------------------------------------------------------------------------------
def ref_lfsr_step(s: int) -> int:
    # Galois, right shifting, taps 32, 22, 2, 1 (bits 31, 21, 1, 0)
    fb = s & 1
    s >>= 1
    if fb:
        s ^= (1 << 31) | (1 << 21) | (1 << 1) | 1
    return s


@dataclass
class RefState:
    w: list[list[int]]
    mask: list[list[bool]]
    adapt: list[int]
    lfsr: int
    count: int = 0


def ref_run(cfg: Config, s: RefState, times: list[int], learn: bool) -> dict[str, Any]:
    """One sample, event by event and synapse by synapse, with Python ints only."""
    n_in, n, lanes, big_t = cfg.n_inputs, cfg.n_neurons, cfg.lanes, cfg.time_steps
    if learn and cfg.homeo_decay_shift:
        s.adapt = [a - (a >> cfg.homeo_decay_shift) for a in s.adapt]
    v = [0] * n
    fired = [False] * n
    winners: list[tuple[int, int]] = []
    spikes: list[tuple[int, int]] = []
    per_step: list[int] = []
    costs: list[list[list[int]]] = []
    syn_events = 0
    steps = 0
    cand = -1
    for t in range(big_t):
        step_costs = []
        for i in range(n_in):
            if times[i] != t:
                continue
            lane_live = [0] * lanes
            for j in range(n):
                if s.mask[i][j]:
                    v[j] = min(v[j] + s.w[i][j], cfg.v_max)  # saturate per event
                    lane_live[j % lanes] += 1
                    syn_events += 1
            step_costs.append(lane_live)
        costs.append(step_costs)
        if cfg.leak_shift:
            v = [x - (x >> cfg.leak_shift) for x in v]
        m = [v[j] - cfg.threshold - s.adapt[j] for j in range(n)]
        cand = -1
        new = []
        for j in range(n):
            if fired[j]:
                continue
            if cand < 0 or m[j] > m[cand]:
                cand = j
            if m[j] >= 0:
                new.append(j)
        for j in new:
            fired[j] = True
            spikes.append((t, j))
        per_step.append(len(new))
        steps += 1
        if cand >= 0 and m[cand] >= 0:
            winners.append((cand, t))
            if len(winners) == cfg.k_winners:
                break
    pred = winners[0][0] if winners else cand
    updates = pruned = 0
    pops: list[list[int]] = []
    if learn:
        sh = cfg.stdp_shift
        for j, tp in winners:
            s.adapt[j] = min(s.adapt[j] + cfg.homeo_inc, cfg.adapt_max)
            pop = [0] * cfg.col_words
            for i in range(n_in):
                if not s.mask[i][j]:
                    continue
                pop[i // cfg.col_word_bits] += 1
                r = s.lfsr % (1 << sh)
                s.lfsr = ref_lfsr_step(s.lfsr)
                s.count += 1
                a = cfg.a_plus if times[i] <= tp else cfg.a_minus
                w = s.w[i][j]
                dw = (a * w * (cfg.w_max - w) + r) // (1 << sh)  # floor division
                w = min(max(w + dw, 0), cfg.w_max)
                s.w[i][j] = w
                updates += 1
                if cfg.prune_enabled and w < cfg.prune_threshold:
                    s.mask[i][j] = False
                    pruned += 1
            pops.append(pop)
    live = sum(sum(row) for row in s.mask)
    return dict(winners=winners, spikes=spikes, prediction=pred, steps=steps,
                n_events=sum(1 for x in times if x < big_t), syn_events=syn_events,
                syn_updates=updates, live=live, pruned=pruned, event_costs=costs,
                spikes_per_step=per_step, learn_word_pops=pops)


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------
@dataclass
class Setup:
    cfg: Config
    weights: np.ndarray
    mask: np.ndarray
    adapt: np.ndarray
    samples: list[np.ndarray]

    def network(self) -> Network:
        return Network(self.cfg, weights=self.weights, mask=self.mask, adapt=self.adapt)


@st.composite
def setups(draw: st.DrawFn, n_samples: int = 3, prune: bool | None = None) -> Setup:
    shape = draw(st.sampled_from([(2, 2), (4, 4), (3, 5)]))
    on_off = draw(st.booleans())
    n_inputs = shape[0] * shape[1] * (2 if on_off else 1)
    lanes = draw(st.sampled_from([1, 2, 4]))
    n_neurons = lanes * draw(st.integers(1, 3))
    weight_bits = draw(st.sampled_from([4, 8]))
    membrane_bits = draw(st.sampled_from([max(8, weight_bits + 1), weight_bits + 5, 16]))
    adapt_bits = min(12, membrane_bits)
    frac = draw(st.sampled_from([4, 12]))
    k_max = draw(st.integers(1, 3))
    w_max = (1 << weight_bits) - 1
    lim = 1 << (frac + 1)
    cfg = Config(
        n_inputs=n_inputs, image_shape=shape, on_off=on_off, n_neurons=n_neurons, lanes=lanes,
        time_steps=draw(st.sampled_from([1, 4, 8])), k_max=k_max,
        k_winners=draw(st.integers(1, k_max)), col_word_bits=draw(st.sampled_from([8, 16, 32])),
        weight_bits=weight_bits, membrane_bits=membrane_bits, adapt_bits=adapt_bits,
        stdp_frac_bits=frac,
        threshold=draw(st.integers(0, min((1 << membrane_bits) - 1, w_max * n_inputs // 3))),
        leak_shift=draw(st.integers(0, 3)),
        a_plus=draw(st.integers(0, lim - 1)), a_minus=draw(st.integers(-lim + 1, 0)),
        prune_enabled=draw(st.booleans()) if prune is None else prune,
        prune_threshold=draw(st.integers(0, w_max // 2)),
        homeo_inc=draw(st.integers(0, 64)), homeo_decay_shift=draw(st.integers(0, 3)),
        lfsr_seed=draw(st.integers(1, (1 << 32) - 1)),
    ).validate()
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape2 = (n_inputs, n_neurons)
    weights = rng.integers(0, w_max + 1, shape2)
    mask = rng.random(shape2) < draw(st.sampled_from([0.5, 0.9, 1.0]))
    adapt = rng.integers(0, 40, n_neurons)
    p_never = draw(st.sampled_from([0.0, 0.3, 0.8]))
    samples = []
    for _ in range(n_samples):
        t = rng.integers(0, cfg.time_steps, n_inputs)
        t[rng.random(n_inputs) < p_never] = cfg.never
        samples.append(t.astype(np.int16))
    return Setup(cfg, weights, mask, adapt, samples)


def _as_plain(res: SampleResult) -> dict[str, Any]:
    return dict(winners=res.winners, spikes=res.spikes, prediction=res.prediction,
                steps=res.steps, n_events=res.n_events, syn_events=res.syn_events,
                syn_updates=res.syn_updates, live=res.live, pruned=res.pruned,
                event_costs=[c.tolist() for c in res.event_costs],
                spikes_per_step=res.spikes_per_step,
                learn_word_pops=[p.tolist() for p in res.learn_word_pops])


@REF
@given(setup=setups(n_samples=4), learn_pattern=st.lists(st.booleans(), min_size=4,
                                                          max_size=4))
def test_matches_pure_python_reference(setup: Setup, learn_pattern: list[bool]) -> None:
    net = setup.network()
    ref = RefState(setup.weights.tolist(), setup.mask.tolist(), setup.adapt.tolist(),
                   setup.cfg.lfsr_seed)
    for times, learn in zip(setup.samples, learn_pattern, strict=True):
        got = _as_plain(net.run_sample(times, learn=learn))
        want = ref_run(setup.cfg, ref, times.tolist(), learn)
        assert got == want
        assert net.weights.tolist() == ref.w
        assert net.mask.tolist() == ref.mask
        assert net.adapt.tolist() == ref.adapt
        assert net.lfsr.count == ref.count
        assert net.lfsr.peek_state() == ref.lfsr


def test_reference_strategy_is_not_vacuous() -> None:
    """The random setups must reach winners, multiple winners, pruning, fallbacks and membrane
    saturation, or the property tests above would prove little."""
    seen = {"winner": 0, "two": 0, "pruned": 0, "fallback": 0, "saturated": 0}

    @settings(max_examples=60, derandomize=True, deadline=None)
    @given(setup=setups(n_samples=4))
    def collect(setup: Setup) -> None:
        net = setup.network()
        for times in setup.samples:
            drive = (net.weights * net.mask)[times < setup.cfg.never].sum(0)
            res = net.run_sample(times, learn=True)
            seen["saturated"] += bool((drive > setup.cfg.v_max).any())
            seen["winner"] += bool(res.winners)
            seen["two"] += len(res.winners) >= 2
            seen["pruned"] += res.pruned > 0
            seen["fallback"] += not res.winners

    collect()
    assert all(v >= 5 for v in seen.values()), str(seen)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
def _live_costs(mask: np.ndarray, inputs: np.ndarray, lanes: int) -> list[list[int]]:
    return [[int(mask[i, lane::lanes].sum()) for lane in range(lanes)] for i in inputs]


@PROPS
@given(setup=setups(n_samples=5))
def test_learning_invariants(setup: Setup) -> None:
    cfg = setup.cfg
    net = setup.network()
    live0 = net.live
    total_pruned = total_updates = 0
    for times in setup.samples:
        w0, m0 = net.weights.copy(), net.mask.copy()
        live_before = net.live
        lfsr_before = net.lfsr.count
        res = net.run_sample(times, learn=True)
        # weights in range
        assert net.weights.min() >= 0 and net.weights.max() <= cfg.w_max
        # mask only goes True -> False, pruned weights never change
        assert not (net.mask & ~m0).any()
        np.testing.assert_array_equal(net.weights[~m0], w0[~m0])
        if not cfg.prune_enabled:
            np.testing.assert_array_equal(net.mask, m0)
            assert res.pruned == 0
        # counters
        assert res.live == net.live == live_before - res.pruned
        assert res.pruned == int((m0 & ~net.mask).sum())
        winners = [j for j, _ in res.winners]
        assert len(set(winners)) == len(winners) <= cfg.k_winners
        assert res.syn_updates == sum(int(m0[:, j].sum()) for j in winners)
        assert net.lfsr.count - lfsr_before == res.syn_updates
        # only winners' columns may change
        others = [j for j in range(cfg.n_neurons) if j not in winners]
        np.testing.assert_array_equal(net.weights[:, others], w0[:, others])
        np.testing.assert_array_equal(net.mask[:, others], m0[:, others])
        processed = np.flatnonzero(times < res.steps)
        assert res.syn_events == int(m0[processed].sum())
        assert res.n_events == int((times < cfg.never).sum())
        # event costs: per step, per event in input order, per lane (j in lane j % P)
        assert len(res.event_costs) == res.steps == len(res.spikes_per_step)
        for t, costs in enumerate(res.event_costs):
            inputs = np.flatnonzero(times == t)
            assert costs.tolist() == _live_costs(m0, inputs, cfg.lanes)
        # learn word pops: live synapses of the winner's column per bitmap word
        for j, pops in zip(winners, res.learn_word_pops, strict=True):
            col = m0[:, j]
            assert pops.tolist() == [int(col[g * cfg.col_word_bits:(g + 1) * cfg.col_word_bits]
                                         .sum()) for g in range(cfg.col_words)]
        # the sample ends early only with k winners
        if len(res.winners) < cfg.k_winners:
            assert res.steps == cfg.time_steps
        else:
            assert res.steps == res.winners[-1][1] + 1
        assert sum(res.spikes_per_step) == len(res.spikes)
        total_pruned += res.pruned
        total_updates += res.syn_updates
    assert net.live == live0 - total_pruned
    assert net.lfsr.count == total_updates


@PROPS
@given(setup=setups(n_samples=4, prune=False))
def test_prune_disabled_prunes_nothing(setup: Setup) -> None:
    net = setup.network()
    for times in setup.samples:
        res = net.run_sample(times, learn=True)
        assert res.pruned == 0
    np.testing.assert_array_equal(net.mask, setup.mask)


@PROPS
@given(setup=setups(n_samples=4))
def test_inference_changes_nothing(setup: Setup) -> None:
    net = setup.network()
    # learn once so the state is not just the initial one
    net.run_sample(setup.samples[0], learn=True)
    w, m, a = net.weights.copy(), net.mask.copy(), net.adapt.copy()
    count, state = net.lfsr.count, net.lfsr.peek_state()
    first = [_as_plain(net.run_sample(t, learn=False)) for t in setup.samples[1:]]
    again = [_as_plain(net.run_sample(t, learn=False)) for t in setup.samples[1:]]
    assert first == again
    for r in first:
        assert r["syn_updates"] == 0 and r["pruned"] == 0 and r["learn_word_pops"] == []
        assert r["live"] == int(m.sum())
    np.testing.assert_array_equal(net.weights, w)
    np.testing.assert_array_equal(net.mask, m)
    np.testing.assert_array_equal(net.adapt, a)
    assert net.lfsr.count == count and net.lfsr.peek_state() == state


@PROPS
@given(setup=setups(n_samples=3))
def test_learning_sample_dynamics_equal_inference_without_decay(setup: Setup) -> None:
    # with homeo_decay_shift = 0 a learning sample sees the same state as an inference sample
    cfg = setup.cfg.replace(homeo_decay_shift=0)
    for times in setup.samples:
        a = Network(cfg, weights=setup.weights, mask=setup.mask, adapt=setup.adapt)
        b = Network(cfg, weights=setup.weights, mask=setup.mask, adapt=setup.adapt)
        ra, rb = a.run_sample(times, learn=True), b.run_sample(times, learn=False)
        for key in ("winners", "spikes", "prediction", "steps", "n_events", "syn_events",
                    "event_costs", "spikes_per_step"):
            assert _as_plain(ra)[key] == _as_plain(rb)[key]


@PROPS
@given(setup=setups(n_samples=4))
def test_same_seed_same_results(setup: Setup) -> None:
    cfg = setup.cfg
    runs = []
    for _ in range(2):
        net = Network(cfg)  # weights from cfg.seed
        out = [_as_plain(net.run_sample(t, learn=True, trace=True)) for t in setup.samples]
        runs.append((out, net.weights.tolist(), net.mask.tolist(), net.adapt.tolist(),
                     net.lfsr.count, net.lfsr.peek_state()))
    assert runs[0] == runs[1]


# Only neurons 0 and 1 live for input 0, neurons 0, 2, 4, 6 for input 1 (both at step 5):
# one entry per (input, row-mask word), a column per lane.
# Whole rows, 8 neurons: lanes 1: 2 and 4; lanes 2: {0},{1} and {0,2,4,6} all in lane 0;
# lanes 4: {0},{1} and lanes 0 {0,4}, 2 {2,6}; lanes 8: one neuron per lane.
# Rows in words of 4, 16 neurons: lanes 1: rows 0..15 in 4 words, input 0 [2, 0, 0, 0],
# input 1 [2, 2, 0, 0]; lanes 2: rows 0..7 per lane in 2 words, input 0 lane 0 {0}, lane 1
# {1}, then nothing; input 1 lane 0 rows {0, 1, 2, 3}, then nothing.
EVENT_COSTS_BY_HAND = [
    (1, 8, 0, [[2], [4]]), (2, 8, 0, [[1, 1], [4, 0]]),
    (4, 8, 0, [[1, 1, 0, 0], [2, 0, 2, 0]]),
    (8, 8, 0, [[1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0, 1, 0]]),
    (1, 16, 4, [[2], [0], [0], [0], [2], [2], [0], [0]]),
    (2, 16, 4, [[1, 1], [0, 0], [4, 0], [0, 0]]),
]


@pytest.mark.parametrize(("lanes", "n_neurons", "row_word_bits", "expected"),
                         EVENT_COSTS_BY_HAND)
def test_event_costs_by_hand(lanes: int, n_neurons: int, row_word_bits: int,
                             expected: list[list[int]]) -> None:
    cfg = hand_cfg(lanes, threshold=10000, n_neurons=n_neurons, row_word_bits=row_word_bits)
    assert len(expected) == 2 * cfg.row_words
    mask = np.zeros((16, n_neurons), dtype=bool)
    mask[0, [0, 1]] = True
    mask[1, [0, 2, 4, 6]] = True
    times = np.full(16, 8)
    times[[0, 1]] = 5
    res = Network(cfg, weights=np.ones((16, n_neurons)), mask=mask).run_sample(times,
                                                                                learn=False)
    assert res.event_costs[5].tolist() == expected
    assert res.syn_events == 6
