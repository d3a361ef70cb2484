"""A sweep specification (TOML) and its expansion into points.

The file (every table but ``[[policies]]`` optional; ``docs/sweeps.md`` has an example)::

    [sweep]
    mode = "grid"            # "grid": every combination; "random": a seeded sample of the grid
    points = 12              # random only: how many points to draw
    sample_seed = 0          # random only: seed of the draw
    networks = ["layer"]     # network kinds (today: the fully connected layer)
    datasets = ["digits"]    # digits and/or mnist
    seeds = [1, 2, 3]        # learning seeds (an int N means 1..N)
    config_file = "my.toml"  # replaces the data sets' presets (relative to this file)

    [data]
    train = 600              # learning samples per point (default: the data set's default)
    test = 200               # test samples per point
    mnist_dir = "~/data/mnist"   # IDX files, for datasets = ["mnist"]

    [config]                 # Config fields set for every point
    n_neurons = 64

    [axes]                   # Config fields swept: every value is tried
    threshold = [6000, 7000]

    [[policies]]             # learning policies (synaprune.sweep.policies)
    name = "dense"

    [[policies]]
    name = "prune"
    prune_threshold = [8, 16, 32]   # a policy parameter: one value or a list to sweep

A point is a JSON-able dict: ``network``, ``dataset``, ``data``, ``policy``,
``policy_params``, ``seed``, ``config`` (the whole ``Config`` it runs), ``labels`` (the values
this sweep varies, for tables) and ``reference`` (the id of the ``dense`` point with the same
other values, against which its speed-up is measured). The dense reference of every point is
added to the sweep when the spec does not list it (so a random sample draws its references too).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from ..commands import DATASETS, load_config_file
from ..engine import Task, task_id
from ..model.config import Config
from .policies import REFERENCE, apply_policy, get_policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# Network kinds a sweep can run; a deep network is one more entry here and in point.NETWORKS.
NETWORKS = ("layer",)
TABLES = {
    "sweep": ("mode", "points", "sample_seed", "networks", "datasets", "seeds", "config_file"),
    "data": ("train", "test", "mnist_dir"),
    "config": None,  # Config fields
    "axes": None,  # Config fields
    "policies": None,  # array of tables, checked per policy
}
CONFIG_FIELDS = tuple(f.name for f in fields(Config))
# Set by the sweep itself (seeds, policies), not by [config] or [axes].
RESERVED_FIELDS = ("seed", "prune_enabled")


class SpecError(ValueError):
    """A sweep specification that cannot be expanded; the message names the file and key."""


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _product(axes: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(axes)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(axes[n] for n in names))]


def load_spec(path: str | Path) -> dict[str, Any]:
    """The TOML of ``path``, with unknown tables and keys reported as SpecError."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: sweep spec not found") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}") from None
    for table, value in spec.items():
        if table not in TABLES:
            raise SpecError(f"{path}: unknown table [{table}]; tables: {', '.join(TABLES)}")
        if table == "policies":
            if not isinstance(value, list):
                raise SpecError(f"{path}: policies must be an array of tables ([[policies]])")
            continue
        if not isinstance(value, dict):
            raise SpecError(f"{path}: {table} must be a table ([{table}])")
        allowed = TABLES[table] or CONFIG_FIELDS
        for key in value:
            if key not in allowed:
                what = "Config field" if TABLES[table] is None else "key"
                raise SpecError(f"{path}: [{table}] {key}: unknown {what}")
            if TABLES[table] is None and key in RESERVED_FIELDS:
                raise SpecError(f"{path}: [{table}] {key}: set by the sweep (seeds, policies)")
    return spec


def _base_config(path: Path, spec: dict[str, Any], dataset: str) -> Config:
    sweep = spec.get("sweep", {})
    if "config_file" in sweep:
        return load_config_file(path.parent / Path(sweep["config_file"]).expanduser())
    return Config.preset(dataset)


