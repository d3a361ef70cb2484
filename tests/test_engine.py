"""The Dask task engine: a worker killed mid-run, resume after an interruption, failing points.

The task function lives in this module and is shipped to the Dask workers by value
(cloudpickle), so the workers need not import the tests. Each call appends the point's number
to a log file before it works, so a test can count how often a point started.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from synaprune.engine import Task, run_tasks, task_id
from synaprune.results_table import read_rows

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def slow_square(point: dict[str, Any]) -> dict[str, Any]:
    """Log the start, sleep, fail if asked, else return k squared."""
    with open(point["log"], "a") as fh:  # one short append per call: whole lines
        fh.write(f"{point['k']}\n")
    time.sleep(point["sleep"])
    if point.get("fail"):
        raise RuntimeError(f"point {point['k']} fails on purpose")
    return {"square": point["k"] ** 2}


def starts(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def make_tasks(log: Path, n: int, sleep: float, fail: tuple[int, ...] = ()) -> list[Task]:
    return [Task({"k": k, "sleep": sleep, "log": str(log), "fail": k in fail}) for k in range(n)]


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def two_workers() -> Iterator[tuple[Any, Any]]:
    """A LocalCluster of two worker processes (each under a nanny that restarts it when it is
    killed) and a client of it, shared by the tests of this module."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield cluster, client


@pytest.mark.parametrize("n", [10, 14])
def test_killed_worker_every_point_once(tmp_path: Path, n: int,
                                        two_workers: tuple[Any, Any]) -> None:
    """Two workers; when the first row arrives, one worker that holds a task is killed
    (SIGKILL). Its task runs again elsewhere; the table has every point exactly once, ok."""
    cluster, client = two_workers
    client.wait_for_workers(2, timeout=60)  # a worker killed by the test before is back
    log, out = tmp_path / "starts.log", tmp_path / "results"
    tasks = make_tasks(log, n, sleep=0.5)
    killed: dict[str, Any] = {}
    pids = client.run(os.getpid)

    def on_row(row: dict[str, Any]) -> None:
        if killed:
            return
        victim = row["worker"]  # it has just been given its next task
        deadline = time.monotonic() + 10
        held: list[str] = []
        while not held and time.monotonic() < deadline:
            held = [str(k) for k in client.processing(workers=[victim])[victim]]
            time.sleep(0.02)
        assert held, "the worker got no further task"
        os.kill(pids[victim], signal.SIGKILL)
        killed.update(address=victim, keys=held)

    rows = run_tasks(tasks, slow_square, scheduler=cluster.scheduler_address, results_dir=out,
                     progress=False, on_row=on_row, log=quiet)
    assert killed, "no worker was killed"
    stored = read_rows(out)
    ids = [r["id"] for r in stored]
    assert sorted(ids) == sorted(t.id for t in tasks)  # every point, each exactly once
    assert all(r["status"] == "ok" for r in stored), [r["error"] for r in stored]
    assert [r["square"] for r in rows] == [k * k for k in range(n)]
    # the tasks the killed worker held were finished by another worker
    lost = {key.split("-")[1] for key in killed["keys"]}
    assert lost and all(r["worker"] != killed["address"] for r in stored if r["id"] in lost)
    assert len(starts(log)) >= n
    # the CSV has the same points, once each
    csv_ids = [line.split(",")[0] for line in (out / "results.csv").read_text().splitlines()[1:]]
    assert sorted(csv_ids) == sorted(ids)


@pytest.mark.parametrize(("n", "stop_after"), [(6, 2), (9, 5)])
def test_resume_runs_only_what_is_missing(tmp_path: Path, n: int, stop_after: int) -> None:
    log, out = tmp_path / "starts.log", tmp_path / "results"
    tasks = make_tasks(log, n, sleep=0.0)
    seen: list[str] = []

    def interrupt(row: dict[str, Any]) -> None:
        seen.append(row["id"])
        if len(seen) == stop_after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, slow_square, scheduler=None, results_dir=out, serial=True,
                  progress=False, on_row=interrupt, log=quiet)
    first = {r["id"]: r for r in read_rows(out)}
    assert len(first) == stop_after and all(r["status"] == "ok" for r in first.values())

    rows = run_tasks(tasks, slow_square, scheduler=None, results_dir=out, serial=True,
                     progress=False, log=quiet)
    assert sorted(starts(log)) == list(range(n))  # every point ran exactly once in all
    assert [r["square"] for r in rows] == [k * k for k in range(n)]
    for r in rows:  # the rows of the first run were kept as they were
        if r["id"] in first:
            assert r == first[r["id"]]
    assert len(read_rows(out)) == n


@pytest.mark.parametrize("fail", [(0,), (1, 3)])
def test_failing_point_recorded_and_retried(tmp_path: Path, fail: tuple[int, ...]) -> None:
    log, out = tmp_path / "starts.log", tmp_path / "results"
    tasks = make_tasks(log, 5, sleep=0.0, fail=fail)
    rows = run_tasks(tasks, slow_square, scheduler=None, results_dir=out, serial=True,
                     progress=False, log=quiet)
    for k, r in enumerate(rows):
        if k in fail:
            assert r["status"] == "error" and f"point {k} fails on purpose" in r["error"]
            assert "RuntimeError" in r["error"] and "slow_square" in r["traceback"]
        else:
            assert r["status"] == "ok" and r["square"] == k * k
    # a rerun retries the failed points only
    run_tasks(tasks, slow_square, scheduler=None, results_dir=out, serial=True,
              progress=False, log=quiet)
    counts = {k: starts(log).count(k) for k in range(5)}
    assert counts == {k: 2 if k in fail else 1 for k in range(5)}
    assert len(read_rows(out)) == 5


def test_task_ids_and_bad_input(tmp_path: Path) -> None:
    a, b = {"x": 1, "y": [1, 2]}, {"y": [1, 2], "x": 1}
    assert task_id(a) == task_id(b) == Task(a).id  # key order does not matter
    assert task_id({"x": 2}) != task_id({"x": 1})
    with pytest.raises(ValueError, match="unique"):
        run_tasks([Task(a), Task(b)], slow_square, scheduler=None, results_dir=tmp_path,
                  serial=True, log=quiet)
    with pytest.raises(ValueError, match="scheduler"):
        run_tasks([Task(a)], slow_square, scheduler="localhost:8786", results_dir=tmp_path,
                  log=quiet)
    (tmp_path / "results.json").write_text(json.dumps({"not": "rows"}))
    with pytest.raises(ValueError, match="not a results table"):
        run_tasks([Task(a)], slow_square, scheduler=None, results_dir=tmp_path, serial=True,
                  log=quiet)
