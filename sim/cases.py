"""Case lists shared by the RTL testbenches: a configuration, an initial network and samples.

A case is everything one simulation run needs, saved as one ``.npz`` so the cocotb process (a
separate interpreter) reads exactly what the caller built. ``digits_case`` makes the default run:
the golden model first learns on part of the training set (so weights have moved and pruning is
under way), then the RTL continues learning on further samples and finally infers on test
samples. ``edge_cases`` covers the corners: an empty input, every input at time 0, membrane
saturation, tied candidates, neurons with every synapse pruned, and back-pressure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model.config import Config
from ..model.datasets import load_digits_split
from ..model.encoding import encode
from ..model.network import Network
from ..model.readout import learn_and_label
from .harness import layer_top
from .top import Top


@dataclass
class Case:
    """Configuration, initial state and samples of one RTL run."""

    name: str
    cfg: Config
    weights: np.ndarray
    mask: np.ndarray
    adapt: np.ndarray
    lfsr_state: int
    labels: np.ndarray  # neuron labels loaded into the core (checked on every prediction)
    times: np.ndarray  # (n, n_inputs) spike times, T = never
    learn: np.ndarray  # (n,) bool
    in_gap: float = 0.0  # probability that the input stream idles in a cycle
    out_stall: float = 0.0  # probability that the output stream is not ready in a cycle
    seed: int = 1
    full_check_every: int = 50
    # fault injection, to show that the bench catches a wrong core: (input, neuron, weight)
    # written into the core's weight memory after the initial state check, not into the model
    weight_fault: tuple[int, int, int] | None = None
    notes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not bool(np.any(self.learn)):
            return
        # the sparse policies learn with the regrowth unit (``regrow_unit``)
        try:
            self.cfg.require_regrow_unit()
        except ValueError as err:
            raise ValueError(f"case {self.name}: {err}") from None

    def top(self) -> Top:
        """The layer core for ``cfg`` in its harness (what ``sim.runner`` builds)."""
        return layer_top(self.cfg)

    def network(self) -> Network:
        return Network(self.cfg, weights=self.weights, mask=self.mask, adapt=self.adapt,
                       lfsr_state=self.lfsr_state)

    def head(self, n: int) -> Case:
        """The same case cut after ``n`` samples (to re-run up to a failing sample)."""
        return Case(**{**self.__dict__, "times": self.times[:n], "learn": self.learn[:n]})

    def save(self, path: str | Path) -> None:
        import tomli_w

        np.savez(path, name=self.name, cfg=tomli_w.dumps(self.cfg.to_dict()),
                 weights=self.weights, mask=self.mask, adapt=self.adapt,
                 lfsr_state=self.lfsr_state, labels=self.labels, times=self.times,
                 learn=self.learn, in_gap=self.in_gap, out_stall=self.out_stall, seed=self.seed,
                 full_check_every=self.full_check_every,
                 weight_fault=np.array(self.weight_fault or (), dtype=np.int64))

    @classmethod
    def load(cls, path: str | Path) -> Case:
        import sys

        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        z = np.load(path, allow_pickle=False)
        return cls(name=str(z["name"]), cfg=Config.from_dict(tomllib.loads(str(z["cfg"]))),
                   weights=z["weights"], mask=z["mask"], adapt=z["adapt"],
                   lfsr_state=int(z["lfsr_state"]), labels=z["labels"], times=z["times"],
                   learn=z["learn"], in_gap=float(z["in_gap"]), out_stall=float(z["out_stall"]),
                   seed=int(z["seed"]), full_check_every=int(z["full_check_every"]),
                   weight_fault=tuple(int(v) for v in z["weight_fault"]) or None)

    @classmethod
    def from_network(cls, name: str, net: Network, times: np.ndarray, learn_flags: np.ndarray,
                     labels: np.ndarray | None = None, **kw: object) -> Case:
        cfg = net.cfg
        if labels is None:
            labels = np.arange(cfg.n_neurons) % 10
        return cls(name=name, cfg=cfg, weights=net.weights.copy(), mask=net.mask.copy(),
                   adapt=net.adapt.copy(), lfsr_state=net.lfsr.peek_state(),
                   labels=np.asarray(labels, dtype=np.int64) & 0xF,
                   times=np.asarray(times, dtype=np.int16),
                   learn=np.asarray(learn_flags, dtype=bool), **kw)


def digits_case(cfg: Config, *, pretrain: int, n_learn: int, n_infer: int, seed: int = 1,
                in_gap: float = 0.0, out_stall: float = 0.0, name: str = "digits",
                order: int | None = None) -> Case:
    """Golden model learns ``pretrain`` samples; the RTL then learns ``n_learn`` more and infers
    ``n_infer`` test samples, starting from that state. ``order`` (a seed) shuffles the
    training and test sets first, so that cases with different orders see different samples
    from different states; None keeps the split's order."""
    split = load_digits_split()
    tr, te = encode(split.x_train, cfg), encode(split.x_test, cfg)
    y_tr = split.y_train
    if order is not None:
        rng = np.random.default_rng(order)
        perm = rng.permutation(len(tr))
        tr, y_tr, te = tr[perm], y_tr[perm], te[rng.permutation(len(te))]
    rest = tr[pretrain:pretrain + n_learn]
    if len(rest) < n_learn:
        raise ValueError(f"digits has {len(tr)} training samples, asked for "
                         f"{pretrain} + {n_learn}")
    net = Network(cfg)
    labels, _ = learn_and_label(net, tr[:pretrain], y_tr[:pretrain], epochs=1, seed=seed,
                                progress=False)
    labels = np.where(labels < 0, 0xF, labels)
    times = np.concatenate([rest, te[:n_infer]])
    flags = np.r_[np.ones(len(rest), bool), np.zeros(min(n_infer, len(te)), bool)]
    return Case.from_network(name, net, times, flags, labels, in_gap=in_gap,
                             out_stall=out_stall, seed=seed)


def edge_cases(cfg: Config, seed: int = 7) -> list[Case]:
    """Corner cases on ``cfg`` (each learns then infers on the same inputs)."""
    rng = np.random.default_rng(seed)
    n_in, n, T = cfg.n_inputs, cfg.n_neurons, cfg.time_steps
    never = np.full(n_in, cfg.never, dtype=np.int16)
    random_times = rng.integers(0, T + 1, size=(4, n_in)).astype(np.int16)
    cases = []

    def add(name: str, net: Network, times: list[np.ndarray], **kw: object) -> None:
        arr = np.array(times, dtype=np.int16)
        both = np.concatenate([arr, arr])
        flags = np.r_[np.ones(len(arr), bool), np.zeros(len(arr), bool)]
        cases.append(Case.from_network(name, net, both, flags, seed=seed, **kw))

    add("empty_input", Network(cfg), [never, random_times[0]])
    add("all_at_time_0", Network(cfg), [np.zeros(n_in, np.int16), random_times[1]])
    sat = Network(cfg.replace(threshold=cfg.v_max), weights=np.full((n_in, n), cfg.w_max))
    add("saturation", sat, [np.zeros(n_in, np.int16), random_times[2]])
    tie_w = np.tile(Network(cfg).weights[:, :1], (1, n))  # every neuron the same: all tie
    add("ties", Network(cfg, weights=tie_w), [random_times[0], random_times[1]])
    dead = np.ones((n_in, n), bool)
    dead[:, ::2] = False  # every other neuron has lost all its synapses
    add("all_pruned_neurons", Network(cfg, mask=dead), [random_times[2], random_times[3]])
    add("backpressure", Network(cfg), list(random_times), in_gap=0.4, out_stall=0.5)
    return cases
