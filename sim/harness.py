"""The simulation harnesses' protocol and the layer core's harness (``sim/harness.v``).

A harness plays host-port scripts and input samples inside the simulator and logs the core's
answers (probe rows and updates, output beats, winners, host read data) to ``trace.log``, so
that the testbench wakes once per script or sample, not once per cycle. This module is the one
place that knows that protocol: ``HarnessDriver`` (what ``sim.tb_layer``, ``sim.tb_conv`` and
``sim.tb_chain`` drive a harness with), and for the layer core ``parameters`` and
``layer_top`` (what ``sim.runner`` builds). The conv core's harness is ``sim.conv_harness``,
the deep chain's ``sim.chain_harness``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from ..hw import layouts
from ..model.config import Config
from .top import Top, render_harness

SOURCE = Path(__file__).with_name("harness.v")
HOST_CHUNK = 8192  # host-script entries per play (the harness's MAX_HOST)
# the region field of a host-script entry (sim/harness_wires.vh REGION_W): the widest region
# enum of the cores the harnesses drive
REGION_BITS = Shape.cast(layouts.HostRegion).width
TRACE = "trace.log"


_UNKNOWN = str.maketrans("xXzZ", "0000")  # per bit: the probe carries unused, unset fields


class LayoutCodec:
    """Words of a ``data.StructLayout`` as plain ints, by the layout's field offsets: the
    testbench packs and unpacks thousands of words per sample, where building Amaranth
    constants would cost more than the simulation."""

    def __init__(self, layout: data.StructLayout) -> None:
        self.size = layout.size
        self.fields = {name: (f.offset, f.width) for name, f in layout}
        self.elems = {name: (f.offset, Shape.cast(f.shape.elem_shape).width, f.shape.length)
                      for name, f in layout if isinstance(f.shape, data.ArrayLayout)}

    def pack(self, **values: int) -> int:
        word = 0
        for name, value in values.items():
            off, width = self.fields[name]
            word |= (int(value) & ((1 << width) - 1)) << off
        return word

    def get(self, word: Any, name: str) -> Any:
        """Field ``name`` of ``word``: an int, or elementwise of an int64 array."""
        off, width = self.fields[name]
        return (word >> off) & ((1 << width) - 1)

    def column(self, bits: np.ndarray, name: str) -> np.ndarray:
        """Field ``name`` of every word of a bit matrix (``bit_matrix``), as int64."""
        off, width = self.fields[name]
        return bits[:, off:off + width].astype(np.int64) @ (np.int64(1) << np.arange(width))

    def element_columns(self, bits: np.ndarray, name: str) -> np.ndarray:
        """The elements of array field ``name`` of every word of a bit matrix: (words, length)."""
        off, width, length = self.elems[name]
        field = bits[:, off:off + width * length].reshape(len(bits), length, width)
        return field.astype(np.int64) @ (np.int64(1) << np.arange(width))


def bit_matrix(lines: Sequence[str], width: int) -> np.ndarray:
    """Binary text lines of ``width`` digits (most significant first; an unknown bit reads as
    0) -> (lines, width) uint8 matrix whose column b is bit b."""
    if not lines:
        return np.zeros((0, width), dtype=np.uint8)
    text = "".join(lines).translate(_UNKNOWN).encode()
    raw = np.frombuffer(text, dtype=np.uint8).reshape(len(lines), width)
    return raw[:, ::-1] - ord("0")


def parameters(cfg: Config) -> dict[str, int]:
    """Verilog parameters of the harness around the core built for ``cfg``."""
    probe = LayoutCodec(layouts.probe_layout(cfg))
    event = LayoutCodec(layouts.event_layout(index_bits=layouts.index_bits(cfg),
                                             time_bits=cfg.time_bits))
    host = {name: Shape.cast(member.shape).width
            for name, member in layouts.host_signature(cfg).members.items()}
    return {
        "EVENT_W": event.size, "PROBE_W": probe.size,
        "REGS_W": layouts.regs_layout(cfg).size,
        "LANE_W": host["lane"], "ADDR_W": host["addr"], "DATA_W": host["wdata"],
        "SWEEP_VALID_BIT": probe.fields["sweep_valid"][0],
        "LEARN_VALID_BIT": probe.fields["learn_valid"][0],
        "END_BIT": event.fields["kind"][0],
        "MAX_BEATS": cfg.n_inputs + 1, "MAX_HOST": HOST_CHUNK,
        "TARGET_W": 1,  # one core, target 0
    }


def layer_top(cfg: Config) -> Top:
    """``LayerCore`` for ``cfg`` in ``sim/harness.v``, driven by ``sim.tb_layer``."""
    from ..hw.core import LayerCore

    return Top(module="layer_core", args=LayerCore.elaboration_args(cfg),
               harness=render_harness(SOURCE), parameters=parameters(cfg),
               test_module="synaprune.sim.tb_layer",
               elaborate=lambda: LayerCore.from_config(cfg))


@dataclass
class SampleLog:
    """What the core answered during one sample, in cycle order."""

    probes: np.ndarray  # bit matrix (``bit_matrix``) of the cycles the harness logged a probe
    beats: list[int]  # output beats taken (the last one is END)
    winners: list[int]  # learning winners (conv harness: ``winner`` words)


def _write(path: Path, text: str) -> None:
    """Write ``text`` over ``path`` without truncating it to zero first: ext4 flushes a file
    truncated to zero when it is closed (its replace-via-truncate heuristic), which made every
    script and sample cost a disk write (0.8 ms each, measured)."""
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


class HarnessDriver:
    """Drives ``sim_harness`` from a cocotb test; every method returns when its play is done.

    ``dut`` is the harness toplevel, ``params`` its Verilog parameters (``Top.parameters``),
    ``workdir`` the simulation's working directory (where the harness reads its hex files and
    writes ``trace.log``).
    """

    def __init__(self, dut: Any, params: dict[str, int], workdir: Path) -> None:
        self.dut, self.workdir = dut, workdir
        p = params
        self.lane_w, self.addr_w, self.data_w = p["LANE_W"], p["ADDR_W"], p["DATA_W"]
        self.target_w = p["TARGET_W"]  # sim/host_player.vh: the core an entry goes to
        self.host_w = 2 + self.target_w + REGION_BITS + self.lane_w + self.addr_w + self.data_w
        self.event_w, self.probe_w = p["EVENT_W"], p.get("PROBE_W", 0)
        self._trace_pos = 0
        self._host_toggle = 0
        self._sample_toggle = 0
        self.sim_s = 0.0  # wall time spent waiting for the simulator (players running)

    async def start(self) -> None:
        """Start the clock (10 ns) and reset the harness, both players idle."""
        from cocotb.clock import Clock
        from cocotb.triggers import RisingEdge

        d = self.dut
        Clock(d.clk, 10, unit="ns").start()
        d.host_req.value = d.sample_req.value = 0
        d.rst.value = 1
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst.value = 0
        await RisingEdge(d.clk)

    @staticmethod
    def progress(total: int, desc: str) -> Any:
        """The bench's progress bar over ``total`` samples (shown when the runner asks:
        ``SYNAPRUNE_SIM_PROGRESS``)."""
        from ..progress import progress_bar

        return progress_bar(total=total, desc=desc, unit="sample",
                            disable=os.environ.get("SYNAPRUNE_SIM_PROGRESS") != "1")

    def _lines(self) -> list[str]:
        """Lines the harness logged since the last call (it flushes when a play ends)."""
        with open(self.workdir / TRACE) as trace:
            trace.seek(self._trace_pos)
            text = trace.read()
            self._trace_pos = trace.tell()
        return text.splitlines()

    async def _play(self, req: Any, done: Any, toggle: int, timeout_cycles: int) -> bool:
        """Start a player and wait for its done; then on to the next falling clock edge, where
        every output has settled and new inputs count from the next rising edge."""
        from cocotb.triggers import FallingEdge, First, RisingEdge, Timer

        t0 = time.perf_counter()
        req.value = toggle
        fired = await First(RisingEdge(done), Timer(10 * timeout_cycles, unit="ns"))
        await FallingEdge(self.dut.clk)
        self.sim_s += time.perf_counter() - t0
        return isinstance(fired, RisingEdge)

    def _entries(self, region: Enum, lane: int, start: int, words: Sequence[int] | None,
                 count: int, target: int) -> list[int]:
        """Script entries {we, re, target, region, lane, addr, wdata}: writes of ``words``,
        else ``count`` reads, at addresses from ``start``."""
        flags = 0b01 if words is None else 0b10  # we, re
        head = (flags << self.target_w | target) << REGION_BITS | region.value
        head = (head << self.lane_w | lane) << self.addr_w << self.data_w
        if words is None:
            return [head | (start + n) << self.data_w for n in range(count)]
        return [head | (start + n) << self.data_w | int(w) for n, w in enumerate(words)]

    def writes(self, region: Enum, lane: int, words: Iterable[Any], start: int = 0, *,
               target: int = 0) -> list[int]:
        """Script entries writing ``words`` to ``region`` of ``lane`` from address ``start``
        (of core ``target`` in a harness of several)."""
        words = list(words)
        return self._entries(region, lane, start, words, len(words), target)

    def reads(self, region: Enum, lane: int, count: int, start: int = 0, *, target: int = 0
              ) -> list[int]:
        """Script entries reading ``count`` words of ``region`` of ``lane`` from ``start`` (of
        core ``target`` in a harness of several)."""
        return self._entries(region, lane, start, None, count, target)

    async def host(self, script: Sequence[int], *, cycles_per_entry: int = 20) -> list[int]:
        """Play ``script`` (entries from ``writes`` and ``reads``) in order; returns the data of
        the reads, in order. A play waits up to ``cycles_per_entry`` cycles an entry (more for
        commands the core runs, such as REWIRE)."""
        out: list[int] = []
        digits = -(-self.host_w // 4)
        for start in range(0, len(script), HOST_CHUNK):
            chunk = script[start:start + HOST_CHUNK]
            _write(self.workdir / "host.hex", "".join(f"{e:0{digits}x}\n" for e in chunk))
            self.dut.host_count.value = len(chunk)
            self._host_toggle ^= 1
            if not await self._play(self.dut.host_req, self.dut.host_done, self._host_toggle,
                                    cycles_per_entry * len(chunk) + 1000):
                raise TimeoutError("the host port stopped answering")
            out += [int(line[1:], 16) for line in self._lines() if line.startswith("H")]
        return out

    async def sample(self, beats: Sequence[int], *, regs: int, gap: float, stall: float,
                     seed: int, timeout_cycles: int) -> SampleLog | None:
        """Stream ``beats`` (the last one END) with ``regs`` set; None if no END came back
        within ``timeout_cycles``."""
        lines = await self.sample_lines(beats, regs=regs, gap=gap, stall=stall, seed=seed,
                                        timeout_cycles=timeout_cycles)
        if lines is None:
            return None
        return SampleLog(bit_matrix([ln[1:] for ln in lines if ln[0] == "P"], self.probe_w),
                         [int(ln[1:], 16) for ln in lines if ln[0] == "O"],
                         [int(ln[1:], 16) for ln in lines if ln[0] == "W"])

    async def sample_lines(self, beats: Sequence[int], *, regs: int, gap: float, stall: float,
                           seed: int, timeout_cycles: int) -> list[str] | None:
        """``sample``, returning the lines the harness logged during the sample."""
        d = self.dut
        digits = -(-self.event_w // 4)
        _write(self.workdir / "beats.hex", "".join(f"{b:0{digits}x}\n" for b in beats))
        d.regs.value = regs
        d.beat_count.value = len(beats)
        d.gap_thr.value = min(0xFFFF, round(gap * 65536))
        d.stall_thr.value = min(0xFFFF, round(stall * 65536))
        d.seed.value = seed & 0xFFFFFFFF or 1
        self._sample_toggle ^= 1
        if not await self._play(d.sample_req, d.sample_done, self._sample_toggle,
                                timeout_cycles):
            return None
        return self._lines()
