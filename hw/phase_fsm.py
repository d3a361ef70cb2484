"""The layer core's phase FSM: which datapath runs, when a phase ends, the sample's bookkeeping.

States (``docs/architecture.md``, cycle schedule; ``model.cycles`` counts their cycles): IDLE ->
LOAD (input events) -> per time step INTEG_START [-> INTEG] -> SWEEP -> REDUCE -> STEP_END, then per
winner LEARN_START -> LEARN_INC -> LEARN [-> REGROW] (learning on; REGROW when the core has the
regrowth unit (``Config.regrow_unit``), the ``regrow`` register is set and the pass pruned a
synapse), then CLEAR_START -> CLEAR -> EMIT -> IDLE. A host REWIRE command (a core with the unit,
"pq") runs from IDLE: LEARN_START -> LEARN_INC -> LEARN [-> REGROW] with ``rewiring`` set (the
pass prunes by the command's cut and makes no STDP update, REGROW whenever it pruned, no
adaptation increment) -> REWIRE_END -> IDLE. The FSM drives the datapath components' strobes
(``start``, ``run``, ...) and the registered flags that select the memories' ports (``in_learn``,
``in_clear``, ``label_pred``); it owns the sample state ``c.s`` (event-list bounds per step,
winners, prediction). Every counter increment is requested here (``c.count``).

``c`` is the namespace ``LayerCore.elaborate`` builds: ``cfg``, ``regs``, ``rams``
(``hw.core_rams``), the components (``skid``, ``host_port``, ``integ``, ``sweep``,
``lane_reduce``, ``learning``, ``regrow`` (None without the unit), ``emit``), the flags and
``s``.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import data

from .layouts import Counter, EventKind, HostRegion, rewire_layout
from .row_words import row_split


def phase_fsm(m: Module, c: SimpleNamespace) -> None:
    """Add the FSM to ``m``."""
    # The event list's and input times' write requests: address and data from the input beat
    # (LOAD) or, while ``in_clear`` (a register), the clear's; only the enables are decided by
    # the states, so the beat's checks do not sit in front of the address registers (the 85F's
    # critical path ran through them).
    rams, beat = c.rams, c.skid.o.payload
    m.d.comb += [rams.ev_wr.addr.eq(c.s.n_ev), rams.ev_wr.data.eq(beat.index),
                 rams.tin_wr.addr.eq(Mux(c.in_clear, rams.ev_q, beat.index)),
                 rams.tin_wr.data.eq(Mux(c.in_clear, c.cfg.time_steps, beat.time))]
    with m.FSM(init="IDLE"):
        _load_states(m, c)
        _step_states(m, c)
        _learn_states(m, c)
        _clear_emit_states(m, c)


def _take_event(m: Module, c: SimpleNamespace) -> None:
    """Take the held input beat (valid): END closes the event list; an event out of time order
    (error bit 0) or out of range, or one more than the list holds (error bit 1), is dropped;
    any other is appended, and ``first[t]`` (the list index of step t's first event) is set for
    every step up to its time. The input times are written only when the sample learns (the
    ``learn`` register, which the host writes only between samples): inference never reads them,
    so its CLEAR need not restore them."""
    s, cfg, rams = c.s, c.cfg, c.rams
    T = cfg.time_steps
    beat = c.skid.o.payload
    m.d.comb += c.skid.o.ready.eq(1)
    c.count(Counter.LOAD_CYCLES)
    with m.If(beat.kind == EventKind.END):
        for t in range(T + 1):
            with m.If(t >= s.last_tp1):
                m.d.sync += s.first[t].eq(s.n_ev)
        m.d.sync += s.step.eq(0)
        m.next = "INTEG_START"
    with m.Elif(beat.time < s.last_t):  # beat.time + 1 < last_tp1
        m.d.sync += s.error[0].eq(1)
    with m.Elif((beat.time >= T) | (beat.index >= cfg.n_inputs) | (s.n_ev == cfg.n_inputs)):
        m.d.sync += s.error[1].eq(1)
    with m.Else():
        m.d.comb += [rams.ev_wr.en.eq(1), rams.tin_wr.en.eq(c.regs.learn)]
        for t in range(T + 1):
            with m.If((t >= s.last_tp1) & (t <= beat.time)):
                m.d.sync += s.first[t].eq(s.n_ev)
        m.d.sync += [s.n_ev.eq(s.n_ev + 1), s.last_tp1.eq(beat.time + 1), s.last_t.eq(beat.time),
                     s.has_events.bit_select(beat.time, 1).eq(1)]


def _load_states(m: Module, c: SimpleNamespace) -> None:
    skid = c.skid
    with m.State("IDLE"):
        rewire = c.host_port.write[HostRegion.REWIRE.value] if c.regrow is not None else 0
        # not ready in the cycle a REWIRE command acts: the next strobe waits for its end
        m.d.comb += c.host_port.idle.eq(~skid.o.valid & skid.i.ready & ~rewire)
        m.d.sync += [x.eq(c.host_addr) for x in c.a_oaddr]
        if c.regrow is not None:
            with m.If(rewire):
                _start_rewire(m, c)
        # A write strobed in the cycle before acts now; the core is still idle (ready is low
        # while an input beat is held), and a beat that arrived with the strobe waits for it
        # (the write may clear the counters).
        with m.If(skid.o.valid & ~c.host_port.we):
            _take_event(m, c)
            with m.If(skid.o.payload.kind != EventKind.END):
                m.next = "LOAD"

    with m.State("LOAD"):
        with m.If(skid.o.valid):
            _take_event(m, c)
        with m.Else():
            c.count(Counter.STALL_CYCLES)


def _start_rewire(m: Module, c: SimpleNamespace) -> None:
    """A REWIRE command acts (IDLE): its neuron (row ``addr``, lane ``lane_no``) becomes winner
    0 and the learning pass starts in rewire mode with the command's cut."""
    s, cfg, hq = c.s, c.cfg, c.host_port
    word = data.View(rewire_layout(cfg), hq.wdata[:rewire_layout(cfg).size])
    row = hq.addr[:len(s.win_k[0])]
    m.d.sync += [s.win_k[0].eq(row), s.win_p[0].eq(hq.lane_no),
                 s.win_cb[0].eq((row * cfg.lanes + hq.lane_no) * cfg.col_words),
                 s.win_km[0].eq(~(1 << row_split(row, cfg.row_word_width, cfg.row_words)[1])),
                 s.lw.eq(0), c.rw_cut.eq(word.cut),
                 c.rw_equal.eq(word.n_equal), c.rewiring.eq(1)]
    m.d.sync += [x.eq(1) for x in (c.in_learn, *c.in_learn_l)]
    m.next = "LEARN_START"


def _step_states(m: Module, c: SimpleNamespace) -> None:
    s, integ, sweep, lane_reduce = c.s, c.integ, c.sweep, c.lane_reduce
    with m.State("INTEG_START"):
        c.count(Counter.INTEGRATE_CYCLES)
        m.d.comb += [integ.start.eq(1), sweep.zero.eq(1)]
        with m.If(~s.has_events.bit_select(s.step, 1)):  # first[step] == first[step + 1]
            m.d.comb += sweep.start.eq(1)
            m.next = "SWEEP"
        with m.Else():
            m.next = "INTEG"

    with m.State("INTEG"):
        c.count(Counter.INTEGRATE_CYCLES)
        m.d.comb += integ.run.eq(1)
        c.count(Counter.SYN_EVENTS, integ.synapses)
        with m.If(integ.idle):
            m.d.comb += sweep.start.eq(1)
            m.next = "SWEEP"

    with m.State("SWEEP"):
        c.count(Counter.SWEEP_CYCLES)
        m.d.comb += sweep.run.eq(1)
        with m.If(sweep.done):
            m.d.comb += lane_reduce.start.eq(1)
            m.next = "REDUCE"

    with m.State("REDUCE"):
        c.count(Counter.SWEEP_CYCLES)
        m.d.comb += lane_reduce.run.eq(1)
        with m.If(lane_reduce.done):
            m.next = "STEP_END"

    with m.State("STEP_END"):
        _step_end(m, c)


def _step_end(m: Module, c: SimpleNamespace) -> None:
    """Record the step's winner (if its margin is >= 0) and the prediction (the first step's
    best candidate); learn, clear or go on to the next step."""
    s, cfg, regs, best = c.s, c.cfg, c.regs, c.lane_reduce
    P, G, T = cfg.lanes, cfg.col_words, cfg.time_steps
    c.count(Counter.SWEEP_CYCLES)
    c.count(Counter.STEPS)
    win = best.best_valid & (best.best_margin >= 0)
    wins_after = s.n_win + win
    m.d.comb += c.sweep.best_reset.eq(1)
    m.d.sync += s.last_step.eq(s.step)
    with m.If(win):
        # per winner, computed now (from the reduce's registers), so that LEARN_START only
        # selects: its column-bitmap base (k * P + p) * G and its row-mask clearing mask
        m.d.sync += [s.win_k[s.n_win].eq(best.best_row), s.win_p[s.n_win].eq(best.best_lane),
                     s.win_t[s.n_win].eq(s.step), s.n_win.eq(wins_after),
                     s.win_cb[s.n_win].eq((best.best_row * P + best.best_lane) * G),
                     s.win_km[s.n_win].eq(~(1 << row_split(best.best_row, cfg.row_word_width,
                                                           cfg.row_words)[1]))]
    with m.If((s.n_win == 0) & best.best_valid):
        m.d.sync += s.pred.eq(best.best_row * P + best.best_lane)
    with m.If((wins_after == regs.k_winners) | (s.step == T - 1)):
        m.d.sync += s.lw.eq(0)
        with m.If(regs.learn & (wins_after != 0)):
            # the first winner: this step's (win_k[0] is written now) or an earlier one
            m.d.sync += [x.eq(Mux(s.n_win == 0, best.best_row, s.win_k[0])) for x in c.a_oaddr]
            m.d.sync += [x.eq(1) for x in (c.in_learn, *c.in_learn_l)]
            m.next = "LEARN_START"
        with m.Else():
            m.next = "CLEAR_START"
    with m.Else():
        m.d.sync += s.step.eq(s.step + 1)
        m.next = "INTEG_START"


def _learn_states(m: Module, c: SimpleNamespace) -> None:
    learning = c.learning
    with m.State("LEARN_START"):
        # the winner's registers, and its adaptation read
        c.count(Counter.LEARN_CYCLES)
        m.d.comb += learning.start.eq(1)
        if c.regrow is not None:
            m.d.comb += c.regrow.clear.eq(1)
        _end_regrow_ports(m, c)
        m.next = "LEARN_INC"

    with m.State("LEARN_INC"):
        # adaptation + inc (saturating) into a register; written in the winner's lane from
        # LEARN's first cycle (learn_inc)
        c.count(Counter.LEARN_CYCLES)
        m.d.sync += c.learn_inc.eq(1 if c.regrow is None else ~c.rewiring)
        m.next = "LEARN"

    with m.State("LEARN"):
        c.count(Counter.LEARN_CYCLES)
        m.d.sync += c.learn_inc.eq(0)
        m.d.comb += [learning.run.eq(1), c.probe.learn_valid.eq(learning.weight_write_en)]
        # the next winner's adaptation row, loaded in every LEARN cycle (LEARN_INC has taken
        # this winner's read; past the last winner the value is unused): its lane copies' enable
        # is then this state's decode alone, not the pass's and regrowth's ends
        m.d.sync += [x.eq(c.s.win_k[c.s.lw + 1]) for x in c.a_oaddr]
        with m.If(learning.updates & (1 if c.regrow is None else ~c.rewiring)):
            c.count(Counter.SYN_UPDATES)
        with m.If(learning.pruned):
            c.count(Counter.PRUNED)
        with m.If(learning.idle):
            if c.regrow is None:  # a core without the regrowth unit (``Config.regrow_unit``)
                _next_winner(m, c)
            else:
                _regrow_or_next_winner(m, c)

    if c.regrow is not None:
        with m.State("REGROW"):
            # the winner's regrowths (hw.regrow); counted as learning
            c.count(Counter.LEARN_CYCLES)
            with m.If(c.regrow.idle):
                _next_winner(m, c)

        with m.State("REWIRE_END"):
            # a REWIRE command's pass and regrowths are done: the memories go back to the host
            c.count(Counter.LEARN_CYCLES)
            m.d.sync += [x.eq(0) for x in (c.in_learn, *c.in_learn_l)]
            m.d.sync += c.rewiring.eq(0)
            _end_regrow_ports(m, c)
            m.next = "IDLE"


def _regrow_or_next_winner(m: Module, c: SimpleNamespace) -> None:
    """The winner's pass is done: its regrowths (REGROW) when the ``regrow`` register is set (or
    the pass is a REWIRE command's) and the pass pruned a synapse (else regrowth costs nothing),
    or the next winner."""
    with m.If((c.regs.regrow | c.rewiring) & c.regrow.pending):
        m.d.comb += c.regrow.go.eq(1)
        m.d.sync += [x.eq(1) for x in (c.in_regrow, *c.in_regrow_l)]
        m.next = "REGROW"
    with m.Else():
        _next_winner(m, c)


def _next_winner(m: Module, c: SimpleNamespace) -> None:
    """The winner's learning is done: the next winner's, or CLEAR; a REWIRE command's: its
    end."""
    s = c.s
    m.d.sync += s.lw.eq(s.lw + 1)
    with m.If(s.lw + 1 == s.n_win):
        m.next = "CLEAR_START"
    with m.Else():
        m.next = "LEARN_START"
    if c.regrow is not None:
        with m.If(c.rewiring):  # (the last assignment of the next state wins)
            m.next = "REWIRE_END"


def _end_regrow_ports(m: Module, c: SimpleNamespace) -> None:
    """The regrowth unit's hold on the banked RAMs ends (``in_regrow`` and its lane copies low
    from the next cycle): in LEARN_START and CLEAR_START, a cycle after REGROW, where the unit
    is idle (its enables low) and no port is used yet, so that the copies' enable is a state
    decode, not REGROW's end condition."""
    if c.regrow is not None:
        m.d.sync += [x.eq(0) for x in (c.in_regrow, *c.in_regrow_l)]


def _clear_emit_states(m: Module, c: SimpleNamespace) -> None:
    s, cl, rams, emit = c.s, c.clear, c.rams, c.emit
    K = c.cfg.rows
    with m.State("CLEAR_START"):
        c.count(Counter.CLEAR_CYCLES)
        # (cmax >= K >= 1: CLEAR issues at least once; the loaded inputs' times only where the
        # sample learned, as only then were they written)
        m.d.sync += [cl.ptr.eq(0), cl.max.eq(Mux(c.regs.learn & (s.n_ev > K), s.n_ev, K)),
                     cl.q_valid.eq(0),
                     cl.more.eq(1), cl.in_rows.eq(1), s.has_events.eq(0), c.in_clear.eq(1),
                     c.label_pred.eq(1), c.lab_addr.eq(s.pred)]
        m.d.comb += emit.start.eq(1)
        if not c.cfg.fired_in_adapt:  # (fired flags in the adaptation words need no clearing)
            m.d.comb += c.sweep.clear_begin.eq(1)
        # learning's hold on the banked RAMs ends here, a cycle after its last state, where
        # its enables are low and CLEAR_START uses none of them: the lane copies' enable is then
        # this state's decode (and STEP_END's), not the learning pass's end condition
        m.d.sync += [x.eq(0) for x in (c.in_learn, *c.in_learn_l)]
        _end_regrow_ports(m, c)
        m.next = "CLEAR"

    with m.State("CLEAR"):
        # restore the loaded inputs' times to 'never' where the sample learned (the event list
        # read at ptr, the write a read latency later); membranes of rows < K are zeroed (the
        # write requests)
        c.count(Counter.CLEAR_CYCLES)
        issue = cl.more
        m.d.sync += cl.q_valid.eq(Cat(issue & (cl.ptr < s.n_ev) & c.regs.learn, cl.q_valid[0]))
        with m.If(issue):
            m.d.sync += [cl.ptr.eq(cl.ptr + 1), cl.more.eq(cl.ptr + 1 != cl.max)]
        with m.If(cl.q_valid[1]):
            m.d.comb += rams.tin_wr.en.eq(1)
        with m.If(~issue & (cl.q_valid == 0)):
            m.d.sync += [s.n_win.eq(0), s.last_tp1.eq(0), s.last_t.eq(0), s.n_ev.eq(0),
                         c.in_clear.eq(0)]
            m.d.comb += emit.arm.eq(1)
            if not c.cfg.fired_in_adapt:
                m.d.comb += c.sweep.clear_end.eq(1)
            m.next = "EMIT"

    with m.State("EMIT"):  # the emit unit sends from arm to done on its own flag
        with m.If(emit.done):
            c.count(Counter.SAMPLES)
            m.d.sync += [s.n_spk.eq(0), c.pred_label.eq(rams.lab_rd.data), c.label_pred.eq(0)]
            m.next = "IDLE"
        with m.If(emit.out.ready):
            c.count(Counter.EMIT_CYCLES)
        with m.Else():
            c.count(Counter.STALL_CYCLES)
