"""Projections: fold the log into the read models, incrementally and exactly once.

The projector reads events after its checkpoint in position order and applies them in batches;
each batch's read-model rows and the new checkpoint are written in one transaction, so a crash
mid-batch leaves the previous checkpoint and nothing of the batch. ``rebuild`` drops the read
models and folds the whole log again: the result is identical to incremental catch-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, inspect

from events import EventStore, StoreError
from events.db import lock_schema, tables_missing
from events.elements import ELEMENTS, Registry
from events.sql import Lock, locked_write
from events.types import EVENT_TYPES, event_class
from events.upcast import upcast

from . import readmodel as rm
from .fold_sql import NoteCensus, add_census, insert_new_rows, insert_rows
from .gc_pause import collector_paused

NAME = "sipdash"
_VERSION_ROW = "version"
_CHUNK = 500

_TEAM_FACT_TYPES = frozenset(
    {
        "MilestoneLogged",
        "BaselineFixed",
        "LimitsRecalculated",
        "TargetSet",
        "CommentaryAdded",
        "CommentaryWithdrawn",
        "ReviewSignedOff",
    }
)

#: Element-state events: type -> (documented, not applicable); the element is in the payload
#: for these, implied by the type for the registry's "documented" types.
#: Flags are held as 0 / 1, not False / True: the sqlite3 module adapts a bool through the
#: adapter protocol on every bind (not its exact-int fast path), which measured twice the cost of
#: an rm_case_notes insert (0.15 s vs 0.08 s for 38,000 rows). PostgreSQL reads "1"/"0" into its
#: boolean columns through COPY; the one UPDATE path turns them back into bools.
_STATE_OF_TYPE = {"ElementRetracted": (0, 0), "ElementNotApplicable": (0, 1)}
_CURRENT_VERSION = {name: event_class(name).schema_version for name in EVENT_TYPES}
SURVEY_TYPE = "PatientSurveyReturned"

#: The only types whose metadata the fold reads (``synthetic``, ``actor``).
_METADATA_OF = _TEAM_FACT_TYPES | {"TeamRegistered"}


class _Layout:
    """Where things sit in the fold's lists, derived from the registry (n enablers) and the
    rm_case_notes columns: never a positional constant that a fourth enabler would shift.

    A note being folded is its rm_case_notes row as a list, in the table's column order (a
    list, not a class: the fold makes one per consultation and is the projector's hot loop). A
    note loaded from the read model has only its id, team, period, clinician, IMD quintile and
    the per-enabler flags filled: it is written back as an UPDATE when it changed. An element
    is yes (its ``flag`` set), no (neither set) or not applicable (its ``na`` set: out of that
    element's denominator and the bundle's). ``init`` / ``init_na``: numerator /
    denominator-exclusion known at creation (enablers, then the bundle).

    The census sums of the fold are, per (day, team, period, clinician, IMD quintile):
    ``[numerator of each enabler…, of the bundle, notes, denominator of each enabler…, of the
    bundle]`` (``2n + 3`` values; a denominator is the notes less those where the element — any
    element, for the bundle — is not applicable). That is the reach tables' column order, so
    their rows are the sums as they are."""

    def __init__(self, registry: Registry, tables: rm.ReadModels) -> None:
        self.registry = registry
        self.names = names = registry.names
        self.measures = registry.measures
        self.n = n = len(names)
        self.bundle = registry.measures[-1]
        self.columns = columns = tuple(c.name for c in tables.tables["case_notes"].columns)
        at = columns.index
        self.team, self.period = at("team_id"), at("period")
        self.clinician, self.imd = at("clinician_id"), at("imd_quintile")
        self.flag, self.na = at(names[0]), at(f"na_{names[0]}")
        self.init, self.init_na = at(f"init_{names[0]}"), at(f"init_na_{names[0]}")
        self.recorded = at("recorded_at")
        #: None in a note loaded from the read model, its position in one created by this batch
        self.position = at("position")
        for i, name in enumerate(names):  # the per-enabler columns are consecutive, in order
            assert at(name) == self.flag + i and at(f"na_{name}") == self.na + i
        for i, m in enumerate(registry.measures):
            assert at(f"init_{m}") == self.init + i and at(f"init_na_{m}") == self.init_na + i
        self.note_columns = ", ".join(columns)
        #: census sums: numerator of the bundle, notes, first denominator, bundle denominator
        self.s_all, self.s_notes, self.s_den, self.s_den_all = n, n + 1, n + 2, 2 * n + 2
        self.sums = 2 * n + 3
        self.index_of = dict(registry.index_of)
        self.index_of_type = {t: registry.index_of[e] for t, e in registry.element_of_type.items()}
        #: a new note's per-enabler flags and its creation-time counts (enablers + bundle)
        self.no_flags = (0,) * n
        self.zero_counts = (0,) * (n + 1)
        #: where the census of a note created by a batch sits in its row (its creation-time
        #: numerators and not-applicable counts, enablers + bundle)
        self.note_census = NoteCensus(
            self.recorded, self.team, self.period, self.clinician, self.imd,
            self.init, self.init_na, n + 1,
        )  # fmt: skip


@dataclass
class _Batch:
    """What one batch of events adds to the read models, gathered before any write."""

    teams: list[tuple] = field(default_factory=list)
    clinicians: list[tuple] = field(default_factory=list)
    trained: list[tuple] = field(default_factory=list)
    training: list[tuple] = field(default_factory=list)
    team_facts: list[tuple] = field(default_factory=list)
    element_facts: list[tuple] = field(default_factory=list)
    #: census changes summed per (day, team, period, clinician, IMD quintile), laid out as
    #: :class:`_Layout` says
    census: dict[tuple[str, str, str, str, int], list[int]] = field(default_factory=dict)
    rounds: list[tuple] = field(default_factory=list)
    closed: list[tuple] = field(default_factory=list)
    reviews: list[tuple] = field(default_factory=list)
    forgotten: list[tuple] = field(default_factory=list)
    surveys: list[tuple] = field(default_factory=list)
    orphans: list[tuple] = field(default_factory=list)
    #: first and last position per recorded day
    days: dict[str, tuple[int, int]] = field(default_factory=dict)
    resolved_orphans: list[tuple] = field(default_factory=list)


_NO_CHANGE = (0, 0, 0, 0)


def _change_function(lay: _Layout) -> Callable[[dict, list, int, int, int, str], tuple]:
    """``change(census, note, index, documented, na, rec)``: apply one element's new state to a
    note; returns the change to the numerators (element, bundle) and to the notes excluded as
    not applicable (element, bundle). The layout's offsets are bound once, as closure cells."""
    flag, flag_end = lay.flag, lay.flag + lay.n
    na0, na_end = lay.na, lay.na + lay.n
    team, period, clinician, imd = lay.team, lay.period, lay.clinician, lay.imd
    s_all, s_den, s_den_all, width = lay.s_all, lay.s_den, lay.s_den_all, lay.sums

    def change(
        census: dict, note: list, index: int, documented: int, na: int, rec: str
    ) -> tuple[int, int, int, int]:
        old_doc = note[flag + index]
        old_na = note[na0 + index]
        if old_doc == documented and old_na == na:
            return _NO_CHANGE
        was_all = False not in note[flag:flag_end]  # every enabler documented
        was_any_na = True in note[na0:na_end]
        note[flag + index] = documented
        note[na0 + index] = na
        d_el = int(documented) - int(old_doc)
        x_el = int(na) - int(old_na)
        d_all = int(False not in note[flag:flag_end]) - int(was_all)
        x_all = int(True in note[na0:na_end]) - int(was_any_na)
        key = (rec[:10], note[team], note[period], note[clinician], note[imd])
        sums = census.get(key)
        if sums is None:
            sums = census[key] = [0] * width
        sums[index] += d_el
        sums[s_all] += d_all
        sums[s_den + index] -= x_el
        sums[s_den_all] -= x_all
        return d_el, d_all, x_el, x_all

    return change


