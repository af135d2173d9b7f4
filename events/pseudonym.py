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
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Column, Engine, String
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from .db import schema_transaction, tables_missing
from .sql import Lock, driver_connection, locked_write, select_in, sql

if TYPE_CHECKING:
    from .store import EventStore, NewEvent

DEMO_KEY = "sipdash-demo-key-NOT-FOR-REAL-PATIENT-DATA"
KEY_ENV = "SIPDASH_PSEUDONYM_KEY"
MIN_KEY_CHARS = 32
"""The shortest key a database is bound to. The key's check value is in the log, so a short
key could be found by trying keys offline, and with it every NHS number's token by trying
the ~10⁹ numbers; :func:`generate_key` gives 43 characters (256 bits)."""
MIN_KEY_DISTINCT = 10
"""The fewest different characters a key may have: 32 of one character, or a short pattern
repeated, is as easy to guess as a short key (a generated key has about 30)."""


class _PseudonymModel(SQLModel, registry=registry()):
    """Base of the mapping tables: their own metadata, so that creating (or backing up) the
    mapping never touches the event log or the read models, and vice versa."""


class PatientToken(_PseudonymModel, table=True):
    """The erasable link: keyed hash of a patient identifier → the random token events carry."""

    __tablename__ = "patient_tokens"
    key_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    token: str = Field(sa_column=Column(String(40), nullable=False, unique=True))


class ForgottenKey(_PseudonymModel, table=True):
    """A patient who asked to be forgotten (keyed hash only): refused from then on."""

    __tablename__ = "patient_forgotten_keys"
    key_hash: str = Field(sa_column=Column(String(64), primary_key=True))


#: The mapping's tables, as SQLModel declares them (``metadata.create_all`` makes both).
metadata = _PseudonymModel.metadata
patient_tokens = metadata.tables[PatientToken.__tablename__]
forgotten_keys = metadata.tables[ForgottenKey.__tablename__]

# An NHS number as typed: 10 digits, at most one separator (space, no-break space, tab, -, .,
# /) between digits. Every such form is one patient (``nhs:<10 digits>``).
_NHS_FORM = re.compile(r"^\d(?:[ \u00a0\t./-]?\d){9}$")
_NOT_DIGIT = re.compile(r"\D")
# Before version 2 only spaces were taken as separators: other formatted forms were stored as
# local ids. These are the layouts looked up so that such a patient keeps their token.
LEGACY_SEPARATORS = ("-", ".", "/", "\u00a0", "\t")
KEY_CHECK_SUBJECT = "pseudonym-key"
KEY_CHECK_STREAM = f"governance-{KEY_CHECK_SUBJECT}"
_FORGOTTEN_NAMESPACE = uuid.UUID("0b5e6f0a-3c1d-4e7a-9f52-7d1c2a8e4b93")


class PseudonymError(ValueError):
    """A patient identifier that cannot be accepted; the message never contains it."""


def resolve_key(explicit: str | None = None) -> tuple[str, bool]:
    """The pseudonym key and whether it is the demo key (``SIPDASH_PSEUDONYM_KEY`` or demo)."""
    key = explicit or os.environ.get(KEY_ENV) or DEMO_KEY
    return key, key == DEMO_KEY


def nhs_number_digits(value: str) -> str | None:
    """The 10 digits if ``value`` is shaped like an NHS number (any one separator between
    digits: space, no-break space, tab, ``-``, ``.``, ``/``), else None."""
    value = value.strip()
    return _NOT_DIGIT.sub("", value) if _NHS_FORM.match(value) else None


def legacy_forms(canonical: str) -> list[str]:
    """The local-id forms an older version may have stored this NHS number under: the
    3-3-4 layout with each separator it did not recognise (empty for a local id)."""
    if not canonical.startswith("nhs:"):
        return []
    d = canonical[4:]
    return [f"local:{d[:3]}{s}{d[3:6]}{s}{d[6:]}" for s in LEGACY_SEPARATORS]


def key_check(key: str) -> str:
    """The key's check value: 128 bits of an HMAC of a fixed text. It tells keys apart and,
    for a random key of at least 128 bits, reveals nothing usable about it."""
    mac = hmac.new(key.encode("utf-8"), b"sipdash pseudonym key check/1", hashlib.sha256)
    return mac.hexdigest()[:32]


def generate_key() -> str:
    """A new random pseudonym key: 256 bits, URL-safe text."""
    return secrets.token_urlsafe(32)


class KeyMismatch(PermissionError):
    """The configured pseudonym key is not the one this database was built with."""


