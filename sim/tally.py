"""What a cocotb testbench compared over one case, and the part of its summary every bench
writes the same way (``sim.tb_layer``, ``sim.tb_conv``; each adds its own counts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Tally:
    """Counts of what was compared, summed over the samples of a case; ``cycles``: each
    sample's cycle counts by phase (with ``total``), as the cycle model gave them."""

    samples: int = 0
    learn_samples: int = 0
    spikes: int = 0
    membranes: int = 0
    updates: int = 0
    weights: int = 0
    cycles: list[dict[str, int]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The summary's common fields (``*_compared``, sample counts, cycles per sample)."""
        totals = [c["total"] for c in self.cycles]
        return {
            "samples": self.samples, "learn_samples": self.learn_samples,
            "infer_samples": self.samples - self.learn_samples,
            "spikes_compared": self.spikes, "membranes_compared": self.membranes,
            "updates_compared": self.updates, "weights_compared": self.weights,
            "cycles_per_sample": float(np.mean(totals)) if totals else 0.0, "cycles": self.cycles,
        }
