"""Run many independent tasks on Dask distributed, with a results table that resumes.

``run_tasks(tasks, fn, scheduler=..., results_dir=..., workers=...)`` is the whole interface. A
task is a stable id and a JSON-able point dict; ``fn(point) -> dict`` computes one row. ``fn``
must be an importable module-level function (Dask pickles it by reference and each worker
imports it), e.g. ``synaprune.sweep.point.run_point``; the engine knows nothing about what it
computes, so learning runs, RTL regression cases or anything else can share it.

Where the tasks run:

- ``scheduler=None``: a ``distributed.LocalCluster`` on this machine with ``workers`` worker
  processes (default: the machine's cores), one thread each (the golden model is Python-bound),
  listening on 127.0.0.1 only; it is shut down at the end;
- ``scheduler="tcp://HOST:PORT"``: an existing cluster (``dask scheduler`` + ``dask worker``);
- ``serial=True``: one after another in this process, no Dask (the baseline of a speed-up, and
  a debugger-friendly mode).

The scheduler's and the dashboard's addresses are printed (``log``).

Results (``synaprune.results_table``): every finished task adds one row, keyed by its id, to
``results_dir/results.json`` and ``results.csv``, rewritten atomically as rows arrive (at most
once a second, and always at the end or on an interruption). A task whose id already has an
``ok`` row is not run again, so an interrupted run resumes where it stopped; a task whose row
says ``error`` is run again. A task that raises is recorded as an ``error`` row with its
exception (``error``: one line, ``traceback``: the last lines) and the others go on; so is a
task Dask gives up on (a worker that died too often under it). If a worker dies, Dask runs its
unfinished tasks elsewhere; the table still has exactly one row per id.

Row keys added by the engine: ``id``, ``status``, ``error``, ``point`` (the task's point),
``seconds`` (wall time of ``fn``), ``cpu_seconds`` (CPU time of the process running it: below
``seconds`` when other work shares the cores), ``worker`` (Dask worker address or
``"serial"``) and ``finished_utc``; ``fn``'s row may not use these names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .progress import progress_bar
from .results_table import read_rows, write_rows

ENGINE_KEYS = ("id", "status", "error", "traceback", "point", "seconds", "cpu_seconds", "worker",
               "finished_utc")
WRITE_INTERVAL_S = 1.0
SCHEDULER_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


def task_id(point: Mapping[str, Any]) -> str:
    """A stable id for ``point``: 16 hex digits of the SHA-256 of its canonical JSON, so the same
    point gets the same id in every run (resume) and any change to it gets a new one."""
    text = json.dumps(point, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Task:
    """One unit of work: ``point`` (JSON-able) is what ``fn`` gets; ``id`` keys its row."""

    point: dict[str, Any]
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", task_id(self.point))


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def error_row(task_id_: str, point: dict[str, Any], err: BaseException, *,
              worker: str, seconds: float = 0.0, cpu_seconds: float = 0.0) -> dict[str, Any]:
    """The row of a task that failed with ``err``."""
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return {"id": task_id_, "status": "error", "error": _one_line(err),
            "traceback": tb[-2000:], "seconds": seconds, "cpu_seconds": cpu_seconds,
            "worker": worker, "finished_utc": _utc_now(), "point": point}


def call_task(fn: Callable[[dict[str, Any]], dict[str, Any]], task_id_: str,
              point: dict[str, Any]) -> dict[str, Any]:
    """Run ``fn(point)`` and wrap its row (on a worker, or in this process when serial); an
    exception becomes an error row, so one bad point never stops the others."""
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = "serial"
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        row = fn(point)
        if not isinstance(row, Mapping):
            raise TypeError(f"{getattr(fn, '__name__', fn)} returned {type(row).__name__}, "
                            f"not a dict")
        clash = sorted(set(row) & set(ENGINE_KEYS))
        if clash:
            raise ValueError(f"{getattr(fn, '__name__', fn)}'s row uses the engine's key(s) "
                             f"{', '.join(clash)}")
    except Exception as err:  # recorded in the row; the other points go on
        return error_row(task_id_, point, err, worker=worker,
                         seconds=time.perf_counter() - t0,
                         cpu_seconds=time.process_time() - c0)
    # fn's figures first, the point (wide once flattened into CSV columns) last
    return {"id": task_id_, "status": "ok", "error": None, **row,
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "worker": worker, "finished_utc": _utc_now(), "point": point}


class _Table:
    """The rows of ``results_dir`` by id, written back at most every WRITE_INTERVAL_S."""

    def __init__(self, results_dir: Path) -> None:
        self.dir = results_dir
        self.rows: dict[str, dict[str, Any]] = {r["id"]: r for r in read_rows(results_dir)}
        self.last_write = 0.0

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["id"]] = row  # a rerun of an error row replaces it: one row per id
        if time.monotonic() - self.last_write >= WRITE_INTERVAL_S:
            self.write()

    def write(self) -> None:
        write_rows(self.dir, list(self.rows.values()))
        self.last_write = time.monotonic()


def check_scheduler(scheduler: str) -> str:
    """``scheduler`` if it looks like a Dask scheduler address, else a ValueError."""
    if not scheduler.startswith(SCHEDULER_SCHEMES):
        raise ValueError(f"--scheduler {scheduler!r}: expected a Dask scheduler address such as "
                         f"tcp://HOST:8786")
    return scheduler


def run_tasks(tasks: Sequence[Task], fn: Callable[[dict[str, Any]], dict[str, Any]], *,
              scheduler: str | None, results_dir: str | Path, workers: int | None = None,
              serial: bool = False, progress: bool = True,
              on_row: Callable[[dict[str, Any]], None] | None = None,
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run ``fn`` on every task not already done in ``results_dir``; return the tasks' rows in
    task order (see the module docstring for where they run and what a row holds).

    ``on_row(row)`` is called in this process after each new row is recorded. Raises
    ValueError for duplicate task ids or a bad ``scheduler``; OSError when the scheduler cannot
    be reached. On KeyboardInterrupt the rows so far are written before it propagates.
    """
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("task ids must be unique (two tasks have the same point?)")
    if scheduler is not None:
        check_scheduler(scheduler)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, not {workers}")
    results_dir = Path(results_dir)
    table = _Table(results_dir)
    todo = [t for t in tasks if table.rows.get(t.id, {}).get("status") != "ok"]
    done = len(tasks) - len(todo)
    log(f"{len(tasks)} points: {done} already in {results_dir / 'results.json'}, "
        f"{len(todo)} to run")
    bar = progress_bar(total=len(todo), desc="points", unit="point", disable=not progress)
    ran: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def record(row: dict[str, Any]) -> None:
        table.add(row)
        ran.append(row)
        bar.update()
        if on_row is not None:
            on_row(row)

    try:
        if todo and serial:
            for t in todo:
                record(call_task(fn, t.id, t.point))
        elif todo:
            _run_on_dask(todo, fn, scheduler=scheduler, workers=workers, record=record, log=log)
    finally:
        bar.close()
        table.write()
    failed = sum(table.rows[i]["status"] != "ok" for i in ids)
    log(f"{len(tasks) - failed} points ok, {failed} failed; results in {results_dir}")
    if ran:
        # how well the workers were used: point time over wall time is the mean number of
        # points in flight; CPU time below point time means the cores were shared
        wall = time.perf_counter() - t0
        busy = sum(r.get("seconds", 0.0) for r in ran)
        cpu = sum(r.get("cpu_seconds", 0.0) for r in ran)
        log(f"ran {len(ran)} points in {wall:.1f} s: {busy:.1f} s of point time "
            f"({busy / max(wall, 1e-9):.2f} points in flight on average), {cpu:.1f} s CPU")
    return [table.rows[i] for i in ids]


def _run_on_dask(todo: Sequence[Task], fn: Callable[[dict[str, Any]], dict[str, Any]], *,
                 scheduler: str | None, workers: int | None,
                 record: Callable[[dict[str, Any]], None], log: Callable[[str], None]) -> None:
    """Submit ``todo`` to a Dask cluster and ``record`` each row as it completes."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        where = f"local cluster of {n} worker process(es)"
    else:
        client = Client(scheduler, timeout="20s")
        where = f"cluster at {scheduler}"
    try:
        log(f"dask: {where}; scheduler {client.scheduler.address}; dashboard "
            f"{client.dashboard_link}")
        # A key per run: the same point submitted again (a resumed run on a long-lived
        # cluster) must not collide with a released task of an earlier client.
        run = uuid.uuid4().hex[:8]
        futures = {client.submit(call_task, fn, t.id, t.point, key=f"point-{t.id}-{run}",
                                 pure=False): t for t in todo}
        for future in as_completed(futures):
            t = futures[future]
            try:
                row = future.result()
            except Exception as err:  # e.g. KilledWorker: recorded, the others go on
                row = error_row(t.id, t.point, err, worker="?")
            record(row)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
