"""Rewiring policies: which synapses a layer removes while it learns, and which it grows back.

``Config.rewire_policy`` chooses one of ``POLICIES``; one pure function per rule, each tagged
with where it runs:

* ``"threshold"`` (default; the seed paper, Nguyen et al., ICONS 2021): the layer starts fully
  connected and a learned weight below ``prune_threshold`` removes its synapse for good
  (``rules.prune_decision``). Nothing regrows.
* ``"fixed-density"`` (ESL-SNN, Shen et al., AAAI 2023): the layer starts sparse,
  ``live_per_neuron(cfg)`` random inputs per neuron (``initial_mask``, host side, written with
  the weights). Learning prunes as the threshold rule does, and for every synapse a winner's
  update pruned, the chip regrows one absent synapse of the same neuron (``regrow``, positions
  from the LFSR, weight ``regrow_weight``), so every neuron keeps its count and the layer its
  density from the first sample.
* ``"pq"`` (PQ index, Shen, Xu, Pan, Chen, ICLR 2025): the layer starts sparse like
  fixed-density; a sample's learning prunes nothing. After every ``rewire_block`` learning
  samples the host reads the weights back and computes, per neuron, how many synapses to rewire
  (``pq_index`` -> ``pq_ratio`` -> ``pq_counts``, floating point) and where that many of the
  neuron's smallest live weights end (``pq_cut``: a weight and how many live synapses of exactly
  that weight go, lower inputs first); it writes one rewire command per neuron with a count to
  the chip (``pq_commands``), which walks the neuron's live synapses once, prunes those the cut
  selects (``cut_prune``) and regrows as many (``regrow``). The ratio and the cut are host-side
  because they need a square root, a division and a power of real numbers, and a sort, over a
  neuron's whole column, once per block of samples: logic the chip would carry for a
  computation that is rare and not on the critical path, while the host already reads the
  weights back between blocks. Everything the chip does is integer: one compare per live
  synapse.

LFSR order (chip side; the same 32-bit stream that rounds the STDP updates, ``model.lfsr``):
each regrowth takes the next state, after the STDP updates that caused it. Fixed density: per
winner, the STDP updates of its live synapses take their states first, then one state per
pruned synapse. PQ: at a block's end, neurons in ascending order, one state per regrown
synapse. A regrowth with state s among the neuron's ``a`` absent inputs (after its pruning)
takes the ``(s * a) >> 32``-th absent input in ascending input order (``regrow_pick``), then
the next regrowth draws among the ``a - 1`` left.
"""

from __future__ import annotations

import math

import numpy as np

POLICIES = ("threshold", "fixed-density", "pq")
# Second word of the initial-mask generator's seed: the mask has its own stream, so the
# initial weights (drawn from ``default_rng(seed)``) are the same under every policy.
MASK_STREAM = 0x5EED


def starts_sparse(policy: str) -> bool:
    """The policy starts from a random sparse mask (else fully connected)."""
    return policy != "threshold"


def prunes_per_sample(policy: str) -> bool:
    """A winner's learning update prunes the weights below ``prune_threshold`` (chip side);
    under "pq" pruning waits for the end of a block."""
    return policy != "pq"


def live_per_neuron(n_inputs: int, density: float) -> int:
    """Live synapses per neuron of a sparse start: ``round(density * n_inputs)``, at least 1."""
    return max(1, round(density * n_inputs))


def initial_mask(n_inputs: int, n_neurons: int, density: float, seed: int) -> np.ndarray:
    """Host side, at initialisation: the connection mask (n_inputs, n_neurons) with
    ``live_per_neuron`` live inputs in every column, chosen uniformly at random by
    ``numpy.random.default_rng((seed, MASK_STREAM))``."""
    count = live_per_neuron(n_inputs, density)
    rng = np.random.default_rng((seed, MASK_STREAM))
    chosen = np.argsort(rng.random((n_neurons, n_inputs)), axis=1, kind="stable")[:, :count]
    mask = np.zeros((n_inputs, n_neurons), dtype=bool)
    mask[chosen, np.arange(n_neurons)[:, None]] = True
    return mask


def regrow_pick(state: int, n_absent: int) -> int:
    """Chip side: which of ``n_absent`` absent inputs (0-based, ascending input order) the LFSR
    state ``state`` (32 bits) regrows: ``(state * n_absent) >> 32``, a multiply and a shift."""
    if n_absent < 1:
        raise ValueError("regrow_pick needs at least one absent input")
    return (int(state) * n_absent) >> 32


