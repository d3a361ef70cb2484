"""The top level of a board: PLL, reset, the UART link with the core, and status LEDs.

``BoardTop`` makes the core clock from the board oscillator through the part's PLL
(``boards.pll``), holds the design in reset until the PLL locks (through reset synchronizers),
and instantiates the link (``boards.link.LinkTop``: UART + command unit + ``LayerCore``) on the
board's FTDI UART pins. The link's ``status`` bits drive the first LEDs; a spare LED shows PLL
lock. When the target clock equals the oscillator the PLL is left out.

On ECP5 with a PLL (``BoardTop.split_clock``) the UART link runs in ``sync`` on the oscillator
and the core in ``core`` on the PLL's clock, behind ``boards.core_bridge.CoreBridge``: the
command unit's decoding then has the oscillator's period, and only the core has to meet the
PLL clock. The core's synchronized reset reaches its thousands of flip-flops through a global
buffer (``DCCA``). On iCE40 (no room for the bridge on the UP5K) everything runs in ``sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import ClockDomain, Const, Instance, Module, Signal, Value
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer

from ..hw.synthesis import SynthesisHints
from ..model.config import Config
from .platforms import BoardSpec, DeviceSpec, board_spec, default_config, device_spec
from .pll import Ecp5Pll, Ice40Pll, ecp5_pll_params, ice40_pll_params

LinkFactory = Callable[..., wiring.Component]
LINK_NAME = "link"  # submodule name of the link (the RTLIL hierarchy is top.link.core...)


@dataclass(frozen=True)
class ClockPlan:
    """How the core clock is made: the PLL settings (None: the oscillator directly) and the
    frequency the core runs at."""

    f_in_mhz: float
    f_out_mhz: float
    pll: Any  # Ecp5PllParams | Ice40PllParams | None

    @property
    def clk_freq_hz(self) -> int:
        return round(self.f_out_mhz * 1e6)


def clock_plan(board: str, target_mhz: float) -> ClockPlan:
    """The PLL setting that makes ``target_mhz`` from ``board``'s oscillator (``ValueError``
    when the part's PLL cannot)."""
    spec = board_spec(board)
    if not isinstance(target_mhz, (int, float)) or isinstance(target_mhz, bool):
        raise TypeError(f"target_mhz must be a number, not {type(target_mhz).__name__}")
    if target_mhz <= 0:
        raise ValueError(f"target_mhz must be > 0, not {target_mhz}")
    if abs(target_mhz - spec.clk_in_mhz) < 1e-9:
        return ClockPlan(spec.clk_in_mhz, spec.clk_in_mhz, None)
    if spec.family == "ecp5":
        params = ecp5_pll_params(spec.clk_in_mhz, target_mhz)
    else:
        params = ice40_pll_params(spec.clk_in_mhz, target_mhz)
    return ClockPlan(spec.clk_in_mhz, params.f_out_mhz, params)


def default_link_factory() -> LinkFactory:
    """``boards.link.LinkTop`` (imported on first use)."""
    from .link import LinkTop

    return LinkTop


