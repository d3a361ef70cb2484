"""Exact cycle model of ``hw.conv_pool.PoolCore`` (first-spike pooling, ``model.pooling``).

It reads only structural facts of the golden model's sample: the input spike times and the
pooled spike times (``pooling.first_spike_pool``). Per sample, with the output always ready
(``docs/conv_core.md``, pooling):

- take    input beats: n_events + 1 (the END);
- decide  per input event ``DECIDE`` (events in no window too);
- send    output beats: pooled spikes + 1 (the END);
- clear   one per pooled neuron (the fired bits);
- stall   0 (cycles the output is offered and not taken).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# decode ROM read and register (2), fired-bit read and register (2), the decision (1)
DECIDE = 5


@dataclass(frozen=True)
class PoolSampleCycles:
    """One sample of the pooling core: cycles per phase (``total`` their sum), the input
    events taken and the pooled spikes sent."""

    take: int
    decide: int
    send: int
    clear: int
    events: int
    spikes: int

    @property
    def total(self) -> int:
        return self.take + self.decide + self.send + self.clear


def sample_cycles(in_times: np.ndarray, pooled: np.ndarray, time_steps: int
                  ) -> PoolSampleCycles:
    """Exact counts of one sample: input spike times (C, H, W) and the pooled spike times
    (C, H', W') the golden model gives (``time_steps`` = none)."""
    events = int((np.asarray(in_times) < time_steps).sum())
    spikes = int((np.asarray(pooled) < time_steps).sum())
    return PoolSampleCycles(take=events + 1, decide=DECIDE * events, send=spikes + 1,
                            clear=int(np.asarray(pooled).size), events=events, spikes=spikes)
