"""LayerCore: one TTFS LIF layer that learns with STDP and prunes its synapses on the chip.

The core follows ``model.network.Network.run_sample`` exactly; ``model.cycles`` predicts its cycle
count per phase. Phases of a sample (``docs/architecture.md``, cycle schedule):

LOAD   take input events (SPIKE ..., END) from ``events_in``: input times into ``t_in`` (only
       when the sample learns), indices into the event memory, per-step boundaries into
       ``first``.
INTEG  per time step: stream that step's events; each event's row-mask word of a lane goes to
       that lane's walker, which visits only live synapses (each lane walks its own queue of
       events); each visit reads a weight and adds it to the membrane of that lane's neuron.
SWEEP  per time step: every lane visits its K neurons: leak, (step 0 of learning) adaptation
       decay, margin, fire once; spikes go to the spike memory; then the lanes' best candidates
       are reduced to the step's winner.
LEARN  per winner: adaptation += inc, then its column bitmap is walked (live synapses only): one
       STDP update per live synapse, pruning clears the synapse in both bitmaps; with the
       ``regrow`` register set, one absent synapse of the winner regrown per synapse pruned
       (``Regrow``, REGROW; only in a core built with ``regrow_unit``).
CLEAR  restore ``t_in`` of the loaded inputs to 'never' (a learning sample), zero membranes and
       fired flags.
EMIT   stream the spikes and an END (time = last step, index = predicted neuron) to ``events_out``.

The core is the top of its datapath components, each a ``wiring.Component`` in a file of its own
(``docs/architecture.md``, block diagram): ``SkidBuffer`` (input), ``Integration`` (INTEG),
``Sweep`` and ``LaneReduce`` (SWEEP), ``Learning`` and ``Regrow`` (LEARN), ``Emit`` (EMIT) and
``HostPort`` (the host's access and the counters). It owns the memories (``hw.core_rams``), the
registered multiplexers in front of their ports (here and ``hw.banked_ports``) and the phase FSM
(``hw.phase_fsm``). The datapaths are pipelined for a 100 MHz ECP5 clock; the pipeline depths are
the constants of ``model.cycles``.
"""

from __future__ import annotations

import dataclasses
import inspect
from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model.config import Config
from . import layouts
from .banked_ports import banked_ports
from .core_rams import make_rams, spike_layout
from .emit import Emit
from .host_port import HostPort
from .integration import Integration
from .lane_reduce import LaneReduce
from .layouts import Counter, HostRegion
from .learning import Learning
from .memories import CoreMemory, memory_list
from .phase_fsm import phase_fsm
from .regrow import Regrow
from .skid_buffer import SkidBuffer
from .sweep import Sweep
from .synthesis import SynthesisHints


