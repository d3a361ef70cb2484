"""Sweep: a time step's pass over every neuron of every lane: leak, adaptation decay, fire once.

Each lane visits its ``rows`` neurons in order through a row pipeline: stage 0 issues row
``row_addr`` (the lane's membrane and adaptation reads, ``read_en`` low holds them) with its
eligibility (not fired before), stage 1 has the words read (``v``, ``adapt``), ``NeuronUpdate``
adds its latency, one more stage registers its outputs with the firing lanes and whether two or
more fire, and the last stage fires, asks for the write-back (``write_*``) and updates the lane's
best candidate (``best_*``: the eligible row with the largest margin, the first of equal ones).
A row that fires s > 1 lanes holds the last stage s cycles (one spike per cycle, lowest lane
first: ``spike_*``) and stalls the whole pipeline meanwhile. Rows are distinct within a step and
the pipeline drains before the next step, so no forwarding is needed.

With more than one lane, the row counter, the "sweeping" flag and the stall are copied per lane
(``keep_attrs``: kept apart by the synthesis tool), so each lane's memories take their address
and enable from registers next to them, not from one register across the die.

Contract: ``zero`` resets the row counters (a cycle before ``start`` at the latest); ``start``
empties the pipeline and raises ``sweeping``; ``run`` is high from then until ``done`` (the
per-lane copies count rows while sweeping, not through ``run``); ``done`` is high (while
``sweeping``, from registers only) in the cycle the last row leaves the pipeline, and after a
``run`` cycle with ``done`` the unit lowers ``sweeping``. ``best_reset`` forgets the
lanes' candidates (after they were reduced); ``clear_begin`` .. ``clear_end`` zero the fired
flags (a new sample).

``fired_in_adapt`` (``Config.fired_in_adapt``): the fired flags are not registers here (two
K-bit registers per lane, a logic cell per neuron and more on an iCE40) but one bit above each
neuron's adaptation word, read with it (``fired_in``, stage 1) and written back with it at the
last stage (``fired_out``: fired before, or fires now). In the sample's first step
(``first_step``) the stored bits are ignored, and that step's sweep, which visits every row,
writes every row's bit afresh: no clearing is needed (the unit has no ``clear_begin`` and
``clear_end`` then).
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .rule_units import NeuronUpdate
from .walker import one_hot_index, three_or_more, two_or_more


class Sweep(wiring.Component):
    """``lanes`` lanes of ``rows`` neurons; ``membrane_bits``, ``adapt_bits``; ``die_wide``:
    ``NeuronUpdate``'s die-wide form; ``fired_in_adapt``: the fired flags in the adaptation
    memory; ``keep_attrs``: synthesis attributes of the per-lane copies; ``reg_attrs``: of the
    neuron updates' registers."""

    def __init__(self, *, lanes: int, rows: int, membrane_bits: int, adapt_bits: int,
                 die_wide: bool = False, fired_in_adapt: bool = False,
                 keep_attrs: Mapping[str, object] | None = None,
                 reg_attrs: Mapping[str, object] | None = None) -> None:
        sizes = dict(lanes=lanes, rows=rows, membrane_bits=membrane_bits, adapt_bits=adapt_bits)
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Sweep: {name} must be an int >= 1, not {value!r}")
        if not isinstance(fired_in_adapt, bool):
            raise TypeError(f"Sweep: fired_in_adapt must be a bool, not "
                            f"{type(fired_in_adapt).__name__}")
        self.lanes, self.rows, self.fired_in_adapt = lanes, rows, fired_in_adapt
        self.keep_attrs, self.reg_attrs = dict(keep_attrs or {}), dict(reg_attrs or {})
        self.units = [NeuronUpdate(membrane_bits=membrane_bits, adapt_bits=adapt_bits,
                                   die_wide=die_wide, reg_attrs=self.reg_attrs)
                      for _ in range(lanes)]
        self.stages = 2 + NeuronUpdate.timing(die_wide)[0]  # the last stage's number
        knobs = self.units[0].signature.members
        row_bits = max(1, (rows - 1).bit_length())
        lane_bits = max(1, (lanes - 1).bit_length())
        margin = signed(membrane_bits + 2)
        super().__init__({
            "zero": In(1), "start": In(1), "run": In(1), "best_reset": In(1),
            "threshold": In(knobs["threshold"].shape), "leak_shift": In(knobs["leak_shift"].shape),
            "decay_en": In(1), "decay_shift": In(knobs["decay_shift"].shape),
            # (one signal of every lane's row, not a signal per lane: a port that is a whole
            # copy would give the copy's flip-flops the port's name, not the copy's mark)
            "row_addr": Out(data.ArrayLayout(range(rows + 1), lanes)), "read_en": Out(lanes),
            "v": In(membrane_bits).array(lanes), "adapt": In(adapt_bits).array(lanes),
            "sweeping": Out(1), "sweeping_lane": Out(lanes), "done": Out(1),
            "write": Out(1), "write_lane": Out(lanes), "write_row": Out(row_bits),
            "v_out": Out(membrane_bits).array(lanes), "adapt_out": Out(adapt_bits).array(lanes),
            "spike": Out(1), "spike_neuron": Out(row_bits + lane_bits),
            "best_valid": Out(lanes), "best_margin": Out(margin).array(lanes),
            "best_row": Out(row_bits).array(lanes),
            **({"fired_in": In(lanes), "first_step": In(1), "fired_out": Out(lanes)}
               if fired_in_adapt else {"clear_begin": In(1), "clear_end": In(1)}),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        P, K, last = self.lanes, self.rows, self.stages
        row_bits = max(1, (K - 1).bit_length())
        keep = self.keep_attrs
        sweep_k = Signal(range(K + 1))  # next row to issue
        sw_valid = Signal(last)
        sw_row = [Signal(row_bits, name=f"sw_row{s}") for s in range(1, last + 1)]
        sw_elig = [Signal(P, name=f"sw_elig{s}") for s in range(1, last + 1)]
        sw_stall = Signal()
        in_sweep = self.sweeping
        copies = P > 1
        sweep_kl = ([Signal(range(K + 1), name=f"sweep_k_l{p}", attrs=keep) for p in range(P)]
                    if copies else [sweep_k])
        in_sweep_l = ([Signal(name=f"in_sweep_l{p}", attrs=keep) for p in range(P)]
                      if copies else [in_sweep])
        sw_stall_l = ([Signal(name=f"sw_stall_l{p}", attrs=keep) for p in range(P)]
                      if copies else [sw_stall])
        # "rows left to issue" (row counter != K) of sweep_k and of each lane's copy, a register
        # beside its counter: a lane's shift enable (50 fired flags on the 85F) is then a gate of
        # flags, not the counter's compare (the 85F's path: stall copy -> compare -> shift)
        left_of = {id(c): Signal(init=1, name=f"{c.name}_left")
                   for c in ([sweep_k, *sweep_kl] if copies else [sweep_k])}
        registers = not self.fired_in_adapt  # the fired flags are registers here
        if registers:
            # per-lane copies of "clearing": each lane's fired flags are zeroed from a register
            # next to them
            in_clear_l = [Signal(name=f"in_clear_l{p}", attrs=keep) for p in range(P)]
            fired = [Signal(K, name=f"fired{p}") for p in range(P)]
            # Each lane's fired flags as the sweep meets them: a copy of "fired" outside the
            # sweep, shifted by one row per row issued in it, so a row's eligibility is one
            # flip-flop, not a K:1 multiplexer addressed by the row counter (the 85F's critical
            # path). Exact, because a row's flag set during a step is next read in a later step.
            fired_ahead = [Signal(K, name=f"fired_ahead{p}") for p in range(P)]
        else:
            # stage 1: eligible unless the adaptation word's fired bit says so (a bit left
            # from the last sample in its first step)
            m.d.comb += sw_elig[0].eq(~(self.fired_in & Mux(self.first_step, 0, (1 << P) - 1)))
        pend = Signal(P)
        pending = Signal()  # extra cycles of a row that fires more than one lane
        nu = self.units
        for p, unit in enumerate(nu):
            m.submodules[f"neuron{p}"] = unit
            m.d.comb += [unit.v.eq(self.v[p]), unit.adapt.eq(self.adapt[p]),
                         unit.threshold.eq(self.threshold), unit.leak_shift.eq(self.leak_shift),
                         unit.decay_en.eq(self.decay_en), unit.decay_shift.eq(self.decay_shift),
                         unit.en.eq(~sw_stall_l[p])]
            m.d.comb += [self.row_addr[p].eq(sweep_kl[p]), self.read_en[p].eq(~sw_stall_l[p]),
                         self.sweeping_lane[p].eq(in_sweep_l[p])]
        row_last, elig = sw_row[-1], sw_elig[-1]
        last_is_end = Signal()  # row_last == K - 1

        # last stage: the NeuronUpdate outputs, the firing lanes and "two or more fire"
        x_m = [Signal.like(nu[p].margin, name=f"x_m{p}") for p in range(P)]
        cross = Signal(P)
        cross_pre = Cat(*[sw_elig[-2][p] & (nu[p].margin >= 0) for p in range(P)])
        with m.If(~sw_stall):
            m.d.sync += cross.eq(cross_pre)
        for p in range(P):
            with m.If(~sw_stall_l[p]):
                m.d.sync += [self.v_out[p].eq(nu[p].v_out), self.adapt_out[p].eq(nu[p].adapt_out),
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

        if registers:
            # A row's fired flags are set the cycle after it fires (fire_set, fire_row
            # registered), so the decode of the row into flag enables starts from registers;
            # the flags of a row are next read in a later step.
            fire_set, fire_row = Signal(P), Signal(row_bits)
            m.d.sync += fire_set.eq(0)
            for p in range(P):
                with m.If(fire_set[p]):
                    m.d.sync += fired[p].bit_select(fire_row, 1).eq(1)
                with m.If(in_clear_l[p]):  # clearing (no row fires then)
                    m.d.sync += fired[p].eq(0)
            with m.If(self.clear_begin):
                m.d.sync += [x.eq(1) for x in in_clear_l]
            with m.If(self.clear_end):
                m.d.sync += [x.eq(0) for x in in_clear_l]
        else:  # the bit written back with the row's adaptation: fired before, or fires now
            m.d.comb += self.fired_out.eq(~elig | cross)

        # the write-back and spike requests of the last stage
        write = in_sweep & sw_valid[-1] & ~pending
        m.d.comb += [self.write.eq(write), self.write_row.eq(row_last),
                     self.write_lane.eq(Cat(*[x & sw_valid[-1] & ~pending for x in in_sweep_l])),
                     self.spike.eq(in_sweep & sw_valid[-1] & (spikes_now != 0)),
                     self.spike_neuron.eq(row_last * P + spike_lane)]
        # the lane bests and fired flags
        with m.If(write):
            if registers:
                m.d.sync += [fire_set.eq(cross), fire_row.eq(row_last)]
            for p in range(P):
                # x_m > best as the sign of best - x_m: a carry chain, where the compare was
                # mapped to a LUT tree
                better = (self.best_margin[p] - x_m[p])[-1]
                with m.If(elig[p] & (~self.best_valid[p] | better)):
                    m.d.sync += [self.best_valid[p].eq(1), self.best_margin[p].eq(x_m[p]),
                                 self.best_row[p].eq(row_last)]
        with m.If(self.best_reset):
            m.d.sync += self.best_valid.eq(0)

        # each lane counts its own row copy while sweeping, and holds its reads while stalled
        # (the stall copies are low outside the sweep), with no decode of the core's FSM
        for p in range(P if registers else 0):
            with m.If(~in_sweep_l[p]):
                m.d.sync += fired_ahead[p].eq(fired[p])
            with m.Elif(~sw_stall_l[p] & left_of[id(sweep_kl[p])]):  # a row issued
                m.d.sync += fired_ahead[p].eq(fired_ahead[p] >> 1)
        if copies:
            for p in range(P):
                with m.If(in_sweep_l[p]):  # as sw_stall and sweep_k in the sweep
                    m.d.sync += sw_stall_l[p].eq(Mux(sw_stall_l[p], stall_more, stall_new))
                    with m.If(~sw_stall_l[p] & left_of[id(sweep_kl[p])]):
                        m.d.sync += [sweep_kl[p].eq(sweep_kl[p] + 1),
                                     left_of[id(sweep_kl[p])].eq(sweep_kl[p] + 1 != K)]
        with m.If(self.zero):
            # (the row counters start at 0 before the sweep: their enables then need no part of
            # the decision to start it, which waits on the whole integration pipeline)
            m.d.sync += [x.eq(0) for x in ([sweep_k, *sweep_kl] if copies else sweep_kl)]
            m.d.sync += [x.eq(1) for x in left_of.values()]
        with m.If(self.start):
            m.d.sync += [pending.eq(0), sw_valid.eq(0), sw_stall.eq(0), in_sweep.eq(1)]
            if copies:
                # (the stall copies are 0 here: a sweep ends with no stall, nothing sets them
                # outside the sweep)
                m.d.sync += [x.eq(1) for x in in_sweep_l]

        # "done" from registers only, not through "run": the FSM's decision to leave the sweep
        # then needs no decode of its own state through this unit (the 85F's critical path)
        m.d.comb += self.done.eq(in_sweep & sw_valid[-1] & ~sw_stall & last_is_end)
        with m.If(self.run):
            issue = left_of[id(sweep_k)]
            with m.If(~sw_stall):
                m.d.sync += [sw_valid.eq(Cat(issue, sw_valid[:-1])), sw_row[0].eq(sweep_k)]
                if registers:
                    m.d.sync += sw_elig[0].eq(Cat(*[~x[0] for x in fired_ahead]))
                m.d.sync += [sw_row[s].eq(sw_row[s - 1]) for s in range(1, last)]
                # whether the row entering the last stage is the lane's last one, a register:
                # the FSM's decision to leave the sweep then starts from flags
                m.d.sync += last_is_end.eq(sw_row[-2] == K - 1)
                m.d.sync += [sw_elig[s].eq(sw_elig[s - 1]) for s in range(1, last)]
                with m.If(issue):
                    m.d.sync += [sweep_k.eq(sweep_k + 1), issue.eq(sweep_k + 1 != K)]
            m.d.sync += [pend.eq(spike_rest), pending.eq(sw_stall),
                         sw_stall.eq(Mux(sw_stall, stall_more, stall_new))]
            with m.If(self.done):
                m.d.sync += in_sweep.eq(0)
                if copies:
                    m.d.sync += [x.eq(0) for x in in_sweep_l]
        return m
