"""``LinkTop``: UART receiver and transmitter, command unit and ``LayerCore`` in one component.

This is what a board top (``boards.board_top``) instantiates on its UART pins and what
``boards.sim_transport.SimTransport`` simulates; the constructor is a stable interface::

    LinkTop(cfg=cfg, clk_freq=clk_hz, baud=115_200)

Ports: ``rx`` (In(1), the line from the host, idle high), ``tx`` (Out(1), to the host) and
``status`` (Out(LINK_STATUS_LAYOUT): ``busy``, ``error``, ``heartbeat`` for LEDs; bit 0 is
``busy``).

With ``core_domain`` set, the core runs in that clock domain and ``boards.core_bridge.CoreBridge``
carries its ports to the link, which stays in ``sync``; the commands and replies are the same.
"""

from __future__ import annotations

from amaranth import DomainRenamer, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out, connect

from ..hw.core import LayerCore
from ..hw.synthesis import SynthesisHints
from ..model.config import Config
from .command import CommandUnit, check_config
from .core_bridge import CoreBridge
from .protocol import DEFAULT_RUN_TIMEOUT_S, DEFAULT_TIMEOUT_S
from .uart import UartRx, UartTx, baud_divisor

LINK_STATUS_LAYOUT = data.StructLayout({
    "busy": 1,  # a request is being executed or answered
    "error": 1,  # the core's error flags or a sticky link flag (cleared by CLEAR)
    "heartbeat": 1,  # toggles every half second: the clock runs
})


class LinkTop(wiring.Component):
    """The core behind a UART command link (``docs/host_protocol.md``).

    Parameters (keyword-only):

    - ``cfg``: the configuration whose elaboration-time fields build the core; its runtime
      fields are the register values after reset (learn off).
    - ``clk_freq``: the clock of the sync domain, in Hz.
    - ``baud``: the UART bit rate; ``clk_freq / baud`` must be within 2 % of an integer >= 4.
    - ``timeout_s``: inter-byte timeout inside a request frame (default 50 ms); must be at
      least two byte times.
    - ``run_timeout_s``: how long a command waits for the core without progress (default 1 s).
    - ``max_payload``: request payload buffer in bytes (default: room for a RUN with every
      input spiking, see ``protocol.default_max_payload``).
    - ``core_domain``: the clock domain of the core (default None: ``sync``, the link's); the
      domain's clock is the caller's to make.
    - ``synthesis``: the core's synthesis attributes (``hw.synthesis.SynthesisHints``; default
      None: none).
    """

    def __init__(self, *, cfg: Config, clk_freq: float, baud: int,
                 timeout_s: float = DEFAULT_TIMEOUT_S, run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
                 max_payload: int | None = None, core_domain: str | None = None,
                 synthesis: SynthesisHints | None = None) -> None:
        self.cfg = check_config(cfg)
        if core_domain is not None and (not isinstance(core_domain, str)
                                        or core_domain in ("", "sync", "comb")):
            raise ValueError(f"core_domain must be None or a clock domain other than sync, "
                             f"not {core_domain!r}")
        self.core_domain = core_domain
        self.synthesis = synthesis
        self.clk_freq, self.baud = clk_freq, baud
        self.divisor, self.timeout, self.watchdog = uart_link_timing(
            clk_freq=clk_freq, baud=baud, timeout_s=timeout_s, run_timeout_s=run_timeout_s)
        self.max_payload = max_payload
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "status": Out(LINK_STATUS_LAYOUT),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.uart_rx = urx = UartRx(divisor=self.divisor)
        m.submodules.uart_tx = utx = UartTx(divisor=self.divisor)
        m.submodules.unit = unit = CommandUnit(cfg=self.cfg, timeout=self.timeout,
                                               watchdog=self.watchdog,
                                               max_payload=self.max_payload)
        core = LayerCore.from_config(self.cfg, synthesis=self.synthesis)
        if self.core_domain is None:
            m.submodules.core = side = core
            ports = (core.host, core.events_in, core.events_out, core.regs, core.error,
                     core.pred_label)
        else:
            m.submodules.core = DomainRenamer({"sync": self.core_domain})(core)
            m.submodules.bridge = side = CoreBridge(cfg=self.cfg, core_domain=self.core_domain)
            connect(m, side.core_host, core.host)
            connect(m, side.core_to_core, core.events_in)
            connect(m, core.events_out, side.core_from_core)
            m.d.comb += [core.regs.eq(side.core_regs), side.core_error.eq(core.error),
                         side.core_pred_label.eq(core.pred_label)]
            ports = (side.host, side.to_core, side.from_core, side.regs, side.error,
                     side.pred_label)
        host, events_in, events_out, regs, error, pred_label = ports

        connect(m, urx.data, unit.rx)
        connect(m, unit.tx, utx.data)
        connect(m, unit.host, host)
        connect(m, unit.to_core, events_in)
        connect(m, events_out, unit.from_core)
        m.d.comb += [
            urx.rx.eq(self.rx),
            self.tx.eq(utx.tx),
            unit.rx_error.eq(urx.framing_error | urx.overrun),
            regs.eq(unit.regs),
            unit.core_error.eq(error),
            unit.pred_label.eq(pred_label),
        ]

        m.d.comb += [
            self.status.busy.eq(unit.busy),
            self.status.error.eq(unit.link_error | (error != 0)),
            self.status.heartbeat.eq(heartbeat(m, self.clk_freq)),
        ]
        return m


def uart_link_timing(*, clk_freq: float, baud: int, timeout_s: float,
                     run_timeout_s: float) -> tuple[int, int, int]:
    """A UART link's bit divisor, inter-byte timeout and watchdog, in cycles of its clock
    (``clk_freq`` Hz); ``TypeError`` for a value that is not a number (``baud``: not an int),
    ``ValueError`` for a timeout under two byte times or a watchdog under a cycle."""
    for name, value in (("clk_freq", clk_freq), ("baud", baud), ("timeout_s", timeout_s),
                        ("run_timeout_s", run_timeout_s)):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not isinstance(baud, int):
        raise TypeError(f"baud must be an int, not {type(baud).__name__}")
    divisor = baud_divisor(clk_freq, baud)
    timeout = round(timeout_s * clk_freq)
    if timeout < 20 * divisor:
        raise ValueError(f"timeout_s = {timeout_s} is shorter than two byte times at {baud} baud")
    watchdog = round(run_timeout_s * clk_freq)
    if watchdog < 1:
        raise ValueError(f"run_timeout_s = {run_timeout_s} is less than one clock cycle")
    return divisor, timeout, watchdog


def heartbeat(m: Module, clk_freq: float) -> Signal:
    """A signal that toggles every half second of ``clk_freq`` (a LED that shows the clock
    runs)."""
    half_second = max(1, round(clk_freq / 2))
    beat = Signal(range(half_second))
    out = Signal()
    with m.If(beat == half_second - 1):
        m.d.sync += [beat.eq(0), out.eq(~out)]
    with m.Else():
        m.d.sync += beat.eq(beat + 1)
    return out
