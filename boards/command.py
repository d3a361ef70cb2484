"""The board's command unit: it turns request frames from the UART into host-port accesses and
event streams of the core, and sends one reply frame per request (``docs/host_protocol.md``).

Four parts, chained by ``lib.stream`` interfaces::

    rx bytes -> FrameParser -> payload buffer + frame descriptor -> Executor
    Executor -> reply header + words -> WordSerializer -> ReplyFramer -> tx bytes

Two of them lend the executor a register while they would be idle: the parser's inter-byte timer
is the executor's watchdog while a frame executes, and the serializer's shift register assembles
the executor's payload words before the reply starts.

The parser stores a frame's payload in a buffer and checks its CRC before the executor sees it,
so a damaged request is never executed. The unit handles one request at a time: bytes that arrive
while a request executes or its reply is sent are discarded. A frame that stops arriving for
``timeout`` cycles is answered with ``Status.TIMEOUT``; a frame longer than the buffer is drained
and answered with ``Status.TOO_LONG``; every wait on the core is bounded by ``watchdog`` cycles
without progress (``Status.CORE_TIMEOUT``). So the link never wedges.

The unit has to fit an iCE40 UP5K next to the core, so it is written for size: registers that a
state machine initialises before they are used are reset-less (an iCE40 flip-flop has one
reset input, and a domain reset on top of a state's own initialisation costs a LUT per bit),
and no register has an initial value other than 0 (iCE40 flip-flops power up at 0; other
values cost inverters).
"""

from __future__ import annotations

import struct
from functools import reduce
from operator import xor

from amaranth import Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out, connect, flipped
from amaranth.utils import ceil_log2, exact_log2

from ..hw.layouts import (
    LABEL_BITS,
    EventKind,
    HostRegion,
    event_signature,
    host_signature,
    index_bits,
    regs_layout,
    regs_value,
)
from ..model.config import Config
from .protocol import (
    CRC_POLY,
    MAX_LENGTH,
    MEM_HEADER,
    MEM_HEADER_BYTES,
    REPLY_FLAG,
    RUN_HEADER,
    SYNC,
    BuildInfo,
    Cmd,
    LinkFlag,
    LinkStatus,
    Status,
    default_max_payload,
    event_bytes,
    max_word_bytes,
    region_depth,
    region_laned,
    region_readable,
    regs_bytes,
    word_bytes,
)

FRAME_LAYOUT = data.StructLayout({"cmd": 8, "length": 16, "status": Status})
REPLY_HEADER_LAYOUT = data.StructLayout({"cmd": 8, "length": 16})


def _struct_fields(fmt: struct.Struct) -> tuple[tuple[int, int], ...]:
    """(offset, bytes) of each field of a packed ``struct`` format such as ``"<BHIH"``."""
    fields, offset = [], 0
    for code in fmt.format[1:]:
        size = struct.calcsize("<" + code)
        fields.append((offset, size))
        offset += size
    return tuple(fields)


MEM_HEADER_FIELDS = _struct_fields(MEM_HEADER)  # region, lane, addr, count


def word_layout(max_bytes: int) -> data.StructLayout:
    """A little-endian word of 1..max_bytes bytes for ``WordSerializer``."""
    return data.StructLayout({"data": 8 * max_bytes, "nbytes": range(max_bytes + 1)})


def crc8_next(crc: Value, byte: Value) -> Value:
    """The CRC-8 (poly 0x07) register after one more byte: an XOR network (CRC is linear)."""
    def step(c: int) -> int:
        for _ in range(8):
            c = ((c << 1) ^ CRC_POLY) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        return c

    x = Value.cast(crc) ^ Value.cast(byte)
    cols = [step(1 << i) for i in range(8)]
    return Cat(*(reduce(xor, [x[i] for i in range(8) if (cols[i] >> j) & 1]) for j in range(8)))


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    return value


def check_config(cfg: object) -> Config:
    """``cfg`` validated, or ``TypeError`` / ``ValueError`` if the link cannot carry it."""
    if not isinstance(cfg, Config):
        raise TypeError(f"cfg must be a Config, not {type(cfg).__name__}")
    cfg.validate()
    if index_bits(cfg) > 16:
        raise ValueError(f"{cfg.n_inputs} inputs / {cfg.n_neurons} neurons need more than 16 "
                         f"index bits, which the protocol does not carry")
    return cfg


def _check_max_payload(cfg: Config, max_payload: int | None) -> int:
    if max_payload is None:
        return default_max_payload(cfg)
    _positive_int("max_payload", max_payload)
    least = max(regs_bytes(cfg), MEM_HEADER_BYTES + max_word_bytes(cfg))
    if not least <= max_payload <= MAX_LENGTH:
        raise ValueError(f"max_payload must be in {least}..{MAX_LENGTH}, not {max_payload}")
    return max_payload


