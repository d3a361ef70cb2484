"""The framed command protocol between a host and the board's command unit (one source of truth).

``docs/host_protocol.md`` describes it byte by byte; this module holds every constant, enum and
payload layout, and the Python encoders and decoders. The hardware (``boards.command``) imports
the same constants, so host and bitstream cannot disagree on a number.

Frame (both directions)::

    0xA5 | cmd | len_lo | len_hi | payload[len] | crc8(cmd, len_lo, len_hi, payload)

CRC-8 uses polynomial 0x07, initial value 0, no reflection, no final XOR (CRC-8/SMBUS). A reply
echoes the request's command byte with bit 7 set; its payload starts with a ``Status`` byte,
followed by data only when the status is ``OK``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass

from amaranth.lib import enum

from ..hw.layouts import (
    COUNTER_BITS,
    LABEL_BITS,
    LFSR_BITS,
    N_COUNTERS,
    HostRegion,
    host_data_bits,
    index_bits,
    regs_layout,
    rewire_layout,
)
from ..model.config import Config

SYNC = 0xA5
REPLY_FLAG = 0x80  # set in the command byte of every reply
# 2: the regrowth registers and INFO's regrow_unit; 3: INFO's row_word_bits
PROTOCOL_VERSION = 3
CRC_POLY = 0x07
MAX_LENGTH = 0xFFFF  # largest payload the 16-bit length field can state
MEM_HEADER = struct.Struct("<BHIH")  # region, lane, addr, count of WRITE_MEM / READ_MEM
MEM_HEADER_BYTES = MEM_HEADER.size  # 9
LABEL_NONE = (1 << LABEL_BITS) - 1  # label register value of a neuron without a class
DEFAULT_BAUD = 115_200
DEFAULT_TIMEOUT_S = 0.05  # inter-byte timeout of the board's frame parser (LinkTop default)
DEFAULT_RUN_TIMEOUT_S = 1.0  # watchdog on the core while a command waits for it


class Cmd(enum.IntEnum, shape=8):
    """Request command bytes (a reply carries ``cmd | REPLY_FLAG``)."""

    PING = 0x01  # echo the payload
    INFO = 0x02  # build parameters (BuildInfo)
    WRITE_REGS = 0x03  # the runtime register struct, packed (pack_regs)
    WRITE_MEM = 0x04  # MEM_HEADER + count words
    READ_MEM = 0x05  # MEM_HEADER -> count words
    RUN = 0x06  # flags byte + event words -> RunReply
    READ_COUNTERS = 0x07  # -> N_COUNTERS little-endian u32, in layouts.Counter order
    CLEAR = 0x08  # clear the core's counters and error flags, and the link's sticky flags
    STATUS = 0x09  # -> LinkStatus


class Status(enum.IntEnum, shape=8):
    """First payload byte of every reply."""

    OK = 0
    BAD_CRC = 1  # the request's CRC did not match; nothing was executed
    BAD_LENGTH = 2  # the payload length does not fit the command
    TOO_LONG = 3  # the payload exceeds BuildInfo.max_payload; it was drained, not executed
    UNKNOWN_CMD = 4
    BAD_ARG = 5  # region, lane or address range outside the memory map
    TIMEOUT = 6  # the request stopped arriving mid-frame (inter-byte timeout)
    BUSY = 7  # the core was not idle (a sample that timed out is still running)
    CORE_TIMEOUT = 8  # the core made no progress within the watchdog time


class LinkFlag(enum.IntFlag):
    """Bits of ``LinkStatus.flags``; all but READY are sticky until CLEAR."""

    READY = 0x01  # the core is idle (host port ready)
    RX_ERROR = 0x02  # the UART receiver dropped a byte (bad stop bit or overrun)
    CORE_TIMEOUT = 0x04  # a command gave up waiting for the core
    BAD_FRAME = 0x08  # a reply with a status other than OK was sent


class ProtocolError(Exception):
    """A frame or payload that does not follow the protocol."""


class IncompleteFrameError(ProtocolError):
    """The buffer ends before the frame does."""


# ------------------------------------------------------------------------------------------
# CRC and framing


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = ((c << 1) ^ CRC_POLY) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc8(data: bytes | bytearray | Iterable[int], crc: int = 0) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0) of ``data``, continuing from ``crc``."""
    for b in data:
        crc = CRC_TABLE[crc ^ b]
    return crc


def encode_frame(cmd: int, payload: bytes = b"") -> bytes:
    """A complete frame: sync, command byte, 16-bit little-endian length, payload, CRC."""
    if not 0 <= cmd <= 0xFF:
        raise ValueError(f"command byte must be in 0..255, not {cmd}")
    if len(payload) > MAX_LENGTH:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_LENGTH}")
    body = bytes([cmd]) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes([SYNC]) + body + bytes([crc8(body)])


