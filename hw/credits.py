"""The credit count of a producer that feeds a ``LockstepWalker`` through a read pipeline.

The producer may have at most ``depth`` entries issued and not yet taken by the walker (in its
memory-read pipeline or queued in the walker's FIFO). Rather than summing those occupancies in the
issue decision, it counts credits: one less at each issue, one more at each ``taken``. The
"credits left" flag is a register of its own, so the issue decision is a gate of flags.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value


def credit_flag(m: Module, *, depth: int, issue: Value, taken: Value, name: str,
                reserve: int = 1) -> Signal:
    """Count the credits (``depth`` at reset) in ``m``; the flag returned is
    ``credits >= reserve``, registered. ``issue``: an entry issued this cycle (only while
    ``credits >= 1``); ``taken``: the walker took one this cycle. A producer that registers its
    decision once more (so it may issue on a flag a cycle old) asks for ``reserve`` 2."""
    if not 1 <= reserve <= depth:
        raise ValueError(f"credit_flag: reserve must be in 1..depth ({depth}), not {reserve}")
    room = Signal(range(depth + 1), init=depth, name=f"{name}_room")
    flag = Signal(init=1, name=f"{name}_some")
    with m.If(issue & ~taken):
        m.d.sync += [room.eq(room - 1), flag.eq(room > reserve)]
    with m.Elif(~issue & taken):
        m.d.sync += [room.eq(room + 1), flag.eq(room >= reserve - 1)]
    return flag