class BoardTop(wiring.Component):
    """Board top for ``board`` / ``device`` running ``cfg`` (default: the board's default layer)
    at ``clk_mhz`` (default: the device's target) with the UART at ``baud``.

    ``link_factory(cfg=..., clk_freq=..., baud=..., synthesis=...)`` builds the link component
    (ports ``rx: In(1)``, ``tx: Out(1)``, ``status: Out(n)``), with ``core_domain="core"`` too
    when ``split_clock``; ``synthesis`` is the board family's ``SynthesisHints``; the default
    is ``boards.link.LinkTop``. ``single_clock``: the whole link on the core clock, for a link
    without a clock-domain bridge (``boards.chain_link.ChainLinkTop``).
    """

    def __init__(self, *, board: str, device: str | None = None, cfg: Config | None = None,
                 clk_mhz: float | None = None, baud: int | None = None,
                 link_factory: LinkFactory | None = None, single_clock: bool = False) -> None:
        self.board: BoardSpec = board_spec(board)
        self.single_clock = bool(single_clock)
        self.device: DeviceSpec = device_spec(board, device)
        if cfg is not None and not isinstance(cfg, Config):
            raise TypeError(f"cfg must be a Config or None, not {type(cfg).__name__}")
        self.cfg = (cfg if cfg is not None else default_config(board, device)).validate()
        self.clock = clock_plan(board, self.device.target_mhz if clk_mhz is None else clk_mhz)
        if baud is not None and (not isinstance(baud, int) or isinstance(baud, bool)):
            raise TypeError(f"baud must be an int or None, not {type(baud).__name__}")
        self.baud = self.board.baud if baud is None else baud
        if self.baud <= 0 or self.baud * 4 > self.link_clk_freq_hz:
            raise ValueError(f"baud {self.baud} must be > 0 and at most a quarter of the link "
                             f"clock ({self.link_clk_freq_hz} Hz)")
        if link_factory is not None and not callable(link_factory):
            raise TypeError("link_factory must be callable")
        self.link_factory = link_factory
        super().__init__({})

    @property
    def split_clock(self) -> bool:
        """The link on the oscillator and the core on the PLL's clock (ECP5 with a PLL)."""
        return (self.board.family == "ecp5" and self.clock.pll is not None
                and not self.single_clock)

    @property
    def link_clk_freq_hz(self) -> int:
        """The clock of the UART link (``sync``)."""
        return round(self.clock.f_in_mhz * 1e6) if self.split_clock else self.clock.clk_freq_hz

    def make_link(self) -> wiring.Component:
        """The link component, as the board top instantiates it."""
        factory = self.link_factory or default_link_factory()
        extra = {"core_domain": "core"} if self.split_clock else {}
        return factory(cfg=self.cfg, clk_freq=self.link_clk_freq_hz, baud=self.baud,
                       synthesis=SynthesisHints.for_family(self.board.family), **extra)

    def elaborate(self, platform: Any) -> Module:
        if platform is None:
            raise ValueError("BoardTop needs a platform (boards.platforms.make_platform)")
        m = Module()
        family = self.board.family
        clk = self.clock
        m.domains.sync = cd_sync = ClockDomain("sync")
        # nextpnr derives the core clock's constraint from the PLL's dividers and the board
        # oscillator's constraint (a constraint on this net would not survive synthesis).
        clk_core = Signal(name="clk_core")
        if self.split_clock:
            m.domains.core = cd_core = ClockDomain("core")
            m.d.comb += cd_core.clk.eq(clk_core)
        else:
            m.d.comb += cd_sync.clk.eq(clk_core)
        locked = Signal()

        if clk.pll is None:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(
                platform.default_clk, dir="-"))
            m.d.comb += [clk_core.eq(clk_buf.i), locked.eq(1)]
        elif family == "ecp5":
            m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(
                platform.default_clk, dir="-"))
            m.submodules.pll = pll = Ecp5Pll(params=clk.pll)
            m.d.comb += [pll.clk_in.eq(clk_buf.i), clk_core.eq(pll.clk_out),
                         locked.eq(pll.locked)]
            if self.split_clock:  # the link on the oscillator (else sync is the core clock)
                m.d.comb += cd_sync.clk.eq(clk_buf.i)
        else:
            pad = platform.request(platform.default_clk, dir="-")
            m.submodules.pll = pll = Ice40Pll(params=clk.pll, pad=pad)
            m.d.comb += [clk_core.eq(pll.clk_out), locked.eq(pll.locked)]
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        if self.split_clock:
            # The core's synchronizer drives a domain of its own, whose reset goes through a
            # global buffer to the core's: on fabric routing the reset of flip-flops spread over
            # the 85F arrived up to 9.9 ns after the synchronizer (docs/boards.md).
            m.domains.reset_gen = cd_gen = ClockDomain("reset_gen")
            m.d.comb += cd_gen.clk.eq(clk_core)
            m.submodules.core_reset_sync = ResetSynchronizer(~locked, domain="reset_gen")
            m.submodules.reset_buf = Instance("DCCA", i_CLKI=cd_gen.rst, i_CE=Const(1),
                                              o_CLKO=cd_core.rst)

        m.submodules[LINK_NAME] = link = self.make_link()

        subsignals = [io_.name for io_ in platform.lookup("uart", 0).ios]
        uart = platform.request("uart", 0, dir={name: "-" for name in subsignals})
        m.submodules.uart_rx = uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(uart_rx.i), uart_tx.o.eq(link.tx)]

        status = Value.cast(link.status)
        for i in range(self.board.leds):
            m.submodules[f"led{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            if i < len(status):
                m.d.comb += led.o.eq(status[i])
            elif i == self.board.leds - 1:
                m.d.comb += led.o.eq(locked)
            else:
                m.d.comb += led.o.eq(Const(0))
        return m


__all__ = ["LINK_NAME", "BoardTop", "ClockPlan", "LinkFactory", "clock_plan",
           "default_link_factory"]
