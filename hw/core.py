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
adaptation, spike and label memories are small and read asynchronously (distributed RAM). The
datapaths are pipelined for a 100 MHz ECP5 clock (walker visits registered, sweep rows through a
stalling row pipeline, a two-stage reduce, STDP in ``StdpUnit.LATENCY`` stages); the pipeline
depths are the constants of ``model.cycles``.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.config import Config
from ..model.lfsr import TOGGLE_MASK
from . import layouts
from .banked_ram import BankedRam
from .delay_line import DelayLine
from .layouts import Counter, EventKind, HostRegion
from .rule_units import NeuronUpdate, PruneUnit, StdpUnit
from .walker import LockstepWalker, one_hot_index, two_or_more


class LayerCore(wiring.Component):
    """The layer core. Build it with ``LayerCore.from_config(cfg)`` or the keyword arguments
    below (the elaboration-time fields of ``model.config.Config``); runtime knobs come in on
    ``regs``. Port contract: ``hw/layouts.py``."""

    # Small memories (dotted paths below the core) that a part short of block RAM keeps in
    # distributed RAM; the build sets Yosys' ram_style on them for ECP5.
    DISTRIBUTED_RAMS = ("spk", "labels", "row_walker.fifo.storage", "col_walker.fifo.storage",
                        "wb_line.buf")

    def __init__(self, *, n_inputs: int, n_neurons: int, lanes: int, time_steps: int,
                 k_max: int = 1, col_word_bits: int = 16, weight_bits: int = 8,
                 membrane_bits: int = 16, adapt_bits: int = 12, stdp_frac_bits: int = 12,
                 counter_bits: int = 32, ram_latency: int = 4,
                 lfsr_seed: int = 0xACE1) -> None:
        args = dict(n_inputs=n_inputs, n_neurons=n_neurons, lanes=lanes, time_steps=time_steps,
                    k_max=k_max, col_word_bits=col_word_bits, weight_bits=weight_bits,
                    membrane_bits=membrane_bits, adapt_bits=adapt_bits,
                    stdp_frac_bits=stdp_frac_bits, counter_bits=counter_bits,
                    ram_latency=ram_latency, lfsr_seed=lfsr_seed)
        for name, value in args.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"LayerCore: {name} must be an int, not {type(value).__name__}")
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
    def from_config(cls, cfg: Config) -> LayerCore:
        return cls(n_inputs=cfg.n_inputs, n_neurons=cfg.n_neurons, lanes=cfg.lanes,
                   time_steps=cfg.time_steps, k_max=cfg.k_max, col_word_bits=cfg.col_word_bits,
                   weight_bits=cfg.weight_bits, membrane_bits=cfg.membrane_bits,
                   adapt_bits=cfg.adapt_bits, stdp_frac_bits=cfg.stdp_frac_bits,
                   counter_bits=cfg.counter_bits, ram_latency=cfg.ram_latency,
                   lfsr_seed=cfg.lfsr_seed)

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
        def mem(name: str, **kw: object) -> Memory:
            memory = Memory(**kw)
            m.submodules[name] = memory
            return memory

        ev_mem = mem("ev_mem", shape=unsigned(cfg.input_bits), depth=n_in, init=[])
        t_in = mem("t_in", shape=unsigned(cfg.time_bits), depth=n_in, init=[T] * n_in)

        def banked(name: str, width: int, depth: int) -> BankedRam:
            ram = BankedRam(width=width, depth=depth, latency=cfg.ram_latency)
            m.submodules[name] = ram
            return ram

        w_mem = [banked(f"w{p}", cfg.weight_bits, n_in * K) for p in range(P)]
        row_mem = [banked(f"row{p}", K, n_in) for p in range(P)]
        col_mem = banked("col", B, N * G)
        v_mem = [mem(f"v{p}", shape=unsigned(cfg.membrane_bits), depth=K, init=[])
                 for p in range(P)]
        a_mem = [mem(f"a{p}", shape=unsigned(cfg.adapt_bits), depth=K, init=[])
                 for p in range(P)]
        spike_layout = data.StructLayout({"time": unsigned(cfg.time_bits),
                                          "neuron": unsigned(cfg.neuron_bits)})
        spk_mem = mem("spk", shape=spike_layout, depth=N, init=[])
        lab_mem = mem("labels", shape=unsigned(layouts.LABEL_BITS), depth=N, init=[])

        # Every read is synchronous, so every memory can be block RAM where the part has it
        # (iCE40 has no distributed RAM) and no RAM read shares a cycle with arithmetic.
        ev_rd, ev_wr = ev_mem.read_port(), ev_mem.write_port()
        tin_rd, tin_wr = t_in.read_port(), t_in.write_port()
        w_rd, w_wr = [x.read for x in w_mem], [x.write for x in w_mem]
        row_rd, row_wr = [x.read for x in row_mem], [x.write for x in row_mem]
        col_rd, col_wr = col_mem.read, col_mem.write
        v_rd = [x.read_port() for x in v_mem]
        v_wr = [x.write_port() for x in v_mem]
        a_rd = [x.read_port() for x in a_mem]
        a_wr = [x.write_port() for x in a_mem]
        spk_rd, spk_wr = spk_mem.read_port(), spk_mem.write_port()
        lab_rd, lab_wr = lab_mem.read_port(), lab_mem.write_port()

        # Register after the event and input-time RAM reads (ECP5 DP16KD clock-to-out,
        # REFERENCE.md 3); the banked RAMs register inside (latency L).
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
        n_win = Signal(range(cfg.k_max + 1))
        pred = Signal(cfg.neuron_bits)
        last_step = Signal(cfg.time_bits)
        lfsr = Signal(32, init=cfg.lfsr_seed)
        live = Signal(32)
        error = Signal(2)
        m.d.comb += self.error.eq(error)
        counters = Array(Signal(cfg.counter_bits, name=f"cnt_{c.name.lower()}")
                         for c in Counter)

        def count(c: Counter, amount: object = 1) -> None:
            m.d.sync += counters[c].eq(counters[c] + amount)

        def delay(value: object, name: str, stages: int) -> list[Signal]:
            """``value`` registered ``stages`` times; element s-1 is its copy s cycles later."""
            regs_ = []
            for s in range(1, stages + 1):
                reg = Signal(Value.cast(value).shape(), name=f"{name}{s}")
                m.d.sync += reg.eq(value if s == 1 else regs_[-1])
                regs_.append(reg)
            return regs_

        # ---------------- integration datapath ----------------
        # Fetch pipeline, stage s = cycles after the event address: 2: event index (ev_q), the
        # row-mask address; 2 + L: the row-mask words into the walker with base = i * K.
        ev_tag = data.StructLayout({"base": unsigned((n_in * K).bit_length())})
        m.submodules.row_walker = row_walker = LockstepWalker(
            lanes=P, width=K, tag_layout=ev_tag, depth=fetch_depth)
        fptr, fend = Signal(ev_bits), Signal(ev_bits)
        fs_valid = Signal(fetch_stages)  # fetch pipeline occupancy, bit s: stage s + 1
        fs_base = delay(ev_q * K, "fs_base", L)  # element L-1: stage 2 + L
        inflight = sum(fs_valid[s] for s in range(fetch_stages))
        fetch_issue = Signal()
        m.d.comb += fetch_issue.eq((fptr != fend) & (inflight + row_walker.level
                                                     < fetch_depth))
        m.d.comb += [
            row_walker.entries.valid.eq(fs_valid[-1]),
            row_walker.entries.payload.tag.base.eq(fs_base[-1]),
        ]
        m.d.comb += [row_walker.entries.payload.words[p].eq(row_q[p]) for p in range(P)]
        # Accumulate pipeline, stage s = cycles after the walker's visit: 0: weight address;
        # L - 1: membrane read; L: weight and membrane in, sum, saturate, write back. A visit
        # at stage L - 1 that reads the row being written at stage L takes the written value
        # (acc_fwd, acc_last) instead of the RAM's stale word.
        walk = row_walker.out
        acc_valid = delay(walk.valid, "acc_valid", L)  # element s-1: stage s
        acc_hit = delay(Cat(*[walk.hit[p] for p in range(P)]), "acc_hit", L)
        acc_k = [delay(walk.bit[p], f"acc_k{p}_", L) for p in range(P)]
        acc_fwd = Signal(P)
        acc_last = [Signal(cfg.membrane_bits, name=f"acc_last{p}") for p in range(P)]
        acc_sum = []
        for p in range(P):
            # v_max = 2^membrane_bits - 1: the carry out is the saturation flag
            total = Mux(acc_fwd[p], acc_last[p], v_rd[p].data) + w_q[p]
            acc_sum.append(Mux(total[cfg.membrane_bits], cfg.v_max, total[:cfg.membrane_bits]))
        acc_write = Cat(*[acc_valid[L - 1] & acc_hit[L - 1][p] for p in range(P)])
        m.d.sync += [acc_last[p].eq(acc_sum[p]) for p in range(P)]
        m.d.sync += acc_fwd.eq(Cat(*[acc_write[p] & (acc_k[p][L - 1] == acc_k[p][L - 2])
                                     for p in range(P)]))
        integ_idle = ((fptr == fend) & (fs_valid == 0) & row_walker.idle
                      & ~Cat(*acc_valid).any())

        # ---------------- sweep datapath ----------------
        # Row pipeline: stage 0 issues row sweep_k (membrane/adaptation read, eligibility),
        # stage 1 has the read values (the RAMs' read registers, held by a stall), NeuronUpdate
        # adds LATENCY stages, one more registers its outputs with the firing lanes and whether
        # there are two or more of them (so the stall
        # is a register, not the margin compare); the last stage (sw_last) fires, writes back
        # and updates the lane bests. A row that fires s > 1 lanes holds the last stage s
        # cycles and stalls the whole pipeline meanwhile. Rows are distinct within a step and
        # the pipeline drains before the next step, so no forwarding is needed.
        sw_last = 2 + NeuronUpdate.LATENCY
        sweep_k = Signal(range(K + 1))  # next row to issue
        sw_valid = Signal(sw_last)
        sw_row = [Signal(row_bits, name=f"sw_row{s}") for s in range(1, sw_last + 1)]
        sw_elig = [Signal(P, name=f"sw_elig{s}") for s in range(1, sw_last + 1)]
        sw_stall = Signal()
        pend = Signal(P)
        pending = Signal()  # extra cycles of a row that fires more than one lane
        nu = []
        for p in range(P):
            unit = NeuronUpdate(membrane_bits=cfg.membrane_bits, adapt_bits=cfg.adapt_bits)
            m.submodules[f"neuron{p}"] = unit
            nu.append(unit)
            m.d.comb += [unit.v.eq(v_rd[p].data), unit.adapt.eq(a_rd[p].data),
                         unit.threshold.eq(regs.threshold), unit.leak_shift.eq(regs.leak_shift),
                         unit.decay_en.eq(regs.learn & (step == 0)),
                         unit.decay_shift.eq(regs.homeo_decay_shift), unit.en.eq(~sw_stall)]
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
        cross, cross_multi = Signal(P), Signal()
        cross_pre = Cat(*[sw_elig[-2][p] & (nu[p].margin >= 0) for p in range(P)])
        with m.If(~sw_stall):
            m.d.sync += [cross.eq(cross_pre), cross_multi.eq(two_or_more(cross_pre))]
            m.d.sync += [x.eq(nu[p].v_out) for p, x in enumerate(x_v)]
            m.d.sync += [x.eq(nu[p].adapt_out) for p, x in enumerate(x_a)]
            m.d.sync += [x.eq(nu[p].margin) for p, x in enumerate(x_m)]
        spikes_now = Mux(pending, pend, cross)
        spike_low = spikes_now & -spikes_now
        spike_rest = spikes_now & ~spike_low
        spike_lane = one_hot_index(spike_low, P) if P > 1 else Const(0, 1)
        # stall = spike_rest != 0, i.e. two or more spikes left; from LUTs, not the carry chain
        pend_multi = Signal()  # pend has two or more bits
        m.d.comb += sw_stall.eq(sw_valid[-1] & Mux(pending, pend_multi, cross_multi))

        def start_sweep() -> None:
            m.d.sync += [sweep_k.eq(0), pending.eq(0), sw_valid.eq(0)]

        # ---------------- learning datapath ----------------
        w_addr_bits = (n_in * K).bit_length()
        col_tag = data.StructLayout({"g": unsigned(max(1, (G - 1).bit_length())),
                                     "w_base": unsigned(w_addr_bits)})
        m.submodules.col_walker = col_walker = LockstepWalker(
            lanes=1, width=B, tag_layout=col_tag, depth=fetch_depth)
        lw = Signal(range(cfg.k_max + 1))  # winner being learned
        l_k, l_p, l_t = Signal(row_bits), Signal(lane_bits), Signal(cfg.time_bits)
        col_base = Signal((N * G).bit_length())
        gptr = Signal(range(G + 1))
        # weight address of (input g * B, row l_k) for word gptr: counted, not multiplied
        g_wbase = Signal(w_addr_bits)
        cs_valid = Signal(L)
        cs_g = delay(gptr[:col_tag.members["g"].width], "cs_g", L)
        cs_wbase = delay(g_wbase, "cs_wbase", L)
        col_issue = Signal()
        m.d.comb += col_issue.eq((gptr != G) & (sum(cs_valid[s] for s in range(L))
                                                + col_walker.level < fetch_depth))
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
        m.submodules.wb_line = wb_line = DelayLine(width=wb_layout.size, delay=ls_wb)
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
        learn_idle = ((gptr == G) & (cs_valid == 0) & col_walker.idle & ~cv_valid
                      & ~Cat(*ls_valid).any())

        # ---------------- clear datapath ----------------
        cptr = Signal(ev_bits + 1)
        cmax = Signal(ev_bits + 1)
        cq_valid = Signal(2)

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
        m.d.sync += [hq.we.eq(host.we & host.ready), hq.re.eq(host.re & host.ready),
                     hq.addr.eq(host.addr), hq.wdata.eq(host.wdata), hq.region.eq(host.region),
                     hq.lane.eq(host.lane)]
        # re in cycle c, acted on (hq) in c+1 -> registers and small RAMs: picked at c+2,
        # rdata/rvalid c+3; banked RAMs (weights, masks): data c+1+L, rdata/rvalid c+2+L.
        # Reads of one region pipeline.
        h_valid = delay(hq.re, "h_valid", L)  # element s-1: cycle c+1+s
        h_region = delay(hq.region, "h_region", L)
        h_lane = delay(hq.lane, "h_lane", L)

        def banked_region(region: Value) -> Value:
            return ((region == HostRegion.WEIGHT) | (region == HostRegion.ROW_MASK)
                    | (region == HostRegion.COL_MASK))

        h_imm = Signal(len(host.rdata))
        with m.Switch(hq.region):
            with m.Case(HostRegion.LFSR):
                m.d.sync += h_imm.eq(lfsr)
            with m.Case(HostRegion.LIVE):
                m.d.sync += h_imm.eq(live)
            with m.Case(HostRegion.COUNTER):
                m.d.sync += h_imm.eq(Mux(hq.addr < len(Counter), counters[hq.addr[:4]], 0))
        with m.If(h_valid[0]), m.Switch(h_region[0]):
            with m.Case(HostRegion.ADAPT):
                m.d.sync += host.rdata.eq(Array(x.data for x in a_rd)[h_lane[0]])
            with m.Case(HostRegion.LABEL):
                m.d.sync += host.rdata.eq(lab_rd.data)
            with m.Case(HostRegion.LFSR, HostRegion.LIVE, HostRegion.COUNTER):
                m.d.sync += host.rdata.eq(h_imm)
        with m.If(h_valid[L - 1]), m.Switch(h_region[L - 1]):
            with m.Case(HostRegion.WEIGHT):
                m.d.sync += host.rdata.eq(Array(w_q)[h_lane[L - 1]])
            with m.Case(HostRegion.ROW_MASK):
                m.d.sync += host.rdata.eq(Array(row_q)[h_lane[L - 1]])
            with m.Case(HostRegion.COL_MASK):
                m.d.sync += host.rdata.eq(col_q)
        h_done = delay(Cat(h_valid[0] & ~banked_region(h_region[0]),
                           h_valid[L - 1] & banked_region(h_region[L - 1])), "h_done", 1)[0]
        m.d.comb += host.rvalid.eq(h_done.any())

        # Default addresses: the host's (only honoured while idle).
        m.d.comb += [x.addr.eq(hq.addr) for x in w_rd + row_rd + [col_rd]]
        m.d.comb += [x.addr.eq(hq.addr) for x in a_rd]
        m.d.comb += lab_rd.addr.eq(hq.addr)

        # Trace defaults.
        tr = self.probe
        m.d.comb += [tr.step.eq(step), tr.row.eq(sw_row_last),
                     tr.neuron.eq(l_k * P + l_p), tr.input.eq(wb_input), tr.weight.eq(w_new_q),
                     tr.pruned.eq(pruned_q)]
        m.d.comb += [tr.v[p].eq(x_v[p]) for p in range(P)]

        out = self.events_out
        eptr = Signal(range(N + 1))
        pred_label = Signal(layouts.LABEL_BITS)
        emit_next = Signal()  # EMIT sends a spike this cycle: read the next one
        # the spike RAM's read register holds spike eptr (read one cycle ahead)
        m.d.comb += [spk_rd.addr.eq(Mux(emit_next, eptr + 1, eptr)),
                     self.pred_label.eq(pred_label)]

        # ---------------- input register ----------------
        # Input beats wait in a one-beat register, so the producer's handshake logic and the
        # core's event checks sit in different cycles; a beat can enter in the cycle the held
        # one is taken, so a back-to-back stream still flows one beat per cycle.
        in_valid = Signal()
        in_beat = Signal.like(self.events_in.payload)
        in_take = Signal()  # the FSM takes the held beat this cycle
        m.d.comb += self.events_in.ready.eq(~in_valid | in_take)
        with m.If(in_take):
            m.d.sync += in_valid.eq(0)
        with m.If(self.events_in.valid & self.events_in.ready):
            m.d.sync += [in_valid.eq(1), in_beat.eq(self.events_in.payload)]

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
                m.d.comb += host.ready.eq(~in_valid)
                # A write strobed in the cycle before acts now; the core is still idle (ready is
                # low while an input beat is held), and a beat that arrived with the strobe
                # waits for it (the write may clear the counters).
                with m.If(hq.we):
                    self._host_write(m, hq, w_wr, row_wr, col_wr, a_wr, lab_wr)
                    with m.Switch(hq.region):
                        with m.Case(HostRegion.LFSR):
                            m.d.sync += lfsr.eq(hq.wdata)
                        with m.Case(HostRegion.LIVE):
                            m.d.sync += live.eq(hq.wdata)
                        with m.Case(HostRegion.COUNTER):
                            m.d.sync += [c.eq(0) for c in counters] + [error.eq(0)]
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
                m.d.sync += [fptr.eq(Array(first)[step]), fend.eq(Array(first)[step + 1])]
                with m.If(~has_events.bit_select(step, 1)):  # first[step] == first[step + 1]
                    start_sweep()
                    m.next = "SWEEP"
                with m.Else():
                    m.next = "INTEG"

            with m.State("INTEG"):
                count(Counter.INTEGRATE_CYCLES)
                # fetch pipeline: event index, then the row-mask words of that input
                m.d.sync += fs_valid.eq(Cat(fetch_issue, fs_valid[:-1]))
                m.d.comb += ev_rd.addr.eq(fptr)
                with m.If(fetch_issue):
                    m.d.sync += fptr.eq(fptr + 1)
                m.d.comb += [x.addr.eq(ev_q) for x in row_rd]
                # walk: one weight read per lane per live synapse
                for p in range(P):
                    m.d.comb += w_rd[p].addr.eq(walk.tag.base + walk.bit[p])
                count(Counter.SYN_EVENTS, sum(walk.hit[p] for p in range(P)))
                # accumulate: membrane read at stage L - 1, sum and write-back at stage L
                for p in range(P):
                    m.d.comb += v_rd[p].addr.eq(acc_k[p][L - 2])
                    with m.If(acc_write[p]):
                        m.d.comb += [v_wr[p].addr.eq(acc_k[p][L - 1]), v_wr[p].data.eq(acc_sum[p]),
                                     v_wr[p].en.eq(1)]
                with m.If(integ_idle):
                    start_sweep()
                    m.next = "SWEEP"

            with m.State("SWEEP"):
                count(Counter.SWEEP_CYCLES)
                issue = sweep_k != K
                m.d.comb += [x.addr.eq(sweep_k) for x in v_rd + a_rd]
                m.d.comb += [x.en.eq(~sw_stall) for x in v_rd + a_rd]
                with m.If(~sw_stall):
                    m.d.sync += [sw_valid.eq(Cat(issue, sw_valid[:-1])), sw_row[0].eq(sweep_k),
                                 sw_elig[0].eq(Cat(*[~(fired[p].bit_select(sweep_k, 1))
                                                     for p in range(P)]))]
                    m.d.sync += [sw_row[s].eq(sw_row[s - 1]) for s in range(1, sw_last)]
                    m.d.sync += [sw_elig[s].eq(sw_elig[s - 1]) for s in range(1, sw_last)]
                    with m.If(issue):
                        m.d.sync += sweep_k.eq(sweep_k + 1)
                # last stage: fire, write back, lane bests
                with m.If(sw_valid[-1] & ~pending):
                    m.d.comb += tr.sweep_valid.eq(1)
                    for p in range(P):
                        m.d.comb += [v_wr[p].addr.eq(sw_row_last), v_wr[p].data.eq(x_v[p]),
                                     v_wr[p].en.eq(1), a_wr[p].addr.eq(sw_row_last),
                                     a_wr[p].data.eq(x_a[p]), a_wr[p].en.eq(1)]
                        with m.If(cross[p]):
                            m.d.sync += fired[p].bit_select(sw_row_last, 1).eq(1)
                        with m.If(elig[p] & (~lb_valid[p] | (x_m[p] > lb_d[p]))):
                            m.d.sync += [lb_valid[p].eq(1), lb_d[p].eq(x_m[p]),
                                         lb_k[p].eq(sw_row_last)]
                with m.If(sw_valid[-1] & (spikes_now != 0)):
                    m.d.comb += [spk_wr.addr.eq(n_spk), spk_wr.data.time.eq(step),
                                 spk_wr.data.neuron.eq(sw_row_last * P + spike_lane),
                                 spk_wr.en.eq(1)]
                    m.d.sync += n_spk.eq(n_spk + 1)
                m.d.sync += [pend.eq(spike_rest), pending.eq(sw_stall),
                             pend_multi.eq(two_or_more(spike_rest))]
                with m.If(sw_valid[-1] & ~sw_stall & (sw_row_last == K - 1)):
                    m.d.sync += [red.eq(0), best_valid.eq(0), c_valid.eq(0)]
                    m.next = "REDUCE"

            with m.State("REDUCE"):
                # two stages: lane red's candidate into c_*, then compared with the best so far
                count(Counter.SWEEP_CYCLES)
                r = red[:lane_bits] if P > 1 else Const(0, 1)
                m.d.sync += [c_valid.eq(lb_valid.bit_select(r, 1) & (red != P)),
                             c_d.eq(lb_d[r]), c_k.eq(lb_k[r]), c_p.eq(r)]
                better = c_valid & (
                    ~best_valid | (c_d > best_d) | ((c_d == best_d) & (c_k < best_k)))
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
                                 win_t[n_win].eq(step), n_win.eq(wins_after)]
                with m.If((n_win == 0) & best_valid):
                    m.d.sync += pred.eq(best_k * P + best_p)
                with m.If((wins_after == regs.k_winners) | (step == T - 1)):
                    m.d.sync += lw.eq(0)
                    with m.If(regs.learn & (wins_after != 0)):
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
                             col_base.eq((k_now * P + p_now) * G), gptr.eq(0), g_wbase.eq(k_now),
                             keep_acc.eq(0)]
                m.d.comb += [a_rd[p].addr.eq(k_now) for p in range(P)]
                m.next = "LEARN_INC"

            with m.State("LEARN_INC"):
                # adaptation += inc (saturating) in the winner's lane
                count(Counter.LEARN_CYCLES)
                for p in range(P):
                    inc = a_rd[p].data + regs.homeo_inc
                    with m.If(l_p == p):
                        m.d.comb += [a_wr[p].addr.eq(l_k), a_wr[p].en.eq(1),
                                     a_wr[p].data.eq(Mux(inc[cfg.adapt_bits], cfg.adapt_max,
                                                         inc[:cfg.adapt_bits]))]
                m.next = "LEARN"

            with m.State("LEARN"):
                count(Counter.LEARN_CYCLES)
                m.d.sync += cs_valid.eq(Cat(col_issue, cs_valid[:-1]))
                m.d.comb += col_rd.addr.eq(col_base + gptr)
                with m.If(col_issue):
                    m.d.sync += [gptr.eq(gptr + 1), g_wbase.eq(g_wbase + B * K)]
                # stage 0: read weight, input time and row-mask word of the synapse
                for p in range(P):
                    m.d.comb += [w_rd[p].addr.eq(w_addr), row_rd[p].addr.eq(row_input)]
                m.d.comb += tin_rd.addr.eq(c_input)
                with m.If(c_hit):
                    count(Counter.SYN_UPDATES)
                # write-back stage: weight, row-mask word, column word (after its last bit)
                m.d.comb += tr.learn_valid.eq(do_update)
                for p in range(P):
                    with m.If(do_update & (l_p == p)):
                        m.d.comb += [w_wr[p].addr.eq(at_wb.waddr), w_wr[p].data.eq(w_new_q),
                                     w_wr[p].en.eq(1)]
                        with m.If(pruned_q):
                            m.d.comb += [row_wr[p].addr.eq(wb_input), row_wr[p].en.eq(1),
                                         row_wr[p].data.eq(row_q[p] & ~(1 << l_k))]
                keep_now = Mux(at_wb.seen & ~pruned_now, bit_oh, 0)
                with m.If(pruned_now):
                    count(Counter.PRUNED)
                    m.d.sync += live.eq(live - 1)
                with m.If(wb_valid & at_wb.last):
                    m.d.comb += [col_wr.addr.eq(col_base + at_wb.g),
                                 col_wr.data.eq(keep_acc | keep_now), col_wr.en.eq(1)]
                    m.d.sync += keep_acc.eq(0)
                with m.Elif(wb_valid):
                    m.d.sync += keep_acc.eq(keep_acc | keep_now)
                with m.If(learn_idle):
                    m.d.sync += lw.eq(lw + 1)
                    with m.If(lw + 1 == n_win):
                        m.next = "CLEAR_START"
                    with m.Else():
                        m.next = "LEARN_START"

            with m.State("CLEAR_START"):
                count(Counter.CLEAR_CYCLES)
                m.d.sync += [cptr.eq(0), cmax.eq(Mux(n_ev > K, n_ev, K)), cq_valid.eq(0)]
                m.d.sync += [f.eq(0) for f in fired] + [has_events.eq(0), eptr.eq(0)]
                m.next = "CLEAR"

            with m.State("CLEAR"):
                count(Counter.CLEAR_CYCLES)
                m.d.comb += lab_rd.addr.eq(pred)  # the label is read before EMIT needs it
                issue = cptr != cmax
                m.d.sync += cq_valid.eq(Cat(issue & (cptr < n_ev), cq_valid[0]))
                m.d.comb += ev_rd.addr.eq(cptr)
                with m.If(issue):
                    m.d.sync += cptr.eq(cptr + 1)
                    with m.If(cptr < K):
                        for p in range(P):
                            m.d.comb += [v_wr[p].addr.eq(cptr), v_wr[p].data.eq(0),
                                         v_wr[p].en.eq(1)]
                with m.If(cq_valid[1]):
                    m.d.comb += [tin_wr.addr.eq(ev_q), tin_wr.data.eq(T), tin_wr.en.eq(1)]
                with m.If(~issue & (cq_valid == 0)):
                    m.d.sync += [n_win.eq(0), last_tp1.eq(0), last_t.eq(0), n_ev.eq(0)]
                    m.next = "EMIT"

            with m.State("EMIT"):
                m.d.comb += lab_rd.addr.eq(pred)
                with m.If(eptr != n_spk):
                    m.d.comb += [out.valid.eq(1), out.payload.kind.eq(EventKind.SPIKE),
                                 out.payload.time.eq(spk_rd.data.time),
                                 out.payload.index.eq(spk_rd.data.neuron)]
                    with m.If(out.ready):
                        m.d.comb += emit_next.eq(1)
                        m.d.sync += eptr.eq(eptr + 1)
                with m.Else():
                    m.d.comb += [out.valid.eq(1), out.payload.kind.eq(EventKind.END),
                                 out.payload.time.eq(last_step), out.payload.index.eq(pred)]
                    with m.If(out.ready):
                        count(Counter.SAMPLES)
                        m.d.sync += [n_spk.eq(0), pred_label.eq(lab_rd.data)]
                        m.next = "IDLE"
                with m.If(out.ready):
                    count(Counter.EMIT_CYCLES)
                with m.Else():
                    count(Counter.STALL_CYCLES)
        return m

    @staticmethod
    def _host_write(m: Module, host: object, w_wr: list, row_wr: list, col_wr: object,
                    a_wr: list, lab_wr: object) -> None:
        """Drive the write port that ``host.region``/``host.lane`` select (the registered host
        strobe of the cycle before)."""
        lane_ports = {HostRegion.WEIGHT: w_wr, HostRegion.ROW_MASK: row_wr,
                      HostRegion.ADAPT: a_wr}
        with m.Switch(host.region):
            for region, ports in lane_ports.items():
                with m.Case(region):
                    for p, port in enumerate(ports):
                        with m.If(host.lane == p):
                            m.d.comb += [port.addr.eq(host.addr), port.data.eq(host.wdata),
                                         port.en.eq(1)]
            for region, port in ((HostRegion.COL_MASK, col_wr), (HostRegion.LABEL, lab_wr)):
                with m.Case(region):
                    m.d.comb += [port.addr.eq(host.addr), port.data.eq(host.wdata),
                                 port.en.eq(1)]
