"""Clock generation for the boards: divider search and PLL primitives for ECP5 and iCE40.

``ecp5_pll_params`` and ``ice40_pll_params`` search the legal divider settings of the part's PLL
for the output frequency nearest to the request and raise ``ValueError`` when no setting comes
within the tolerance. ``Ecp5Pll`` and ``Ice40Pll`` are components that instantiate the primitive
(``EHXPLLL``; ``SB_PLL40_PAD`` or ``SB_PLL40_CORE``) and output the clock they make.

Legal ranges:

* ECP5 ``EHXPLLL`` (Lattice TN1263 and Project Trellis ``ecppll``): input 8..400 MHz,
  phase detector (input / CLKI_DIV) 3.125..400 MHz, VCO 400..800 MHz, output 10..400 MHz,
  CLKI_DIV 1..128, CLKFB_DIV 1..80, CLKOP_DIV 1..128, feedback from CLKOP so
  f_out = f_in * CLKFB_DIV / CLKI_DIV and f_vco = f_out * CLKOP_DIV.
* iCE40 ``SB_PLL40_*`` (Lattice iCE40 sysCLOCK PLL guide and IceStorm ``icepll``), SIMPLE
  feedback: input 10..133 MHz, phase detector (input / (DIVR+1)) 10..133 MHz, VCO
  (f_pfd * (DIVF+1)) 533..1066 MHz, output (f_vco / 2**DIVQ) 16..275 MHz, DIVR 0..15,
  DIVF 0..127, DIVQ 1..6.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Const, Instance, Module
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

# ECP5 EHXPLLL limits, MHz.
ECP5_IN_MHZ = (8.0, 400.0)
ECP5_PFD_MHZ = (3.125, 400.0)
ECP5_VCO_MHZ = (400.0, 800.0)
ECP5_OUT_MHZ = (10.0, 400.0)
ECP5_CLKI_DIV_MAX = 128
ECP5_CLKFB_DIV_MAX = 80
ECP5_CLKOP_DIV_MAX = 128

# iCE40 SB_PLL40 limits, MHz (SIMPLE feedback).
ICE40_IN_MHZ = (10.0, 133.0)
ICE40_PFD_MHZ = (10.0, 133.0)
ICE40_VCO_MHZ = (533.0, 1066.0)
ICE40_OUT_MHZ = (16.0, 275.0)
ICE40_DIVR_MAX = 15
ICE40_DIVF_MAX = 127
ICE40_DIVQ_RANGE = (1, 6)

DEFAULT_TOLERANCE = 0.01  # largest accepted relative error between request and output


@dataclass(frozen=True)
class Ecp5PllParams:
    """Divider settings of an ``EHXPLLL`` with CLKOP feedback, and the frequencies they give."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in_mhz: float
    f_out_mhz: float
    f_vco_mhz: float

    @property
    def clkop_cphase(self) -> int:
        """Coarse phase of CLKOP in VCO cycles: half an output period, as ``ecppll`` emits."""
        return self.clkop_div // 2


@dataclass(frozen=True)
class Ice40PllParams:
    """Divider settings of an ``SB_PLL40_*`` in SIMPLE feedback, and the frequencies they give."""

    divr: int
    divf: int
    divq: int
    f_in_mhz: float
    f_out_mhz: float
    f_vco_mhz: float

    @property
    def filter_range(self) -> int:
        """Loop filter setting for the phase-detector frequency (``icepll``'s table)."""
        f_pfd = self.f_in_mhz / (self.divr + 1)
        for limit, value in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
            if f_pfd < limit:
                return value
        return 6


