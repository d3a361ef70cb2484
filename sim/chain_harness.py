"""The deep chain's simulation harness (``sim/chain_harness.v``): its Verilog, parameters and
the words the bench packs and unpacks.

``chain_top`` is what ``sim.runner`` builds for a ``DeepChain`` of a given configuration and
conv lanes: the chain, the harness rendered for it (the chain's instance with every port
routed, its read data gathered, the per-layer logs), its parameters and the test module
``sim.tb_chain``. The knobs of every layer and ``learn_layer`` travel in one ``regs`` word
(``regs_layout``); what the cores report between samples (every conv and pool core's counters,
the conv cores' LFSRs and error flags, the classifier's error flags and ``pred_label``) in one
``status`` word (``status_layout``). Host-script entries carry the target layer
(``sim.harness.HarnessDriver``, ``TARGET_W``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amaranth.hdl import Shape, UnusedElaboratable
from amaranth.lib import data

from ..hw.conv_core import ConvCore
from ..hw.conv_pool import PoolCore
from ..hw.deep_chain import CONV_KNOBS, DeepChain
from ..model.deep_config import DeepConfig
from .harness import HOST_CHUNK
from .top import Top, render_harness

SOURCE = Path(__file__).with_name("chain_harness.v")
MODULE = "deep_chain"
COUNTER_BITS = 32
# a conv layer's knobs in the ``regs`` word: its ports but the LFSR write (the bench never
# writes the LFSR: a conv core starts from its seed at reset, as the model's layer does)
CONV_REGS = (*(k for k in CONV_KNOBS if not k.startswith("lfsr")), "inhibit_learn",
             "inhibit_infer")
HOST_INPUTS = ("region", "lane", "addr", "wdata")


def _width(shape: Any) -> int:
    return Shape.cast(shape).width


def classifier_index(chain: DeepChain) -> int:
    return len(chain.config.layers) - 1


def _control(chain: DeepChain, n: int) -> dict[str, Any]:
    return dict(chain.signature.members[f"layer{n}"].signature.members)


def regs_layout(chain: DeepChain) -> data.StructLayout:
    """``learn_layer``, each conv layer n's knobs as ``l{n}_{knob}`` (fields of width zero
    left out) and the classifier's registers as one field ``clf``
    (``hw.deep_chain.classifier_regs_layout``)."""
    fields: dict[str, Any] = {"learn_layer": chain.signature.members["learn_layer"].shape}
    for n in chain.geometries:
        ctl = _control(chain, n)
        fields.update({f"l{n}_{k}": ctl[k].shape for k in CONV_REGS if _width(ctl[k].shape)})
    fields["clf"] = _control(chain, classifier_index(chain))["regs"].shape
    return data.StructLayout(fields)


def status_layout(chain: DeepChain) -> data.StructLayout:
    """``pred_label``; each conv layer n's ``counters{n}``, ``lfsr{n}``, ``error{n}``; each
    pool layer n's ``counters{n}``; the classifier's ``error{L}``."""
    fields: dict[str, Any] = {"pred_label": chain.signature.members["pred_label"].shape}
    for n, core in enumerate(chain.cores):
        ctl = _control(chain, n)
        names = (("counters", "lfsr", "error") if isinstance(core, ConvCore)
                 else ("counters",) if isinstance(core, PoolCore) else ("error",))
        fields.update({f"{name}{n}": ctl[name].shape for name in names})
    return data.StructLayout(fields)


def tap_layouts(chain: DeepChain) -> dict[tuple[str, int], data.StructLayout]:
    """The per-layer words the harness logs, by (name, layer): every layer's ``events``
    (``monitor_layout``), each conv layer's ``probe`` and ``winner``, the classifier's
    ``probe``."""
    out = {}
    for n, core in enumerate(chain.cores):
        ctl = _control(chain, n)
        names = ("events", "probe", "winner") if isinstance(core, ConvCore) else (
            ("events",) if isinstance(core, PoolCore) else ("events", "probe"))
        out.update({(name, n): data.Layout.cast(ctl[name].shape) for name in names})
    return out


def _host_widths(chain: DeepChain) -> dict[str, int]:
    """The widest of every layer's host-port fields (the harness's host script fields)."""
    widths = dict.fromkeys(HOST_INPUTS, 1)
    for n, core in enumerate(chain.cores):
        if isinstance(core, PoolCore):
            continue
        host = _control(chain, n)["host"].signature.members
        for name in HOST_INPUTS:
            widths[name] = max(widths[name], _width(host[name].shape))
    return widths


def _event_layouts(chain: DeepChain) -> tuple[data.Layout, data.Layout]:
    members = chain.signature.members
    return (data.Layout.cast(members["events_in"].signature.members["payload"].shape),
            data.Layout.cast(members["events_out"].signature.members["payload"].shape))


def parameters(chain: DeepChain) -> dict[str, int]:
    """Verilog parameters of the harness around ``chain``."""
    ev_in, ev_out = _event_layouts(chain)
    host = _host_widths(chain)
    c, h, w = chain.config.shapes()[0]
    return {
        "EVENT_W": ev_in.size, "OUT_W": ev_out.size, "REGS_W": regs_layout(chain).size,
        "STATUS_W": status_layout(chain).size,
        "TARGET_W": max(1, (len(chain.cores) - 1).bit_length()),
        "LANE_W": host["lane"], "ADDR_W": host["addr"], "DATA_W": host["wdata"],
        "CLASSIFIER": classifier_index(chain),
        "END_BIT": dict(ev_out)["kind"].offset,
        "MAX_BEATS": c * h * w + 1, "MAX_HOST": HOST_CHUNK,
    }


def _port_expr(chain: DeepChain, path: tuple[str, ...], width: int) -> str | None:
    """The harness expression a port of the chain connects to (None: left open)."""
    regs, status = dict(regs_layout(chain)), dict(status_layout(chain))
    top = path[0]
    if top in ("events_in", "events_out"):
        return f"{'in' if top == 'events_in' else 'out'}_{path[1]}"
    if top == "idle":
        return "core_idle"
    if top == "learn_layer":
        f = regs["learn_layer"]
        return f"regs[{f.offset} +: {f.width}]"
    if top == "pred_label":
        f = status["pred_label"]
        return f"status[{f.offset} +: {f.width}]"
    n = int(top.removeprefix("layer"))
    name = path[1]
    if name == "host":
        field = path[2]
        if field in HOST_INPUTS:
            return f"h_{field}[{width - 1}:0]"
        if field in ("we", "re"):
            return f"h_{field} && h_target == {n}"
        if field == "ready":  # the classifier's
            return "c_ready"
        return f"r{n}_{field}[{width - 1}:0]" if field == "rdata" else f"r{n}_{field}"
    if name == "regs":
        f = regs["clf"]
        return f"regs[{f.offset} +: {f.width}]"
    if f"l{n}_{name}" in regs:
        f = regs[f"l{n}_{name}"]
        return f"regs[{f.offset} +: {f.width}]"
    if name in ("lfsr_write", "lfsr_data"):
        return f"{width}'d0"
    if f"{name}{n}" in status:
        f = status[f"{name}{n}"]
        return f"status[{f.offset} +: {f.width}]"
    if name in ("events", "probe", "winner"):
        return f"t_{name}{n}"
    return None  # idle


def render(chain: DeepChain) -> str:
    """``sim/chain_harness.v`` for ``chain`` (see the module docstring)."""
    ports, wires = [".clk(clk)", ".rst(rst)"], []
    for path, member, _ in chain.signature.flatten(chain):
        width = _width(member.shape)
        if not width:  # a port of width zero is not in the netlist
            continue
        expr = _port_expr(chain, path, width)
        if expr is not None:
            ports.append(f".{'__'.join(map(str, path))}({expr})")
    taps = []
    for (kind, n), layout in tap_layouts(chain).items():
        name = f"{kind}{n}"
        wires.append(f"    wire [{layout.size - 1}:0] t_{name};")
        f = dict(layout)
        if kind == "events" and n == classifier_index(chain):
            continue  # the top's beats: the sample player's "O" lines, logged before its flush
        if kind == "events":
            p = f["payload"]
            taps.append(f"            if (t_{name}[{f['valid'].offset}] && "
                        f"t_{name}[{f['ready'].offset}])\n"
                        f"                $fwrite(log_fd, \"E{n} %h\\n\", "
                        f"t_{name}[{p.offset} +: {p.width}]);")
        elif kind == "winner":
            taps.append(f"            if (t_{name}[{f['valid'].offset}])\n"
                        f"                $fwrite(log_fd, \"W{n} %h\\n\", t_{name});")
        else:
            valid = " || ".join(f"t_{name}[{f[v].offset}]"
                                for v in ("valid", "sweep_valid", "learn_valid") if v in f)
            taps.append(f"            if ({valid})\n"
                        f"                $fwrite(log_fd, \"P{n} %b\\n\", t_{name});")
    # each host port's read data, zero-extended; one port has reads in flight at a time
    hosts = [n for n, core in enumerate(chain.cores) if not isinstance(core, PoolCore)]
    wires += ["    wire c_ready;"]
    for n in hosts:
        wires += [f"    wire [DATA_W-1:0] r{n}_rdata;", f"    wire r{n}_rvalid;"]
        width = _width(_control(chain, n)["host"].signature.members["rdata"].shape)
        if width < parameters(chain)["DATA_W"]:
            wires.append(f"    assign r{n}_rdata[DATA_W-1:{width}] = 0;")
    reads = [f"    assign r_rvalid = {' | '.join(f'r{n}_rvalid' for n in hosts)};",
             "    assign r_rdata = " + " | ".join(f"({{DATA_W{{r{n}_rvalid}}}} & r{n}_rdata)"
                                              for n in hosts) + ";"]
    core = ("\n".join(wires) + "\n" + f"    {MODULE} chain (\n        "
            + ",\n        ".join(ports) + "\n    );\n" + "\n".join(reads))
    text = render_harness(SOURCE)
    return text.replace("@CORE@", core).replace("@TAPS@", "\n".join(taps))


def build_chain(config: DeepConfig, conv_lanes: Sequence[int]) -> DeepChain:
    """The chain the harness holds (counters of ``COUNTER_BITS``)."""
    return DeepChain(config=config, conv_lanes=tuple(conv_lanes), counter_bits=COUNTER_BITS)


def describe_chain(config: DeepConfig, conv_lanes: Sequence[int]) -> DeepChain:
    """``build_chain`` as a description, never elaborated: the harness's ports and words and
    the bench's geometries and pooling maps come from it, the netlist from another one
    (``Top.elaborate``). Amaranth warns about an elaboratable that is never elaborated; that
    warning is turned off for the chain's classes, in the processes that describe a chain."""
    warnings.filterwarnings(
        "ignore", category=UnusedElaboratable,
        message=r"<synaprune\.hw\.(deep_chain\.DeepChain|conv_core\.ConvCore|"
                r"conv_pool\.PoolCore|core\.LayerCore|event_adapt\.EventAdapt) object")
    return build_chain(config, conv_lanes)


def chain_top(config: DeepConfig, conv_lanes: Sequence[int]) -> Top:
    """``DeepChain`` of ``config`` with ``conv_lanes`` in its harness, driven by
    ``sim.tb_chain``."""
    args = {"config": config.dumps(), "conv_lanes": list(conv_lanes),
            "counter_bits": COUNTER_BITS}
    chain = describe_chain(config, conv_lanes)
    return Top(module=MODULE, args=args, harness=render(chain), parameters=parameters(chain),
               test_module="synaprune.sim.tb_chain",
               elaborate=lambda: build_chain(config, conv_lanes))