def _settle_function(lay: _Layout) -> Callable[[list, int, int, int], None]:
    """``settle(note, index, documented, na)``: apply one element's new state to a note created
    in this batch, at the note's own recording instant (recorded with it, or before it: late
    documentation). The change joins the note's creation-time counts and nothing else: the
    census learns the note once, from those counts, when the batch is written
    (:meth:`Projector._write_census`), so it needs no census bookkeeping here — the path of
    about nine element events in ten (issue #19)."""
    flag, flag_end = lay.flag, lay.flag + lay.n
    na0, na_end = lay.na, lay.na + lay.n
    init, init_all = lay.init, lay.init + lay.n
    init_na, init_na_all = lay.init_na, lay.init_na + lay.n

    def settle(note: list, index: int, documented: int, na: int) -> None:
        old_doc = note[flag + index]
        old_na = note[na0 + index]
        if old_doc == documented and old_na == na:
            return
        was_all = False not in note[flag:flag_end]
        was_any_na = True in note[na0:na_end]
        note[flag + index] = documented
        note[na0 + index] = na
        note[init + index] += documented - old_doc
        note[init_all] += (False not in note[flag:flag_end]) - was_all
        if na != old_na:
            note[init_na + index] += na - old_na
            note[init_na_all] += (True in note[na0:na_end]) - was_any_na

    return settle


