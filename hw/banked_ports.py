"""The registered multiplexers in front of the banked RAMs' ports of ``hw.core.LayerCore``: the
weights, the row masks (one of each per lane) and the column bitmap.

A port is the learning pipeline's (``in_learn``: LEARN_START to CLEAR_START, both included),
within that the regrowth unit's (``in_regrow``: REGROW and the state after it; only when the core
has one, ``Config.regrow_unit``), else the host's (its read strobe and decoded writes: only while
idle) or the integration pipeline's. The selects are registered flags, not FSM state decodes: an
address or a word is chosen even when nothing is read or written; only the enables carry the
conditions.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Value

from .layouts import HostRegion


def banked_ports(m: Module, c: SimpleNamespace) -> None:
    """Drive the banked RAMs' addresses, words and enables from ``c`` (the namespace
    ``LayerCore.elaborate`` builds: ``rams``, ``host_port``, ``learning``, ``integ``, ``regrow``
    (None without the unit), the flags ``in_learn[_l]``, ``in_regrow[_l]``, ``in_clear`` and
    CLEAR's pointer)."""
    r, hq, learning, integ, rg = c.rams, c.host_port, c.learning, c.integ, c.regrow
    write = {region: hq.write[region.value] for region in HostRegion}

    def learner(grow: Value | None, name: str, lane: int | None = None) -> Value:
        """The learning pipeline's port ``name`` (``Learning`` and ``Regrow`` share the names),
        or in REGROW (``grow``) the regrowth unit's; with ``lane``, that lane's word of a
        per-lane port, or for an enable, the enable of that lane alone."""

        def value(unit: object) -> Value:
            port = getattr(unit, name)
            if lane is None:
                return port
            return port & unit.lane_onehot[lane] if name.endswith("_en") else port[lane]

        return value(learning) if rg is None else Mux(grow, value(rg), value(learning))

    for p in range(c.cfg.lanes):
        sel = c.in_learn_l[p]
        grow = None if rg is None else c.in_regrow_l[p]
        m.d.comb += [
            r.w_rd[p].addr.eq(Mux(sel, learning.weight_addr,
                                  Mux(hq.read_lane[p], hq.addr, integ.weight_addr[p]))),
            r.row_rd[p].addr.eq(Mux(sel, learner(grow, "row_addr"),
                                    Mux(hq.read_lane[p], hq.addr, integ.row_addr))),
            r.w_wr[p].addr.eq(Mux(sel, learner(grow, "weight_write_addr"), hq.addr)),
            r.w_wr[p].data.eq(Mux(sel, learner(grow, "weight_write_data"), hq.wdata)),
            r.w_wr[p].en.eq(Mux(sel, learner(grow, "weight_write_en", p),
                                write[HostRegion.WEIGHT] & hq.lane[p])),
            r.row_wr[p].addr.eq(Mux(sel, learner(grow, "row_write_addr"), hq.addr)),
            r.row_wr[p].data.eq(Mux(sel, learner(grow, "row_write_data", p), hq.wdata)),
            r.row_wr[p].en.eq(Mux(sel, learner(grow, "row_write_en", p),
                                  write[HostRegion.ROW_MASK] & hq.lane[p])),
        ]
    grow = None if rg is None else c.in_regrow
    m.d.comb += [
        r.col_rd.addr.eq(Mux(c.in_learn, learner(grow, "col_addr"), hq.addr)),
        r.col_wr.addr.eq(Mux(c.in_learn, learner(grow, "col_write_addr"), hq.addr)),
        r.col_wr.data.eq(Mux(c.in_learn, learner(grow, "col_write_data"), hq.wdata)),
        r.col_wr.en.eq(Mux(c.in_learn, learner(grow, "col_write_en"),
                           write[HostRegion.COL_MASK])),
        # the event list: CLEAR's pointer or INTEG's (reads in other states are unused);
        # the input times: LEARN's
        r.ev_rd.addr.eq(Mux(c.in_clear, c.clear.ptr, integ.event_addr)),
        r.tin_rd.addr.eq(learning.input_addr),
    ]
