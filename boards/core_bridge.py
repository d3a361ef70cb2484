"""``CoreBridge``: the core's ports carried across a clock-domain crossing.

The UART link and command unit need a few MHz; the core wants the fastest clock the part
allows, and the command unit's decoding is deeper than one 10 ns cycle on an ECP5. With the
bridge the link runs in the ``sync`` domain and the core in ``core_domain``, each on its own
clock, and the unit sees the core's ports unchanged:

- events, both ways: an ``AsyncFIFO`` each (a full output FIFO back-pressures the core's EMIT);
  the core's output beats pass a ``SkidBuffer`` in the core's domain first, so that the FIFO's
  write port is fed from registers, not from the core's FSM decode (on the 85F the two sit far
  apart: that path was the core clock's critical one);
- host accesses: one request at a time. A strobe taken while ``host.ready`` is latched with its
  operands, a pulse crosses to the core domain, which strobes the core as soon as the core's
  own ``ready`` allows, waits for ``rvalid`` on a read, holds the read word and pulses back;
  ``host.ready`` is low from the strobe until that pulse arrives, so the latched operands and
  the held word are stable whenever the other domain samples them;
- quasi-static values (``regs`` to the core; ``error``, ``pred_label`` and the core's ready
  back): two-flip-flop synchronizers. They change only while the other side does not look: the
  host writes ``regs`` while the core is idle, and the core sets ``pred_label`` with the END
  event it sends, which reaches the unit later than the synchronized label does.
"""

from __future__ import annotations

from amaranth.hdl import DomainRenamer, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer, PulseSynchronizer
from amaranth.lib.fifo import AsyncFIFO
from amaranth.lib.wiring import In, Out

from ..hw.layouts import LABEL_BITS, event_signature, host_signature, regs_layout
from ..hw.skid_buffer import SkidBuffer
from ..model.config import Config


class CoreBridge(wiring.Component):
    """Link side (domain ``sync``): ``host``, ``to_core``, ``from_core``, ``regs``, ``error``
    and ``pred_label`` as ``LayerCore`` offers them. Core side (``core_domain``): the ports of
    the same names prefixed ``core_``, connected to a ``LayerCore`` there. ``fifo_depth``: the
    event FIFOs' depth (a power of two, >= 2)."""

    def __init__(self, *, cfg: Config, core_domain: str, fifo_depth: int = 4) -> None:
        if not isinstance(core_domain, str) or core_domain in ("", "sync", "comb"):
            raise ValueError(f"core_domain must name a clock domain other than sync, not "
                             f"{core_domain!r}")
        if (not isinstance(fifo_depth, int) or isinstance(fifo_depth, bool) or fifo_depth < 2
                or fifo_depth & (fifo_depth - 1)):
            raise ValueError(f"fifo_depth must be a power of two >= 2, not {fifo_depth!r}")
        self.core_domain, self.fifo_depth = core_domain, fifo_depth
        events, host = event_signature(cfg), host_signature(cfg)
        super().__init__({
            "host": In(host), "to_core": In(events), "from_core": Out(events),
            "regs": In(regs_layout(cfg)), "error": Out(2), "pred_label": Out(LABEL_BITS),
            "core_host": Out(host), "core_to_core": Out(events), "core_from_core": In(events),
            "core_regs": Out(regs_layout(cfg)), "core_error": In(2),
            "core_pred_label": In(LABEL_BITS),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        core = self.core_domain

        # events, through one asynchronous FIFO each way
        def fifo(name: str, src: wiring.PureInterface, dst: wiring.PureInterface,
                 w_domain: str, r_domain: str) -> None:
            f = AsyncFIFO(width=len(src.payload.as_value()), depth=self.fifo_depth,
                          w_domain=w_domain, r_domain=r_domain)
            m.submodules[name] = f
            m.d.comb += [f.w_data.eq(src.payload), f.w_en.eq(src.valid), src.ready.eq(f.w_rdy),
                         dst.payload.eq(f.r_data), dst.valid.eq(f.r_rdy), f.r_en.eq(dst.ready)]

        fifo("events_in", self.to_core, self.core_to_core, "sync", core)
        out_skid = SkidBuffer(layout=self.core_from_core.payload.shape())
        m.submodules.events_out_skid = DomainRenamer(core)(out_skid)
        wiring.connect(m, wiring.flipped(self.core_from_core), out_skid.i)
        fifo("events_out", out_skid.o, self.from_core, core, "sync")

        # quasi-static values
        m.submodules.regs_sync = FFSynchronizer(self.regs.as_value(), self.core_regs.as_value(),
                                                o_domain=core)
        m.submodules.error_sync = FFSynchronizer(self.core_error, self.error)
        m.submodules.label_sync = FFSynchronizer(self.core_pred_label, self.pred_label)

        # host accesses: the request, latched on the link side (stable while pending)
        host, chost = self.host, self.core_host
        pending = Signal()
        is_write = Signal()
        core_ready = Signal()  # the core's ready, registered in its domain (no glitches cross)
        ready_sync = Signal()
        m.d[core] += core_ready.eq(chost.ready)
        m.submodules.ready_sync = FFSynchronizer(core_ready, ready_sync)
        m.d.comb += host.ready.eq(ready_sync & ~pending)
        m.submodules.req = req = PulseSynchronizer("sync", core)
        m.submodules.ack = ack = PulseSynchronizer(core, "sync")
        names = ("addr", "wdata", "region", "lane")
        held = {n: Signal.like(getattr(host, n), name=f"req_{n}") for n in names}
        with m.If((host.we | host.re) & host.ready):
            m.d.comb += req.i.eq(1)
            m.d.sync += [pending.eq(1), is_write.eq(host.we)]
            m.d.sync += [held[n].eq(getattr(host, n)) for n in names]
        m.d.comb += [getattr(chost, n).eq(held[n]) for n in names]

        # the core side: strobe once the core is ready, then (a read) wait for the word
        want, reading = Signal(), Signal()
        word = Signal.like(chost.rdata)
        m.d.comb += [chost.we.eq(want & is_write), chost.re.eq(want & ~is_write)]
        with m.If(req.o):
            m.d[core] += want.eq(1)
        with m.If(want & chost.ready):
            m.d[core] += [want.eq(0), reading.eq(~is_write)]
            m.d.comb += ack.i.eq(is_write)
        with m.If(reading & chost.rvalid):
            m.d[core] += [reading.eq(0), word.eq(chost.rdata)]
            m.d.comb += ack.i.eq(1)

        # back on the link side: the access is done; a read's word comes with rvalid
        m.d.comb += host.rdata.eq(word)
        with m.If(ack.o):
            m.d.sync += pending.eq(0)
            m.d.comb += host.rvalid.eq(~is_write)
        return m
