"""The deep chain's link protocol: the layer link's frames (``boards.protocol``: sync byte,
command, length, payload, CRC-8; a reply echoes the command with bit 7 set and starts with a
``Status`` byte) carrying word accesses of the chain's map (``boards.chain_map``) and samples.
``docs/host_protocol.md``, "The deep chain's link", describes it byte by byte; host
(``boards.chain_host``) and hardware (``boards.chain_link``) import these constants.

Commands: PING (echo), INFO (``ChainInfo``), WRITE_WORDS (address u32, then words u32),
READ_WORDS (address u32, count u16 -> words u32), RUN (input events u32 each -> ``RUN_HEADER``
and the classifier's spikes). An event word is ``index | time << 16``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import astuple, dataclass

from amaranth.lib import enum

from ..hw.deep_chain import DeepChain
from .protocol import MAX_LENGTH, RUN_HEADER, ProtocolError

CHAIN_PROTOCOL_VERSION = 1
EVENT = struct.Struct("<I")  # index | time << 16
EVENT_INDEX_BITS = 16
ADDR = struct.Struct("<I")  # WRITE_WORDS: the first word's address, then the words
READ_HEADER = struct.Struct("<IH")  # READ_WORDS: address, count
WORD = struct.Struct("<I")
MAX_READ_WORDS = (MAX_LENGTH - 1) // WORD.size  # words a READ_WORDS reply may carry


class ChainCmd(enum.IntEnum, shape=8):
    """Request command bytes of the chain's link (PING, INFO and RUN keep the layer link's
    codes; their payloads are the chain's)."""

    PING = 0x01
    INFO = 0x02
    RUN = 0x06
    WRITE_WORDS = 0x0B
    READ_WORDS = 0x0C


def fingerprint(chain: DeepChain) -> int:
    """CRC-32 of the chain's configuration (its TOML) and conv lanes: a host with another
    network, or other lanes, has another fingerprint than the bitstream."""
    text = chain.config.dumps() + repr(tuple(g.lanes for g in chain.geometries.values()))
    return zlib.crc32(text.encode())


@dataclass(frozen=True)
class ChainInfo:
    """INFO reply data of the chain's link."""

    version: int
    fingerprint: int
    max_payload: int
    layers: int

    FORMAT = struct.Struct("<BIHB")

    @classmethod
    def from_chain(cls, chain: DeepChain, *, max_payload: int) -> ChainInfo:
        return cls(CHAIN_PROTOCOL_VERSION, fingerprint(chain), max_payload,
                   len(chain.config.layers))

    def pack(self) -> bytes:
        return self.FORMAT.pack(*astuple(self))

    @classmethod
    def unpack(cls, data: bytes) -> ChainInfo:
        if len(data) != cls.FORMAT.size:
            raise ProtocolError(f"chain INFO has {len(data)} bytes, expected {cls.FORMAT.size}")
        return cls(*cls.FORMAT.unpack(data))


def pack_events(events: Sequence[tuple[int, int]]) -> bytes:
    """(time, index) pairs as event words (``ValueError`` for an index or time that does not
    fit)."""
    out = bytearray()
    for t, i in events:
        if not 0 <= i < 1 << EVENT_INDEX_BITS or not 0 <= t < 1 << 16:
            raise ValueError(f"event (time {t}, index {i}) does not fit an event word")
        out += EVENT.pack(i | t << EVENT_INDEX_BITS)
    return bytes(out)


def unpack_events(data: bytes) -> list[tuple[int, int]]:
    if len(data) % EVENT.size:
        raise ProtocolError(f"{len(data)} bytes are not whole event words")
    mask = (1 << EVENT_INDEX_BITS) - 1
    return [(w >> EVENT_INDEX_BITS, w & mask) for (w,) in EVENT.iter_unpack(data)]


@dataclass(frozen=True)
class ChainRunReply:
    """RUN reply data: the classifier's END (last step, predicted neuron), that neuron's label,
    the OR of the cores' error flags, and the classifier's spikes (time, neuron)."""

    last_step: int
    prediction: int
    label: int
    error: int
    spikes: list[tuple[int, int]]

    @classmethod
    def unpack(cls, data: bytes) -> ChainRunReply:
        if len(data) < RUN_HEADER.size:
            raise ProtocolError(f"RUN data has {len(data)} bytes, fewer than the "
                                f"{RUN_HEADER.size}-byte header")
        last, pred, label, err, n = RUN_HEADER.unpack_from(data)
        spikes = unpack_events(data[RUN_HEADER.size:])
        if len(spikes) != n:
            raise ProtocolError(f"RUN reply announces {n} spikes but carries {len(spikes)}")
        return cls(last, pred, label, err, spikes)


__all__ = ["ADDR", "CHAIN_PROTOCOL_VERSION", "EVENT", "EVENT_INDEX_BITS", "READ_HEADER",
           "WORD", "ChainCmd", "ChainInfo", "ChainRunReply", "fingerprint", "pack_events",
           "unpack_events"]