class LayerCore(wiring.Component):
    """The layer core. Build it with ``LayerCore.from_config(cfg)`` or the keyword arguments
    below (the elaboration-time fields of ``model.config.Config``); runtime knobs come in on
    ``regs``. Port contract: ``hw/layouts.py``. ``synthesis`` (``hw.synthesis.SynthesisHints``,
    default none) chooses the attributes the core's registers and memories carry for the
    synthesis tool; it changes no logic. ``memories()`` lists the core's memories."""

    def __init__(self, *, n_inputs: int, n_neurons: int, lanes: int, time_steps: int,
                 k_max: int = 1, col_word_bits: int = 16, row_word_bits: int = 0,
                 weight_bits: int = 8,
                 membrane_bits: int = 16, adapt_bits: int = 12, stdp_frac_bits: int = 12,
                 counter_bits: int = 32, ram_latency: int = 4,
                 lfsr_seed: int = 0xACE1, regrow_unit: bool = True, single_port: bool = False,
                 fired_in_adapt: bool = False,
                 synthesis: SynthesisHints | None = None) -> None:
        args = dict(n_inputs=n_inputs, n_neurons=n_neurons, lanes=lanes, time_steps=time_steps,
                    k_max=k_max, col_word_bits=col_word_bits, row_word_bits=row_word_bits,
                    weight_bits=weight_bits,
                    membrane_bits=membrane_bits, adapt_bits=adapt_bits,
                    stdp_frac_bits=stdp_frac_bits, counter_bits=counter_bits,
                    ram_latency=ram_latency, lfsr_seed=lfsr_seed)
        for name, value in args.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"LayerCore: {name} must be an int, not {type(value).__name__}")
        flags = {"regrow_unit": regrow_unit, "single_port": single_port,
                 "fired_in_adapt": fired_in_adapt}
        for name, flag in flags.items():
            if not isinstance(flag, bool):
                raise TypeError(f"LayerCore: {name} must be a bool, not {type(flag).__name__}")
        if synthesis is not None and not isinstance(synthesis, SynthesisHints):
            raise TypeError(f"LayerCore: synthesis must be a SynthesisHints or None, not "
                            f"{type(synthesis).__name__}")
        self.synthesis = synthesis if synthesis is not None else SynthesisHints()
        # The hardware only needs the elaboration-time fields; a Config carries and checks them.
        shape = (1, n_inputs)
        self.cfg = Config(image_shape=shape, k_winners=1, threshold=0, prune_threshold=0,
                          homeo_inc=0, homeo_decay_shift=0, a_plus=0, a_minus=0,
                          **flags, **args)
        try:
            self.cfg.validate()
        except ValueError as err:
            raise ValueError(f"LayerCore: {err}") from None
        cfg = self.cfg
        super().__init__({
            "events_in": In(layouts.event_signature(cfg)),
            "events_out": Out(layouts.event_signature(cfg)),
            "regs": In(layouts.regs_layout(cfg)),
            "host": In(layouts.host_signature(cfg)),
            "error": Out(2),
            "pred_label": Out(layouts.LABEL_BITS),
            "probe": Out(layouts.probe_layout(cfg)),
        })

    @classmethod
    def elaboration_args(cls, cfg: Config) -> dict[str, int | bool]:
        """The constructor's keyword arguments that are fields of ``Config`` (the
        elaboration-time fields), read from ``cfg``: two configurations with the same arguments
        give the same logic (``synthesis`` only adds attributes for the synthesis tool)."""
        fields = {f.name for f in dataclasses.fields(Config)}
        names = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name in fields]
        return {name: getattr(cfg, name) for name in names}

    @classmethod
    def from_config(cls, cfg: Config, *, synthesis: SynthesisHints | None = None) -> LayerCore:
        return cls(**cls.elaboration_args(cfg), synthesis=synthesis)

    def memories(self, platform: object = None) -> list[CoreMemory]:
        """Every memory of the core as elaborated (``hw.memories``): name, depth, width, kind,
        role."""
        return memory_list(self, platform)

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform: object) -> Module:
        m = Module()
        c = SimpleNamespace(cfg=self.cfg, regs=self.regs, probe=self.probe,
                            host_addr=self.host.addr)
        c.rams = make_rams(m, self.cfg, self.synthesis)
        c.s = self._sample_state(m)
        self._datapaths(m, c)
        self._flags(m, c)
        banked_ports(m, c)
        self._small_ports(m, c)
        phase_fsm(m, c)
        return m

    def _sample_state(self, m: Module) -> SimpleNamespace:
        """The sample's bookkeeping, kept by the FSM: the event list's per-step bounds, the
        step, the spike count, the winners and the prediction."""
        cfg = self.cfg
        ev_bits, k_max = cfg.n_inputs.bit_length(), cfg.k_max
        row_bits = max(1, (cfg.rows - 1).bit_length())
        s = SimpleNamespace(
            n_ev=Signal(ev_bits), first=[Signal(ev_bits, name=f"first{t}")
                                         for t in range(cfg.time_steps + 1)],
            last_tp1=Signal(cfg.time_bits + 1),  # last accepted time + 1 (0 before any event)
            last_t=Signal(cfg.time_bits),  # max(last_tp1 - 1, 0): a one-compare order check
            has_events=Signal(cfg.time_steps),  # bit t: an event at t (short INTEG_START)
            step=Signal(cfg.time_bits), last_step=Signal(cfg.time_bits),
            n_spk=Signal(range(cfg.n_neurons + 1)),
            win_k=Array(Signal(row_bits, name=f"win_k{w}") for w in range(k_max)),
            win_p=Array(Signal(max(1, (cfg.lanes - 1).bit_length()), name=f"win_p{w}")
                        for w in range(k_max)),
            win_t=Array(Signal(cfg.time_bits, name=f"win_t{w}") for w in range(k_max)),
            win_cb=Array(Signal((cfg.n_neurons * cfg.col_words).bit_length(), name=f"win_cb{w}")
                         for w in range(k_max)),
            # ~(1 << k % R): clears the winner's bit of its row-mask words (R bits)
            win_km=Array(Signal(cfg.row_word_width, name=f"win_km{w}") for w in range(k_max)),
            n_win=Signal(range(k_max + 1)), lw=Signal(range(k_max + 1)),  # lw: being learned
            pred=Signal(cfg.neuron_bits), error=Signal(2))
        m.d.comb += self.error.eq(s.error)
        return s

    def _datapaths(self, m: Module, c: SimpleNamespace) -> None:
        """The datapath components and their inputs from the memories and the registers."""
        cfg, regs, r, s, hints = self.cfg, self.regs, c.rams, c.s, self.synthesis
        P, K, L = cfg.lanes, cfg.rows, cfg.ram_latency
        keep, small = hints.keep_attrs, hints.small_ram_attrs

        def lanes(ports: list, values: list) -> None:
            m.d.comb += [port.eq(value) for port, value in zip(ports, values, strict=True)]

        m.submodules.skid = c.skid = SkidBuffer(layout=self.events_in.payload.shape())
        wiring.connect(m, wiring.flipped(self.events_in), c.skid.i)
        m.submodules.host_port = c.host_port = HostPort(
            host=layouts.host_signature(cfg), lanes=P, ram_latency=L,
            counter_bits=cfg.counter_bits, adapt_bits=cfg.adapt_bits,
            weight_bits=cfg.weight_bits, row_mask_bits=cfg.row_word_width,
            col_word_bits=cfg.col_word_bits, label_bits=layouts.LABEL_BITS, keep_attrs=keep)
        wiring.connect(m, wiring.flipped(self.host), c.host_port.host)

        def count(counter: Counter, amount: object = 1) -> None:
            m.d.comb += getattr(c.host_port.increments, counter.name.lower()).eq(amount)
        c.count = count

        m.submodules.integration = integ = c.integ = Integration(
            lanes=P, rows=K, n_inputs=cfg.n_inputs, weight_bits=cfg.weight_bits,
            membrane_bits=cfg.membrane_bits, ram_latency=L, row_word_bits=cfg.row_word_bits,
            pipelined=cfg.die_wide, fifo_attrs=small, keep_attrs=keep)
        m.d.comb += [integ.first.eq(Array(s.first)[s.step]),
                     integ.end.eq(Array(s.first)[s.step + 1]),
                     integ.some.eq(s.has_events.bit_select(s.step, 1)),
                     integ.event_index.eq(r.ev_q)]
        lanes(integ.row_words, r.row_q)
        lanes(integ.weights, r.w_q)
        lanes(integ.v_read, [x.data for x in r.v_acc])

        m.submodules.sweep = sweep = c.sweep = Sweep(
            lanes=P, rows=K, membrane_bits=cfg.membrane_bits, adapt_bits=cfg.adapt_bits,
            die_wide=cfg.die_wide, fired_in_adapt=cfg.fired_in_adapt, keep_attrs=keep,
            reg_attrs=hints.keep_register_attrs)
        m.d.comb += [sweep.threshold.eq(regs.threshold), sweep.leak_shift.eq(regs.leak_shift),
                     sweep.decay_en.eq(regs.learn & (s.step == 0)),
                     sweep.decay_shift.eq(regs.homeo_decay_shift)]
        lanes(sweep.v, [x.data for x in r.v_rd])
        lanes(sweep.adapt, [x.data[:cfg.adapt_bits] for x in r.a_rd])
        if cfg.fired_in_adapt:  # the fired bit above each adaptation word
            m.d.comb += [sweep.fired_in.eq(Cat(*[x.data[cfg.adapt_bits] for x in r.a_rd])),
                         sweep.first_step.eq(s.step == 0)]
        m.submodules.reduce = lane_reduce = c.lane_reduce = LaneReduce(
            lanes=P, margin_bits=sweep.best_margin[0].shape().width,
            row_bits=max(1, (K - 1).bit_length()))
        m.d.comb += lane_reduce.lane_valid.eq(sweep.best_valid)
        lanes(lane_reduce.lane_margin, sweep.best_margin)
        lanes(lane_reduce.lane_row, sweep.best_row)

        m.submodules.learning = learning = c.learning = Learning(
            lanes=P, rows=K, n_inputs=cfg.n_inputs, col_word_bits=cfg.col_word_bits,
            weight_bits=cfg.weight_bits, time_bits=cfg.time_bits,
            stdp_frac_bits=cfg.stdp_frac_bits, ram_latency=L, lfsr_seed=cfg.lfsr_seed,
            row_word_bits=cfg.row_word_bits, paced=cfg.single_port, pipelined=cfg.die_wide,
            ram_attrs=small)
        hq = c.host_port
        m.d.comb += [learning.win_row.eq(s.win_k[s.lw]), learning.win_lane.eq(s.win_p[s.lw]),
                     learning.win_time.eq(s.win_t[s.lw]),
                     learning.win_col_base.eq(s.win_cb[s.lw]),
                     learning.win_kmask.eq(s.win_km[s.lw]),
                     learning.a_plus.eq(regs.a_plus), learning.a_minus.eq(regs.a_minus),
                     learning.prune_enable.eq(regs.prune_enable),
                     learning.prune_threshold.eq(regs.prune_threshold),
                     learning.input_time.eq(r.tin_q), learning.col_word.eq(r.col_q),
                     learning.lfsr_write.eq(hq.write[HostRegion.LFSR.value]),
                     learning.live_write.eq(hq.write[HostRegion.LIVE.value]),
                     learning.wdata.eq(hq.wdata)]
        lanes(learning.weights, r.w_q)
        lanes(learning.row_words, r.row_q)

        c.regrow = None  # the regrowth unit, when the core has one (``Config.regrow_unit``)
        if cfg.regrow_unit:
            m.submodules.regrow = regrow = c.regrow = Regrow(
                lanes=P, rows=K, n_inputs=cfg.n_inputs, col_word_bits=cfg.col_word_bits,
                weight_bits=cfg.weight_bits, ram_latency=L, row_word_bits=cfg.row_word_bits)
            m.d.comb += [regrow.updated.eq(learning.updates), regrow.pruned.eq(learning.pruned),
                         regrow.win_row.eq(s.win_k[s.lw]), regrow.win_lane.eq(s.win_p[s.lw]),
                         regrow.win_col_base.eq(s.win_cb[s.lw]),
                         regrow.regrow_weight.eq(regs.regrow_weight),
                         regrow.lfsr.eq(learning.lfsr), regrow.col_word.eq(r.col_q),
                         learning.lfsr_step.eq(regrow.lfsr_step),
                         learning.grown.eq(regrow.grown)]
            # a host REWIRE command runs ("pq", set by the FSM), with its cut
            # (``layouts.rewire_layout``)
            c.rewiring = Signal()
            c.rw_cut, c.rw_equal = Signal.like(learning.cut), Signal.like(learning.cut_equal)
            m.d.comb += [learning.cut_mode.eq(c.rewiring), learning.cut.eq(c.rw_cut),
                         learning.cut_equal.eq(c.rw_equal)]
            lanes(regrow.row_words, r.row_q)

        m.submodules.emit = emit = c.emit = Emit(
            spike_layout=spike_layout(cfg), event_layout=self.events_out.payload.shape(),
            max_spikes=cfg.n_neurons, keep_attrs=keep)
        wiring.connect(m, emit.out, wiring.flipped(self.events_out))
        lanes(emit.bank_data, [x.data for x in r.spk_rd])
        m.d.comb += [emit.n_spikes.eq(s.n_spk), emit.last_step.eq(s.last_step),
                     emit.pred.eq(s.pred)]

        # what the host reads
        lanes(hq.lane_adapt, [x.data for x in r.a_oth])
        lanes(hq.lane_weight, r.w_q)
        lanes(hq.lane_row_mask, r.row_q)
        m.d.comb += [hq.col_mask.eq(r.col_q), hq.label.eq(r.lab_rd.data),
                     hq.lfsr.eq(learning.lfsr), hq.live.eq(learning.live)]
        # the probe (``layouts.probe_layout``)
        tr = self.probe
        m.d.comb += [tr.step.eq(s.step), tr.row.eq(sweep.write_row),
                     tr.neuron.eq(learning.row * P + learning.lane),
                     tr.input.eq(learning.write_input),
                     tr.weight.eq(learning.weight_write_data), tr.pruned.eq(learning.pruned_q),
                     tr.sweep_valid.eq(sweep.write)]
        lanes(tr.v, sweep.v_out)

    def _flags(self, m: Module, c: SimpleNamespace) -> None:
        """The registered flags the FSM sets and the port multiplexers read, and the small
        registers of CLEAR, the label read and the host's error clear."""
        cfg, keep = self.cfg, self.synthesis.keep_attrs
        P, K = cfg.lanes, cfg.rows
        # LEARN_START .. CLEAR_START (both included): learning drives the banked RAMs; and a
        # copy per lane: it selects every address and word of the lane's banked RAMs (one
        # register would drive thousands of multiplexers across the die)
        c.in_learn = Signal()
        c.in_learn_l = [Signal(name=f"in_learn_l{p}", attrs=keep) for p in range(P)]
        c.learn_inc = Signal()  # the winner's adaptation is written (LEARN's first cycle)
        # REGROW and the state after it: the regrowth unit drives the banked RAMs (inside
        # in_learn), with a copy per lane as in_learn's (only with the unit)
        if cfg.regrow_unit:
            c.in_regrow = Signal()
            c.in_regrow_l = [Signal(name=f"in_regrow_l{p}", attrs=keep) for p in range(P)]
        c.in_clear = Signal()  # the FSM is in CLEAR
        # CLEAR counts to max(events, K): wide enough for either (a lane of K >= 2 n_in rows,
        # 64 rows over 16 inputs, had wrapped and never ended)
        clear_bits = max(cfg.n_inputs.bit_length() + 1, K.bit_length())
        c.clear = SimpleNamespace(ptr=Signal(clear_bits, name="cptr"),
                                  max=Signal(clear_bits, name="cmax"),
                                  more=Signal(name="c_more"),  # ptr != max, registered
                                  # ptr < K, registered: the membrane write enable is a gate
                                  # of flags, not a compare of the counter (the 85F's path)
                                  in_rows=Signal(name="c_in_rows"),
                                  q_valid=Signal(2, name="cq_valid"))
        # The adaptation row a lane reads outside the sweep, a register per lane: the winner's
        # row, loaded when lw moves to it (LEARN_START reads it), and in IDLE the host's
        # address, loaded as the host port's is (so it equals it when a host read acts). The
        # memory's address is then one multiplexer from registers next to it.
        c.a_oaddr = [Signal.like(c.rams.a_rd[p].addr, name=f"a_oaddr_l{p}", attrs=keep)
                     for p in range(P)]
        # The label read's address, a register next to the N-word distributed RAM: the
        # predicted neuron from CLEAR_START to the end of EMIT (loaded in CLEAR_START), else the
        # host's address (reads are only taken in IDLE, where label_pred is low).
        c.label_pred = Signal()
        c.lab_addr = Signal.like(c.rams.lab_rd.addr, name="lab_ra")
        with m.If(~c.label_pred):
            m.d.sync += c.lab_addr.eq(self.host.addr)
        m.d.comb += c.rams.lab_rd.addr.eq(c.lab_addr)
        c.pred_label = Signal(layouts.LABEL_BITS)
        m.d.comb += self.pred_label.eq(c.pred_label)
        with m.If(c.host_port.write[HostRegion.COUNTER.value]):  # (with the counters)
            m.d.sync += c.s.error.eq(0)

    def _small_ports(self, m: Module, c: SimpleNamespace) -> None:
        """The small memories' read addresses and write requests: the sweep's (sweeping, per
        lane), CLEAR's, the accumulate's, the learning's (the winner's adaptation) or the
        host's, chosen by registered flags too; the spike list's writes and the emit's reads."""
        cfg, r, s, hq, sweep, integ = self.cfg, c.rams, c.s, c.host_port, c.sweep, c.integ
        cl = c.clear
        write = {region: hq.write[region.value] for region in HostRegion}
        clear_v = c.in_clear & cl.more & cl.in_rows  # CLEAR zeroes the membranes
        for p in range(cfg.lanes):
            sweeping = sweep.sweeping_lane[p]
            # the sweep's reads hold while it stalls (the stall copies are low outside SWEEP)
            m.d.comb += [r.v_rd[p].en.eq(sweep.read_en[p]), r.a_rd[p].en.eq(sweep.read_en[p])]
            if cfg.die_wide:
                m.d.comb += [r.v_rd[p].addr.eq(sweep.row_addr[p]),
                             r.v_acc[p].addr.eq(integ.v_read_addr[p]),
                             r.a_rd[p].addr.eq(sweep.row_addr[p]),
                             r.a_oth[p].addr.eq(c.a_oaddr[p])]
            else:
                m.d.comb += [
                    r.v_rd[p].addr.eq(Mux(sweeping, sweep.row_addr[p], integ.v_read_addr[p])),
                    r.a_rd[p].addr.eq(Mux(sweeping, sweep.row_addr[p], c.a_oaddr[p]))]
            # LEARN_INC: the winner's adaptation + inc, saturated into a register (the write
            # request's multiplexers then start from flip-flops), written from LEARN's first
            # cycle (learn_inc)
            homeo_inc = c.regs.homeo_inc
            if cfg.die_wide:
                # die-wide, the knob copied next to the lane (as NeuronUpdate copies its own): a
                # register changes between samples, long before a winner's increment reads it
                homeo_inc = Signal.like(c.regs.homeo_inc, name=f"homeo_inc_l{p}",
                                        reset_less=True,
                                        attrs=self.synthesis.keep_register_attrs)
                m.d.sync += homeo_inc.eq(c.regs.homeo_inc)
            inc = r.a_oth[p].data[:cfg.adapt_bits] + homeo_inc  # (without a fired bit)
            inc_sat = Signal(cfg.adapt_bits, name=f"a_inc{p}")
            sweep_adapt = (Cat(sweep.adapt_out[p], sweep.fired_out[p]) if cfg.fired_in_adapt
                           else sweep.adapt_out[p])
            m.d.sync += inc_sat.eq(Mux(inc[cfg.adapt_bits], cfg.adapt_max, inc[:cfg.adapt_bits]))
            m.d.comb += [
                r.v_wr[p].addr.eq(Mux(sweeping, sweep.write_row,
                                      Mux(c.in_clear, cl.ptr, integ.v_write_addr[p]))),
                r.v_wr[p].data.eq(Mux(sweeping, sweep.v_out[p],
                                      Mux(c.in_clear, 0, integ.v_write_data[p]))),
                r.v_wr[p].en.eq(Mux(sweeping, sweep.write_lane[p],
                                    Mux(c.in_clear, clear_v, integ.v_write_en[p]))),
                r.a_wr[p].addr.eq(Mux(sweeping, sweep.write_row,
                                      Mux(c.in_learn, c.learning.row, hq.addr))),
                # (with the fired bit above the adaptation: the sweep's, else 0)
                r.a_wr[p].data.eq(Mux(sweeping, sweep_adapt,
                                      Mux(c.in_learn, inc_sat, hq.wdata[:cfg.adapt_bits]))),
                r.a_wr[p].en.eq(Mux(sweeping, sweep.write_lane[p],
                                    Mux(c.in_learn, c.learn_inc & c.learning.lane_onehot[p],
                                        write[HostRegion.ADAPT] & hq.lane[p]))),
            ]
        # The spike count follows the sweep's own spike flag (high only while it sweeps), not
        # the FSM's SWEEP state: its enable then needs no decode of the state (on the 85F's
        # default placement that decode was the critical path). EMIT's reset never meets a spike.
        with m.If(sweep.spike):
            m.d.sync += s.n_spk.eq(s.n_spk + 1)
        for b, wr in enumerate(r.spk_wr):
            m.d.comb += [wr.addr.eq(s.n_spk >> 1), wr.data.time.eq(s.step),
                         wr.data.neuron.eq(sweep.spike_neuron),
                         wr.en.eq(sweep.spike & (s.n_spk[0] == b)),
                         r.spk_rd[b].addr.eq(c.emit.bank_addr[b])]
        m.d.comb += [r.lab_wr.addr.eq(hq.addr), r.lab_wr.data.eq(hq.wdata),
                     r.lab_wr.en.eq(write[HostRegion.LABEL])]