def encode_reply(cmd: int, status: Status, data: bytes = b"") -> bytes:
    """The reply frame the board sends for request command ``cmd`` (used by tests)."""
    return encode_frame((cmd | REPLY_FLAG) & 0xFF, bytes([status]) + bytes(data))


@dataclass(frozen=True)
class Frame:
    cmd: int
    payload: bytes


def decode_frame(buf: bytes | bytearray) -> tuple[Frame, int]:
    """Decode the first whole frame in ``buf``; return it and the bytes consumed.

    Bytes before the sync byte are skipped. Raises ``ProtocolError`` on a CRC mismatch and
    ``IncompleteFrameError`` (a ``ProtocolError``) when ``buf`` ends before the frame does.
    """
    start = bytes(buf).find(bytes([SYNC]))
    if start < 0:
        raise IncompleteFrameError("no sync byte")
    if len(buf) < start + 4:
        raise IncompleteFrameError("header incomplete")
    cmd = buf[start + 1]
    (length,) = struct.unpack_from("<H", buf, start + 2)
    end = start + 4 + length
    if len(buf) < end + 1:
        raise IncompleteFrameError(f"frame of {length} payload bytes incomplete")
    body = bytes(buf[start + 1:end])
    if crc8(body) != buf[end]:
        raise ProtocolError(f"CRC mismatch: frame says {buf[end]:#04x}, data gives "
                            f"{crc8(body):#04x}")
    return Frame(cmd, bytes(buf[start + 4:end])), end + 1


def split_reply(frame: Frame, cmd: int) -> tuple[Status, bytes]:
    """Status and data of the reply ``frame`` to request ``cmd``; raises ``ProtocolError`` if it
    is not a reply to that command or has no valid status byte."""
    if frame.cmd != (cmd | REPLY_FLAG):
        raise ProtocolError(f"reply command byte {frame.cmd:#04x}, expected "
                            f"{cmd | REPLY_FLAG:#04x}")
    if not frame.payload:
        raise ProtocolError("reply without a status byte")
    try:
        status = Status(frame.payload[0])
    except ValueError:
        raise ProtocolError(f"unknown status byte {frame.payload[0]:#04x}") from None
    if status != Status.OK and len(frame.payload) != 1:
        raise ProtocolError(f"{status.name} reply carries {len(frame.payload) - 1} data bytes")
    return status, frame.payload[1:]


# ------------------------------------------------------------------------------------------
# Geometry shared by host and hardware


def event_bytes(cfg: Config) -> int:
    """Bytes of one event word (RUN request events and reply spikes): 1, 2 or 4.

    The word is ``index | time << index_bits(cfg)``, little-endian, zero-padded.
    """
    bits = index_bits(cfg) + cfg.time_bits
    return 1 if bits <= 8 else 2 if bits <= 16 else 4


def word_bits(cfg: Config, region: HostRegion) -> int:
    """Significant bits of one memory word of ``region`` (what the core stores)."""
    return {
        HostRegion.WEIGHT: cfg.weight_bits, HostRegion.ROW_MASK: cfg.row_word_width,
        HostRegion.COL_MASK: cfg.col_word_bits, HostRegion.ADAPT: cfg.adapt_bits,
        HostRegion.LABEL: LABEL_BITS, HostRegion.LFSR: LFSR_BITS,
        HostRegion.LIVE: COUNTER_BITS, HostRegion.COUNTER: COUNTER_BITS,
        HostRegion.REWIRE: rewire_layout(cfg).size,
    }[HostRegion(region)]


