"""Patient pseudonyms: raw identifiers never reach the log, a log line or an error message.

An identifier (an NHS number or a local id) is turned into a keyed HMAC; that HMAC maps to a
random token in the ``patient_tokens`` table, kept outside the event log. Events carry only the
token. ``forget`` deletes the mapping: afterwards no one, key holder included, can link the log
to the person again, while the log and its hash chain stay untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Column, Engine, MetaData, String, Table

from .db import schema_transaction, tables_missing

DEMO_KEY = "sipdash-demo-key-NOT-FOR-REAL-PATIENT-DATA"
KEY_ENV = "SIPDASH_PSEUDONYM_KEY"

metadata = MetaData()
patient_tokens = Table(
    "patient_tokens",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("token", String(40), nullable=False, unique=True),
)
forgotten_keys = Table(
    "patient_forgotten_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
)

_NHS_DIGITS = re.compile(r"^\d{10}$")
_FORGOTTEN_NAMESPACE = uuid.UUID("0b5e6f0a-3c1d-4e7a-9f52-7d1c2a8e4b93")


class PseudonymError(ValueError):
    """A patient identifier that cannot be accepted; the message never contains it."""


def resolve_key(explicit: str | None = None) -> tuple[str, bool]:
    """The pseudonym key and whether it is the demo key (``SIPDASH_PSEUDONYM_KEY`` or demo)."""
    key = explicit or os.environ.get(KEY_ENV) or DEMO_KEY
    return key, key == DEMO_KEY


def nhs_number_digits(value: str) -> str | None:
    """The 10 digits if ``value`` is shaped like an NHS number (spaces allowed), else None."""
    digits = value.replace(" ", "")
    return digits if _NHS_DIGITS.match(digits) else None


def nhs_number_is_valid(digits: str) -> bool:
    """Modulus 11: weights 10..2 over the first nine digits; 11 → 0, 10 → never valid."""
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def normalise_identifier(raw: str) -> tuple[str, bool]:
    """(canonical form, is_nhs_number); raises :class:`PseudonymError` for a bad NHS number."""
    value = raw.strip()
    if not value:
        raise PseudonymError("patient identifier is empty")
    digits = nhs_number_digits(value)
    if digits is not None:
        if not nhs_number_is_valid(digits):
            raise PseudonymError("not a valid NHS number (the check digit does not match)")
        return f"nhs:{digits}", True
    return f"local:{value}", False


def forgotten_event_id(token: str) -> str:
    """The id of a token's ``PatientForgotten`` event: one per patient, however often (or
    however interrupted) ``forget`` runs."""
    return str(uuid.uuid5(_FORGOTTEN_NAMESPACE, token))


def key_hash(key: str, canonical: str) -> str:
    return hmac.new(key.encode("utf-8"), canonical.encode("utf-8"), hashlib.sha256).hexdigest()


class PatientRegistry:
    """The erasable mapping from keyed identifier hash to random patient token."""

    def __init__(self, engine: Engine, key: str) -> None:
        self.engine = engine
        self.key = key
        self.ph = "?" if engine.dialect.name == "sqlite" else "%s"

    def ensure_schema(self) -> None:
        if tables_missing(self.engine, metadata.tables):
            with schema_transaction(self.engine) as conn:
                metadata.create_all(conn, checkfirst=True)

    @contextmanager
    def transaction(self) -> Iterator:
        """A write transaction on the mapping. On SQLite it takes the write lock up front
        (``BEGIN IMMEDIATE``): a read-then-write transaction that waited for another writer
        would otherwise fail on its stale snapshot."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def hashes_for(self, canonicals: list[str]) -> dict[str, str]:
        return {c: key_hash(self.key, c) for c in canonicals}

    def tokens_for(self, hashes: list[str], conn, *, create: bool) -> dict[str, str]:
        """Tokens for keyed hashes, creating random new ones (inside the caller's transaction)."""
        found: dict[str, str] = {}
        unique = sorted(set(hashes))
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            rows = conn.exec_driver_sql(
                "SELECT key_hash, token FROM patient_tokens "
                f"WHERE key_hash IN ({', '.join([self.ph] * len(chunk))})",
                tuple(chunk),
            )
            found.update(dict(rows.fetchall()))
        missing = [h for h in unique if h not in found]
        if missing and create:
            new = [(h, "p_" + secrets.token_hex(16)) for h in missing]
            # Another import may be creating the same patient's token right now: keep whichever
            # commits first, and read back what was kept.
            conn.exec_driver_sql(
                f"INSERT INTO patient_tokens (key_hash, token) VALUES ({self.ph}, {self.ph}) "
                "ON CONFLICT (key_hash) DO NOTHING",
                new,
            )
            found.update(self.tokens_for(missing, conn, create=False))
        return found

    def forgotten(self, hashes: list[str], conn) -> set[str]:
        out: set[str] = set()
        unique = sorted(set(hashes))
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            rows = conn.exec_driver_sql(
                "SELECT key_hash FROM patient_forgotten_keys "
                f"WHERE key_hash IN ({', '.join([self.ph] * len(chunk))})",
                tuple(chunk),
            )
            out.update(r[0] for r in rows)
        return out

    def token_of(self, raw_identifier: str) -> str | None:
        """The patient's current token, or None if no mapping is held."""
        canonical, _ = normalise_identifier(raw_identifier)
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(
                f"SELECT token FROM patient_tokens WHERE key_hash = {self.ph}",
                (key_hash(self.key, canonical),),
            ).first()
        return row[0] if row else None

    def forget(self, raw_identifier: str) -> str | None:
        """Erase one patient's mapping; returns the token that is now unlinkable (or None)."""
        canonical, _ = normalise_identifier(raw_identifier)
        h = key_hash(self.key, canonical)
        with self.transaction() as conn:
            row = conn.exec_driver_sql(
                f"SELECT token FROM patient_tokens WHERE key_hash = {self.ph}", (h,)
            ).first()
            conn.exec_driver_sql(f"DELETE FROM patient_tokens WHERE key_hash = {self.ph}", (h,))
            if not conn.exec_driver_sql(
                f"SELECT 1 FROM patient_forgotten_keys WHERE key_hash = {self.ph}", (h,)
            ).first():
                conn.exec_driver_sql(
                    f"INSERT INTO patient_forgotten_keys (key_hash) VALUES ({self.ph})", (h,)
                )
        return row[0] if row else None


def new_token() -> str:
    return "p_" + secrets.token_hex(16)
