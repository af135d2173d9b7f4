"""The XmR engine reproduces the Making Data Count team's own test scenarios, point by point.

The data and how to read it are in ``shared/conformance/mdc-xmr/`` beside the repository
(see its README): every point's expected colour in 35 scenarios, with one documented erratum.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

import pytest

from audit.spc import xmr_chart

SHARED = Path(__file__).resolve().parents[3] / "shared"
DATA = SHARED / "conformance" / "mdc-xmr" / "test_data.csv"

COLOUR_TO_TYPE = {
    "grey": "common_cause",
    "blue": "improvement",
    "orange": "concern",
    "purple": "neither",
}
SPLIT_SCENARIO = (
    "Summary icons - variation - High is good2",
    "Summary icons - variation - High is good 2",
)
RECALCULATED_AT_POINT_16 = {
    "Recalculations - Recalculated",
    "Special cause crossing recalculations - shift",
    "Special cause crossing recalculations - trend",
    "Special cause crossing recalculations - two-sigma",
}
BASELINE_OF_15 = {"Baselines - Recalculated"}
ERRATUM = ("Special cause conflict - High is good", 15)  # (scenario, 1-based point): blue → grey


class Row(NamedTuple):
    on: date
    value: float
    colour: str


def load_scenarios() -> dict[str, list[Row]]:
    """Scenarios in date order, with the split "High is good 2" scenario joined."""
    scenarios: dict[str, list[Row]] = defaultdict(list)
    with DATA.open(encoding="utf-8-sig", newline="") as handle:
        for record in csv.DictReader(handle):
            name = record["Metric"].strip()
            name = SPLIT_SCENARIO[1] if name == SPLIT_SCENARIO[0] else name
            on = datetime.strptime(record["Date"].strip(), "%d/%m/%Y").date()
            scenarios[name].append(Row(on, float(record["Value"]), record["Colour"].strip()))
    return {name: sorted(rows) for name, rows in scenarios.items()}


SCENARIOS = load_scenarios() if DATA.exists() else {}


def direction_of(name: str) -> str:
    """README: "Low is good" → down, "Neither" → neither, else up (the file's case varies)."""
    lowered = name.lower()
    if "low is good" in lowered:
        return "down"
    if "neither" in lowered:
        return "neither"
    return "up"


def expected_types(name: str, rows: list[Row]) -> list[str]:
    expected = [COLOUR_TO_TYPE[row.colour] for row in rows]
    if name == ERRATUM[0]:
        index = ERRATUM[1] - 1
        assert expected[index] == "improvement", "the documented erratum is no longer in the file"
        expected[index] = "common_cause"
    return expected


def run_scenario(name: str, rows: list[Row]):
    periods = [row.on.isoformat() for row in rows]
    values = [row.value for row in rows]
    options: dict = {"improvement": direction_of(name)}
    if name in RECALCULATED_AT_POINT_16:
        options["recalculate_at"] = [periods[15]]
    if name in BASELINE_OF_15:
        options["baseline"] = 15
    return xmr_chart(periods, values, **options)


def test_the_conformance_data_is_present() -> None:
    if not DATA.exists():
        message = f"MDC conformance data not found at {DATA}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert len(SCENARIOS) == 35
    assert len(SCENARIOS[SPLIT_SCENARIO[1]]) == 18
    assert all(len({row.on for row in rows}) == len(rows) for rows in SCENARIOS.values())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_point_has_the_expected_colour(name: str) -> None:
    rows = SCENARIOS[name]
    result = run_scenario(name, rows)
    got = [point.point_type for point in result.points]
    expected = expected_types(name, rows)
    mismatches = [
        (number, row.value, want, have)
        for number, (row, want, have) in enumerate(zip(rows, expected, got, strict=True), 1)
        if want != have
    ]
    assert not mismatches, f"(point, value, expected, got): {mismatches}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_variation_icon_follows_the_last_point(name: str) -> None:
    rows = SCENARIOS[name]
    result = run_scenario(name, rows)
    expected = expected_types(name, rows)[-1] if len(rows) >= 13 else None
    assert result.variation == expected
