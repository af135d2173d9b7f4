"""Projections: fold the log into the read models, incrementally and exactly once.

The projector reads events after its checkpoint in position order and applies them in batches;
each batch's read-model rows and the new checkpoint are written in one transaction, so a crash
mid-batch leaves the previous checkpoint and nothing of the batch. ``rebuild`` drops the read
models and folds the whole log again: the result is identical to incremental catch-up.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Connection, inspect

from events import EventStore, StoreError
from events.db import lock_schema, tables_missing
from events.types import ELEMENT_OF_TYPE, ELEMENTS, EVENT_TYPES, event_class
from events.upcast import upcast

from . import readmodel as rm
from .fold_sql import add_census, insert_rows

NAME = "sipdash"
_VERSION_ROW = "version"
_PG_PROJECTION_LOCK = 0x5_1B_DA_55
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


#: A note being folded is its rm_case_notes row as a list, in the order the insert names the
#: columns (a list, not a class: the fold makes one per consultation and is the projector's hot
#: loop). A note loaded from the read model has only its id, team, period and the three flags
#: filled: it is written back as an UPDATE when it changed. An element is yes (its _FLAG set),
#: no (neither set) or not applicable (its _NA set: out of that element's denominator and the
#: bundle's). _INIT / _INIT_NA: numerator / denominator-exclusion known at creation.
_TEAM, _PERIOD, _FLAG, _INIT = 2, 5, 8, 12  # _FLAG + element index; _INIT + element index
_CLINICIAN, _IMD = 3, 16  # the reach strata (who wrote the note; the patient's IMD quintile)
_NA, _INIT_NA = 17, 20  # _NA + element index; _INIT_NA + element index (+ 3: all three)
_TABLE_NAMES = tuple(t.name for t in rm.ALL_TABLES)
_NOTE_COLUMNS = (
    "position, consultation_id, team_id, clinician_id, patient_ref, period, occurred_on, "
    "contact, agenda_setting, goal_setting, follow_up, recorded_at, "
    "init_agenda_setting, init_goal_setting, init_follow_up, init_all_three, imd_quintile, "
    "na_agenda_setting, na_goal_setting, na_follow_up, "
    "init_na_agenda_setting, init_na_goal_setting, init_na_follow_up, init_na_all_three"
)
#: Element-state events: type -> (documented, not applicable); the element is in the payload
#: for the last two, implied by the type for the others.
_STATE_OF_TYPE = {"ElementRetracted": (False, False), "ElementNotApplicable": (False, True)}
_ELEMENT_INDEX = {element: i for i, element in enumerate(ELEMENTS)}
_INDEX_OF_TYPE = {typ: _ELEMENT_INDEX[element] for typ, element in ELEMENT_OF_TYPE.items()}
_CURRENT_VERSION = {name: event_class(name).schema_version for name in EVENT_TYPES}


#: The only types whose metadata the fold reads (``synthetic``, ``actor``).
_METADATA_OF = _TEAM_FACT_TYPES | {"TeamRegistered"}


@dataclass
class _Batch:
    """What one batch of events adds to the read models, gathered before any write."""

    teams: list[tuple] = field(default_factory=list)
    clinicians: list[tuple] = field(default_factory=list)
    trained: list[tuple] = field(default_factory=list)
    training: list[tuple] = field(default_factory=list)
    team_facts: list[tuple] = field(default_factory=list)
    element_facts: list[tuple] = field(default_factory=list)
    #: census changes summed per (day, team, period, clinician, IMD quintile):
    #: [agenda, goal, follow-up, all three, n, then the notes excluded as not applicable from
    #: agenda, goal, follow-up, all three]
    census: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
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


def _change(
    census: dict, note: list, index: int, documented: bool, na: bool, rec: str
) -> tuple[int, int, int, int]:
    """Apply one element's new state to a note; returns the change to the numerators (element,
    all three) and to the notes excluded as not applicable (element, all three)."""
    old_doc = note[_FLAG + index]
    old_na = note[_NA + index]
    if old_doc == documented and old_na == na:
        return _NO_CHANGE
    was_all = note[8] and note[9] and note[10]
    was_any_na = note[_NA] or note[_NA + 1] or note[_NA + 2]
    note[_FLAG + index] = documented
    note[_NA + index] = na
    d_el = int(documented) - int(old_doc)
    x_el = int(na) - int(old_na)
    d_all = int(note[8] and note[9] and note[10]) - int(was_all)
    x_all = int(note[_NA] or note[_NA + 1] or note[_NA + 2]) - int(was_any_na)
    key = (rec[:10], note[_TEAM], note[_PERIOD], note[_CLINICIAN], note[_IMD])
    sums = census.get(key)
    if sums is None:
        sums = census[key] = [0] * 9
    sums[index] += d_el
    sums[3] += d_all
    sums[5 + index] += x_el
    sums[8] += x_all
    return d_el, d_all, x_el, x_all


@contextmanager
def _no_gc() -> Iterator[None]:
    """The fold allocates hundreds of thousands of small containers and frees them all at the
    end of the batch; none form cycles, so the cyclic collector's passes are pure cost."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ReadModelsAhead(StoreError):
    """The projector's checkpoint is above the log's head (a truncated log): it refuses to fold."""


