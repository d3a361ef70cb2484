"""The golden model against the independent Brian2 reference (``synaprune crosscheck``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from synaprune.cli import main
from synaprune.fc_crosscheck import Report, crosscheck
from synaprune.model.config import Config
from synaprune.model.datasets import load_digits_split
from synaprune.model.encoding import encode
from synaprune.model.network import Network

N_SAMPLES = 30
# Leaky, two winners per sample, later spikes than the default threshold gives.
LEAKY_K2 = {"threshold": 1800, "leak_shift": 3, "k_max": 2, "k_winners": 2}
# Strong depression and a high prune threshold: synapses are pruned within the first samples.
PRUNING = {"threshold": 1500, "leak_shift": 3, "k_max": 2, "k_winners": 2, "a_minus": -6000,
           "prune_threshold": 80}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return load_digits_split().x_train[:N_SAMPLES]


def _check(cfg: Config, images: np.ndarray,
           **kwargs: Any) -> tuple[Report, np.ndarray, Network]:
    golden = Network(cfg)
    w0 = golden.weights.copy()
    report = crosscheck(cfg, encode(images, cfg), golden=golden, **kwargs)
    return report, w0, golden


def test_leaky_two_winners_identical(images: np.ndarray) -> None:
    cfg = Config().replace(**LEAKY_K2)
    report, w0, golden = _check(cfg, images)
    assert report.ok, str(report.first)
    assert report.samples == N_SAMPLES
    assert report.spikes_compared == N_SAMPLES * cfg.n_neurons
    assert report.winners > N_SAMPLES  # some samples had two winners
    assert report.synapse_updates > 0 and (golden.weights != w0).any()  # it learned
    assert report.weights_compared == N_SAMPLES * cfg.n_inputs * cfg.n_neurons


def test_pruning_identical(images: np.ndarray) -> None:
    cfg = Config().replace(**PRUNING)
    report, w0, golden = _check(cfg, images)
    assert report.ok, str(report.first)
    assert report.pruned > 0 and golden.live == cfg.n_inputs * cfg.n_neurons - report.pruned
    assert report.synapse_updates > 0 and (golden.weights != w0).any()


def test_corrupted_golden_weight_is_caught(images: np.ndarray) -> None:
    cfg = Config().replace(**PRUNING)
    bad_sample, i, j = 5, 10, 3

    def corrupt(k: int, net: Network) -> None:
        if k == bad_sample:
            net.weights[i, j] = (net.weights[i, j] + 1) % (cfg.w_max + 1)

    report, _, _ = _check(cfg, images[:10], golden_hook=corrupt)
    assert not report.ok and report.differences >= 1
    assert report.first is not None and report.first.sample == bad_sample
    assert report.samples == bad_sample + 1  # the check stopped at the differing sample
    assert any(d.what == "weight" and d.where == f"synapse ({i}, {j})" for d in report.found)


def test_cli_reports_zero_differences(capsys: pytest.CaptureFixture[str]) -> None:
    sets = [arg for key, value in LEAKY_K2.items() for arg in ("--set", f"{key}={value}")]
    assert main(["crosscheck", "--samples", "5", *sets]) == 0
    out = capsys.readouterr().out
    assert "samples compared    5" in out and "differences         0" in out


# Every rewiring policy on a small case: the golden model and the Brian2 reference regrow the
# same synapses (and "pq" rewires at the same block ends), so nothing differs.
@pytest.mark.parametrize(("policy", "changes"), [
    ("fixed-density", {"rewire_density": 0.1}),
    ("fixed-density", {"rewire_density": 0.3, "regrow_weight": 90}),
    ("pq", {"rewire_block": 3, "pq_beta": 0.4}),
    ("pq", {"rewire_block": 7, "rewire_density": 0.3, "pq_gamma": 2.0, "pq_beta": 0.5}),
])
def test_rewiring_policy_identical(policy: str, changes: dict[str, Any],
                                   images: np.ndarray) -> None:
    cfg = Config().replace(threshold=300, a_minus=-6000, prune_threshold=80,
                           rewire_policy=policy, **changes)
    report, _, golden = _check(cfg, images)
    assert report.ok, str(report.first)
    assert report.samples == N_SAMPLES
    assert report.regrown > 0 and report.regrown == report.pruned
    assert golden.live == (golden.mask.sum(0)[0]) * cfg.n_neurons  # every neuron kept its count


def test_cli_policy_reports_zero_differences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crosscheck", "--samples", "8", "--set", "rewire_policy=fixed-density",
                 "--set", "threshold=300", "--set", "prune_threshold=80", "--set",
                 "a_minus=-6000"]) == 0
    out = capsys.readouterr().out
    assert "rewire_policy=fixed-density" in out and "differences         0" in out
    assert "synapses regrown" in out


def test_cli_sparse_policy_gets_its_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    # the digits preset's threshold is 7000: a sparse start at density 0.1 would never fire, so
    # the command takes the experiment's threshold for that density, and says so
    assert main(["crosscheck", "--samples", "8", "--set", "rewire_policy=pq"]) == 0
    out = capsys.readouterr().out
    assert "neuron threshold 1400" in out and "differences         0" in out
    updates = int(out.split("STDP updates")[1].split()[0])
    assert updates > 0
    assert main(["crosscheck", "--samples", "8", "--set", "rewire_policy=pq",
                 "--set", "threshold=900"]) == 0
    assert "neuron threshold" not in capsys.readouterr().out