class _Fold:
    """The state of folding one batch, shared by the per-type handlers."""

    __slots__ = (
        "b",
        "census",
        "change",
        "changed",
        "conn",
        "created",
        "lay",
        "no",
        "notes",
        "pending",
        "position",
        "projector",
        "recorded",
        "rounds",
        "settle",
        "survey_row",
        "zeros",
    )  # fmt: skip

    def __init__(self, projector: Projector, conn: Connection, pending: dict) -> None:
        self.b = _Batch()
        self.census = self.b.census
        self.notes: dict[str, list] = {}
        self.rounds: dict[str, tuple[str, str]] = {}
        self.pending = pending
        self.created: list[list] = []  # new notes, in log order: inserted with final flags
        self.changed: set[str] = set()  # notes whose flags moved
        self.lay = projector.layout
        self.change = projector._change
        self.settle = projector._settle
        self.survey_row = projector._survey_row
        self.projector = projector
        self.conn = conn
        # the layout's constants the per-event handlers need, one attribute away
        self.no, self.zeros = self.lay.no_flags, self.lay.zero_counts
        self.recorded, self.position = self.lay.recorded, self.lay.position


# --- handlers: one function per event type, dispatched from a table (see _handlers) ----------
# Each takes (fold, position, type, payload, metadata JSON, recorded_at).


