"""The link protocol: codec round trips, CRC, malformed frames (in Python and through the hardware
frame parser), the memory-map packing of the host driver, and the reply path."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import connect
from amaranth.sim import Simulator, SimulatorContext
from hypothesis import given
from hypothesis import strategies as st

from synaprune.boards import protocol as proto
from synaprune.boards.command import (
    FrameParser,
    ReplyFramer,
    WordSerializer,
    crc8_next,
)
from synaprune.boards.host import (
    SerialTransport,
)
from synaprune.boards.protocol import Cmd, Status
from synaprune.hw.layouts import HostRegion, index_bits, regs_layout, regs_value
from synaprune.model.config import Config

CFG = Config(n_inputs=16, image_shape=(4, 4), n_neurons=8, lanes=2, time_steps=8,
             col_word_bits=8)
WIDE = Config(n_inputs=784, image_shape=(28, 28), n_neurons=96, lanes=4, time_steps=16, k_max=2,
              col_word_bits=32, weight_bits=10, adapt_bits=14)


# ------------------------------------------------------------------------------------------
# CRC and frames


def test_crc8_check_value() -> None:
    assert proto.crc8(b"123456789") == 0xF4  # CRC-8/SMBUS check value
    assert proto.crc8(b"") == 0
    assert proto.crc8(b"6789", proto.crc8(b"12345")) == 0xF4


def test_frame_bytes() -> None:
    frame = proto.encode_frame(Cmd.PING, b"\x01\x02")
    assert frame[:4] == bytes([0xA5, 0x01, 0x02, 0x00])
    assert frame[4:6] == b"\x01\x02"
    assert frame[6] == proto.crc8(frame[1:6])
    assert proto.encode_frame(Cmd.INFO).hex() == "a5020000d6"  # worked by hand in the docs


def bitwise_crc8(data: bytes) -> int:
    """CRC-8 poly 0x07 the slow way: the message times x^8, modulo the polynomial."""
    reg = 0
    for bit in [(b >> (7 - k)) & 1 for b in data for k in range(8)] + [0] * 8:
        reg = (reg << 1) | bit
        if reg & 0x100:
            reg ^= 0x107
    return reg


@given(st.binary(max_size=64))
def test_crc8_table_matches_bitwise(data: bytes) -> None:
    assert proto.crc8(data) == bitwise_crc8(data)


@given(st.integers(0, 255), st.binary(max_size=300), st.binary(max_size=8))
def test_frame_round_trip(cmd: int, payload: bytes, junk: bytes) -> None:
    junk = junk.replace(b"\xa5", b"")
    frame = proto.encode_frame(cmd, payload)
    got, used = proto.decode_frame(junk + frame + b"\x00")
    assert got == proto.Frame(cmd, payload)
    assert used == len(junk) + len(frame)


@given(st.binary(min_size=1, max_size=40), st.data())
def test_corrupted_frame_fails_crc(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(proto.encode_frame(Cmd.RUN, payload))
    pos = data.draw(st.integers(4, len(frame) - 1))  # payload or CRC byte
    frame[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(proto.ProtocolError, match="CRC"):
        proto.decode_frame(bytes(frame))


def test_incomplete_frames() -> None:
    frame = proto.encode_frame(Cmd.PING, b"abc")
    for cut in range(len(frame)):
        with pytest.raises(proto.IncompleteFrameError):
            proto.decode_frame(frame[:cut])


def test_encode_frame_checks() -> None:
    with pytest.raises(ValueError, match="command byte"):
        proto.encode_frame(256)
    with pytest.raises(ValueError, match="exceeds"):
        proto.encode_frame(Cmd.PING, bytes(proto.MAX_LENGTH + 1))


def test_split_reply() -> None:
    frame, _ = proto.decode_frame(proto.encode_reply(Cmd.STATUS, Status.OK, b"\x01\x02"))
    assert proto.split_reply(frame, Cmd.STATUS) == (Status.OK, b"\x01\x02")
    frame, _ = proto.decode_frame(proto.encode_reply(Cmd.RUN, Status.BUSY))
    assert proto.split_reply(frame, Cmd.RUN) == (Status.BUSY, b"")
    with pytest.raises(proto.ProtocolError, match="expected 0x86"):
        proto.split_reply(proto.Frame(0x81, b"\x00"), Cmd.RUN)
    with pytest.raises(proto.ProtocolError, match="without a status"):
        proto.split_reply(proto.Frame(0x81, b""), Cmd.PING)
    with pytest.raises(proto.ProtocolError, match="unknown status"):
        proto.split_reply(proto.Frame(0x81, b"\x7f"), Cmd.PING)
    with pytest.raises(proto.ProtocolError, match="carries 1 data"):
        proto.split_reply(proto.Frame(0x81, b"\x01\x00"), Cmd.PING)


# ------------------------------------------------------------------------------------------
# Payloads


@pytest.mark.parametrize("cfg", [CFG, WIDE])
def test_geometry(cfg: Config) -> None:
    assert proto.event_bytes(cfg) in (1, 2, 4)
    assert 8 * proto.event_bytes(cfg) >= index_bits(cfg) + cfg.time_bits
    for region in HostRegion:
        assert 8 * proto.word_bytes(cfg, region) >= proto.word_bits(cfg, region)
        assert proto.word_bytes(cfg, region) <= proto.max_word_bytes(cfg)
    mp = proto.default_max_payload(cfg)
    assert mp >= 1 + cfg.n_inputs * proto.event_bytes(cfg) and mp & (mp - 1) == 0
    assert proto.regs_bytes(cfg) == -(-regs_layout(cfg).size // 8)


def test_event_words() -> None:
    assert proto.event_bytes(CFG) == 1  # 4 index bits + 4 time bits
    assert proto.pack_events(CFG, [(3, 5)]) == bytes([5 | 3 << 4])
    assert proto.event_bytes(WIDE) == 2  # 10 + 5 bits
    assert proto.pack_events(WIDE, [(15, 783)]) == (783 | 15 << 10).to_bytes(2, "little")
    with pytest.raises(ValueError, match="does not fit"):
        proto.pack_events(CFG, [(16, 0)])
    with pytest.raises(proto.ProtocolError, match="multiple"):
        proto.unpack_events(WIDE, b"\x00")


@given(st.lists(st.tuples(st.integers(0, 16), st.integers(0, 1023)), max_size=50))
def test_events_round_trip(events: list[tuple[int, int]]) -> None:
    assert proto.unpack_events(WIDE, proto.pack_events(WIDE, events)) == events


def test_run_payload_and_reply() -> None:
    assert proto.encode_run(CFG, [(0, 1), (2, 3)], learn=True) == bytes([1, 0x01, 0x23])
    rep = proto.RunReply(last_step=5, prediction=7, label=3, error=2, spikes=[(1, 7), (5, 0)])
    data = rep.pack(CFG)
    assert data[:7] == struct.pack("<BHBBH", 5, 7, 3, 2, 2)
    assert proto.RunReply.unpack(CFG, data) == rep
    with pytest.raises(proto.ProtocolError, match="announces 2"):
        proto.RunReply.unpack(CFG, data[:-1])
    with pytest.raises(proto.ProtocolError, match="header"):
        proto.RunReply.unpack(CFG, data[:3])


@pytest.mark.parametrize("cfg", [CFG, WIDE])
@pytest.mark.parametrize("learn", [False, True])
def test_regs_round_trip(cfg: Config, learn: bool) -> None:
    values = regs_value(cfg.replace(a_minus=-77, leak_shift=3), learn=learn)
    packed = proto.pack_regs(cfg, values)
    assert len(packed) == proto.regs_bytes(cfg)
    assert proto.unpack_regs(cfg, packed) == values
    word = int.from_bytes(packed, "little")
    layout = regs_layout(cfg)
    assert word >> layout["threshold"].offset & 0xFFFF == cfg.threshold
    assert word & 1 == learn


def test_regs_checked() -> None:
    values = regs_value(CFG, learn=False)
    with pytest.raises(ValueError, match="missing"):
        proto.pack_regs(CFG, {k: v for k, v in values.items() if k != "learn"})
    with pytest.raises(ValueError, match="does not fit"):
        proto.pack_regs(CFG, {**values, "threshold": 1 << 16})


def test_build_info() -> None:
    info = proto.BuildInfo.from_config(WIDE, max_payload=2048)
    data = info.pack()
    assert len(data) == 19 and data[0] == proto.PROTOCOL_VERSION and data[17] == 1
    assert data[18] == WIDE.row_word_bits
    assert struct.unpack_from("<H", data, 1)[0] == 784
    assert proto.BuildInfo.unpack(data) == info
    assert info.mismatches(WIDE) == []
    wrong = info.mismatches(WIDE.replace(n_neurons=128, lanes=8))
    assert [w.split(":")[0] for w in wrong] == ["n_neurons", "lanes"]
    # a bitstream without the regrowth unit is not the one a config with it expects
    assert info.mismatches(WIDE.replace(regrow_unit=False)) == [
        "regrow_unit: board 1, config 0"]
    assert proto.BuildInfo.from_config(WIDE.replace(regrow_unit=False),
                                       max_payload=2048).pack()[17] == 0
    # nor is a bitstream whose row masks are split otherwise (the ROW_MASK layout differs)
    assert info.mismatches(WIDE.replace(row_word_bits=16)) == [
        f"row_word_bits: board {WIDE.row_word_bits}, config 16"]
    with pytest.raises(proto.ProtocolError, match="19"):
        proto.BuildInfo.unpack(data[:-1])


def test_link_status() -> None:
    st_ = proto.LinkStatus(2, proto.LinkFlag.READY | proto.LinkFlag.BAD_FRAME, 9, 3)
    assert st_.pack() == bytes([2, 0x09, 9, 3])
    assert proto.LinkStatus.unpack(st_.pack()) == st_


def test_mem_payloads() -> None:
    data = proto.encode_write_mem(CFG, HostRegion.ADAPT, 1, 2, [0x123, 0xFFF])
    assert data == bytes([3, 1, 0, 2, 0, 0, 0, 2, 0, 0x23, 0x01, 0xFF, 0x0F])
    assert proto.decode_words(CFG, HostRegion.ADAPT, data[9:]) == [0x123, 0xFFF]
    with pytest.raises(ValueError, match="does not fit"):
        proto.encode_write_mem(CFG, HostRegion.ADAPT, 0, 0, [1 << 12])
    with pytest.raises(proto.ProtocolError, match="whole number"):
        proto.decode_words(CFG, HostRegion.COUNTER, b"\x00" * 5)


# ------------------------------------------------------------------------------------------
# Hardware: CRC network, frame parser, reply path


def test_crc8_next_matches_python() -> None:
    crc, byte = Signal(8), Signal(8)
    out = Signal(8)
    m = Module()
    m.d.comb += out.eq(crc8_next(crc, byte))

    async def bench(ctx: SimulatorContext) -> None:
        rng = np.random.default_rng(1)
        for c, b in [(0, 0), (0xFF, 0xFF), *rng.integers(0, 256, (200, 2)).tolist()]:
            ctx.set(crc, c)
            ctx.set(byte, b)
            assert ctx.get(out) == proto.crc8([b], c)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def run_parser(data: bytes, *, max_payload: int = 16, timeout: int = 50, spacing: int = 4,
               gap_after: int | None = None) -> list[tuple[int, int, Status, bytes]]:
    """Feed ``data`` (one byte every ``spacing`` cycles, as from a UART; a pause after byte
    ``gap_after``) to a FrameParser that is resumed right away; return (cmd, length, status,
    stored payload) per descriptor."""
    m = Module()
    m.submodules.parser = parser = FrameParser(max_payload=max_payload, timeout=timeout)
    m.submodules.buf = buf = Memory(shape=8, depth=max_payload, init=[])
    connect(m, parser.buf, buf.write_port())
    rd = buf.read_port(domain="comb")
    frames: list[tuple[int, int, Status, bytes]] = []

    async def feed(ctx: SimulatorContext) -> None:
        for k, b in enumerate(data):
            ctx.set(parser.bytes.valid, 1)
            ctx.set(parser.bytes.payload, b)
            await ctx.tick()
            ctx.set(parser.bytes.valid, 0)
            await ctx.tick().repeat(spacing - 1)
            if k == gap_after:
                ctx.set(parser.bytes.valid, 0)
                await ctx.tick().repeat(timeout + 5)
        ctx.set(parser.bytes.valid, 0)
        await ctx.tick().repeat(timeout + 5)

    async def take(ctx: SimulatorContext) -> None:
        ctx.set(parser.frame.ready, 1)
        ctx.set(parser.resume, 1)
        async for _, _, valid, payload in ctx.tick().sample(parser.frame.valid,
                                                             parser.frame.payload):
            if valid:
                stored = []
                for a in range(min(payload.length, max_payload)):
                    ctx.set(rd.addr, a)
                    stored.append(ctx.get(rd.data))
                frames.append((payload.cmd, payload.length, Status(payload.status),
                               bytes(stored)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_testbench(take, background=True)
    sim.run()
    return frames


def test_parser_good_frames_and_garbage() -> None:
    data = (b"\x00\x13garbage" + proto.encode_frame(Cmd.PING, b"hi") + b"\xff"
            + proto.encode_frame(Cmd.STATUS) + proto.encode_frame(0x42, bytes(range(16))))
    assert run_parser(data) == [(Cmd.PING, 2, Status.OK, b"hi"), (Cmd.STATUS, 0, Status.OK, b""),
                                (0x42, 16, Status.OK, bytes(range(16)))]


def test_parser_bad_crc_then_recovers() -> None:
    bad = bytearray(proto.encode_frame(Cmd.RUN, b"\x01\x02\x03"))
    bad[5] ^= 0x10
    frames = run_parser(bytes(bad) + proto.encode_frame(Cmd.PING, b"ok"))
    assert [(f[0], f[2]) for f in frames] == [(Cmd.RUN, Status.BAD_CRC), (Cmd.PING, Status.OK)]
    assert frames[1][3] == b"ok"


def test_parser_drains_too_long() -> None:
    long = proto.encode_frame(Cmd.WRITE_MEM, bytes([0xA5]) * 40)  # sync bytes inside: drained
    frames = run_parser(long + proto.encode_frame(Cmd.PING, b"x"), max_payload=16)
    assert [(f[0], f[1], f[2]) for f in frames] == [(Cmd.WRITE_MEM, 40, Status.TOO_LONG),
                                                     (Cmd.PING, 1, Status.OK)]


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 7])
def test_parser_timeout_in_frame(cut: int) -> None:
    """A frame cut short after ``cut`` bytes: TIMEOUT, then the next frame parses."""
    frame = proto.encode_frame(Cmd.READ_MEM, bytes(9))
    frames = run_parser(frame[:cut] + proto.encode_frame(Cmd.PING, b"z"), gap_after=cut - 1)
    assert [f[2] for f in frames] == [Status.TIMEOUT, Status.OK]
    assert frames[0][0] == (Cmd.READ_MEM if cut >= 2 else 0)
    assert frames[1][3] == b"z"


def test_parser_no_timeout_between_frames() -> None:
    """Silence outside a frame produces nothing."""
    frames = run_parser(b"\x00\x01" + proto.encode_frame(Cmd.INFO), gap_after=1)
    assert frames == [(Cmd.INFO, 0, Status.OK, b"")]


def test_reply_path_frames() -> None:
    """WordSerializer + ReplyFramer: a header and words of mixed sizes make a valid frame."""
    m = Module()
    m.submodules.ser = ser = WordSerializer(max_bytes=4)
    m.submodules.framer = framer = ReplyFramer()
    connect(m, ser.bytes, framer.data)
    words = [(Status.OK, 1), (0x04030201, 4), (0x0605, 2), (0x070809, 3)]
    out: list[int] = []

    async def source(ctx: SimulatorContext) -> None:
        for cmd, chunk in ((0x85, words), (0x81, [(Status.BAD_ARG, 1)])):
            ctx.set(framer.header.payload, {"cmd": cmd, "length": sum(n for _, n in chunk)})
            ctx.set(framer.header.valid, 1)
            await ctx.tick().until(framer.header.ready)
            ctx.set(framer.header.valid, 0)
            for value, n in chunk:
                ctx.set(ser.words.payload, {"data": value, "nbytes": n})
                ctx.set(ser.words.valid, 1)
                await ctx.tick().until(ser.words.ready)
            ctx.set(ser.words.valid, 0)
        await ctx.tick().repeat(30)

    async def sink(ctx: SimulatorContext) -> None:
        ctx.set(framer.bytes.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(framer.bytes.valid,
                                                             framer.bytes.payload):
            if valid:
                out.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink, background=True)
    sim.run()
    first, used = proto.decode_frame(bytes(out))
    assert first == proto.Frame(0x85, bytes([0, 1, 2, 3, 4, 5, 6, 9, 8, 7]))
    second, _ = proto.decode_frame(bytes(out[used:]))
    assert proto.split_reply(second, Cmd.PING) == (Status.BAD_ARG, b"")


def test_serial_transport_loopback() -> None:
    """SerialTransport over pyserial's loop:// URL: what is written comes back."""
    t = SerialTransport("loop://", 115_200, default_timeout=0.2)
    try:
        assert t.byte_time == pytest.approx(10 / 115_200)
        t.write(b"\xa5\x01\x00\x00")
        assert t.read(4, 0.2) == b"\xa5\x01\x00\x00"
        t.write(b"stale")
        t.flush_input()
        assert t.read(1, 0.01) == b""
    finally:
        t.close()
    with pytest.raises(ValueError, match="baud"):
        SerialTransport("loop://", 0)
