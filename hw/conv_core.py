"""ConvCore: one convolutional TTFS layer of the deep network (``model.conv``), inference.

The core follows ``model.deep_network.ConvLayer.forward`` exactly (and ``conv.inhibit`` when the
``inhibit`` register is set); ``model.conv_cycles`` predicts its cycles per phase. Phases of a
sample (``docs/conv_core.md``):

LOAD   take input events (SPIKE ..., END) from ``events_in``: input indices into the event
       memory, per-step boundaries into ``first``.
STEP   for every step t = 0 .. T - 1 (all of them: the layer's output feeds the next layer):
       INTEG (``ConvScatter``: each event's live kernel entries into the membranes they reach),
       then SWEEP (``ConvSweep``: leak, fire once, lateral inhibition; spikes into the spike
       list).
CLEAR  zero the membranes, fired and blocked bits.
EMIT   stream the spikes (time, output index) and an END (time T - 1, index 0) to
       ``events_out`` (``hw.emit.Emit``).

Events in and out are ``hw.layouts.event_layout`` words, so cores chain: the input index is
the model's flattening of (c, y, x), (c * H + y) * W + x; the output index that of (m, y, x),
(m * H' + y) * W' + x. Input events come in time order (any order within a step); output
events come in time order, and within a step by output position, then map.

Memories (every read synchronous with a register after it, ``lib.memory.Memory``): per lane the
kernel weights (address (j * C + c) * k * k + dy * k + dx), the live-entry bitmaps (address
j * C + c, bit dy * k + dx), the membranes and fired bits (address pos * MR + j); the blocked
bits per position, the event list, the decode ROM (``ConvScatter``), the spike list (two banks).
The host loads and reads weights and bitmaps through ``host`` (between samples).
"""

from __future__ import annotations

import enum as py_enum
from types import SimpleNamespace

from amaranth.hdl import Array, Cat, MemoryData, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.conv_cycles import ConvGeometry
from ..model.deep_config import ConvSpec
from .conv_learning import ConvLearning
from .conv_scatter import ConvScatter
from .conv_sweep import ConvSweep
from .counters import check_counter_bits, counter_bank, counters_layout
from .emit import Emit
from .layouts import EventKind, event_layout
from .skid_buffer import SkidBuffer


class ConvRegion(enum.Enum, shape=1):
    """What a host access goes to: lane ``lane``'s weight or live-entry bitmap memory."""

    WEIGHT = 0  # addr (j * C + c) * k * k + dy * k + dx: weight of entry (c, dy, dx), map j*P+p
    MASK = 1  # addr j * C + c: bit dy * k + dx set = entry (c, dy, dx) of map j*P+p is live


class ConvCounter(py_enum.IntEnum):
    """The core's counters (``counters`` port, cumulative, wrapping at counter_bits)."""

    SAMPLES = 0
    LOAD_CYCLES = 1  # input beats accepted (events + END)
    INTEGRATE_CYCLES = 2
    SWEEP_CYCLES = 3
    CLEAR_CYCLES = 4
    EMIT_CYCLES = 5  # output beats sent (spikes + END)
    SYN_EVENTS = 6  # synaptic events integrated
    SPIKES = 7  # output spikes
    STEPS = 8  # time steps executed
    LEARN_CYCLES = 9  # the learning phase (``learn`` high)
    SYN_UPDATES = 10  # kernel entries updated by STDP
    PRUNED = 11  # kernel entries pruned
    WINNERS = 12  # learning winners


def conv_event_signature(geom: ConvGeometry) -> stream.Signature:
    """The event stream of a conv core's input and output."""
    return stream.Signature(event_layout(index_bits=geom.index_bits,
                                         time_bits=geom.time_bits))


HOST_READ_LATENCY = 2  # a host read's data: the memory's read, then its register


