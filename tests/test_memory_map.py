"""hw.memory_map, the one layout of the golden model's arrays in the core's memories (used by
the testbench, the host driver and the simulated board): by definition and round trips, with
row bitmaps wider than 63 bits (64 and 100 rows per lane)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synaprune.hw import memory_map as mm
from synaprune.model.config import Config


def test_weight_and_mask_layout_by_definition() -> None:
    """Each packed word against the memory-map definitions, synapse by synapse."""
    cfg = Config(n_inputs=12, image_shape=(3, 4), n_neurons=6, lanes=3, time_steps=8,
                 col_word_bits=8)
    rng = np.random.default_rng(0)
    w = rng.integers(0, 256, (12, 6))
    mask = rng.random((12, 6)) < 0.6
    adapt = rng.integers(0, 4096, 6)
    pw, pr, pc, pa = (mm.weight_words(cfg, w), mm.row_mask_words(cfg, mask),
                      mm.col_mask_words(cfg, mask), mm.lane_words(cfg, adapt))
    P, K, B, G = cfg.lanes, cfg.rows, cfg.col_word_bits, cfg.col_words
    for i in range(12):
        for j in range(6):
            k, p = divmod(j, P)
            assert pw[p, i * K + k] == w[i, j]
            assert (pr[p, i] >> k) & 1 == mask[i, j]
            g, b = divmod(i, B)
            assert (pc[j * G + g] >> b) & 1 == mask[i, j]
    for j in range(6):
        k, p = divmod(j, P)
        assert pa[p, k] == adapt[j]
    assert max(pc) < (1 << B) and max(pr.reshape(-1)) < (1 << K)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1),
       st.sampled_from([(8, 1), (8, 8), (16, 4), (12, 3), (64, 1), (200, 2)]),
       st.sampled_from([8, 16, 32]))
def test_memory_map_round_trip(seed: int, sizes: tuple[int, int], b: int) -> None:
    n_neurons, lanes = sizes
    cfg = Config(n_inputs=20, image_shape=(4, 5), n_neurons=n_neurons, lanes=lanes,
                 time_steps=8, col_word_bits=b)
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 256, (20, n_neurons))
    mask = rng.random((20, n_neurons)) < 0.5
    adapt = rng.integers(0, 4096, n_neurons)
    assert (mm.weights_from_words(cfg, mm.weight_words(cfg, w)) == w).all()
    assert (mm.mask_from_row_words(cfg, mm.row_mask_words(cfg, mask)) == mask).all()
    assert (mm.mask_from_col_words(cfg, mm.col_mask_words(cfg, mask)) == mask).all()
    assert (mm.per_neuron_from_lanes(cfg, mm.lane_words(cfg, adapt)) == adapt).all()


def test_row_words_of_100_rows_keep_every_bit() -> None:
    """A 100-row lane: the top row's bit is bit 99 of the word (int64 would overflow)."""
    cfg = Config(n_inputs=20, image_shape=(4, 5), n_neurons=100, lanes=1, time_steps=8)
    mask = np.zeros((20, 100), dtype=bool)
    mask[3, 99] = True
    words = mm.row_mask_words(cfg, mask)
    assert words[0, 3] == 1 << 99
    assert (mm.mask_from_row_words(cfg, words) == mask).all()


@pytest.mark.parametrize(("lanes", "row_word_bits"), [(1, 4), (2, 8)])
def test_row_words_split_by_definition(lanes: int, row_word_bits: int) -> None:
    """Rows split into words of R bits: synapse i -> k*P + p is bit k % R of lane p's word
    i*W + k // R; 20 rows per lane leave the last word partial (4 of 8, or 0 of 4 bits)."""
    cfg = Config(n_inputs=6, image_shape=(2, 3), n_neurons=20 * lanes, lanes=lanes,
                 row_word_bits=row_word_bits)
    width, n_words = cfg.row_word_width, cfg.row_words
    assert width == row_word_bits and n_words == -(-20 // row_word_bits)
    rng = np.random.default_rng(lanes)
    mask = rng.random((6, cfg.n_neurons)) < 0.5
    words = mm.row_mask_words(cfg, mask)
    assert words.shape == (lanes, 6 * n_words)
    for i, j in np.ndindex(mask.shape):
        k, p = divmod(j, lanes)
        assert (int(words[p, i * n_words + k // width]) >> (k % width)) & 1 == mask[i, j]
    assert all(int(w) < 1 << width for w in words.ravel())
    assert (mm.mask_from_row_words(cfg, words) == mask).all()


def test_rewire_words_by_definition() -> None:
    """A REWIRE command of neuron j = k*P + p goes to lane p, address k; its word holds the cut
    in the low weight_bits bits and n_equal above; a neuron out of range is refused."""
    cfg = Config(n_inputs=12, image_shape=(3, 4), n_neurons=6, lanes=3, time_steps=8)
    words = mm.rewire_words(cfg, [(0, 7, 2), (4, 255, 12), (5, 0, 0)])
    assert words == [(0, 0, 7 | 2 << 8), (1, 1, 255 | 12 << 8), (2, 1, 0)]
    with pytest.raises(ValueError, match="neuron 6 is not in 0..5"):
        mm.rewire_words(cfg, [(6, 1, 1)])
