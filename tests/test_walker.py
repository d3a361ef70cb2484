"""``LockstepWalker`` on its own in the Amaranth simulator, against a pure-Python reference of the
contract in its docstrings.

A credit-counting producer offers random entries with random gaps, keeping the entries it has
offered and not yet seen ``taken`` at most ``depth``: it sees ``taken`` either a cycle late (as the
core's fetch does: its issue decision is a registered flag) or in the same cycle (then it may offer
an entry in a cycle where the queue holds ``depth`` entries and one leaves it). The reference then
derives, from the cycles the entries were offered in, every cycle's ``taken``, ``idle`` and
``out``:

- an entry can be taken ``IN_LATENCY`` cycles after it is offered (2, pipelined 4) and otherwise
  as soon as the walker is free: when it holds no entry, or in its entry's finishing cycle (the
  next entry starts in the following cycle); entries in the order offered;
- an entry is walked in ``max(1, max over lanes of popcount)`` consecutive cycles: in visit j each
  lane takes its j-th lowest set bit (``hit``, ``bit``) or has none left (``hit`` low), ``last``
  on the final visit, the entry's tag on all of them; an entry of empty words gets one visit with
  no hit; ``out`` shows a visit ``OUT_LATENCY`` cycles after it was made (1, pipelined 2);
- ``idle`` is high exactly when no entry is on its way in, queued, walked or still in ``out``;
- ``entries.ready`` is high at every offer: the credits (``depth``) keep the FIFO from refusing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from amaranth.sim import Simulator, SimulatorContext

from synaprune.hw.walker import LockstepWalker

TAG_BITS = 10
ENTRIES = 36


@dataclass(frozen=True)
class Visit:
    """One cycle of ``out`` while valid: per lane the bit index taken, None where no hit."""

    tag: int
    last: bool
    bits: tuple[int | None, ...]


@dataclass
class Trace:
    """Per cycle what the walker shows: cycles of ``taken``, of low ``idle``, and visits."""

    taken: set[int] = field(default_factory=set)
    busy: set[int] = field(default_factory=set)
    visits: dict[int, Visit] = field(default_factory=dict)


@dataclass
class Run:
    """What a simulated run shows: the trace, the cycles entries were offered in, the offers
    refused (``ready`` low), the cycles the credits held an offer back, and the offers made on a
    credit freed by a ``taken`` of the same cycle."""

    seen: Trace = field(default_factory=Trace)
    offers: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    held: int = 0
    same_cycle_offers: int = 0


def latencies(pipelined: bool) -> tuple[int, int]:
    """(cycles from an offer to the earliest take, cycles from a visit to ``out``)."""
    return (4, 2) if pipelined else (2, 1)


def entry_visits(tag: int, words: list[int], width: int) -> list[Visit]:
    """The visits of one entry, in order: visit j takes each lane's j-th lowest set bit."""
    bits = [[b for b in range(width) if (w >> b) & 1] for w in words]
    n = max(1, *(len(b) for b in bits))
    return [Visit(tag, j == n - 1, tuple(b[j] if j < len(b) else None for b in bits))
            for j in range(n)]


def reference(offers: list[int], entries: list[tuple[int, list[int]]], *, width: int,
              pipelined: bool, paced: bool = False) -> Trace:
    """The trace the contract gives for ``entries`` offered in the cycles ``offers``;
    ``paced``: with ``pace`` high in the odd cycles, every step of the walk in one of them (a
    take, each visit, the finish), so the visits of an entry are two cycles apart."""
    in_latency, out_latency = latencies(pipelined)
    stride = 2 if paced else 1
    trace = Trace()
    free = 0  # first cycle the walker may take the next entry
    for offered, (tag, words) in zip(offers, entries, strict=True):
        visits = entry_visits(tag, words, width)
        take = max(offered + in_latency, free)
        if paced and take % 2 == 0:
            take += 1
        trace.taken.add(take)
        for j, visit in enumerate(visits):
            trace.visits[take + stride * (1 + j) + out_latency] = visit
        free = take + stride * len(visits)  # the finishing cycle
        trace.busy.update(range(offered + 1, free + out_latency + 1))
    return trace


def random_words(rng: random.Random, lanes: int, width: int) -> list[int]:
    """One entry's words: now and then all empty, otherwise each lane empty, sparse, half or
    full (a full word has the most visits the walker's counters must hold)."""
    if rng.random() < 0.1:
        return [0] * lanes
    words = []
    for _ in range(lanes):
        density = rng.choice([0.0, 0.15, 0.5, 1.0])
        words.append(sum(1 << b for b in range(width) if rng.random() < density))
    return words


def random_gap(rng: random.Random, *, paced: bool = False) -> int:
    """Cycles the producer waits before its next offer: mostly none or a few (the queue fills
    and the credits hold the producer back), now and then long enough for the walker to drain
    (twice as long for a paced walker, which walks at half the rate)."""
    r = rng.random()
    return (0 if r < 0.5 else rng.randint(1, 3) if r < 0.85
            else rng.randint(6, 30) * (2 if paced else 1))