class WeakKey(KeyMismatch):
    """A key too short or too repetitive to bind a database to (the message never shows
    the key)."""


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
        # Whether tokens made by an older version may exist (then formatted NHS numbers are
        # also looked up in their old local-id forms); :meth:`check_key` narrows it.
        self.legacy = True
        self._legacy_of: dict[str, list[str]] = {}

    def ensure_schema(self) -> None:
        if tables_missing(self.engine, metadata.tables):
            with schema_transaction(self.engine) as conn:
                metadata.create_all(conn, checkfirst=True)

    # -- the key --

    def recorded_check(self, store: EventStore) -> tuple[str, bool] | None:
        """(check value, earlier tokens existed) recorded in the log, or None."""
        events = store.read_stream(KEY_CHECK_STREAM)
        if not events:
            return None
        first = events[0].payload
        return str(first["check"]), bool(first.get("earlier_tokens", False))

    def check_key(self, store: EventStore) -> bool:
        """Refuse a key other than the database's (raises :class:`KeyMismatch`); returns
        whether the database has a recorded check value at all. Viewing never calls this."""
        recorded = self.recorded_check(store)
        if recorded is None:
            return False
        check, earlier = recorded
        mine = key_check(self.key)
        if check != mine:
            raise KeyMismatch(
                "the pseudonym key in use is not the one this database was built with "
                f"(the database's key has check value {check[:8]}…, this one {mine[:8]}…). "
                f"Set {KEY_ENV} (environment or .streamlit/secrets.toml) to the database's key; "
                "nothing was written. Viewing works without it."
            )
        self.legacy = earlier
        return True

    def key_event(self, store: EventStore) -> NewEvent | None:
        """After :meth:`check_key`: the event recording this key's check value, to append with
        the first write that uses the key (in the same batch), or None if one is recorded.
        Its id derives from the check value, so two first imports with one key record it once."""
        from .store import NewEvent
        from .types import PseudonymKeyRecorded

        if self.check_key(store):
            return None  # bound already (a database bound to a short key keeps working)
        if self.key != DEMO_KEY:
            self._refuse_a_weak_key()
        self.ensure_schema()
        self.legacy = self.holds_tokens()
        check = key_check(self.key)
        event = PseudonymKeyRecorded(
            subject=KEY_CHECK_SUBJECT, check=check, earlier_tokens=self.legacy
        )
        return NewEvent(event, event_id=str(uuid.uuid5(_FORGOTTEN_NAMESPACE, f"key:{check}")))

    def _refuse_a_weak_key(self) -> None:
        """Raise :class:`WeakKey` for a key too short or too repetitive to bind a database
        to (the first import binds it for good; the message never shows the key)."""
        n, distinct = len(self.key), len(set(self.key))
        if n < MIN_KEY_CHARS:
            why = f"is {n} characters long; a key must have at least {MIN_KEY_CHARS} characters"
        elif distinct < MIN_KEY_DISTINCT:
            why = (
                f"uses only {distinct} different characters; a key must use at least "
                f"{MIN_KEY_DISTINCT}"
            )
        else:
            return
        raise WeakKey(
            f"the pseudonym key {why} (the first import binds the database to its key for good, "
            "and a weak key can be found by trying keys, and with it every patient's token). "
            f"Generate one with `sipdash key generate`, set it as {KEY_ENV} and import again; "
            "nothing was written."
        )

    # -- mapping --

    @contextmanager
    def transaction(self) -> Iterator:
        """A write transaction on the mapping (``events.sql.locked_write``, pseudonym lock):
        the lock is held from the first statement, since a read-then-write transaction that
        waited for another writer would otherwise fail on its stale snapshot (SQLite) or race
        it (PostgreSQL). On SQLite ``secure_delete`` is on for it, so that mapping bytes freed
        by a delete or moved by a page split are overwritten, not left in free space."""
        with locked_write(self.engine, Lock.PSEUDONYMS) as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                driver_connection(conn).execute("PRAGMA secure_delete=ON")
            try:
                yield conn
            finally:
                if sqlite:
                    driver_connection(conn).execute("PRAGMA secure_delete=OFF")

    def hashes_for(self, canonicals: list[str]) -> dict[str, str]:
        out = {c: key_hash(self.key, c) for c in canonicals}
        if self.legacy:
            for c, h in out.items():
                forms = legacy_forms(c)
                if forms:
                    self._legacy_of[h] = [key_hash(self.key, f) for f in forms]
        return out

    def _select(self, conn, table: str, columns: str, hashes: list[str]) -> list[tuple]:
        rows = select_in(
            conn, f"SELECT {columns} FROM {table} WHERE key_hash IN :hashes", "hashes", hashes
        )
        return [tuple(r) for r in rows]

    def tokens_for(self, hashes: list[str], conn, *, create: bool) -> dict[str, str]:
        """Tokens for keyed hashes, creating random new ones (inside the caller's transaction).

        A formatted NHS number an older version stored as a local id keeps that token."""
        found: dict[str, str] = dict(
            self._select(conn, "patient_tokens", "key_hash, token", hashes)
        )
        missing = [h for h in sorted(set(hashes)) if h not in found]
        legacy = {old: h for h in missing for old in self._legacy_of.get(h, [])}
        if legacy:
            for old, token in self._select(conn, "patient_tokens", "key_hash, token", list(legacy)):
                found.setdefault(legacy[old], token)
            missing = [h for h in missing if h not in found]
        if missing and create:
            new = [(h, new_token()) for h in missing]
            # Another import may be creating the same patient's token right now: keep whichever
            # commits first, and read back what was kept.
            conn.execute(
                sql(
                    "INSERT INTO patient_tokens (key_hash, token) VALUES (:key_hash, :token) "
                    "ON CONFLICT (key_hash) DO NOTHING"
                ),
                [{"key_hash": h, "token": t} for h, t in new],
            )
            found.update(self.tokens_for(missing, conn, create=False))
        return found

    def forgotten(self, hashes: list[str], conn) -> set[str]:
        """The hashes (of ``hashes``) whose patient asked to be forgotten, in any form."""
        legacy = {old: h for h in hashes for old in self._legacy_of.get(h, [])}
        rows = self._select(conn, "patient_forgotten_keys", "key_hash", [*hashes, *legacy])
        return {legacy.get(r[0], r[0]) for r in rows}

    def _all_hashes(self, raw_identifier: str) -> list[str]:
        canonical, _ = normalise_identifier(raw_identifier)
        forms = [canonical, *(legacy_forms(canonical) if self.legacy else [])]
        return [key_hash(self.key, f) for f in forms]

    def holds_tokens(self) -> bool:
        """Whether any mapping is held at all."""
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT 1 FROM patient_tokens LIMIT 1").first() is not None

    def tokens_of(self, raw_identifier: str) -> list[str]:
        """Every token held for the patient (normally one; two when an older version also
        issued one for a formatted form of the NHS number), current form first."""
        hashes = self._all_hashes(raw_identifier)
        with self.engine.connect() as conn:
            held = dict(self._select(conn, "patient_tokens", "key_hash, token", hashes))
        return [held[h] for h in hashes if h in held]

    def token_of(self, raw_identifier: str) -> str | None:
        """The patient's current token, or None if no mapping is held."""
        tokens = self.tokens_of(raw_identifier)
        return tokens[0] if tokens else None

    def forget(self, raw_identifier: str) -> list[str]:
        """Erase one patient's mapping in every form; returns the tokens now unlinkable."""
        hashes = self._all_hashes(raw_identifier)
        with self.transaction() as conn:
            held = dict(self._select(conn, "patient_tokens", "key_hash, token", hashes))
            if held:
                conn.execute(
                    sql("DELETE FROM patient_tokens WHERE key_hash = :key_hash"),
                    [{"key_hash": h} for h in held],
                )
            if not self._select(conn, "patient_forgotten_keys", "key_hash", hashes[:1]):
                conn.execute(
                    sql("INSERT INTO patient_forgotten_keys (key_hash) VALUES (:key_hash)"),
                    {"key_hash": hashes[0]},
                )
        return [held[h] for h in hashes if h in held]

    def erase_physically(self, *, attempts: int = 10, wait: float = 0.2) -> bool:
        """After :meth:`forget`: leave no copy of the erased rows in the database's files.

        SQLite: the delete ran with ``secure_delete`` on, so the main file's pages are
        overwritten once the WAL is checkpointed; ``wal_checkpoint(TRUNCATE)`` copies them in
        and empties the WAL, retried while readers hold old snapshots. PostgreSQL:
        ``VACUUM FULL`` rewrites the mapping table, so dead row versions do not stay in its
        pages. Returns False when the erasure is still pending (readers kept the WAL busy).
        WAL segments already archived, backups and replicas are out of reach (ADR 0003)."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                raw = driver_connection(conn)
                # The engine's busy timeout is a minute; a checkpoint blocked by a reader
                # should retry briefly instead, then report the erasure pending.
                timeout = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute("PRAGMA busy_timeout=100")
                try:
                    for attempt in range(attempts):
                        busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                        if not busy:
                            return True
                        if attempt + 1 < attempts:
                            time.sleep(wait)
                finally:
                    raw.execute(f"PRAGMA busy_timeout={int(timeout)}")
            return False
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM FULL patient_tokens")
        return True


def new_token() -> str:
    return "p_" + secrets.token_hex(16)
