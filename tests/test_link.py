"""The UART command link end to end: host driver -> bit-level UART -> command unit -> core.

Two cores sit behind the command unit. ``ModelCore`` is a Python model of the core's ports (the
contract of ``hw/layouts.py`` at the memory-map level, each sample computed by the golden model):
it tests the command unit, its status codes and its watchdog on their own. ``SimTransport`` runs
``LinkTop`` with the real ``LayerCore``: the end-to-end test learns and infers a few samples
through it and compares winners, spikes, weights, both connection bitmaps, adaptation, LFSR, the
live counter and the performance counters with ``model.network.Network`` on the same samples.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from amaranth import Module, Value
from amaranth.sim import SimulatorContext

from synaprune.boards import protocol as proto
from synaprune.boards.command import CommandUnit
from synaprune.boards.core_bridge import CoreBridge
from synaprune.boards.host import (
    Board,
    CommandError,
    cmd_name,
)
from synaprune.boards.link import LinkTop
from synaprune.boards.protocol import Cmd, Status
from synaprune.boards.sim_transport import SimTransport, UartSimTransport
from synaprune.boards.uart import UartRx, UartTx
from synaprune.hw import memory_map as mm
from synaprune.hw.layouts import (
    N_COUNTERS,
    Counter,
    HostRegion,
    index_bits,
    regs_layout,
    regs_value,
)
from synaprune.model.config import Config
from synaprune.model.encoding import encode
from synaprune.model.network import Network

CLK_FREQ = 1e6
DIVISOR = 4


def tiny_link_config(**changes: object) -> Config:
    """16 inputs, 8 neurons in 2 lanes, 8 steps; strong STDP so a few samples prune synapses."""
    base = dict(n_inputs=16, image_shape=(4, 4), n_neurons=8, lanes=2, time_steps=8,
                col_word_bits=8, threshold=500, a_plus=3000, a_minus=-6000,
                prune_threshold=150, homeo_inc=40, homeo_decay_shift=3, init_std=0.1, seed=3)
    base.update(changes)
    return Config(**base).validate()


def sample_times(cfg: Config, n: int, seed: int) -> np.ndarray:
    """``n`` encoded random images: about half the pixels dark (never spike)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *cfg.image_shape), dtype=np.int64)
    images[rng.random(images.shape) < 0.4] = 0
    return encode(images.astype(np.uint8), cfg)


