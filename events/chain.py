"""The hash chain: canonical JSON, the row hash (two encodings), the log key, and ONE checker.

Every row of the log carries a SHA-256 over its canonical content and the previous row's hash.
Two encodings exist and each row records which one it uses (``hash_version``):

* version 1 (the first release): the fields joined with ``\\x1f``. Ambiguous: an id holding a
  ``\\x1f`` lets bytes move across a field boundary without changing the hash. Old rows keep it
  (they are never re-hashed, so heads published from them stay valid), but only as a contiguous
  prefix of the log: a version-1 row after a version-2 row is refused.
* version 2: every field prefixed with its length, so no two different rows share an input.

Keyed mode (``SIPDASH_LOG_KEY``): from the first row appended with a key, every row also
carries an HMAC of its row hash. Without the key nobody can append a row that verifies with it.

:class:`ChainChecker` is the one place that walks a chain: ``EventStore.verify``, the backup
writer and the restorer all feed it rows in position order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

GENESIS_HASH = "0" * 64
HASH_V1, HASH_V2 = 1, 2
CURRENT_HASH_VERSION = HASH_V2
LOG_KEY_ENV = "SIPDASH_LOG_KEY"
MIN_LOG_KEY_CHARS = 16
MIN_HEAD_PREFIX = 12

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HEX = re.compile(r"[0-9a-fA-F]+")


# ``JSONEncoder.encode`` builds a new C encoder on every call; the bulk path encodes every
# payload, so build it once (the same C code with the same options: the same text). No
# circular-reference markers: a payload or metadata dict is a tree (a cycle recurses until
# RecursionError instead of ValueError).
_C_CANONICAL = (
    c_make_encoder(
        None,
        _CANONICAL.default,
        encode_basestring,
        None,
        _CANONICAL.key_separator,
        _CANONICAL.item_separator,
        True,
        False,
        True,
    )
    if c_make_encoder is not None
    else None
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the form that is hashed and stored. (One encoder for
    every call: ``json.dumps`` with options builds a new one each time.)"""
    if _C_CANONICAL is None:  # pragma: no cover - CPython always has the C encoder
        return _CANONICAL.encode(value)
    return "".join(_C_CANONICAL(value, 0))


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a C0/C1 control character (``\\x1f`` included)."""
    # isprintable is a tenth of the regex's cost and true for nearly every id; only the rare
    # id it rejects (a no-break space, say) needs the exact test
    return not text.isprintable() and _CONTROL.search(text) is not None


def row_hash_v1(
    prev_hash: str,
    event_id: str,
    stream_id: str,
    stream_version: int,
    type_name: str,
    schema_version: int,
    occurred_at: str,
    recorded_at: str,
    payload_json: str,
    metadata_json: str,
) -> str:
    """Version 1 (kept for rows written before version 2): fields joined with ``\\x1f``."""
    content = "\x1f".join(
        (
            prev_hash,
            event_id,
            stream_id,
            str(stream_version),
            type_name,
            str(schema_version),
            occurred_at,
            recorded_at,
            payload_json,
            metadata_json,
        )
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def row_hash_v2(
    prev_hash: str,
    event_id: str,
    stream_id: str,
    stream_version: int,
    type_name: str,
    schema_version: int,
    occurred_at: str,
    recorded_at: str,
    payload_json: str,
    metadata_json: str,
) -> str:
    """Version 2: a tag, then the previous hash (always 64 hex digits: the genesis hash, or a
    hash the checker has just recomputed), each integer followed by ``:`` (digits hold none),
    every text field as ``<length>:<text>`` (length in characters, unambiguous before the one
    UTF-8 encoding) but the last, which runs to the end. One f-string: the bulk append path
    hashes every event, so this must cost little more than version 1's join."""
    content = (
        f"sipdash-row/2|{prev_hash}{len(event_id)}:{event_id}{len(stream_id)}:{stream_id}"
        f"{stream_version}:{len(type_name)}:{type_name}{schema_version}:"
        f"{len(occurred_at)}:{occurred_at}{len(recorded_at)}:{recorded_at}"
        f"{len(payload_json)}:{payload_json}{metadata_json}"
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


ROW_HASHES = {HASH_V1: row_hash_v1, HASH_V2: row_hash_v2}


def row_hash(*fields: Any, version: int = CURRENT_HASH_VERSION) -> str:
    """The row hash of ``(prev_hash, event_id, …, metadata_json)`` in ``version``'s encoding."""
    return ROW_HASHES[version](*fields)


# --- keyed mode ------------------------------------------------------------------------------


class LogKeyError(ValueError):
    """A log key that cannot be used (too short); the message never shows the key."""


def log_key(explicit: str | None = None) -> str | None:
    """The log key: ``explicit`` if given, else ``SIPDASH_LOG_KEY``, else None (unkeyed);
    refused when too short. The CLI and the dashboard get it from ``audit.bootstrap``'s
    settings (argument, environment, secrets.toml), which validates it here, so both key the
    same rows with the same key."""
    key = explicit if explicit is not None else os.environ.get(LOG_KEY_ENV)
    if not key:
        return None
    if len(key) < MIN_LOG_KEY_CHARS:
        raise LogKeyError(
            f"{LOG_KEY_ENV} is too short: use at least {MIN_LOG_KEY_CHARS} characters "
            "(e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key


def row_mac(key: str, digest: str) -> str:
    """The keyed HMAC-SHA256 of a row hash."""
    return hmac.new(key.encode("utf-8"), digest.encode("ascii"), hashlib.sha256).hexdigest()


# --- an expected head ------------------------------------------------------------------------


def parse_expected_head(text: str) -> str:
    """A published head as ``verify --expect-head`` takes it: the full hash or a prefix of at
    least 12 hex digits, any case; returned lower-case. Raises ``ValueError`` otherwise (a
    usage error, never "tampered")."""
    value = text.strip()
    if not _HEX.fullmatch(value):
        raise ValueError(f"--expect-head {text!r} is not hexadecimal (expected 0-9, a-f)")
    if len(value) < MIN_HEAD_PREFIX:
        raise ValueError(
            f"--expect-head has {len(value)} hex digits; give the full hash or at least "
            f"{MIN_HEAD_PREFIX} (the dashboard shows 16)"
        )
    if len(value) > 64:
        raise ValueError(f"--expect-head has {len(value)} hex digits; a head hash has 64")
    return value.lower()


# --- the one chain checker -------------------------------------------------------------------


class ChainError(Exception):
    """The first row that breaks the chain: its position and what is wrong."""

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(f"position {position}: {problem}")
        self.position, self.problem = position, problem


#: the metadata field a row appended with the log key carries. Metadata is hashed into the
#: chain, so a row cannot lose its HMAC (set to NULL, which the hash does not cover) without
#: the chain still saying it was keyed: a keyed log cannot be passed off as an unkeyed one.
KEYED_FIELD = "log_keyed"
_KEYED_TEXT = f'"{KEYED_FIELD}":true'


def says_keyed(metadata_json: str) -> bool:
    """Whether a row's (canonical JSON) metadata says it was appended with the log key."""
    return _KEYED_TEXT in metadata_json and json.loads(metadata_json).get(KEYED_FIELD) is True


@dataclass
class ChainChecker:
    """Feed rows in position order; :meth:`check` raises :class:`ChainError` at the first bad
    one. A row is ``(position, event_id, stream_id, stream_version, type, schema_version,
    occurred_at, recorded_at, payload, metadata, hash, hash_version, hmac)``.

    Rules: positions 1, 2, 3 … without gaps; ``recorded_at`` never decreases; payloads are
    canonical JSON; each hash matches the row and the previous hash in the row's encoding;
    version-1 rows only as a prefix; once a row carries an HMAC every later row does, a row
    whose metadata says it was keyed carries one, and with the key each HMAC is checked."""

    key: str | None = None
    expect_head: str | None = None
    check_payload: bool = True
    prev_hash: str = GENESIS_HASH
    prev_rec: str = ""
    count: int = 0
    v1_rows: int = 0
    keyed_from: int | None = None
    head_position: int | None = None
    head_hash: str | None = None
    _seen_v2: bool = field(default=False, repr=False)

    def check(self, row: Sequence[Any]) -> None:  # noqa: C901 - one pass kept whole; the next to split (ADR 0006)
        pos, eid, sid, ver, typ, sver, occ, rec, payload, meta, digest, hver, mac = row
        pos = int(pos)
        expected = self.count + 1
        if pos != expected:
            raise ChainError(expected, f"position {pos}, expected {expected}")
        try:
            ver, sver, hver = int(ver), int(sver), int(hver)
            if not all(type(t) is str for t in (eid, sid, typ, occ, rec, payload, meta, digest)):
                raise TypeError
            if mac is not None and type(mac) is not str:
                raise TypeError
        except (TypeError, ValueError):
            raise ChainError(pos, "a field has the wrong type") from None
        if rec < self.prev_rec:
            raise ChainError(pos, "recorded_at goes backwards")
        if hver == HASH_V1:
            if self._seen_v2:
                raise ChainError(
                    pos,
                    "a version-1 row hash after version-2 rows (version 1 is accepted only as "
                    "a prefix of the log)",
                )
            self.v1_rows += 1
        elif hver == HASH_V2:
            self._seen_v2 = True
        else:
            raise ChainError(pos, f"unknown hash version {hver}")
        if self.check_payload:
            try:
                canonical = canonical_json(json.loads(payload)) == payload
            except (TypeError, ValueError):
                canonical = False
            if not canonical:
                raise ChainError(pos, "payload is not canonical JSON")
        want = ROW_HASHES[hver](self.prev_hash, eid, sid, ver, typ, sver, occ, rec, payload, meta)
        if want != digest:
            raise ChainError(pos, "content does not match its hash (or the chain before it)")
        if mac is None:
            if self.keyed_from is not None:
                raise ChainError(
                    pos,
                    f"no HMAC, but the log is keyed from position {self.keyed_from} on "
                    "(a row appended without the log key)",
                )
            if says_keyed(meta):
                raise ChainError(
                    pos,
                    "no HMAC, but the row was appended with the log key (its hashed metadata "
                    "says so): the HMAC was removed",
                )
        else:
            if self.keyed_from is None:
                self.keyed_from = pos
            if self.key is not None and not hmac.compare_digest(row_mac(self.key, digest), mac):
                raise ChainError(
                    pos,
                    f"the row's HMAC does not match under {LOG_KEY_ENV} (a row appended "
                    "without the log key, or the wrong key)",
                )
        if (
            self.expect_head is not None
            and self.head_position is None
            and digest.startswith(self.expect_head)
        ):
            self.head_position, self.head_hash = pos, digest
        self.prev_hash, self.prev_rec, self.count = digest, rec, pos

    def finish(self) -> None:
        """After the last row: the expected head, if one was given, must have been seen."""
        if self.expect_head is not None and self.head_position is None:
            raise ChainError(
                self.count + 1,
                f"the expected head {self.expect_head} is no longer on the chain "
                "(rows behind it were removed or rewritten)",
            )

    def notes(self) -> list[str]:
        """What a successful check should say besides "ok": prefixes, keyed rows."""
        out: list[str] = []
        if self.expect_head is not None and self.head_position is not None:
            if len(self.expect_head) < 64:
                out.append(
                    f"--expect-head was a prefix ({len(self.expect_head)} of 64 hex digits): "
                    f"it matched position {self.head_position}, hash {self.head_hash}"
                )
            else:
                out.append(f"the expected head is on the chain at position {self.head_position}")
        if self.keyed_from is None:
            if self.key is not None and self.count:
                out.append(
                    f"no row carries an HMAC: all {self.count} events were written without "
                    f"{LOG_KEY_ENV}, so the key checked nothing"
                )
        else:
            keyed = self.count - self.keyed_from + 1
            prefix = (
                f"positions 1-{self.keyed_from - 1} are unkeyed (written before "
                f"{LOG_KEY_ENV} was set); "
                if self.keyed_from > 1
                else ""
            )
            if self.key is not None:
                out.append(
                    f"{prefix}positions {self.keyed_from}-{self.count} carry HMACs, all "
                    "checked with the log key"
                )
            else:
                out.append(
                    f"{prefix}{keyed} keyed rows (from position {self.keyed_from}) carry HMACs "
                    f"that were NOT checked: set {LOG_KEY_ENV} to check them"
                )
        return out
