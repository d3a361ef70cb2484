"""Fixed-point limits derived from a configuration's bit widths, shared by the fully connected
layer's ``Config`` and the deep network's ``DeepConfig`` (both carry ``weight_bits``,
``membrane_bits``, ``stdp_frac_bits`` and ``time_steps``); what ``rules.StdpWidths`` reads."""

from __future__ import annotations


class FixedPointWidths:
    """Mixin of derived widths; the class it is mixed into holds the four fields above."""

    weight_bits: int
    membrane_bits: int
    stdp_frac_bits: int
    time_steps: int

    @property
    def w_max(self) -> int:
        """Largest weight: weights are unsigned ``weight_bits`` integers."""
        return (1 << self.weight_bits) - 1

    @property
    def v_max(self) -> int:
        """Largest membrane value; integration saturates there."""
        return (1 << self.membrane_bits) - 1

    @property
    def stdp_shift(self) -> int:
        """S: right shift that turns a_q * w * (w_max - w) into weight steps."""
        return self.stdp_frac_bits + self.weight_bits

    @property
    def never(self) -> int:
        """Spike time that stands for 'no spike in this sample'."""
        return self.time_steps
