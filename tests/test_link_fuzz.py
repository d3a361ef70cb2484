"""The link never wedges: garbage, malformed frames and line noise sent to ``LinkTop`` (with the
real core) get error replies or are ignored, and afterwards a correct request gets the right
answer. Seeded and bounded; the long random campaign is marked slow."""

from __future__ import annotations

import numpy as np
import pytest

from synaprune.boards import protocol as proto
from synaprune.boards.host import Board
from synaprune.boards.protocol import Cmd, Status
from synaprune.boards.sim_transport import SimTransport
from synaprune.hw.layouts import HostRegion
from synaprune.model.config import Config

CFG = Config(n_inputs=16, image_shape=(4, 4), n_neurons=8, lanes=2, time_steps=8,
             col_word_bits=8, threshold=500)


# the core on the link's clock, and on a faster clock of its own behind CoreBridge
@pytest.fixture(scope="module", params=[None, 2.3e6], ids=["one_clock", "core_clock"])
def board(request: pytest.FixtureRequest) -> Board:
    with Board(SimTransport(CFG, core_clk_freq=request.param), cfg=CFG) as b:
        yield b


def exchange(board: Board, data: bytes) -> list[tuple[int, Status]]:
    """Send raw bytes, wait until the board must have answered (or timed out the frame), and
    return (command byte, status) of every reply frame that came back."""
    t = board.transport
    t.flush_input()
    t.write(data)
    t.idle(t.link_timeout + 48 * t.byte_time)
    buf = t.read(1 << 20, 0)
    replies = []
    while buf:
        frame, used = proto.decode_frame(buf)
        replies.append((frame.cmd, Status(frame.payload[0])))
        buf = buf[used:]
    return replies


def assert_link_works(board: Board, rng: np.random.Generator) -> None:
    """A PING echoes, labels written come back, the core is idle."""
    data = rng.integers(0, 256, int(rng.integers(0, 24)), dtype=np.uint8).tobytes()
    assert board.ping(data) == data
    labels = rng.integers(0, 15, CFG.n_neurons)
    board.write_mem(HostRegion.LABEL, 0, 0, labels)
    assert (board.read_mem(HostRegion.LABEL, 0, 0, CFG.n_neurons) == labels).all()
    assert board.status().flags & proto.LinkFlag.READY


def test_garbage_then_requests(board: Board) -> None:
    rng = np.random.default_rng(1)
    garbage = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()
    board.transport.write(garbage)
    board.resync()
    assert_link_works(board, rng)


def corrupt(frame: bytes, pos: int) -> bytes:
    out = bytearray(frame)
    out[pos] ^= 0x5A
    return bytes(out)


def test_malformed_frames_get_error_replies(board: Board) -> None:
    board.clear()
    max_payload = board.info().max_payload
    ping = proto.encode_frame(Cmd.PING, b"abc")
    cases = [
        (corrupt(ping, 5), [(0x81, Status.BAD_CRC)]),  # payload byte
        (corrupt(ping, 7), [(0x81, Status.BAD_CRC)]),  # CRC byte
        (corrupt(ping, 1), [(0x81 ^ 0x5A, Status.BAD_CRC)]),  # command byte
        (ping[:6], [(0x81, Status.TIMEOUT)]),  # truncated payload
        (ping[:3], [(0x81, Status.TIMEOUT)]),  # truncated header
        (b"\xa5", [(0x80, Status.TIMEOUT)]),  # a lone sync byte
        (b"\xa5\x01\xff\xff" + bytes(20), [(0x81, Status.TIMEOUT)]),  # too long, then silence
        (proto.encode_frame(Cmd.PING, bytes(max_payload + 1)), [(0x81, Status.TOO_LONG)]),
        (proto.encode_frame(Cmd.INFO, b"\x00"), [(0x82, Status.BAD_LENGTH)]),
        (proto.encode_frame(Cmd.READ_MEM, bytes(5)), [(0x85, Status.BAD_LENGTH)]),
        (proto.encode_frame(Cmd.RUN), [(0x86, Status.BAD_LENGTH)]),
        (proto.encode_frame(0x55, b"zz"), [(0xD5, Status.UNKNOWN_CMD)]),
        (proto.encode_frame(Cmd.READ_MEM, proto.encode_mem_header(HostRegion.WEIGHT, 9, 0, 1)),
         [(0x85, Status.BAD_ARG)]),
        (b"\x00\x5a\xff" + ping, [(0x81, Status.OK)]),  # garbage before a good frame
    ]
    n_bad = 0
    for data, expect in cases:
        assert exchange(board, data) == expect, data.hex()
        n_bad += sum(status != Status.OK for _, status in expect)
    status = board.status()
    assert status.bad_frames == n_bad
    assert status.flags == proto.LinkFlag.READY | proto.LinkFlag.BAD_FRAME
    board.clear()
    assert_link_works(board, np.random.default_rng(2))
    assert board.status().flags == proto.LinkFlag.READY


def test_break_sets_rx_error(board: Board) -> None:
    board.clear()
    board.transport.send_break(3 * board.transport.byte_time)
    board.resync()
    assert board.status().flags == proto.LinkFlag.READY | proto.LinkFlag.RX_ERROR
    assert_link_works(board, np.random.default_rng(3))
    board.clear()
    assert board.status().flags == proto.LinkFlag.READY


def test_request_while_busy_is_dropped(board: Board) -> None:
    """The board answers one request at a time: a second frame sent before the first reply is
    ignored (the host must wait for each reply)."""
    one = proto.encode_frame(Cmd.PING, b"one")
    replies = exchange(board, one + proto.encode_frame(Cmd.PING, b"two"))
    assert replies == [(0x81, Status.OK)]
    assert_link_works(board, np.random.default_rng(4))


def random_mess(rng: np.random.Generator, max_payload: int) -> bytes:
    """A few frames of random commands and payloads, most of them damaged, and garbage."""
    out = bytearray()
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(5)
        cmd = int(rng.choice([*map(int, Cmd), int(rng.integers(256))]))
        payload = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
        frame = bytearray(proto.encode_frame(cmd, payload))
        if kind == 0:
            out += rng.integers(0, 256, int(rng.integers(1, 30)), dtype=np.uint8).tobytes()
        elif kind == 1:
            frame[int(rng.integers(1, len(frame)))] ^= int(rng.integers(1, 256))
            out += frame
        elif kind == 2:
            out += frame[:int(rng.integers(1, len(frame)))]
        elif kind == 3:
            length = int(rng.integers(max_payload - 8, 1 << 16))
            out += bytes([proto.SYNC, cmd]) + length.to_bytes(2, "little") + payload
        else:
            out += frame
    return bytes(out)


@pytest.mark.slow
def test_random_fuzz_campaign(board: Board) -> None:
    rng = np.random.default_rng(2024)
    max_payload = board.info().max_payload
    for _ in range(25):
        board.transport.write(random_mess(rng, max_payload))
        board.resync()
        assert_link_works(board, rng)