class ModelCore:
    """The golden model behind the core-side ports of ``unit`` (a ``CommandUnit``)."""

    # the real core's register reads (its block-RAM reads take ram_latency + 3); the unit waits
    # for rvalid whatever the latency
    READ_LATENCY = 4

    def __init__(self, cfg: Config, unit: CommandUnit) -> None:
        self.cfg, self.unit = cfg, unit
        p, k = cfg.lanes, cfg.rows
        self.mem = {
            HostRegion.WEIGHT: np.zeros((p, cfg.n_inputs * k), dtype=np.int64),
            HostRegion.ROW_MASK: np.zeros((p, cfg.n_inputs * cfg.row_words), dtype=np.int64),
            HostRegion.COL_MASK: np.zeros((1, cfg.n_neurons * cfg.col_words), dtype=np.int64),
            HostRegion.ADAPT: np.zeros((p, k), dtype=np.int64),
            HostRegion.LABEL: np.zeros((1, cfg.n_neurons), dtype=np.int64),
            HostRegion.LFSR: np.array([[cfg.lfsr_seed]], dtype=np.int64),
            HostRegion.LIVE: np.zeros((1, 1), dtype=np.int64),
            HostRegion.COUNTER: np.zeros((1, N_COUNTERS), dtype=np.int64),
        }
        self.error = 0
        self.pred_label = 0
        self.samples = 0
        self.last_regs = 0  # the register word of the last sample
        self.hang = False  # while set, a finished sample holds its output (and ready stays low)

    def _regs_config(self, regs: int) -> tuple[Config, bool]:
        cfg = self.cfg
        f = {name: (regs >> fld.offset) & ((1 << fld.width) - 1)
             for name, fld in regs_layout(cfg)}
        width = cfg.stdp_frac_bits + 2
        a_minus = f["a_minus"] - (1 << width) if f["a_minus"] >> (width - 1) else f["a_minus"]
        run_cfg = cfg.replace(threshold=f["threshold"], leak_shift=f["leak_shift"],
                              k_winners=f["k_winners"], a_plus=f["a_plus"], a_minus=a_minus,
                              prune_enabled=bool(f["prune_enable"]),
                              prune_threshold=f["prune_threshold"], homeo_inc=f["homeo_inc"],
                              homeo_decay_shift=f["homeo_decay_shift"],
                              rewire_policy="fixed-density" if f["regrow"] else "threshold",
                              regrow_weight=f["regrow_weight"])
        return run_cfg, bool(f["learn"])

    def _sample(self, events: list[tuple[int, int]], regs: int) -> list[tuple[int, int, int]]:
        """Run one sample; return the output beats (kind, time, index)."""
        cfg = self.cfg
        run_cfg, learn = self._regs_config(regs)
        times = np.full(cfg.n_inputs, cfg.never, dtype=np.int64)
        last = 0
        for t, i in events:
            if t < last:
                self.error |= 1
            elif t >= cfg.never or i >= cfg.n_inputs:
                self.error |= 2
            else:
                times[i], last = t, t
        mem = self.mem
        net = Network(run_cfg, weights=mm.weights_from_words(cfg, mem[HostRegion.WEIGHT]),
                      mask=mm.mask_from_row_words(cfg, mem[HostRegion.ROW_MASK]),
                      adapt=mm.per_neuron_from_lanes(cfg, mem[HostRegion.ADAPT]),
                      lfsr_state=int(mem[HostRegion.LFSR][0, 0]))
        res = net.run_sample(times, learn=learn)
        mem[HostRegion.WEIGHT][:] = mm.weight_words(cfg, net.weights)
        mem[HostRegion.ROW_MASK][:] = mm.row_mask_words(cfg, net.mask)
        mem[HostRegion.COL_MASK][0] = mm.col_mask_words(cfg, net.mask)
        mem[HostRegion.ADAPT][:] = mm.lane_words(cfg, net.adapt)
        mem[HostRegion.LFSR][0, 0] = net.lfsr.peek_state()
        mem[HostRegion.LIVE][0, 0] -= res.pruned
        c = mem[HostRegion.COUNTER][0]
        c[Counter.SAMPLES] += 1
        c[Counter.LOAD_CYCLES] += len(events) + 1
        c[Counter.EMIT_CYCLES] += len(res.spikes) + 1
        c[Counter.SYN_EVENTS] += res.syn_events
        c[Counter.SYN_UPDATES] += res.syn_updates
        c[Counter.PRUNED] += res.pruned
        c[Counter.STEPS] += res.steps
        self.pred_label = int(mem[HostRegion.LABEL][0, res.prediction])
        self.last_regs = regs
        self.samples += 1
        return [(0, t, j) for t, j in res.spikes] + [(1, res.steps - 1, res.prediction)]

    async def bench(self, ctx: SimulatorContext) -> None:
        unit, cfg = self.unit, self.cfg
        host = unit.host
        ib = index_bits(cfg)
        ev = Value.cast(unit.to_core.payload)
        out = unit.from_core
        ctx.set(host.ready, 1)
        ctx.set(unit.to_core.ready, 1)
        reads: deque[tuple[int, int]] = deque()  # (cycles left, data)
        events: list[tuple[int, int]] = []
        beats: deque[tuple[int, int, int]] = deque()
        presenting = False
        async for (_, _, we, re, region, lane, addr, wdata, ev_valid, ev_ready, ev_bits,
                   out_ready, regs) in ctx.tick().sample(
                # (the region's bits: a refused request may leave a value that names none)
                host.we, host.re, Value.cast(host.region), host.lane, host.addr, host.wdata,
                unit.to_core.valid, unit.to_core.ready, ev, out.ready, Value.cast(unit.regs)):
            if we or re:  # (only an access names a region)
                region = HostRegion(region)
                row = lane if region in (HostRegion.WEIGHT, HostRegion.ROW_MASK,
                                         HostRegion.ADAPT) else 0
            if we:
                if region == HostRegion.COUNTER:
                    self.mem[region][:] = 0
                    self.error = 0
                else:
                    self.mem[region][row, addr] = wdata
            if re:
                reads.append((self.READ_LATENCY, int(self.mem[region][row, addr])))
            ctx.set(host.rvalid, 0)
            for _ in range(len(reads)):
                left, value = reads.popleft()
                if left == 1:
                    ctx.set(host.rvalid, 1)
                    ctx.set(host.rdata, value)
                else:
                    reads.append((left - 1, value))
            if presenting and out_ready:
                beats.popleft()
            if ev_valid and ev_ready:
                kind, payload = ev_bits & 1, ev_bits >> 1
                time, index = payload & ((1 << cfg.time_bits) - 1), payload >> cfg.time_bits
                if kind:
                    ctx.set(host.ready, 0)
                    ctx.set(unit.to_core.ready, 0)
                    beats.extend(self._sample(events, regs))
                    events = []
                else:
                    events.append((time, index & ((1 << ib) - 1)))
            presenting = bool(beats) and not self.hang
            if presenting:
                kind, time, index = beats[0]
                ctx.set(out.valid, 1)
                ctx.set(out.payload, {"kind": kind, "time": time, "index": index})
            else:
                ctx.set(out.valid, 0)
            if not beats:
                ctx.set(host.ready, 1)
                ctx.set(unit.to_core.ready, 1)
            ctx.set(unit.core_error, self.error)
            ctx.set(unit.pred_label, self.pred_label)