class Projector:
    """Keeps the read models in step with the log."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.engine = store.engine
        self.sqlite = store.sqlite
        self.ph = "?" if self.sqlite else "%s"

    # -- schema and checkpoint --

    def ensure_schema(self) -> None:
        """Create the read models; re-create them (empty, to be folded again by the next
        catch-up) when they were laid out by another version of sipdash."""
        self.store.create_schema()
        if not tables_missing(self.engine, _TABLE_NAMES):
            with self.engine.connect() as conn:
                if self._version_in(conn) == rm.VERSION:
                    return
        with self._locked() as conn:
            self._lay_out(conn)

    def _lay_out(self, conn: Connection) -> None:
        """Under the projection lock: every read model present in this version's layout
        (laid out by another version: dropped first; missing tables created; stamped)."""
        lock_schema(conn)
        version = self._version_in(conn)
        if version == rm.VERSION and not tables_missing(conn, _TABLE_NAMES):
            return
        if version != rm.VERSION:
            rm.metadata.drop_all(conn, checkfirst=True)
        rm.metadata.create_all(conn, checkfirst=True)
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
            (_VERSION_ROW, rm.VERSION),
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
        with self.engine.connect() as conn:
            if self.sqlite:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if not self.sqlite:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_PROJECTION_LOCK})")
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
                rows = self.store.rows_after(conn, after, batch_size, _METADATA_OF)
                if not rows:
                    self._refuse_if_ahead(conn, after)
                    break
                with _no_gc():
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
        self.store.create_schema()
        # Empty (or, laid out by another version, drop and re-create) in one transaction under
        # the projection lock, so a catch-up in another process waits and then starts from the
        # empty read models, never a half-gone schema.
        with self._locked() as conn:
            self._lay_out(conn)
            self._empty(conn)
        return self.catch_up(progress=progress, batch_size=batch_size)

    def _empty(self, conn: Connection) -> None:
        """Every read-model row gone, the tables kept (no DDL: a small log rebuilds in
        milliseconds; SQLite's unqualified DELETE and PostgreSQL's TRUNCATE free whole tables)."""
        names = [name for name in _TABLE_NAMES if name != rm.meta.name]
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
        b = _Batch()
        census = b.census
        notes: dict[str, list] = {}
        rounds: dict[str, tuple[str, str]] = {}
        decoded = []
        touched: set[str] = set()
        held_here: set[str] = set()
        loads = orjson.loads
        current = _CURRENT_VERSION
        spans: list[tuple[str, int, int]] = []  # (day, first, last): runs of one day
        day = None
        first = last = 0
        for pos, typ, sver, payload, _meta, rec in rows:
            if not rec.startswith(day or "-"):
                if day is not None:
                    spans.append((day, first, last))
                day, first = rec[:10], pos
            last = pos
            data = loads(payload)
            if sver != current.get(typ, sver):
                data = upcast(typ, int(sver), data)
            decoded.append(data)
            if typ == "ConsultationHeld":
                held_here.add(data["consultation_id"])
            elif typ in _INDEX_OF_TYPE or typ in _STATE_OF_TYPE:
                touched.add(data["consultation_id"])
        if day is not None:
            spans.append((day, first, last))
        for d, lo, hi in spans:
            known = b.days.get(d)
            b.days[d] = (min(lo, known[0]), max(hi, known[1])) if known else (lo, hi)
        self._load_notes(conn, touched - held_here, notes)
        loaded = set(notes)
        pending = self._load_orphans(conn, held_here) if held_here else {}

        created: list[list] = []  # new notes, in log order: inserted with their final flags
        changed: set[str] = set()  # notes whose flags moved
        facts = b.element_facts.append
        find = notes.get
        for (pos, typ, _sver, _payload, meta, rec), data in zip(rows, decoded, strict=True):
            if typ == "ConsultationHeld":
                cid = data["consultation_id"]
                if cid in notes:
                    continue  # a second ConsultationHeld for a known note changes nothing
                team = data["team_id"]
                occurred = data["occurred_on"]
                period = occurred[:7]
                note = notes[cid] = [
                    pos,
                    cid,
                    team,
                    data["clinician_id"],
                    data["patient_ref"],
                    period,
                    occurred,
                    data["contact"],
                    False,
                    False,
                    False,
                    rec,
                    0,
                    0,
                    0,
                    0,
                    data.get("imd_quintile") or 0,
                    False,
                    False,
                    False,
                    0,
                    0,
                    0,
                    0,
                ]
                created.append(note)
                key = (rec[:10], team, period, note[_CLINICIAN], note[_IMD])
                sums = census.get(key)
                if sums is None:
                    sums = census[key] = [0] * 9
                sums[4] += 1
                early = pending.pop(cid, None)
                if early:
                    for element, documented, na in early:
                        index = _ELEMENT_INDEX[element]
                        d_el, d_all, x_el, x_all = _change(census, note, index, documented, na, rec)
                        note[_INIT + index] += d_el
                        note[_INIT + 3] += d_all
                        note[_INIT_NA + index] += x_el
                        note[_INIT_NA + 3] += x_all
                        b.resolved_orphans.append((cid,))
                continue
            index = _INDEX_OF_TYPE.get(typ)
            state = _STATE_OF_TYPE.get(typ)
            if index is not None or state is not None:
                cid = data["consultation_id"]
                if index is None:
                    element = data["element"]
                    index = _ELEMENT_INDEX[element]
                    documented, na = state
                else:
                    element = ELEMENTS[index]
                    documented, na = True, False
                note = find(cid)
                if note is None:  # documented before the consultation itself was recorded
                    pending.setdefault(cid, []).append((element, documented, na))
                    b.orphans.append((pos, cid))
                    team = period = None
                    delta = _NO_CHANGE
                else:
                    team, period = note[_TEAM], note[_PERIOD]
                    delta = _change(census, note, index, documented, na, rec)
                    if delta is not _NO_CHANGE:
                        changed.add(cid)
                facts(
                    (pos, cid, element, documented, data.get("documented_on"), rec)
                    + (team, period, delta[0], delta[1], na, -delta[2], -delta[3])
                )
            elif typ == "TeamRegistered":
                synthetic = bool(loads(meta).get("synthetic", False))
                b.teams.append(
                    (
                        data["team_id"],
                        data["name"],
                        data["site"],
                        data["service"],
                        pos,
                        rec,
                        synthetic,
                    )
                )
            elif typ == "ClinicianRegistered":
                b.clinicians.append(
                    (
                        data["clinician_id"],
                        data["team_id"],
                        data["role"],
                        data.get("display_name"),
                        pos,
                        rec,
                    )
                )
            elif typ == "ClinicianTrained":
                b.trained.append((data["on"], data["clinician_id"]))
                b.training.append(
                    (
                        data["clinician_id"],
                        data.get("programme", "ADP"),
                        data["team_id"],
                        data["on"],
                        pos,
                        rec,
                    )
                )
            elif typ in _TEAM_FACT_TYPES:
                actor = loads(meta).get("actor")
                b.team_facts.append((pos, data["team_id"], typ, payload_of(data), actor, rec))
            elif typ == "AuditRoundOpened":
                rounds[data["round_id"]] = (data["team_id"], data["period"])
                b.rounds.append(
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
            elif typ == "AuditRoundClosed":
                b.closed.append((rec, data["round_id"]))
            elif typ == "CaseNoteReviewed":
                rid = data["round_id"]
                if rid not in rounds:
                    rounds[rid] = self._round_team_period(conn, rid)
                team_id, period = rounds[rid]
                b.reviews.append(
                    (
                        pos,
                        rid,
                        team_id,
                        period,
                        data["consultation_id"],
                        data["reviewer_id"],
                        bool(data.get("second_review", False)),
                        data["agenda_setting"],
                        data["goal_setting"],
                        data["follow_up"],
                        rec,
                    )
                )
            elif typ == "PatientForgotten":
                b.forgotten.append((data["patient_ref"], pos, rec))
            elif typ == "PatientSurveyReturned":
                b.surveys.append(survey_row(pos, data, rec))
        self._write(conn, b, created, [notes[cid] for cid in changed & loaded])

    def _round_team_period(self, conn: Connection, round_id: str) -> tuple[str, str]:
        row = conn.exec_driver_sql(
            f"SELECT team_id, period FROM rm_audit_rounds WHERE round_id = {self.ph}", (round_id,)
        ).first()
        if row is None:  # a review for an unknown round: keep it, unattributed
            return ("", "")
        return (row[0], row[1])

    def _load_notes(self, conn: Connection, ids: set[str], notes: dict[str, list]) -> None:
        ordered = sorted(ids)
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            marks = ", ".join([self.ph] * len(chunk))
            for (
                cid,
                team,
                period,
                a,
                g,
                f,
                clinician,
                imd,
                na_a,
                na_g,
                na_f,
            ) in conn.exec_driver_sql(
                "SELECT consultation_id, team_id, period, agenda_setting, goal_setting, follow_up, "
                "clinician_id, imd_quintile, na_agenda_setting, na_goal_setting, na_follow_up "
                f"FROM rm_case_notes WHERE consultation_id IN ({marks})",
                tuple(chunk),
            ):
                notes[cid] = [
                    None, cid, team, clinician, None, period, None, None,
                    bool(a), bool(g), bool(f),
                    None, 0, 0, 0, 0, imd,
                    bool(na_a), bool(na_g), bool(na_f), 0, 0, 0, 0,
                ]  # fmt: skip

    def _load_orphans(
        self, conn: Connection, held: set[str]
    ) -> dict[str, list[tuple[str, bool, bool]]]:
        """Element facts recorded before their consultation, for consultations now held."""
        pending: dict[str, list[tuple[str, bool, bool]]] = {}
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
                pending.setdefault(cid, []).append((element, bool(documented), bool(na)))
        return pending

    def _insert(self, conn: Connection, table: str, columns: str, rows: list[tuple]) -> None:
        insert_rows(conn, self.sqlite, table, columns, rows)

    def _write(self, conn: Connection, b: _Batch, created: list[list], updated: list[list]) -> None:
        ph = self.ph
        ins = self._insert
        for row in b.teams:
            conn.exec_driver_sql(
                "INSERT INTO rm_teams (team_id, name, site, service, position, recorded_at, "
                f"synthetic) VALUES ({', '.join([ph] * 7)}) ON CONFLICT (team_id) DO UPDATE SET "
                "name = EXCLUDED.name, site = EXCLUDED.site, service = EXCLUDED.service",
                row,
            )
        for row in b.clinicians:
            conn.exec_driver_sql(
                "INSERT INTO rm_clinicians (clinician_id, team_id, role, display_name, position, "
                f"recorded_at) VALUES ({', '.join([ph] * 6)}) ON CONFLICT (clinician_id) DO UPDATE "
                "SET team_id = EXCLUDED.team_id, role = EXCLUDED.role",
                row,
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
        updates = [(n[8], n[9], n[10], n[_NA], n[_NA + 1], n[_NA + 2], n[1]) for n in updated]
        if updates:
            conn.exec_driver_sql(
                f"UPDATE rm_case_notes SET agenda_setting = {ph}, goal_setting = {ph}, "
                f"follow_up = {ph}, na_agenda_setting = {ph}, na_goal_setting = {ph}, "
                f"na_follow_up = {ph} WHERE consultation_id = {ph}",
                updates,
            )
        ins(conn, "rm_case_notes", _NOTE_COLUMNS, created)
        ins(
            conn,
            "rm_element_facts",
            "position, consultation_id, element, documented, documented_on, recorded_at, "
            "team_id, period, d_element, d_all_three, not_applicable, d_den_element, "
            "d_den_all_three",
            b.element_facts,
        )
        self._write_census(conn, b.census)
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
        if b.reviews:
            conn.exec_driver_sql(
                "INSERT INTO rm_reviews (position, round_id, team_id, period, consultation_id, "
                "reviewer_id, second_review, agenda_setting, goal_setting, follow_up, recorded_at) "
                f"VALUES ({', '.join([ph] * 11)}) ON CONFLICT DO NOTHING",
                b.reviews,
            )
        if b.forgotten:
            conn.exec_driver_sql(
                "INSERT INTO rm_forgotten (patient_ref, position, recorded_at) "
                f"VALUES ({ph}, {ph}, {ph}) ON CONFLICT DO NOTHING",
                b.forgotten,
            )
        if b.surveys:
            conn.exec_driver_sql(
                f"INSERT INTO rm_surveys ({SURVEY_COLUMNS}) "
                f"VALUES ({', '.join([ph] * 10)}) ON CONFLICT DO NOTHING",
                b.surveys,
            )

    def _write_census(self, conn: Connection, census: dict[tuple, list[int]]) -> None:
        add_census(conn, self.sqlite, census)


SURVEY_COLUMNS = (
    "position, team_id, survey_id, period, returned_on, agenda_setting, goal_setting, "
    "follow_up, confidence, recorded_at"
)


def survey_row(pos: int, data: dict, rec: str) -> tuple:
    """The rm_surveys row of one ``PatientSurveyReturned`` (period = month of return)."""
    returned = data["returned_on"]
    return (
        pos,
        data["team_id"],
        data["survey_id"],
        returned[:7],
        returned,
        data["agenda_setting"],
        data["goal_setting"],
        data["follow_up"],
        data.get("confidence"),
        rec,
    )


def payload_of(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