def _pow2_bytes(bits: int) -> int:
    return 1 << (-(-bits // 8) - 1).bit_length()


def word_bytes(cfg: Config, region: HostRegion) -> int:
    """Bytes of one little-endian memory word of ``region`` in WRITE_MEM / READ_MEM: the
    significant bits rounded up to 1, 2, 4 or 8 bytes (a power of two), zero-padded."""
    return _pow2_bytes(word_bits(cfg, region))


def max_word_bytes(cfg: Config) -> int:
    """Bytes of the widest word (the host port's data width, rounded like ``word_bytes``)."""
    return _pow2_bytes(host_data_bits(cfg))


def region_depth(cfg: Config, region: HostRegion) -> int:
    """Words per lane of ``region``: addr + count must not exceed it."""
    return {
        HostRegion.WEIGHT: cfg.n_inputs * cfg.rows,
        HostRegion.ROW_MASK: cfg.n_inputs * cfg.row_words,
        HostRegion.COL_MASK: cfg.n_neurons * cfg.col_words, HostRegion.ADAPT: cfg.rows,
        HostRegion.LABEL: cfg.n_neurons, HostRegion.LFSR: 1, HostRegion.LIVE: 1,
        HostRegion.COUNTER: N_COUNTERS, HostRegion.REWIRE: cfg.rows,
    }[HostRegion(region)]


def region_readable(region: HostRegion) -> bool:
    """Whether READ_MEM may read ``region``: REWIRE takes commands and holds no words."""
    return HostRegion(region) != HostRegion.REWIRE


def region_laned(region: HostRegion) -> bool:
    """Whether ``region`` has one bank per lane (otherwise the lane must be 0)."""
    return HostRegion(region) in (HostRegion.WEIGHT, HostRegion.ROW_MASK, HostRegion.ADAPT,
                                  HostRegion.REWIRE)


def regs_bytes(cfg: Config) -> int:
    return -(-regs_layout(cfg).size // 8)


def default_max_payload(cfg: Config) -> int:
    """Payload buffer of the board: room for a RUN with every input spiking, at least 256."""
    need = max(256, 1 + cfg.n_inputs * event_bytes(cfg), regs_bytes(cfg), MEM_HEADER_BYTES + 16)
    return 1 << (need - 1).bit_length()


# ------------------------------------------------------------------------------------------
# Payloads


@dataclass(frozen=True)
class BuildInfo:
    """INFO reply data: the elaboration parameters of the bitstream."""

    version: int
    n_inputs: int
    n_neurons: int
    lanes: int
    time_steps: int
    k_max: int
    col_word_bits: int
    weight_bits: int
    membrane_bits: int
    adapt_bits: int
    stdp_frac_bits: int
    max_payload: int
    n_counters: int
    # 1 when the core has the regrowth unit (``Config.regrow_unit``): a host whose config
    # differs would have the golden model regrow where the core does not, or build for a unit
    # the board lacks
    regrow_unit: int
    # the row-mask words' split (``Config.row_word_bits``): the ROW_MASK region's layout
    row_word_bits: int

    FORMAT = struct.Struct("<BHHHBBBBBBBHBBB")
    CONFIG_FIELDS = ("n_inputs", "n_neurons", "lanes", "time_steps", "k_max", "col_word_bits",
                     "weight_bits", "membrane_bits", "adapt_bits", "stdp_frac_bits",
                     "regrow_unit", "row_word_bits")

    @classmethod
    def from_config(cls, cfg: Config, *, max_payload: int) -> BuildInfo:
        return cls(version=PROTOCOL_VERSION, max_payload=max_payload, n_counters=N_COUNTERS,
                   **{f: int(getattr(cfg, f)) for f in cls.CONFIG_FIELDS})

    def pack(self) -> bytes:
        return self.FORMAT.pack(*astuple(self))

    @classmethod
    def unpack(cls, data: bytes) -> BuildInfo:
        if len(data) != cls.FORMAT.size:
            raise ProtocolError(f"INFO data has {len(data)} bytes, expected {cls.FORMAT.size}")
        return cls(*cls.FORMAT.unpack(data))

    def mismatches(self, cfg: Config) -> list[str]:
        """Human-readable differences between this bitstream and ``cfg`` (empty if it fits)."""
        out = [f"{f}: board {getattr(self, f)}, config {int(getattr(cfg, f))}"
               for f in self.CONFIG_FIELDS if getattr(self, f) != int(getattr(cfg, f))]
        if self.version != PROTOCOL_VERSION:
            out.insert(0, f"protocol version: board {self.version}, host {PROTOCOL_VERSION}")
        if self.n_counters != N_COUNTERS:
            out.append(f"counters: board {self.n_counters}, host {N_COUNTERS}")
        return out


@dataclass(frozen=True)
class LinkStatus:
    """STATUS reply data."""

    core_error: int  # the core's sticky error bits (bit0 time backwards, bit1 bad index)
    flags: LinkFlag
    pred_label: int  # label register of the last predicted neuron
    bad_frames: int  # replies with a status other than OK since CLEAR (saturates at 255)

    FORMAT = struct.Struct("<BBBB")

    def pack(self) -> bytes:
        return self.FORMAT.pack(self.core_error, int(self.flags), self.pred_label,
                                self.bad_frames)

    @classmethod
    def unpack(cls, data: bytes) -> LinkStatus:
        if len(data) != cls.FORMAT.size:
            raise ProtocolError(f"STATUS data has {len(data)} bytes, expected {cls.FORMAT.size}")
        e, f, label, bad = cls.FORMAT.unpack(data)
        return cls(e, LinkFlag(f), label, bad)


RUN_LEARN = 0x01  # bit of the RUN flags byte
RUN_HEADER = struct.Struct("<BHBBH")  # last_step, prediction, label, error, n_spikes


@dataclass(frozen=True)
class RunReply:
    """RUN reply data: the core's END event, the label and error registers, and its spikes."""

    last_step: int
    prediction: int
    label: int
    error: int
    spikes: list[tuple[int, int]]  # (time step, neuron), in the order the core sent them

    def pack(self, cfg: Config) -> bytes:
        head = RUN_HEADER.pack(self.last_step, self.prediction, self.label, self.error,
                               len(self.spikes))
        return head + pack_events(cfg, self.spikes)

    @classmethod
    def unpack(cls, cfg: Config, data: bytes) -> RunReply:
        if len(data) < RUN_HEADER.size:
            raise ProtocolError(f"RUN data has {len(data)} bytes, fewer than the "
                                f"{RUN_HEADER.size}-byte header")
        last, pred, label, err, n = RUN_HEADER.unpack_from(data)
        spikes = unpack_events(cfg, data[RUN_HEADER.size:])
        if len(spikes) != n:
            raise ProtocolError(f"RUN reply announces {n} spikes but carries {len(spikes)}")
        return cls(last, pred, label, err, spikes)


def pack_events(cfg: Config, events: Sequence[tuple[int, int]]) -> bytes:
    """Event words of (time, index) pairs; checks that each fits its field."""
    ib, nb = index_bits(cfg), event_bytes(cfg)
    out = bytearray()
    for t, i in events:
        if not 0 <= i < (1 << ib) or not 0 <= t < (1 << cfg.time_bits):
            raise ValueError(f"event (time {t}, index {i}) does not fit {cfg.time_bits} time "
                             f"bits and {ib} index bits")
        out += (int(i) | int(t) << ib).to_bytes(nb, "little")
    return bytes(out)


def unpack_events(cfg: Config, data: bytes) -> list[tuple[int, int]]:
    ib, nb = index_bits(cfg), event_bytes(cfg)
    if len(data) % nb:
        raise ProtocolError(f"{len(data)} bytes of events is not a multiple of {nb}")
    words = (int.from_bytes(data[k:k + nb], "little") for k in range(0, len(data), nb))
    return [(w >> ib, w & ((1 << ib) - 1)) for w in words]


def encode_run(cfg: Config, events: Sequence[tuple[int, int]], *, learn: bool) -> bytes:
    """RUN request payload: the flags byte, then one event word per input spike."""
    return bytes([RUN_LEARN if learn else 0]) + pack_events(cfg, events)


def pack_regs(cfg: Config, values: Mapping[str, int]) -> bytes:
    """WRITE_REGS payload: ``values`` (every field of ``regs_layout(cfg)``) packed little-endian
    at the layout's bit offsets."""
    layout = regs_layout(cfg)
    names = {name for name, _ in layout}
    if set(values) != names:
        missing, extra = sorted(names - set(values)), sorted(set(values) - names)
        raise ValueError(f"register values: missing {missing}, unknown {extra}")
    word = 0
    for name, fld in layout:
        v = int(values[name])
        if not 0 <= v < (1 << fld.width):
            raise ValueError(f"register {name} = {v} does not fit {fld.width} bits")
        word |= v << fld.offset
    return word.to_bytes(regs_bytes(cfg), "little")


def unpack_regs(cfg: Config, data: bytes) -> dict[str, int]:
    if len(data) != regs_bytes(cfg):
        raise ProtocolError(f"register data has {len(data)} bytes, expected {regs_bytes(cfg)}")
    word = int.from_bytes(data, "little")
    return {name: (word >> f.offset) & ((1 << f.width) - 1) for name, f in regs_layout(cfg)}


def encode_mem_header(region: HostRegion, lane: int, addr: int, count: int) -> bytes:
    return MEM_HEADER.pack(HostRegion(region).value, lane, addr, count)


def encode_write_mem(cfg: Config, region: HostRegion, lane: int, addr: int,
                     words: Sequence[int]) -> bytes:
    """WRITE_MEM payload; each word must fit ``word_bits(cfg, region)``."""
    nb, bits = word_bytes(cfg, region), word_bits(cfg, region)
    out = bytearray(encode_mem_header(region, lane, addr, len(words)))
    for w in words:
        w = int(w)
        if not 0 <= w < (1 << bits):
            raise ValueError(f"{HostRegion(region).name} word {w} does not fit {bits} bits")
        out += w.to_bytes(nb, "little")
    return bytes(out)


def decode_words(cfg: Config, region: HostRegion, data: bytes) -> list[int]:
    """The words of a READ_MEM reply (or of WRITE_MEM data) of ``region``."""
    nb = word_bytes(cfg, region)
    if len(data) % nb:
        raise ProtocolError(f"{len(data)} bytes is not a whole number of {nb}-byte words")
    return [int.from_bytes(data[k:k + nb], "little") for k in range(0, len(data), nb)]