class FrameParser(wiring.Component):
    """Finds request frames in the received bytes and stores their payload.

    ``bytes`` is always ready. The payload goes to ``buf`` (byte i at address i); after the CRC
    byte, ``frame`` offers the command, length and a status: OK, BAD_CRC, TOO_LONG (payload
    longer than ``max_payload``: drained, not stored) or TIMEOUT (no byte for ``timeout`` cycles
    inside a frame). A frame with status OK has ``length <= max_payload``. After the descriptor is
    taken, ``frame.payload`` keeps it and the parser ignores bytes until ``resume`` is high (the
    executor is idle again), then looks for the next sync byte.

    While it holds a descriptor the parser's timer is otherwise idle, so it serves as the
    executor's watchdog then (one counter instead of two): it counts the cycles in which ``wait``
    is high and ``kick`` low, restarts otherwise, and ``waited_out`` is high once it has counted
    ``watchdog`` cycles (default: ``timeout``). It sees ``wait`` and ``kick`` a cycle late, so
    ``waited_out`` rises ``watchdog`` + 1 cycles after the last progress.
    """

    def __init__(self, *, max_payload: int, timeout: int, watchdog: int | None = None) -> None:
        self.max_payload = _positive_int("max_payload", max_payload)
        self.timeout = _positive_int("timeout", timeout)
        self.watchdog = timeout if watchdog is None else _positive_int("watchdog", watchdog)
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "buf": In(WritePort.Signature(addr_width=ceil_log2(max_payload), shape=8)),
            "frame": Out(stream.Signature(FRAME_LAYOUT)),
            "resume": In(1),
            "wait": In(1),
            "kick": In(1),
            "waited_out": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        byte, got = self.bytes.payload, self.bytes.valid
        m.d.comb += self.bytes.ready.eq(1)

        # Reset-less: SYNC initialises what needs it (see the module docstring).
        cmd = Signal(8, reset_less=True)
        length = Signal(16, reset_less=True)
        count = Signal(16, reset_less=True)  # payload bytes received (a drained frame is long)
        count_next = Signal(16, reset_less=True)  # count + 1, kept so the last-byte test is
        # an equality of registers, not an adder and a compare in series
        crc = Signal(8, reset_less=True)
        status = Signal(Status, reset_less=True)
        # The timer counts up from 2**w - limit, so its top bit rises after exactly `limit`
        # cycles: no comparator. (Not the init value: flip-flops power up at 0.)
        w = max(self.timeout, self.watchdog).bit_length()
        timer = Signal(w + 1, reset_less=True)
        expired = Signal()
        m.d.comb += [self.frame.payload.eq(Cat(cmd, length, status)),
                     expired.eq(~got & timer[w]),
                     self.buf.addr.eq(count), self.buf.data.eq(byte)]

        with m.FSM() as fsm:
            def timed() -> None:
                with m.If(expired):
                    m.d.sync += status.eq(Status.TIMEOUT)
                    m.next = "EMIT"

            with m.State("SYNC"):
                m.d.sync += [cmd.eq(0), length.eq(0), count.eq(0), count_next.eq(1), crc.eq(0),
                             status.eq(Status.OK)]
                with m.If(got & (byte == SYNC)):
                    m.next = "CMD"
            with m.State("CMD"):
                with m.If(got):
                    m.d.sync += cmd.eq(byte)
                    m.next = "LEN0"
                timed()
            with m.State("LEN0"):
                with m.If(got):
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LEN1"
                timed()
            with m.State("LEN1"):
                full = Cat(length[:8], byte)
                with m.If(got):
                    m.d.sync += length[8:].eq(byte)
                    with m.If(full > self.max_payload):
                        m.d.sync += status.eq(Status.TOO_LONG)
                    m.next = "PAYLOAD"
                    with m.If(full == 0):
                        m.next = "CRC"
                timed()
            with m.State("PAYLOAD"):
                # A TOO_LONG payload is drained: counted, not stored.
                with m.If(got):
                    m.d.comb += self.buf.en.eq(status == Status.OK)
                    m.d.sync += [count.eq(count_next), count_next.eq(count_next + 1)]
                    with m.If(count_next == length):
                        m.next = "CRC"
                timed()
            with m.State("CRC"):
                with m.If(got):
                    with m.If((status == Status.OK) & (byte != crc)):
                        m.d.sync += status.eq(Status.BAD_CRC)
                    m.next = "EMIT"
                timed()
            with m.State("EMIT"):
                m.d.comb += self.frame.valid.eq(1)
                with m.If(self.frame.ready):
                    m.next = "HOLD"
            with m.State("HOLD"), m.If(self.resume):
                m.next = "SYNC"

        # One CRC network for every byte inside a frame; after the CRC byte (and in a drained
        # frame) the register is no longer looked at.
        in_frame = Signal()
        m.d.comb += in_frame.eq(~fsm.ongoing("SYNC") & ~fsm.ongoing("EMIT") & ~fsm.ongoing("HOLD"))
        with m.If(got & in_frame):
            m.d.sync += crc.eq(crc8_next(crc, byte))
        # Holding a descriptor it is the executor's watchdog, otherwise the inter-byte timer.
        # `kick` and `wait` end the executor's deepest logic (the core's `ready` decides them),
        # so the watchdog sees them a cycle late, through `progress`; in the cycle after
        # progress the timer has not restarted yet, so `progress` also masks `waited_out`.
        holding = fsm.ongoing("HOLD")
        progress = Signal(reset_less=True)
        m.d.sync += progress.eq(self.kick | ~self.wait)
        restart = Mux(holding, progress, got | ~in_frame)
        with m.If(restart):
            m.d.sync += timer.eq(Mux(holding, 2**w - self.watchdog, 2**w - self.timeout))
        with m.Elif(~timer[w]):
            m.d.sync += timer.eq(timer + 1)
        m.d.comb += self.waited_out.eq(holding & timer[w] & ~progress)
        return m