def _on_consultation_held(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    cid = data["consultation_id"]
    notes = f.notes
    if cid in notes:
        return  # a second ConsultationHeld for a known note changes nothing
    no, zeros = f.no, f.zeros
    occurred = data["occurred_on"]
    note = notes[cid] = [
        pos, cid, data["team_id"], data["clinician_id"], data["patient_ref"], occurred[:7],
        occurred, data["contact"], *no, rec, *zeros, data.get("imd_quintile") or 0, *no, *zeros,
    ]  # fmt: skip
    f.created.append(note)  # counted in the census once, from its final creation-time counts
    early = f.pending.pop(cid, None)
    if early:
        settle, index_of = f.settle, f.lay.index_of
        for element, documented, na in early:
            settle(note, index_of[element], documented, na)
        f.b.resolved_orphans.append((cid,))


def _element(
    f: _Fold, pos: int, data: dict, rec: str, element: str, index: int, documented: int, na: int
) -> None:
    cid = data["consultation_id"]
    note = f.notes.get(cid)
    if note is None:  # documented before the consultation itself was recorded
        f.pending.setdefault(cid, []).append((element, documented, na))
        f.b.orphans.append((pos, cid))
        team = period = None
        delta = _NO_CHANGE
    else:
        lay = f.lay
        if note[lay.recorded] == rec and note[lay.position] is not None:
            f.settle(note, index, documented, na)  # created by this batch, in this instant
            return
        team, period = note[lay.team], note[lay.period]
        delta = f.change(f.census, note, index, documented, na, rec)
        if delta is not _NO_CHANGE:
            f.changed.add(cid)
        if note[lay.recorded] == rec:
            # recorded in the same instant as its note (an import or a form records a note
            # and its elements together): every read that sees the note sees this change, so
            # it joins the note's creation-time counts and needs no rm_element_facts row —
            # about nine element facts in ten (issue #19: fewer rows per consultation). Here
            # the note was written by an earlier batch (the instant straddles two batches):
            # its census row is already counted, so the change went through ``change`` too.
            if delta is not _NO_CHANGE:
                d_el, d_all, x_el, x_all = delta
                n = lay.n
                note[lay.init + index] += d_el
                note[lay.init + n] += d_all
                note[lay.init_na + index] += x_el
                note[lay.init_na + n] += x_all
            return
    f.b.element_facts.append(
        (
            pos,
            cid,
            element,
            documented,
            data.get("documented_on"),
            rec,
            team,
            period,
            delta[0],
            delta[1],
            na,
            -delta[2],
            -delta[3],
        )
    )


def _on_documented(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    """One of the registry's "documented" types (``AgendaSet`` …): its enabler is yes."""
    lay = f.lay
    index = lay.index_of_type[typ]
    note = f.notes.get(data["consultation_id"])
    if note is not None and note[f.recorded] == rec and note[f.position] is not None:
        # the common case: recorded with its new note (see _settle_function), inlined
        flag = lay.flag + index
        if note[flag] or note[lay.na + index]:
            f.settle(note, index, 1, 0)
            return
        note[flag] = 1
        note[lay.init + index] += 1
        if False not in note[lay.flag : lay.flag + lay.n]:
            note[lay.init + lay.n] += 1
        return
    _element(f, pos, data, rec, lay.names[index], index, 1, 0)


def _on_element_state(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    """``ElementRetracted`` (no) or ``ElementNotApplicable``: the element is in the payload."""
    element = data["element"]
    index = f.lay.index_of.get(element)
    if index is None:  # an enabler this registry does not audit: no read model of it
        return
    documented, na = _STATE_OF_TYPE[typ]
    _element(f, pos, data, rec, element, index, documented, na)


def _on_team_registered(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    synthetic = bool(orjson.loads(meta).get("synthetic", False))
    f.b.teams.append(
        (data["team_id"], data["name"], data["site"], data["service"], pos, rec, synthetic)
    )


def _on_clinician_registered(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    f.b.clinicians.append(
        (data["clinician_id"], data["team_id"], data["role"], data.get("display_name"), pos, rec)
    )


def _on_clinician_trained(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    f.b.trained.append((data["on"], data["clinician_id"]))
    f.b.training.append(
        (
            data["clinician_id"],
            data.get("programme", "ADP"),
            data["team_id"],
            data["on"],
            pos,
            rec,
        )
    )


def _on_team_fact(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    actor = orjson.loads(meta).get("actor")
    f.b.team_facts.append((pos, data["team_id"], typ, payload_of(data), actor, rec))


def _on_round_opened(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    f.rounds[data["round_id"]] = (data["team_id"], data["period"])
    f.b.rounds.append(
        (
            data["round_id"],
            data["team_id"],
            data["period"],
            data["method"],
            data["sample_size"],
            data["sampling_seed"],
            json.dumps(data["sampled"]),
            str(data.get("second_review_share", 0.1)),
            pos,
            rec,
        )
    )


def _on_round_closed(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    f.b.closed.append((rec, data["round_id"]))


def _on_case_note_reviewed(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    rid = data["round_id"]
    rounds = f.rounds
    if rid not in rounds:
        rounds[rid] = f.projector._round_team_period(f.conn, rid)
    team_id, period = rounds[rid]
    f.b.reviews.append(
        (
            pos,
            rid,
            team_id,
            period,
            data["consultation_id"],
            data["reviewer_id"],
            bool(data.get("second_review", False)),
            *[data[e] for e in f.lay.names],
            rec,
        )
    )


def _on_patient_forgotten(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    f.b.forgotten.append((data["patient_ref"], pos, rec))


def _on_survey_returned(f: _Fold, pos: int, typ: str, data: dict, meta: str, rec: str) -> None:
    f.b.surveys.append(f.survey_row(pos, data, rec))


Handler = Callable[[_Fold, int, str, dict, str, str], None]


def _handlers(registry: Registry) -> dict[str, Handler]:
    """Event type -> its handler. Types not here (exports, key checks, settings …) change no
    read model of this projector."""
    table: dict[str, Handler] = {
        "ConsultationHeld": _on_consultation_held,
        "ElementRetracted": _on_element_state,
        "ElementNotApplicable": _on_element_state,
        "TeamRegistered": _on_team_registered,
        "ClinicianRegistered": _on_clinician_registered,
        "ClinicianTrained": _on_clinician_trained,
        "AuditRoundOpened": _on_round_opened,
        "AuditRoundClosed": _on_round_closed,
        "CaseNoteReviewed": _on_case_note_reviewed,
        "PatientForgotten": _on_patient_forgotten,
        "PatientSurveyReturned": _on_survey_returned,
    }
    table.update(dict.fromkeys(_TEAM_FACT_TYPES, _on_team_fact))
    table.update(dict.fromkeys(registry.event_types, _on_documented))
    return table


class ReadModelsAhead(StoreError):
    """The projector's checkpoint is above the log's head (a truncated log): it refuses to fold."""


class Projector:
    """Keeps the read models in step with the log."""

    def __init__(self, store: EventStore, registry: Registry = ELEMENTS) -> None:
        self.store = store
        self.engine = store.engine
        self.sqlite = store.sqlite
        from events.sql import mark  # the one place that knows the driver's paramstyle

        self.ph = mark(self.engine)  # raw DBAPI SQL on the projector's measured hot paths
        self.registry = registry
        self.read_models = rm.read_models(registry)
        self.layout = _Layout(registry, self.read_models)
        self._change = _change_function(self.layout)
        self._settle = _settle_function(self.layout)
        self._survey_row = survey_row_function(registry.names)
        #: SQLite folds the current version's surveys itself (one INSERT … SELECT
        #: json_extract): (type, schema version) of the events it folds, None on PostgreSQL
        self._surveys_in_sql: tuple[str, int] | None = (
            (SURVEY_TYPE, _CURRENT_VERSION[SURVEY_TYPE]) if self.sqlite else None
        )
        self._survey_sql = survey_fold_sql(registry.names)
        self._handlers = _handlers(registry)
        self._table_names = self.read_models.table_names

    # -- schema and checkpoint --

    def ensure_schema(self) -> None:
        """Create the read models; re-create them (empty, to be folded again by the next
        catch-up) when they were laid out by another version of sipdash."""
        self.store.create_schema()
        if not tables_missing(self.engine, self._table_names):
            with self.engine.connect() as conn:
                if self._version_in(conn) == self.read_models.version:
                    return
        with self._locked() as conn:
            self._lay_out(conn)

    def _lay_out(self, conn: Connection) -> None:
        """Under the projection lock: every read model present in this version's layout
        (laid out by another version: dropped first; missing tables created; stamped)."""
        lock_schema(conn)
        version = self._version_in(conn)
        if version == self.read_models.version and not tables_missing(conn, self._table_names):
            return
        if version != self.read_models.version:
            self.read_models.metadata.drop_all(conn, checkfirst=True)
            for table in rm.RETIRED:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        self.read_models.metadata.create_all(conn, checkfirst=True)
        self._stamp(conn)

    def _version_in(self, conn: Connection) -> int | None:
        if not inspect(conn).has_table("rm_meta"):
            return None
        row = conn.exec_driver_sql(
            f"SELECT value FROM rm_meta WHERE name = {self.ph}", (_VERSION_ROW,)
        ).first()
        return int(row[0]) if row else None

    def _stamp(self, conn: Connection) -> None:
        ph = self.ph
        conn.exec_driver_sql(f"DELETE FROM rm_meta WHERE name = {ph}", (_VERSION_ROW,))
        conn.exec_driver_sql(
            f"INSERT INTO rm_meta (name, value) VALUES ({ph}, {ph})",
            (_VERSION_ROW, self.read_models.version),
        )

    def checkpoint(self) -> int:
        with self.engine.connect() as conn:
            return self._checkpoint_in(conn)

    def _checkpoint_in(self, conn: Connection) -> int:
        row = conn.exec_driver_sql(
            f"SELECT position FROM rm_checkpoints WHERE name = {self.ph}", (NAME,)
        ).first()
        return int(row[0]) if row else 0

    def lag(self) -> int:
        """Events in the log not yet folded into the read models."""
        return self.store.head().position - self.checkpoint()

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """The projection's write transaction: serialised with other projectors, and its
        commits do not wait for fsync (the read models are re-derived from the log)."""
        with locked_write(self.engine, Lock.PROJECTION, durable=False) as conn:
            yield conn

    # -- folding --

    def catch_up(
        self,
        *,
        batch_size: int = 50_000,
        max_batches: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Fold every event after the checkpoint; returns how many were applied."""
        applied = batches = 0
        while max_batches is None or batches < max_batches:
            with self._locked() as conn:
                after = self._checkpoint_in(conn)
                rows = self.store.rows_after(
                    conn, after, batch_size, _METADATA_OF, self._surveys_in_sql
                )
                if not rows:
                    self._refuse_if_ahead(conn, after)
                    break
                # the fold allocates hundreds of thousands of small containers and frees them
                # at the end of the batch; none form cycles, so the collector's passes are cost
                with collector_paused():
                    self._apply(conn, rows)
                self._set_checkpoint(conn, after, int(rows[-1][0]))
            applied += len(rows)
            batches += 1
            if progress:
                progress(len(rows))
            if len(rows) < batch_size:
                break
        return applied

    def _refuse_if_ahead(self, conn: Connection, checkpoint: int) -> None:
        """A checkpoint above the log's head means rows were cut off the end of the log after
        they were folded: the read models show facts the log no longer holds. Folding on would
        hide that, so refuse and say what to do."""
        if not checkpoint:
            return
        head = self.store._head_in(conn).position
        if checkpoint > head:
            raise ReadModelsAhead(
                f"the read models were built from {checkpoint} events but the log now holds "
                f"only {head}: events were removed from the end of the log. Check it against "
                "a published head with `sipdash verify --expect-head HASH`, restore from a "
                "backup if it was truncated, then run `sipdash rebuild`"
            )

    def rebuild(
        self, *, progress: Callable[[int], None] | None = None, batch_size: int = 50_000
    ) -> int:
        """Empty every read model and fold the whole log again."""
        self.empty()
        return self.catch_up(progress=progress, batch_size=batch_size)

    def empty(self) -> None:
        """Every read model in this version's layout, empty, the checkpoint at 0: what a
        catch-up from the start of the log begins from (a rebuild is this, then a catch-up)."""
        self.store.create_schema()
        # Empty (or, laid out by another version, drop and re-create) in one transaction under
        # the projection lock, so a catch-up in another process waits and then starts from the
        # empty read models, never a half-gone schema.
        with self._locked() as conn:
            self._lay_out(conn)
            self._empty(conn)

    def _empty(self, conn: Connection) -> None:
        """Every read-model row gone, the tables kept (no DDL: a small log rebuilds in
        milliseconds; SQLite's unqualified DELETE and PostgreSQL's TRUNCATE free whole tables)."""
        names = [name for name in self._table_names if name != rm.meta.name]
        if self.sqlite:
            for name in names:
                conn.exec_driver_sql(f"DELETE FROM {name}")
        else:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(names)}")

    def _set_checkpoint(self, conn: Connection, old: int, new: int) -> None:
        ph = self.ph
        if (
            old == 0
            and not conn.exec_driver_sql(
                f"SELECT 1 FROM rm_checkpoints WHERE name = {ph}", (NAME,)
            ).first()
        ):
            conn.exec_driver_sql(
                f"INSERT INTO rm_checkpoints (name, position) VALUES ({ph}, {ph})", (NAME, new)
            )
        else:
            conn.exec_driver_sql(
                f"UPDATE rm_checkpoints SET position = {ph} WHERE name = {ph}", (new, NAME)
            )

    def _apply(self, conn: Connection, rows: list[tuple]) -> None:
        """Decode a batch, fold each event through its type's handler, write the result."""
        decoded: list[dict | None] = []
        touched: set[str] = set()
        held_here: set[str] = set()
        loads = orjson.loads
        current = _CURRENT_VERSION
        noted = self.layout.index_of_type.keys() | _STATE_OF_TYPE.keys()
        spans: list[tuple[str, int, int]] = []  # (day, first, last): runs of one day
        day = None
        first = last = 0
        # surveys at the current schema version are folded by SQLite itself (see
        # _fold_surveys_in_sql): not decoded here, their rows' data left None
        in_sql = self._surveys_in_sql
        sql_surveys = 0
        for pos, typ, sver, payload, _meta, rec in rows:
            if not rec.startswith(day or "-"):
                if day is not None:
                    spans.append((day, first, last))
                day, first = rec[:10], pos
            last = pos
            if in_sql is not None and typ == in_sql[0] and sver == in_sql[1]:
                decoded.append(None)
                sql_surveys += 1
                continue
            data = loads(payload)
            if sver != current.get(typ, sver):
                data = upcast(typ, int(sver), data)
            decoded.append(data)
            if typ == "ConsultationHeld":
                held_here.add(data["consultation_id"])
            elif typ in noted:
                touched.add(data["consultation_id"])
        if day is not None:
            spans.append((day, first, last))
        f = _Fold(self, conn, self._load_orphans(conn, held_here) if held_here else {})
        b = f.b
        for d, lo, hi in spans:
            known = b.days.get(d)
            b.days[d] = (min(lo, known[0]), max(hi, known[1])) if known else (lo, hi)
        notes = f.notes
        self._load_notes(conn, touched - held_here, notes)
        loaded = set(notes)
        handlers = self._handlers
        for (pos, typ, _sver, _payload, meta, rec), data in zip(rows, decoded, strict=True):
            handler = handlers.get(typ)
            if handler is not None and data is not None:
                handler(f, pos, typ, data, meta, rec)
        if sql_surveys and b.surveys:
            # an older-version survey (upcast in Python) shares the batch: fold every survey
            # of the batch in Python, in log order, so the first recorded still wins
            left_out = [row for row, data in zip(rows, decoded, strict=True) if data is None]
            payloads = self.store.payloads_at(conn, [row[0] for row in left_out])
            for pos, _typ, _sver, _payload, _meta, rec in left_out:
                b.surveys.append(f.survey_row(pos, loads(payloads[pos]), rec))
            b.surveys.sort()
            sql_surveys = 0
        self._write(conn, b, f.created, [notes[cid] for cid in f.changed & loaded])
        if sql_surveys and in_sql is not None:
            self._fold_surveys_in_sql(conn, int(rows[0][0]), int(rows[-1][0]), in_sql)

    def _fold_surveys_in_sql(
        self, conn: Connection, first: int, last: int, kind: tuple[str, int]
    ) -> None:
        """The batch's ``PatientSurveyReturned`` events at the current schema version, folded
        into rm_surveys by SQLite from the log itself: a survey is one row per event and no
        other state, so decoding it in Python and binding its ten values back cost twice
        what ``json_extract`` does (issue #17: survey projection at the consultations'
        ratio). Log order and ``ON CONFLICT DO NOTHING`` keep the first recorded survey of a
        (team, survey_id), as the Python fold does. ``kind``: (type, schema version), the
        events :meth:`EventStore.rows_after` left the payload out of."""
        conn.exec_driver_sql(self._survey_sql, (first, last, *kind))

    def _round_team_period(self, conn: Connection, round_id: str) -> tuple[str, str]:
        row = conn.exec_driver_sql(
            f"SELECT team_id, period FROM rm_audit_rounds WHERE round_id = {self.ph}", (round_id,)
        ).first()
        if row is None:  # a review for an unknown round: keep it, unattributed
            return ("", "")
        return (row[0], row[1])

    def _load_notes(self, conn: Connection, ids: set[str], notes: dict[str, list]) -> None:
        lay = self.layout
        n, width = lay.n, len(lay.columns)
        counts = n + 1
        select = ", ".join(
            ["consultation_id", "team_id", "period", "clinician_id", "imd_quintile"]
            + list(lay.names)
            + [f"na_{e}" for e in lay.names]
            + [f"init_{m}" for m in lay.measures]
            + [f"init_na_{m}" for m in lay.measures]
            + ["recorded_at"]
        )
        ordered = sorted(ids)
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            marks = ", ".join([self.ph] * len(chunk))
            for row in conn.exec_driver_sql(
                f"SELECT {select} FROM rm_case_notes WHERE consultation_id IN ({marks})",
                tuple(chunk),
            ):
                cid, team, period, clinician, imd = row[:5]
                note: list[Any] = [None] * width
                note[1], note[lay.team], note[lay.period] = cid, team, period
                note[lay.clinician], note[lay.imd] = clinician, imd
                note[lay.flag : lay.flag + n] = [int(v) for v in row[5 : 5 + n]]
                note[lay.na : lay.na + n] = [int(v) for v in row[5 + n : 5 + 2 * n]]
                inits = 5 + 2 * n
                note[lay.init : lay.init + counts] = row[inits : inits + counts]
                note[lay.init_na : lay.init_na + counts] = row[inits + counts : inits + 2 * counts]
                note[lay.recorded] = row[-1]
                notes[cid] = note

    def _load_orphans(
        self, conn: Connection, held: set[str]
    ) -> dict[str, list[tuple[str, int, int]]]:
        """Element facts recorded before their consultation, for consultations now held."""
        pending: dict[str, list[tuple[str, int, int]]] = {}
        if not conn.exec_driver_sql("SELECT 1 FROM rm_orphan_elements LIMIT 1").first():
            return pending
        ordered = sorted(held)
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            marks = ", ".join([self.ph] * len(chunk))
            for cid, element, documented, na in conn.exec_driver_sql(
                "SELECT f.consultation_id, f.element, f.documented, f.not_applicable "
                "FROM rm_element_facts f "
                "JOIN rm_orphan_elements o ON o.position = f.position "
                f"WHERE o.consultation_id IN ({marks}) ORDER BY f.position",
                tuple(chunk),
            ):
                pending.setdefault(cid, []).append((element, int(documented), int(na)))
        return pending

    def _insert(
        self, conn: Connection, table: str, columns: str, rows: Sequence[Sequence[Any]]
    ) -> None:
        insert_rows(conn, self.sqlite, table, columns, rows)

    def _write(self, conn: Connection, b: _Batch, created: list[list], updated: list[list]) -> None:
        ph = self.ph
        ins = self._insert
        if b.teams:  # one executemany, rows in log order: a later registration updates
            conn.exec_driver_sql(
                "INSERT INTO rm_teams (team_id, name, site, service, position, recorded_at, "
                f"synthetic) VALUES ({', '.join([ph] * 7)}) ON CONFLICT (team_id) DO UPDATE SET "
                "name = EXCLUDED.name, site = EXCLUDED.site, service = EXCLUDED.service",
                b.teams,
            )
        if b.clinicians:
            conn.exec_driver_sql(
                "INSERT INTO rm_clinicians (clinician_id, team_id, role, display_name, position, "
                f"recorded_at) VALUES ({', '.join([ph] * 6)}) ON CONFLICT (clinician_id) DO UPDATE "
                "SET team_id = EXCLUDED.team_id, role = EXCLUDED.role",
                b.clinicians,
            )
        if b.trained:
            conn.exec_driver_sql(
                f"UPDATE rm_clinicians SET trained_on = {ph} WHERE clinician_id = {ph}", b.trained
            )
        if b.training:
            conn.exec_driver_sql(
                "INSERT INTO rm_training (clinician_id, programme, team_id, trained_on, position, "
                f"recorded_at) VALUES ({', '.join([ph] * 6)}) ON CONFLICT DO NOTHING",
                b.training,
            )
        ins(
            conn,
            "rm_team_facts",
            "position, team_id, type, payload, actor, recorded_at",
            b.team_facts,
        )
        lay = self.layout
        if updated:
            flags, flags_end = lay.flag, lay.flag + lay.n
            na, na_end = lay.na, lay.na + lay.n
            inits, inits_end = lay.init, lay.init + lay.n + 1
            init_na, init_na_end = lay.init_na, lay.init_na + lay.n + 1
            names = (
                *lay.names,
                *(f"na_{e}" for e in lay.names),
                *(f"init_{m}" for m in lay.measures),
                *(f"init_na_{m}" for m in lay.measures),
            )
            sets = ", ".join(f"{c} = {ph}" for c in names)
            as_flag = int if self.sqlite else bool  # psycopg binds an int as a number
            conn.exec_driver_sql(
                f"UPDATE rm_case_notes SET {sets} WHERE consultation_id = {ph}",
                [
                    (
                        *map(as_flag, n[flags:flags_end]),
                        *map(as_flag, n[na:na_end]),
                        *n[inits:inits_end],
                        *n[init_na:init_na_end],
                        n[1],
                    )
                    for n in updated
                ],
            )
        ins(conn, "rm_case_notes", lay.note_columns, created)
        ins(
            conn,
            "rm_element_facts",
            "position, consultation_id, element, documented, documented_on, recorded_at, "
            f"team_id, period, d_element, d_{lay.bundle}, not_applicable, d_den_element, "
            f"d_den_{lay.bundle}",
            b.element_facts,
        )
        self._write_census(conn, created, b.census)
        if b.days:
            conn.exec_driver_sql(
                "INSERT INTO rm_days (day, first_position, last_position) "
                f"VALUES ({ph}, {ph}, {ph}) ON CONFLICT (day) DO UPDATE SET "
                "first_position = CASE WHEN EXCLUDED.first_position < rm_days.first_position "
                "THEN EXCLUDED.first_position ELSE rm_days.first_position END, "
                "last_position = CASE WHEN EXCLUDED.last_position > rm_days.last_position "
                "THEN EXCLUDED.last_position ELSE rm_days.last_position END",
                [(d, lo, hi) for d, (lo, hi) in b.days.items()],
            )
        ins(conn, "rm_orphan_elements", "position, consultation_id", b.orphans)
        if b.resolved_orphans:
            conn.exec_driver_sql(
                f"DELETE FROM rm_orphan_elements WHERE consultation_id = {ph}",
                sorted(set(b.resolved_orphans)),
            )
        ins(
            conn,
            "rm_audit_rounds",
            "round_id, team_id, period, method, sample_size, sampling_seed, sampled, "
            "second_review_share, opened_position, opened_at",
            b.rounds,
        )
        if b.closed:
            conn.exec_driver_sql(
                f"UPDATE rm_audit_rounds SET closed_at = {ph} WHERE round_id = {ph} "
                "AND closed_at IS NULL",
                b.closed,
            )
        insert_new_rows(
            conn,
            self.sqlite,
            "rm_reviews",
            "position, round_id, team_id, period, consultation_id, reviewer_id, second_review, "
            f"{', '.join(lay.names)}, recorded_at",
            b.reviews,
        )
        if b.forgotten:
            conn.exec_driver_sql(
                "INSERT INTO rm_forgotten (patient_ref, position, recorded_at) "
                f"VALUES ({ph}, {ph}, {ph}) ON CONFLICT DO NOTHING",
                b.forgotten,
            )
        insert_new_rows(conn, self.sqlite, "rm_surveys", survey_columns(lay.names), b.surveys)

    def _write_census(self, conn: Connection, created: list[list], census: dict) -> None:
        """The census (the reach tables) learns each note created by this batch once, from its
        final creation-time counts, plus the fold's later changes: summed in one pass."""
        add_census(
            conn, self.sqlite, created, census, self.layout.note_census, self.registry.measures
        )


def survey_columns(names: tuple[str, ...] = ELEMENTS.names) -> str:
    """The rm_surveys columns :func:`survey_row_function`'s rows fill, for a registry's enabler names."""
    return ", ".join(
        [
            "position",
            "team_id",
            "survey_id",
            "period",
            "returned_on",
            *names,
            "confidence",
            "recorded_at",
        ]
    )


def survey_row_function(names: tuple[str, ...]) -> Callable[[int, dict, str], tuple]:
    """``row(position, payload, recorded_at)``: the rm_surveys row of one
    ``PatientSurveyReturned`` (period = month of return), the registry's answers picked by one
    ``itemgetter`` bound once (a survey is one row per event: this is its whole fold)."""
    pick = itemgetter(*names)
    many = len(names) > 1

    def row(pos: int, data: dict, rec: str) -> tuple:
        returned = data["returned_on"]
        answers = pick(data)
        return (
            pos,
            data["team_id"],
            data["survey_id"],
            returned[:7],
            returned,
            *(answers if many else (answers,)),
            data.get("confidence"),
            rec,
        )

    return row


def survey_fold_sql(names: tuple[str, ...]) -> str:
    """SQLite's ``INSERT … SELECT`` of the rm_surveys rows of the events between two positions
    (inclusive) of one type and schema version: the same row as :func:`survey_row_function`
    builds (period = the first seven characters of ``returned_on``; no confidence -> NULL)."""
    for name in names:  # interpolated into JSON paths: only plain identifiers
        if not name.isidentifier():
            raise ValueError(f"enabler name {name!r} is not an identifier")

    def field(name: str) -> str:
        return f"json_extract(payload, '$.{name}')"

    values = [
        "position",
        field("team_id"),
        field("survey_id"),
        f"substr({field('returned_on')}, 1, 7)",
        field("returned_on"),
        *(field(n) for n in names),
        field("confidence"),
        "recorded_at",
    ]
    return (
        f"INSERT INTO rm_surveys ({survey_columns(names)}) SELECT {', '.join(values)} "
        "FROM events WHERE position >= ? AND position <= ? AND type = ? AND schema_version = ? "
        "ORDER BY position ON CONFLICT DO NOTHING"
    )


def payload_of(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
