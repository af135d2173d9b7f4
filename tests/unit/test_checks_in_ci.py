"""What ``make test`` and ``make lint`` check before the suite runs: ruff, its format check and
mypy over the core packages (the type checker's scope and settings live in pyproject.toml)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _recipe(target: str) -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert match, f"no {target} target"
    return [line.strip() for line in match.group(1).splitlines()]


def test_make_test_and_make_lint_run_ruff_the_format_check_and_mypy() -> None:
    for target in ("test", "lint"):
        recipe = _recipe(target)
        for command in ("$(BIN)/ruff check .", "$(BIN)/ruff format --check .", "$(BIN)/mypy"):
            assert command in recipe, f"make {target} does not run {command}"


def test_mypy_checks_events_audit_and_seed_without_blanket_ignores() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert {"events", "audit", "seed"} <= set(mypy["files"])
    assert not mypy.get("ignore_missing_imports") and not mypy.get("ignore_errors")
    assert mypy["warn_unused_ignores"] is True
