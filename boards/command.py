"""The board's command unit: it turns request frames from the UART into host-port accesses and
event streams of the core, and sends one reply frame per request (``docs/host_protocol.md``).

Four parts, chained by ``lib.stream`` interfaces::

    rx bytes -> FrameParser -> payload buffer + frame descriptor -> Executor
    Executor -> reply header + words -> WordSerializer -> ReplyFramer -> tx bytes

The parser stores a frame's payload in a buffer and checks its CRC before the executor sees it,
so a damaged request is never executed. The unit handles one request at a time: bytes that arrive
while a request executes or its reply is sent are discarded. A frame that stops arriving for
``timeout`` cycles is answered with ``Status.TIMEOUT``; a frame longer than the buffer is drained
and answered with ``Status.TOO_LONG``; every wait on the core is bounded by ``watchdog`` cycles
without progress (``Status.CORE_TIMEOUT``). So the link never wedges.
"""

from __future__ import annotations

from functools import reduce
from operator import xor

from amaranth import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out, connect, flipped
from amaranth.utils import ceil_log2

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
    MEM_HEADER_BYTES,
    REPLY_FLAG,
    RUN_HEADER,
    SYNC,
    BuildInfo,
    Cmd,
    LinkFlag,
    Status,
    default_max_payload,
    event_bytes,
    max_word_bytes,
    region_depth,
    region_laned,
    regs_bytes,
    word_bytes,
)

