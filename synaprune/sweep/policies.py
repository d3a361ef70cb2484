"""Learning policies a sweep can compare: how a point's configuration is changed by its policy.

A policy has a name, the parameters it accepts (each given in the spec as one value or a list
of values to sweep) and a pure function that applies them to a ``Config``. Today's policies:

- ``dense``: learning without pruning (``prune_enabled = false``); no parameters. Every sweep
  point's speed-up is measured against the ``dense`` point that shares all its other values.
- ``prune``: pruning during learning (``prune_enabled = true``); parameter ``prune_threshold``
  (a synapse whose learned weight falls below it is removed).

A new policy (a pruning schedule, a different rule) is one more ``Policy`` in ``POLICIES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model.config import Config

REFERENCE = "dense"


@dataclass(frozen=True)
class Policy:
    """A named change to the configuration with the parameters it accepts."""

    name: str
    params: tuple[str, ...]
    apply: Callable[[Config, Mapping[str, Any]], Config]
    doc: str


def _dense(cfg: Config, params: Mapping[str, Any]) -> Config:
    return cfg.replace(prune_enabled=False)


def _prune(cfg: Config, params: Mapping[str, Any]) -> Config:
    return cfg.replace(prune_enabled=True, **params)


POLICIES: dict[str, Policy] = {
    "dense": Policy("dense", (), _dense, "learning without pruning (the speed-up reference)"),
    "prune": Policy("prune", ("prune_threshold",), _prune,
                    "pruning while learning below prune_threshold"),
}


def get_policy(name: str) -> Policy:
    """The policy called ``name``, or a ValueError that lists the known ones."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}") from None


def apply_policy(cfg: Config, name: str, params: Mapping[str, Any]) -> Config:
    """``cfg`` changed by policy ``name`` with ``params`` (checked against the policy)."""
    policy = get_policy(name)
    unknown = sorted(set(params) - set(policy.params))
    if unknown:
        allowed = ", ".join(policy.params) or "none"
        raise ValueError(f"policy {name!r} has no parameter {', '.join(unknown)} "
                         f"(parameters: {allowed})")
    return policy.apply(cfg, params)
