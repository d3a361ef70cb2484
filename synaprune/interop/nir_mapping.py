"""How the core's integer quantities map onto NIR's real-valued ones, both ways (docs/nir.md).

The one place that states the mapping; export and import both use it.

- Weights: NIR weight = core weight / ``weight_scale`` with ``weight_scale = w_max`` (a weight of
  1.0 is the largest the core stores); a pruned synapse is a zero.
- Thresholds: the core fires when ``v >= threshold + adapt[j]`` (integer membrane, in weight
  steps); NIR's IF and LIF fire when ``v > v_threshold``. For an integer ``v``,
  ``v > theta - 0.5`` is ``v >= theta``, so ``v_threshold = (theta - 0.5) / weight_scale``; on
  import any ``v_threshold`` becomes the integer ``theta = floor(v_threshold * scale) + 1``.
- Leak: the core's ``v -= v >> leak_shift`` per time step (``dt`` = one step) is NIR's LIF with
  ``tau = r = 2**leak_shift`` and ``v_leak = 0`` (Euler: ``v += (-v + r * I) / tau``), exact up
  to the core's floor; ``leak_shift = 0`` (no leak) is NIR's IF with ``r = 1``.
"""

from __future__ import annotations

import math

import numpy as np

from ..model.config import Config
from ..model.deep_config import DeepConfig

FORMAT = "synaprune-nir/1"
METADATA_KEY = "synaprune"
THRESHOLD_OFFSET = 0.5
# floor() of a threshold that should be an integer but came back as 6.999999999
EPS = 1e-6


def weight_scale(cfg: Config | DeepConfig) -> float:
    """Core weight steps per NIR weight unit (the deep network's layers share one)."""
    return float(cfg.w_max)


def thresholds_to_nir(theta: np.ndarray, scale: float) -> np.ndarray:
    """NIR ``v_threshold`` of the integer firing thresholds ``theta`` (threshold + adapt)."""
    return (np.asarray(theta, dtype=np.float64) - THRESHOLD_OFFSET) / scale


def thresholds_from_nir(v_threshold: np.ndarray, scale: float) -> np.ndarray:
    """The integer thresholds ``theta`` (fire when ``v >= theta``) of NIR's ``v > v_threshold``
    for an integer membrane in weight steps."""
    return np.floor(np.asarray(v_threshold, dtype=np.float64) * scale + EPS).astype(np.int64) + 1


def leak_tau(leak_shift: int) -> float:
    """NIR LIF time constant (in time steps) of the core's leak shift (> 0)."""
    return float(1 << leak_shift)


def leak_shift_of(tau: float) -> int | None:
    """The leak shift whose ``2**shift`` is ``tau``, or None when ``tau`` is no power of two
    >= 2."""
    if tau < 2 or not math.isfinite(tau):
        return None
    shift = round(math.log2(tau))
    return shift if math.isclose(2.0 ** shift, tau, rel_tol=1e-9) else None