FRAME_LAYOUT = data.StructLayout({"cmd": 8, "length": 16, "status": Status})
REPLY_HEADER_LAYOUT = data.StructLayout({"cmd": 8, "length": 16})


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
    inside a frame). After the descriptor is taken, the parser ignores bytes until ``resume`` is
    high (the executor is idle again), then looks for the next sync byte.
    """

    def __init__(self, *, max_payload: int, timeout: int) -> None:
        self.max_payload = _positive_int("max_payload", max_payload)
        self.timeout = _positive_int("timeout", timeout)
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "buf": In(WritePort.Signature(addr_width=ceil_log2(max_payload), shape=8)),
            "frame": Out(stream.Signature(FRAME_LAYOUT)),
            "resume": In(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        byte, got = self.bytes.payload, self.bytes.valid
        m.d.comb += self.bytes.ready.eq(1)

        cmd = Signal(8)
        length = Signal(16)
        count = Signal(16)
        crc = Signal(8)
        status = Signal(Status)
        timer = Signal(range(self.timeout + 1))
        m.d.comb += self.frame.payload.eq(Cat(cmd, length, status))

        with m.FSM() as fsm:
            def take(next_state: str) -> None:
                m.d.sync += crc.eq(crc8_next(crc, byte))
                m.next = next_state

            def timed() -> None:
                with m.If(~got & (timer == self.timeout)):
                    m.d.sync += status.eq(Status.TIMEOUT)
                    m.next = "EMIT"

            with m.State("SYNC"):
                m.d.sync += [cmd.eq(0), length.eq(0), crc.eq(0), status.eq(Status.OK)]
                with m.If(got & (byte == SYNC)):
                    m.next = "CMD"
            with m.State("CMD"):
                with m.If(got):
                    m.d.sync += cmd.eq(byte)
                    take("LEN0")
                timed()
            with m.State("LEN0"):
                with m.If(got):
                    m.d.sync += length[:8].eq(byte)
                    take("LEN1")
                timed()
            with m.State("LEN1"):
                full = Cat(length[:8], byte)
                with m.If(got):
                    m.d.sync += [length[8:].eq(byte), count.eq(0)]
                    with m.If(full > self.max_payload):
                        m.d.sync += status.eq(Status.TOO_LONG)
                        take("DRAIN")
                    with m.Elif(full == 0):
                        take("CRC")
                    with m.Else():
                        take("PAYLOAD")
                timed()
            with m.State("PAYLOAD"):
                with m.If(got):
                    m.d.comb += [self.buf.en.eq(1), self.buf.addr.eq(count),
                                 self.buf.data.eq(byte)]
                    m.d.sync += count.eq(count + 1)
                    m.d.sync += crc.eq(crc8_next(crc, byte))
                    with m.If(count == length - 1):
                        m.next = "CRC"
                timed()
            with m.State("DRAIN"):
                with m.If(got):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == length - 1):
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

        in_frame = Signal()
        m.d.comb += in_frame.eq(
            Cat(*(fsm.ongoing(s) for s in ("CMD", "LEN0", "LEN1", "PAYLOAD", "DRAIN", "CRC")))
            .any())
        with m.If(got | ~in_frame):
            m.d.sync += timer.eq(0)
        with m.Elif(timer != self.timeout):
            m.d.sync += timer.eq(timer + 1)
        return m


class WordSerializer(wiring.Component):
    """Sends each ``words`` beat as ``nbytes`` bytes, least significant first (nbytes >= 1)."""

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = _positive_int("max_bytes", max_bytes)
        super().__init__({
            "words": In(stream.Signature(word_layout(max_bytes))),
            "bytes": Out(stream.Signature(8)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shreg = Signal(8 * self.max_bytes)
        left = Signal(range(self.max_bytes + 1))
        m.d.comb += [self.words.ready.eq(left == 0), self.bytes.valid.eq(left != 0),
                     self.bytes.payload.eq(shreg[:8])]
        with m.If(self.words.valid & self.words.ready):
            m.d.sync += [shreg.eq(self.words.payload.data), left.eq(self.words.payload.nbytes)]
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += [shreg.eq(shreg >> 8), left.eq(left - 1)]
        return m


class ReplyFramer(wiring.Component):
    """Wraps ``header.length`` bytes of ``data`` into a frame: sync, command, length, the data,
    CRC. The next header is taken only after the CRC byte has left."""

    def __init__(self) -> None:
        super().__init__({
            "header": In(stream.Signature(REPLY_HEADER_LAYOUT)),
            "data": In(stream.Signature(8)),
            "bytes": Out(stream.Signature(8)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cmd = Signal(8)
        length = Signal(16)
        crc = Signal(8)
        out = self.bytes

        def emit(value: Value, *, in_crc: bool = True) -> Value:
            """Offer one byte; the returned condition is true when it is taken."""
            m.d.comb += [out.valid.eq(1), out.payload.eq(value)]
            if in_crc:
                with m.If(out.ready):
                    m.d.sync += crc.eq(crc8_next(crc, value))
            return out.ready

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.header.ready.eq(1)
                with m.If(self.header.valid):
                    m.d.sync += [cmd.eq(self.header.payload.cmd),
                                 length.eq(self.header.payload.length), crc.eq(0)]
                    m.next = "SYNC"
            with m.State("SYNC"), m.If(emit(Const(SYNC, 8), in_crc=False)):
                m.next = "CMD"
            with m.State("CMD"), m.If(emit(cmd)):
                m.next = "LEN0"
            with m.State("LEN0"), m.If(emit(length[:8])):
                m.next = "LEN1"
            with m.State("LEN1"), m.If(emit(length[8:])):
                m.next = "DATA"
                with m.If(length == 0):
                    m.next = "CRC"
            with m.State("DATA"):
                m.d.comb += [out.valid.eq(self.data.valid), out.payload.eq(self.data.payload),
                             self.data.ready.eq(out.ready)]
                with m.If(self.data.valid & out.ready):
                    m.d.sync += [crc.eq(crc8_next(crc, self.data.payload)), length.eq(length - 1)]
                    with m.If(length == 1):
                        m.next = "CRC"
            with m.State("CRC"), m.If(emit(crc, in_crc=False)):
                m.next = "IDLE"
        return m


class Executor(wiring.Component):
    """Executes one checked frame at a time against the core and produces its reply.

    Takes a descriptor from ``frame`` (payload in the buffer behind ``buf``), drives the core's
    ``host`` port, ``to_core`` / ``from_core`` event streams and runtime ``regs``, and emits the
    reply as a ``header`` (command | 0x80, length) followed by exactly that many bytes as
    ``words``. ``idle`` is high while it waits for a frame. ``link_error`` is the OR of the sticky
    flags of ``LinkFlag`` (cleared by CLEAR).

    Checks, in order: frame status, payload length, arguments (region, lane, address range),
    core idle (host ``ready``; else BUSY). RUN replaces the ``learn`` register bit with its flag,
    streams the event words into the core followed by END (time T, index 0), collects the
    core's spikes until its END and replies with them (the first ``n_neurons`` spikes; a correct
    core sends no more).
    """

    def __init__(self, *, cfg: Config, max_payload: int, watchdog: int) -> None:
        self._cfg = check_config(cfg)
        self.max_payload = _check_max_payload(cfg, max_payload)
        self.watchdog = _positive_int("watchdog", watchdog)
        self.max_bytes = max_word_bytes(cfg)
        self.info = BuildInfo.from_config(cfg, max_payload=self.max_payload).pack()
        super().__init__({
            "frame": In(stream.Signature(FRAME_LAYOUT)),
            "buf": In(ReadPort.Signature(addr_width=ceil_log2(self.max_payload), shape=8)),
            "header": Out(stream.Signature(REPLY_HEADER_LAYOUT)),
            "words": Out(stream.Signature(word_layout(self.max_bytes))),
            "host": Out(host_signature(cfg)),
            "to_core": Out(event_signature(cfg)),
            "from_core": In(event_signature(cfg)),
            "regs": Out(regs_layout(cfg), init=regs_value(cfg, learn=False)),
            "core_error": In(2),
            "pred_label": In(LABEL_BITS),
            "rx_error": In(1),
            "idle": Out(1),
            "link_error": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._cfg
        ib, tb, eb = index_bits(cfg), cfg.time_bits, event_bytes(cfg)
        acc_bytes = max(regs_bytes(cfg), MEM_HEADER_BYTES, self.max_bytes, eb)

        # --- payload bytes in order: buf.data always shows the byte at `ptr` ---
        ptr = Signal(range(self.max_payload + 1))
        ptr_next = Signal.like(ptr)
        advance, rewind = Signal(), Signal()
        m.d.comb += ptr_next.eq(Mux(rewind, 0, ptr + advance))
        m.d.sync += ptr.eq(ptr_next)
        m.d.comb += self.buf.addr.eq(ptr_next)
        byte = self.buf.data

        cmd = Signal(8)
        length = Signal(16)
        fstatus = Signal(Status)
        status = Signal(Status)  # of the reply
        rlen = Signal(16)  # reply data bytes after the status byte
        acc = Signal(8 * acc_bytes)  # payload bytes shift in at the top (see `fetched`)
        fidx = Signal(range(acc_bytes + 1))
        region = Signal(3)
        lane = Signal(16)
        addr = Signal(len(self.host.addr))
        remaining = Signal(16)
        wb = Signal(range(self.max_bytes + 1))  # bytes per word of `region`
        rword = Signal(len(self.host.rdata))
        failed = Signal()  # a read gave up on the core: the rest of its reply is zeros
        idx = Signal(range(max(len(self.info), 2)))

        # --- host port and regs ---
        def fetched(n: int) -> Value:
            """The last ``n`` bytes fetched, as a little-endian value."""
            return acc[8 * (acc_bytes - n):]

        word = fetched(self.max_bytes)
        header = fetched(MEM_HEADER_BYTES)
        m.d.comb += [self.host.region.eq(region), self.host.lane.eq(lane),
                     self.host.addr.eq(addr), self.host.wdata.eq(word)]

        # --- watchdog: cycles without progress while a state waits on the core ---
        wd = Signal(range(self.watchdog + 1))
        kick, waiting = Signal(), Signal()
        expired = Signal()
        m.d.comb += expired.eq(wd == self.watchdog)
        with m.If(kick | ~waiting):
            m.d.sync += wd.eq(0)
        with m.Elif(~expired):
            m.d.sync += wd.eq(wd + 1)

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
        m.submodules.spikes = spikes = Memory(shape=ev_bits, depth=cfg.n_neurons, init=[])
        sp_w = spikes.write_port()
        sp_r = spikes.read_port(transparent_for=(sp_w,))
        n_spikes = Signal(range(cfg.n_neurons + 1))
        sidx = Signal(range(cfg.n_neurons + 1))
        sp_advance = Signal()
        m.d.sync += sidx.eq(sidx + sp_advance)
        m.d.comb += sp_r.addr.eq(sidx + sp_advance)
        got_end = Signal()
        last_step = Signal(8)
        prediction = Signal(16)
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
        r_wb = Signal.like(wb)
        r_shift = Signal(range(ceil_log2(self.max_bytes) + 1))  # log2 of r_wb
        r_depth = Signal(32)
        r_laned = Signal()
        with m.Switch(header[:3]):
            for reg in HostRegion:
                with m.Case(reg):
                    m.d.comb += [r_wb.eq(word_bytes(cfg, reg)),
                                 r_shift.eq(ceil_log2(word_bytes(cfg, reg))),
                                 r_depth.eq(region_depth(cfg, reg)),
                                 r_laned.eq(region_laned(reg))]

        words = self.words

        def send(value: Value, nbytes: int | Value) -> Value:
            """Offer one reply word; the returned condition is true when it is taken."""
            m.d.comb += [words.valid.eq(1), words.payload.data.eq(value),
                         words.payload.nbytes.eq(nbytes)]
            return words.ready

        def reply(st: Status, n: int | Value = 0) -> None:
            m.d.sync += [status.eq(st), rlen.eq(n)]
            m.next = "HEADER"

        def give_up() -> None:
            m.d.sync += core_timeout.eq(1)
            reply(Status.CORE_TIMEOUT)

        def fetch(state: str, nbytes: int, next_state: str, *, real: Value | None = None
                  ) -> None:
            """Shift the next ``nbytes`` payload bytes into ``acc``; with ``real``, only that
            many come from the payload and zeros fill the rest."""
            with m.State(state):
                take = Signal(name=f"{state.lower()}_take")
                m.d.comb += take.eq(1 if real is None else fidx < real)
                m.d.comb += advance.eq(take)
                m.d.sync += [acc.eq(Cat(acc[8:], Mux(take, byte, 0))), fidx.eq(fidx + 1)]
                with m.If(fidx == nbytes - 1):
                    m.d.sync += fidx.eq(0)
                    m.next = next_state

        ready = self.host.ready
        n_info = len(self.info)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += [self.idle.eq(1), self.frame.ready.eq(1), rewind.eq(1)]
                m.d.sync += [failed.eq(0), fidx.eq(0), idx.eq(0)]
                with m.If(self.frame.valid):
                    m.d.sync += [cmd.eq(self.frame.payload.cmd),
                                 length.eq(self.frame.payload.length),
                                 fstatus.eq(self.frame.payload.status)]
                    m.next = "CHECK"

            with m.State("CHECK"):
                with m.If(fstatus != Status.OK):
                    reply(fstatus)
                with m.Else(), m.Switch(cmd):
                    with m.Case(Cmd.PING):
                        m.d.sync += remaining.eq(length)
                        reply(Status.OK, length)
                    with m.Case(Cmd.INFO):
                        with m.If(length != 0):
                            reply(Status.BAD_LENGTH)
                        with m.Else():
                            reply(Status.OK, n_info)
                    with m.Case(Cmd.STATUS):
                        with m.If(length != 0):
                            reply(Status.BAD_LENGTH)
                        with m.Else():
                            reply(Status.OK, 4)
                    with m.Case(Cmd.WRITE_REGS):
                        with m.If(length != regs_bytes(cfg)):
                            reply(Status.BAD_LENGTH)
                        with m.Elif(~ready):
                            reply(Status.BUSY)
                        with m.Else():
                            m.next = "FETCH_REGS"
                    with m.Case(Cmd.WRITE_MEM, Cmd.READ_MEM):
                        with m.If(length < MEM_HEADER_BYTES):
                            reply(Status.BAD_LENGTH)
                        with m.Else():
                            m.next = "FETCH_MEM"
                    with m.Case(Cmd.READ_COUNTERS):
                        with m.If(length != 0):
                            reply(Status.BAD_LENGTH)
                        with m.Elif(~ready):
                            reply(Status.BUSY)
                        with m.Else():
                            n = region_depth(cfg, HostRegion.COUNTER)
                            nb = word_bytes(cfg, HostRegion.COUNTER)
                            m.d.sync += [region.eq(HostRegion.COUNTER), lane.eq(0), addr.eq(0),
                                         remaining.eq(n), wb.eq(nb)]
                            reply(Status.OK, n * nb)
                    with m.Case(Cmd.CLEAR):
                        with m.If(length != 0):
                            reply(Status.BAD_LENGTH)
                        with m.Elif(~ready):
                            reply(Status.BUSY)
                        with m.Else():
                            m.d.sync += [region.eq(HostRegion.COUNTER), lane.eq(0), addr.eq(0)]
                            m.next = "CLEAR"
                    with m.Case(Cmd.RUN):
                        with m.If((length == 0) | (((length - 1) & (eb - 1)) != 0)):
                            reply(Status.BAD_LENGTH)
                        with m.Elif(~ready):
                            reply(Status.BUSY)
                        with m.Else():
                            m.next = "RUN_START"
                    with m.Default():
                        reply(Status.UNKNOWN_CMD)

            # --- WRITE_REGS ---
            fetch("FETCH_REGS", regs_bytes(cfg), "SET_REGS")
            with m.State("SET_REGS"):
                m.d.sync += self.regs.eq(fetched(regs_bytes(cfg))[:regs_layout(cfg).size])
                reply(Status.OK)

            # --- WRITE_MEM / READ_MEM ---
            fetch("FETCH_MEM", MEM_HEADER_BYTES, "MEM_CHECK")
            with m.State("MEM_CHECK"):
                a_lane, a_addr, a_count = header[8:24], header[24:56], header[56:72]
                nbytes = Signal(20)
                m.d.comb += nbytes.eq(a_count << r_shift)
                lane_ok = Mux(r_laned, a_lane < cfg.lanes, a_lane == 0)
                range_ok = (a_addr + a_count) <= r_depth
                m.d.sync += [region.eq(header[:3]), lane.eq(a_lane), addr.eq(a_addr),
                             remaining.eq(a_count), wb.eq(r_wb)]
                with m.If((header[:8] >= len(HostRegion)) | ~lane_ok | ~range_ok):
                    reply(Status.BAD_ARG)
                with m.Elif(cmd == Cmd.WRITE_MEM):
                    with m.If(length != MEM_HEADER_BYTES + nbytes):
                        reply(Status.BAD_LENGTH)
                    with m.Elif(~ready):
                        reply(Status.BUSY)
                    with m.Elif(a_count == 0):
                        reply(Status.OK)
                    with m.Else():
                        m.next = "WR_FETCH"
                with m.Else():
                    with m.If(length != MEM_HEADER_BYTES):
                        reply(Status.BAD_LENGTH)
                    with m.Elif(nbytes >= MAX_LENGTH):
                        reply(Status.BAD_ARG)
                    with m.Elif(~ready):
                        reply(Status.BUSY)
                    with m.Else():
                        reply(Status.OK, nbytes)
            fetch("WR_FETCH", self.max_bytes, "WR_STROBE", real=wb)
            with m.State("WR_STROBE"):
                m.d.comb += waiting.eq(1)
                with m.If(ready):
                    m.d.comb += [self.host.we.eq(1), kick.eq(1)]
                    m.d.sync += [addr.eq(addr + 1), remaining.eq(remaining - 1)]
                    with m.If(remaining == 1):
                        reply(Status.OK)
                    with m.Else():
                        m.next = "WR_FETCH"
                with m.Elif(expired):
                    give_up()
            with m.State("RD_ISSUE"):
                m.d.comb += waiting.eq(1)
                with m.If(failed):
                    m.d.sync += rword.eq(0)
                    m.next = "RD_SEND"
                with m.Elif(ready):
                    m.d.comb += [self.host.re.eq(1), kick.eq(1)]
                    m.next = "RD_WAIT"
                with m.Elif(expired):
                    m.d.sync += [failed.eq(1), core_timeout.eq(1)]
            with m.State("RD_WAIT"):
                m.d.comb += waiting.eq(1)
                with m.If(self.host.rvalid):
                    m.d.comb += kick.eq(1)
                    m.d.sync += [rword.eq(self.host.rdata), addr.eq(addr + 1)]
                    m.next = "RD_SEND"
                with m.Elif(expired):
                    m.d.sync += [failed.eq(1), core_timeout.eq(1), rword.eq(0)]
                    m.next = "RD_SEND"
            with m.State("RD_SEND"), m.If(send(rword, wb)):
                m.d.sync += remaining.eq(remaining - 1)
                m.next = "RD_ISSUE"
                with m.If(remaining == 1):
                    m.next = "IDLE"

            # --- CLEAR ---
            with m.State("CLEAR"):
                m.d.comb += waiting.eq(1)
                with m.If(ready):
                    m.d.comb += [self.host.we.eq(1), clear_flags.eq(1)]
                    reply(Status.OK)
                with m.Elif(expired):
                    give_up()

            # --- RUN ---
            with m.State("RUN_START"):
                m.d.comb += advance.eq(1)
                m.d.sync += [self.regs.learn.eq(byte[0]), n_spikes.eq(0), got_end.eq(0),
                             sidx.eq(0), remaining.eq((length - 1) >> ceil_log2(eb))]
                m.next = "RUN_FETCH"
                with m.If(length == 1):
                    m.next = "RUN_END"
            fetch("RUN_FETCH", eb, "RUN_EVENT")
            with m.State("RUN_EVENT"):
                m.d.comb += waiting.eq(1)
                m.d.comb += [self.to_core.valid.eq(1),
                             self.to_core.payload.kind.eq(EventKind.SPIKE),
                             self.to_core.payload.time.eq(fetched(eb)[ib:ib + tb]),
                             self.to_core.payload.index.eq(fetched(eb)[:ib])]
                with m.If(self.to_core.ready):
                    m.d.comb += kick.eq(1)
                    m.d.sync += remaining.eq(remaining - 1)
                    m.next = "RUN_FETCH"
                    with m.If(remaining == 1):
                        m.next = "RUN_END"
                with m.Elif(expired):
                    give_up()
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
                    reply(Status.OK, RUN_HEADER.size + n_spikes * eb)
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
            with m.State("RUN_SPIKES"), m.If(send(sp_r.data, eb)):
                m.d.comb += sp_advance.eq(1)
                with m.If(sidx == n_spikes - 1):
                    m.next = "IDLE"

            # --- reply header, status byte and the other data ---
            with m.State("HEADER"):
                m.d.comb += [self.header.valid.eq(1),
                             self.header.payload.cmd.eq(cmd | REPLY_FLAG),
                             self.header.payload.length.eq(rlen + 1)]
                with m.If(self.header.ready):
                    with m.If((status != Status.OK) & (bad_frames != 0xFF)):
                        m.d.sync += bad_frames.eq(bad_frames + 1)
                    m.next = "STATUS_BYTE"
            with m.State("STATUS_BYTE"), m.If(send(status, 1)):
                m.next = "IDLE"
                with m.If(status == Status.OK), m.Switch(cmd):
                    with m.Case(Cmd.PING), m.If(remaining != 0):
                        m.next = "ECHO"
                    with m.Case(Cmd.INFO):
                        m.next = "INFO_DATA"
                    with m.Case(Cmd.STATUS):
                        m.next = "STATUS_DATA"
                    with m.Case(Cmd.READ_MEM, Cmd.READ_COUNTERS), m.If(remaining != 0):
                        m.next = "RD_ISSUE"
                    with m.Case(Cmd.RUN):
                        m.next = "RUN_HEAD"
            with m.State("ECHO"), m.If(send(byte, 1)):
                m.d.comb += advance.eq(1)
                m.d.sync += remaining.eq(remaining - 1)
                with m.If(remaining == 1):
                    m.next = "IDLE"
            with m.State("INFO_DATA"):
                info = Const(int.from_bytes(self.info, "little"), 8 * n_info)
                with m.If(send(info.word_select(idx, 8), 1)):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == n_info - 1):
                        m.next = "IDLE"
            with m.State("STATUS_DATA"):
                err = Signal(8)
                label = Signal(8)
                m.d.comb += [err.eq(self.core_error), label.eq(self.pred_label)]
                with m.If(send(Cat(err, flags, label, bad_frames), 4)):
                    m.next = "IDLE"

        m.d.comb += in_run.eq(Cat(*(fsm.ongoing(s) for s in
                                    ("RUN_FETCH", "RUN_EVENT", "RUN_END", "RUN_WAIT"))).any())
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
                                                   timeout=self.timeout)
        m.submodules.executor = ex = Executor(cfg=self._cfg, max_payload=self.max_payload,
                                              watchdog=self.watchdog)
        m.submodules.serializer = ser = WordSerializer(max_bytes=ex.max_bytes)
        m.submodules.framer = framer = ReplyFramer()

        connect(m, flipped(self.rx), parser.bytes)
        connect(m, parser.buf, buf.write_port())
        connect(m, parser.frame, ex.frame)
        connect(m, ex.buf, buf.read_port())
        connect(m, ex.header, framer.header)
        connect(m, ex.words, ser.words)
        connect(m, ser.bytes, framer.data)
        connect(m, framer.bytes, flipped(self.tx))
        connect(m, ex.host, flipped(self.host))
        connect(m, ex.to_core, flipped(self.to_core))
        connect(m, flipped(self.from_core), ex.from_core)
        m.d.comb += [
            parser.resume.eq(ex.idle),
            ex.rx_error.eq(self.rx_error),
            ex.core_error.eq(self.core_error),
            ex.pred_label.eq(self.pred_label),
            self.regs.eq(ex.regs),
            self.busy.eq(~ex.idle),
            self.link_error.eq(ex.link_error),
        ]
        return m
