"""One progress-bar helper for every long loop of the project.

``progress_bar`` returns a ``tqdm`` bar that suits where the output goes:

- a terminal: tqdm's usual bar, redrawn in place on one line (``dynamic_ncols``);
- a file, a pipe or a CI log (stderr is not a TTY, or the ``CI`` environment variable is set):
  a few whole lines, at the start, at every quarter of ``total`` and at the end, each ending
  in a newline. tqdm's own non-TTY output is one carriage-return-separated redraw per update,
  which a log shows as thousands of lines.

``SYNAPRUNE_PROGRESS`` overrides the choice: ``bar``, ``lines`` or ``off``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

# Lines a bar of known length prints when the output is not a terminal: start, 25 %, 50 %,
# 75 %, end (and the final summary when the bar closes).
LOG_UPDATES = 4
# Without a known length, a log line at most this often (seconds).
LOG_INTERVAL_S = 60.0
MODES = ("bar", "lines", "off")


class _LineWriter:
    """A file for tqdm that turns its carriage-return redraws into whole lines.

    tqdm writes ``"\\r" + text + padding`` per redraw and a bare newline when it closes; this
    keeps the text, drops empty writes and repeats of the previous line, and ends every line.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        # the counts part, before the "[elapsed<remaining, rate]" that changes on every redraw
        counts = line.split("[")[0]
        if line and counts != self.last:
            self.stream.write(line + "\n")
            self.last = counts

    def flush(self) -> None:
        self.stream.flush()


def progress_mode(stream: TextIO | None = None) -> str:
    """``bar``, ``lines`` or ``off``: ``SYNAPRUNE_PROGRESS`` if set, else ``bar`` on a terminal
    outside CI and ``lines`` otherwise."""
    forced = os.environ.get("SYNAPRUNE_PROGRESS", "").strip().lower()
    if forced:
        if forced not in MODES:
            raise ValueError(f"SYNAPRUNE_PROGRESS must be one of {', '.join(MODES)}, "
                             f"not {forced!r}")
        return forced
    stream = sys.stderr if stream is None else stream
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    return "bar" if is_tty and not os.environ.get("CI") else "lines"


def progress_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None,
                 desc: str = "", unit: str = "it", disable: bool = False,
                 file: TextIO | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar over ``iterable`` (or a manual one of ``total`` steps) that prints one
    redrawn line in a terminal and a few whole lines in a log; see the module docstring.

    ``disable`` turns it off (the callers' ``--no-progress``); other keyword arguments go to
    tqdm (``postfix``, ``leave``, ...).
    """
    stream = sys.stderr if file is None else file
    mode = "off" if disable else progress_mode(stream)
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if mode != "lines":
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=mode == "off",
                    file=stream, dynamic_ncols=True, **kwargs)
    if total:
        # Print on every LOG_UPDATES-th of the way, never on time (maxinterval inf keeps
        # tqdm's monitor thread from forcing redraws in between).
        timing = {"miniters": max(1, math.ceil(total / LOG_UPDATES)), "mininterval": 0.0,
                  "maxinterval": math.inf}
    else:
        timing = {"mininterval": LOG_INTERVAL_S, "maxinterval": math.inf}
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=_LineWriter(stream),
                ncols=100, ascii=True, **timing, **kwargs)
