"""Datapaths of the three hardware rules; each matches one function of model.rules.

- ``NeuronUpdate``: ``rules.leak``, ``rules.homeo_decay`` and ``rules.margin`` for one neuron
  (pipelined, ``NeuronUpdate.LATENCY`` cycles).
- ``StdpUnit``: ``rules.stdp_delta`` for one synapse (pipelined, ``StdpUnit.LATENCY`` cycles).
- ``PruneUnit``: ``rules.prune_decision`` for one synapse; kept separate so that its share of the
  design's area and power can be measured on its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def _check_width(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, not {value}")
    return value


class NeuronUpdate(wiring.Component):
    """One neuron at the end of a time step: leak, optional adaptation decay, margin.

    ``v_out = v - (v >> leak_shift)`` (no leak when 0), ``adapt_out = adapt - (adapt >> decay)``
    when ``decay_en`` and ``decay`` != 0, ``margin = v_out - (threshold + adapt_out)``.

    Pipelined: the outputs are those of the ``v`` and ``adapt`` presented ``latency`` enabled
    clock edges earlier. The knobs ``threshold``, ``leak_shift``, ``decay_en`` and
    ``decay_shift`` must hold their values from ``knob_setup`` cycles before the inputs are
    presented until the outputs are out. ``en`` low freezes every stage (the caller's stall).
    Stages: leak and decay; margin (``latency`` 2, ``knob_setup`` 0). ``die_wide`` (a core
    spread over a large die): the knobs, which come from one register file to every lane's
    unit, are registered inside (a copy next to each unit), and the shifts get a stage of their
    own before the subtractions (``latency`` 3, ``knob_setup`` 1). ``reg_attrs``: synthesis
    attributes of every register here (``hw.synthesis``: ``keep``, so that Yosys does not merge
    the lanes' knob copies back into one).
    """

    @staticmethod
    def timing(die_wide: bool) -> tuple[int, int]:
        """(``latency``, ``knob_setup``) of a unit built with ``die_wide``."""
        return (3, 1) if die_wide else (2, 0)

    def __init__(self, *, membrane_bits: int, adapt_bits: int, die_wide: bool = False,
                 reg_attrs: Mapping[str, object] | None = None) -> None:
        if not isinstance(die_wide, bool):
            raise TypeError(f"die_wide must be a bool, not {type(die_wide).__name__}")
        self.die_wide = die_wide
        self.reg_attrs = dict(reg_attrs or {})
        self.latency, self.knob_setup = self.timing(die_wide)
        self.membrane_bits = _check_width("membrane_bits", membrane_bits, 2, 32)
        self.adapt_bits = _check_width("adapt_bits", adapt_bits, 1, membrane_bits)
        shift_v = max(1, (membrane_bits - 1).bit_length())
        shift_a = max(1, (adapt_bits - 1).bit_length())
        super().__init__({
            "v": In(membrane_bits), "adapt": In(adapt_bits), "threshold": In(membrane_bits),
            "leak_shift": In(shift_v), "decay_en": In(1), "decay_shift": In(shift_a),
            "en": In(1, init=1),
            "v_out": Out(membrane_bits), "adapt_out": Out(adapt_bits),
            "margin": Out(signed(membrane_bits + 2)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        attrs = self.reg_attrs
        knobs = (self.threshold, self.leak_shift, self.decay_en, self.decay_shift)
        if self.die_wide:
            threshold, leak_shift, decay_en, decay_shift = (
                Signal.like(x, name=f"{x.name}_q", reset_less=True, attrs=attrs) for x in knobs)
            m.d.sync += [threshold.eq(self.threshold), leak_shift.eq(self.leak_shift),
                         decay_en.eq(self.decay_en), decay_shift.eq(self.decay_shift)]
        else:
            threshold, leak_shift, decay_en, decay_shift = knobs
        v_sh, a_sh = self.v >> leak_shift, self.adapt >> decay_shift
        v0, a0 = self.v, self.adapt
        if self.die_wide:  # the shifts in a stage of their own
            v0 = Signal.like(self.v, name="v0", attrs=attrs)
            a0 = Signal.like(self.adapt, name="a0", attrs=attrs)
            v_shq = Signal.like(self.v, name="v_sh", attrs=attrs)
            a_shq = Signal.like(self.adapt, name="a_sh", attrs=attrs)
            with m.If(self.en):
                m.d.sync += [v0.eq(self.v), a0.eq(self.adapt), v_shq.eq(v_sh), a_shq.eq(a_sh)]
            v_sh, a_sh = v_shq, a_shq
        v1 = Signal.like(self.v_out, name="v1", attrs=attrs)
        a1 = Signal.like(self.adapt_out, name="a1", attrs=attrs)
        # the outputs' registers, made here so that they carry the attributes too
        v2 = Signal.like(self.v_out, name="v2", attrs=attrs)
        a2 = Signal.like(self.adapt_out, name="a2", attrs=attrs)
        margin = Signal.like(self.margin, name="margin_q", attrs=attrs)
        with m.If(self.en):
            m.d.sync += [
                v1.eq(Mux(leak_shift == 0, v0, v0 - v_sh)),
                a1.eq(Mux(decay_en & (decay_shift != 0), a0 - a_sh, a0)),
                v2.eq(v1), a2.eq(a1),
                margin.eq(v1 - (threshold + a1)),
            ]
        m.d.comb += [self.v_out.eq(v2), self.adapt_out.eq(a2), self.margin.eq(margin)]
        return m


class StdpUnit(wiring.Component):
    """w_new = clamp(w + ((a * w * (w_max - w) + r) >> S), 0, w_max), a = a_plus if
    t_pre <= t_post else a_minus (``a_minus`` is two's complement in ``frac_bits + 2`` bits).

    Pipelined: ``w_new`` is the result for the inputs presented ``LATENCY`` clock edges earlier
    (one new synapse may enter every cycle). Stages, each ending in a register: rate choice;
    ``w * (w_max - w)`` (one multiplier); ``rate * spread`` (one multiplier); ``+ r``;
    ``>> S``, ``+ w`` and the clamp.
    """

    LATENCY = 5

    def __init__(self, *, weight_bits: int, frac_bits: int, time_bits: int) -> None:
        self.weight_bits = _check_width("weight_bits", weight_bits, 2, 16)
        self.frac_bits = _check_width("frac_bits", frac_bits, 1, 20)
        self.time_bits = _check_width("time_bits", time_bits, 1, 16)
        rate = frac_bits + 2
        super().__init__({
            "w": In(weight_bits), "t_pre": In(time_bits), "t_post": In(time_bits),
            "a_plus": In(rate), "a_minus": In(rate), "rand": In(weight_bits + frac_bits),
            "w_new": Out(weight_bits),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        wb, shift = self.weight_bits, self.weight_bits + self.frac_bits
        w_max = (1 << wb) - 1

        def stage(value: object, name: str) -> Signal:
            """Register ``value`` (its full shape) for the next stage."""
            reg = Signal(Value.cast(value).shape(), name=name)
            m.d.sync += reg.eq(value)
            return reg

        # 1: the rate (the only use of the spike times)
        w1 = stage(self.w, "w1")
        rate1 = stage(Mux(self.t_pre <= self.t_post, self.a_plus, self.a_minus).as_signed(),
                      "rate1")
        rand1 = stage(self.rand, "rand1")
        # 2: w (w_max - w) >= 0; w_max - w is ~w in weight_bits bits (no subtractor)
        spread2 = stage(w1 * ~w1, "spread2")
        w2, rate2, rand2 = stage(w1, "w2"), stage(rate1, "rate2"), stage(rand1, "rand2")
        # 3: signed product
        prod3 = stage(rate2 * spread2, "prod3")  # signed x unsigned: exact
        w3, rand3 = stage(w2, "w3"), stage(rand2, "rand3")
        # 4: stochastic rounding offset
        sum4 = stage(prod3 + rand3, "sum4")
        w4 = stage(w3, "w4")
        # 5: floor shift (arithmetic shift of a signed value), add, clamp
        total = w4 + (sum4 >> shift)  # unsigned + signed widens to a signed sum
        m.d.sync += self.w_new.eq(Mux(total < 0, 0, Mux(total > w_max, w_max, total)))
        return m


class PruneUnit(wiring.Component):
    """pruned = enable and w_new < threshold: the synapse is removed for good."""

    def __init__(self, *, weight_bits: int) -> None:
        self.weight_bits = _check_width("weight_bits", weight_bits, 2, 16)
        super().__init__({"w_new": In(weight_bits), "enable": In(1),
                          "threshold": In(unsigned(weight_bits)), "pruned": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.pruned.eq(self.enable & (self.w_new < self.threshold))
        return m