def _check_request(f_in_mhz: float, f_out_mhz: float, tolerance: float, part: str,
                   in_range: tuple[float, float], out_range: tuple[float, float]) -> None:
    for name, value in (("f_in_mhz", f_in_mhz), ("f_out_mhz", f_out_mhz),
                        ("tolerance", tolerance)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), not {tolerance}")
    if not in_range[0] <= f_in_mhz <= in_range[1]:
        raise ValueError(f"{part} PLL: input {f_in_mhz} MHz is outside "
                         f"{in_range[0]}..{in_range[1]} MHz")
    if not out_range[0] <= f_out_mhz <= out_range[1]:
        raise ValueError(f"{part} PLL: output {f_out_mhz} MHz is outside "
                         f"{out_range[0]}..{out_range[1]} MHz")


def _close_enough(best_err: float, f_out_mhz: float, tolerance: float, part: str,
                  f_in_mhz: float, got: float) -> None:
    if best_err > tolerance * f_out_mhz:
        raise ValueError(f"{part} PLL: no divider setting gives {f_out_mhz} MHz from "
                         f"{f_in_mhz} MHz within {tolerance:.1%} (nearest {got:.4f} MHz)")


def ecp5_pll_params(f_in_mhz: float, f_out_mhz: float, *,
                    tolerance: float = DEFAULT_TOLERANCE) -> Ecp5PllParams:
    """The ``EHXPLLL`` setting whose output is nearest ``f_out_mhz`` (ties: the VCO nearest the
    middle of its range).

    Raises ``ValueError`` if either frequency is outside the PLL's range or the nearest
    output differs from the request by more than ``tolerance`` (relative).
    """
    _check_request(f_in_mhz, f_out_mhz, tolerance, "ECP5", ECP5_IN_MHZ, ECP5_OUT_MHZ)
    best: Ecp5PllParams | None = None
    best_key = (float("inf"), 0.0)
    vco_mid = (ECP5_VCO_MHZ[0] + ECP5_VCO_MHZ[1]) / 2
    for clki_div in range(1, ECP5_CLKI_DIV_MAX + 1):
        f_pfd = f_in_mhz / clki_div
        if f_pfd < ECP5_PFD_MHZ[0]:
            break
        if f_pfd > ECP5_PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, ECP5_CLKFB_DIV_MAX + 1):
            f_out = f_pfd * clkfb_div
            if not ECP5_OUT_MHZ[0] <= f_out <= ECP5_OUT_MHZ[1]:
                continue
            for clkop_div in range(1, ECP5_CLKOP_DIV_MAX + 1):
                f_vco = f_out * clkop_div
                if f_vco > ECP5_VCO_MHZ[1]:
                    break
                if f_vco < ECP5_VCO_MHZ[0]:
                    continue
                key = (abs(f_out - f_out_mhz), abs(f_vco - vco_mid))
                if key < best_key:
                    best_key = key
                    best = Ecp5PllParams(clki_div, clkfb_div, clkop_div, f_in_mhz, f_out, f_vco)
    if best is None:
        raise ValueError(f"ECP5 PLL: no legal setting for {f_in_mhz} -> {f_out_mhz} MHz")
    _close_enough(best_key[0], f_out_mhz, tolerance, "ECP5", f_in_mhz, best.f_out_mhz)
    return best


def ice40_pll_params(f_in_mhz: float, f_out_mhz: float, *,
                     tolerance: float = DEFAULT_TOLERANCE) -> Ice40PllParams:
    """The ``SB_PLL40_*`` SIMPLE-feedback setting whose output is nearest ``f_out_mhz``.

    Raises ``ValueError`` if either frequency is outside the PLL's range or the nearest
    output differs from the request by more than ``tolerance`` (relative).
    """
    _check_request(f_in_mhz, f_out_mhz, tolerance, "iCE40", ICE40_IN_MHZ, ICE40_OUT_MHZ)
    best: Ice40PllParams | None = None
    best_err = float("inf")
    for divr in range(ICE40_DIVR_MAX + 1):
        f_pfd = f_in_mhz / (divr + 1)
        if not ICE40_PFD_MHZ[0] <= f_pfd <= ICE40_PFD_MHZ[1]:
            continue
        for divf in range(ICE40_DIVF_MAX + 1):
            f_vco = f_pfd * (divf + 1)
            if not ICE40_VCO_MHZ[0] <= f_vco <= ICE40_VCO_MHZ[1]:
                continue
            for divq in range(ICE40_DIVQ_RANGE[0], ICE40_DIVQ_RANGE[1] + 1):
                f_out = f_vco / (1 << divq)
                if not ICE40_OUT_MHZ[0] <= f_out <= ICE40_OUT_MHZ[1]:
                    continue
                err = abs(f_out - f_out_mhz)
                if err < best_err:
                    best_err = err
                    best = Ice40PllParams(divr, divf, divq, f_in_mhz, f_out, f_vco)
    if best is None:
        raise ValueError(f"iCE40 PLL: no legal setting for {f_in_mhz} -> {f_out_mhz} MHz")
    _close_enough(best_err, f_out_mhz, tolerance, "iCE40", f_in_mhz, best.f_out_mhz)
    return best


