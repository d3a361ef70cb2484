"""The deep chain behind a UART link: ``ChainExecutor`` (one checked request frame at a time
against ``MappedChain``'s word port and event streams) and ``ChainLinkTop`` (UART, frame parser,
executor, reply path and the mapped chain in one component, as ``boards.board_top`` and
``boards.sim_transport`` instantiate it).

The frame parser, payload buffer, serializer and framer are the layer link's
(``boards.command``); the protocol is ``boards.chain_protocol``. Unlike the layer link, which has
to fit the iCE40 UP5K beside its core, this one is built for the ECP5 only, and is written for
clarity: one byte of payload per two cycles, one word access at a time.

Checks, in order: frame status, command known, payload length for the command; then (word
accesses) the range: ``MappedChain.bus``'s ``read_ok`` / ``write_ok`` (BAD_ARG, nothing written).
A command waits for the chain (a word access waits for it to drain; RUN for every event it
feeds and the classifier's END) for at most ``watchdog`` cycles without progress
(CORE_TIMEOUT: a read's remaining words are zeros, RUN replies without its spikes).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out, connect
from amaranth.utils import ceil_log2

from ..hw.deep_chain import DeepChain
from ..hw.layouts import LABEL_BITS, EventKind
from .chain_bus import MappedChain, bus_signature
from .chain_map import ChainMap
from .chain_protocol import (
    ADDR,
    EVENT_INDEX_BITS,
    MAX_READ_WORDS,
    READ_HEADER,
    ChainCmd,
    ChainInfo,
)
from .command import FRAME_LAYOUT, REPLY_HEADER_LAYOUT, FrameParser, ReplyFramer, WordSerializer
from .command import word_layout as serializer_layout
from .link import LINK_STATUS_LAYOUT, heartbeat, uart_link_timing
from .protocol import DEFAULT_RUN_TIMEOUT_S, DEFAULT_TIMEOUT_S, MAX_LENGTH, RUN_HEADER, Status
from .uart import UartRx, UartTx


def default_chain_payload(chain: DeepChain) -> int:
    """Request buffer: room for a RUN with every input spiking (a power of two, >= 256)."""
    c, h, w = chain.config.shapes()[0]
    need = max(256, 4 * c * h * w)
    return 1 << (need - 1).bit_length()


class ChainExecutor(wiring.Component):
    """Executes one checked frame at a time (``boards.chain_protocol``) and produces its reply:
    ``frame`` and ``buf`` from the parser (the payload stays until ``idle``), ``header`` and
    ``words`` to the reply path, ``bus`` to ``MappedChain``, ``to_chain`` / ``from_chain`` its
    event streams, ``pred_label`` and ``chain_error`` its status; ``wait`` / ``kick`` /
    ``waited_out`` the parser's watchdog."""

    def __init__(self, *, chain: DeepChain, max_payload: int) -> None:
        if not isinstance(chain, DeepChain):
            raise TypeError(f"chain must be a DeepChain, not {type(chain).__name__}")
        if not isinstance(max_payload, int) or not 256 <= max_payload <= MAX_LENGTH:
            raise ValueError(f"max_payload must be an int in 256..{MAX_LENGTH}, not "
                             f"{max_payload!r}")
        self.max_payload = max_payload
        self.info = ChainInfo.from_chain(chain, max_payload=max_payload).pack()
        self.n_spikes = chain.classifier_config.n_neurons
        members = chain.signature.members
        in_index = len(chain.events_in.payload.index)
        out_index = len(chain.events_out.payload.index)
        if max(in_index, out_index) > EVENT_INDEX_BITS:
            raise ValueError(f"event indices of {max(in_index, out_index)} bits do not fit the "
                             f"link's {EVENT_INDEX_BITS}")
        super().__init__({
            "frame": In(stream.Signature(FRAME_LAYOUT)),
            "buf": In(ReadPort.Signature(addr_width=ceil_log2(max_payload), shape=8)),
            "header": Out(stream.Signature(REPLY_HEADER_LAYOUT)),
            "words": Out(stream.Signature(serializer_layout(4))),
            "bus": Out(bus_signature()),
            "to_chain": members["events_in"].flip(),
            "from_chain": members["events_out"].flip(),
            "pred_label": In(LABEL_BITS),
            "chain_error": In(1),
            "idle": Out(1),
            "wait": Out(1),
            "kick": Out(1),
            "waited_out": In(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        desc = self.frame.payload
        cmd = desc.cmd
        plen = desc.length
        status = Signal(Status)
        bus = self.bus

        # --- payload bytes: `ptr` addresses the buffer; its byte is there a cycle later ---
        ptr = Signal(range(self.max_payload + 1))
        fresh = Signal()  # buf.data is the byte at `ptr`
        step = Signal()  # consume the byte at `ptr`
        m.d.comb += self.buf.addr.eq(ptr)
        m.d.sync += fresh.eq(~step)
        with m.If(step):
            m.d.sync += ptr.eq(ptr + 1)
        byte = self.buf.data
        left = Signal.like(ptr)  # payload bytes not yet consumed
        m.d.comb += left.eq(plen - ptr)
        # `word` collects 4 payload bytes, least significant first
        word = Signal(32)
        nbyte = Signal(range(4))
        got_word = Signal()  # the 4th byte is being consumed

        def collect() -> None:
            with m.If(fresh):
                m.d.comb += step.eq(1)
                m.d.sync += [word.eq(Cat(word[8:], byte)), nbyte.eq(nbyte + 1)]
                m.d.comb += got_word.eq(nbyte == 3)

        # --- the watchdog (the parser's timer) ---
        expired = self.waited_out

        def waiting(progress: object) -> None:
            """A state that waits on the chain; ``progress``: it moved (restarts the timer)."""
            m.d.comb += self.wait.eq(1)
            with m.If(progress):
                m.d.comb += self.kick.eq(1)

        # --- word accesses ---
        addr = Signal(32)
        count = Signal(range(MAX_READ_WORDS + 2))
        failed = Signal()  # a read gave up: the rest of its words are zeros
        m.d.comb += [bus.addr.eq(addr), bus.wdata.eq(word), bus.count.eq(count)]

        # --- RUN: the classifier's spikes ---
        m.submodules.spikes = spikes = Memory(shape=32, depth=self.n_spikes, init=[])
        sp_w, sp_r = spikes.write_port(), spikes.read_port()
        n_spikes = Signal(range(self.n_spikes + 1))
        in_run, got_end = Signal(), Signal()
        last_step, prediction = Signal(8), Signal(16)
        m.d.comb += self.from_chain.ready.eq(1)  # a timed-out sample's output is dropped
        ev = self.from_chain.payload
        with m.If(self.from_chain.valid & in_run):
            m.d.comb += self.kick.eq(1)
            with m.If(ev.kind == EventKind.END):
                m.d.sync += [got_end.eq(1), last_step.eq(ev.time), prediction.eq(ev.index)]
            with m.Elif(n_spikes != self.n_spikes):
                m.d.comb += [sp_w.en.eq(1), sp_w.addr.eq(n_spikes),
                             sp_w.data.eq(Cat(ev.index, Const(0, EVENT_INDEX_BITS
                                                              - len(ev.index)), ev.time))]
                m.d.sync += n_spikes.eq(n_spikes + 1)
        to = self.to_chain.payload
        m.d.comb += [to.kind.eq(EventKind.SPIKE), to.index.eq(word[:EVENT_INDEX_BITS]),
                     to.time.eq(word[EVENT_INDEX_BITS:])]

        # --- reply ---
        reply_len = Signal(16)
        n_info = len(self.info)
        info_rom = Signal(data.ArrayLayout(8, n_info))
        m.d.comb += info_rom.eq(Cat(*(Const(b, 8) for b in self.info)))
        sent = Signal(range(max(n_info, self.max_payload) + 1))

        def send(value: object, nbytes: int) -> object:
            m.d.comb += [self.words.valid.eq(1), self.words.payload.data.eq(value),
                         self.words.payload.nbytes.eq(nbytes)]
            return self.words.ready

        ending = Signal()  # RUN: every event is sent, the END is next

        def give_up() -> None:
            """The chain made no progress for the watchdog's time: reply CORE_TIMEOUT."""
            m.d.sync += [status.eq(Status.CORE_TIMEOUT), in_run.eq(0)]
            m.next = "HEADER"

        is_cmd = {c: cmd == c for c in ChainCmd}
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.idle.eq(1), self.frame.ready.eq(1)]
                m.d.sync += [ptr.eq(0), nbyte.eq(0), failed.eq(0), n_spikes.eq(0),
                             got_end.eq(0), sent.eq(0), ending.eq(0)]
                with m.If(self.frame.valid):
                    m.next = "CHECK"
            with m.State("CHECK"):
                ok_len = Signal()
                known = Signal()
                with m.Switch(cmd):
                    with m.Case(ChainCmd.PING):
                        m.d.comb += [known.eq(1), ok_len.eq(1)]
                    with m.Case(ChainCmd.INFO):
                        m.d.comb += [known.eq(1), ok_len.eq(plen == 0)]
                    with m.Case(ChainCmd.WRITE_WORDS):
                        m.d.comb += [known.eq(1), ok_len.eq((plen >= ADDR.size + 4)
                                                            & (plen[:2] == 0))]
                    with m.Case(ChainCmd.READ_WORDS):
                        m.d.comb += [known.eq(1), ok_len.eq(plen == READ_HEADER.size)]
                    with m.Case(ChainCmd.RUN):
                        m.d.comb += [known.eq(1), ok_len.eq(plen[:2] == 0)]
                m.d.sync += count.eq((plen - ADDR.size) >> 2)
                m.next = "HEADER"
                with m.If(desc.status != Status.OK):
                    m.d.sync += status.eq(desc.status)
                with m.Elif(~known):
                    m.d.sync += status.eq(Status.UNKNOWN_CMD)
                with m.Elif(~ok_len):
                    m.d.sync += status.eq(Status.BAD_LENGTH)
                with m.Else():
                    m.d.sync += status.eq(Status.OK)
                    with m.If(is_cmd[ChainCmd.WRITE_WORDS] | is_cmd[ChainCmd.READ_WORDS]):
                        m.next = "ADDR"
                    with m.Elif(is_cmd[ChainCmd.RUN]):
                        m.d.sync += in_run.eq(1)
                        m.next = "RUN_EVENT"

            # --- WRITE_WORDS / READ_WORDS ---
            with m.State("ADDR"):
                collect()
                with m.If(got_word):
                    m.d.sync += addr.eq(Cat(word[8:], byte))
                    m.next = "RANGE"
                    with m.If(is_cmd[ChainCmd.READ_WORDS]):
                        m.next = "COUNT"
            with m.State("COUNT"), m.If(fresh):
                m.d.comb += step.eq(1)
                m.d.sync += word.eq(Cat(word[8:], byte))
                with m.If(left == 1):
                    m.d.sync += count.eq(Cat(word[24:], byte))
                    m.next = "RANGE"
            with m.State("RANGE"):
                m.d.sync += nbyte.eq(0)
                with m.If(Mux(is_cmd[ChainCmd.WRITE_WORDS], bus.write_ok, bus.read_ok)
                          & (count <= MAX_READ_WORDS)):
                    m.next = "WRITE_FETCH"
                    with m.If(is_cmd[ChainCmd.READ_WORDS]):
                        m.next = "HEADER"
                with m.Else():
                    m.d.sync += status.eq(Status.BAD_ARG)
                    m.next = "HEADER"
            with m.State("WRITE_FETCH"):
                collect()
                with m.If(got_word):
                    m.next = "WRITE"
            with m.State("WRITE"):
                waiting(bus.ready)
                with m.If(bus.ready):
                    m.d.comb += bus.we.eq(1)
                    m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                    m.next = "WRITE_FETCH"
                    with m.If(count == 1):
                        m.next = "HEADER"
                with m.Elif(expired):
                    give_up()
            with m.State("READ"):
                with m.If(count == 0):
                    m.next = "IDLE"
                with m.Elif(failed), m.If(send(0, 4)):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(self.words.ready):
                    waiting(bus.ready)
                    with m.If(bus.ready):
                        m.d.comb += bus.re.eq(1)
                        m.next = "READ_WAIT"
                    with m.Elif(expired):
                        m.d.sync += failed.eq(1)
            with m.State("READ_WAIT"):
                waiting(bus.rvalid)
                with m.If(bus.rvalid):
                    send(bus.rdata, 4)  # the serializer is empty: READ waited for it
                    m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                    m.next = "READ"
                with m.Elif(expired):
                    m.d.sync += failed.eq(1)
                    m.next = "READ"

            # --- RUN ---
            with m.State("RUN_EVENT"):
                with m.If(left == 0):
                    m.d.sync += ending.eq(1)
                    m.next = "RUN_SEND"
                with m.Else():
                    collect()
                    with m.If(got_word):
                        m.next = "RUN_SEND"
            with m.State("RUN_SEND"):
                # the event in `word`, or (`ending`) the END after the last one
                waiting(self.to_chain.ready)
                m.d.comb += self.to_chain.valid.eq(1)
                with m.If(ending):
                    m.d.comb += [to.kind.eq(EventKind.END), to.index.eq(0), to.time.eq(0)]
                with m.If(self.to_chain.ready):
                    m.next = "RUN_EVENT"
                    with m.If(ending):
                        m.next = "RUN_WAIT"
                with m.Elif(expired):
                    give_up()
            with m.State("RUN_WAIT"):
                waiting(0)
                with m.If(got_end):
                    m.d.sync += in_run.eq(0)
                    m.next = "HEADER"
                with m.Elif(expired):
                    give_up()

            # --- the reply: header, status byte, data ---
            with m.State("HEADER"):
                m.d.comb += reply_len.eq(1)
                with m.If(status == Status.OK):
                    with m.If(is_cmd[ChainCmd.PING]):
                        m.d.comb += reply_len.eq(1 + plen)
                    with m.Elif(is_cmd[ChainCmd.INFO]):
                        m.d.comb += reply_len.eq(1 + n_info)
                    with m.Elif(is_cmd[ChainCmd.READ_WORDS]):
                        m.d.comb += reply_len.eq(1 + (count << 2))
                    with m.Elif(is_cmd[ChainCmd.RUN]):
                        m.d.comb += reply_len.eq(1 + RUN_HEADER.size + (n_spikes << 2))
                m.d.comb += [self.header.valid.eq(1),
                             self.header.payload.cmd.eq(cmd | 0x80),
                             self.header.payload.length.eq(reply_len)]
                m.d.sync += [ptr.eq(0), sp_r.addr.eq(0)]
                with m.If(self.header.ready):
                    m.next = "STATUS"
            with m.State("STATUS"), m.If(send(status, 1)):
                m.next = "IDLE"
                with m.If(status == Status.OK):
                    with m.If(is_cmd[ChainCmd.PING] & (plen != 0)):
                        m.next = "ECHO"
                    with m.Elif(is_cmd[ChainCmd.INFO]):
                        m.next = "INFO"
                    with m.Elif(is_cmd[ChainCmd.READ_WORDS]):
                        m.next = "READ"
                    with m.Elif(is_cmd[ChainCmd.RUN]):
                        m.next = "RUN_HEAD"
            with m.State("ECHO"), m.If(fresh), m.If(send(byte, 1)):
                m.d.comb += step.eq(1)
                with m.If(left == 1):
                    m.next = "IDLE"
            with m.State("INFO"), m.If(send(info_rom[sent], 1)):
                m.d.sync += sent.eq(sent + 1)
                with m.If(sent == n_info - 1):
                    m.next = "IDLE"
            head = Cat(last_step, prediction, self.pred_label, Const(0, 8 - LABEL_BITS))
            with m.State("RUN_HEAD"), m.If(send(head, 4)):
                m.next = "RUN_HEAD2"
            head2 = Cat(self.chain_error, Const(0, 7), n_spikes, Const(0, 16 - len(n_spikes)))
            with m.State("RUN_HEAD2"), m.If(send(head2, 3)):
                m.next = "RUN_SPIKES"
                with m.If(n_spikes == 0):
                    m.next = "IDLE"
            with m.State("RUN_SPIKES"), m.If(send(sp_r.data, 4)):
                # the next spike's address is set as this one is taken: the memory's read is
                # registered, and the serializer takes one word per 4 bytes, so it is ready
                m.d.sync += [sent.eq(sent + 1), sp_r.addr.eq(sp_r.addr + 1)]
                with m.If(sent == n_spikes - 1):
                    m.next = "IDLE"
        return m


class ChainLinkTop(wiring.Component):
    """UART, command path and ``MappedChain`` for ``chain`` (a ``DeepChain``, built and not yet
    elaborated: the top takes it over). Parameters as ``boards.link.LinkTop``'s: ``clk_freq``
    (Hz), ``baud``, ``timeout_s`` (inter-byte, in a frame), ``run_timeout_s`` (the watchdog),
    ``max_payload`` (default ``default_chain_payload``). Ports ``rx``, ``tx``, ``status``
    (``LINK_STATUS_LAYOUT``)."""

    def __init__(self, *, chain: DeepChain, clk_freq: float, baud: int,
                 timeout_s: float = DEFAULT_TIMEOUT_S, run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
                 max_payload: int | None = None) -> None:
        self.map = ChainMap(chain)
        self.chain = chain
        self.clk_freq, self.baud = clk_freq, baud
        self.divisor, self.timeout, self.watchdog = uart_link_timing(
            clk_freq=clk_freq, baud=baud, timeout_s=timeout_s, run_timeout_s=run_timeout_s)
        self.max_payload = default_chain_payload(chain) if max_payload is None else max_payload
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1),
                          "status": Out(LINK_STATUS_LAYOUT)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.uart_rx = urx = UartRx(divisor=self.divisor)
        m.submodules.uart_tx = utx = UartTx(divisor=self.divisor)
        m.submodules.buf = buf = Memory(shape=8, depth=self.max_payload, init=[])
        m.submodules.parser = parser = FrameParser(max_payload=self.max_payload,
                                                   timeout=self.timeout, watchdog=self.watchdog)
        m.submodules.executor = ex = ChainExecutor(chain=self.chain,
                                                   max_payload=self.max_payload)
        m.submodules.serializer = ser = WordSerializer(max_bytes=4)
        m.submodules.framer = framer = ReplyFramer()
        m.submodules.mapped = mapped = MappedChain(chain_map=self.map)
        wp = buf.write_port()
        connect(m, urx.data, parser.bytes)
        connect(m, parser.buf, wp)
        connect(m, parser.frame, ex.frame)
        connect(m, ex.buf, buf.read_port(transparent_for=(wp,)))
        connect(m, ex.header, framer.header)
        connect(m, ex.words, ser.words)
        connect(m, ser.bytes, framer.data)
        connect(m, framer.bytes, utx.data)
        connect(m, ex.bus, mapped.bus)
        connect(m, ex.to_chain, mapped.events_in)
        connect(m, mapped.events_out, ex.from_chain)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx),
                     parser.resume.eq(ex.idle), parser.wait.eq(ex.wait),
                     parser.kick.eq(ex.kick), ex.waited_out.eq(parser.waited_out),
                     ex.pred_label.eq(mapped.pred_label), ex.chain_error.eq(mapped.error),
                     ser.fill.valid.eq(0)]
        m.d.comb += [self.status.busy.eq(~ex.idle), self.status.error.eq(mapped.error),
                     self.status.heartbeat.eq(heartbeat(m, self.clk_freq))]
        return m


__all__ = ["ChainExecutor", "ChainLinkTop", "default_chain_payload"]
