"""``MappedChain``: a ``DeepChain`` behind one word-access port, at the addresses of its
``ChainMap`` (``boards.chain_map``).

The link's executor (``boards.chain_link``) reads and writes 32-bit words; this component
holds the chain's runtime registers (``learn_layer``, every conv layer's knobs, the
classifier's registers: reset to the configuration's values, so a fresh board infers as the
configuration says) and turns a word access into a register access, an LFSR load, a counter
or status read, or an access of a core's host port.

``bus`` (the executor drives it; ``bus_signature``): an access is taken in a cycle where
``ready`` is high (the chain is drained, ``DeepChain.idle``, and no access is pending) and
``we`` or ``re`` is set, with ``addr`` and ``wdata``; the component registers it and acts in
the next cycle. A read's word comes back in ``rdata`` with ``rvalid`` for one cycle, 2 cycles
after the strobe for a register, status or counter word, ``HOST_READ_LATENCY`` + 2 for a conv
kernel memory, later for the classifier's memories (its host port's latency). ``check``: for
``addr`` and ``count`` (words), whether a read (``read_ok``) or a write (``write_ok``) of them
stays inside one space that allows it (``ChainMap.check``, in logic). An address outside the
map is not checked again at the strobe: the executor strobes only after the check.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..hw.conv_core import ConvCore
from ..hw.conv_pool import PoolCore
from ..hw.deep_chain import classifier_regs_layout, conv_knob_values
from ..hw.layouts import LABEL_BITS, regs_value
from ..model.deep_config import ConvSpec
from .chain_map import (
    LANE_SHIFT,
    LAYER_SHIFT,
    OFFSET_BITS,
    SPACE_SHIFT,
    WORD_BITS,
    ChainMap,
    Space,
)


def bus_signature() -> wiring.Signature:
    """The word-access port (the executor is ``Out`` of this, ``MappedChain`` ``In``)."""
    return wiring.Signature({
        "addr": Out(WORD_BITS), "wdata": Out(WORD_BITS), "we": Out(1), "re": Out(1),
        "rdata": In(WORD_BITS), "rvalid": In(1), "ready": In(1),
        "count": Out(OFFSET_BITS + 1), "read_ok": In(1), "write_ok": In(1)})


class MappedChain(wiring.Component):
    """The chain of ``chain_map`` (``ChainMap``) with its word port ``bus``, its input event
    stream ``events_in`` and output stream ``events_out`` (``DeepChain``'s), ``pred_label`` (its)
    and ``error`` (the OR of every core's error flags, for a LED)."""

    def __init__(self, *, chain_map: ChainMap) -> None:
        if not isinstance(chain_map, ChainMap):
            raise TypeError(f"chain_map must be a ChainMap, not {type(chain_map).__name__}")
        self.map = chain_map
        chain = chain_map.chain
        members = chain.signature.members
        super().__init__({
            "bus": In(bus_signature()),
            "events_in": members["events_in"],
            "events_out": members["events_out"],
            "pred_label": Out(LABEL_BITS),
            "error": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        chain = self.map.chain
        m.submodules.chain = chain
        wiring.connect(m, wiring.flipped(self.events_in), chain.events_in)
        wiring.connect(m, chain.events_out, wiring.flipped(self.events_out))
        bus = self.bus
        m.d.comb += self.pred_label.eq(chain.pred_label)

        # --- the checks, on the executor's address and count ---
        layer_f = bus.addr[LAYER_SHIFT:]
        code = bus.addr[SPACE_SHIFT:LAYER_SHIFT]
        lane = bus.addr[LANE_SHIFT:SPACE_SHIFT]
        offset = bus.addr[:OFFSET_BITS]
        for s in self.map.spaces:
            with m.If((layer_f == s.layer_field) & (code == s.code) & (lane < s.lanes)
                      & (bus.count != 0) & (offset + bus.count <= s.size)):
                m.d.comb += [bus.read_ok.eq(int(s.read)), bus.write_ok.eq(int(s.write))]

        # --- the access, registered: `sel` has one bit per space ---
        pending, is_write = Signal(), Signal()
        addr = Signal(WORD_BITS)
        wdata = Signal(WORD_BITS)
        m.d.comb += bus.ready.eq(chain.idle & ~pending)
        with m.If((bus.we | bus.re) & bus.ready):
            m.d.sync += [pending.eq(1), is_write.eq(bus.we), addr.eq(bus.addr),
                         wdata.eq(bus.wdata)]
        a_layer, a_code = addr[LAYER_SHIFT:], addr[SPACE_SHIFT:LAYER_SHIFT]
        a_lane, a_off = addr[LANE_SHIFT:SPACE_SHIFT], addr[:OFFSET_BITS]
        acting = Signal()  # the cycle after the strobe
        m.d.sync += acting.eq((bus.we | bus.re) & bus.ready)
        # a read's word: `word_valid` from a register or status word, else a host port's rvalid
        word, word_valid = Signal(WORD_BITS), Signal()
        done = Signal()
        with m.If(done):
            m.d.sync += pending.eq(0)
        m.d.sync += [bus.rdata.eq(word), bus.rvalid.eq(word_valid & ~is_write)]
        # a write is done in the acting cycle: every target takes a write in one cycle
        m.d.comb += done.eq(word_valid | (acting & is_write))

        def at(s: Space) -> Signal:
            hit = Signal(name=f"at_l{s.layer_field}_{s.name}")
            m.d.comb += hit.eq((a_layer == s.layer_field) & (a_code == s.code))
            return hit

        def registers(s: Space, regs: dict[str, Signal], status: dict[str, Signal]) -> None:
            """A register space (``regs``, written and read) or a status space (read)."""
            here = at(s)
            for k, name in enumerate(s.words):
                with m.If(acting & here & (a_off == k)):
                    if name in regs:
                        with m.If(is_write):
                            m.d.sync += regs[name].eq(wdata)
                        m.d.comb += word.eq(regs[name])
                    else:
                        m.d.comb += word.eq(status[name])
            with m.If(acting & here & ~is_write):
                m.d.comb += word_valid.eq(1)

        def counters(s: Space, values: Any) -> None:
            here = at(s)
            with m.If(acting & here & ~is_write):
                m.d.comb += word_valid.eq(1)
                with m.Switch(a_off):
                    for k in range(s.size):
                        with m.Case(k):
                            m.d.comb += word.eq(values[k])

        def conv_host(n: int, host: Any) -> None:
            """Conv layer n's kernel memories: a write in the acting cycle, a read's word when
            the core's ``rvalid`` comes (``HOST_READ_LATENCY`` later)."""
            weight, mask = self.map.space(n, "weight"), self.map.space(n, "mask")
            hit_w, hit_k = at(weight), at(mask)
            m.d.comb += [host.region.eq(Mux(hit_k, mask.region, weight.region)),
                         host.lane.eq(a_lane), host.addr.eq(a_off), host.wdata.eq(wdata)]
            with m.If(acting & (hit_w | hit_k)):
                m.d.comb += [host.we.eq(is_write), host.re.eq(~is_write)]
            with m.If(host.rvalid):
                m.d.comb += [word.eq(host.rdata), word_valid.eq(1)]

        def clf_host(n: int, host: Any) -> None:
            """The classifier's host port: its region is the space code - 8; the strobe in the
            acting cycle (the port is ready: the chain is idle, which includes it), a read's
            word with its ``rvalid``."""
            hit = Signal()
            for s in self.map.spaces:
                if s.layer == n and s.region is not None:
                    with m.If(at(s)):
                        m.d.comb += [hit.eq(1), host.region.eq(s.region)]
            m.d.comb += [host.lane.eq(a_lane), host.addr.eq(a_off), host.wdata.eq(wdata)]
            with m.If(acting & hit):
                m.d.comb += [host.we.eq(is_write), host.re.eq(~is_write)]
            with m.If(host.rvalid):
                m.d.comb += [word.eq(host.rdata), word_valid.eq(1)]

        # --- the chain's own registers ---
        layers = chain.config.layers
        learn_layer = Signal.like(chain.learn_layer, init=len(layers))
        m.d.comb += chain.learn_layer.eq(learn_layer)
        registers(self.map.space(None, "regs"), {"learn_layer": learn_layer}, {})
        registers(self.map.space(None, "status"), {},
                  {"idle": chain.idle, "pred_label": chain.pred_label})

        errors = []
        for n, core in enumerate(chain.cores):
            ctl = getattr(chain, f"layer{n}")
            if isinstance(core, ConvCore):
                spec = layers[n]
                assert isinstance(spec, ConvSpec)
                values = conv_knob_values(spec, chain.geometries[n], 0)
                knobs = {}
                for name in self.map.space(n, "knobs").words:
                    port = getattr(ctl, name)
                    knobs[name] = Signal.like(port, name=f"l{n}_{name}", init=values[name])
                    m.d.comb += port.eq(knobs[name])
                registers(self.map.space(n, "knobs"), knobs, {})
                registers(self.map.space(n, "status"), {},
                          {"error": ctl.error, "idle": core.idle, "lfsr": ctl.lfsr})
                with m.If(acting & at(self.map.space(n, "lfsr_load"))):
                    m.d.comb += [ctl.lfsr_write.eq(1), ctl.lfsr_data.eq(wdata)]
                counters(self.map.space(n, "counters"), ctl.counters)
                conv_host(n, ctl.host)
                errors.append(ctl.error != 0)
            elif isinstance(core, PoolCore):
                counters(self.map.space(n, "counters"), ctl.counters)
            else:
                defaults = regs_value(chain.classifier_config, learn=False)
                regs = {}
                for name, field in classifier_regs_layout(core):
                    regs[name] = Signal(field.shape, name=f"clf_{name}", init=defaults[name])
                    m.d.comb += getattr(ctl.regs, name).eq(regs[name])
                registers(self.map.space(n, "regs"), regs, {})
                registers(self.map.space(n, "status"), {}, {"error": ctl.error})
                clf_host(n, ctl.host)
                errors.append(ctl.error != 0)
        m.d.comb += self.error.eq(Cat(*errors).any())
        return m


__all__ = ["MappedChain", "bus_signature"]