def conv_host_signature(geom: ConvGeometry) -> wiring.Signature:
    """Host access to the kernels (the core is ``In`` of this), only between samples: ``we``
    writes ``wdata`` to ``region``, lane ``lane``, address ``addr`` in that cycle; ``re``
    reads that word, which comes back in ``rdata`` with ``rvalid`` ``HOST_READ_LATENCY``
    cycles later (reads may be issued back to back)."""
    depth = geom.map_rows * geom.channels * geom.entries
    word = max(geom.weight_bits, geom.entries)
    return wiring.Signature({
        "region": Out(ConvRegion), "lane": Out(range(geom.lanes)), "addr": Out(range(depth)),
        "wdata": Out(word), "we": Out(1), "re": Out(1), "rdata": In(word), "rvalid": In(1)})


def conv_probe_layout(geom: ConvGeometry) -> data.StructLayout:
    """The ``probe`` port: valid in each cycle that finishes a sweep row (step, address
    pos * MR + j), with every lane's leaked membrane."""
    return data.StructLayout({"valid": 1, "step": unsigned(geom.time_bits),
                              "addr": range(geom.lane_neurons),
                              "v": data.ArrayLayout(geom.membrane_bits, geom.lanes)})


def conv_core_signature(geom: ConvGeometry, counter_bits: int) -> wiring.Signature:
    """``ConvCore``'s ports (the class docstring and ``docs/conv_core.md`` say what they do);
    harnesses read their shapes from here."""
    g = geom
    rate = g.stdp_frac_bits + 2  # hw.rule_units.StdpUnit's rates (a_minus two's complement)
    return wiring.Signature({
        "events_in": In(conv_event_signature(g)),
        "events_out": Out(conv_event_signature(g)),
        "host": In(conv_host_signature(g)),
        "threshold": In(g.membrane_bits),
        "leak_shift": In(range(g.membrane_bits)),
        "inhibit": In(1),
        "learn": In(1), "k_winners": In(range(g.max_winners + 1)),
        "radius": In(range(max(g.out_h, g.out_w))), "a_plus": In(rate), "a_minus": In(rate),
        "prune_enable": In(1), "prune_threshold": In(g.weight_bits),
        "winner": Out(ConvLearning.winner_layout(g)), "lfsr": Out(32),
        "lfsr_write": In(1), "lfsr_data": In(32),
        "idle": Out(1),
        "error": Out(2),
        "counters": Out(counters_layout(ConvCounter, counter_bits)),
        "probe": Out(conv_probe_layout(g)),
    })