def model_transport(cfg: Config, **unit_args: object) -> tuple[UartSimTransport, ModelCore]:
    """UART + ``CommandUnit`` + ``ModelCore`` in the simulator, reachable over bit-level UART."""
    divisor = DIVISOR
    timeout = unit_args.pop("timeout", 40 * 10 * divisor)
    m = Module()
    m.submodules.rx = rx = UartRx(divisor=divisor)
    m.submodules.tx = tx = UartTx(divisor=divisor)
    m.submodules.unit = unit = CommandUnit(cfg=cfg, timeout=timeout,
                                           watchdog=unit_args.pop("watchdog", 20_000),
                                           **unit_args)
    m.d.comb += [unit.rx.payload.eq(rx.data.payload), unit.rx.valid.eq(rx.data.valid),
                 rx.data.ready.eq(unit.rx.ready), tx.data.payload.eq(unit.tx.payload),
                 tx.data.valid.eq(unit.tx.valid), unit.tx.ready.eq(tx.data.ready),
                 unit.rx_error.eq(rx.framing_error)]
    core = ModelCore(cfg, unit)
    transport = UartSimTransport(m, rx=rx.rx, tx=tx.tx, clk_freq=CLK_FREQ, divisor=divisor,
                                 link_timeout=timeout / CLK_FREQ, default_timeout=0.05,
                                 testbenches=[core.bench])
    return transport, core


# ------------------------------------------------------------------------------------------
# The command unit against the model core

MODEL_PAYLOAD = 32  # a small buffer: writes go in several frames, TOO_LONG is cheap to provoke


@pytest.fixture(scope="module")
def model_link() -> tuple[Board, ModelCore]:
    cfg = tiny_link_config()
    transport, core = model_transport(cfg, max_payload=MODEL_PAYLOAD, watchdog=3000)
    board = Board(transport, cfg=cfg)
    yield board, core
    board.close()


def expect_status(board: Board, status: Status, cmd: int, payload: bytes = b"") -> None:
    with pytest.raises(CommandError) as info:
        board.request(cmd, payload)
    assert info.value.status == status, f"{cmd_name(cmd)} {payload.hex()}"


def test_ping_info_status(model_link: tuple[Board, ModelCore]) -> None:
    board, _ = model_link
    assert board.ping() == b""
    assert board.ping(bytes(range(7)) + b"\xa5\x5a") == bytes(range(7)) + b"\xa5\x5a"
    info = board.info()
    assert info == proto.BuildInfo.from_config(board.cfg, max_payload=MODEL_PAYLOAD)
    board.clear()
    st = board.status()
    assert st == proto.LinkStatus(0, proto.LinkFlag.READY, st.pred_label, 0)


