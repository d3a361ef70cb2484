"""A neuron row's place in a lane's row mask, in hardware: which word, which bit, what address.

A lane's row mask of input i is W words of R bits (``model.config.row_word_shape``; W = 1 and
R = K by default) at addresses i*W + w; row k is bit k % R of word k // R (``hw.memory_map``).
Where W > 1, R is a power of two, so the split is a slice and costs no logic.
"""

from __future__ import annotations

from amaranth.hdl import Const, Value


def row_split(row: Value, width: int, words: int) -> tuple[Value, Value]:
    """(word, bit) of neuron row ``row`` in words of ``width`` bits, ``words`` per input."""
    if words == 1:
        return Const(0, 1), row
    low = (width - 1).bit_length()
    return row[low:], row[:low]


def row_word_addr(input_: Value, word: Value | None, words: int) -> Value:
    """The address of row-mask word ``word`` of input ``input_``: the input itself when there is
    one word per input (``word`` unused, may be None: the RAM's address then carries no
    arithmetic), else input * W + word."""
    return input_ if words == 1 else input_ * words + word
