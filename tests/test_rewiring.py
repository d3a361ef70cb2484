"""The rewiring policies (``model.rewiring``): each rule against hand-computed cases, the PQ
formula against a direct NumPy evaluation, and the policies inside ``Network``: density held
after every sample, LFSR-driven regrowth deterministic, the threshold policy as before."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from synaprune.model import rewiring
from synaprune.model.config import Config
from synaprune.model.datasets import load_digits_split
from synaprune.model.encoding import encode
from synaprune.model.network import Network
from synaprune.sim.cases import digits_case

# Strong depression and a high prune threshold: synapses are pruned within the first samples.
FAST = {"threshold": 300, "a_minus": -6000, "prune_threshold": 80}
SIZES = [Config(), Config(n_neurons=32, lanes=4, image_shape=(8, 8), on_off=True, n_inputs=128)]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return load_digits_split().x_train[:40]


# ---------------------------------------------------------------------------------------------
# the rule functions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_inputs", "density", "count"),
                         [(64, 0.1, 6), (128, 0.1, 13), (128, 0.07, 9), (10, 0.01, 1)])
def test_initial_mask_same_count_per_neuron(n_inputs: int, density: float, count: int) -> None:
    assert rewiring.live_per_neuron(n_inputs, density) == count
    mask = rewiring.initial_mask(n_inputs, 20, density, seed=3)
    assert mask.shape == (n_inputs, 20) and (mask.sum(0) == count).all()
    assert np.array_equal(mask, rewiring.initial_mask(n_inputs, 20, density, seed=3))
    assert not np.array_equal(mask, rewiring.initial_mask(n_inputs, 20, density, seed=4))


@pytest.mark.parametrize(("state", "n_absent", "pick"),
                         [(0, 5, 0), (0xFFFFFFFF, 5, 4), (0x80000000, 3, 1), (0x55555556, 3, 1),
                          (0x55555555, 3, 0), (12345, 1, 0)])
def test_regrow_pick(state: int, n_absent: int, pick: int) -> None:
    assert rewiring.regrow_pick(state, n_absent) == pick


def test_regrow_pick_needs_an_absent_input() -> None:
    with pytest.raises(ValueError, match="at least one absent"):
        rewiring.regrow_pick(1, 0)


def test_regrow_draws_among_the_inputs_still_absent() -> None:
    live = np.array([True, False, True, False, False])
    # absent 1, 3, 4: state 0 takes the first (1); then absent 3, 4: the largest state the last
    grown = rewiring.regrow(live, np.array([0, 0xFFFFFFFF], dtype=np.uint32))
    assert grown.tolist() == [1, 4]
    assert live.tolist() == [True, False, True, False, False]  # the argument is not changed
    # absent 1, 3, 4; 0x80000000 * 3 >> 32 = 1 -> input 3; then absent 1, 4: 1 -> input 4
    assert rewiring.regrow(live, np.array([0x80000000, 0x80000000])).tolist() == [3, 4]


@pytest.mark.parametrize(("count", "expected"), [(0, []), (1, [1]), (2, [1, 2]), (3, [0, 1, 2]),
                                                 (9, [0, 1, 2, 3])])
def test_cut_prunes_the_smallest_live(count: int, expected: list[int]) -> None:
    weights = np.array([5, 3, 3, 9, 1])  # input 4 is the smallest but not live
    live = np.array([True, True, True, True, False])
    cut = rewiring.pq_cut(weights, live, count)
    assert rewiring.cut_prune(weights, live, *cut).tolist() == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_inputs", [17, 300])
def test_cut_equals_a_stable_sort(seed: int, n_inputs: int) -> None:
    """The host's cut and the chip's walk select the count smallest live weights, the lower
    input first among equal ones, for every count (few distinct weights: many ties)."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(0, 6, n_inputs)
    live = rng.random(n_inputs) < 0.6
    inputs = np.flatnonzero(live)
    by_weight = inputs[np.argsort(weights[inputs], kind="stable")]
    for count in range(len(inputs) + 2):
        got = rewiring.cut_prune(weights, live, *rewiring.pq_cut(weights, live, count))
        assert got.tolist() == sorted(by_weight[:count].tolist())


def _pq_direct(w: np.ndarray, p: float, q: float) -> float:
    d = len(w)
    return float(1 - d ** (1 / q - 1 / p) * np.linalg.norm(w, p) / np.linalg.norm(w, q))


@pytest.mark.parametrize(("w", "index"), [([1, 1, 1, 1], 0.0), ([4, 0, 0, 0], 0.75),
                                          ([9, 1], 1 - 16 / 20), ([0, 0, 0], 1.0), ([], 1.0)])
