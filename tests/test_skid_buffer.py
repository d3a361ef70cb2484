"""``SkidBuffer`` on its own in the Amaranth simulator, against its contract: a two-beat queue.

The reference is the queue the contract describes: the held beat and a spare, oldest first.
``i.ready`` is high while the spare is free (fewer than two beats held) and is a register: it
must not move when the testbench changes ``i.valid``, ``i.payload`` or ``o.ready`` within a cycle.
``o`` shows the oldest beat; a beat taken leaves at the clock edge and a beat accepted in cycle c
joins the queue then, so it is shown from c + 1 when the queue was empty or its only beat left.
Checked every cycle (``ready``, ``valid``, ``payload``) and at the end (every beat came out once,
in order); with both sides always willing the stream flows one beat per cycle.

The producer follows the stream rules (a beat offered stays offered, unchanged, until taken) and
drives junk on the payload while it offers nothing; random valid/ready patterns, fixed seeds.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import pytest
from amaranth.hdl import unsigned
from amaranth.lib import data
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.layouts import event_layout
from synaprune.hw.skid_buffer import SkidBuffer

LAYOUTS = {
    "event": event_layout(index_bits=10, time_bits=5),  # the core's input beat (16 bits)
    "wide": data.ArrayLayout(unsigned(9), 7),  # 63 bits
}
BEATS = 300


@dataclass
class Run:
    """What the simulation showed: beats taken from ``o`` (and their cycles), every difference
    from the reference queue, and the cycles run."""

    taken: list[int] = field(default_factory=list)
    taken_cycles: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cycles: int = 0


def simulate(layout: data.Layout, beats: list[int], *, seed: int, p_valid: float,
             p_ready: float) -> Run:
    """Offer ``beats`` through a SkidBuffer of ``layout`` with random valid (probability
    ``p_valid`` a cycle while nothing is offered) and ready (``p_ready``) patterns."""
    dut = SkidBuffer(layout=layout)
    width = layout.size
    rng = random.Random(seed)
    run = Run()

    async def bench(ctx: SimulatorContext) -> None:
        queue: deque[int] = deque()  # the reference: held beat first, then the spare
        sent, offering, cycle = 0, False, 0
        while len(run.taken) < len(beats) and cycle < 20 * len(beats) + 20:
            ready = ctx.get(dut.i.ready)
            offering = offering or (sent < len(beats) and rng.random() < p_valid)
            payload = beats[sent] if offering else rng.getrandbits(width)
            o_ready = rng.random() < p_ready
            ctx.set(dut.i.valid, offering)
            ctx.set(dut.i.payload.as_value(), payload)
            ctx.set(dut.o.ready, o_ready)
            o_valid = ctx.get(dut.o.valid)
            o_payload = ctx.get(dut.o.payload.as_value())
            if ctx.get(dut.i.ready) != ready:
                run.errors.append(f"cycle {cycle}: i.ready moved with this cycle's inputs")
            if ready != (len(queue) < 2):
                run.errors.append(f"cycle {cycle}: i.ready {ready} with {len(queue)} held")
            if o_valid != bool(queue) or (queue and o_payload != queue[0]):
                run.errors.append(f"cycle {cycle}: o shows valid={o_valid} {o_payload:#x}, "
                                  f"expected {[hex(b) for b in queue][:1]}")
            if o_valid and o_ready:
                run.taken.append(o_payload)
                run.taken_cycles.append(cycle)
                if queue:
                    queue.popleft()
            if offering and ready:
                queue.append(payload)
                sent, offering = sent + 1, False
            await ctx.tick()
            cycle += 1
        run.cycles = cycle

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return run


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize(("p_valid", "p_ready", "seed"),
                         [(0.5, 0.5, 1), (0.9, 0.3, 2), (0.3, 0.9, 3), (0.8, 0.8, 4)])
def test_random_patterns_keep_order_and_timing(name: str, p_valid: float, p_ready: float,
                                               seed: int) -> None:
    layout = LAYOUTS[name]
    beats = [random.Random(seed + 100).getrandbits(layout.size) for _ in range(BEATS)]
    run = simulate(layout, beats, seed=seed, p_valid=p_valid, p_ready=p_ready)
    assert not run.errors, f"{len(run.errors)} cycles differ; first: {run.errors[:3]}"
    assert run.taken == beats  # in order, none lost, none duplicated


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_back_to_back_one_beat_per_cycle(name: str) -> None:
    """Both sides always willing: beat n accepted in cycle n leaves in cycle n + 1."""
    layout = LAYOUTS[name]
    beats = [random.Random(7).getrandbits(layout.size) for _ in range(BEATS)]
    run = simulate(layout, beats, seed=7, p_valid=1.0, p_ready=1.0)
    assert not run.errors, f"{len(run.errors)} cycles differ; first: {run.errors[:3]}"
    assert run.taken == beats
    assert run.taken_cycles == list(range(1, BEATS + 1))