class ConvCore(wiring.Component):
    """One conv layer: ``channels`` x ``height`` x ``width`` input, ``maps`` kernels of
    ``kernel`` x ``kernel``, ``lanes`` lanes over maps, ``time_steps``, widths, counters of
    ``counter_bits`` bits. Runtime knobs: ``threshold``, ``leak_shift``, ``inhibit`` (ports,
    held by the host's registers between samples). ``error`` (sticky): bit 0 an input time went
    backwards, bit 1 an index or time out of range (the event is dropped)."""

    def __init__(self, *, channels: int, height: int, width: int, maps: int, kernel: int,
                 lanes: int, time_steps: int, weight_bits: int = 8, membrane_bits: int = 16,
                 stdp_frac_bits: int = 12, max_winners: int = 4,
                 lfsr_seed: int = ConvSpec.lfsr_seed, counter_bits: int = 32) -> None:
        self.geom = ConvGeometry(channels=channels, height=height, width=width, maps=maps,
                                 kernel=kernel, lanes=lanes, time_steps=time_steps,
                                 weight_bits=weight_bits, membrane_bits=membrane_bits,
                                 stdp_frac_bits=stdp_frac_bits, max_winners=max_winners)
        check_counter_bits("ConvCore", counter_bits)
        if not isinstance(lfsr_seed, int) or isinstance(lfsr_seed, bool):
            raise TypeError(f"ConvCore: lfsr_seed must be an int, not {type(lfsr_seed).__name__}")
        try:
            self.geom.validate()
        except (TypeError, ValueError) as err:
            raise type(err)(f"ConvCore: {err}") from None
        if not 0 < lfsr_seed < (1 << 32):
            raise ValueError(f"ConvCore: lfsr_seed must be a nonzero 32-bit value, not "
                             f"{lfsr_seed}")
        self.counter_bits, self.lfsr_seed = counter_bits, lfsr_seed
        g = self.geom
        # the kernels' memories' contents, per lane (the Amaranth tests read them directly)
        self.weight_data = [MemoryData(shape=unsigned(g.weight_bits),
                                       depth=g.map_rows * g.channels * g.entries, init=[])
                            for _ in range(g.lanes)]
        self.live_data = [MemoryData(shape=unsigned(g.entries), depth=g.map_rows * g.channels,
                                     init=[]) for _ in range(g.lanes)]
        super().__init__(conv_core_signature(g, counter_bits))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geom
        P, T = g.lanes, g.time_steps
        ev_bits = g.n_inputs.bit_length()
        m.submodules.scatter = sc = ConvScatter(geom=g)
        m.submodules.sweep = sw = ConvSweep(geom=g)
        m.submodules.learning = lu = ConvLearning(geom=g, lfsr_seed=self.lfsr_seed)

        def mem(name: str, **kw: object) -> Memory:
            memory = Memory(**kw)
            m.submodules[name] = memory
            return memory

        def read2(memory: Memory, name: str, en: object = 1) -> tuple[object, Signal]:
            """A synchronous read port and a register after it (latency 2); ``en`` low holds
            both."""
            port = memory.read_port()
            q = Signal(port.data.shape(), name=f"{name}_q")
            m.d.comb += port.en.eq(en)
            with m.If(en):
                m.d.sync += q.eq(port.data)
            return port, q

        ev_mem = mem("ev_mem", shape=unsigned(max(1, (g.n_inputs - 1).bit_length())),
                     depth=g.n_inputs, init=[])
        w_mem = [mem(f"w{p}", data=self.weight_data[p]) for p in range(P)]
        k_mem = [mem(f"live{p}", data=self.live_data[p]) for p in range(P)]
        v_mem = [mem(f"v{p}", shape=unsigned(g.membrane_bits), depth=g.lane_neurons, init=[])
                 for p in range(P)]
        f_mem = [mem(f"fired{p}", shape=unsigned(1), depth=g.lane_neurons, init=[])
                 for p in range(P)]
        b_mem = mem("blocked", shape=unsigned(1), depth=g.positions, init=[])
        spike = data.StructLayout({"time": unsigned(g.time_bits),
                                   "neuron": unsigned(g.index_bits)})
        spk_mem = [mem(f"spk{b}", shape=spike, depth=(g.n_outputs + 1) // 2, init=[])
                   for b in range(2)]

        # the FSM's phase flags (set below)
        in_sweep, in_clear, in_learn = Signal(), Signal(), Signal()
        ev_rd, ev_q = read2(ev_mem, "ev")
        m.d.comb += [ev_rd.addr.eq(Mux(in_learn, lu.event_addr, sc.event_addr)),
                     sc.event_index.eq(ev_q), lu.event_index.eq(ev_q)]
        host = self.host
        # host reads (between samples) share the kernel memories' read ports: the strobe picks
        # the host's address; region and lane follow the data through the two read stages
        h_region, h_lane = Signal.like(host.region), Signal.like(host.lane)
        h_valid = Signal(HOST_READ_LATENCY)
        m.d.sync += h_valid.eq(Cat(host.re, h_valid))
        with m.If(host.re):
            m.d.sync += [h_region.eq(host.region), h_lane.eq(host.lane)]
        h_region_q, h_lane_q = Signal.like(host.region), Signal.like(host.lane)
        m.d.sync += [h_region_q.eq(h_region), h_lane_q.eq(h_lane)]
        w_words, k_words = [], []
        for p in range(P):
            w_rd, w_q = read2(w_mem[p], f"w{p}")
            k_rd, k_q = read2(k_mem[p], f"live{p}")
            m.d.comb += [w_rd.addr.eq(Mux(host.re, host.addr,
                                          Mux(in_learn, lu.weight_addr, sc.weight_addr[p]))),
                         sc.weights[p].eq(w_q), lu.weights[p].eq(w_q),
                         k_rd.addr.eq(Mux(host.re, host.addr,
                                          Mux(in_learn, lu.mask_addr, sc.mask_addr))),
                         sc.mask_words[p].eq(k_q), lu.mask_words[p].eq(k_q)]
            w_words.append(w_q)
            k_words.append(k_q)
            v_rd, v_q = read2(v_mem[p], f"v{p}", sw.read_en)
            f_rd, f_q = read2(f_mem[p], f"fired{p}", sw.read_en)
            m.d.comb += [v_rd.addr.eq(Mux(in_sweep, sw.addr, sc.v_read_addr[p])),
                         sc.v_read[p].eq(v_q), sw.v_read[p].eq(v_q),
                         f_rd.addr.eq(sw.addr), sw.fired_read[p].eq(f_q)]
        m.d.comb += [host.rvalid.eq(h_valid[-1]),
                     host.rdata.eq(Mux(h_region_q == ConvRegion.MASK, Array(k_words)[h_lane_q],
                                       Array(w_words)[h_lane_q]))]
        b_rd, b_q = read2(b_mem, "blocked", sw.read_en)
        m.d.comb += [b_rd.addr.eq(sw.blocked_addr), sw.blocked_read.eq(b_q)]

        # host writes (between samples) and the learning unit's write-back (in LEARN)
        for p in range(P):
            for region, memory, addr, wdata, en in (
                    (ConvRegion.WEIGHT, w_mem[p], lu.weight_write_addr, lu.weight_write_data,
                     lu.weight_write_en[p]),
                    (ConvRegion.MASK, k_mem[p], lu.mask_write_addr, lu.mask_write_data,
                     lu.mask_write_en[p])):
                wr = memory.write_port()
                m.d.comb += [wr.addr.eq(Mux(en, addr, host.addr)),
                             wr.data.eq(Mux(en, wdata, host.wdata)),
                             wr.en.eq(en | (host.we & (host.region == region)
                                            & (host.lane == p)))]

        # CLEAR's pointer over max(MR * P', P') addresses
        clear_n = max(g.lane_neurons, g.positions)
        cptr = Signal(range(clear_n + 1))
        for p in range(P):
            v_wr, f_wr = v_mem[p].write_port(), f_mem[p].write_port()
            m.d.comb += [
                v_wr.addr.eq(Mux(in_clear, cptr, Mux(in_sweep, sw.v_write_addr,
                                                     sc.v_write_addr[p]))),
                v_wr.data.eq(Mux(in_clear, 0, Mux(in_sweep, sw.v_write_data[p],
                                                  sc.v_write_data[p]))),
                v_wr.en.eq(Mux(in_clear, cptr < g.lane_neurons,
                               Mux(in_sweep, sw.v_write_en, sc.v_write_en[p]))),
                f_wr.addr.eq(Mux(in_clear, cptr, sw.fired_write_addr)),
                f_wr.data.eq(~in_clear),
                f_wr.en.eq(Mux(in_clear, cptr < g.lane_neurons, sw.fired_write_en[p])),
            ]
        b_wr = b_mem.write_port()
        m.d.comb += [b_wr.addr.eq(Mux(in_clear, cptr, sw.blocked_write_addr)),
                     b_wr.data.eq(~in_clear),
                     b_wr.en.eq(Mux(in_clear, cptr < g.positions, sw.blocked_write_en))]

        # the sample's state
        step = Signal(range(T + 1))
        n_ev = Signal(ev_bits)
        first = Array(Signal(ev_bits, name=f"first{t}") for t in range(T + 1))
        last_t = Signal(g.time_bits)
        n_spk = Signal(range(g.n_outputs + 1))
        error = Signal(2)
        m.d.comb += self.error.eq(error)
        self._learning_ports(m, lu, sw)
        m.d.comb += [lu.n_events.eq(n_ev), lu.spike_addr.eq(n_spk), lu.spike_time.eq(step),
                     lu.n_spikes.eq(n_spk)]
        m.d.comb += [sc.first.eq(first[step]), sc.end.eq(first[step + 1]),
                     sw.threshold.eq(self.threshold), sw.leak_shift.eq(self.leak_shift),
                     sw.inhibit.eq(self.inhibit)]

        # the spike list: entry e at e // 2 of bank e % 2
        for b, sm in enumerate(spk_mem):
            wr = sm.write_port()
            m.d.comb += [wr.addr.eq(n_spk >> 1), wr.data.time.eq(step),
                         wr.data.neuron.eq(sw.spike_neuron), wr.en.eq(sw.spike & (n_spk[0] == b))]
        with m.If(sw.spike):
            m.d.sync += n_spk.eq(n_spk + 1)
        m.submodules.emit = emit = Emit(spike_layout=spike,
                                        event_layout=self.events_out.payload.shape(),
                                        max_spikes=g.n_outputs)
        wiring.connect(m, emit.out, wiring.flipped(self.events_out))
        for b, sm in enumerate(spk_mem):
            rd = sm.read_port()
            m.d.comb += [rd.addr.eq(emit.bank_addr[b]), emit.bank_data[b].eq(rd.data)]
        m.d.comb += [emit.n_spikes.eq(n_spk), emit.last_step.eq(T - 1), emit.pred.eq(0)]

        # probe: the leaked membranes of each sweep row
        m.d.comb += [self.probe.valid.eq(sw.probe_valid), self.probe.step.eq(step),
                     self.probe.addr.eq(sw.probe_addr)]
        m.d.comb += [self.probe.v[p].eq(sw.v_write_data[p]) for p in range(P)]

        # counters
        inc = counter_bank(m, self.counters, ConvCounter, max_inc=P)
        m.d.comb += [inc[ConvCounter.SYN_EVENTS].eq(sc.synapses),
                     inc[ConvCounter.SPIKES].eq(sw.spike),
                     inc[ConvCounter.SYN_UPDATES].eq(lu.updates),
                     inc[ConvCounter.PRUNED].eq(lu.pruned),
                     inc[ConvCounter.WINNERS].eq(lu.winner.valid)]

        # input
        m.submodules.skid = skid = SkidBuffer(layout=self.events_in.payload.shape())
        wiring.connect(m, wiring.flipped(self.events_in), skid.i)

        self._phase_fsm(m, SimpleNamespace(
            skid=skid, n_ev=n_ev, inc=inc, step=step, error=error, last_t=last_t, ev_mem=ev_mem,
            first=first, sc=sc, sw=sw, in_sweep=in_sweep, in_clear=in_clear, cptr=cptr,
            emit=emit, clear_n=clear_n, n_spk=n_spk, lu=lu, in_learn=in_learn))
        return m

    def _learning_ports(self, m: Module, lu: ConvLearning, sw: ConvSweep) -> None:
        """The learning unit's knobs, its outputs and the sweep's spikes (the candidates)."""
        m.d.comb += [lu.k.eq(self.k_winners), lu.radius.eq(self.radius),
                     lu.a_plus.eq(self.a_plus), lu.a_minus.eq(self.a_minus),
                     lu.prune_enable.eq(self.prune_enable),
                     lu.prune_threshold.eq(self.prune_threshold),
                     lu.lfsr_write.eq(self.lfsr_write), lu.lfsr_data.eq(self.lfsr_data),
                     self.winner.eq(lu.winner), self.lfsr.eq(lu.lfsr),
                     lu.spike.eq(sw.spike), lu.spike_map.eq(sw.spike_map),
                     lu.spike_y.eq(sw.spike_y), lu.spike_x.eq(sw.spike_x),
                     lu.spike_v.eq(sw.spike_v)]

    def _phase_fsm(self, m: Module, c: SimpleNamespace) -> None:
        """LOAD -> per step INTEG_START, INTEG, SWEEP_START, SWEEP -> CLEAR -> EMIT -> LOAD,
        with the sample's bookkeeping (``c``: the parts ``elaborate`` made)."""
        g, T = self.geom, self.geom.time_steps
        skid, n_ev, inc, step, error, last_t = c.skid, c.n_ev, c.inc, c.step, c.error, c.last_t
        ev_mem, first, sc, sw, in_sweep, in_clear = (c.ev_mem, c.first, c.sc, c.sw, c.in_sweep,
                                                     c.in_clear)
        cptr, emit, clear_n, n_spk, lu, in_learn = (c.cptr, c.emit, c.clear_n, c.n_spk, c.lu,
                                                    c.in_learn)
        beat = skid.o.payload
        m.d.comb += [lu.load_index.eq(beat.index), lu.load_slot.eq(n_ev),
                     lu.load_time.eq(beat.time)]
        with m.FSM(name="phase"):
            with m.State("LOAD"):
                m.d.comb += [self.idle.eq(n_ev == 0), skid.o.ready.eq(1)]
                with m.If(skid.o.valid):
                    m.d.comb += inc[ConvCounter.LOAD_CYCLES].eq(1)
                    with m.If(beat.kind == EventKind.END):
                        m.d.sync += step.eq(0)
                        m.next = "INTEG_START"
                    with m.Elif((beat.index >= g.n_inputs) | (beat.time >= T)):
                        m.d.sync += error[1].eq(1)
                    with m.Elif(beat.time < last_t):
                        m.d.sync += error[0].eq(1)
                    with m.Else():
                        m.d.sync += [last_t.eq(beat.time), n_ev.eq(n_ev + 1)]
                        wr = ev_mem.write_port()
                        m.d.comb += [wr.addr.eq(n_ev), wr.data.eq(beat.index), wr.en.eq(1),
                                     lu.load_we.eq(1)]
                        for t in range(1, T + 1):
                            with m.If(beat.time < t):
                                m.d.sync += first[t].eq(n_ev + 1)
            with m.State("INTEG_START"):
                m.d.comb += [sc.start.eq(1), inc[ConvCounter.INTEGRATE_CYCLES].eq(1),
                             inc[ConvCounter.STEPS].eq(1)]
                m.next = "INTEG"
            with m.State("INTEG"):
                m.d.comb += inc[ConvCounter.INTEGRATE_CYCLES].eq(1)
                with m.If(sc.idle):
                    m.next = "SWEEP_START"
            with m.State("SWEEP_START"):
                m.d.comb += [sw.start.eq(1), inc[ConvCounter.SWEEP_CYCLES].eq(1)]
                m.d.sync += in_sweep.eq(1)
                m.next = "SWEEP"
            with m.State("SWEEP"):
                m.d.comb += inc[ConvCounter.SWEEP_CYCLES].eq(1)
                with m.If(sw.done):
                    m.d.sync += [in_sweep.eq(0), step.eq(step + 1)]
                    with m.If(step == T - 1):
                        # (the spike list's reads point at entry 0 from here on)
                        m.d.comb += emit.start.eq(1)
                        with m.If(self.learn):
                            m.d.sync += in_learn.eq(1)
                            m.next = "LEARN_START"
                        with m.Else():
                            m.d.sync += [in_clear.eq(1), cptr.eq(0)]
                            m.next = "CLEAR"
                    with m.Else():
                        m.next = "INTEG_START"
            with m.State("LEARN_START"):
                m.d.comb += [lu.start.eq(1), inc[ConvCounter.LEARN_CYCLES].eq(1)]
                m.next = "LEARN"
            with m.State("LEARN"):
                m.d.comb += inc[ConvCounter.LEARN_CYCLES].eq(1)
                with m.If(lu.done):
                    m.d.sync += [in_learn.eq(0), in_clear.eq(1), cptr.eq(0)]
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                m.d.comb += inc[ConvCounter.CLEAR_CYCLES].eq(1)
                m.d.sync += cptr.eq(cptr + 1)
                with m.If(cptr == clear_n - 1):
                    m.d.sync += in_clear.eq(0)
                    m.d.comb += emit.arm.eq(1)
                    m.next = "EMIT"
            with m.State("EMIT"):  # the emit unit sends from arm to done on its own flag
                with m.If(emit.out.valid & emit.out.ready):
                    m.d.comb += inc[ConvCounter.EMIT_CYCLES].eq(1)
                with m.If(emit.done):
                    m.d.comb += inc[ConvCounter.SAMPLES].eq(1)
                    m.d.sync += [n_ev.eq(0), n_spk.eq(0), last_t.eq(0)]
                    m.d.sync += [first[t].eq(0) for t in range(T + 1)]
                    m.next = "LOAD"
