"""``synaprune sweep``: spec expansion (grid, random, references, errors), the command serially
and on a local Dask cluster (same rows), resume, speed-ups and the results table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from synaprune.cli import main
from synaprune.results_table import csv_text, flatten, read_rows
from synaprune.sweep.report import add_speedups, pareto_front
from synaprune.sweep.spec import SpecError, expand

TINY = """
[sweep]
seeds = {seeds}
[data]
train = 150
test = 40
[config]
n_neurons = 16
lanes = 8
epochs = 1
[[policies]]
name = "dense"
[[policies]]
name = "prune"
prune_threshold = {thresholds}
"""


def write_spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("seeds", "thresholds"), [(2, [8, 16]), ([3, 5, 7], [32])])
def test_grid_points_and_references(tmp_path: Path, seeds: object, thresholds: list[int]) -> None:
    tasks = expand(write_spec(tmp_path, TINY.format(seeds=seeds, thresholds=thresholds)))
    n_seeds = seeds if isinstance(seeds, int) else len(seeds)
    assert len(tasks) == n_seeds * (1 + len(thresholds))
    assert len({t.id for t in tasks}) == len(tasks)
    by_id = {t.id: t.point for t in tasks}
    for p in by_id.values():
        ref = by_id[p["reference"]]
        assert ref["policy"] == "dense" and ref["seed"] == p["seed"]
        assert ref["config"]["prune_enabled"] is False
        if p["policy"] == "prune":
            assert p["config"]["prune_enabled"] is True
            assert p["config"]["prune_threshold"] == p["policy_params"]["prune_threshold"]
            assert p["labels"]["prune_threshold"] in thresholds
        assert p["config"]["n_neurons"] == 16 and p["config"]["seed"] == p["seed"]
    # the same spec gives the same ids (what resume relies on)
    again = expand(write_spec(tmp_path, TINY.format(seeds=seeds, thresholds=thresholds), "b.toml"))
    assert [t.id for t in again] == [t.id for t in tasks]


@pytest.mark.parametrize("points", [2, 5])
def test_random_sample_is_seeded_and_keeps_references(tmp_path: Path, points: int) -> None:
    text = TINY.format(seeds=3, thresholds=[8, 16, 32]).replace(
        "[sweep]", f"[sweep]\nmode = \"random\"\npoints = {points}\nsample_seed = 4")
    tasks = expand(write_spec(tmp_path, text))
    assert [t.id for t in expand(write_spec(tmp_path, text, "b.toml"))] == [t.id for t in tasks]
    ids = {t.id for t in tasks}
    assert all(t.point["reference"] in ids for t in tasks)
    assert points <= len(tasks) <= 2 * points


@pytest.mark.parametrize(("change", "says"), [
    ("[extra]\nx = 1\n", "unknown table [extra]"),
    ("[axes]\nthreshhold = [1]\n", "[axes] threshhold: unknown Config field"),
    ("[axes]\nseed = [1, 2]\n", "[axes] seed: set by the sweep"),
    ("[axes]\nlanes = [5]\n", "n_neurons"),
    ("[[policies]]\nname = \"prune-later\"\n", "unknown policy 'prune-later'"),
    ("[[policies]]\nname = \"dense\"\nprune_threshold = 3\n", "has no parameter prune_threshold"),
])
def test_spec_errors_name_the_key(tmp_path: Path, change: str, says: str) -> None:
    spec = write_spec(tmp_path, TINY.format(seeds=1, thresholds=[8]) + change)
    with pytest.raises(SpecError, match="spec.toml") as info:
        expand(spec)
    assert says in str(info.value)


@pytest.mark.parametrize(("key", "value", "says"), [
    ("networks", '["deep"]', "networks: 'deep' is not available; known: layer"),
    ("datasets", '["mnist"]', "no mnist_dir"),
])
def test_unavailable_network_or_data(tmp_path: Path, key: str, value: str, says: str) -> None:
    text = TINY.format(seeds=1, thresholds=[8]).replace("[sweep]", f"[sweep]\n{key} = {value}")
    with pytest.raises(SpecError, match=says):
        expand(write_spec(tmp_path, text))


def test_sweep_serial_resume_and_cluster(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, TINY.format(seeds=2, thresholds=[16, 200]))
    out = tmp_path / "serial"
    assert main(["sweep", str(spec), "--serial", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "6 to run" in printed and "policy=prune prune_threshold=200" in printed
    rows = read_rows(out)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["connectivity_removed"] <= 1.0
        assert r["learn_cycles"] > 0 and r["infer_cycles_per_sample"] > 0
        assert r["point"]["config"]["n_neurons"] == 16  # the config it ran
        if r["policy"] == "dense":
            assert r["learn_speedup"] == 1.0 and r["connectivity_removed"] == 0.0
    high = [r for r in rows if r.get("prune_threshold") == 200]
    assert all(r["connectivity_removed"] > 0.2 and r["learn_speedup"] > 1.0 for r in high)
    with open(out / "results.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 6 and {"accuracy", "learn_speedup", "point.config.threshold"} <= set(
        table[0])
    assert (out / "pareto_speedup.png").stat().st_size > 0
    assert (out / "pareto_removed.png").stat().st_size > 0

    # resume: nothing left to run, the rows stay as they were
    assert main(["sweep", str(spec), "--serial", "--out", str(out), "--no-progress",
                 "--no-plots"]) == 0
    assert "6 already in" in capsys.readouterr().out
    assert read_rows(out) == rows

    # the same points on a local cluster of two workers give the same figures
    dask_out = tmp_path / "dask"
    assert main(["sweep", str(spec), "--workers", "2", "--out", str(dask_out), "--no-progress",
                 "--no-plots"]) == 0
    assert "dashboard http://127.0.0.1:" in capsys.readouterr().out
    keys = ("accuracy", "connectivity_removed", "learn_cycles", "infer_cycles_per_sample",
            "learn_speedup")
    serial = {r["id"]: [r[k] for k in keys] for r in rows}
    assert {r["id"]: [r[k] for k in keys] for r in read_rows(dask_out)} == serial
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in read_rows(dask_out))


def test_speedups_against_the_reference() -> None:
    ref = {"id": "d", "status": "ok", "learn_cycles": 1000, "infer_cycles_per_sample": 50.0,
           "accuracy": 0.8, "point": {"reference": "d"}}
    pruned = {"id": "p", "status": "ok", "learn_cycles": 400, "infer_cycles_per_sample": 20.0,
              "accuracy": 0.75, "point": {"reference": "d"}}
    lost = {"id": "q", "status": "ok", "learn_cycles": 400, "infer_cycles_per_sample": 20.0,
            "accuracy": 0.7, "point": {"reference": "missing"}}
    rows = {r["id"]: r for r in add_speedups([ref, pruned, lost])}
    assert rows["p"]["learn_speedup"] == 2.5 and rows["p"]["infer_speedup"] == 2.5
    assert rows["p"]["accuracy_change"] == pytest.approx(-0.05)
    assert rows["d"]["learn_speedup"] == 1.0
    assert rows["q"]["learn_speedup"] is None and rows["q"]["accuracy_change"] is None


def test_pareto_front_and_flat_table() -> None:
    front = pareto_front([1.0, 2.0, 3.0, 2.0, 1.5], [0.9, 0.8, 0.7, 0.6, 0.9])
    assert front.tolist() == [4, 1, 2]  # (1, .9) is dominated by (1.5, .9); (2, .6) by (2, .8)
    row = {"id": "a", "status": "ok", "error": None, "point": {"config": {"x": 1, "s": [8, 8]}}}
    assert flatten(row) == {"id": "a", "status": "ok", "error": None, "point.config.x": 1,
                            "point.config.s": "[8, 8]"}
    text = csv_text([row, {"id": "b", "status": "error", "error": "E: x", "extra": 2.5}])
    lines = text.splitlines()
    assert lines[0] == "id,status,error,extra,point.config.x,point.config.s"  # nested last
    assert lines[2] == "b,error,E: x,2.5,,"
    assert json.loads(next(csv.reader([lines[1]]))[5]) == [8, 8]
