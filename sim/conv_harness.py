"""The conv core's simulation harness (``sim/conv_harness.v``): its Verilog, parameters, knobs.

``conv_top`` is what ``sim.runner`` builds for a ``ConvCore`` of a given geometry: the core,
the harness rendered for it (the core's instance is generated),
the harness's parameters and the test module ``sim.tb_conv``. The knobs (threshold, leak,
inhibition, learning registers) travel in one ``regs`` word, ``regs_layout``; the host-script
entries are the layer harness's (``sim.harness.HarnessDriver``), with the region in the low
bit of its 3-bit field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from amaranth.hdl import Shape
from amaranth.lib import data

from ..hw.conv_core import ConvCounter, conv_core_signature
from ..model.conv_cycles import ConvGeometry
from .harness import HOST_CHUNK
from .top import Top, render_harness

SOURCE = Path(__file__).with_name("conv_harness.v")
MODULE = "conv_core"
# the core's inputs that the host's registers hold between samples, in the ``regs`` word
KNOBS = ("threshold", "leak_shift", "inhibit", "learn", "k_winners", "radius", "a_plus",
         "a_minus", "prune_enable", "prune_threshold")
COUNTER_BITS = 32


def _width(shape: Any) -> int:
    return Shape.cast(shape).width


def _members(geom: ConvGeometry) -> dict[str, Any]:
    return dict(conv_core_signature(geom, COUNTER_BITS).members)


def regs_layout(geom: ConvGeometry) -> data.StructLayout:
    """The knobs packed in the harness's ``regs`` input (fields of width zero left out)."""
    members = _members(geom)
    return data.StructLayout({name: _width(members[name].shape) for name in KNOBS
                              if _width(members[name].shape)})


def layouts(geom: ConvGeometry) -> dict[str, data.Layout]:
    """The layouts of the core's event, probe and winner words."""
    members = _members(geom)
    return {"event": data.Layout.cast(members["events_in"].signature.members["payload"].shape),
            "probe": data.Layout.cast(members["probe"].shape),
            "winner": data.Layout.cast(members["winner"].shape)}


def _host_widths(geom: ConvGeometry) -> dict[str, int]:
    host = _members(geom)["host"].signature.members
    return {name: _width(host[name].shape) for name in ("lane", "addr", "wdata")}


def parameters(geom: ConvGeometry) -> dict[str, int]:
    """Verilog parameters of the harness around the conv core for ``geom``."""
    lay = layouts(geom)
    host = _host_widths(geom)
    return {
        "EVENT_W": lay["event"].size, "PROBE_W": lay["probe"].size,
        "REGS_W": regs_layout(geom).size, "LANE_W": max(1, host["lane"]),
        "ADDR_W": max(1, host["addr"]), "DATA_W": host["wdata"],
        "WINNER_W": lay["winner"].size, "COUNTERS_W": COUNTER_BITS * len(ConvCounter),
        "PROBE_VALID_BIT": dict(lay["probe"])["valid"].offset,
        "WINNER_VALID_BIT": dict(lay["winner"])["valid"].offset,
        "END_BIT": dict(lay["event"])["kind"].offset,
        "MAX_BEATS": geom.n_inputs + 1, "MAX_HOST": HOST_CHUNK,
        "TARGET_W": 1,  # one core, target 0
    }


def render(geom: ConvGeometry) -> str:
    """``sim/conv_harness.v`` for ``geom``: the core's instance (knobs sliced from ``regs``;
    host fields of width zero, which the netlist does not have, left out)."""
    regs = regs_layout(geom)
    host = _host_widths(geom)
    ports = [".clk(clk)", ".rst(rst)",
             ".events_in__payload(in_payload)", ".events_in__valid(in_valid)",
             ".events_in__ready(in_ready)", ".events_out__payload(out_payload)",
             ".events_out__valid(out_valid)", ".events_out__ready(out_ready)",
             ".host__region(h_region[0])", ".host__wdata(h_wdata)", ".host__we(h_we)",
             ".host__re(h_re)", ".host__rdata(r_rdata)", ".host__rvalid(r_rvalid)"]
    ports += [f".host__{name}(h_{name})" for name in ("lane", "addr") if host[name]]
    ports += [f".{name}(regs[{f.offset} +: {f.width}])" for name, f in regs]
    ports += [".lfsr_write(1'b0)", ".lfsr_data(32'd0)", ".lfsr(core_lfsr)", ".error(error)",
              ".counters(counters)", ".probe(probe)", ".winner(winner)"]
    core = (f"    {MODULE} core (\n        " + ",\n        ".join(ports) + "\n    );")
    return render_harness(SOURCE).replace("@CORE@", core)


def conv_top(geom: ConvGeometry, lfsr_seed: int) -> Top:
    """``ConvCore`` of ``geom`` (its LFSR seeded with ``lfsr_seed``) in its harness, driven by
    ``sim.tb_conv``."""
    from ..hw.conv_core import ConvCore

    args = {**dataclasses.asdict(geom), "lfsr_seed": lfsr_seed, "counter_bits": COUNTER_BITS}
    return Top(module=MODULE, args=args, harness=render(geom), parameters=parameters(geom),
               test_module="synaprune.sim.tb_conv", elaborate=lambda: ConvCore(**args))
