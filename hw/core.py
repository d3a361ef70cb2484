"""LayerCore: one TTFS LIF layer that learns with STDP and prunes its synapses on the chip.

The core follows ``model.network.Network.run_sample`` exactly; ``model.cycles`` predicts its cycle
count per phase. Phases of a sample (``docs/architecture.md``, cycle schedule):

LOAD   take input events (SPIKE ..., END) from ``events_in``: input times into ``t_in``, indices
       into the event memory, per-step boundaries into ``first``.
INTEG  per time step: stream that step's events; each event's row-mask words (one per lane) go
       through the lockstep walker, which visits only live synapses; each visit reads a weight
       and adds it to the membrane of that lane's neuron.
SWEEP  per time step: every lane visits its K neurons: leak, (step 0 of learning) adaptation
       decay, margin, fire once; spikes go to the spike memory; then the lanes' best candidates
       are reduced to the step's winner.
LEARN  per winner: adaptation += inc, then its column bitmap is walked (live synapses only): one
       STDP update per live synapse, pruning clears the synapse in both bitmaps.
CLEAR  restore ``t_in`` of the loaded inputs to 'never', zero membranes and fired flags.
EMIT   stream the spikes and an END (time = last step, index = predicted neuron) to ``events_out``.

Memories that are block RAM have a register after the read (2-cycle latency); membrane,
adaptation, spike and label memories are small (``hw.memories``: the kind of each). The
datapaths are pipelined for a 100 MHz ECP5 clock (walker visits registered, sweep rows through a
stalling row pipeline, a two-stage reduce, STDP in ``StdpUnit.LATENCY`` stages); the pipeline
depths are the constants of ``model.cycles``.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
from functools import reduce
from types import SimpleNamespace
from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.config import Config
from ..model.lfsr import TOGGLE_MASK
from . import layouts
from .banked_ram import BankedRam
from .delay_line import DelayLine, register_chain
from .layouts import Counter, EventKind, HostRegion
from .memories import CoreMemory, memory_list
from .rule_units import NeuronUpdate, PruneUnit, StdpUnit
from .synthesis import COLLISION_FREE, SynthesisHints
from .walker import LockstepWalker, one_hot_index, three_or_more, two_or_more


class LayerCore(wiring.Component):
    """The layer core. Build it with ``LayerCore.from_config(cfg)`` or the keyword arguments
    below (the elaboration-time fields of ``model.config.Config``); runtime knobs come in on
    ``regs``. Port contract: ``hw/layouts.py``. ``synthesis`` (``hw.synthesis.SynthesisHints``,
    default none) chooses the attributes the core's registers and memories carry for the
    synthesis tool; it changes no logic. ``memories()`` lists the core's memories."""

    def __init__(self, *, n_inputs: int, n_neurons: int, lanes: int, time_steps: int,
                 k_max: int = 1, col_word_bits: int = 16, weight_bits: int = 8,
                 membrane_bits: int = 16, adapt_bits: int = 12, stdp_frac_bits: int = 12,
                 counter_bits: int = 32, ram_latency: int = 4,
                 lfsr_seed: int = 0xACE1, synthesis: SynthesisHints | None = None) -> None:
        args = dict(n_inputs=n_inputs, n_neurons=n_neurons, lanes=lanes, time_steps=time_steps,
                    k_max=k_max, col_word_bits=col_word_bits, weight_bits=weight_bits,
                    membrane_bits=membrane_bits, adapt_bits=adapt_bits,
                    stdp_frac_bits=stdp_frac_bits, counter_bits=counter_bits,
                    ram_latency=ram_latency, lfsr_seed=lfsr_seed)
        for name, value in args.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"LayerCore: {name} must be an int, not {type(value).__name__}")
        if synthesis is not None and not isinstance(synthesis, SynthesisHints):
            raise TypeError(f"LayerCore: synthesis must be a SynthesisHints or None, not "
                            f"{type(synthesis).__name__}")
        self.synthesis = synthesis if synthesis is not None else SynthesisHints()
        # The hardware only needs the elaboration-time fields; a Config carries and checks them.
        shape = (1, n_inputs)
        self.cfg = Config(image_shape=shape, k_winners=1, threshold=0, prune_threshold=0,
                          homeo_inc=0, homeo_decay_shift=0, a_plus=0, a_minus=0, **args)
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
    def elaboration_args(cls, cfg: Config) -> dict[str, int]:
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
        cfg = self.cfg
        m = Module()
        P, K, T, B, G = cfg.lanes, cfg.rows, cfg.time_steps, cfg.col_word_bits, cfg.col_words
        n_in, N = cfg.n_inputs, cfg.n_neurons
        regs = self.regs
        row_bits = max(1, (K - 1).bit_length())
        lane_bits = max(1, (P - 1).bit_length())
        ev_bits = (n_in).bit_length()

        # ---------------- memories ----------------
        hints = self.synthesis
        keep = hints.keep_attrs  # on the core's own copies of a register, one per lane
        small = hints.small_ram_attrs  # on the small memories

        def mem(name: str, **kw: Any) -> Memory:
            memory = Memory(**kw)
            m.submodules[name] = memory
            return memory

        # No read of the event list or the input times meets a write of the same word in a
        # cycle whose read is used (written in LOAD and CLEAR, read in INTEG, CLEAR and LEARN):
        # the build lets Yosys drop their collision logic (COLLISION_FREE).
        ev_mem = mem("ev_mem", shape=unsigned(cfg.input_bits), depth=n_in, init=[],
                     attrs={COLLISION_FREE: 1})
        t_in = mem("t_in", shape=unsigned(cfg.time_bits), depth=n_in, init=[T] * n_in,
                   attrs={COLLISION_FREE: 1})

        def banked(name: str, width: int, depth: int) -> BankedRam:
            ram = BankedRam(width=width, depth=depth, latency=cfg.ram_latency,
                            reg_attrs=hints.keep_register_attrs)
            m.submodules[name] = ram
            return ram

        # weights and row masks per lane, column masks: the lanes' BankedRams see the same
        # addresses, so their registers are kept apart too (one register would drive logic all
        # over the die: the 85F's critical path before, docs/boards.md)
        w_mem = [banked(f"w{p}", cfg.weight_bits, n_in * K) for p in range(P)]
        row_mem = [banked(f"row{p}", K, n_in) for p in range(P)]
        col_mem = banked("col", B, N * G)
        v_mem = [mem(f"v{p}", shape=unsigned(cfg.membrane_bits), depth=K, init=[])
                 for p in range(P)]
        a_mem = [mem(f"a{p}", shape=unsigned(cfg.adapt_bits), depth=K, init=[])
                 for p in range(P)]
        spike_layout = data.StructLayout({"time": unsigned(cfg.time_bits),
                                          "neuron": unsigned(cfg.neuron_bits)})
        # the spike list in two banks, the even and the odd entries (entry e at e // 2 of bank
        # e % 2): EMIT's two reads, spikes eptr and eptr + 1, are one per bank
        spk_mem = [mem(f"spk{b}", shape=spike_layout, depth=(N + 1) // 2, init=[], attrs=small)
                   for b in range(2)]
        lab_mem = mem("labels", shape=unsigned(layouts.LABEL_BITS), depth=N, init=[],
                      attrs=small)

        # Every read is synchronous, so every memory can be block RAM where the part has it
        # (iCE40 has no distributed RAM) and no RAM read shares a cycle with arithmetic.
        ev_rd, tin_rd = ev_mem.read_port(), t_in.read_port()
        w_rd, w_wr = [x.read for x in w_mem], [x.write for x in w_mem]
        row_rd, row_wr = [x.read for x in row_mem], [x.write for x in row_mem]
        col_rd, col_wr = col_mem.read, col_mem.write
        v_rd = [x.read_port() for x in v_mem]
        # the accumulate's membrane read: the same port as the sweep's (the address chosen by
        # in_sweep), or die-wide a port of its own, so that neither address has a multiplexer
        # in front of the RAM's cells
        v_acc = [x.read_port() for x in v_mem] if cfg.die_wide else v_rd
        a_rd = [x.read_port() for x in a_mem]
        # The adaptation row a lane reads outside the sweep, a register per lane: the winner's
        # row, loaded when lw moves to it (LEARN_START reads it), and in IDLE the host's
        # address, loaded with hq (so it equals hq.addr when a host read acts). The memory's
        # address is then one multiplexer from registers next to it (the sweep's port), or
        # die-wide the address of a port of its own (a_oth), as for the membrane.
        a_oth = [x.read_port() for x in a_mem] if cfg.die_wide else a_rd
        a_oaddr = [Signal.like(a_rd[p].addr, name=f"a_oaddr_l{p}", attrs=keep)
                   for p in range(P)]
        spk_rd = [x.read_port() for x in spk_mem]
        lab_rd = lab_mem.read_port()

        def registered_write(memory: Memory, name: str) -> SimpleNamespace:
            """A write port whose address, data and enable are registered: the multiplexers
            that choose what to write and the fan-out to every cell of a distributed RAM (or
            to a block RAM's inputs) sit in different cycles. A write requested in cycle c is
            done at the end of c + 1."""
            port = memory.write_port()
            req = SimpleNamespace(addr=Signal.like(port.addr, name=f"{name}_wa"),
                                  data=Signal(port.data.shape(), name=f"{name}_wd"),
                                  en=Signal(name=f"{name}_we"))
            m.d.sync += [port.addr.eq(req.addr), port.data.eq(req.data), port.en.eq(req.en)]
            return req

        v_wr = [registered_write(x, f"v{p}") for p, x in enumerate(v_mem)]
        a_wr = [registered_write(x, f"a{p}") for p, x in enumerate(a_mem)]
        spk_wr = [registered_write(x, f"spk{b}") for b, x in enumerate(spk_mem)]
        lab_wr = registered_write(lab_mem, "labels")
        # (the event list and input times are written in LOAD and CLEAR and read in INTEG,
        # CLEAR and LEARN: a write a cycle late is done before any read of its word)
        ev_wr, tin_wr = registered_write(ev_mem, "ev"), registered_write(t_in, "tin")

        # Register after the event and input-time RAM reads (ECP5 DP16KD clock-to-out,
        # ECP5 family data sheet, FPGA-DS-02012); the banked RAMs register inside (latency L).
        L = cfg.ram_latency
        fetch_stages = 2 + L  # event read (2) + row-mask read
        fetch_depth = fetch_stages + 4  # walker FIFO entries: > fetch latency keeps it fed
        ev_q = Signal.like(ev_rd.data)
        tin_q = Signal.like(tin_rd.data)
        m.d.sync += [ev_q.eq(ev_rd.data), tin_q.eq(tin_rd.data)]
        w_q = [x.data for x in w_rd]
        row_q = [x.data for x in row_rd]
        col_q = col_rd.data

        # ---------------- sample state ----------------
        n_ev = Signal(ev_bits)
        first = [Signal(ev_bits, name=f"first{t}") for t in range(T + 1)]
        last_tp1 = Signal(cfg.time_bits + 1)  # last accepted time + 1 (0 before any event)
        last_t = Signal(cfg.time_bits)  # max(last_tp1 - 1, 0): a one-compare order check
        has_events = Signal(T)  # bit t: an event with time t was accepted (short INTEG_START)
        step = Signal(cfg.time_bits)
        fired = [Signal(K, name=f"fired{p}") for p in range(P)]
        n_spk = Signal(range(N + 1))
        win_k = Array(Signal(row_bits, name=f"win_k{w}") for w in range(cfg.k_max))
        win_p = Array(Signal(lane_bits, name=f"win_p{w}") for w in range(cfg.k_max))
        win_t = Array(Signal(cfg.time_bits, name=f"win_t{w}") for w in range(cfg.k_max))
        # per winner, computed when it is recorded (from the REDUCE registers), so that
        # LEARN_START only selects: its column-bitmap base (k * P + p) * G and its row-mask
        # clearing mask ~(1 << k)
        win_cb = Array(Signal((N * G).bit_length(), name=f"win_cb{w}") for w in range(cfg.k_max))
        win_km = Array(Signal(K, name=f"win_km{w}") for w in range(cfg.k_max))
        n_win = Signal(range(cfg.k_max + 1))
        pred = Signal(cfg.neuron_bits)
        last_step = Signal(cfg.time_bits)
        lfsr = Signal(32, init=cfg.lfsr_seed)
        live = Signal(32)
        error = Signal(2)
        m.d.comb += self.error.eq(error)
        counters = Array(Signal(cfg.counter_bits, name=f"cnt_{c.name.lower()}")
                         for c in Counter)

        # The FSM's states request increments; they are added a cycle later from registers, so
        # the counters' adders and enables do not hang off FSM decodes. The host reads and
        # clears counters only while the core is idle, after the last request has landed.
        inc_req = [Signal(range(P + 1) if c == Counter.SYN_EVENTS else 1,
                          name=f"inc_{c.name.lower()}") for c in Counter]
        for c, req in zip(Counter, inc_req, strict=True):
            inc_q = Signal.like(req, name=f"{req.name}_q")
            m.d.sync += [inc_q.eq(req), counters[c].eq(counters[c] + inc_q)]

        def count(c: Counter, amount: object = 1) -> None:
            m.d.comb += inc_req[c].eq(amount)

        def credits(room: Signal, some: Signal, issue: Value, taken: Value) -> None:
            """Count a fetch's credits ``room`` (with ``some`` = ``room != 0`` registered, so
            the issue decision is a gate of flags): one less at each issue, one more at each
            take by the walker."""
            with m.If(issue & ~taken):
                m.d.sync += [room.eq(room - 1), some.eq(room != 1)]
            with m.Elif(~issue & taken):
                m.d.sync += [room.eq(room + 1), some.eq(1)]

        def delay(value: object, name: str, stages: int) -> list[Signal]:
            """``value`` registered ``stages`` times; element s-1 is its copy s cycles later."""
            return register_chain(m, value, stages, name=name)

        # ---------------- integration datapath ----------------
        # Fetch pipeline, stage s = cycles after the event address: 2: event index (ev_q), the
        # row-mask address; 2 + L: the row-mask words into the walker with base = i * K.
        ev_tag = data.StructLayout({"base": unsigned((n_in * K).bit_length())})
        m.submodules.row_walker = row_walker = LockstepWalker(
            lanes=P, width=K, tag_layout=ev_tag, depth=fetch_depth,
            pipelined=cfg.die_wide, fifo_attrs=small)
        fptr, fend = Signal(ev_bits), Signal(ev_bits)
        fs_valid = Signal(fetch_stages)  # fetch pipeline occupancy, bit s: stage s + 1
        fs_base = delay(ev_q * K, "fs_base", L)  # element L-1: stage 2 + L
        # entries the fetch may still issue: fetch_depth less those in its pipeline or queued
        # in the walker (credits), and fptr != fend, both as registered flags
        fetch_room = Signal(range(fetch_depth + 1), init=fetch_depth)
        fetch_some = Signal(init=1)  # fetch_room != 0
        f_more = Signal()  # fptr != fend
        fetch_issue = Signal()
        m.d.comb += fetch_issue.eq(f_more & fetch_some)
        m.d.comb += [
            row_walker.entries.valid.eq(fs_valid[-1]),
            row_walker.entries.payload.tag.base.eq(fs_base[-1]),
        ]
        m.d.comb += [row_walker.entries.payload.words[p].eq(row_q[p]) for p in range(P)]
        # Accumulate pipeline, stage s = cycles after the walker's visit: 0: weight address;
        # L - 1: membrane read; L: weight and membrane in, sum, saturate, write request (done
        # at the end of stage L + 1, registered_write). The word a visit reads at stage L - 1
        # misses the writes of the two visits ahead of it, so a visit whose row one of them
        # wrote takes that sum instead of the RAM's stale word: acc_fwd from the visit one
        # ahead (acc_last), acc_fwd2 from the one two ahead (acc_last2).
        walk = row_walker.out
        acc_valid = delay(walk.valid, "acc_valid", L)  # element s-1: stage s
        acc_hit = delay(Cat(*[walk.hit[p] for p in range(P)]), "acc_hit", L)
        acc_k = [delay(walk.bit[p], f"acc_k{p}_", L + 1) for p in range(P)]
        acc_fwd, acc_fwd2, acc_wrote = Signal(P), Signal(P), Signal(P)
        acc_last = [Signal(cfg.membrane_bits, name=f"acc_last{p}") for p in range(P)]
        acc_last2 = [Signal(cfg.membrane_bits, name=f"acc_last2_{p}") for p in range(P)]
        acc_sum = []
        for p in range(P):
            # v_max = 2^membrane_bits - 1: the carry out is the saturation flag
            base = Mux(acc_fwd[p], acc_last[p], Mux(acc_fwd2[p], acc_last2[p], v_acc[p].data))
            total = base + w_q[p]
            acc_sum.append(Mux(total[cfg.membrane_bits], cfg.v_max, total[:cfg.membrane_bits]))
        acc_write = Cat(*[acc_valid[L - 1] & acc_hit[L - 1][p] for p in range(P)])
        m.d.sync += [acc_last[p].eq(acc_sum[p]) for p in range(P)]
        m.d.sync += [acc_last2[p].eq(acc_last[p]) for p in range(P)]
        m.d.sync += acc_wrote.eq(acc_write)  # stage L + 1: the visit wrote
        m.d.sync += acc_fwd.eq(Cat(*[acc_write[p] & (acc_k[p][L - 1] == acc_k[p][L - 2])
                                     for p in range(P)]))
        m.d.sync += acc_fwd2.eq(Cat(*[acc_wrote[p] & (acc_k[p][L] == acc_k[p][L - 2])
                                      for p in range(P)]))
        # The integration pipeline has drained: registered (the FSM leaves INTEG on a flag,
        # not on the OR over every stage), zeroed in INTEG_START, so it says "idle" from the
        # cycle after the pipeline was (nothing is issued once fptr reaches fend).
        integ_idle = Signal()
        m.d.sync += integ_idle.eq(~f_more & (fs_valid == 0) & row_walker.idle
                                  & ~Cat(*acc_valid).any())

        # ---------------- sweep datapath ----------------
        # Row pipeline: stage 0 issues row sweep_k (membrane/adaptation read, eligibility),
        # stage 1 has the read values (the RAMs' read registers, held by a stall), NeuronUpdate
        # adds its latency in stages, one more registers its outputs with the firing lanes and
        # whether there are two or more of them (so the stall is a register, not the margin
        # compare); the last stage (sw_last) fires, writes back
        # and updates the lane bests. A row that fires s > 1 lanes holds the last stage s
        # cycles and stalls the whole pipeline meanwhile. Rows are distinct within a step and
        # the pipeline drains before the next step, so no forwarding is needed.
        sw_last = 2 + NeuronUpdate.timing(cfg.die_wide)[0]
        sweep_k = Signal(range(K + 1))  # next row to issue
        sw_valid = Signal(sw_last)
        sw_row = [Signal(row_bits, name=f"sw_row{s}") for s in range(1, sw_last + 1)]
        sw_elig = [Signal(P, name=f"sw_elig{s}") for s in range(1, sw_last + 1)]
        sw_stall = Signal()
        in_sweep = Signal()  # the FSM is in SWEEP: the membrane and adaptation read rows
        # Per-lane copies of sweep_k and in_sweep (with more than one lane): each lane's
        # memories take their row address from registers of their own, next to them, not from
        # one register across the die (``keep``: Yosys must not merge them back into one).
        copies = P > 1
        sweep_kl = ([Signal(range(K + 1), name=f"sweep_k_l{p}", attrs=keep) for p in range(P)]
                    if copies else [sweep_k])
        in_sweep_l = ([Signal(name=f"in_sweep_l{p}", attrs=keep) for p in range(P)]
                      if copies else [in_sweep])
        # and of the stall, which enables the lane's row-pipeline registers and memory reads
        sw_stall_l = ([Signal(name=f"sw_stall_l{p}", attrs=keep) for p in range(P)]
                      if copies else [sw_stall])
        # per-lane copies of in_clear: each lane's fired flags are zeroed during CLEAR from a
        # register next to them (one register would drive every lane's flags across the die)
        in_clear_l = [Signal(name=f"in_clear_l{p}", attrs=keep) for p in range(P)]
        pend = Signal(P)
        pending = Signal()  # extra cycles of a row that fires more than one lane
        nu = []
        for p in range(P):
            unit = NeuronUpdate(membrane_bits=cfg.membrane_bits, adapt_bits=cfg.adapt_bits,
                                die_wide=cfg.die_wide,
                                reg_attrs=hints.keep_register_attrs)
            m.submodules[f"neuron{p}"] = unit
            nu.append(unit)
            m.d.comb += [unit.v.eq(v_rd[p].data), unit.adapt.eq(a_rd[p].data),
                         unit.threshold.eq(regs.threshold), unit.leak_shift.eq(regs.leak_shift),
                         unit.decay_en.eq(regs.learn & (step == 0)),
                         unit.decay_shift.eq(regs.homeo_decay_shift),
                         unit.en.eq(~sw_stall_l[p])]
        margin_shape = signed(cfg.membrane_bits + 2)
        lb_valid = Signal(P)
        lb_d = Array(Signal(margin_shape, name=f"lb_d{p}") for p in range(P))
        lb_k = Array(Signal(row_bits, name=f"lb_k{p}") for p in range(P))
        best_valid = Signal()
        best_d = Signal(margin_shape)
        best_k = Signal(row_bits)
        best_p = Signal(lane_bits)
        red = Signal(range(P + 1))
        c_valid, c_d = Signal(), Signal(margin_shape)  # REDUCE: the lane candidate in compare
        c_k, c_p = Signal(row_bits), Signal(lane_bits)
        sw_row_last = sw_row[-1]
        elig = sw_elig[-1]
        # last stage: the NeuronUpdate outputs, the firing lanes and "two or more fire"
        x_v = [Signal.like(nu[p].v_out, name=f"x_v{p}") for p in range(P)]
        x_a = [Signal.like(nu[p].adapt_out, name=f"x_a{p}") for p in range(P)]
        x_m = [Signal.like(nu[p].margin, name=f"x_m{p}") for p in range(P)]
        cross = Signal(P)
        cross_pre = Cat(*[sw_elig[-2][p] & (nu[p].margin >= 0) for p in range(P)])
        with m.If(~sw_stall):
            m.d.sync += cross.eq(cross_pre)
        for p in range(P):
            with m.If(~sw_stall_l[p]):
                m.d.sync += [x_v[p].eq(nu[p].v_out), x_a[p].eq(nu[p].adapt_out),
                             x_m[p].eq(nu[p].margin)]
        spikes_now = Mux(pending, pend, cross)
        spike_low = spikes_now & -spikes_now
        spike_rest = spikes_now & ~spike_low
        spike_lane = one_hot_index(spike_low, P) if P > 1 else Const(0, 1)
        # The stall (the last stage holds a row with two or more spikes left) is a register,
        # decided a cycle ahead, because it enables every register of the row pipeline: in a
        # stall cycle, whether spike_rest has two or more bits (spikes_now three or more, from
        # the registers it chooses between, not through spike_low's carry chain); otherwise
        # whether the row entering the last stage has two or more firing lanes (LUT trees).
        stall_more, stall_new = Signal(), Signal()  # the next stall, when stalled / not
        m.d.comb += [stall_more.eq(Mux(pending, three_or_more(pend), three_or_more(cross))),
                     stall_new.eq(sw_valid[-2] & two_or_more(cross_pre))]

        # A row's fired flags are set the cycle after it fires (fire_set, fire_row registered),
        # so the decode of the row into flag enables starts from registers; the flags of a row
        # are next read in a later step.
        fire_set, fire_row = Signal(P), Signal(row_bits)
        m.d.sync += fire_set.eq(0)
        for p in range(P):
            with m.If(fire_set[p]):
                m.d.sync += fired[p].bit_select(fire_row, 1).eq(1)
            with m.If(in_clear_l[p]):  # CLEAR (no row fires then)
                m.d.sync += fired[p].eq(0)

        def start_sweep() -> None:
            # (the row counters start at 0 in INTEG_START: their enables then need no part of
            # the decision to leave INTEG, which waits on the whole integration pipeline)
            m.d.sync += [pending.eq(0), sw_valid.eq(0), sw_stall.eq(0), in_sweep.eq(1)]
            if copies:
                # (the stall copies are 0 here: a sweep ends with no stall, nothing sets them
                # outside SWEEP)
                m.d.sync += [x.eq(1) for x in in_sweep_l]

        # ---------------- learning datapath ----------------
        w_addr_bits = (n_in * K).bit_length()
        col_tag = data.StructLayout({"g": unsigned(max(1, (G - 1).bit_length())),
                                     "w_base": unsigned(w_addr_bits)})
        m.submodules.col_walker = col_walker = LockstepWalker(
            lanes=1, width=B, tag_layout=col_tag, depth=fetch_depth,
            pipelined=cfg.die_wide, fifo_attrs=small)
        lw = Signal(range(cfg.k_max + 1))  # winner being learned
        l_k, l_p, l_t = Signal(row_bits), Signal(lane_bits), Signal(cfg.time_bits)
        col_base = Signal((N * G).bit_length())
        gptr = Signal(range(G + 1))
        # weight address of (input g * B, row l_k) for word gptr: counted, not multiplied
        g_wbase = Signal(w_addr_bits)
        cs_valid = Signal(L)
        cs_g = delay(gptr[:col_tag.members["g"].width], "cs_g", L)
        cs_wbase = delay(g_wbase, "cs_wbase", L)
        col_room = Signal(range(fetch_depth + 1), init=fetch_depth)  # as fetch_room
        col_some = Signal(init=1)  # col_room != 0
        g_more = Signal()  # gptr != G
        col_issue = Signal()
        m.d.comb += col_issue.eq(g_more & col_some)
        m.d.comb += [
            col_walker.entries.valid.eq(cs_valid[-1]),
            col_walker.entries.payload.tag.g.eq(cs_g[-1]),
            col_walker.entries.payload.tag.w_base.eq(cs_wbase[-1]),
            col_walker.entries.payload.words[0].eq(col_q),
        ]
        cw = col_walker.out
        c_input_w = Cat(cw.bit[0], cw.tag.g)  # g * B + bit, B a power of two
        bit_times_k = Array(Const(b * K, w_addr_bits) for b in range(B))  # a LUT, not a multiply
        # Address stage (stage 0 below): the walker's visit and its weight address, registered.
        cv_valid, cv_seen, c_hit, cv_last = Signal(), Signal(), Signal(), Signal()
        c_input = Signal(range(G * B))
        cv_bit, cv_g = Signal.like(cw.bit[0]), Signal.like(cw.tag.g)
        w_addr = Signal(w_addr_bits)
        m.d.sync += [cv_valid.eq(cw.valid), cv_seen.eq(cw.hit[0]),
                     c_hit.eq(cw.hit[0] & (c_input_w < n_in)), cv_last.eq(cw.last),
                     c_input.eq(c_input_w), cv_bit.eq(cw.bit[0]), cv_g.eq(cw.tag.g),
                     w_addr.eq(cw.tag.w_base + bit_times_k[cw.bit[0]])]
        # Learning pipeline, stage s = cycles after the address stage (stage 0: addresses of the
        # weight, input time and row-mask word; L: the words into StdpUnit; L + LATENCY: w_new,
        # prune compare; ls_wb: write-back). Within one winner's pass every synapse address is
        # visited once, and the pass drains before the next winner starts, so the stages need
        # no forwarding.
        ls_wb = L + StdpUnit.LATENCY + 1

        # What the write-back needs of a synapse rides a DelayLine (a RAM, not ls_wb registers
        # per bit). Its input and column word are rebuilt there from its bit and word number;
        # the column word itself is rebuilt from the visits (one per set bit of the word).
        wb_layout = data.StructLayout({
            "hit": 1, "last": 1, "seen": 1, "bit": len(cv_bit), "g": len(cv_g),
            "waddr": w_addr_bits})
        m.submodules.wb_line = wb_line = DelayLine(width=wb_layout.size, delay=ls_wb,
                                                      ram_attrs=small)
        m.d.comb += wb_line.data.eq(Cat(c_hit, cv_last, cv_seen, cv_bit, cv_g, w_addr))
        at_wb = data.View(wb_layout, wb_line.out)
        # the row-mask word is read at stage ls_wb - L, so that it arrives for the write-back
        # (no copy of it in flight); no other synapse of the pass has the same input
        row_input = delay(Cat(cv_bit, cv_g), "row_input", ls_wb - L)[-1]  # g * B + bit
        wb_input = Cat(at_wb.bit, at_wb.g)
        # valid stays a register chain: it is reset, so a reset never replays stale RAM words
        ls_valid, ls_hit = delay(cv_valid, "ls_valid", ls_wb), delay(c_hit, "ls_hit", L)
        wb_valid = ls_valid[-1]
        t_pre = delay(tin_q, "t_pre", L - 2)[-1]  # the input time (read latency 2) at stage L
        # one LFSR step per synaptic update, as it enters StdpUnit (stage L): the same sequence
        # as stepping at the address stage, with no copies of the state in flight
        with m.If(ls_hit[L - 1]):
            m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ TOGGLE_MASK, lfsr >> 1))
        m.submodules.stdp = stdp = StdpUnit(weight_bits=cfg.weight_bits,
                                            frac_bits=cfg.stdp_frac_bits,
                                            time_bits=cfg.time_bits)
        m.submodules.prune = prune = PruneUnit(weight_bits=cfg.weight_bits)
        m.d.comb += [
            stdp.w.eq(Array(w_q)[l_p]), stdp.t_pre.eq(t_pre), stdp.t_post.eq(l_t),
            stdp.a_plus.eq(regs.a_plus), stdp.a_minus.eq(regs.a_minus),
            stdp.rand.eq(lfsr[:cfg.stdp_shift]),
            prune.w_new.eq(stdp.w_new), prune.enable.eq(regs.prune_enable),
            prune.threshold.eq(regs.prune_threshold),
        ]
        w_new_q, pruned_q = Signal.like(stdp.w_new), Signal()  # stage ls_wb
        m.d.sync += [w_new_q.eq(stdp.w_new), pruned_q.eq(prune.pruned)]
        bit_oh = Const(1, B) << at_wb.bit  # the synapse's bit in its column word
        keep_acc = Signal(B)  # the live bits of the column word so far
        do_update = wb_valid & at_wb.hit
        pruned_now = do_update & pruned_q
        keep_now = Mux(at_wb.seen & ~pruned_now, bit_oh, 0)
        in_learn = Signal()  # LEARN_START .. CLEAR_START: learning drives the banked RAMs
        # and a copy per lane: it selects every address and word of the lane's banked RAMs
        # (one register would drive thousands of multiplexers across the die)
        in_learn_l = [Signal(name=f"in_learn_l{p}", attrs=keep) for p in range(P)]
        learn_inc = Signal()  # the winner's adaptation is written (LEARN's first cycle)
        l_lane = Signal(P)  # the winner's lane, one-hot
        l_kmask = Signal(K)  # ~(1 << l_k): clears the winner's bit of a row-mask word
        col_addr = Signal.like(col_base)  # col_base + gptr, counted
        learn_idle = Signal()  # the learning pass has drained: registered like integ_idle
        m.d.sync += learn_idle.eq(~g_more & (cs_valid == 0) & col_walker.idle & ~cv_valid
                                  & ~Cat(*ls_valid).any())

        # ---------------- clear datapath ----------------
        # CLEAR counts to max(events, K): wide enough for either (a lane of K >= 2 n_in rows,
        # 64 rows over 16 inputs, had wrapped and never ended)
        clear_bits = max(ev_bits + 1, K.bit_length())
        cptr = Signal(clear_bits)
        cmax = Signal(clear_bits)
        c_more = Signal()  # cptr != cmax, registered (CLEAR's end is then a flag, not a compare)
        cq_valid = Signal(2)
        in_clear = Signal()  # the FSM is in CLEAR

        # ---------------- host access ----------------
        host = self.host
        # The host's strobes and operands are registered at the boundary, so the command
        # unit's logic and the core's address multiplexers sit in different cycles. A strobe
        # taken in cycle c (ready: IDLE) acts in cycle c + 1.
        hq = SimpleNamespace(we=Signal(name="hq_we"), re=Signal(name="hq_re"),
                             addr=Signal.like(host.addr, name="hq_addr"),
                             wdata=Signal.like(host.wdata, name="hq_wdata"),
                             region=Signal(HostRegion, name="hq_region"),
                             lane=Signal.like(host.lane, name="hq_lane"))
        # (and the read strobe once per lane: it selects the lanes' banked-RAM read addresses)
        hq_re_l = [Signal(name=f"hq_re_l{p}", attrs=keep) for p in range(P)]
        m.d.sync += [x.eq(host.re & host.ready) for x in hq_re_l]
        m.d.sync += [hq.we.eq(host.we & host.ready), hq.re.eq(host.re & host.ready),
                     hq.addr.eq(host.addr), hq.wdata.eq(host.wdata), hq.region.eq(host.region),
                     hq.lane.eq(host.lane)]
        # the write strobe decoded per region and lane at the boundary: a memory's write enable
        # is then one gate from registers
        hq_wr = {r: Signal(name=f"hq_wr_{r.name.lower()}") for r in HostRegion}
        hq_lane = Signal(P)  # one-hot lane
        m.d.sync += [x.eq(host.we & host.ready & (host.region == r)) for r, x in hq_wr.items()]
        m.d.sync += hq_lane.eq(1 << host.lane)
        # re in cycle c, acted on (hq) in c+1 -> registers and small RAMs: picked at c+2,
        # rdata/rvalid c+4; banked RAMs (weights, masks): data c+1+L, rdata/rvalid c+3+L.
        # Reads of one region pipeline.
        h_valid = delay(hq.re, "h_valid", L)  # element s-1: cycle c+1+s
        h_region = delay(hq.region, "h_region", L)
        h_lane = delay(hq.lane, "h_lane", L)

        def banked_region(region: Value) -> Value:
            return ((region == HostRegion.WEIGHT) | (region == HostRegion.ROW_MASK)
                    | (region == HostRegion.COL_MASK))

        # Registers picked at c+2: the LFSR or the live count, and one counter of each group of
        # four (the group is picked in the next stage: no 12:1 multiplexer of counters spread
        # over the die in one cycle).
        h_imm = Signal(len(host.rdata), reset_less=True)
        m.d.sync += h_imm.eq(Mux(hq.region == HostRegion.LFSR, lfsr, live))
        h_cnt = [Signal(cfg.counter_bits, name=f"h_cnt{g}", reset_less=True)
                 for g in range(-(-len(Counter) // 4))]
        for g, reg in enumerate(h_cnt):
            group = list(counters)[4 * g:4 * g + 4]
            m.d.sync += reg.eq(Array(group)[hq.addr[:2]] if len(group) > 1 else group[0])
        h_cnt_group = Signal(2, reset_less=True)
        h_cnt_ok = Signal(reset_less=True)  # the address names a counter
        m.d.sync += [h_cnt_group.eq(hq.addr[2:4]), h_cnt_ok.eq(hq.addr < len(Counter))]
        # Read data in two registered stages: each lane's word, zero unless its lane and
        # region are read (next to the lane), then the OR of the lanes' and the shared words.
        # No multiplexer over the lanes, which are spread over the die, sits in one cycle;
        # regions never overlap in flight (the host waits for rvalid before switching).
        def reading(stage: int, *regions: HostRegion) -> Value:
            return h_valid[stage] & Cat(*[h_region[stage] == r for r in regions]).any()

        def pick(cond: Value, word: Value) -> Value:
            return Mux(cond, word, 0)

        h_words = []
        for p in range(P):
            word = Signal(len(host.rdata), name=f"h_word{p}", reset_less=True)
            m.d.sync += word.eq(
                pick(reading(0, HostRegion.ADAPT) & (h_lane[0] == p), a_oth[p].data)
                | pick(reading(L - 1, HostRegion.WEIGHT) & (h_lane[L - 1] == p), w_q[p])
                | pick(reading(L - 1, HostRegion.ROW_MASK) & (h_lane[L - 1] == p), row_q[p]))
            h_words.append(word)
        shared = Signal(len(host.rdata), name="h_shared", reset_less=True)
        m.d.sync += shared.eq(
            pick(reading(0, HostRegion.LABEL), lab_rd.data)
            | pick(reading(0, HostRegion.LFSR, HostRegion.LIVE), h_imm)
            | pick(reading(0, HostRegion.COUNTER) & h_cnt_ok, Array(h_cnt)[h_cnt_group])
            | pick(reading(L - 1, HostRegion.COL_MASK), col_q))
        m.d.sync += host.rdata.eq(reduce(operator.or_, [*h_words, shared]))
        h_done = delay(Cat(h_valid[0] & ~banked_region(h_region[0]),
                           h_valid[L - 1] & banked_region(h_region[L - 1])), "h_done", 2)[-1]
        m.d.comb += host.rvalid.eq(h_done.any())

        # The banked RAMs' ports choose between the learning pipeline (in_learn: from
        # LEARN_START to CLEAR_START), the host (hq.re, hq_wr: only while idle) and the
        # integration pipeline with registered selects, not with FSM state decodes: an address
        # or a word is chosen even when nothing is read or written, and only the enables carry
        # the conditions.
        for p in range(P):
            m.d.comb += [
                w_rd[p].addr.eq(Mux(in_learn_l[p], w_addr,
                                    Mux(hq_re_l[p], hq.addr, walk.tag.base + walk.bit[p]))),
                row_rd[p].addr.eq(Mux(in_learn_l[p], row_input,
                                      Mux(hq_re_l[p], hq.addr, ev_q))),
                w_wr[p].addr.eq(Mux(in_learn_l[p], at_wb.waddr, hq.addr)),
                w_wr[p].data.eq(Mux(in_learn_l[p], w_new_q, hq.wdata)),
                w_wr[p].en.eq(Mux(in_learn_l[p], do_update & l_lane[p],
                                  hq_wr[HostRegion.WEIGHT] & hq_lane[p])),
                row_wr[p].addr.eq(Mux(in_learn_l[p], wb_input, hq.addr)),
                row_wr[p].data.eq(Mux(in_learn_l[p], row_q[p] & l_kmask, hq.wdata)),
                row_wr[p].en.eq(Mux(in_learn_l[p], pruned_now & l_lane[p],
                                    hq_wr[HostRegion.ROW_MASK] & hq_lane[p])),
            ]
        m.d.comb += [
            col_rd.addr.eq(Mux(in_learn, col_addr, hq.addr)),
            col_wr.addr.eq(Mux(in_learn, col_base + at_wb.g, hq.addr)),
            col_wr.data.eq(Mux(in_learn, keep_acc | keep_now, hq.wdata)),
            col_wr.en.eq(Mux(in_learn, wb_valid & at_wb.last, hq_wr[HostRegion.COL_MASK])),
        ]
        # The lanes' sweep reads hold while stalled (the stall copies are low outside SWEEP), and
        # each lane counts its own row copy in SWEEP (in_sweep_l), with no FSM decode.
        for p in range(P):
            m.d.comb += [v_rd[p].en.eq(~sw_stall_l[p]), a_rd[p].en.eq(~sw_stall_l[p])]
            if copies:
                with m.If(in_sweep_l[p]):  # as sw_stall and sweep_k in SWEEP
                    m.d.sync += sw_stall_l[p].eq(Mux(sw_stall_l[p], stall_more, stall_new))
                    with m.If(~sw_stall_l[p] & (sweep_kl[p] != K)):
                        m.d.sync += sweep_kl[p].eq(sweep_kl[p] + 1)
        # membrane and adaptation rows: the sweep's, the accumulate's (membrane), the
        # winner's (adaptation, LEARN_START) or the host's, chosen by registered flags too
        for p in range(P):
            if cfg.die_wide:
                m.d.comb += [v_rd[p].addr.eq(sweep_kl[p]), v_acc[p].addr.eq(acc_k[p][L - 2]),
                             a_rd[p].addr.eq(sweep_kl[p]), a_oth[p].addr.eq(a_oaddr[p])]
            else:
                m.d.comb += [
                    v_rd[p].addr.eq(Mux(in_sweep_l[p], sweep_kl[p], acc_k[p][L - 2])),
                    a_rd[p].addr.eq(Mux(in_sweep_l[p], sweep_kl[p], a_oaddr[p]))]
        # The label read's address, a register of its own next to the N-word distributed
        # RAM: the predicted neuron from CLEAR_START to the end of EMIT (read before EMIT needs
        # it; loaded in CLEAR_START), else the host's address, loaded as hq.addr is (so equal
        # to it when a host read acts: reads are only taken in IDLE, where label_pred is low).
        label_pred = Signal()
        lab_addr = Signal.like(lab_rd.addr, name="lab_ra")
        with m.If(~label_pred):
            m.d.sync += lab_addr.eq(host.addr)
        m.d.comb += lab_rd.addr.eq(lab_addr)

        # Trace defaults.
        tr = self.probe
        m.d.comb += [tr.step.eq(step), tr.row.eq(sw_row_last),
                     tr.neuron.eq(l_k * P + l_p), tr.input.eq(wb_input), tr.weight.eq(w_new_q),
                     tr.pruned.eq(pruned_q)]
        m.d.comb += [tr.v[p].eq(x_v[p]) for p in range(P)]

        out = self.events_out
        eptr = Signal(range(N + 1))
        eptr1 = Signal(range(N + 2))  # eptr + 1, counted alongside
        emit_more = Signal()  # eptr != n_spk (n_spk holds still in EMIT)
        pred_label = Signal(layouts.LABEL_BITS)
        # The spike list is read at eptr and at eptr + 1 every cycle, one in each bank: the
        # even bank at eptr1 // 2, the odd one at eptr // 2, both from registers. Whether EMIT
        # sent a spike in the cycle before (eptr moved to eptr1) or not, the word of spike eptr
        # is then in the read register of bank eptr % 2. No logic sits in front of the
        # distributed-RAM reads, and the multiplexer after them has a registered select.
        spk_word = data.View(spike_layout, Mux(eptr[0], spk_rd[1].data, spk_rd[0].data))
        m.d.comb += [spk_rd[0].addr.eq(eptr1 >> 1), spk_rd[1].addr.eq(eptr >> 1),
                     self.pred_label.eq(pred_label)]

        # ---------------- input skid buffer ----------------
        # Input beats wait in a two-beat skid buffer: the held beat (in_beat, which the FSM
        # takes) and a spare (sk_beat). events_in.ready is a register (the spare is free), so
        # the producer's handshake logic never continues the core's FSM decodes, and a
        # back-to-back stream still flows one beat per cycle.
        in_valid, sk_valid = Signal(), Signal()
        in_beat = Signal.like(self.events_in.payload)
        sk_beat = Signal.like(self.events_in.payload)
        in_take = Signal()  # the FSM takes the held beat this cycle
        accept = self.events_in.valid & ~sk_valid
        m.d.comb += self.events_in.ready.eq(~sk_valid)
        with m.If(~in_valid | in_take):  # the held beat moves on: the spare or a new one
            m.d.sync += [in_valid.eq(sk_valid | accept),
                         in_beat.eq(Mux(sk_valid, sk_beat, self.events_in.payload)),
                         sk_valid.eq(0)]
        with m.Elif(accept):
            m.d.sync += [sk_valid.eq(1), sk_beat.eq(self.events_in.payload)]

        # ---------------- write requests of the distributed RAMs ----------------
        # Chosen by registered flags (in_sweep, in_clear, in_learn with learn_inc, the host's
        # strobes while idle), not by FSM decodes; registered_write registers them.
        sw_write = in_sweep & sw_valid[-1] & ~pending  # the row at the last stage writes back
        sw_write_l = [x & sw_valid[-1] & ~pending for x in in_sweep_l]  # the same, per lane
        sw_spike = in_sweep & sw_valid[-1] & (spikes_now != 0)
        clear_v = in_clear & c_more & (cptr < K)  # CLEAR zeroes the membranes
        for p in range(P):
            # LEARN_INC: the winner's adaptation + inc, saturated into a register (the write
            # request's multiplexers then start from flip-flops), written from LEARN's first
            # cycle (learn_inc)
            inc = a_oth[p].data + regs.homeo_inc
            inc_sat = Signal(cfg.adapt_bits, name=f"a_inc{p}")
            m.d.sync += inc_sat.eq(Mux(inc[cfg.adapt_bits], cfg.adapt_max, inc[:cfg.adapt_bits]))
            m.d.comb += [
                v_wr[p].addr.eq(Mux(in_sweep_l[p], sw_row_last,
                                    Mux(in_clear, cptr, acc_k[p][L - 1]))),
                v_wr[p].data.eq(Mux(in_sweep_l[p], x_v[p], Mux(in_clear, 0, acc_sum[p]))),
                v_wr[p].en.eq(Mux(in_sweep_l[p], sw_write_l[p],
                                  Mux(in_clear, clear_v, acc_write[p]))),
                a_wr[p].addr.eq(Mux(in_sweep_l[p], sw_row_last, Mux(in_learn, l_k, hq.addr))),
                a_wr[p].data.eq(Mux(in_sweep_l[p], x_a[p], Mux(in_learn, inc_sat, hq.wdata))),
                a_wr[p].en.eq(Mux(in_sweep_l[p], sw_write_l[p],
                                  Mux(in_learn, learn_inc & l_lane[p],
                                      hq_wr[HostRegion.ADAPT] & hq_lane[p]))),
            ]
        for b, wr in enumerate(spk_wr):
            m.d.comb += [wr.addr.eq(n_spk >> 1), wr.data.time.eq(step),
                         wr.data.neuron.eq(sw_row_last * P + spike_lane),
                         wr.en.eq(sw_spike & (n_spk[0] == b))]
        m.d.comb += [lab_wr.addr.eq(hq.addr), lab_wr.data.eq(hq.wdata),
                     lab_wr.en.eq(hq_wr[HostRegion.LABEL])]
        # the last sweep stage's lane bests, fired flags and trace
        with m.If(sw_write):
            m.d.comb += tr.sweep_valid.eq(1)
            m.d.sync += [fire_set.eq(cross), fire_row.eq(sw_row_last)]
            for p in range(P):
                # x_m > lb_d as the sign of lb_d - x_m: a carry chain, where the compare was
                # mapped to a LUT tree
                better = (lb_d[p] - x_m[p])[-1]
                with m.If(elig[p] & (~lb_valid[p] | better)):
                    m.d.sync += [lb_valid[p].eq(1), lb_d[p].eq(x_m[p]), lb_k[p].eq(sw_row_last)]

        # ---------------- the host's registers ----------------
        # written while idle (a strobe is only taken then), from the decoded strobes
        with m.If(hq_wr[HostRegion.LFSR]):
            m.d.sync += lfsr.eq(hq.wdata)
        with m.If(hq_wr[HostRegion.LIVE]):
            m.d.sync += live.eq(hq.wdata)
        # one live synapse less a cycle after each pruning (the flag registered: the 32-bit
        # decrement's enable then leaves a flip-flop); LEARN ends later, on learn_idle
        pruned_late = Signal()
        m.d.sync += pruned_late.eq(pruned_now)
        with m.If(pruned_late):
            m.d.sync += live.eq(live - 1)
        with m.If(hq_wr[HostRegion.COUNTER]):
            m.d.sync += [c.eq(0) for c in counters] + [error.eq(0)]

        # The event list's read address: CLEAR's pointer or INTEG's (a registered select, no
        # FSM decode; reads in other states are not used); the input times' is LEARN's.
        m.d.comb += [ev_rd.addr.eq(Mux(in_clear, cptr, fptr)), tin_rd.addr.eq(c_input)]

        # ---------------- the phase FSM ----------------
        def take_event() -> None:
            """Take the held input beat (in_valid is high)."""
            m.d.comb += in_take.eq(1)
            beat = in_beat
            count(Counter.LOAD_CYCLES)
            with m.If(beat.kind == EventKind.END):
                for t in range(T + 1):
                    with m.If(t >= last_tp1):
                        m.d.sync += first[t].eq(n_ev)
                m.d.sync += step.eq(0)
                m.next = "INTEG_START"
            with m.Elif(beat.time < last_t):  # beat.time + 1 < last_tp1
                m.d.sync += error[0].eq(1)
            with m.Elif((beat.time >= T) | (beat.index >= n_in) | (n_ev == n_in)):
                m.d.sync += error[1].eq(1)
            with m.Else():
                m.d.comb += [ev_wr.addr.eq(n_ev), ev_wr.data.eq(beat.index), ev_wr.en.eq(1),
                             tin_wr.addr.eq(beat.index), tin_wr.data.eq(beat.time),
                             tin_wr.en.eq(1)]
                for t in range(T + 1):
                    with m.If((t >= last_tp1) & (t <= beat.time)):
                        m.d.sync += first[t].eq(n_ev)
                m.d.sync += [n_ev.eq(n_ev + 1), last_tp1.eq(beat.time + 1), last_t.eq(beat.time),
                             has_events.bit_select(beat.time, 1).eq(1)]

        with m.FSM(init="IDLE"):
            with m.State("IDLE"):
                m.d.comb += host.ready.eq(~in_valid & ~sk_valid)
                m.d.sync += [x.eq(host.addr) for x in a_oaddr]
                # A write strobed in the cycle before acts now; the core is still idle (ready is
                # low while an input beat is held), and a beat that arrived with the strobe
                # waits for it (the write may clear the counters).
                # (the write itself: see in_learn, the write requests and the host's registers)
                with m.If(in_valid & ~hq.we):
                    take_event()
                    with m.If(in_beat.kind != EventKind.END):
                        m.next = "LOAD"

            with m.State("LOAD"):
                with m.If(in_valid):
                    take_event()
                with m.Else():
                    count(Counter.STALL_CYCLES)

            with m.State("INTEG_START"):
                count(Counter.INTEGRATE_CYCLES)
                m.d.sync += integ_idle.eq(0)  # (fptr and fend are loaded now)
                m.d.sync += [x.eq(0) for x in ([sweep_k, *sweep_kl] if copies else sweep_kl)]
                m.d.sync += [fptr.eq(Array(first)[step]), fend.eq(Array(first)[step + 1]),
                             f_more.eq(has_events.bit_select(step, 1))]
                with m.If(~has_events.bit_select(step, 1)):  # first[step] == first[step + 1]
                    start_sweep()
                    m.next = "SWEEP"
                with m.Else():
                    m.next = "INTEG"

            with m.State("INTEG"):
                count(Counter.INTEGRATE_CYCLES)
                # fetch pipeline: event index, then the row-mask words of that input
                m.d.sync += fs_valid.eq(Cat(fetch_issue, fs_valid[:-1]))
                with m.If(fetch_issue):
                    m.d.sync += [fptr.eq(fptr + 1), f_more.eq(fptr + 1 != fend)]
                credits(fetch_room, fetch_some, fetch_issue, row_walker.taken)
                # walk: one weight read per lane per live synapse (addresses: see in_learn)
                count(Counter.SYN_EVENTS, sum(walk.hit[p] for p in range(P)))
                # accumulate: membrane read at stage L - 1, sum and write request at stage L
                # (see the write requests)
                with m.If(integ_idle):
                    start_sweep()
                    m.next = "SWEEP"

            with m.State("SWEEP"):
                count(Counter.SWEEP_CYCLES)
                issue = sweep_k != K
                with m.If(~sw_stall):
                    m.d.sync += [sw_valid.eq(Cat(issue, sw_valid[:-1])), sw_row[0].eq(sweep_k),
                                 sw_elig[0].eq(Cat(*[~(fired[p].bit_select(sweep_kl[p], 1))
                                                     for p in range(P)]))]
                    m.d.sync += [sw_row[s].eq(sw_row[s - 1]) for s in range(1, sw_last)]
                    m.d.sync += [sw_elig[s].eq(sw_elig[s - 1]) for s in range(1, sw_last)]
                    with m.If(issue):
                        m.d.sync += sweep_k.eq(sweep_k + 1)
                # last stage: fire, write back, lane bests (see sw_write)
                with m.If(sw_spike):
                    m.d.sync += n_spk.eq(n_spk + 1)
                m.d.sync += [pend.eq(spike_rest), pending.eq(sw_stall),
                             sw_stall.eq(Mux(sw_stall, stall_more, stall_new))]
                with m.If(sw_valid[-1] & ~sw_stall & (sw_row_last == K - 1)):
                    m.d.sync += [red.eq(0), best_valid.eq(0), c_valid.eq(0), in_sweep.eq(0)]
                    if copies:
                        m.d.sync += [x.eq(0) for x in in_sweep_l]
                    m.next = "REDUCE"

            with m.State("REDUCE"):
                # two stages: lane red's candidate into c_*, then compared with the best so far
                count(Counter.SWEEP_CYCLES)
                r = red[:lane_bits] if P > 1 else Const(0, 1)
                m.d.sync += [c_valid.eq(lb_valid.bit_select(r, 1) & (red != P)),
                             c_d.eq(lb_d[r]), c_k.eq(lb_k[r]), c_p.eq(r)]
                # c_d > best_d, or equal and c_k < best_k: one signed compare of (d, ~k) keys,
                # as the sign of a subtraction (a carry chain)
                key_c = Cat(~c_k, c_d).as_signed()
                key_best = Cat(~best_k, best_d).as_signed()
                better = c_valid & (~best_valid | (key_best - key_c)[-1])
                with m.If(better):
                    m.d.sync += [best_valid.eq(1), best_d.eq(c_d), best_k.eq(c_k),
                                 best_p.eq(c_p)]
                m.d.sync += red.eq(red + 1)
                with m.If(red == P):
                    m.next = "STEP_END"

            with m.State("STEP_END"):
                count(Counter.SWEEP_CYCLES)
                count(Counter.STEPS)
                win = best_valid & (best_d >= 0)
                wins_after = n_win + win
                m.d.sync += [lb_valid.eq(0), last_step.eq(step)]
                with m.If(win):
                    m.d.sync += [win_k[n_win].eq(best_k), win_p[n_win].eq(best_p),
                                 win_t[n_win].eq(step), n_win.eq(wins_after),
                                 win_cb[n_win].eq((best_k * P + best_p) * G),
                                 win_km[n_win].eq(~(1 << best_k))]
                with m.If((n_win == 0) & best_valid):
                    m.d.sync += pred.eq(best_k * P + best_p)
                with m.If((wins_after == regs.k_winners) | (step == T - 1)):
                    m.d.sync += lw.eq(0)
                    with m.If(regs.learn & (wins_after != 0)):
                        # the first winner: this step's (win_k[0] is written now) or an earlier
                        m.d.sync += [x.eq(Mux(n_win == 0, best_k, win_k[0])) for x in a_oaddr]
                        m.d.sync += [x.eq(1) for x in (in_learn, *in_learn_l)]
                        m.next = "LEARN_START"
                    with m.Else():
                        m.next = "CLEAR_START"
                with m.Else():
                    m.d.sync += step.eq(step + 1)
                    m.next = "INTEG_START"

            with m.State("LEARN_START"):
                # the winner's registers, and its adaptation read
                count(Counter.LEARN_CYCLES)
                k_now, p_now = win_k[lw], win_p[lw]
                m.d.sync += [l_k.eq(k_now), l_p.eq(p_now), l_t.eq(win_t[lw]),
                             col_base.eq(win_cb[lw]), gptr.eq(0), g_more.eq(1), g_wbase.eq(k_now),
                             keep_acc.eq(0), l_lane.eq(1 << p_now), l_kmask.eq(win_km[lw]),
                             col_addr.eq(win_cb[lw])]
                m.next = "LEARN_INC"

            with m.State("LEARN_INC"):
                # adaptation + inc (saturating) into a_inc; written in the winner's lane from
                # LEARN's first cycle (learn_inc)
                count(Counter.LEARN_CYCLES)
                m.d.sync += learn_inc.eq(1)
                m.next = "LEARN"

            with m.State("LEARN"):
                count(Counter.LEARN_CYCLES)
                m.d.sync += learn_inc.eq(0)
                m.d.sync += cs_valid.eq(Cat(col_issue, cs_valid[:-1]))
                with m.If(col_issue):
                    m.d.sync += [gptr.eq(gptr + 1), g_more.eq(gptr + 1 != G),
                                 g_wbase.eq(g_wbase + B * K), col_addr.eq(col_addr + 1)]
                credits(col_room, col_some, col_issue, col_walker.taken)
                # stage 0: read weight, input time and row-mask word of the synapse (the banked
                # RAMs' ports: see in_learn)
                with m.If(c_hit):
                    count(Counter.SYN_UPDATES)
                # write-back stage: weight, row-mask word, column word after its last bit (the
                # banked RAMs' ports: see in_learn)
                m.d.comb += tr.learn_valid.eq(do_update)
                with m.If(pruned_now):
                    count(Counter.PRUNED)
                with m.If(wb_valid & at_wb.last):
                    m.d.sync += keep_acc.eq(0)
                with m.Elif(wb_valid):
                    m.d.sync += keep_acc.eq(keep_acc | keep_now)
                with m.If(learn_idle):
                    m.d.sync += lw.eq(lw + 1)
                    with m.If(lw + 1 == n_win):
                        m.d.sync += [x.eq(0) for x in (in_learn, *in_learn_l)]
                        m.next = "CLEAR_START"
                    with m.Else():
                        m.d.sync += [x.eq(win_k[lw + 1]) for x in a_oaddr]
                        m.next = "LEARN_START"

            with m.State("CLEAR_START"):
                count(Counter.CLEAR_CYCLES)
                # (cmax >= K >= 1: CLEAR issues at least once)
                m.d.sync += [cptr.eq(0), cmax.eq(Mux(n_ev > K, n_ev, K)), cq_valid.eq(0),
                             c_more.eq(1)]
                m.d.sync += [has_events.eq(0), eptr.eq(0), eptr1.eq(1), in_clear.eq(1),
                             label_pred.eq(1), lab_addr.eq(pred)]
                m.d.sync += [x.eq(1) for x in in_clear_l]
                m.next = "CLEAR"

            with m.State("CLEAR"):
                count(Counter.CLEAR_CYCLES)
                issue = c_more
                m.d.sync += cq_valid.eq(Cat(issue & (cptr < n_ev), cq_valid[0]))
                with m.If(issue):  # membranes of rows < K are zeroed (clear_v)
                    m.d.sync += [cptr.eq(cptr + 1), c_more.eq(cptr + 1 != cmax)]
                with m.If(cq_valid[1]):
                    m.d.comb += [tin_wr.addr.eq(ev_q), tin_wr.data.eq(T), tin_wr.en.eq(1)]
                with m.If(~issue & (cq_valid == 0)):
                    m.d.sync += [n_win.eq(0), last_tp1.eq(0), last_t.eq(0), n_ev.eq(0),
                                 in_clear.eq(0), emit_more.eq(n_spk != 0)]
                    m.d.sync += [x.eq(0) for x in in_clear_l]
                    m.next = "EMIT"

            with m.State("EMIT"):
                with m.If(emit_more):
                    m.d.comb += [out.valid.eq(1), out.payload.kind.eq(EventKind.SPIKE),
                                 out.payload.time.eq(spk_word.time),
                                 out.payload.index.eq(spk_word.neuron)]
                    with m.If(out.ready):
                        m.d.sync += [eptr.eq(eptr1), eptr1.eq(eptr1 + 1),
                                     emit_more.eq(eptr1 != n_spk)]
                with m.Else():
                    m.d.comb += [out.valid.eq(1), out.payload.kind.eq(EventKind.END),
                                 out.payload.time.eq(last_step), out.payload.index.eq(pred)]
                    with m.If(out.ready):
                        count(Counter.SAMPLES)
                        m.d.sync += [n_spk.eq(0), pred_label.eq(lab_rd.data), label_pred.eq(0)]
                        m.next = "IDLE"
                with m.If(out.ready):
                    count(Counter.EMIT_CYCLES)
                with m.Else():
                    count(Counter.STALL_CYCLES)
        return m