def regrow(live: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Chip side: the inputs regrown in one neuron's column ``live`` (bool per input, after its
    pruning), one per LFSR state in order; each draw (``regrow_pick``) is among the inputs still
    absent at that point. Returns the regrown inputs in the order grown; ``live`` is not
    changed."""
    col = np.asarray(live, dtype=bool).copy()
    grown = np.empty(len(states), dtype=np.int64)
    for u, s in enumerate(states):
        absent = np.flatnonzero(~col)
        i = int(absent[regrow_pick(int(s), len(absent))])
        col[i] = True
        grown[u] = i
    return grown


def pq_cut(weights: np.ndarray, live: np.ndarray, count: int) -> tuple[int, int]:
    """Host side: the cut that selects the ``count`` live inputs of one neuron with the smallest
    weights, the lower input first among equal weights: ``(cut, n_equal)`` such that
    ``cut_prune`` takes every live weight below ``cut`` and the first ``n_equal`` live weights
    equal to it in ascending input order. ``count`` beyond the live synapses takes them all;
    ``count`` 0 is ``(0, 0)`` (nothing is below weight 0)."""
    w = np.sort(np.asarray(weights)[np.asarray(live, dtype=bool)], kind="stable")
    count = min(int(count), len(w))
    if count == 0:
        return 0, 0
    cut = int(w[count - 1])
    return cut, count - int((w < cut).sum())


def pq_commands(weights: np.ndarray, mask: np.ndarray, p: float, q: float, eta: float,
                gamma: float, beta: float) -> list[tuple[int, int, int]]:
    """Host side, at a "pq" block's end: the rewire commands ``(neuron, cut, n_equal)``, neurons
    in ascending order, one per neuron with a count (``pq_counts``) above 0, each with the cut
    (``pq_cut``) that selects that many of its smallest live weights."""
    counts = pq_counts(weights, mask, p, q, eta, gamma, beta)
    return [(int(j), *pq_cut(weights[:, j], mask[:, j], int(counts[j])))
            for j in np.flatnonzero(counts)]


def cut_prune(weights: np.ndarray, live: np.ndarray, cut: int, n_equal: int) -> np.ndarray:
    """Chip side: the live inputs of one neuron that a rewire command with ``cut`` and
    ``n_equal`` prunes, in ascending input order: every live weight below ``cut``, and the first
    ``n_equal`` live weights equal to ``cut`` (the order of a walk over the column bitmap)."""
    inputs = np.flatnonzero(live)
    w = np.asarray(weights)[inputs]
    equal = np.flatnonzero(w == cut)[:n_equal]
    below = w < cut
    below[equal] = True
    return inputs[below]


def pq_index(w: np.ndarray, p: float, q: float) -> float:
    """Host side: I(w) = 1 - d^(1/q - 1/p) ||w||_p / ||w||_q over the d live weights ``w``
    (0 < p < q); 0 for weights all equal (incompressible), near 1 for one large weight among
    many zeros. A neuron with no live weight or only zero weights has I = 1 (fully
    compressible)."""
    w = np.abs(np.asarray(w, dtype=np.float64))
    d = len(w)
    norm_q = float(np.sum(w ** q)) ** (1.0 / q)
    if d == 0 or norm_q == 0.0:
        return 1.0
    norm_p = float(np.sum(w ** p)) ** (1.0 / p)
    return 1.0 - d ** (1.0 / q - 1.0 / p) * norm_p / norm_q


def pq_ratio(w: np.ndarray, p: float, q: float, eta: float, gamma: float, beta: float) -> float:
    """Host side: the fraction of one neuron's d live weights ``w`` to prune and regrow,
    r = clamp(gamma (1 - m/d), 0, beta) with the kept-count bound
    m = ceil(d (1 + eta)^(q/(p - q)) (1 - I)^(q p/(q - p))) and I = ``pq_index``; 0 when d = 0."""
    d = len(w)
    if d == 0:
        return 0.0
    index = pq_index(w, p, q)
    m = math.ceil(d * (1.0 + eta) ** (q / (p - q)) * (1.0 - index) ** (q * p / (q - p)))
    return min(max(gamma * (1.0 - m / d), 0.0), beta)


def pq_counts(weights: np.ndarray, mask: np.ndarray, p: float, q: float, eta: float,
              gamma: float, beta: float) -> np.ndarray:
    """Host side, at the end of a block: per neuron, the number of synapses the chip is to prune
    and regrow, floor(r d) with r = ``pq_ratio`` of its d live weights (int64, one per column
    of ``weights``/``mask``)."""
    counts = np.zeros(mask.shape[1], dtype=np.int64)
    for j in range(mask.shape[1]):
        w = weights[mask[:, j], j]
        counts[j] = math.floor(pq_ratio(w, p, q, eta, gamma, beta) * len(w))
    return counts