def test_pq_index_hand_cases(w: list[int], index: float) -> None:
    # p = 0.5, q = 1: I = 1 - (sum sqrt w)^2 / (d sum w)
    assert rewiring.pq_index(np.array(w), 0.5, 1.0) == pytest.approx(index, abs=1e-12)


@pytest.mark.parametrize(("d", "p", "q"), [(13, 0.5, 1.0), (100, 0.5, 1.0), (40, 0.3, 2.0)])
def test_pq_index_against_numpy(d: int, p: float, q: float) -> None:
    rng = np.random.default_rng(d)
    for _ in range(20):
        w = rng.integers(0, 256, d).astype(float)
        assert rewiring.pq_index(w, p, q) == pytest.approx(_pq_direct(w, p, q), rel=1e-12)


def test_pq_ratio_hand_cases() -> None:
    # w = (4, 0, 0, 0): I = 0.75; eta = 0: m = ceil(4 * 0.25) = 1; r = 1.2 * (1 - 1/4) = 0.9
    w = np.array([4.0, 0, 0, 0])
    assert rewiring.pq_ratio(w, 0.5, 1.0, 0.0, 1.2, 1.0) == pytest.approx(0.9)
    assert rewiring.pq_ratio(w, 0.5, 1.0, 0.0, 1.2, 0.5) == 0.5  # clamped at beta
    # equal weights: I = 0, m = ceil(4 / 1.001^2) = 4: nothing to rewire
    assert rewiring.pq_ratio(np.ones(4), 0.5, 1.0, 0.001, 1.2, 1.0) == 0.0
    assert rewiring.pq_ratio(np.zeros(0), 0.5, 1.0, 0.001, 1.2, 1.0) == 0.0


