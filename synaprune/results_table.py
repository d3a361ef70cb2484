"""A results table of one row per task: ``results.json`` and ``results.csv``, written atomically.

``results.json`` is the source of truth: a JSON list of row objects, each with at least ``id``
(the task's stable key), ``status`` (``"ok"`` or ``"error"``) and ``error`` (None or one line).
``results.csv`` holds the same rows flattened: nested objects become dotted columns
(``point.config.threshold``), lists are written as JSON text; the columns are the union of the
rows' keys in first-seen order, top-level keys before the dotted ones. Both files are replaced
atomically (``checkpoint.atomic_write``), so an interrupted run leaves the previous complete
table, never half a file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write
from .commands import _jsonable

JSON_NAME = "results.json"
CSV_NAME = "results.csv"
LEAD_COLUMNS = ("id", "status", "error")


class ResultsError(ValueError):
    """A results file exists but is not a table this module wrote."""


def read_rows(results_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``results_dir/results.json``; an empty list when there is none yet."""
    path = Path(results_dir) / JSON_NAME
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: not a results table ({err})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r for r in rows):
        raise ResultsError(f"{path}: not a results table (expected a list of rows with an id)")
    return rows


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists as JSON text; other values as they are."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(_jsonable(value))
        else:
            out[name] = value
    return out


def csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as CSV text (see the module docstring)."""
    flat = [flatten(_jsonable(dict(r))) for r in rows]
    columns = [c for c in LEAD_COLUMNS if any(c in f for f in flat)]
    for f in flat:
        columns.extend(k for k in f if k not in columns)
    # top-level keys first (a key only some rows have, such as a policy parameter, stays
    # next to the others), then the flattened nested ones (point.config.*)
    columns.sort(key=lambda c: "." in c)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for f in flat:
        writer.writerow({k: ("" if v is None else v) for k, v in f.items()})
    return buf.getvalue()


def write_rows(results_dir: str | Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Replace ``results.json`` and ``results.csv`` in ``results_dir`` with ``rows``."""
    results_dir = Path(results_dir)
    text = json.dumps(_jsonable(rows), indent=1, sort_keys=False) + "\n"
    json_path = atomic_write(results_dir / JSON_NAME, lambda fh: fh.write(text.encode()))
    table = csv_text(rows)
    csv_path = atomic_write(results_dir / CSV_NAME, lambda fh: fh.write(table.encode()))
    return json_path, csv_path
