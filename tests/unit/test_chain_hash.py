"""The row hash and the expected-head syntax (events.chain), without a database.

Version 1 joined fields with ``\\x1f``, so bytes could move across a field boundary (an id
holding ``\\x1f``) without changing the hash. Version 2 prefixes every field with its length.
"""

from __future__ import annotations

import hashlib

import pytest

from events.chain import (
    GENESIS_HASH,
    ChainChecker,
    ChainError,
    parse_expected_head,
    row_hash_v1,
    row_hash_v2,
    row_mac,
)

META = '{"actor":"importer"}'
PAYLOAD = '{"team_id":"msk1"}'
TS = "2024-01-01T00:00:00.000000Z"


def _fields(event_id: str, stream_id: str, meta: str = META, payload: str = PAYLOAD) -> tuple:
    return (GENESIS_HASH, event_id, stream_id, 1, "TeamRegistered", 1, TS, TS, payload, meta)


def test_version_1_is_the_old_unit_separator_join_so_old_rows_keep_their_hashes() -> None:
    fields = _fields("e1", "team-msk1")
    joined = "\x1f".join(str(f) for f in fields)
    assert row_hash_v1(*fields) == hashlib.sha256(joined.encode()).hexdigest()


def test_bytes_moved_across_a_field_boundary_change_the_version_2_hash() -> None:
    # the same characters, the boundary between event id and stream id moved
    shifted = _fields("e1\x1fteam-", "msk1")
    across = _fields("e1", "team-\x1fmsk1")
    # version 1 cannot tell "e1␟team-" ␟ "msk1" from "e1" ␟ "team-␟msk1"
    assert row_hash_v1(*shifted) == row_hash_v1(*across)
    assert row_hash_v2(*shifted) != row_hash_v2(*across)


@pytest.mark.parametrize("boundary", range(1, 9))
def test_every_field_boundary_is_unambiguous_in_version_2(boundary: int) -> None:
    """Move the last character of field ``boundary`` into the next field (or the first of the
    next into this one): the version-2 hash always changes."""
    base = [str(f) for f in _fields("event-1", "team-msk1")]
    moved = list(base)
    moved[boundary + 1] = moved[boundary][-1] + moved[boundary + 1]
    moved[boundary] = moved[boundary][:-1]
    assert "".join(moved) == "".join(base)
    assert row_hash_v2(*base) != row_hash_v2(*moved)


def test_a_version_2_hash_is_not_a_version_1_hash_of_the_same_row() -> None:
    fields = _fields("e1", "team-msk1")
    assert row_hash_v2(*fields) != row_hash_v1(*fields)


def _row(prev: str, position: int, version: int, mac: str | None = None, key: str | None = None):
    fields = (
        prev,
        f"e{position}",
        "team-msk1",
        position,
        "TeamRegistered",
        1,
        TS,
        TS,
        PAYLOAD,
        META,
    )
    digest = (row_hash_v1 if version == 1 else row_hash_v2)(*fields)
    if key is not None:
        mac = row_mac(key, digest)
    return (position, *fields[1:], digest, version, mac), digest


def test_the_checker_accepts_a_version_1_prefix_and_refuses_version_1_after_version_2() -> None:
    checker = ChainChecker()
    prev = GENESIS_HASH
    for position, version in enumerate((1, 1, 2, 2), start=1):
        row, prev = _row(prev, position, version)
        checker.check(row)
    assert (checker.count, checker.v1_rows) == (4, 2)
    row, _ = _row(prev, 5, 1)
    with pytest.raises(ChainError, match="version-1 row hash after version-2") as err:
        checker.check(row)
    assert err.value.position == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ABCDEF012345", "abcdef012345"),
        ("  abcdef0123456789  ", "abcdef0123456789"),
        ("F" * 64, "f" * 64),
    ],
)
def test_an_expected_head_is_a_prefix_of_at_least_12_hex_digits_in_any_case(
    text: str, expected: str
) -> None:
    assert parse_expected_head(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("abcdef01234", "11 hex digits"),
        ("", "not hexadecimal"),
        ("abcdef01234g", "not hexadecimal"),
        ("0x" + "a" * 20, "not hexadecimal"),
        ("a" * 65, "a head hash has 64"),
        ("abcdef 012345", "not hexadecimal"),
    ],
)
def test_a_malformed_expected_head_is_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_expected_head(text)
