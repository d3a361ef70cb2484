"""Host driver for the board's UART command link (``docs/host_protocol.md``).

``Board(transport)`` speaks the protocol of ``boards.protocol`` over any ``Transport``:
``SerialTransport`` (a real board through pyserial) or ``boards.sim_transport.SimTransport``
(``LinkTop`` in Amaranth's simulator). Arrays come back in the golden model's layout
(``model.network.Network``): ``weights[i, j]`` and ``mask[i, j]`` for input i and neuron j,
``adapt[j]``.

Memory map (``hw.layouts.HostRegion``; P lanes, K = n_neurons / P rows, B column-word bits,
G column words per neuron): neuron j = k*P + p lives in lane p, row k. The weight of input i to
that neuron is WEIGHT word i*K + k of lane p; ROW_MASK word i*W + k // R of lane p (W words of R
bits per input, ``Config.row_words``; W = 1, R = K by default) has bit k % R set when the
synapse is live; COL_MASK word j*G + g has bit b set when the synapse from input g*B + b to j is
live. The core reads both bitmaps, so the host writes both, consistently, and sets LIVE to the
number of live synapses.

Every failure raises a ``LinkError`` subclass: ``LinkTimeoutError`` (no complete reply in
time), ``BadReplyError`` (a reply that breaks the protocol), ``CommandError`` (the board
answered with a status other than OK; ``.status`` says which) or ``ConfigMismatchError`` (the
bitstream was built for other sizes). After a timeout or a bad reply, ``Board.resync`` lets
the board's frame parser time out and drops stale bytes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import serial

from ..hw import memory_map as mm
from ..hw.layouts import LABEL_BITS, Counter, HostRegion, regs_value
from ..model import rewiring
from ..model.config import Config
from ..model.encoding import check_times
from ..model.encoding import events as encode_events
from ..model.network import Network
from . import protocol as proto
from .protocol import Cmd, Status

UNLABELLED = -1  # model.readout.UNLABELLED: a neuron that won no class


def cmd_name(cmd: int) -> str:
    """The command's name, or its byte in hex if it is not one of ``Cmd``."""
    return Cmd(cmd).name if cmd in iter(Cmd) else f"command {cmd:#04x}"


class LinkError(Exception):
    """Base of every error the driver raises about the link."""


class LinkTimeoutError(LinkError):
    """No complete reply arrived in time."""


class BadReplyError(LinkError):
    """A reply that breaks the protocol (CRC, framing, wrong command or size)."""


class CommandError(LinkError):
    """The board answered with a status other than OK."""

    def __init__(self, cmd: int, status: Status) -> None:
        self.cmd, self.status = cmd, status
        super().__init__(f"{cmd_name(cmd)} failed on the board: {status.name}")


class ConfigMismatchError(LinkError):
    """The bitstream was built for other elaboration-time parameters than the config."""


class Transport(Protocol):
    """A byte pipe to the board.

    ``link_timeout`` is the board's inter-byte timeout in seconds (``LinkTop.timeout_s``),
    ``byte_time`` the seconds one byte takes on the line, ``default_timeout`` the reply timeout
    the driver uses when none is given. ``read`` returns fewer than ``n`` bytes only when
    ``timeout`` seconds passed; ``idle`` lets time pass with the line quiet.
    """

    link_timeout: float
    byte_time: float
    default_timeout: float

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout: float) -> bytes: ...

    def flush_input(self) -> None: ...

    def idle(self, seconds: float) -> None: ...

    def close(self) -> None: ...