def test_status_codes(model_link: tuple[Board, ModelCore]) -> None:
    board, _ = model_link
    cfg = board.cfg
    board.clear()
    hdr = proto.encode_mem_header
    bad_length = [
        (Cmd.INFO, b"x"), (Cmd.STATUS, b"x"), (Cmd.CLEAR, b"x"), (Cmd.READ_COUNTERS, b"x"),
        (Cmd.WRITE_REGS, bytes(proto.regs_bytes(cfg) - 1)),
        (Cmd.WRITE_REGS, bytes(proto.regs_bytes(cfg) + 1)),
        (Cmd.READ_MEM, hdr(HostRegion.LABEL, 0, 0, 1)[:-1]),
        (Cmd.READ_MEM, hdr(HostRegion.LABEL, 0, 0, 1) + b"\x00"),
        (Cmd.WRITE_MEM, hdr(HostRegion.ADAPT, 0, 0, 2) + bytes(3)),  # 2 words need 4 bytes
        (Cmd.RUN, b""),
    ]
    for cmd, payload in bad_length:
        expect_status(board, Status.BAD_LENGTH, cmd, payload)
    bad_arg = [
        hdr(HostRegion.WEIGHT, 0, 0, 1)[:1].replace(b"\x00", b"\x09") + bytes(8),  # region 9
        hdr(HostRegion.WEIGHT, 0, 0, 1)[:1].replace(b"\x00", b"\x10") + bytes(8),  # region 16
        hdr(HostRegion.REWIRE, 0, 0, 1),  # a write-only region
        hdr(HostRegion.WEIGHT, cfg.lanes, 0, 1),  # lane out of range
        hdr(HostRegion.LABEL, 1, 0, 1),  # a region without lanes needs lane 0
        hdr(HostRegion.LABEL, 0, cfg.n_neurons - 1, 2),  # past the end
        hdr(HostRegion.ADAPT, 0, 2**32 - 1, 1),  # address wraps
        hdr(HostRegion.COUNTER, 0, 0, len(Counter) + 1),
    ]
    for payload in bad_arg:
        expect_status(board, Status.BAD_ARG, Cmd.READ_MEM, payload)
    expect_status(board, Status.BAD_ARG, Cmd.WRITE_MEM, hdr(HostRegion.LFSR, 0, 1, 1) + bytes(4))
    expect_status(board, Status.UNKNOWN_CMD, 0x00)
    expect_status(board, Status.UNKNOWN_CMD, 0x7F, b"abc")
    expect_status(board, Status.TOO_LONG, Cmd.PING, bytes(MODEL_PAYLOAD + 1))
    n_bad = len(bad_length) + len(bad_arg) + 4
    st = board.status()
    assert st.flags == proto.LinkFlag.READY | proto.LinkFlag.BAD_FRAME
    assert st.bad_frames == n_bad
    assert board.ping(bytes(MODEL_PAYLOAD)) == bytes(MODEL_PAYLOAD)  # the largest frame fits
    board.clear()
    assert board.status().flags == proto.LinkFlag.READY


