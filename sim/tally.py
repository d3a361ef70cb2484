"""What a cocotb testbench compared over one case, and the part of its summary every bench
writes the same way (``sim.tb_layer``, ``sim.tb_conv``; each adds its own counts)."""

from __future__ import annotations

import json
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

    def finish(self, summary_path: str | None, *, mismatch: dict[str, Any] | None,
               sim_cycles: int, wall: float, sim_s: float, golden_s: float,
               **fields: Any) -> None:
        """Write the case's summary (``fields`` first, then the common ones: ``summary``,
        the first mismatch, simulator speed, where the wall time went) to ``summary_path``;
        fail the cocotb test on a mismatch."""
        summary = {
            **fields, **self.summary(),
            "mismatches": 0 if mismatch is None else 1, "first_mismatch": mismatch,
            "sim_cycles": sim_cycles, "wall_s": wall,
            "sim_cycles_per_s": sim_cycles / wall if wall else 0.0,
            # where the wall time went: the HDL simulator running the harness's players, the
            # golden model, and the testbench's own Python (scripts, decoding, comparisons)
            "time_split_s": {"simulator": sim_s, "golden_model": golden_s,
                             "testbench": wall - sim_s - golden_s},
        }
        if summary_path:
            with open(summary_path, "w") as f:
                json.dump(summary, f)
        assert mismatch is None, f"RTL differs from the golden model: {mismatch}"


def mismatch_record(where: dict[str, Any]) -> dict[str, Any]:
    """A ``MismatchError``'s place and values as JSON-ready fields (``repr`` of the rest)."""
    return {k: (v if isinstance(v, (int, str, type(None))) else repr(v)) for k, v in where.items()}


def counter_increments(word: int, before: dict[Any, int], bits: int
                       ) -> tuple[dict[Any, int], dict[Any, int]]:
    """A core's ``counters`` port (``hw.counters.counters_layout``: counter c at bits
    c * ``bits``) read as ``word``: each counter's increment since ``before`` (the values at
    the last read, by counter kind; they wrap at ``bits``) and the values now."""
    now = {c: (word >> (int(c) * bits)) & ((1 << bits) - 1) for c in before}
    return {c: (now[c] - before[c]) % (1 << bits) for c in before}, now