def _data(path: Path, spec: dict[str, Any], dataset: str) -> dict[str, Any]:
    data = dict(spec.get("data", {}))
    for key in ("train", "test"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise SpecError(f"{path}: [data] {key} must be a positive int, not {value!r}")
    mnist_dir = data.get("mnist_dir")
    if dataset == "mnist" and mnist_dir is None:
        raise SpecError(f"{path}: datasets has mnist but [data] has no mnist_dir")
    return {"train": data.get("train"), "test": data.get("test"),
            "mnist_dir": (str(Path(mnist_dir).expanduser().resolve())
                          if dataset == "mnist" else None)}


def _policies(path: Path, spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(policy name, parameter values) for every combination of each policy's parameters."""
    out: list[tuple[str, dict[str, Any]]] = []
    for k, entry in enumerate(spec.get("policies", [{"name": REFERENCE}])):
        if not isinstance(entry, dict) or "name" not in entry:
            raise SpecError(f"{path}: policies[{k}] needs a name")
        params = {key: _as_list(v) for key, v in entry.items() if key != "name"}
        try:
            policy = get_policy(entry["name"])
        except ValueError as err:
            raise SpecError(f"{path}: policies[{k}]: {err}") from None
        unknown = sorted(set(params) - set(policy.params))
        if unknown:
            raise SpecError(f"{path}: policies[{k}] ({policy.name}) has no parameter "
                            f"{', '.join(unknown)} (parameters: "
                            f"{', '.join(policy.params) or 'none'})")
        out.extend((policy.name, combo) for combo in _product(params))
    return out


def _seeds(path: Path, value: Any) -> list[int]:
    seeds = list(range(1, value + 1)) if isinstance(value, int) else _as_list(value)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise SpecError(f"{path}: [sweep] seeds must be a positive int or a list of ints")
    return seeds


def _names(path: Path, sweep: dict[str, Any], key: str, known: tuple[str, ...],
           default: str) -> list[str]:
    names = _as_list(sweep.get(key, [default]))
    for name in names:
        if name not in known:
            raise SpecError(f"{path}: [sweep] {key}: {name!r} is not available; "
                            f"known: {', '.join(known)}")
    return names


def expand(path: str | Path) -> list[Task]:
    """The tasks of the sweep in ``path``: grid or random sample, plus dense references."""
    path = Path(path)
    spec = load_spec(path)
    sweep = spec.get("sweep", {})
    mode = sweep.get("mode", "grid")
    if mode not in ("grid", "random"):
        raise SpecError(f"{path}: [sweep] mode must be grid or random, not {mode!r}")
    networks = _names(path, sweep, "networks", NETWORKS, NETWORKS[0])
    datasets = _names(path, sweep, "datasets", DATASETS, "digits")
    seeds = _seeds(path, sweep.get("seeds", [1]))
    axes = {k: _as_list(v) for k, v in spec.get("axes", {}).items()}
    fixed = spec.get("config", {})
    policies = _policies(path, spec)
    varied = [n for n, vals in (("dataset", datasets), ("network", networks)) if len(vals) > 1]

    points: dict[str, dict[str, Any]] = {}
    chosen: list[str] = []
    for dataset, network in itertools.product(datasets, networks):
        try:
            base = _base_config(path, spec, dataset).replace(**fixed)
        except (ValueError, TypeError) as err:
            raise SpecError(f"{path}: [config]: {err}") from None
        data = _data(path, spec, dataset)
        for combo, seed in itertools.product(_product(axes), seeds):
            try:
                cfg = base.replace(**combo, seed=seed)
            except (ValueError, TypeError) as err:
                raise SpecError(f"{path}: [axes] {combo}: {err}") from None
            common = {"network": network, "dataset": dataset, "data": data}
            labels = {**{n: common[n] for n in varied}, **combo, "seed": seed}
            # ids are taken before "reference" is added: it follows from the rest
            ref = _point(common, REFERENCE, {}, cfg, seed, labels, path)
            ref_id = task_id(ref)
            points[ref_id] = {**ref, "reference": ref_id}
            for name, params in policies:
                p = _point(common, name, params, cfg, seed, labels, path)
                pid = task_id(p)
                points[pid] = {**p, "reference": ref_id}
                chosen.append(pid)
    chosen = list(dict.fromkeys(chosen))  # a policy listed twice is one point
    if mode == "random":
        chosen = _sample(path, sweep, chosen)
    ids = list(dict.fromkeys(chosen + [points[i]["reference"] for i in chosen]))
    return [Task(points[i], i) for i in ids]


def _point(common: dict[str, Any], policy: str, params: dict[str, Any], cfg: Config, seed: int,
           labels: dict[str, Any], path: Path) -> dict[str, Any]:
    try:
        ran = apply_policy(cfg, policy, params)
    except (ValueError, TypeError) as err:
        raise SpecError(f"{path}: policy {policy} {params}: {err}") from None
    return {**common, "policy": policy, "policy_params": dict(params), "seed": seed,
            "config": ran.to_dict(), "labels": {"policy": policy, **params, **labels}}


def _sample(path: Path, sweep: dict[str, Any], ids: list[str]) -> list[str]:
    n = sweep.get("points")
    if not isinstance(n, int) or n < 1:
        raise SpecError(f"{path}: [sweep] mode = random needs points = N (a positive int)")
    if n > len(ids):
        raise SpecError(f"{path}: [sweep] points = {n} but the grid has only {len(ids)}")
    rng = np.random.default_rng(int(sweep.get("sample_seed", 0)))
    picked = sorted(rng.choice(len(ids), size=n, replace=False))
    return [ids[k] for k in picked]