def simulate(walker: LockstepWalker, entries: list[tuple[int, list[int]]], gaps: list[int], *,
             same_cycle_credit: bool) -> Run:
    """Drive ``entries`` into ``walker`` as a credit-counting producer (``same_cycle_credit``:
    a ``taken`` frees its credit for an offer in the same cycle). Junk is driven on the payload
    while no entry is offered."""
    lanes, width = walker.lanes, walker.width
    run = Run()
    seen, offers = run.seen, run.offers
    junk = random.Random(1)

    async def bench(ctx: SimulatorContext) -> None:
        outstanding, k, wait, cycle, end = 0, 0, gaps[0], 0, None
        while end is None or cycle <= end:
            if walker.paced:
                ctx.set(walker.pace, cycle % 2)
            # (taken depends on no input but pace: reading it before the offer is set is safe)
            taken = ctx.get(walker.taken)
            credits = walker.depth - outstanding + (taken if same_cycle_credit else 0)
            offer = k < len(entries) and wait == 0 and credits > 0
            run.held += k < len(entries) and wait == 0 and not offer
            run.same_cycle_offers += offer and outstanding == walker.depth
            tag, words = entries[k] if offer else (
                junk.getrandbits(TAG_BITS), [junk.getrandbits(width) for _ in range(lanes)])
            ctx.set(walker.entries.valid, offer)
            ctx.set(walker.entries.payload.tag, tag)
            for p, w in enumerate(words):
                ctx.set(walker.entries.payload.words[p], w)
            if offer and not ctx.get(walker.entries.ready):
                run.refused.append(cycle)
            if taken:
                seen.taken.add(cycle)
            if not ctx.get(walker.idle):
                seen.busy.add(cycle)
            out = ctx.get(walker.out)
            if out.valid:
                seen.visits[cycle] = Visit(out.tag, bool(out.last), tuple(
                    out.bit[p] if out.hit[p] else None for p in range(lanes)))
            if offer:
                offers.append(cycle)
                k, outstanding = k + 1, outstanding + 1
                wait = gaps[k] if k < len(entries) else 0
                if k == len(entries):  # all offered: run until the last visit and a few more
                    expected = reference(offers, entries, width=width,
                                         pipelined=walker.pipelined, paced=walker.paced)
                    end = max(expected.busy) + 4
            elif wait:
                wait -= 1
            outstanding -= taken
            await ctx.tick()
            cycle += 1

    sim = Simulator(walker)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return run


def first_difference(seen: Mapping[int, object], expected: Mapping[int, object]) -> str:
    """The cycles where two traces differ: how many, and what each shows in the first."""
    cycles = sorted(c for c in set(seen) | set(expected) if seen.get(c) != expected.get(c))
    if not cycles:
        return ""
    c = cycles[0]
    return (f"{len(cycles)} cycles differ, first {c}: walker {seen.get(c)}, "
            f"contract {expected.get(c)}")


def marks(cycles: set[int]) -> dict[int, bool]:
    """A set of cycles as a trace (True in each)."""
    return dict.fromkeys(cycles, True)


@pytest.mark.parametrize("paced", [False, True])
@pytest.mark.parametrize("same_cycle_credit", [False, True])
@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("depth", [1, 4])
@pytest.mark.parametrize(("lanes", "width"), [(1, 8), (2, 12), (4, 16), (2, 32)])
def test_walker_against_contract(lanes: int, width: int, depth: int, pipelined: bool,
                                 same_cycle_credit: bool, paced: bool) -> None:
    rng = random.Random(f"walker {lanes} {width} {depth} {pipelined} {same_cycle_credit}"
                        f"{' paced' if paced else ''}")
    # (paced: more entries, so that the slower walk still sees each situation below)
    entries = [(k, random_words(rng, lanes, width)) for k in range(ENTRIES * (1 + paced))]
    gaps = [random_gap(rng, paced=paced) for _ in entries]
    walker = LockstepWalker(lanes=lanes, width=width, tag_layout=TAG_BITS, depth=depth,
                            pipelined=pipelined, paced=paced)
    run = simulate(walker, entries, gaps, same_cycle_credit=same_cycle_credit)
    seen, offers = run.seen, run.offers
    expected = reference(offers, entries, width=width, pipelined=pipelined, paced=paced)

    assert run.refused == [], "the FIFO refused an offer the credits allowed"
    # every set bit of every lane once, in order, with its entry's tag and last (timing aside)
    assert list(seen.visits.values()) == [v for _, v in sorted(expected.visits.items())]
    assert first_difference(seen.visits, expected.visits) == ""
    assert first_difference(marks(seen.taken), marks(expected.taken)) == ""
    assert first_difference(marks(seen.busy), marks(expected.busy)) == ""
    # the run covered what it is meant to: credits holding the producer back (and, counted in
    # the same cycle, letting it offer while the queue is full and an entry leaves), the walker
    # idle between entries, entries of empty words
    assert run.held > 0
    assert (run.same_cycle_offers > 0) == same_cycle_credit
    assert any(c not in expected.busy for c in range(offers[0], offers[-1]))
    assert any(not any(words) for _, words in entries)
