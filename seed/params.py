"""The seed's parameters: ``seed/params.toml`` read once with tomllib."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from events.elements import ELEMENTS as REGISTRY

PARAMS_FILE = Path(__file__).with_name("params.toml")

#: The default registry's enabler names (the seed's loops take theirs from ``Plan.elements``).
ELEMENTS = REGISTRY.names

#: An enabler ``params.toml`` has no entry for (a programme's own fourth) is seeded with the
#: values of this one.
SEED_LIKE = "goal_setting"


def per_element(table: dict[str, Any], name: str) -> Any:
    """``table[name]``: a per-enabler parameter, or :data:`SEED_LIKE`'s for an enabler the
    parameter file does not name."""
    return table[name] if name in table else table[SEED_LIKE]


@cache
def load_params(path: str | None = None) -> dict[str, Any]:
    """The parsed ``params.toml`` (cached; treat it as read-only)."""
    with open(path or PARAMS_FILE, "rb") as fh:
        params = tomllib.load(fh)
    _check(params)
    return params


def _check(params: dict[str, Any]) -> None:
    """Fail early, naming the key, on a parameter file that cannot drive the generator."""
    for section in (
        "calendar",
        "scenario",
        "service",
        "rates",
        "archetype",
        "staff",
        "consultations",
        "documentation",
        "audit",
        "milestones",
        "surveys",
    ):
        if section not in params:
            raise ValueError(f"{PARAMS_FILE.name}: missing section [{section}]")
    for name, arch in params["archetype"].items():
        if arch.get("shift", True):
            for key in ("lag", "slope", "plateau"):
                if key not in arch:
                    raise ValueError(f"{PARAMS_FILE.name}: archetype.{name} needs {key!r}")
    services = params["service"]
    archetypes = params["archetype"]
    for team in params["scenario"]["demo"]["team"]:
        if team["service"] not in services:
            raise ValueError(f"{PARAMS_FILE.name}: team {team['id']}: unknown service")
        if team["archetype"] not in archetypes:
            raise ValueError(f"{PARAMS_FILE.name}: team {team['id']}: unknown archetype")
    for name in params["scenario"]["large"]["archetype_mix"]:
        if name not in archetypes:
            raise ValueError(f"{PARAMS_FILE.name}: archetype_mix names unknown archetype {name}")