class WordSerializer(wiring.Component):
    """Sends each ``words`` beat as ``nbytes`` bytes, least significant first (nbytes >= 1).

    While it has nothing to send, its shift register is lent out: each ``fill`` byte shifts in
    at the top, and ``word`` shows the register (so the executor assembles payload words in it
    and the unit needs one word register, not two). ``fill`` and ``words`` are not offered in
    the same cycle.
    """

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = _positive_int("max_bytes", max_bytes)
        super().__init__({
            "words": In(stream.Signature(word_layout(max_bytes))),
            "bytes": Out(stream.Signature(8)),
            "fill": In(stream.Signature(8)),
            "word": Out(8 * max_bytes),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shreg = Signal(8 * self.max_bytes, reset_less=True)
        left = Signal(range(self.max_bytes + 1))
        m.d.comb += [self.words.ready.eq(left == 0), self.bytes.valid.eq(left != 0),
                     self.bytes.payload.eq(shreg[:8]), self.fill.ready.eq(left == 0),
                     self.word.eq(shreg)]
        filled = self.fill.valid & self.fill.ready
        with m.If(self.words.valid & self.words.ready):
            m.d.sync += [shreg.eq(self.words.payload.data), left.eq(self.words.payload.nbytes)]
        with m.Elif(self.bytes.valid & self.bytes.ready | filled):
            m.d.sync += shreg.eq(Cat(shreg[8:], Mux(filled, self.fill.payload, 0)))
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += left.eq(left - 1)
        return m


class ReplyFramer(wiring.Component):
    """Wraps ``header.length`` bytes of ``data`` into a frame: sync, command, length, the data,
    CRC. The framer sends the sync, command and length bytes straight from the offered header
    and takes it with the last length byte; the next header is looked at only after the CRC
    byte has left. ``header.length`` must not exceed ``max_length``, which sizes the counter."""

    def __init__(self, *, max_length: int = MAX_LENGTH) -> None:
        self.max_length = _positive_int("max_length", max_length)
        super().__init__({
            "header": In(stream.Signature(REPLY_HEADER_LAYOUT)),
            "data": In(stream.Signature(8)),
            "bytes": Out(stream.Signature(8)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        head = self.header.payload
        left = Signal(range(self.max_length + 1), reset_less=True)  # data bytes still to pass
        crc = Signal(8, reset_less=True)
        # Bytes leave through a one-byte register, and the CRC folds in the registered byte as
        # it leaves, so the header and data multiplexers and the CRC network sit in different
        # cycles. The CRC byte waits until the last data byte has left (and been folded in).
        q_valid, q_in_crc = Signal(), Signal(reset_less=True)
        q_byte = Signal(8, reset_less=True)
        out = self.bytes
        m.d.comb += [out.valid.eq(q_valid), out.payload.eq(q_byte)]
        accept = ~q_valid | out.ready  # the register takes a byte this cycle if offered
        with m.If(out.ready):
            m.d.sync += q_valid.eq(0)

        def emit(value: Value, *, in_crc_: bool = True) -> Value:
            """Offer one byte; the returned condition is true when it is taken."""
            with m.If(accept):
                m.d.sync += [q_valid.eq(1), q_byte.eq(value), q_in_crc.eq(in_crc_)]
            return accept

        with m.FSM():
            with m.State("SYNC"), m.If(self.header.valid), \
                    m.If(emit(Const(SYNC, 8), in_crc_=False)):
                m.d.sync += crc.eq(0)
                m.next = "CMD"
            with m.State("CMD"), m.If(emit(head.cmd)):
                m.next = "LEN0"
            with m.State("LEN0"), m.If(emit(head.length[:8])):
                m.next = "LEN1"
            with m.State("LEN1"), m.If(emit(head.length[8:])):
                m.d.comb += self.header.ready.eq(1)
                m.d.sync += left.eq(head.length)
                m.next = "DATA"
            with m.State("DATA"):
                with m.If(left == 0), m.If(~q_valid), m.If(emit(crc, in_crc_=False)):
                    m.next = "SYNC"
                with m.Else():
                    m.d.comb += self.data.ready.eq(accept)
                    with m.If(self.data.valid), m.If(emit(self.data.payload)):
                        m.d.sync += left.eq(left - 1)
        with m.If(q_valid & out.ready & q_in_crc):
            m.d.sync += crc.eq(crc8_next(crc, q_byte))
        return m


class Executor(wiring.Component):
    """Executes one checked frame at a time against the core and produces its reply.

    Takes a descriptor from ``frame``; its payload must stay unchanged until ``idle`` is high
    again (``FrameParser`` holds it until ``resume``), and the payload bytes are in the buffer
    behind ``buf``. Drives the core's ``host`` port, ``to_core`` / ``from_core`` event streams and
    runtime ``regs``, and emits the reply as a ``header`` (command | 0x80, length) followed by
    exactly that many bytes as ``words``. ``idle`` is high while it waits for a frame.
    ``link_error`` is the OR of the sticky flags of ``LinkFlag`` (cleared by CLEAR).

    The watchdog is outside (``FrameParser``'s timer): ``wait`` is high while a state waits on the
    core, ``kick`` when the core makes progress, and ``waited_out`` says that the watchdog time
    has passed without progress. WRITE_MEM and RUN words are assembled in the serializer's
    register (``WordSerializer.fill`` and ``word``).

    Checks, in order: frame status, payload length, arguments (region, lane, address range),
    core idle (host ``ready``; else BUSY). WRITE_REGS loads the registers byte by byte while the
    core is idle. RUN replaces the ``learn`` register bit with its flag, streams the event words
    into the core followed by END (time T, index 0), collects the core's spikes until its END and
    replies with them (the first ``n_neurons`` spikes; a correct core sends no more).
    """

    def __init__(self, *, cfg: Config, max_payload: int) -> None:
        self._cfg = check_config(cfg)
        self.max_payload = _check_max_payload(cfg, max_payload)
        self.max_bytes = max_word_bytes(cfg)
        self.info = BuildInfo.from_config(cfg, max_payload=self.max_payload).pack()
        # The most data bytes a range of words can hold (what READ_MEM may reply).
        self._read_bytes = max(region_depth(cfg, r) * word_bytes(cfg, r) for r in HostRegion)
        # The longest reply payload (status byte and data): bounds `header.length`.
        self.max_reply = 1 + max(self.max_payload, len(self.info), LinkStatus.FORMAT.size,
                                 RUN_HEADER.size + cfg.n_neurons * event_bytes(cfg),
                                 min(self._read_bytes, MAX_LENGTH - 1))
        super().__init__({
            "frame": In(stream.Signature(FRAME_LAYOUT)),
            "buf": In(ReadPort.Signature(addr_width=ceil_log2(self.max_payload), shape=8)),
            "header": Out(stream.Signature(REPLY_HEADER_LAYOUT)),
            "words": Out(stream.Signature(word_layout(self.max_bytes))),
            "host": Out(host_signature(cfg)),
            "to_core": Out(event_signature(cfg)),
            "from_core": In(event_signature(cfg)),
            "regs": Out(regs_layout(cfg)),
            "core_error": In(2),
            "pred_label": In(LABEL_BITS),
            "rx_error": In(1),
            "idle": Out(1),
            "link_error": Out(1),
            "wait": Out(1),
            "kick": Out(1),
            "waited_out": In(1),
            "fill": Out(stream.Signature(8)),
            "word": In(8 * self.max_bytes),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._cfg
        ib, tb, eb = index_bits(cfg), cfg.time_bits, event_bytes(cfg)
        n_info = len(self.info)
        max_depth = max(region_depth(cfg, r) for r in HostRegion)
        ready = self.host.ready
        # The descriptor stays on `frame.payload` while the frame executes. A frame with status
        # OK is at most max_payload bytes long, so the checks look at those bits only.
        cmd, fstatus = self.frame.payload.cmd, self.frame.payload.status
        plen = self.frame.payload.length[:self.max_payload.bit_length()]
        # Once the checks have passed the command is one of `Cmd`, whose codes differ in their
        # low four bits: the decodes after the checks look at those only (a LUT each).
        op = cmd[:4]
        assert len({c & 0xF for c in Cmd}) == len(Cmd), "command codes alias in `op`"

        # --- payload bytes in order: while `fresh` is high, buf.data shows the byte at `ptr` ---
        # In the reply, `ptr` (rewound by HEADER) addresses the spike memory: the spikes of RUN,
        # and INFO's constant bytes, which are stored above the spikes (at `info_base`) so that
        # they need no constant table in logic.
        # The memories are addressed by the `ptr` register itself, not by its next value: the
        # decision to advance is the deepest logic of the unit, and it would otherwise continue
        # into the read address (and the spike memory's transparency compare). So the data
        # lags `ptr` by a cycle, and a state that uses it waits for `fresh` after each step.
        info_base = 1 << ceil_log2(cfg.n_neurons)
        ptr = Signal(range(max(self.max_payload, info_base + n_info) + 1), reset_less=True)
        ptr_inc = Signal.like(ptr)
        advance, rewind, rewind_info = Signal(), Signal(), Signal()
        fresh = Signal(reset_less=True)
        m.d.comb += ptr_inc.eq(ptr + 1)
        with m.If(rewind):
            m.d.sync += ptr.eq(Mux(rewind_info, info_base, 0))
        with m.Elif(advance):
            m.d.sync += ptr.eq(ptr_inc)
        m.d.sync += fresh.eq(~advance & ~rewind)
        m.d.comb += self.buf.addr.eq(ptr)
        byte = self.buf.data
        # the byte at `ptr` is the last to use: `end` is the index after it (IDLE loads the
        # payload length, or the memory header's for FETCH_MEM, which MEM_WAIT follows with the
        # payload length; HEADER loads the end of the reply's bytes: RUN's spikes, INFO's bytes).
        # Registered like the data, so valid whenever `fresh` is (every user waits for it, or
        # follows a state that did), and the states decide on a flag, not on a compare.
        at_last = Signal(reset_less=True)
        end = Signal.like(ptr, reset_less=True)
        m.d.sync += at_last.eq(ptr_inc == end)

        # IDLE registers the checks of the offered frame here; OK once they pass, and only a
        # watchdog expiry changes it after that.
        status = Signal(Status, reset_less=True)
        # The memory header is loaded into the host-port registers as it is fetched; `arg_bad`
        # collects the header bits that no valid request sets (a region beyond the register's
        # width, a lane, address or count too large for the memory map), so the registers need
        # only the map's widths; a region value inside the width that names no region is
        # refused by the range check (its depth is 0 and ``r_known`` low).
        # IDLE points them at the counters, for READ_COUNTERS and CLEAR. Reset-less, like the
        # other registers that IDLE or a later state initialises.
        region = Signal(Shape.cast(HostRegion).width, reset_less=True)
        lane = Signal(len(self.host.lane), reset_less=True)
        addr = Signal(range(max_depth + 1), reset_less=True)
        # words of a READ_MEM / WRITE_MEM still to go
        remaining = Signal(range(max_depth + 1), reset_less=True)
        arg_bad = Signal(reset_less=True)
        # a read gave up on the core: the rest of its reply is zeros
        failed = Signal(reset_less=True)
        # A WRITE_MEM word or a RUN event word is shifted into the serializer's register (idle
        # before the reply), `fills` bytes counted: a WRITE_MEM word is followed by zeros up to
        # the full register, which leaves it in the low bytes; an event word is read from the
        # top bytes, so that events reach the core every 2 * `eb` + 1 cycles (`eb` fills and
        # DELIVER, each step of `ptr` followed by a cycle that waits for `fresh`).
        fills = Signal(range(self.max_bytes), reset_less=True)
        event = self.word[8 * (self.max_bytes - eb):]
        m.d.comb += [self.host.region.eq(region), self.host.lane.eq(lane),
                     self.host.addr.eq(addr), self.host.wdata.eq(self.word),
                     self.to_core.payload.kind.eq(EventKind.SPIKE),  # RUN_END sends END
                     self.to_core.payload.time.eq(event[ib:ib + tb]),
                     self.to_core.payload.index.eq(event[:ib])]

        # --- watchdog (outside): cycles without progress while a state waits on the core ---
        kick, waiting, expired = self.kick, self.wait, self.waited_out

        # --- sticky link flags ---
        rx_dropped = Signal()
        core_timeout = Signal()
        bad_frames = Signal(8)
        clear_flags = Signal()
        with m.If(self.rx_error):
            m.d.sync += rx_dropped.eq(1)
        with m.If(clear_flags):
            m.d.sync += [rx_dropped.eq(0), core_timeout.eq(0), bad_frames.eq(0)]
        m.d.comb += self.link_error.eq(rx_dropped | core_timeout | (bad_frames != 0))
        flags = Signal(8)
        m.d.comb += flags.eq(Mux(self.host.ready, LinkFlag.READY, 0)
                             | Mux(rx_dropped, LinkFlag.RX_ERROR, 0)
                             | Mux(core_timeout, LinkFlag.CORE_TIMEOUT, 0)
                             | Mux(bad_frames != 0, LinkFlag.BAD_FRAME, 0))

        # --- spikes of the running sample ---
        ev_bits = ib + tb
        m.submodules.spikes = spikes = Memory(shape=max(ev_bits, 8), depth=info_base + n_info,
                                              init=[0] * info_base + list(self.info))
        sp_w = spikes.write_port()
        sp_r = spikes.read_port(transparent_for=(sp_w,))
        m.d.comb += sp_r.addr.eq(ptr)
        n_spikes = Signal(range(cfg.n_neurons + 1), reset_less=True)
        got_end = Signal(reset_less=True)
        last_step = Signal(8, reset_less=True)
        prediction = Signal(16, reset_less=True)
        # RUN_FLAGS to RUN_WAIT: a register that the transitions in and out of these states set
        # and clear, not a decode of the state (it enables the spike memory's write port)
        in_run = Signal()
        m.d.comb += self.from_core.ready.eq(1)  # output of a timed-out sample is discarded
        with m.If(self.from_core.valid & in_run):
            ev = self.from_core.payload
            m.d.comb += kick.eq(1)
            with m.If(ev.kind == EventKind.END):
                m.d.sync += [got_end.eq(1), last_step.eq(ev.time), prediction.eq(ev.index)]
            with m.Elif(n_spikes != cfg.n_neurons):
                m.d.comb += [sp_w.en.eq(1), sp_w.addr.eq(n_spikes),
                             sp_w.data.eq(Cat(ev.index, ev.time))]
                m.d.sync += n_spikes.eq(n_spikes + 1)

        # --- per-region constants of the memory map ---
        mask_bits = ceil_log2(self.max_bytes)
        r_shift = Signal(range(mask_bits + 1))  # log2 of the word bytes
        r_mask = Signal(mask_bits)  # word bytes - 1
        r_depth = Signal.like(addr)
        r_laned = Signal()
        r_known = Signal()  # the region value names a region
        r_readable = Signal()  # READ_MEM may read it (``protocol.region_readable``)
        with m.Switch(region):
            for reg in HostRegion:
                with m.Case(reg):
                    wbytes = word_bytes(cfg, reg)
                    m.d.comb += [r_shift.eq(exact_log2(wbytes)), r_mask.eq(wbytes - 1),
                                 r_depth.eq(region_depth(cfg, reg)),
                                 r_laned.eq(region_laned(reg)), r_known.eq(1),
                                 r_readable.eq(region_readable(reg))]
        # Data bytes of the words: once the range check passes, no more than `_read_bytes`.
        nbytes = Signal(range(self._read_bytes + 1))
        m.d.comb += nbytes.eq(remaining << r_shift)

        # --- the checks of CHECK, in the documented order ---
        len_ok = Signal()  # the length fits the command (WRITE_MEM / READ_MEM: the header fits)
        needs_core = Signal()  # BUSY unless the core is idle
        known = Signal(init=1)  # the command byte is one of `Cmd`
        with m.Switch(cmd):
            with m.Case(Cmd.PING):
                m.d.comb += len_ok.eq(1)
            with m.Case(Cmd.INFO, Cmd.STATUS):
                m.d.comb += len_ok.eq(plen == 0)
            with m.Case(Cmd.READ_COUNTERS, Cmd.CLEAR):
                m.d.comb += [len_ok.eq(plen == 0), needs_core.eq(1)]
            with m.Case(Cmd.WRITE_REGS):
                m.d.comb += [len_ok.eq(plen == regs_bytes(cfg)), needs_core.eq(1)]
            with m.Case(Cmd.WRITE_MEM, Cmd.READ_MEM):
                m.d.comb += len_ok.eq(plen >= MEM_HEADER_BYTES)
            with m.Case(Cmd.RUN):
                m.d.comb += [len_ok.eq((plen != 0) & (((plen - 1) & (eb - 1)) == 0)),
                             needs_core.eq(1)]
            with m.Default():
                m.d.comb += known.eq(0)
        check = Signal(Status)
        with m.If(fstatus != Status.OK):
            m.d.comb += check.eq(fstatus)
        with m.Elif(~known):
            m.d.comb += check.eq(Status.UNKNOWN_CMD)
        with m.Elif(~len_ok):
            m.d.comb += check.eq(Status.BAD_LENGTH)
        with m.Elif(needs_core & ~ready):
            m.d.comb += check.eq(Status.BUSY)

        # --- the checks of MEM_CHECK: arguments before length (see the protocol), then BUSY ---
        is_write, is_run = Signal(), Signal()
        m.d.comb += [is_write.eq(op == Cmd.WRITE_MEM), is_run.eq(op == Cmd.RUN)]
        # (IDLE looks at the whole command: it loads `end` before the checks)
        is_mem = (cmd == Cmd.WRITE_MEM) | (cmd == Cmd.READ_MEM)
        mem_check = Signal(Status)
        lane_ok = Mux(r_laned, lane < cfg.lanes, lane == 0)
        # The three conditions are registered every cycle (the range check is an adder and a
        # compare); MEM_WAIT gives them a cycle to see the whole header.
        args_bad, len_bad, too_big = Signal(), Signal(), Signal()
        m.d.sync += [
            args_bad.eq(arg_bad | ~r_known | (~is_write & ~r_readable) | ~lane_ok
                        | (addr + remaining > r_depth)),
            len_bad.eq(Mux(is_write, (plen - MEM_HEADER_BYTES)[:len(plen)] != nbytes,
                           plen != MEM_HEADER_BYTES)),
            too_big.eq(~is_write & (nbytes >= MAX_LENGTH)),
        ]
        with m.If(args_bad):
            m.d.comb += mem_check.eq(Status.BAD_ARG)
        with m.Elif(len_bad):
            m.d.comb += mem_check.eq(Status.BAD_LENGTH)
        with m.Elif(too_big):
            m.d.comb += mem_check.eq(Status.BAD_ARG)
        with m.Elif(~ready):
            m.d.comb += mem_check.eq(Status.BUSY)

        # --- reply length: everything it depends on is held while HEADER waits ---
        # The sum is registered, so that the framer's byte and counter multiplexers do not
        # continue its decodes, shift and adder; HEADER offers the header from its second cycle,
        # when the register has seen the state's final status.
        data_len = Signal(range(self.max_reply))  # the variable part of the reply data
        fixed_len = Signal(range(n_info + 2))  # the status byte and the fixed part of the data
        reply_len = Signal(range(self.max_reply + 1), reset_less=True)
        header_due = Signal()  # HEADER has waited its first cycle
        m.d.sync += reply_len.eq(data_len + fixed_len)
        m.d.comb += fixed_len.eq(1)
        with m.If(status == Status.OK), m.Switch(op):
            with m.Case(Cmd.PING):
                m.d.comb += data_len.eq(plen)
            with m.Case(Cmd.INFO):
                m.d.comb += fixed_len.eq(1 + n_info)
            with m.Case(Cmd.STATUS):
                m.d.comb += fixed_len.eq(1 + LinkStatus.FORMAT.size)
            with m.Case(Cmd.READ_MEM, Cmd.READ_COUNTERS):
                m.d.comb += data_len.eq(nbytes)
            with m.Case(Cmd.RUN):
                m.d.comb += [data_len.eq(n_spikes * eb), fixed_len.eq(1 + RUN_HEADER.size)]

        regs = Signal(regs_layout(cfg), reset_less=True)  # loaded after reset: see the end
        m.d.comb += self.regs.eq(regs)
        words = self.words

        def send(value: Value, nbytes: int | Value) -> Value:
            """Offer one reply word; the returned condition is true when it is taken."""
            m.d.comb += [words.valid.eq(1), words.payload.data.eq(value),
                         words.payload.nbytes.eq(nbytes)]
            return words.ready

        def give_up() -> None:
            m.d.sync += [status.eq(Status.CORE_TIMEOUT), core_timeout.eq(1), in_run.eq(0)]
            m.next = "HEADER"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.idle.eq(1), self.frame.ready.eq(1), rewind.eq(1)]
                m.d.sync += [failed.eq(0), arg_bad.eq(0), fills.eq(0), n_spikes.eq(0),
                             got_end.eq(0), region.eq(HostRegion.COUNTER), lane.eq(0), addr.eq(0),
                             remaining.eq(region_depth(cfg, HostRegion.COUNTER)), status.eq(check),
                             end.eq(Mux(is_mem, MEM_HEADER_BYTES, plen))]
                with m.If(self.frame.valid):
                    m.next = "CHECK"

            # CHECK decides on the registered checks (`status`): they are too deep to decide
            # the state in the same cycle.
            with m.State("CHECK"):
                m.next = "HEADER"  # PING, INFO, STATUS, READ_COUNTERS and every failed check
                with m.If(status == Status.OK), m.Switch(op):
                    with m.Case(Cmd.WRITE_REGS):
                        m.next = "FETCH_REGS"
                    with m.Case(Cmd.WRITE_MEM, Cmd.READ_MEM):
                        m.next = "FETCH_MEM"
                    with m.Case(Cmd.CLEAR):
                        m.next = "CLEAR"
                    with m.Case(Cmd.RUN):
                        m.d.sync += in_run.eq(1)
                        m.next = "RUN_FLAGS"

            # --- WRITE_REGS ---
            with m.State("FETCH_REGS"), m.If(fresh):
                m.d.comb += advance.eq(1)
                with m.Switch(ptr[:ceil_log2(regs_bytes(cfg))]):
                    for k in range(regs_bytes(cfg)):
                        with m.Case(k):
                            m.d.sync += Value.cast(regs)[8 * k:8 * k + 8].eq(byte)
                with m.If(at_last):
                    m.next = "HEADER"

            # --- WRITE_MEM / READ_MEM ---
            with m.State("FETCH_MEM"), m.If(fresh):
                m.d.comb += advance.eq(1)
                with m.Switch(ptr[:ceil_log2(MEM_HEADER_BYTES)]):
                    for target, (offset, size) in zip((region, lane, addr, remaining),
                                                      MEM_HEADER_FIELDS, strict=True):
                        for b in range(size):
                            with m.Case(offset + b):
                                keep = min(8, max(0, len(target) - 8 * b))
                                m.d.sync += target[8 * b:8 * b + keep].eq(byte)
                                with m.If(byte[keep:] != 0):
                                    m.d.sync += arg_bad.eq(1)
                with m.If(at_last):
                    m.next = "MEM_WAIT"
            with m.State("MEM_WAIT"):
                m.d.sync += end.eq(plen)
                m.next = "MEM_CHECK"
            with m.State("MEM_CHECK"):
                m.d.sync += status.eq(mem_check)
                m.next = "MEM_GO"
            with m.State("MEM_GO"):
                # The next state looks at the registered result of the checks, which are too
                # deep to decide it in the same cycle.
                m.next = "HEADER"
                with m.If((status == Status.OK) & is_write & (remaining != 0)):
                    m.next = "FETCH_WORD"

            # --- payload words: WRITE_MEM data words and RUN event words ---
            # The RUN flags byte has a state of its own, so that FETCH_WORD offers a fill byte
            # whenever `fresh` is high (the serializer's enables follow the offer).
            with m.State("RUN_FLAGS"), m.If(fresh):
                m.d.sync += regs.learn.eq(byte[0])
                m.d.comb += advance.eq(1)
                m.next = "FETCH_WORD"
                with m.If(at_last):
                    m.next = "RUN_END"
            with m.State("FETCH_WORD"), m.If(fresh):
                # Fill the word: its `mask` + 1 payload bytes, then (WRITE_MEM) zeros. After the
                # last fill DELIVER takes over with `ptr` still on the word's last payload byte.
                mask = Mux(is_run, eb - 1, r_mask)
                payload_byte = fills <= mask
                m.d.comb += [self.fill.valid.eq(1),
                             self.fill.payload.eq(Mux(payload_byte, byte, 0))]
                with m.If(self.fill.ready):
                    m.d.sync += fills.eq(fills + 1)
                    m.d.comb += advance.eq(payload_byte & (fills != mask))
                    with m.If(fills == Mux(is_run, eb - 1, self.max_bytes - 1)):
                        m.d.sync += fills.eq(0)
                        m.next = "DELIVER"
            with m.State("DELIVER"):
                # a word to the host port, or an event to the core
                m.d.comb += [waiting.eq(1), self.to_core.valid.eq(is_run)]
                with m.If(Mux(is_run, self.to_core.ready, ready)):
                    m.d.comb += [self.host.we.eq(~is_run), kick.eq(1), advance.eq(1)]
                    m.d.sync += addr.eq(addr + 1)  # (RUN does not use it)
                    m.next = "FETCH_WORD"
                    with m.If(at_last & is_run):
                        m.next = "RUN_END"
                    with m.Elif(at_last):
                        m.next = "HEADER"
                with m.Elif(expired):
                    give_up()

            def word_sent() -> None:
                m.d.sync += remaining.eq(remaining - 1)
                m.next = "RD_ISSUE"
                with m.If(remaining == 1):
                    m.next = "IDLE"

            # A read is issued only while the serializer is empty, so it takes the word in the
            # cycle the core returns it: no register holds read data.
            with m.State("RD_ISSUE"):
                with m.If(failed), m.If(send(0, r_mask + 1)):
                    word_sent()
                with m.Elif(words.ready):
                    m.d.comb += waiting.eq(1)
                    with m.If(ready):
                        m.d.comb += [self.host.re.eq(1), kick.eq(1)]
                        m.next = "RD_WAIT"
                    with m.Elif(expired):
                        m.d.sync += [failed.eq(1), core_timeout.eq(1)]
            with m.State("RD_WAIT"):
                m.d.comb += waiting.eq(1)
                with m.If(self.host.rvalid):
                    send(self.host.rdata, r_mask + 1)
                    m.d.comb += kick.eq(1)
                    m.d.sync += addr.eq(addr + 1)
                    word_sent()
                with m.Elif(expired):
                    m.d.sync += [failed.eq(1), core_timeout.eq(1)]
                    m.next = "RD_ISSUE"

            # --- CLEAR ---
            with m.State("CLEAR"):
                m.d.comb += waiting.eq(1)
                with m.If(ready):
                    m.d.comb += [self.host.we.eq(1), clear_flags.eq(1)]
                    m.next = "HEADER"
                with m.Elif(expired):
                    give_up()

            # --- RUN ---
            with m.State("RUN_END"):
                m.d.comb += waiting.eq(1)
                m.d.comb += [self.to_core.valid.eq(1),
                             self.to_core.payload.kind.eq(EventKind.END),
                             self.to_core.payload.time.eq(cfg.never),
                             self.to_core.payload.index.eq(0)]
                with m.If(self.to_core.ready):
                    m.d.comb += kick.eq(1)
                    m.next = "RUN_WAIT"
                with m.Elif(expired):
                    give_up()
            with m.State("RUN_WAIT"):
                m.d.comb += waiting.eq(1)
                with m.If(got_end):
                    m.d.sync += in_run.eq(0)
                    m.next = "HEADER"
                with m.Elif(expired):
                    give_up()
            with m.State("RUN_HEAD"):
                label = Signal(8)
                m.d.comb += label.eq(self.pred_label)
                with m.If(send(Cat(last_step, prediction, label), 4)):
                    m.next = "RUN_HEAD2"
            with m.State("RUN_HEAD2"):
                err = Signal(8)
                count16 = Signal(16)
                m.d.comb += [err.eq(self.core_error), count16.eq(n_spikes)]
                with m.If(send(Cat(err, count16), 3)):
                    m.next = "RUN_SPIKES"
                    with m.If(n_spikes == 0):
                        m.next = "IDLE"
            with m.State("RUN_SPIKES"), m.If(fresh), m.If(send(sp_r.data, eb)):
                m.d.comb += advance.eq(1)
                with m.If(at_last):
                    m.next = "IDLE"

            # --- reply header, status byte and the other data ---
            with m.State("HEADER"):
                m.d.comb += [rewind.eq(1), rewind_info.eq(op == Cmd.INFO),
                             self.header.valid.eq(header_due),
                             self.header.payload.cmd.eq(cmd | REPLY_FLAG),
                             self.header.payload.length.eq(reply_len)]
                m.d.sync += [header_due.eq(1),
                             end.eq(Mux(is_run, n_spikes,
                                        Mux(op == Cmd.INFO, info_base + n_info, plen)))]
                with m.If(self.header.ready):
                    with m.If((status != Status.OK) & (bad_frames != 0xFF)):
                        m.d.sync += bad_frames.eq(bad_frames + 1)
                    m.d.sync += header_due.eq(0)
                    m.next = "STATUS_BYTE"
            with m.State("STATUS_BYTE"), m.If(send(status, 1)):
                m.next = "IDLE"
                with m.If(status == Status.OK), m.Switch(op):
                    with m.Case(Cmd.PING), m.If(plen != 0):
                        m.next = "ECHO"
                    with m.Case(Cmd.INFO):
                        m.next = "INFO_DATA"
                    with m.Case(Cmd.STATUS):
                        m.next = "STATUS_DATA"
                    with m.Case(Cmd.READ_MEM, Cmd.READ_COUNTERS), m.If(remaining != 0):
                        m.next = "RD_ISSUE"
                    with m.Case(Cmd.RUN):
                        m.next = "RUN_HEAD"
            with m.State("ECHO"), m.If(fresh), m.If(send(byte, 1)):
                m.d.comb += advance.eq(1)
                with m.If(at_last):
                    m.next = "IDLE"
            with m.State("INFO_DATA"), m.If(fresh), m.If(send(sp_r.data[:8], 1)):
                m.d.comb += advance.eq(1)
                with m.If(at_last):
                    m.next = "IDLE"
            with m.State("STATUS_DATA"):
                err = Signal(8)
                label = Signal(8)
                m.d.comb += [err.eq(self.core_error), label.eq(self.pred_label)]
                with m.If(send(Cat(err, flags, label, bad_frames), 4)):
                    m.next = "IDLE"

        # After reset the registers take the values of the configuration the bitstream was
        # built from. Loading them in the first cycle (into reset-less flip-flops, last so that
        # this assignment wins) rather than giving them initial values saves the inverters that
        # initial ones of 1 cost in iCE40 flip-flops.
        booted = Signal()
        m.d.sync += booted.eq(1)
        with m.If(~booted):
            m.d.sync += regs.eq(regs_layout(cfg).const(regs_value(cfg, learn=False)))

        return m


class CommandUnit(wiring.Component):
    """Frame parser, payload buffer, executor and reply path between two UART byte streams and
    the core's ports.

    ``rx`` takes received bytes (always ready), ``tx`` offers reply bytes; ``rx_error`` is the
    UART receiver's framing-error pulse. The core side (``host``, ``to_core``, ``from_core``,
    ``regs``, ``core_error``, ``pred_label``) connects to ``LayerCore``'s ports of the same
    meaning. ``busy`` is high while a request executes or its reply is sent; ``link_error`` is the
    sticky link-problem flag (see ``Executor``).
    """

    def __init__(self, *, cfg: Config, timeout: int, watchdog: int,
                 max_payload: int | None = None) -> None:
        self._cfg = check_config(cfg)
        self.max_payload = _check_max_payload(cfg, max_payload)
        self.timeout = _positive_int("timeout", timeout)
        self.watchdog = _positive_int("watchdog", watchdog)
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "rx_error": In(1),
            "host": Out(host_signature(cfg)),
            "to_core": Out(event_signature(cfg)),
            "from_core": In(event_signature(cfg)),
            "regs": Out(regs_layout(cfg)),
            "core_error": In(2),
            "pred_label": In(LABEL_BITS),
            "busy": Out(1),
            "link_error": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=self.max_payload, init=[])
        m.submodules.parser = parser = FrameParser(max_payload=self.max_payload,
                                                   timeout=self.timeout, watchdog=self.watchdog)
        m.submodules.executor = ex = Executor(cfg=self._cfg, max_payload=self.max_payload)
        m.submodules.serializer = ser = WordSerializer(max_bytes=ex.max_bytes)
        m.submodules.framer = framer = ReplyFramer(max_length=ex.max_reply)

        connect(m, flipped(self.rx), parser.bytes)
        wp = buf.write_port()
        connect(m, parser.buf, wp)
        connect(m, parser.frame, ex.frame)
        # The executor uses the data it reads only while the parser holds a frame (and writes
        # nothing), so transparency changes nothing; block RAM synthesis emulates it with less
        # logic than a read-before-write port.
        connect(m, ex.buf, buf.read_port(transparent_for=(wp,)))
        connect(m, ex.header, framer.header)
        connect(m, ex.words, ser.words)
        connect(m, ex.fill, ser.fill)
        connect(m, ser.bytes, framer.data)
        connect(m, framer.bytes, flipped(self.tx))
        connect(m, ex.host, flipped(self.host))
        connect(m, ex.to_core, flipped(self.to_core))
        connect(m, flipped(self.from_core), ex.from_core)
        m.d.comb += [
            parser.resume.eq(ex.idle),
            parser.wait.eq(ex.wait),
            parser.kick.eq(ex.kick),
            ex.waited_out.eq(parser.waited_out),
            ex.word.eq(ser.word),
            ex.rx_error.eq(self.rx_error),
            ex.core_error.eq(self.core_error),
            ex.pred_label.eq(self.pred_label),
            self.regs.eq(ex.regs),
            self.busy.eq(~ex.idle),
            self.link_error.eq(ex.link_error),
        ]
        return m