@pytest.mark.parametrize("n_neurons", [8, 24])
def test_pq_counts_against_the_formula(n_neurons: int) -> None:
    rng = np.random.default_rng(n_neurons)
    w = rng.integers(0, 256, (50, n_neurons)) * (rng.random((50, n_neurons)) < 0.5)
    mask = rng.random((50, n_neurons)) < 0.3
    counts = rewiring.pq_counts(w, mask, 0.5, 1.0, 0.001, 1.2, 0.4)
    for j in range(n_neurons):
        live = w[mask[:, j], j].astype(float)
        d = len(live)
        index = _pq_direct(live, 0.5, 1.0) if live.sum() else 1.0
        m = math.ceil(d * 1.001 ** -2 * (1 - index))
        assert counts[j] == math.floor(min(max(1.2 * (1 - m / d), 0), 0.4) * d)
    assert counts.any()


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "message"), [
    ({"rewire_policy": "random"}, "rewire_policy"),
    ({"rewire_policy": "pq", "rewire_density": 0.0}, "rewire_density"),
    ({"rewire_policy": "fixed-density", "rewire_density": 1.0}, "no input to regrow"),
    ({"rewire_policy": "fixed-density", "regrow_weight": 10}, "regrow_weight"),
    ({"rewire_block": 0}, "rewire_block"),
    ({"pq_p": 1.5}, "pq_p"),
    ({"pq_beta": 1.5}, "pq_beta"),
])
def test_bad_rewiring_config(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config().replace(**changes)


def test_rewiring_keys_round_trip_through_toml(tmp_path: Path) -> None:
    cfg = Config(rewire_policy="pq", rewire_density=0.07, rewire_block=50, pq_beta=0.2)
    cfg.save(tmp_path / "c.toml")
    assert Config.load(tmp_path / "c.toml") == cfg
    with pytest.raises(TypeError, match="rewire_policy must be a string"):
        Config(rewire_policy=3).validate()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# the policies in the network
# ---------------------------------------------------------------------------------------------
def _fingerprint(net: Network) -> str:
    h = hashlib.sha256()
    for a in (net.weights, net.mask, net.adapt):
        h.update(a.astype("int64").tobytes())
    h.update(str(net.lfsr.peek_state()).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("cfg", "live", "digest"), [
    (Config(prune_threshold=120, a_minus=-4000, threshold=900), 8151, "19b4c2fc7b1fc76a"),
    (Config.preset("digits").replace(prune_threshold=100), 32685, "35391ab0e55e7377"),
])
def test_threshold_policy_as_before(cfg: Config, live: int, digest: str) -> None:
    """The state after 60 digits, fingerprinted with the code before the policies existed."""
    assert cfg.rewire_policy == "threshold"
    net = Network(cfg)
    for t in encode(load_digits_split().x_train[:60], cfg):
        net.run_sample(t, learn=True)
    assert (net.live, _fingerprint(net)) == (live, digest)


@pytest.mark.parametrize("base", SIZES)
def test_fixed_density_held_after_every_sample(base: Config, images: np.ndarray) -> None:
    cfg = base.replace(rewire_policy="fixed-density", **FAST)
    net = Network(cfg)
    count = rewiring.live_per_neuron(cfg.n_inputs, cfg.rewire_density)
    assert (net.mask.sum(0) == count).all()
    pruned = regrown = updates = 0
    for t in encode(images, cfg):
        res = net.run_sample(t, learn=True, trace=True)
        assert (net.mask.sum(0) == count).all()
        assert res.regrown == res.pruned
        for j, grown in res.regrowths:
            assert (net.weights[grown, j] == cfg.regrow_weight).all()
        pruned, regrown, updates = pruned + res.pruned, regrown + res.regrown, (
            updates + res.syn_updates)
    assert pruned > 0 and regrown == pruned
    assert net.lfsr.count == updates + regrown  # one LFSR state per update and per regrowth


@pytest.mark.parametrize("policy", ["fixed-density", "pq"])
def test_regrowth_deterministic(policy: str, images: np.ndarray) -> None:
    cfg = Config(rewire_policy=policy, rewire_block=4, pq_beta=0.4, **FAST)
    nets = [Network(cfg) for _ in range(2)]
    for t in encode(images, cfg):
        for net in nets:
            net.run_sample(t, learn=True)
    assert _fingerprint(nets[0]) == _fingerprint(nets[1])
    other = Network(cfg.replace(lfsr_seed=0x1234))
    for t in encode(images, cfg):
        other.run_sample(t, learn=True)
    assert not np.array_equal(other.mask, nets[0].mask)  # the LFSR chose the positions


@pytest.mark.parametrize(("base", "block"), [(SIZES[0], 4), (SIZES[1], 7)])
def test_pq_rewires_at_block_ends_only(base: Config, block: int, images: np.ndarray) -> None:
    cfg = base.replace(rewire_policy="pq", rewire_block=block, pq_beta=0.4, **FAST)
    net = Network(cfg)
    count = rewiring.live_per_neuron(cfg.n_inputs, cfg.rewire_density)
    rewired = 0
    for k, t in enumerate(encode(images, cfg), start=1):
        before = net.mask.copy()
        res = net.run_sample(t, learn=True)
        assert (net.mask.sum(0) == count).all()
        if k % block:
            assert np.array_equal(net.mask, before) and res.pruned == res.regrown == 0
        else:
            assert res.pruned == res.regrown
            rewired += res.regrown
        assert net.learned == k
    assert rewired > 0


def test_pq_block_uses_the_weights_after_learning(images: np.ndarray) -> None:
    cfg = Config(rewire_policy="pq", rewire_block=1, pq_beta=0.4, **FAST)
    net = Network(cfg)
    twin = Network(cfg)
    for t in encode(images[:10], cfg):
        twin.run_sample(t, learn=True)
        # the same sample on a copy without the rewiring, then the host's counts
        probe = Network(cfg.replace(prune_enabled=False), weights=net.weights, mask=net.mask,
                        adapt=net.adapt, lfsr_state=net.lfsr.peek_state())
        probe.run_sample(t, learn=True)
        c = cfg
        counts = rewiring.pq_counts(probe.weights, probe.mask, c.pq_p, c.pq_q, c.pq_eta,
                                    c.pq_gamma, c.pq_beta)
        res = net.run_sample(t, learn=True)
        assert res.pruned == int(counts.sum())
        assert res.rewire_regrowths == [int(n) for n in counts if n]
    assert _fingerprint(net) == _fingerprint(twin)


@pytest.mark.parametrize("policy", ["fixed-density", "pq"])
def test_prune_disabled_keeps_the_sparse_mask(policy: str, images: np.ndarray) -> None:
    cfg = Config(rewire_policy=policy, rewire_block=2, prune_enabled=False, **FAST)
    net = Network(cfg)
    mask0 = net.mask.copy()
    for t in encode(images[:10], cfg):
        net.run_sample(t, learn=True)
    assert np.array_equal(net.mask, mask0)


@pytest.mark.parametrize("policy", ["fixed-density", "pq"])
def test_rtl_case_refuses_learning_with_a_policy_the_core_lacks(policy: str) -> None:
    """The sparse policies learn with the regrowth unit: an RTL case that learns with one on a
    core built without it is refused with a clear error (inference under any policy's masks
    is fine); with the unit it is accepted."""
    cfg = Config(n_inputs=64, n_neurons=8, lanes=2, rewire_policy=policy, rewire_density=0.5,
                 regrow_unit=False)
    with pytest.raises(ValueError, match="no regrowth unit.*" + policy):
        digits_case(cfg, pretrain=0, n_learn=2, n_infer=1)
    assert digits_case(cfg, pretrain=0, n_learn=0, n_infer=2).learn.sum() == 0
    with_unit = cfg.replace(regrow_unit=True)
    assert digits_case(with_unit, pretrain=0, n_learn=2, n_infer=1).learn.sum() == 2