class SerialTransport:
    """A serial port through pyserial; ``port`` is a device (``/dev/ttyUSB1``, ``COM3``) or a
    pyserial URL (``loop://`` for a loopback, ``socket://host:port``)."""

    def __init__(self, port: str, baud: int = proto.DEFAULT_BAUD, *,
                 link_timeout: float = proto.DEFAULT_TIMEOUT_S,
                 default_timeout: float = 2.0) -> None:
        if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
            raise ValueError(f"baud must be a positive int, not {baud!r}")
        self.link_timeout = link_timeout
        self.byte_time = 10 / baud
        self.default_timeout = default_timeout
        self._port = serial.serial_for_url(port, baudrate=baud, timeout=default_timeout)

    def write(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def read(self, n: int, timeout: float) -> bytes:
        self._port.timeout = timeout
        return bytes(self._port.read(n))

    def flush_input(self) -> None:
        self._port.reset_input_buffer()

    def idle(self, seconds: float) -> None:
        time.sleep(seconds)

    def send_break(self, duration: float) -> None:
        """Hold the line low for ``duration`` seconds (the board reports RX_ERROR)."""
        self._port.send_break(duration)

    def close(self) -> None:
        self._port.close()


@dataclass(frozen=True)
class BoardResult:
    """One sample run on the board."""

    spikes: list[tuple[int, int]]  # (time step, neuron) in the order the core emitted them
    prediction: int  # predicted neuron (first winner, else the last step's best candidate)
    label: int  # LABEL register of the predicted neuron, UNLABELLED if none was written
    steps: int  # time steps executed
    error: int  # the core's sticky error bits after the sample (bit0 time order, bit1 index)


class Board:
    """The command link to one board. ``cfg`` (or a later ``write_config`` / ``load_network``)
    states the configuration the host works with; it is checked against the bitstream's INFO
    before first use."""

    MAX_STALE_FRAMES = 4  # replies to earlier requests skipped while waiting for the right one

    def __init__(self, transport: Transport, *, cfg: Config | None = None,
                 timeout: float | None = None) -> None:
        self.transport = transport
        self.timeout = transport.default_timeout if timeout is None else timeout
        self._info: proto.BuildInfo | None = None
        self._cfg: Config | None = None
        if cfg is not None:
            self.check(cfg)

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    # --- framing ---------------------------------------------------------------------------
    def request(self, cmd: int, payload: bytes = b"", *, reply_bytes: int = 0,
                timeout: float | None = None) -> bytes:
        """Send one request (``cmd``: a ``Cmd`` or any byte) and return the reply data after an
        OK status.

        ``reply_bytes`` (expected data size, if known) lengthens the timeout by its line time.
        Raises ``CommandError`` for a status other than OK.
        """
        frame = proto.encode_frame(cmd, payload)
        wait = ((self.timeout if timeout is None else timeout)
                + (len(frame) + reply_bytes + 6) * self.transport.byte_time)
        self.transport.flush_input()
        self.transport.write(frame)
        for _ in range(self.MAX_STALE_FRAMES + 1):
            reply = self._read_frame(cmd, wait)
            if reply.cmd == cmd | proto.REPLY_FLAG:
                break
        else:
            raise BadReplyError(f"no reply to {cmd_name(cmd)} among {self.MAX_STALE_FRAMES + 1} "
                                f"frames")
        try:
            status, data = proto.split_reply(reply, cmd)
        except proto.ProtocolError as err:
            raise BadReplyError(f"{cmd_name(cmd)}: {err}") from None
        if status != Status.OK:
            raise CommandError(cmd, status)
        return data

    def _read_exact(self, n: int, timeout: float, what: str) -> bytes:
        data = self.transport.read(n, timeout)
        if len(data) < n:
            raise LinkTimeoutError(f"{what}: got {len(data)} of {n} bytes within {timeout:.3g} s")
        return data

    def _read_frame(self, cmd: int, timeout: float) -> proto.Frame:
        what = f"reply to {cmd_name(cmd)}"
        skipped = 0
        while self._read_exact(1, timeout, what)[0] != proto.SYNC:
            skipped += 1
            if skipped > 64:
                raise BadReplyError(f"{what}: {skipped} bytes without a sync byte")
        head = self._read_exact(3, timeout, what)
        length = int.from_bytes(head[1:3], "little")
        rest = self._read_exact(length + 1, timeout, what)
        try:
            frame, _ = proto.decode_frame(bytes([proto.SYNC]) + head + rest)
        except proto.ProtocolError as err:
            raise BadReplyError(f"{what}: {err}") from None
        return frame

    def resync(self) -> None:
        """Stay quiet until the board's frame parser has timed out, then drop stale bytes."""
        self.transport.idle(2 * self.transport.link_timeout + 64 * self.transport.byte_time)
        self.transport.flush_input()

    # --- link ------------------------------------------------------------------------------
    def ping(self, data: bytes = b"") -> bytes:
        """Echo ``data`` through the board; ``BadReplyError`` if it comes back different."""
        echo = self.request(Cmd.PING, data, reply_bytes=len(data))
        if echo != data:
            raise BadReplyError(f"PING echo differs: sent {data.hex()}, got {echo.hex()}")
        return echo

    def info(self) -> proto.BuildInfo:
        """The bitstream's build parameters (asked once, then cached)."""
        if self._info is None:
            self._info = proto.BuildInfo.unpack(self.request(Cmd.INFO, reply_bytes=32))
        return self._info

    def status(self) -> proto.LinkStatus:
        return proto.LinkStatus.unpack(self.request(Cmd.STATUS, reply_bytes=4))

    def check(self, cfg: Config) -> proto.BuildInfo:
        """Make ``cfg`` the working configuration; ``ConfigMismatchError`` if the bitstream
        was built for other sizes."""
        info = self.info()
        wrong = info.mismatches(cfg)
        if wrong:
            raise ConfigMismatchError("bitstream and config differ: " + "; ".join(wrong))
        self._cfg = cfg
        return info

    @property
    def cfg(self) -> Config:
        if self._cfg is None:
            raise RuntimeError("no configuration yet: call write_config, load_network or check")
        return self._cfg

    # --- registers and memories -----------------------------------------------------------
    def write_regs(self, values: Mapping[str, int]) -> None:
        self.request(Cmd.WRITE_REGS, proto.pack_regs(self.cfg, values))

    def write_config(self, cfg: Config, *, learn: bool = False) -> None:
        """Check ``cfg`` against the bitstream and write its runtime registers."""
        self.check(cfg)
        self.write_regs(regs_value(cfg, learn=learn))

    def write_mem(self, region: HostRegion, lane: int, addr: int, words: Sequence[int]) -> None:
        """Write consecutive words of one lane of ``region``, in frames that fit the buffer."""
        nb = proto.word_bytes(self.cfg, region)
        per_frame = (self.info().max_payload - proto.MEM_HEADER_BYTES) // nb
        words = [int(w) for w in words]
        for start in range(0, len(words), per_frame):
            chunk = words[start:start + per_frame]
            self.request(Cmd.WRITE_MEM,
                         proto.encode_write_mem(self.cfg, region, lane, addr + start, chunk))

    def read_mem(self, region: HostRegion, lane: int, addr: int, count: int) -> np.ndarray:
        """``count`` consecutive words of one lane of ``region``: int64, or Python ints (an
        object array) for words wider than 63 bits (row bitmaps of 64 or more rows). REWIRE
        holds commands, not words: reading it is refused (``ValueError``)."""
        if HostRegion(region) == HostRegion.REWIRE:
            raise ValueError("REWIRE is a write-only command region: nothing to read")
        nb = proto.word_bytes(self.cfg, region)
        per_frame = max(1, self.info().max_payload // nb)
        out: list[int] = []
        for start in range(0, count, per_frame):
            n = min(per_frame, count - start)
            data = self.request(Cmd.READ_MEM,
                                proto.encode_mem_header(region, lane, addr + start, n),
                                reply_bytes=n * nb)
            words = proto.decode_words(self.cfg, region, data)
            if len(words) != n:
                raise BadReplyError(f"READ_MEM returned {len(words)} words, asked for {n}")
            out += words
        wide = proto.word_bits(self.cfg, region) > 63
        return np.array(out, dtype=object if wide else np.int64)

    def _read_lanes(self, region: HostRegion, count: int) -> np.ndarray:
        return np.stack([self.read_mem(region, p, 0, count) for p in range(self.cfg.lanes)])

    def load_network(self, net: Network, labels: Sequence[int] | np.ndarray | None = None
                     ) -> None:
        """Write the network's weights, both connection bitmaps, adaptation, LFSR state, LIVE
        counter and (if given) the neuron labels (-1 = unlabelled, else 0..14)."""
        cfg = net.cfg
        self.check(cfg)
        for p, words in enumerate(mm.weight_words(cfg, net.weights)):
            self.write_mem(HostRegion.WEIGHT, p, 0, words)
        for p, words in enumerate(mm.row_mask_words(cfg, net.mask)):
            self.write_mem(HostRegion.ROW_MASK, p, 0, words)
        self.write_mem(HostRegion.COL_MASK, 0, 0, mm.col_mask_words(cfg, net.mask))
        for p, words in enumerate(mm.lane_words(cfg, net.adapt)):
            self.write_mem(HostRegion.ADAPT, p, 0, words)
        self.write_mem(HostRegion.LFSR, 0, 0, [net.lfsr.peek_state()])
        self.write_mem(HostRegion.LIVE, 0, 0, [net.live])
        if labels is not None:
            self.write_labels(labels)

    def write_labels(self, labels: Sequence[int] | np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (self.cfg.n_neurons,):
            raise ValueError(f"labels must have shape ({self.cfg.n_neurons},)")
        if labels.min() < UNLABELLED or labels.max() >= proto.LABEL_NONE:
            raise ValueError(f"labels must be in {UNLABELLED}..{proto.LABEL_NONE - 1}")
        self.write_mem(HostRegion.LABEL, 0, 0,
                       np.where(labels == UNLABELLED, proto.LABEL_NONE, labels))

    def read_weights(self) -> np.ndarray:
        cfg = self.cfg
        return mm.weights_from_words(cfg, self._read_lanes(HostRegion.WEIGHT,
                                                           cfg.n_inputs * cfg.rows))

    def read_mask(self) -> np.ndarray:
        """The connection mask from the row bitmaps (what integration uses)."""
        depth = proto.region_depth(self.cfg, HostRegion.ROW_MASK)
        return mm.mask_from_row_words(self.cfg, self._read_lanes(HostRegion.ROW_MASK, depth))

    def read_col_mask(self) -> np.ndarray:
        """The connection mask from the column bitmaps (what learning uses)."""
        cfg = self.cfg
        return mm.mask_from_col_words(cfg, self.read_mem(HostRegion.COL_MASK, 0, 0,
                                                         cfg.n_neurons * cfg.col_words))

    def read_adapt(self) -> np.ndarray:
        return mm.per_neuron_from_lanes(self.cfg, self._read_lanes(HostRegion.ADAPT,
                                                                   self.cfg.rows))

    def read_labels(self) -> np.ndarray:
        words = self.read_mem(HostRegion.LABEL, 0, 0, self.cfg.n_neurons)
        return np.where(words == proto.LABEL_NONE, UNLABELLED, words)

    def read_lfsr(self) -> int:
        """The LFSR state the next STDP update rounds with (``LfsrStream.peek_state``)."""
        return int(self.read_mem(HostRegion.LFSR, 0, 0, 1)[0])

    def read_live(self) -> int:
        return int(self.read_mem(HostRegion.LIVE, 0, 0, 1)[0])

    def read_counters(self) -> dict[Counter, int]:
        data = self.request(Cmd.READ_COUNTERS, reply_bytes=4 * len(Counter))
        words = proto.decode_words(self.cfg, HostRegion.COUNTER, data)
        if len(words) != len(Counter):
            raise BadReplyError(f"READ_COUNTERS returned {len(words)} counters, expected "
                                f"{len(Counter)}")
        return {c: words[c] for c in Counter}

    def clear(self) -> None:
        """Clear the core's counters and error flags and the link's sticky flags."""
        self.request(Cmd.CLEAR)

    def rewire(self, commands: Sequence[tuple[int, int, int]]) -> None:
        """Write "pq" rewire commands ``(neuron, cut, n_equal)`` in order (REWIRE; each runs on
        the core before the next is taken): the neuron prunes its live weights below ``cut``
        and the first ``n_equal`` equal to it, then regrows as many. A core built without the
        regrowth unit has no rewiring (``ValueError``)."""
        if not self.cfg.regrow_unit:
            raise ValueError("this bitstream's core has no regrowth unit (regrow_unit = "
                             "False), so it cannot rewire")
        for lane, addr, word in mm.rewire_words(self.cfg, list(commands)):
            self.write_mem(HostRegion.REWIRE, lane, addr, [word])

    def pq_block(self) -> list[tuple[int, int, int]]:
        """The host's step at a "pq" block's end (``model.rewiring``): read the weights and the
        mask back, compute the rewire commands (``rewiring.pq_commands``) and write them;
        returns them."""
        cfg = self.cfg
        commands = rewiring.pq_commands(self.read_weights(), self.read_col_mask(), cfg.pq_p,
                                        cfg.pq_q, cfg.pq_eta, cfg.pq_gamma, cfg.pq_beta)
        self.rewire(commands)
        return commands

    # --- samples ---------------------------------------------------------------------------
    def run_sample(self, times: np.ndarray, *, learn: bool,
                   timeout: float | None = None) -> BoardResult:
        """Run one sample given its input spike times (shape (n_inputs,), T = never)."""
        cfg = self.cfg
        times = check_times(times, cfg)
        payload = proto.encode_run(cfg, encode_events(times, cfg), learn=learn)
        data = self.request(Cmd.RUN, payload, timeout=timeout,
                            reply_bytes=proto.RUN_HEADER.size
                            + cfg.n_neurons * proto.event_bytes(cfg))
        try:
            rep = proto.RunReply.unpack(cfg, data)
        except proto.ProtocolError as err:
            raise BadReplyError(f"RUN: {err}") from None
        label = UNLABELLED if rep.label == (1 << LABEL_BITS) - 1 else rep.label
        return BoardResult(spikes=rep.spikes, prediction=rep.prediction, label=label,
                           steps=rep.last_step + 1, error=rep.error)
