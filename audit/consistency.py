"""Do the read models say what the log says? A fresh fold to compare them with.

``sipdash verify`` proves the log is the log (the hash chain, the head). Every figure, page and
pack is read from the read models, which are derived data in ordinary tables: a row edited
there changes a figure and leaves the chain intact. :func:`read_models_against_log` folds the
log again, from its first event, into a scratch SQLite file, and compares every read model
with the live one, table by table, as multisets of rows (an order-independent sum of row
digests, so memory stays flat in the log). Rows are never printed: they hold pseudonymous
patient references.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from events import EventStore

from . import readmodel as rm
from .projections import Projector

_MOD = 1 << 64


@dataclass(frozen=True)
class TableCheck:
    """One read model: rows live and in the fresh fold, and whether their contents agree."""

    table: str
    live_rows: int
    fold_rows: int
    same: bool


@dataclass(frozen=True)
class ReadModelCheck:
    """The outcome: the log position both sides hold, and each table's comparison."""

    position: int
    tables: tuple[TableCheck, ...]

    @property
    def ok(self) -> bool:
        return all(t.same for t in self.tables)

    @property
    def differing(self) -> list[TableCheck]:
        return [t for t in self.tables if not t.same]


class LogMoved(RuntimeError):
    """Events were appended while the check ran: the two sides hold different logs."""


def _digest(engine: Engine, table) -> tuple[int, int]:
    """(rows, sum of their digests mod 2**64): equal for equal multisets of rows. Values are
    compared as text, so SQLite and PostgreSQL read models compare alike."""
    total = count = 0
    with engine.connect() as conn:
        for row in conn.execute(table.select()).yield_per(20_000):
            text = "\x1f".join("" if v is None else str(v) for v in row)
            total += int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            count += 1
    return count, total % _MOD


def read_models_against_log(
    store: EventStore,
    projector: Projector,
    *,
    scratch_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReadModelCheck:
    """Fold the log afresh into a scratch SQLite file (in ``scratch_dir``, removed after) and
    compare each of the projector's read models with it. Raises :class:`LogMoved` when events
    were appended meanwhile (run it again)."""
    projector.catch_up()
    with tempfile.TemporaryDirectory(prefix="sipdash-verify-", dir=scratch_dir) as tmp:
        fresh = EventStore(f"sqlite:///{Path(tmp) / 'fold.db'}")
        try:
            fresh.create_schema()
            with store.snapshot() as conn, fresh.begin_write() as into:
                head = store._head_in(conn).position
                fresh.load_rows_in(into, store.chain_rows(conn))
            fold = Projector(fresh, projector.registry)
            fold.ensure_schema()
            fold.catch_up(progress=progress)
            if projector.catch_up() or projector.checkpoint() != head:
                raise LogMoved(
                    f"the log grew while it was checked (from {head} events): run the check "
                    "again when no one is writing"
                )
            tables = tuple(
                TableCheck(t.name, live[0], folded[0], live == folded)
                for t in projector.read_models.all_tables
                if t.name not in (rm.meta.name, rm.checkpoints.name)
                for live, folded in [(_digest(store.engine, t), _digest(fresh.engine, t))]
            )
        finally:
            fresh.dispose()
    return ReadModelCheck(head, tables)
