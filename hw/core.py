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
adaptation, spike and label memories are small and read asynchronously (distributed RAM).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.config import Config
from ..model.lfsr import TOGGLE_MASK
from . import layouts
from .layouts import Counter, EventKind, HostRegion
from .rule_units import NeuronUpdate, PruneUnit, StdpUnit
from .walker import LockstepWalker, one_hot_index

FETCH_DEPTH = 8  # walker FIFO entries; >= fetch latency + 1 keeps the walker fed every cycle
FETCH_STAGES = 4  # event read (2) + row-mask read (2)
COL_FETCH_STAGES = 2  # column-bitmap read (2)


class LayerCore(wiring.Component):
    """The layer core. Build it with ``LayerCore.from_config(cfg)`` or the keyword arguments
    below (the elaboration-time fields of ``model.config.Config``); runtime knobs come in on
    ``regs``. Port contract: ``hw/layouts.py``."""

    def __init__(self, *, n_inputs: int, n_neurons: int, lanes: int, time_steps: int,
                 k_max: int = 1, col_word_bits: int = 16, weight_bits: int = 8,
                 membrane_bits: int = 16, adapt_bits: int = 12, stdp_frac_bits: int = 12,
                 lfsr_seed: int = 0xACE1) -> None:
        args = dict(n_inputs=n_inputs, n_neurons=n_neurons, lanes=lanes, time_steps=time_steps,
                    k_max=k_max, col_word_bits=col_word_bits, weight_bits=weight_bits,
                    membrane_bits=membrane_bits, adapt_bits=adapt_bits,
                    stdp_frac_bits=stdp_frac_bits, lfsr_seed=lfsr_seed)
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
            "trace": Out(layouts.trace_layout(cfg)),
        })

    @classmethod
    def from_config(cls, cfg: Config) -> LayerCore:
        return cls(n_inputs=cfg.n_inputs, n_neurons=cfg.n_neurons, lanes=cfg.lanes,
                   time_steps=cfg.time_steps, k_max=cfg.k_max, col_word_bits=cfg.col_word_bits,
                   weight_bits=cfg.weight_bits, membrane_bits=cfg.membrane_bits,
                   adapt_bits=cfg.adapt_bits, stdp_frac_bits=cfg.stdp_frac_bits,
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
        w_mem = [mem(f"w{p}", shape=unsigned(cfg.weight_bits), depth=n_in * K, init=[])
                 for p in range(P)]
        row_mem = [mem(f"row{p}", shape=unsigned(K), depth=n_in, init=[]) for p in range(P)]
        col_mem = mem("col", shape=unsigned(B), depth=N * G, init=[])
        v_mem = [mem(f"v{p}", shape=unsigned(cfg.membrane_bits), depth=K, init=[])
                 for p in range(P)]
        a_mem = [mem(f"a{p}", shape=unsigned(cfg.adapt_bits), depth=K, init=[])
                 for p in range(P)]
        spike_layout = data.StructLayout({"time": unsigned(cfg.time_bits),
                                          "neuron": unsigned(cfg.neuron_bits)})
        spk_mem = mem("spk", shape=spike_layout, depth=N, init=[])
        lab_mem = mem("labels", shape=unsigned(layouts.LABEL_BITS), depth=N, init=[])

        ev_rd, ev_wr = ev_mem.read_port(), ev_mem.write_port()
        tin_rd, tin_wr = t_in.read_port(), t_in.write_port()
        w_rd = [x.read_port() for x in w_mem]
        w_wr = [x.write_port() for x in w_mem]
        row_rd = [x.read_port() for x in row_mem]
        row_wr = [x.write_port() for x in row_mem]
        col_rd, col_wr = col_mem.read_port(), col_mem.write_port()
        v_rd = [x.read_port(domain="comb") for x in v_mem]
        v_wr = [x.write_port() for x in v_mem]
        a_rd = [x.read_port(domain="comb") for x in a_mem]
        a_wr = [x.write_port() for x in a_mem]
        spk_rd, spk_wr = spk_mem.read_port(domain="comb"), spk_mem.write_port()
        lab_rd, lab_wr = lab_mem.read_port(domain="comb"), lab_mem.write_port()

        # Register after every block-RAM read (ECP5 DP16KD clock-to-out, REFERENCE.md 3).
        ev_q = Signal.like(ev_rd.data)
        tin_q = Signal.like(tin_rd.data)
        w_q = [Signal.like(x.data, name=f"w_q{p}") for p, x in enumerate(w_rd)]
        row_q = [Signal.like(x.data, name=f"row_q{p}") for p, x in enumerate(row_rd)]
        col_q = Signal.like(col_rd.data)
        m.d.sync += [ev_q.eq(ev_rd.data), tin_q.eq(tin_rd.data), col_q.eq(col_rd.data)]
        m.d.sync += [q.eq(x.data) for q, x in zip(w_q + row_q, w_rd + row_rd, strict=True)]

        # ---------------- sample state ----------------
        n_ev = Signal(ev_bits)
        first = [Signal(ev_bits, name=f"first{t}") for t in range(T + 1)]
        last_tp1 = Signal(cfg.time_bits + 1)  # last accepted time + 1 (0 before any event)
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
        counters = Array(Signal(layouts.COUNTER_BITS, name=f"cnt_{c.name.lower()}")
                         for c in Counter)

        def count(c: Counter, amount: object = 1) -> None:
            m.d.sync += counters[c].eq(counters[c] + amount)

        # ---------------- integration datapath ----------------
        ev_tag = data.StructLayout({"base": unsigned((n_in * K).bit_length())})
        m.submodules.row_walker = row_walker = LockstepWalker(
            lanes=P, width=K, tag_layout=ev_tag, depth=FETCH_DEPTH)
        fptr, fend = Signal(ev_bits), Signal(ev_bits)
        fs_valid = Signal(FETCH_STAGES)  # fetch pipeline occupancy, stage 1..4
        fs_i = Signal(cfg.input_bits)  # input index at stage 3 (row-mask read in flight)
        fs_i4 = Signal(cfg.input_bits)
        inflight = sum(fs_valid[s] for s in range(FETCH_STAGES))
        fetch_issue = Signal()
        m.d.comb += fetch_issue.eq((fptr != fend) & (inflight + row_walker.level
                                                     < FETCH_DEPTH))
        m.d.comb += [
            row_walker.entries.valid.eq(fs_valid[3]),
            row_walker.entries.payload.tag.base.eq(fs_i4 * K),
        ]
        m.d.comb += [row_walker.entries.payload.words[p].eq(row_q[p]) for p in range(P)]
        acc_valid = Signal(2)
        acc_hit = [Signal(P, name="acc_hit1"), Signal(P, name="acc_hit2")]
        acc_k = [[Signal(row_bits, name=f"acc_k{s}_{p}") for p in range(P)] for s in (1, 2)]
        walk = row_walker.out
        hits = Cat(*[walk.hit[p] for p in range(P)])
        m.d.sync += [acc_valid.eq(Cat(walk.valid, acc_valid[0])),
                     acc_hit[0].eq(hits), acc_hit[1].eq(acc_hit[0])]
        m.d.sync += [acc_k[0][p].eq(walk.bit[p]) for p in range(P)]
        m.d.sync += [acc_k[1][p].eq(acc_k[0][p]) for p in range(P)]
        integ_idle = (~fetch_issue & (fptr == fend) & (fs_valid == 0) & row_walker.idle
                      & (acc_valid == 0))

        # ---------------- sweep datapath ----------------
        sweep_k = Signal(row_bits)
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
                         unit.decay_shift.eq(regs.homeo_decay_shift)]
        margin_shape = signed(cfg.membrane_bits + 2)
        lb_valid = Signal(P)
        lb_d = Array(Signal(margin_shape, name=f"lb_d{p}") for p in range(P))
        lb_k = Array(Signal(row_bits, name=f"lb_k{p}") for p in range(P))
        best_valid = Signal()
        best_d = Signal(margin_shape)
        best_k = Signal(row_bits)
        best_p = Signal(lane_bits)
        red = Signal(range(P + 1))
        elig = Cat(*[~(fired[p].bit_select(sweep_k, 1)) for p in range(P)])
        cross = Cat(*[elig[p] & (nu[p].margin >= 0) for p in range(P)])
        spikes_now = Mux(pending, pend, cross)
        spike_low = spikes_now & -spikes_now
        spike_rest = spikes_now & ~spike_low
        spike_lane = one_hot_index(spike_low, P) if P > 1 else Const(0, 1)

        # ---------------- learning datapath ----------------
        col_tag = data.StructLayout({"g": unsigned(max(1, (G - 1).bit_length())),
                                     "word": unsigned(B)})
        m.submodules.col_walker = col_walker = LockstepWalker(
            lanes=1, width=B, tag_layout=col_tag, depth=FETCH_DEPTH)
        lw = Signal(range(cfg.k_max + 1))  # winner being learned
        l_k, l_p, l_t = Signal(row_bits), Signal(lane_bits), Signal(cfg.time_bits)
        col_base = Signal((N * G).bit_length())
        gptr = Signal(range(G + 1))
        cs_valid = Signal(COL_FETCH_STAGES)
        cs_g = [Signal(col_tag.members["g"].width, name=f"cs_g{s}") for s in (1, 2)]
        m.d.sync += [cs_g[1].eq(cs_g[0])]
        col_issue = Signal()
        m.d.comb += col_issue.eq((gptr != G) & (cs_valid[0] + cs_valid[1] + col_walker.level
                                                < FETCH_DEPTH))
        m.d.comb += [
            col_walker.entries.valid.eq(cs_valid[1]),
            col_walker.entries.payload.tag.g.eq(cs_g[1]),
            col_walker.entries.payload.tag.word.eq(col_q),
            col_walker.entries.payload.words[0].eq(col_q),
        ]
        cw = col_walker.out
        c_input = Signal(range(G * B))
        m.d.comb += c_input.eq(cw.tag.g * B + cw.bit[0])
        c_hit = cw.hit[0] & (c_input < n_in)
        # learning pipeline: stage 1 (RAM read in flight), stage 2 (registered: compute, write)
        ls_valid, ls_hit, ls_last = Signal(2), Signal(2), Signal(2)
        ls_i = [Signal(cfg.input_bits, name=f"ls_i{s}") for s in (1, 2)]
        ls_bit = [Signal(max(1, (B - 1).bit_length()), name=f"ls_bit{s}") for s in (1, 2)]
        ls_g = [Signal(col_tag.members["g"].width, name=f"ls_g{s}") for s in (1, 2)]
        ls_word = [Signal(B, name=f"ls_word{s}") for s in (1, 2)]
        ls_rand = [Signal(cfg.stdp_shift, name=f"ls_rand{s}") for s in (1, 2)]
        m.d.sync += [
            ls_valid.eq(Cat(cw.valid, ls_valid[0])), ls_hit.eq(Cat(c_hit, ls_hit[0])),
            ls_last.eq(Cat(cw.last, ls_last[0])),
            ls_i[0].eq(c_input), ls_i[1].eq(ls_i[0]), ls_bit[0].eq(cw.bit[0]),
            ls_bit[1].eq(ls_bit[0]), ls_g[0].eq(cw.tag.g), ls_g[1].eq(ls_g[0]),
            ls_word[0].eq(cw.tag.word), ls_word[1].eq(ls_word[0]),
            ls_rand[0].eq(lfsr[:cfg.stdp_shift]), ls_rand[1].eq(ls_rand[0]),
        ]
        with m.If(c_hit):  # one LFSR step per synaptic update
            m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ TOGGLE_MASK, lfsr >> 1))
        m.submodules.stdp = stdp = StdpUnit(weight_bits=cfg.weight_bits,
                                            frac_bits=cfg.stdp_frac_bits,
                                            time_bits=cfg.time_bits)
        m.submodules.prune = prune = PruneUnit(weight_bits=cfg.weight_bits)
        m.d.comb += [
            stdp.w.eq(Array(w_q)[l_p]), stdp.t_pre.eq(tin_q), stdp.t_post.eq(l_t),
            stdp.a_plus.eq(regs.a_plus), stdp.a_minus.eq(regs.a_minus),
            stdp.rand.eq(ls_rand[1]),
            prune.w_new.eq(stdp.w_new), prune.enable.eq(regs.prune_enable),
            prune.threshold.eq(regs.prune_threshold),
        ]
        clr_acc = Signal(B)
        do_update = ls_valid[1] & ls_hit[1]
        pruned_now = do_update & prune.pruned
        learn_idle = ((gptr == G) & (cs_valid == 0) & col_walker.idle & (ls_valid == 0))

        # ---------------- clear datapath ----------------
        cptr = Signal(ev_bits + 1)
        cmax = Signal(ev_bits + 1)
        cq_valid = Signal(2)

        # ---------------- host access ----------------
        host = self.host
        # re in cycle c -> RAM data c+1 -> post-RAM register c+2 -> rdata/rvalid c+3
        h_valid = Signal(2)
        h_region = [Signal(HostRegion, name=f"h_region{s}") for s in range(2)]
        h_lane = [Signal(lane_bits, name=f"h_lane{s}") for s in range(2)]
        h_small = [Signal(len(host.rdata), name=f"h_small{s}") for s in range(2)]
        m.d.sync += [h_valid.eq(Cat(host.re & host.ready, h_valid[0])),
                     h_region[1].eq(h_region[0]), h_lane[1].eq(h_lane[0]),
                     h_region[0].eq(host.region), h_lane[0].eq(host.lane),
                     h_small[1].eq(h_small[0])]
        lane_sel = host.lane
        with m.Switch(host.region):
            with m.Case(HostRegion.ADAPT):
                m.d.sync += h_small[0].eq(Array(a_rd)[lane_sel].data)
            with m.Case(HostRegion.LABEL):
                m.d.sync += h_small[0].eq(lab_rd.data)
            with m.Case(HostRegion.LFSR):
                m.d.sync += h_small[0].eq(lfsr)
            with m.Case(HostRegion.LIVE):
                m.d.sync += h_small[0].eq(live)
            with m.Case(HostRegion.COUNTER):
                m.d.sync += h_small[0].eq(Mux(host.addr < len(Counter),
                                              counters[host.addr[:4]], 0))
        with m.Switch(h_region[1]):
            with m.Case(HostRegion.WEIGHT):
                m.d.sync += host.rdata.eq(Array(w_q)[h_lane[1]])
            with m.Case(HostRegion.ROW_MASK):
                m.d.sync += host.rdata.eq(Array(row_q)[h_lane[1]])
            with m.Case(HostRegion.COL_MASK):
                m.d.sync += host.rdata.eq(col_q)
            with m.Default():
                m.d.sync += host.rdata.eq(h_small[1])
        m.d.sync += host.rvalid.eq(h_valid[1])

        # Default addresses: the host's (only honoured while idle).
        m.d.comb += [x.addr.eq(host.addr) for x in w_rd + row_rd + [col_rd]]
        m.d.comb += [x.addr.eq(host.addr) for x in a_rd]
        m.d.comb += lab_rd.addr.eq(host.addr)

        # Trace defaults.
        tr = self.trace
        m.d.comb += [tr.step.eq(step), tr.row.eq(sweep_k),
                     tr.neuron.eq(l_k * P + l_p), tr.input.eq(ls_i[1]), tr.weight.eq(stdp.w_new),
                     tr.pruned.eq(prune.pruned)]
        m.d.comb += [tr.v[p].eq(nu[p].v_out) for p in range(P)]

        out = self.events_out
        eptr = Signal(range(N + 1))
        pred_label = Signal(layouts.LABEL_BITS)
        m.d.comb += [spk_rd.addr.eq(eptr), self.pred_label.eq(pred_label)]

        # ---------------- the phase FSM ----------------
        def take_event() -> None:
            """One input beat (events_in.valid is high, ready is high)."""
            beat = self.events_in.payload
            count(Counter.LOAD_CYCLES)
            with m.If(beat.kind == EventKind.END):
                for t in range(T + 1):
                    with m.If(t >= last_tp1):
                        m.d.sync += first[t].eq(n_ev)
                m.d.sync += step.eq(0)
                m.next = "INTEG_START"
            with m.Elif(beat.time + 1 < last_tp1):
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
                m.d.sync += [n_ev.eq(n_ev + 1), last_tp1.eq(beat.time + 1)]

        with m.FSM(init="IDLE"):
            with m.State("IDLE"):
                m.d.comb += [host.ready.eq(1), self.events_in.ready.eq(1)]
                with m.If(host.we):
                    self._host_write(m, host, w_wr, row_wr, col_wr, a_wr, lab_wr)
                    with m.Switch(host.region):
                        with m.Case(HostRegion.LFSR):
                            m.d.sync += lfsr.eq(host.wdata)
                        with m.Case(HostRegion.LIVE):
                            m.d.sync += live.eq(host.wdata)
                        with m.Case(HostRegion.COUNTER):
                            m.d.sync += [c.eq(0) for c in counters] + [error.eq(0)]
                with m.If(self.events_in.valid):
                    take_event()
                    with m.If(self.events_in.payload.kind != EventKind.END):
                        m.next = "LOAD"

            with m.State("LOAD"):
                m.d.comb += self.events_in.ready.eq(1)
                with m.If(self.events_in.valid):
                    take_event()
                with m.Else():
                    count(Counter.STALL_CYCLES)

            with m.State("INTEG_START"):
                count(Counter.INTEGRATE_CYCLES)
                m.d.sync += [fptr.eq(Array(first)[step]), fend.eq(Array(first)[step + 1])]
                with m.If(Array(first)[step] == Array(first)[step + 1]):
                    m.d.sync += [sweep_k.eq(0), pending.eq(0)]
                    m.next = "SWEEP"
                with m.Else():
                    m.next = "INTEG"

            with m.State("INTEG"):
                count(Counter.INTEGRATE_CYCLES)
                # fetch pipeline: event index, then the row-mask words of that input
                m.d.sync += fs_valid.eq(Cat(fetch_issue, fs_valid[:3]))
                m.d.comb += ev_rd.addr.eq(fptr)
                with m.If(fetch_issue):
                    m.d.sync += fptr.eq(fptr + 1)
                m.d.comb += [x.addr.eq(ev_q) for x in row_rd]
                m.d.sync += [fs_i.eq(ev_q), fs_i4.eq(fs_i)]
                # walk: one weight read per lane per live synapse
                for p in range(P):
                    m.d.comb += w_rd[p].addr.eq(walk.tag.base + walk.bit[p])
                count(Counter.SYN_EVENTS, sum(walk.hit[p] for p in range(P)))
                # accumulate (stage 2: registered weight)
                for p in range(P):
                    with m.If(acc_valid[1] & acc_hit[1][p]):
                        total = v_rd[p].data + w_q[p]
                        m.d.comb += [v_rd[p].addr.eq(acc_k[1][p]), v_wr[p].addr.eq(acc_k[1][p]),
                                     v_wr[p].data.eq(Mux(total > cfg.v_max, cfg.v_max, total)),
                                     v_wr[p].en.eq(1)]
                with m.If(integ_idle):
                    m.d.sync += [sweep_k.eq(0), pending.eq(0)]
                    m.next = "SWEEP"

            with m.State("SWEEP"):
                count(Counter.SWEEP_CYCLES)
                m.d.comb += [x.addr.eq(sweep_k) for x in v_rd + a_rd]
                with m.If(~pending):
                    m.d.comb += tr.sweep_valid.eq(1)
                    for p in range(P):
                        m.d.comb += [v_wr[p].addr.eq(sweep_k), v_wr[p].data.eq(nu[p].v_out),
                                     v_wr[p].en.eq(1), a_wr[p].addr.eq(sweep_k),
                                     a_wr[p].data.eq(nu[p].adapt_out), a_wr[p].en.eq(1)]
                        with m.If(cross[p]):
                            m.d.sync += fired[p].bit_select(sweep_k, 1).eq(1)
                        with m.If(elig[p] & (~lb_valid[p] | (nu[p].margin > lb_d[p]))):
                            m.d.sync += [lb_valid[p].eq(1), lb_d[p].eq(nu[p].margin),
                                         lb_k[p].eq(sweep_k)]
                with m.If(spikes_now != 0):
                    m.d.comb += [spk_wr.addr.eq(n_spk), spk_wr.data.time.eq(step),
                                 spk_wr.data.neuron.eq(sweep_k * P + spike_lane),
                                 spk_wr.en.eq(1)]
                    m.d.sync += n_spk.eq(n_spk + 1)
                m.d.sync += [pend.eq(spike_rest), pending.eq(spike_rest != 0)]
                with m.If(spike_rest == 0):
                    m.d.sync += sweep_k.eq(sweep_k + 1)
                    with m.If(sweep_k == K - 1):
                        m.d.sync += [red.eq(0), best_valid.eq(0)]
                        m.next = "REDUCE"

            with m.State("REDUCE"):
                count(Counter.SWEEP_CYCLES)
                r = red[:lane_bits] if P > 1 else Const(0, 1)
                better = lb_valid.bit_select(r, 1) & (
                    ~best_valid | (lb_d[r] > best_d) | ((lb_d[r] == best_d) & (lb_k[r] < best_k)))
                with m.If(better):
                    m.d.sync += [best_valid.eq(1), best_d.eq(lb_d[r]), best_k.eq(lb_k[r]),
                                 best_p.eq(r)]
                m.d.sync += red.eq(red + 1)
                with m.If(red == P - 1):
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
                count(Counter.LEARN_CYCLES)
                k_now, p_now = win_k[lw], win_p[lw]
                m.d.sync += [l_k.eq(k_now), l_p.eq(p_now), l_t.eq(win_t[lw]),
                             col_base.eq((k_now * P + p_now) * G), gptr.eq(0), clr_acc.eq(0)]
                for p in range(P):
                    a_old = a_rd[p].data
                    inc = a_old + regs.homeo_inc
                    m.d.comb += a_rd[p].addr.eq(k_now)
                    with m.If(p_now == p):
                        m.d.comb += [a_wr[p].addr.eq(k_now), a_wr[p].en.eq(1),
                                     a_wr[p].data.eq(Mux(inc > cfg.adapt_max, cfg.adapt_max,
                                                         inc))]
                m.next = "LEARN"

            with m.State("LEARN"):
                count(Counter.LEARN_CYCLES)
                m.d.sync += cs_valid.eq(Cat(col_issue, cs_valid[0]))
                m.d.comb += col_rd.addr.eq(col_base + gptr)
                with m.If(col_issue):
                    m.d.sync += [gptr.eq(gptr + 1), cs_g[0].eq(gptr)]
                # stage 0: read weight, input time and row-mask word of the synapse
                for p in range(P):
                    m.d.comb += [w_rd[p].addr.eq(c_input * K + l_k), row_rd[p].addr.eq(c_input)]
                m.d.comb += tin_rd.addr.eq(c_input)
                with m.If(c_hit):
                    count(Counter.SYN_UPDATES)
                # stage 2: update, prune, write back
                m.d.comb += tr.learn_valid.eq(do_update)
                for p in range(P):
                    with m.If(do_update & (l_p == p)):
                        m.d.comb += [w_wr[p].addr.eq(ls_i[1] * K + l_k),
                                     w_wr[p].data.eq(stdp.w_new), w_wr[p].en.eq(1)]
                        with m.If(prune.pruned):
                            m.d.comb += [row_wr[p].addr.eq(ls_i[1]), row_wr[p].en.eq(1),
                                         row_wr[p].data.eq(row_q[p] & ~(1 << l_k))]
                bit_now = Mux(pruned_now, Const(1, B) << ls_bit[1], 0)
                with m.If(pruned_now):
                    count(Counter.PRUNED)
                    m.d.sync += live.eq(live - 1)
                with m.If(ls_valid[1] & ls_last[1]):
                    m.d.comb += [col_wr.addr.eq(col_base + ls_g[1]),
                                 col_wr.data.eq(ls_word[1] & ~(clr_acc | bit_now)),
                                 col_wr.en.eq(1)]
                    m.d.sync += clr_acc.eq(0)
                with m.Elif(ls_valid[1]):
                    m.d.sync += clr_acc.eq(clr_acc | bit_now)
                with m.If(learn_idle):
                    m.d.sync += lw.eq(lw + 1)
                    with m.If(lw + 1 == n_win):
                        m.next = "CLEAR_START"
                    with m.Else():
                        m.next = "LEARN_START"

            with m.State("CLEAR_START"):
                count(Counter.CLEAR_CYCLES)
                m.d.sync += [cptr.eq(0), cmax.eq(Mux(n_ev > K, n_ev, K)), cq_valid.eq(0)]
                m.d.sync += [f.eq(0) for f in fired]
                m.next = "CLEAR"

            with m.State("CLEAR"):
                count(Counter.CLEAR_CYCLES)
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
                    m.d.sync += [n_win.eq(0), last_tp1.eq(0), n_ev.eq(0), eptr.eq(0)]
                    m.next = "EMIT"

            with m.State("EMIT"):
                m.d.comb += lab_rd.addr.eq(pred)
                with m.If(eptr != n_spk):
                    m.d.comb += [out.valid.eq(1), out.payload.kind.eq(EventKind.SPIKE),
                                 out.payload.time.eq(spk_rd.data.time),
                                 out.payload.index.eq(spk_rd.data.neuron)]
                    with m.If(out.ready):
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
        """Drive the write port that ``host.region``/``host.lane`` select (core idle)."""
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
