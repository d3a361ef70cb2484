"""Golden-model state <-> the core's memory words (``HostRegion`` address spaces).

The single place that knows how ``weights[i, j]`` / ``mask[i, j]`` of ``model.network.Network``
are laid out in the core: neuron j = k*P + p lives in lane p at row k; a lane's weight address is
i*K + k; a lane's row mask of input i is W words of R bits (``Config.row_words``,
``row_word_width``; W = 1, R = K by default) at addresses i*W + w, bit b of word w set when
synapse i -> (w*R + b)*P + p is live; the column-bitmap word g of neuron j (address j*G + g) has
bit b set when input g*B + b is live.
Host driver and testbenches both use these functions.
"""

from __future__ import annotations

import numpy as np

from ..model.config import Config
from .layouts import rewire_layout


def weight_words(cfg: Config, weights: np.ndarray) -> np.ndarray:
    """Shape (P, n_inputs*K): lane p, address i*K + k."""
    w = np.asarray(weights).reshape(cfg.n_inputs, cfg.rows, cfg.lanes)  # [i, k, p]
    return w.transpose(2, 0, 1).reshape(cfg.lanes, -1).astype(np.int64)


def weights_from_words(cfg: Config, words: np.ndarray) -> np.ndarray:
    w = np.asarray(words).reshape(cfg.lanes, cfg.n_inputs, cfg.rows)  # [p, i, k]
    return w.transpose(1, 2, 0).reshape(cfg.n_inputs, cfg.n_neurons).astype(np.int64)


def _pack_bits(bits: np.ndarray) -> np.ndarray:
    """Last axis of booleans -> Python ints (bit n = element n), as an object array."""
    weights = [1 << n for n in range(bits.shape[-1])]
    flat = bits.reshape(-1, bits.shape[-1])
    return np.array([sum(w for w, b in zip(weights, row, strict=True) if b) for row in flat],
                    dtype=object).reshape(bits.shape[:-1])


def _unpack_bits(words: np.ndarray, width: int) -> np.ndarray:
    words = np.asarray(words, dtype=object)
    out = np.zeros(words.shape + (width,), dtype=bool)
    for idx, word in np.ndenumerate(words):
        out[idx] = [(int(word) >> n) & 1 for n in range(width)]
    return out


def row_mask_words(cfg: Config, mask: np.ndarray) -> np.ndarray:
    """Shape (P, n_inputs * W) of R-bit ints: lane p, address i*W + w, bit b = row w*R + b."""
    width, words, k_rows = cfg.row_word_width, cfg.row_words, cfg.rows
    m = np.asarray(mask, dtype=bool).reshape(cfg.n_inputs, k_rows, cfg.lanes)  # [i, k, p]
    m = np.pad(m.transpose(2, 0, 1), ((0, 0), (0, 0), (0, words * width - k_rows)))
    return _pack_bits(m.reshape(cfg.lanes, cfg.n_inputs * words, width))


def mask_from_row_words(cfg: Config, words: np.ndarray) -> np.ndarray:
    bits = _unpack_bits(words, cfg.row_word_width)  # [p, i*W + w, b]
    bits = bits.reshape(cfg.lanes, cfg.n_inputs, -1)[:, :, :cfg.rows]  # [p, i, k]
    return bits.transpose(1, 2, 0).reshape(cfg.n_inputs, cfg.n_neurons)


def col_mask_words(cfg: Config, mask: np.ndarray) -> np.ndarray:
    """Shape (n_neurons * G,) of B-bit ints: address j*G + g, bit b = input g*B + b."""
    pad = cfg.col_words * cfg.col_word_bits - cfg.n_inputs
    m = np.pad(np.asarray(mask, dtype=bool).T, ((0, 0), (0, pad)))  # [j, i]
    return _pack_bits(m.reshape(cfg.n_neurons, cfg.col_words, cfg.col_word_bits)).reshape(-1)


def mask_from_col_words(cfg: Config, words: np.ndarray) -> np.ndarray:
    bits = _unpack_bits(np.asarray(words, dtype=object).reshape(cfg.n_neurons, cfg.col_words),
                        cfg.col_word_bits)
    return bits.reshape(cfg.n_neurons, -1)[:, :cfg.n_inputs].T


def rewire_words(cfg: Config, commands: list[tuple[int, int, int]]
                 ) -> list[tuple[int, int, int]]:
    """The REWIRE writes of "pq" rewire commands ``(neuron, cut, n_equal)``
    (``model.rewiring.pq_commands``), in order: ``(lane, addr, word)``, neuron j = k*P + p at
    lane p, address k, the word packed by ``layouts.rewire_layout``."""
    layout = rewire_layout(cfg)
    out = []
    for j, cut, n_equal in commands:
        if not 0 <= j < cfg.n_neurons:
            raise ValueError(f"rewire: neuron {j} is not in 0..{cfg.n_neurons - 1}")
        word = layout.const({"cut": cut, "n_equal": n_equal}).as_value().value
        out.append((j % cfg.lanes, j // cfg.lanes, word))
    return out


def lane_words(cfg: Config, per_neuron: np.ndarray) -> np.ndarray:
    """Shape (P, K): a per-neuron vector (adaptation) by lane and row."""
    return np.asarray(per_neuron).reshape(cfg.rows, cfg.lanes).T.astype(np.int64)


def per_neuron_from_lanes(cfg: Config, words: np.ndarray) -> np.ndarray:
    return np.asarray(words).T.reshape(cfg.n_neurons).astype(np.int64)
