"""Integration: a time step's input events into the membranes, one live synapse per lane per cycle.

The lanes are not in lockstep: each walks its own queue of the step's events, so an event costs
each lane its own live synapses, not those of the busiest lane, and the step lasts as long as
the lane with the most work (``model.cycles.walk_cycles``).

Three pipelines in a row (``L`` = the banked RAMs' read latency):

* fetch, stage s = cycles after the event address ``event_addr`` (``first`` .. ``end`` - 1 of the
  event list), one issue per row-mask word of the event (W = ``row_words`` per event, in order,
  ``model.config.row_word_shape``): 2: the event's input index (``event_index``, the event RAM's
  registered read), the address of its row-mask word w (``row_addr``: input * W + w); 2 + L: the
  words (``row_words``, R bits, one per lane), each into its lane's walker with the weight base
  ``input * rows + w * R``. The fetch keeps at most ``depth`` entries
  issued and not yet taken by any one lane (a credit count per lane, ``hw.credits``), so a lane
  may run up to ``depth`` events ahead of the slowest. It issues on a registered AND of the
  lanes' "two credits or more" flags (a cycle old, so one credit stays in reserve): the AND of
  the lanes' flags is not on the path from the decision to the counters. Each lane's credit
  count takes the decision from its own copy of the two registers (``keep_attrs``), so the
  decision is not one net routed across the die to every lane.
* walk: per lane a one-lane ``LockstepWalker`` visits the set bits of its words, one a cycle
  (pruned synapses cost nothing; an event with no live synapse in the lane costs it one cycle);
  a visit of lane p reads the weight at ``weight_addr[p]`` = its entry's base + row.
* accumulate, stage s = cycles after the visit: L - 1: the membrane read (``v_read_addr``, the
  RAM's word in ``v_read`` at stage L); L: weight + membrane, saturated at 2^membrane_bits - 1, a
  write request (``v_write_*``, done by the core's registered write port at the end of stage
  L + 1). The word read at stage L - 1 misses the writes of the two visits ahead of it, so a
  visit whose row one of them wrote takes that sum instead (forwarding).

Contract: ``start`` loads the step's bounds (``first``, ``end``, ``some`` = first != end) and
clears ``idle``; while ``run`` is high the fetch issues, and ``idle`` goes high (registered) the
cycle after every pipeline has drained. ``synapses`` is the number of lanes hit by this cycle's
visit (the SYN_EVENTS count). The memories are the core's: this unit only drives their addresses
and write requests.
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import row_word_shape
from ..model.cycles import walker_depth
from .credits import credit_flag
from .delay_line import register_chain
from .row_words import row_word_addr
from .walker import LockstepWalker


class Integration(wiring.Component):
    """``lanes`` lanes of ``rows`` neurons over ``n_inputs`` inputs; ``weight_bits``,
    ``membrane_bits``; ``ram_latency``; ``row_word_bits``: the row-mask words' split
    (``Config.row_word_bits``, 0: a whole row); ``pipelined``: the walker's die-wide form;
    ``fifo_attrs``: synthesis attributes of the walkers' FIFOs; ``keep_attrs``: those of the
    per-lane copies of the issue decision's registers."""

    def __init__(self, *, lanes: int, rows: int, n_inputs: int, weight_bits: int,
                 membrane_bits: int, ram_latency: int, row_word_bits: int = 0,
                 pipelined: bool = False,
                 fifo_attrs: Mapping[str, object] | None = None,
                 keep_attrs: Mapping[str, object] | None = None) -> None:
        sizes = dict(lanes=lanes, rows=rows, n_inputs=n_inputs, weight_bits=weight_bits,
                     membrane_bits=membrane_bits, ram_latency=ram_latency)
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Integration: {name} must be an int >= 1, not {value!r}")
        if ram_latency < 2:
            raise ValueError(f"Integration: ram_latency must be >= 2, not {ram_latency}")
        self.lanes, self.rows, self.n_inputs = lanes, rows, n_inputs
        self.row_width, self.row_word_count = row_word_shape(rows, row_word_bits)
        self.membrane_bits, self.latency = membrane_bits, ram_latency
        self.pipelined, self.fifo_attrs = pipelined, dict(fifo_attrs or {})
        self.keep_attrs = dict(keep_attrs or {})
        ev_bits = n_inputs.bit_length()
        row_bits = max(1, (rows - 1).bit_length())
        w_addr_bits = (n_inputs * rows).bit_length()
        super().__init__({
            "start": In(1), "run": In(1),
            "first": In(ev_bits), "end": In(ev_bits), "some": In(1),
            "event_addr": Out(ev_bits), "event_index": In(max(1, (n_inputs - 1).bit_length())),
            "row_addr": Out(range(n_inputs * self.row_word_count)),
            "row_words": In(self.row_width).array(lanes),
            "weight_addr": Out(w_addr_bits).array(lanes), "weights": In(weight_bits).array(lanes),
            "v_read_addr": Out(row_bits).array(lanes), "v_read": In(membrane_bits).array(lanes),
            "v_write_addr": Out(row_bits).array(lanes),
            "v_write_data": Out(membrane_bits).array(lanes), "v_write_en": Out(lanes),
            "synapses": Out(range(lanes + 1)), "idle": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        P, K, L = self.lanes, self.rows, self.latency
        R, W = self.row_width, self.row_word_count
        fetch_stages = 2 + L  # event read (2) + row-mask read
        # entries per lane (fetch latency + 4 keeps a lane fed); the cycle model's own number
        depth = walker_depth(L)
        # the entry's weight base and (W > 1) its word, whose rows are word * R + bit
        tag = data.StructLayout({"base": unsigned((self.n_inputs * K).bit_length()),
                                 **({"word": unsigned((W - 1).bit_length())} if W > 1 else {})})
        walkers = []
        for p in range(P):
            walker = LockstepWalker(lanes=1, width=R, tag_layout=tag, depth=depth,
                                    pipelined=self.pipelined, fifo_attrs=self.fifo_attrs)
            m.submodules[f"row_walker{p}"] = walker
            walkers.append(walker)

        # fetch
        fptr, fend = self.event_addr, Signal.like(self.end, name="fend")
        more = Signal(name="f_more")  # fptr != fend, registered
        fs_valid = Signal(fetch_stages)  # occupancy, bit s: stage s + 1
        issue = Signal()
        # W > 1: the row-mask word of the event being issued (the event pointer moves on after
        # its last word), and at stage 2 the word of the event index arriving
        base = self.event_index * K
        word_at_index = event_done = None
        if W > 1:
            fword = Signal(range(W), name="f_word")
            event_done = fword == W - 1
            word_at_index = register_chain(m, fword, 2, name="fs_word")[-1]
            base = base + word_at_index * R
            with m.If(self.start):
                m.d.sync += fword.eq(0)
            with m.If(self.run & issue):
                m.d.sync += fword.eq(Mux(event_done, 0, fword + 1))
            # the word rides to the walkers beside the base, in their entries' tag
            fs_word = register_chain(m, word_at_index, L, name="fs_word_l")[-1]
            m.d.comb += [w.entries.payload.tag.word.eq(fs_word) for w in walkers]
        m.d.comb += self.row_addr.eq(row_word_addr(self.event_index, word_at_index, W))
        fs_base = register_chain(m, base, L, name="fs_base")  # [-1]: 2 + L
        # per lane "two credits or more"; their AND registered once more (``ok``), so the
        # decision is a gate of two registers: a lane with two credits a cycle ago has one now.
        # Each lane decides from copies of both registers next to its credit count (equal to
        # ``more`` and ``ok`` in every cycle: same inputs, same enables).
        more_l = [Signal(name=f"f_more_l{p}", attrs=self.keep_attrs) for p in range(P)]
        ok_l = [Signal(init=1, name=f"f_ok_l{p}", attrs=self.keep_attrs) for p in range(P)]
        spare = [credit_flag(m, depth=depth, issue=more_l[p] & ok_l[p] & self.run,
                             taken=walker.taken & self.run, name=f"fetch{p}", reserve=2)
                 for p, walker in enumerate(walkers)]
        ok = Signal(init=1, name="f_ok")
        all_spare = Cat(*spare).all()
        m.d.sync += [x.eq(all_spare) for x in [ok, *ok_l]]
        m.d.comb += issue.eq(more & ok)
        with m.If(self.start):
            m.d.sync += [fptr.eq(self.first), fend.eq(self.end)]
            m.d.sync += [x.eq(self.some) for x in [more, *more_l]]
        with m.If(self.run):
            m.d.sync += fs_valid.eq(Cat(issue, fs_valid[:-1]))
            with m.If(issue if W == 1 else issue & event_done):
                m.d.sync += fptr.eq(fptr + 1)
            for x, y in [(more, ok), *zip(more_l, ok_l, strict=True)]:
                with m.If(x & y if W == 1 else x & y & event_done):
                    m.d.sync += x.eq(fptr + 1 != fend)
        for p, walker in enumerate(walkers):
            m.d.comb += [walker.entries.valid.eq(fs_valid[-1]),
                         walker.entries.payload.tag.base.eq(fs_base[-1]),
                         walker.entries.payload.words[0].eq(self.row_words[p])]

        # walk
        walks = [walker.out for walker in walkers]
        m.d.comb += [self.weight_addr[p].eq(walk.tag.base + walk.bit[0])
                     for p, walk in enumerate(walks)]
        m.d.comb += self.synapses.eq(sum(walk.hit[0] for walk in walks))

        # accumulate
        # [s-1]: stage s, per lane (a hit is a valid visit that reached a live synapse)
        acc_valid = register_chain(m, Cat(*[walk.valid for walk in walks]), L, name="acc_valid")
        acc_hit = register_chain(m, Cat(*[walk.hit[0] for walk in walks]), L, name="acc_hit")
        acc_k = [register_chain(m, walk.bit[0] if W == 1 else Cat(walk.bit[0], walk.tag.word),
                                L + 1, name=f"acc_k{p}_")
                 for p, walk in enumerate(walks)]
        fwd, fwd2, wrote = Signal(P), Signal(P), Signal(P)
        write = acc_hit[L - 1]
        for p in range(P):
            last = Signal(self.membrane_bits, name=f"acc_last{p}")  # the sum one visit ahead
            last2 = Signal(self.membrane_bits, name=f"acc_last2_{p}")  # two visits ahead
            base = Mux(fwd[p], last, Mux(fwd2[p], last2, self.v_read[p]))
            total = base + self.weights[p]
            # v_max = 2^membrane_bits - 1: the carry out is the saturation flag
            acc_sum = Mux(total[self.membrane_bits], 2 ** self.membrane_bits - 1,
                          total[:self.membrane_bits])
            m.d.sync += [last.eq(acc_sum), last2.eq(last)]
            m.d.comb += [self.v_read_addr[p].eq(acc_k[p][L - 2]),
                         self.v_write_addr[p].eq(acc_k[p][L - 1]),
                         self.v_write_data[p].eq(acc_sum)]
        m.d.comb += self.v_write_en.eq(write)
        m.d.sync += wrote.eq(write)  # stage L + 1: the visit wrote
        m.d.sync += fwd.eq(Cat(*[write[p] & (acc_k[p][L - 1] == acc_k[p][L - 2])
                                 for p in range(P)]))
        m.d.sync += fwd2.eq(Cat(*[wrote[p] & (acc_k[p][L] == acc_k[p][L - 2])
                                  for p in range(P)]))
        # drained: registered (the FSM leaves INTEG on a flag, not on an OR over every stage),
        # cleared by start, so it says "idle" from the cycle after the pipeline was (nothing is
        # issued once fptr reaches fend)
        m.d.sync += self.idle.eq(~more & (fs_valid == 0) & Cat(*[w.idle for w in walkers]).all()
                                 & ~Cat(*acc_valid).any())
        with m.If(self.start):
            m.d.sync += self.idle.eq(0)
        return m
