"""``HostPort`` on its own in the Amaranth simulator, against the cycles its contract documents.

The testbench plays the host and the core around the port. The core alternates busy phases
(``idle`` low, random counter increments, the host's strobes refused) and idle phases (no
increments, the host's random reads and writes, often from the very first idle cycle). It
answers the port's reads as its memories would: the adaptation and the label a cycle after the
port's ``addr`` (their read address is the host's address registered), the banked RAMs
``ram_latency`` cycles after ``addr``, read in every lane while ``read_lane`` is high (junk when
it is low, as the integration's reads would give); ``lfsr`` and ``live`` change every cycle.
Every memory word differs per lane and per address. Checked every cycle:

- ``host.ready`` = ``idle``; a strobe taken in cycle c shows in c + 1 as ``we``, ``addr``,
  ``wdata``, ``write`` (bit r for a write to region r), ``lane`` (one-hot) and ``read_lane`` (all
  lanes for a read); ``addr``, ``wdata`` and ``lane`` follow the host every cycle;
- ``host.rvalid`` exactly in c + 4 for the small regions and in c + 3 + ram_latency for the
  banked ones, once per read, with ``rdata`` the word read: the lane's word (other lanes' words
  must not leak), ``lfsr``/``live`` of cycle c + 1, counter ``addr`` (0 for an address that names
  none);
- counters: a read taken in cycle c counts the increments of the cycles before c since the last
  clear (a write to COUNTER taken in cycle w clears the increments of cycles up to w; those of
  w + 1 on count, as they are added a cycle later), modulo 2 ** counter_bits. Half the idle
  phases end with such a clear, the next busy phase starting right after it.

Reads of one region are issued back to back; the host waits for ``rvalid`` before reading
another region (the contract's rule). Fixed seeds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.host_port import HostPort
from synaprune.hw.layouts import LABEL_BITS, LFSR_BITS, Counter, HostRegion, host_signature
from synaprune.model.config import Config

CYCLES = 1500
TABLE = 32  # addresses the memories model (an address reads word addr % TABLE)
BANKED = (HostRegion.WEIGHT, HostRegion.ROW_MASK, HostRegion.COL_MASK)
PER_LANE = (HostRegion.WEIGHT, HostRegion.ROW_MASK, HostRegion.ADAPT)


@dataclass(frozen=True)
class Read:
    """A read strobe taken in cycle ``cycle``."""

    cycle: int
    region: HostRegion
    lane: int
    addr: int


def make_port(lanes: int, ram_latency: int, counter_bits: int) -> tuple[HostPort, Config]:
    cfg = Config(n_neurons=16 * lanes, lanes=lanes, ram_latency=ram_latency,
                 col_word_bits=8 if lanes == 2 else 32, weight_bits=8 if lanes == 2 else 5,
                 adapt_bits=12 if lanes == 2 else 9)
    port = HostPort(host=host_signature(cfg), lanes=lanes, ram_latency=ram_latency,
                    counter_bits=counter_bits, adapt_bits=cfg.adapt_bits,
                    weight_bits=cfg.weight_bits, row_mask_bits=cfg.row_word_width,
                    col_word_bits=cfg.col_word_bits,
                    label_bits=LABEL_BITS)
    return port, cfg


def simulate(port: HostPort, cfg: Config, seed: int) -> tuple[list[str], dict[str, int]]:
    """The run's differences from the contract (text) and how many of each event it saw."""
    P, L, bits = cfg.lanes, port.latency, port.counter_bits
    rng = random.Random(seed)
    widths = {HostRegion.WEIGHT: cfg.weight_bits, HostRegion.ROW_MASK: cfg.row_word_width,
              HostRegion.COL_MASK: cfg.col_word_bits, HostRegion.ADAPT: cfg.adapt_bits,
              HostRegion.LABEL: LABEL_BITS}
    tables = {r: [[rng.getrandbits(w) for _ in range(TABLE)] for _ in range(P)]
              for r, w in widths.items()}
    host = port.host
    addr_bits, data_bits = len(host.addr), len(host.wdata)
    errors: list[str] = []
    seen = {"reads": 0, "writes": 0, "refused": 0, "clears": 0, "wraps": 0}

    def word(region: HostRegion, lane: int, addr: int) -> int:
        return tables[region][lane if region in PER_LANE else 0][addr % TABLE]

    addr_at: list[int] = []  # the port's addr and read_lane in each cycle
    read_lane_at: list[int] = []
    lfsr_at: list[int] = []  # lfsr and live in each cycle
    live_at: list[int] = []
    incs: list[list[int]] = []  # each cycle's increments, per counter
    clears: list[int] = []  # cycles of COUNTER writes taken

    async def bench(ctx: SimulatorContext) -> None:
        pending: dict[int, Read] = {}  # rvalid cycle -> the read
        taken_before = None  # (we, re, region, lane, addr, wdata) of the cycle before
        busy_left, idle_left = 0, 0
        for t in range(CYCLES):
            # the core's memories and registers answer the port's addresses
            for p in range(P):
                ctx.set(port.lane_adapt[p], word(HostRegion.ADAPT, p, addr_at[t - 1])
                        if t >= 1 else 0)
                for region, inp in ((HostRegion.WEIGHT, port.lane_weight[p]),
                                    (HostRegion.ROW_MASK, port.lane_row_mask[p])):
                    hit = t >= L and (read_lane_at[t - L] >> p) & 1
                    ctx.set(inp, word(region, p, addr_at[t - L]) if hit
                            else rng.getrandbits(widths[region]))
            ctx.set(port.col_mask, word(HostRegion.COL_MASK, 0, addr_at[t - L]) if t >= L else 0)
            ctx.set(port.label, word(HostRegion.LABEL, 0, addr_at[t - 1]) if t >= 1 else 0)
            lfsr_at.append(rng.getrandbits(LFSR_BITS))
            live_at.append(rng.getrandbits(LFSR_BITS))
            ctx.set(port.lfsr, lfsr_at[t])
            ctx.set(port.live, live_at[t])
            # the core: busy (increments, strobes refused) or idle
            if busy_left == 0 and idle_left == 0:
                busy_left, idle_left = rng.randint(3, 30), rng.randint(10, 80)
            idle = busy_left == 0
            if idle:
                idle_left -= 1
            else:
                busy_left -= 1
            inc = [0] * len(Counter)
            if not idle:
                inc = [rng.randint(0, P) if c == Counter.SYN_EVENTS else rng.getrandbits(1)
                       for c in Counter]
            incs.append(inc)
            for c in Counter:
                ctx.set(getattr(port.increments, c.name.lower()), inc[c])
            ctx.set(port.idle, idle)
            # the host: a strobe, or junk operands
            region = HostRegion(rng.randrange(len(HostRegion)))
            lane = rng.randrange(P) if rng.random() < 0.9 else rng.getrandbits(len(host.lane))
            addr = (rng.randrange(16) if region == HostRegion.COUNTER else rng.randrange(TABLE)
                    ) if rng.random() < 0.8 else rng.getrandbits(addr_bits)
            wdata = rng.getrandbits(data_bits)
            in_flight = {r.region for r in pending.values()}
            we = re = False
            if rng.random() < 0.5:
                if rng.random() < 0.25:
                    we = True
                elif not in_flight or in_flight == {region}:
                    re = True
            if idle and idle_left == 0 and rng.random() < 0.5:
                # a clear in the last idle cycle: increments from the next cycle on must count
                we, re, region = True, False, HostRegion.COUNTER
            if (we or re) and lane >= P:  # junk lanes only without a strobe
                lane = rng.randrange(P)
            ctx.set(host.region, region)
            ctx.set(host.lane, lane)
            ctx.set(host.addr, addr)
            ctx.set(host.wdata, wdata)
            ctx.set(host.we, we)
            ctx.set(host.re, re)
            # the port's outputs this cycle
            if ctx.get(host.ready) != idle:
                errors.append(f"cycle {t}: host.ready {ctx.get(host.ready)}, idle {idle}")
            if taken_before is not None:
                t_we, t_re, t_region, t_lane, t_addr, t_wdata = taken_before
                want = (int(t_we), t_addr, t_wdata, int(t_we) << t_region.value,
                        (1 << t_lane) & ((1 << P) - 1), ((1 << P) - 1) if t_re else 0)
                got = tuple(ctx.get(s) for s in (port.we, port.addr, port.wdata, port.write,
                                                 port.lane, port.read_lane))
                if got != want:
                    errors.append(f"cycle {t}: boundary (we, addr, wdata, write, lane, "
                                  f"read_lane) {got}, expected {want}")
            addr_at.append(ctx.get(port.addr))
            read_lane_at.append(ctx.get(port.read_lane))
            rvalid = ctx.get(host.rvalid)
            read = pending.pop(t, None)
            if rvalid != (read is not None):
                errors.append(f"cycle {t}: rvalid {rvalid}, expected a read: {read}")
            elif read is not None:
                want_word = expected(read)
                if ctx.get(host.rdata) != want_word:
                    errors.append(f"cycle {t}: rdata {ctx.get(host.rdata):#x} for {read}, "
                                  f"expected {want_word:#x}")
            # what the strobes do
            seen["refused"] += (we or re) and not idle
            we, re = we and idle, re and idle
            if re:
                latency = 3 + L if region in BANKED else 4
                pending[t + latency] = Read(t, region, lane, addr)
                seen["reads"] += 1
            if we:
                seen["writes"] += 1
                if region == HostRegion.COUNTER:
                    clears.append(t)
                    seen["clears"] += 1
            taken_before = (we, re, region, lane, addr, wdata)
            await ctx.tick()

    def expected(read: Read) -> int:
        c = read.cycle
        if read.region in tables:
            return word(read.region, read.lane, read.addr)
        if read.region == HostRegion.LFSR:
            return lfsr_at[c + 1]
        if read.region == HostRegion.LIVE:
            return live_at[c + 1]
        if read.region == HostRegion.REWIRE:  # commands, no words
            return 0
        if read.addr >= len(Counter):
            return 0
        since = max((w for w in clears if w < c), default=-1) + 1
        total = sum(incs[u][read.addr] for u in range(since, c))
        seen["wraps"] += total >= 1 << bits
        return total % (1 << bits)

    sim = Simulator(port)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return errors, seen


@pytest.mark.parametrize(("lanes", "ram_latency", "counter_bits"),
                         [(2, 4, 4), (5, 7, 16), (2, 7, 16), (5, 4, 4)])
def test_host_port_meets_its_cycles(lanes: int, ram_latency: int, counter_bits: int) -> None:
    port, cfg = make_port(lanes, ram_latency, counter_bits)
    errors, seen = simulate(port, cfg, seed=lanes * 10 + ram_latency)
    assert not errors, f"{len(errors)} differences; first: {errors[:3]}"
    # the run exercised what it checks
    assert seen["reads"] > 50 and seen["writes"] > 20 and seen["refused"] > 10
    assert seen["clears"] > 3
    if counter_bits == 4:
        assert seen["wraps"] > 0