def test_memory_round_trip(model_link: tuple[Board, ModelCore]) -> None:
    """Every region written and read back at a random offset, in several frames when long."""
    board, core = model_link
    cfg = board.cfg
    rng = np.random.default_rng(7)
    for region in HostRegion:
        if not proto.region_readable(region) or region == HostRegion.COUNTER:
            continue  # commands (the real core's tests run REWIRE), the counters
        lane = int(rng.integers(cfg.lanes)) if proto.region_laned(region) else 0
        depth = proto.region_depth(cfg, region)
        count = min(depth, 2 * MODEL_PAYLOAD // proto.word_bytes(cfg, region))
        addr = int(rng.integers(depth - count + 1))
        words = rng.integers(0, 1 << proto.word_bits(cfg, region), count, dtype=np.int64)
        board.write_mem(region, lane, addr, words)
        assert (core.mem[region][lane, addr:addr + count] == words).all(), region
        assert (board.read_mem(region, lane, addr, count) == words).all(), region
    board.write_mem(HostRegion.LABEL, 0, 3, [])  # count 0: nothing happens, OK
    assert board.read_mem(HostRegion.LABEL, 0, 3, 0).size == 0


def test_write_regs(model_link: tuple[Board, ModelCore]) -> None:
    board, core = model_link
    cfg = board.cfg.replace(a_minus=-1234, threshold=777, leak_shift=2)
    board.write_config(cfg, learn=True)
    # The model reads the registers at END: run samples and look at what they used.
    board.run_sample(np.full(cfg.n_inputs, cfg.never), learn=True)
    used = core.last_regs.to_bytes(proto.regs_bytes(cfg), "little")
    assert proto.unpack_regs(cfg, used) == regs_value(cfg, learn=True)
    board.run_sample(np.full(cfg.n_inputs, cfg.never), learn=False)  # RUN's flag wins
    used = core.last_regs.to_bytes(proto.regs_bytes(cfg), "little")
    assert proto.unpack_regs(cfg, used) == regs_value(cfg, learn=False)


def test_watchdog_busy_and_recovery() -> None:
    """A core that never finishes: RUN answers CORE_TIMEOUT, memory commands BUSY; once the core
    finishes, everything works again."""
    cfg = tiny_link_config()
    transport, core = model_transport(cfg, watchdog=2000)
    with Board(transport, cfg=cfg) as board:
        board.load_network(Network(cfg))
        core.hang = True
        with pytest.raises(CommandError) as info:
            board.run_sample(sample_times(cfg, 1, 0)[0], learn=False)
        assert info.value.status == Status.CORE_TIMEOUT
        st = board.status()
        assert st.flags == proto.LinkFlag.CORE_TIMEOUT | proto.LinkFlag.BAD_FRAME
        for cmd, payload in ((Cmd.READ_MEM, proto.encode_mem_header(HostRegion.LFSR, 0, 0, 1)),
                             (Cmd.RUN, b"\x00"), (Cmd.CLEAR, b""), (Cmd.READ_COUNTERS, b""),
                             (Cmd.WRITE_REGS, bytes(proto.regs_bytes(cfg)))):
            expect_status(board, Status.BUSY, cmd, payload)
        assert board.ping(b"still here") == b"still here"
        core.hang = False
        transport.idle(1e-4)
        assert board.status().flags & proto.LinkFlag.READY
        board.clear()
        assert board.status().flags == proto.LinkFlag.READY
        assert board.read_counters()[Counter.SAMPLES] == 0


# ------------------------------------------------------------------------------------------
# End to end: the real core against the golden model

COMPARED_COUNTERS = {
    Counter.SAMPLES: lambda r: 1,
    Counter.LOAD_CYCLES: lambda r: r.n_events + 1,
    Counter.EMIT_CYCLES: lambda r: len(r.spikes) + 1,
    Counter.SYN_EVENTS: lambda r: r.syn_events,
    Counter.SYN_UPDATES: lambda r: r.syn_updates,
    Counter.PRUNED: lambda r: r.pruned,
    Counter.STEPS: lambda r: r.steps,
}


def assert_state(board: Board, net: Network) -> None:
    """Everything the core holds equals the golden model's state."""
    assert (board.read_weights() == net.weights).all()
    assert (board.read_mask() == net.mask).all()
    assert (board.read_col_mask() == net.mask).all()
    assert (board.read_adapt() == net.adapt).all()
    assert board.read_lfsr() == net.lfsr.peek_state()
    assert board.read_live() == net.live


def learn_and_infer(board: Board, cfg: Config, *, n_learn: int, n_infer: int,
                    seed: int) -> dict[str, int]:
    """Load a fresh network, learn ``n_learn`` samples and infer ``n_infer`` on the board and in
    the golden model, comparing every result and the final state; return a few totals."""
    net = Network(cfg)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, cfg.n_neurons)
    labels[0] = -1  # an unlabelled neuron
    board.write_config(cfg, learn=True)
    board.load_network(net, labels)
    board.clear()
    assert (board.read_labels() == labels).all()
    assert_state(board, net)
    times = sample_times(cfg, n_learn + n_infer, seed)
    expect = dict.fromkeys(COMPARED_COUNTERS, 0)
    winners: set[int] = set()
    regrown = rewired = 0
    for s, t in enumerate(times):
        learn = s < n_learn
        got = board.run_sample(t, learn=learn)
        ref = net.run_sample(t, learn=learn)
        if learn and cfg.pq_block_ends(net.learned):  # "pq": the host's block step
            rewired += len(board.pq_block())
        assert got.spikes == ref.spikes, f"sample {s}"
        assert (got.prediction, got.steps, got.error) == (ref.prediction, ref.steps, 0)
        assert got.label == labels[ref.prediction]
        for c, f in COMPARED_COUNTERS.items():
            expect[c] += f(ref)
        winners.update(j for j, _ in ref.winners)
        regrown += ref.regrown
    assert_state(board, net)
    counters = board.read_counters()
    assert {c: counters[c] for c in COMPARED_COUNTERS} == expect
    status = board.status()
    assert status.core_error == 0 and status.flags == proto.LinkFlag.READY
    return {"pruned": expect[Counter.PRUNED], "updates": expect[Counter.SYN_UPDATES],
            "winners": len(winners), "regrown": regrown, "rewired": rewired}


