"""``Emit`` on its own in the Amaranth simulator, with real spike-list banks, against its contract.

A small wrapper gives ``Emit`` its two banks as ``lib.memory.Memory`` with synchronous read
ports (latency 1) at ``bank_addr``; the testbench writes entry e at e // 2 of bank e % 2, one
entry a cycle, the last one in the cycle of ``start`` (the contract allows ``start`` a cycle
before the list is complete). Then, after random gaps, ``arm`` with ``n_spikes`` (junk before
it), with ``out.ready`` random (or always high). Checked every cycle:

- up to and in the ``arm`` cycle, and after the END is taken, ``out.valid`` and ``done`` are low;
- from the cycle after ``arm``, ``out.valid`` is high and ``out`` shows SPIKE (time, neuron) of
  entries 0 .. n_spikes - 1 in order, each until a cycle with ``out.ready``, then END (time =
  ``last_step``, index = ``pred``); ``done`` is high exactly in the cycle the END is taken.

Counts 0, 1, 2, odd and even, max_spikes - 1 and max_spikes; banks keep the previous sample's
entries (stale words must not show).
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Elaboratable, Module, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.emit import Emit
from synaprune.hw.layouts import EventKind, event_layout

SAMPLES = 40


class EmitWithBanks(Elaboratable):
    """``emit`` with its spike banks; ``write[b]`` is bank b's write port (testbench-driven)."""

    def __init__(self, emit: Emit, spike_layout: data.StructLayout) -> None:
        self.emit = emit
        depth = (emit.max_spikes + 1) // 2
        self.banks = [Memory(shape=spike_layout, depth=depth, init=[]) for _ in range(2)]
        self.write = [bank.write_port() for bank in self.banks]
        self.reads = [bank.read_port() for bank in self.banks]  # sync domain: latency 1

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.emit = self.emit
        for b, (bank, rd) in enumerate(zip(self.banks, self.reads, strict=True)):
            m.submodules[f"bank{b}"] = bank
            m.d.comb += [rd.addr.eq(self.emit.bank_addr[b]), self.emit.bank_data[b].eq(rd.data)]
        return m


def counts(max_spikes: int, rng: random.Random) -> list[int]:
    """Spike counts of the samples: the edge cases first, then random ones."""
    edge = [0, 1, 2, 3, 4, max_spikes - 1, max_spikes, 0, max_spikes]
    return [n for n in edge if 0 <= n <= max_spikes] + [
        rng.randint(0, max_spikes) for _ in range(SAMPLES)]


def simulate(max_spikes: int, time_bits: int, neuron_bits: int, *, p_ready: float,
             seed: int) -> tuple[list[str], int]:
    """All samples through one Emit; (differences from the contract as text, samples done)."""
    spike_layout = data.StructLayout({"time": unsigned(time_bits),
                                      "neuron": unsigned(neuron_bits)})
    ev_layout = event_layout(index_bits=neuron_bits + 1, time_bits=time_bits)
    emit = Emit(spike_layout=spike_layout, event_layout=ev_layout, max_spikes=max_spikes)
    top = EmitWithBanks(emit, spike_layout)
    rng = random.Random(seed)
    errors: list[str] = []
    finished = [0]

    async def idle_cycles(ctx: SimulatorContext, n: int, what: str) -> None:
        for _ in range(n):
            ctx.set(emit.out.ready, rng.random() < p_ready)
            if ctx.get(emit.out.valid) or ctx.get(emit.done):
                errors.append(f"{what}: out.valid or done while not sending")
            await ctx.tick()

    async def bench(ctx: SimulatorContext) -> None:
        for s, n in enumerate(counts(max_spikes, rng)):
            what = f"sample {s} ({n} spikes)"
            spikes = [(rng.getrandbits(time_bits), rng.getrandbits(neuron_bits))
                      for _ in range(n)]
            ctx.set(emit.n_spikes, rng.randint(0, max_spikes))  # not final before arm
            for e, (time, neuron) in enumerate(spikes):
                port = top.write[e % 2]
                ctx.set(port.addr, e // 2)
                ctx.set(port.data, {"time": time, "neuron": neuron})
                ctx.set(port.en, 1)
                ctx.set(emit.start, e == n - 1)
                await idle_cycles(ctx, 1, what)
                ctx.set(port.en, 0)
            if n == 0:
                ctx.set(emit.start, 1)
                await idle_cycles(ctx, 1, what)
            ctx.set(emit.start, 0)
            await idle_cycles(ctx, rng.choice((0, 0, 1, 3)), what)
            last_step, pred = rng.getrandbits(time_bits), rng.getrandbits(neuron_bits + 1)
            ctx.set(emit.n_spikes, n)
            ctx.set(emit.last_step, last_step)
            ctx.set(emit.pred, pred)
            ctx.set(emit.arm, 1)
            await idle_cycles(ctx, 1, what)
            ctx.set(emit.arm, 0)
            sent = 0
            for cycle in range(20 * (n + 1) + 50):
                ready = rng.random() < p_ready
                ctx.set(emit.out.ready, ready)
                beat = ctx.get(emit.out.payload)
                seen = (ctx.get(emit.out.valid), beat.kind, beat.time, beat.index)
                want = ((1, EventKind.SPIKE, *spikes[sent]) if sent < n
                        else (1, EventKind.END, last_step, pred))
                if seen != want:
                    errors.append(f"{what}, sending cycle {cycle}: {seen}, expected {want}")
                if ctx.get(emit.done) != (ready and sent == n):
                    errors.append(f"{what}, sending cycle {cycle}: done={ctx.get(emit.done)} "
                                  f"with {sent} of {n} sent, ready={ready}")
                await ctx.tick()
                if ready and sent == n:
                    finished[0] += 1
                    break
                sent += ready
            await idle_cycles(ctx, rng.choice((0, 1, 2)), what)

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return errors, finished[0]


@pytest.mark.parametrize(("max_spikes", "time_bits", "neuron_bits"),
                         [(1, 2, 1), (7, 4, 3), (16, 5, 7)])
@pytest.mark.parametrize(("p_ready", "seed"), [(1.0, 1), (0.5, 2), (0.2, 3)])
def test_emit_sends_the_list_then_end(max_spikes: int, time_bits: int, neuron_bits: int,
                                      p_ready: float, seed: int) -> None:
    errors, finished = simulate(max_spikes, time_bits, neuron_bits, p_ready=p_ready,
                                seed=seed + max_spikes)
    assert not errors, f"{len(errors)} differences; first: {errors[:3]}"
    assert finished == len(counts(max_spikes, random.Random(seed + max_spikes)))
