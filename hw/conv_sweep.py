"""ConvSweep: a time step's pass over every conv neuron: leak, fire once, lateral inhibition.

The lanes' membranes sit at address a = pos * MR + j (output position pos = y * W' + x, map row
j, map m = j * lanes + p in lane p), so the sweep walks a = 0 .. MR * P' - 1 with all lanes in
lockstep and the maps of one position come one after the other. Row pipeline (stage s = cycles
after row a is issued; every read synchronous with a register after it, the core's memories):
0: the membrane, fired-bit and blocked-bit reads (address ``addr``, ``blocked_addr`` = pos);
2: their words, the eligibility (not fired; with ``inhibit``, position not blocked) and
``NeuronUpdate`` (``rules.leak``, ``rules.margin``, no adaptation); 4, the last stage: the leaked
membrane is written back (``v_write_*``) and the crossing lanes (eligible, margin >= 0) fire:

* ``inhibit`` low: every crossing lane spikes (fire once: its fired bit is set); a row that
  fires s > 1 lanes holds the last stage s cycles, one spike per cycle, the lowest lane first,
  and stalls the pipeline meanwhile (``read_en`` low holds the reads and their registers);
* ``inhibit`` high (``model.conv.inhibit``): among the position's crossing maps the larger
  membrane wins, then the lower map; the best is carried over the position's map rows and, at
  its last row, spikes, sets its fired bit and blocks the position for the rest of the sample.

Spikes (``spike``, ``spike_neuron`` = (m * H' + y) * W' + x) come at most one per cycle, with
the spike's map, row, column and membrane (``spike_map``, ``spike_y``, ``spike_x``, ``spike_v``:
the learning unit's winner candidates).

Contract: ``start`` (a cycle of its own) empties the pipeline and starts the row counter;
``done`` is high in the cycle the last row leaves the last stage, and the unit then stops.
``probe_valid``: the last stage writes back row ``probe_addr``'s leaked membranes
(``v_write_data``), once per row and step.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model.conv_cycles import ConvGeometry
from .rule_units import NeuronUpdate
from .walker import one_hot_index


class ConvSweep(wiring.Component):
    """The sweep of one conv core of geometry ``geom`` (``model.conv_cycles.ConvGeometry``)."""

    def __init__(self, *, geom: ConvGeometry) -> None:
        if not isinstance(geom, ConvGeometry):
            raise TypeError(f"ConvSweep: geom must be a ConvGeometry, not "
                            f"{type(geom).__name__}")
        self.geom = g = geom.validate()
        P, mb = g.lanes, g.membrane_bits
        self.units = [NeuronUpdate(membrane_bits=mb, adapt_bits=1) for _ in range(P)]
        knobs = self.units[0].signature.members
        super().__init__({
            "start": In(1), "done": Out(1),
            "threshold": In(mb), "leak_shift": In(knobs["leak_shift"].shape), "inhibit": In(1),
            "addr": Out(range(g.lane_neurons)), "blocked_addr": Out(range(g.positions)),
            "read_en": Out(1),
            "v_read": In(mb).array(P), "fired_read": In(1).array(P), "blocked_read": In(1),
            "v_write_addr": Out(range(g.lane_neurons)), "v_write_data": Out(mb).array(P),
            "v_write_en": Out(1),
            "fired_write_addr": Out(range(g.lane_neurons)), "fired_write_en": Out(P),
            "blocked_write_addr": Out(range(g.positions)), "blocked_write_en": Out(1),
            "spike": Out(1), "spike_neuron": Out(g.index_bits),
            "spike_map": Out(range(g.maps)), "spike_y": Out(range(g.out_h)),
            "spike_x": Out(range(g.out_w)), "spike_v": Out(mb),
            "probe_valid": Out(1), "probe_addr": Out(range(g.lane_neurons)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.geom
        P, MR, N = g.lanes, g.map_rows, g.lane_neurons
        pos_shape, j_shape = range(g.positions), range(MR)
        sweeping = Signal()
        adv = Signal()  # the pipeline moves (low while a row's spikes are written one by one)
        m.d.comb += self.read_en.eq(adv)
        # row counter: addr = pos * MR + j, pos = y * W' + x
        addr, pos, j = Signal(range(N + 1)), Signal(pos_shape), Signal(j_shape)
        y, x = Signal(range(g.out_h)), Signal(range(g.out_w))
        issue = sweeping & (addr != N)
        m.d.comb += [self.addr.eq(addr), self.blocked_addr.eq(pos)]
        # stages 1..4: valid, addr, pos, j, y, x
        st = [dict(valid=Signal(name=f"st{s}_valid"), addr=Signal(range(N), name=f"st{s}_a"),
                   pos=Signal(pos_shape, name=f"st{s}_pos"), j=Signal(j_shape, name=f"st{s}_j"),
                   y=Signal.like(y, name=f"st{s}_y"), x=Signal.like(x, name=f"st{s}_x"))
              for s in range(1, 5)]
        elig3, elig4 = Signal(P), Signal(P)
        with m.If(adv):
            m.d.sync += [st[0]["valid"].eq(issue), st[0]["addr"].eq(addr),
                         st[0]["pos"].eq(pos), st[0]["j"].eq(j), st[0]["y"].eq(y),
                         st[0]["x"].eq(x)]
            for s in range(1, 4):
                m.d.sync += [st[s][key].eq(st[s - 1][key]) for key in st[s]]
            elig2 = Cat(*[~self.fired_read[p] & ~(self.inhibit & self.blocked_read)
                          for p in range(P)])
            m.d.sync += [elig3.eq(elig2), elig4.eq(elig3)]
            with m.If(issue):
                m.d.sync += addr.eq(addr + 1)
                with m.If(j == MR - 1):
                    m.d.sync += [j.eq(0), pos.eq(pos + 1), x.eq(Mux(x == g.out_w - 1, 0, x + 1))]
                    with m.If(x == g.out_w - 1):
                        m.d.sync += y.eq(y + 1)
                with m.Else():
                    m.d.sync += j.eq(j + 1)
        for p, unit in enumerate(self.units):
            m.submodules[f"neuron{p}"] = unit
            m.d.comb += [unit.v.eq(self.v_read[p]), unit.adapt.eq(0),
                         unit.threshold.eq(self.threshold), unit.leak_shift.eq(self.leak_shift),
                         unit.decay_en.eq(0), unit.decay_shift.eq(0), unit.en.eq(adv)]

        # the last stage
        last = st[3]
        valid = last["valid"]
        pending, pend = Signal(), Signal(P)  # later spikes of a row that fires several lanes
        cross = Cat(*[elig4[p] & (self.units[p].margin >= 0) for p in range(P)])
        first = valid & ~pending
        m.d.comb += [self.v_write_addr.eq(last["addr"]), self.v_write_en.eq(first),
                     self.probe_valid.eq(first), self.probe_addr.eq(last["addr"])]
        m.d.comb += [self.v_write_data[p].eq(self.units[p].v_out) for p in range(P)]
        m.d.comb += [self.fired_write_addr.eq(last["addr"]),
                     self.blocked_write_addr.eq(last["pos"])]
        hw = g.positions

        def neuron(row: object, lane: object) -> object:
            return (row * P + lane) * hw + last["pos"]

        # inhibition off: the crossing lanes one per cycle, lowest first
        current = Mux(pending, pend, cross)
        low = current & -current
        rest = current & ~low
        lane = one_hot_index(low, P) if P > 1 else Const(0, 1)
        stall = valid & ~self.inhibit & (rest != 0)
        m.d.sync += [pending.eq(stall), pend.eq(rest)]
        m.d.comb += adv.eq(~stall)

        # inhibition on: the row's best crossing lane (larger membrane, then lower lane), then
        # the best over the position's rows (a later row only wins with a larger membrane).
        # The lanes meet in a tree of pairs (the order is total, so a tree picks what a chain
        # would): log2(P) compares deep, not P (a chain of P compares was the 85F chain's
        # critical path). Each node a named signal: an expression would hold its inputs twice,
        # and the netlist would double with every level.
        nodes = [(cross[p], self.units[p].v_out, Const(p, range(P))) for p in range(P)]
        level = 0
        while len(nodes) > 1:
            paired = []
            for k in range(0, len(nodes) - 1, 2):
                (a_valid, a_v, a_lane), (b_valid, b_v, b_lane) = nodes[k], nodes[k + 1]
                take_a = a_valid & (~b_valid | (a_v >= b_v))  # the lower lane wins ties
                node = (Signal(name=f"best_valid_{level}_{k}"),
                        Signal(g.membrane_bits, name=f"best_v_{level}_{k}"),
                        Signal(range(P), name=f"best_lane_{level}_{k}"))
                m.d.comb += [node[0].eq(a_valid | b_valid), node[1].eq(Mux(take_a, a_v, b_v)),
                             node[2].eq(Mux(take_a, a_lane, b_lane))]
                paired.append(node)
            nodes = paired + nodes[len(nodes) - len(nodes) % 2:]
            level += 1
        r_valid, r_v, r_lane = nodes[0]
        b_valid, b_v = Signal(), Signal(g.membrane_bits)
        b_lane, b_row = Signal(range(P)), Signal(j_shape)
        keep = b_valid & (last["j"] != 0) & (~r_valid | (b_v >= r_v))
        w_valid = Mux(keep, b_valid, r_valid)
        w_lane, w_row = Mux(keep, b_lane, r_lane), Mux(keep, b_row, last["j"])
        w_v = Mux(keep, b_v, r_v)
        with m.If(valid & self.inhibit):
            m.d.sync += [b_valid.eq(w_valid), b_v.eq(w_v), b_lane.eq(w_lane), b_row.eq(w_row)]
        group_end = valid & self.inhibit & (last["j"] == MR - 1) & w_valid
        w_onehot = Cat(*[w_lane == p for p in range(P)])

        m.d.comb += [self.spike_y.eq(last["y"]), self.spike_x.eq(last["x"])]
        with m.If(self.inhibit):
            m.d.comb += [self.spike.eq(group_end), self.spike_neuron.eq(neuron(w_row, w_lane)),
                         self.spike_map.eq(w_row * P + w_lane), self.spike_v.eq(w_v),
                         self.blocked_write_en.eq(group_end),
                         self.fired_write_addr.eq(last["pos"] * MR + w_row),
                         self.fired_write_en.eq(Mux(group_end, w_onehot, 0))]
        with m.Else():
            fire = valid & (current != 0)
            v_lanes = Array(unit.v_out for unit in self.units)
            m.d.comb += [self.spike.eq(fire), self.spike_neuron.eq(neuron(last["j"], lane)),
                         self.spike_map.eq(last["j"] * P + lane), self.spike_v.eq(v_lanes[lane]),
                         self.fired_write_en.eq(Mux(fire, low, 0))]

        m.d.comb += self.done.eq(valid & adv & (last["addr"] == N - 1))
        with m.If(self.start):
            m.d.sync += [sweeping.eq(1), addr.eq(0), pos.eq(0), j.eq(0), y.eq(0), x.eq(0),
                         pending.eq(0)]
            m.d.sync += [s["valid"].eq(0) for s in st]
        with m.Elif(self.done):
            m.d.sync += sweeping.eq(0)
        return m