def _mhz_attr(f_mhz: float) -> str:
    return f"{f_mhz:.6f}".rstrip("0").rstrip(".")


class Ecp5Pll(wiring.Component):
    """An ``EHXPLLL`` that makes ``clk_out`` from ``clk_in``.

    ``locked`` is the PLL's lock output; the clock domain and its reset are left to the caller
    (the board top holds its domain in reset until the PLL locks).
    """

    def __init__(self, *, params: Ecp5PllParams) -> None:
        if not isinstance(params, Ecp5PllParams):
            raise TypeError(f"params must be Ecp5PllParams, not {type(params).__name__}")
        self.params = params
        super().__init__({"clk_in": In(1), "clk_out": Out(1), "locked": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self.params
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=_mhz_attr(p.f_in_mhz),
            a_FREQUENCY_PIN_CLKOP=_mhz_attr(p.f_out_mhz),
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.clkop_div,
            p_CLKOP_CPHASE=p.clkop_cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=p.clkfb_div,
            i_RST=Const(0), i_STDBY=Const(0), i_CLKI=self.clk_in,
            o_CLKOP=self.clk_out, i_CLKFB=self.clk_out,
            i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
            i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
            i_ENCLKOP=Const(0), o_LOCK=self.locked,
        )
        return m


class Ice40Pll(wiring.Component):
    """An iCE40 PLL that makes ``clk_out`` (on a global buffer).

    With ``pad`` (a port from ``platform.request(..., dir="-")`` on the PLL's dedicated input
    pin) it is an ``SB_PLL40_PAD`` fed straight from the pin; without, an ``SB_PLL40_CORE`` fed
    from ``clk_in``.
    """

    def __init__(self, *, params: Ice40PllParams, pad: io.PortLike | None = None) -> None:
        if not isinstance(params, Ice40PllParams):
            raise TypeError(f"params must be Ice40PllParams, not {type(params).__name__}")
        if pad is not None and not isinstance(pad, io.PortLike):
            raise TypeError(f"pad must be an io.PortLike or None, not {type(pad).__name__}")
        self.params = params
        self.pad = pad
        super().__init__({"clk_in": In(1), "clk_out": Out(1), "locked": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self.params
        common = dict(
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=p.divr, p_DIVF=p.divf, p_DIVQ=p.divq,
            p_FILTER_RANGE=p.filter_range,
            i_RESETB=Const(1), i_BYPASS=Const(0),
            o_PLLOUTGLOBAL=self.clk_out, o_LOCK=self.locked,
        )
        if self.pad is not None:
            m.submodules.pll = Instance("SB_PLL40_PAD", i_PACKAGEPIN=self.pad.io, **common)
        else:
            m.submodules.pll = Instance("SB_PLL40_CORE", i_REFERENCECLK=self.clk_in, **common)
        return m


__all__ = [
    "DEFAULT_TOLERANCE", "Ecp5Pll", "Ecp5PllParams", "Ice40Pll", "Ice40PllParams",
    "ecp5_pll_params", "ice40_pll_params",
]
