"""``events.chain.canonical_json`` keeps one C encoder for every call (issue #12, bulk append):
its text must stay exactly ``json.dumps(sort_keys, compact, UTF-8)``, or stored hashes and
``verify``'s canonical-payload check would drift."""

from __future__ import annotations

import json

import pytest

from events.chain import canonical_json

ODD_VALUES = [
    {"b": 1, "a": [1.5, None, True, False, "é\n\x1f\u2028"], "A": {"z": 0, "y": -1}},
    {"nested": [{"k": 1e16}, {"k": 1e-7}, {"k": 2**70}], "": ""},
    {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")},
    'a plain string with "quotes" and \\ backslash',
    3,
    [],
    {},
    {"ünïcødé": "ok", "emoji": "\U0001f600"},
]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_canonical_json_is_sorted_compact_utf8_json(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected


def test_a_value_json_cannot_write_is_still_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        canonical_json({"when": object()})


def test_the_same_value_encodes_the_same_from_many_calls() -> None:
    value = {"team_id": "team01", "period": "2024-01", "n": [1, 2, 3]}
    assert len({canonical_json(value) for _ in range(1_000)}) == 1
