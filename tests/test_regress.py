"""The RTL regression (sim.regress): planning, a short run in parallel with resume, fault
injection that must be caught (with a waveform), and the netlist cache key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from synaprune.sim.cases import digits_case
from synaprune.sim.harness import layer_top
from synaprune.sim.regress import CaseSpec, plan, regress, regress_configs
from synaprune.sim.runner import run_case

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None,
                                  reason="Icarus Verilog (iverilog) is not installed")


def test_plan_covers_the_samples_configs_and_simulators() -> None:
    specs = plan(10_000, configs=list(regress_configs()), simulators=["icarus", "verilator"],
                 icarus_share=0.2)
    samples = [s for s in specs if not s.edge]
    assert sum(s.samples for s in samples) >= 10_000
    assert len({s.id for s in specs}) == len(specs)
    assert {s.config for s in samples} == set(regress_configs())
    share = sum(s.simulator == "icarus" for s in samples) / len(samples)
    assert 0.15 <= share <= 0.25
    assert any(s.backpressure for s in samples) and not all(s.backpressure for s in samples)
    assert len({s.order for s in samples}) == len(samples)  # every case its own sample order
    edge = [s for s in specs if s.edge]
    assert len(edge) == 2 * len(regress_configs())


def test_regression_configs_cover_the_elaboration_space() -> None:
    cfgs = regress_configs().values()
    assert {c.ram_latency for c in cfgs} == {4, 5, 6, 7}
    assert {c.leak_shift > 0 for c in cfgs} == {True, False}
    assert {c.prune_enabled for c in cfgs} == {True, False}
    assert max(c.k_winners for c in cfgs) > 1
    assert {c.col_word_bits for c in cfgs} == {8, 16, 32}
    assert len({c.lanes for c in cfgs}) >= 4
    assert max(c.rows / c.n_inputs for c in cfgs) >= 2  # CLEAR counts to K, not the events


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"configs": ["nope"], "simulators": ["icarus"]}, "no regression configuration"),
    ({"configs": ["A"], "simulators": ["modelsim"]}, "simulator must be one of"),
    ({"configs": ["A"], "simulators": ["icarus"], "icarus_share": 1.5}, "icarus_share"),
])
def test_plan_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(100, **kwargs)


@needs_icarus
@pytest.mark.parametrize("scheduler", [None, "local"], ids=["process-pool", "dask-local"])
def test_short_regression_runs_in_parallel_and_resumes(tmp_path: Path,
                                                       scheduler: str | None) -> None:
    specs = [CaseSpec(config="A", simulator="icarus", order=n, pretrain=40 * n, learn=6,
                      infer=3, backpressure=n == 1) for n in range(2)]
    seen: list[dict] = []
    summary = regress(specs, tmp_path, workers=2, scheduler=scheduler, on_done=seen.append)
    assert sorted(r["id"] for r in seen) == sorted(s.id for s in specs)
    assert summary["samples"] == 18 and summary["mismatches"] == 0
    assert summary["cases_failed"] == 0
    assert summary["cycles_equal_model"] and summary["membranes_compared"] > 0
    assert summary["simulators"]["icarus"]["cycles_per_s"] > 0
    assert json.loads((tmp_path / "summary.json").read_text())["cases_done"] == 2
    if scheduler == "local":  # the rows came from Dask workers, through the engine's table
        assert all(r["worker"].startswith("tcp://") for r in seen)
        engine_rows = json.loads((tmp_path / "engine" / "results.json").read_text())
        assert sorted(r["id"] for r in engine_rows) == sorted(s.id for s in specs)
    again: list[dict] = []
    summary = regress(specs, tmp_path, workers=2, scheduler=scheduler, on_done=again.append)
    assert again == [] and summary["cases_done"] == 2 and summary["samples"] == 18


@needs_icarus
def test_a_wrong_weight_in_the_core_is_caught_with_a_waveform(rtl_build_root: Path) -> None:
    cfg = regress_configs()["A"]
    case = digits_case(cfg, pretrain=20, n_learn=0, n_infer=4, name="fault")
    first = case.times[0]
    i = int(np.argmin(first))  # the input that spikes first in the first sample
    j = int(np.flatnonzero(case.mask[i])[0])  # a live synapse of it
    case.weight_fault = (i, j, (int(case.weights[i, j]) + 97) % (cfg.w_max + 1))
    summary = run_case(case, build_root=rtl_build_root)
    assert summary["mismatches"] == 1
    bad = summary["first_mismatch"]
    assert bad["sample"] == 0 and bad["what"] == "membrane", bad
    waves = list(Path(summary["waveform_dir"]).glob("*.fst"))
    assert waves and waves[0].stat().st_size > 0


def test_netlist_key_follows_every_elaboration_field() -> None:
    cfg = regress_configs()["A"]
    key = layer_top(cfg).key
    assert layer_top(cfg.replace(ram_latency=5)).key != key
    assert layer_top(cfg.replace(counter_bits=24)).key != key
    assert layer_top(cfg.replace(lfsr_seed=7)).key != key
    assert layer_top(cfg.replace(regrow_unit=False)).key != key
    # runtime registers do not change the netlist
    assert layer_top(cfg.replace(threshold=cfg.threshold + 1, prune_threshold=3)).key == key


def test_regress_command_rejects_a_bad_scheduler(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from synaprune.cli import main

    rc = main(["regress", "--samples", "4", "--configs", "A", "--out", str(tmp_path),
               "--scheduler", "nowhere:8786"])
    assert rc == 2
    assert "expected a Dask scheduler address" in capsys.readouterr().err
    assert not (tmp_path / "cases").exists() or not any((tmp_path / "cases").iterdir())