# the core on the link's clock, and on clocks of its own (faster and slower) behind CoreBridge
@pytest.mark.parametrize("core_clk_freq", [None, 2.7e6, 0.45e6])
def test_learning_and_inference_match_golden_model(core_clk_freq: float | None) -> None:
    cfg = tiny_link_config()
    with Board(SimTransport(cfg, core_clk_freq=core_clk_freq)) as board:
        totals = learn_and_infer(board, cfg, n_learn=5, n_infer=3, seed=11)
    assert totals["pruned"] > 0 and totals["updates"] > 0  # the test exercises pruning
    assert totals["winners"] > 1


# "fixed-density": the host driver writes the regrow registers (write_config), the core
# regrows on the chip what its winners prune; weights, both masks, LFSR and LIVE read back equal
def test_fixed_density_regrowth_over_the_link() -> None:
    cfg = tiny_link_config(rewire_policy="fixed-density", rewire_density=0.5,
                           regrow_weight=160)
    with Board(SimTransport(cfg)) as board:
        totals = learn_and_infer(board, cfg, n_learn=5, n_infer=3, seed=11)
    assert totals["pruned"] > 0 and totals["regrown"] == totals["pruned"]


# "pq": at every block's end the host driver reads the weights back and writes the rewire
# commands (REWIRE); the core prunes and regrows as the golden model does
def test_pq_rewiring_over_the_link() -> None:
    cfg = tiny_link_config(rewire_policy="pq", rewire_density=0.5, regrow_weight=160,
                           rewire_block=2, pq_eta=0.1, pq_gamma=2.0, pq_beta=0.4)
    with Board(SimTransport(cfg)) as board:
        totals = learn_and_infer(board, cfg, n_learn=4, n_infer=2, seed=11)
    assert totals["rewired"] > 0 and totals["regrown"] == totals["pruned"] > 0


# 64 and 100 rows per lane: row bitmap words of 64 and 100 bits, past int64; and more rows
# than twice the inputs (CLEAR counts to K). Five to six minutes each in the Amaranth simulator
# on two cores (the whole network goes over the bit-level UART twice): slow.
@pytest.mark.slow
@pytest.mark.parametrize("rows", [64, 100])
def test_learning_and_inference_with_wide_row_bitmaps(rows: int) -> None:
    cfg = tiny_link_config(n_neurons=rows, lanes=1)
    with Board(SimTransport(cfg)) as board:
        totals = learn_and_infer(board, cfg, n_learn=4, n_infer=2, seed=7)
    assert totals["pruned"] > 0 and totals["updates"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("changes", [
    dict(k_max=2, k_winners=2, leak_shift=3, threshold=700),
    dict(n_neurons=16, lanes=4, col_word_bits=16, homeo_inc=200, threshold=400),
])
def test_learning_matches_golden_model_more(changes: dict[str, int]) -> None:
    cfg = tiny_link_config(**changes)
    with Board(SimTransport(cfg)) as board:
        totals = learn_and_infer(board, cfg, n_learn=12, n_infer=6, seed=5)
    assert totals["pruned"] > 0


@pytest.mark.slow
def test_model_core_matches_golden_model() -> None:
    """The same scenario against the Python model core: checks the test's own model."""
    cfg = tiny_link_config()
    transport, _ = model_transport(cfg)
    with Board(transport) as board:
        learn_and_infer(board, cfg, n_learn=5, n_infer=3, seed=11)


@pytest.mark.parametrize(("make", "match"), [
    (lambda cfg: CoreBridge(cfg=cfg, core_domain="sync"), "core_domain"),
    (lambda cfg: CoreBridge(cfg=cfg, core_domain="core", fifo_depth=3), "fifo_depth"),
    (lambda cfg: LinkTop(cfg=cfg, clk_freq=1e6, baud=250_000, core_domain=""), "core_domain"),
])
def test_core_domain_arguments_checked(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(tiny_link_config())
