"""Projections: fold the log into the read models, incrementally and exactly once.

The projector reads events after its checkpoint in position order and applies them in batches;
each batch's read-model rows and the new checkpoint are written in one transaction, so a crash
mid-batch leaves the previous checkpoint and nothing of the batch. ``rebuild`` drops the read
models and folds the whole log again: the result is identical to incremental catch-up.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection

from events import EventStore
from events.db import lock_schema, schema_transaction, tables_missing
from events.types import ELEMENT_OF_TYPE, ELEMENTS, MEASURES
from events.upcast import upcast

from . import readmodel as rm

NAME = "sipdash"
_INDEX = {"agenda_setting": 0, "goal_setting": 1, "follow_up": 2, "all_three": 3}
_PG_PROJECTION_LOCK = 0x5_1B_DA_55
_CHUNK = 500

_TEAM_FACT_TYPES = frozenset(
    {
        "MilestoneLogged",
        "BaselineFixed",
        "LimitsRecalculated",
        "TargetSet",
        "CommentaryAdded",
        "ReviewSignedOff",
    }
)


@dataclass
class _Note:
    team_id: str
    period: str
    state: dict[str, bool]
    new: bool = False
    changed: bool = False
    row: tuple | None = None
    #: numerator contributions known when the note was created (elements that came first)
    init: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    """What one batch of events adds to the read models, gathered before any write."""

    teams: list[tuple] = field(default_factory=list)
    clinicians: list[tuple] = field(default_factory=list)
    trained: list[tuple] = field(default_factory=list)
    team_facts: list[tuple] = field(default_factory=list)
    element_facts: list[tuple] = field(default_factory=list)
    #: census changes summed per (day, team, period): [agenda, goal, follow-up, all three, n]
    census: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)

    def count(self, rec: str, team: str, period: str, index: int, delta: int) -> None:
        key = (rec[:10], team, period)
        sums = self.census.get(key)
        if sums is None:
            sums = self.census[key] = [0, 0, 0, 0, 0]
        sums[index] += delta

    rounds: list[tuple] = field(default_factory=list)
    closed: list[tuple] = field(default_factory=list)
    reviews: list[tuple] = field(default_factory=list)
    forgotten: list[tuple] = field(default_factory=list)
    orphans: list[tuple] = field(default_factory=list)
    resolved_orphans: list[tuple] = field(default_factory=list)


def _change(
    b: _Batch, note: _Note, element: str, documented: bool, pos: int, rec: str
) -> tuple[int, int]:
    """Apply one element's new state to a note; returns the change to (element, all three)."""
    if note.state[element] == documented:
        return 0, 0
    was_all = all(note.state.values())
    note.state[element] = documented
    note.changed = True
    delta = 1 if documented else -1
    b.count(rec, note.team_id, note.period, _INDEX[element], delta)
    if was_all != all(note.state.values()):
        b.count(rec, note.team_id, note.period, 3, delta)
        return delta, delta
    return delta, 0


class Projector:
    """Keeps the read models in step with the log."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.engine = store.engine
        self.sqlite = store.sqlite
        self.ph = "?" if self.sqlite else "%s"

    # -- schema and checkpoint --

    def ensure_schema(self) -> None:
        self.store.create_schema()
        if tables_missing(self.engine, rm.metadata.tables):
            with schema_transaction(self.engine) as conn:
                rm.metadata.create_all(conn, checkfirst=True)

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
        batch_size: int = 20_000,
        max_batches: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Fold every event after the checkpoint; returns how many were applied."""
        applied = batches = 0
        while max_batches is None or batches < max_batches:
            with self._locked() as conn:
                after = self._checkpoint_in(conn)
                rows = self.store.rows_after(conn, after, batch_size)
                if not rows:
                    break
                self._apply(conn, rows)
                self._set_checkpoint(conn, after, int(rows[-1][0]))
            applied += len(rows)
            batches += 1
            if progress:
                progress(len(rows))
            if len(rows) < batch_size:
                break
        return applied

    def rebuild(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Drop every read model and fold the whole log again."""
        self.store.create_schema()
        # Drop and re-create in one transaction under the projection lock, so a catch-up in
        # another process waits and then starts from the empty read models, never a half-gone
        # schema.
        with self._locked() as conn:
            lock_schema(conn)
            rm.metadata.drop_all(conn, checkfirst=True)
            rm.metadata.create_all(conn)
        return self.catch_up(progress=progress)

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
        notes: dict[str, _Note] = {}
        rounds: dict[str, tuple[str, str]] = {}
        decoded = []
        touched: set[str] = set()
        for pos, _sid, typ, sver, payload, meta, rec in rows:
            data = upcast(typ, int(sver), json.loads(payload)) if sver != 1 else json.loads(payload)
            decoded.append((int(pos), typ, data, meta, rec))
            if typ in ELEMENT_OF_TYPE or typ == "ElementRetracted":
                touched.add(data["consultation_id"])
        held_here = {d["consultation_id"] for _, t, d, _, _ in decoded if t == "ConsultationHeld"}
        self._load_notes(conn, touched - held_here, notes)
        pending = self._load_orphans(conn, held_here) if held_here else {}

        for pos, typ, data, meta, rec in decoded:
            if typ == "ConsultationHeld":
                cid = data["consultation_id"]
                if cid in notes:
                    continue  # a second ConsultationHeld for a known note changes nothing
                period = data["occurred_on"][:7]
                notes[cid] = _Note(
                    data["team_id"],
                    period,
                    dict.fromkeys(ELEMENTS, False),
                    new=True,
                    row=(
                        cid,
                        data["team_id"],
                        data["clinician_id"],
                        data["patient_ref"],
                        period,
                        data["occurred_on"],
                        data["contact"],
                        pos,
                        rec,
                    ),
                )
                b.count(rec, data["team_id"], period, 4, 1)
                for element, documented in pending.pop(cid, ()):
                    d_el, d_all = _change(b, notes[cid], element, documented, pos, rec)
                    init = notes[cid].init
                    init[element] = init.get(element, 0) + d_el
                    init["all_three"] = init.get("all_three", 0) + d_all
                    b.resolved_orphans.append((cid,))
            elif typ in ELEMENT_OF_TYPE or typ == "ElementRetracted":
                cid = data["consultation_id"]
                element = ELEMENT_OF_TYPE.get(typ) or data["element"]
                documented = typ != "ElementRetracted"
                note = notes.get(cid)
                if note is None:  # documented before the consultation itself was recorded
                    pending.setdefault(cid, []).append((element, documented))
                    b.orphans.append((pos, cid))
                    fact = (None, None, 0, 0)
                else:
                    fact = (
                        note.team_id,
                        note.period,
                        *_change(b, note, element, documented, pos, rec),
                    )
                b.element_facts.append(
                    (pos, cid, element, documented, data.get("documented_on"), rec, *fact)
                )
            elif typ == "TeamRegistered":
                synthetic = bool(json.loads(meta).get("synthetic", False))
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
            elif typ in _TEAM_FACT_TYPES:
                actor = json.loads(meta).get("actor")
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
        self._write(conn, b, notes)

    def _round_team_period(self, conn: Connection, round_id: str) -> tuple[str, str]:
        row = conn.exec_driver_sql(
            f"SELECT team_id, period FROM rm_audit_rounds WHERE round_id = {self.ph}", (round_id,)
        ).first()
        if row is None:  # a review for an unknown round: keep it, unattributed
            return ("", "")
        return (row[0], row[1])

    def _load_notes(self, conn: Connection, ids: set[str], notes: dict[str, _Note]) -> None:
        ordered = sorted(ids)
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            marks = ", ".join([self.ph] * len(chunk))
            for cid, team, period, a, g, f in conn.exec_driver_sql(
                "SELECT consultation_id, team_id, period, agenda_setting, goal_setting, follow_up "
                f"FROM rm_case_notes WHERE consultation_id IN ({marks})",
                tuple(chunk),
            ):
                notes[cid] = _Note(
                    team,
                    period,
                    {"agenda_setting": bool(a), "goal_setting": bool(g), "follow_up": bool(f)},
                )

    def _load_orphans(self, conn: Connection, held: set[str]) -> dict[str, list[tuple[str, bool]]]:
        """Element facts recorded before their consultation, for consultations now held."""
        pending: dict[str, list[tuple[str, bool]]] = {}
        if not conn.exec_driver_sql("SELECT 1 FROM rm_orphan_elements LIMIT 1").first():
            return pending
        ordered = sorted(held)
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            marks = ", ".join([self.ph] * len(chunk))
            for cid, element, documented in conn.exec_driver_sql(
                "SELECT f.consultation_id, f.element, f.documented FROM rm_element_facts f "
                "JOIN rm_orphan_elements o ON o.position = f.position "
                f"WHERE o.consultation_id IN ({marks}) ORDER BY f.position",
                tuple(chunk),
            ):
                pending.setdefault(cid, []).append((element, bool(documented)))
        return pending

    def _insert(self, conn: Connection, table: str, columns: str, rows: list[tuple]) -> None:
        if rows:
            marks = ", ".join([self.ph] * len(rows[0]))
            conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def _write(self, conn: Connection, b: _Batch, notes: dict[str, _Note]) -> None:
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
        ins(
            conn,
            "rm_team_facts",
            "position, team_id, type, payload, actor, recorded_at",
            b.team_facts,
        )
        new_rows = []
        updates = []
        for cid, note in notes.items():
            s = note.state
            flags = (s["agenda_setting"], s["goal_setting"], s["follow_up"])
            if note.new:
                init = tuple(note.init.get(m, 0) for m in (*ELEMENTS, "all_three"))
                new_rows.append((*note.row[:7], *flags, *note.row[7:], *init))
            elif note.changed:
                updates.append((*flags, cid))
        if updates:
            conn.exec_driver_sql(
                f"UPDATE rm_case_notes SET agenda_setting = {ph}, goal_setting = {ph}, "
                f"follow_up = {ph} WHERE consultation_id = {ph}",
                updates,
            )
        ins(
            conn,
            "rm_case_notes",
            "consultation_id, team_id, clinician_id, patient_ref, period, occurred_on, contact, "
            "agenda_setting, goal_setting, follow_up, position, recorded_at, "
            "init_agenda_setting, init_goal_setting, init_follow_up, init_all_three",
            new_rows,
        )
        ins(
            conn,
            "rm_element_facts",
            "position, consultation_id, element, documented, documented_on, recorded_at, "
            "team_id, period, d_element, d_all_three",
            b.element_facts,
        )
        self._write_census(conn, b.census)
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

    def _write_census(self, conn: Connection, census: dict[tuple, list[int]]) -> None:
        if not census:
            return
        ph = self.ph
        now: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        daily = []
        for (day, team, period), sums in census.items():
            total = now[(team, period)]
            for i, value in enumerate(sums):
                total[i] += value
            daily.extend((day, team, period, m, sums[i], sums[4]) for i, m in enumerate(MEASURES))
        conn.exec_driver_sql(
            "INSERT INTO rm_census (team_id, period, measure, numerator, denominator) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (team_id, period, measure) DO UPDATE SET "
            "numerator = rm_census.numerator + EXCLUDED.numerator, "
            "denominator = rm_census.denominator + EXCLUDED.denominator",
            [(t, p, m, v[i], v[4]) for (t, p), v in now.items() for i, m in enumerate(MEASURES)],
        )
        conn.exec_driver_sql(
            "INSERT INTO rm_census_daily (day, team_id, period, measure, numerator, denominator) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (day, team_id, period, measure) DO UPDATE SET "
            "numerator = rm_census_daily.numerator + EXCLUDED.numerator, "
            "denominator = rm_census_daily.denominator + EXCLUDED.denominator",
            daily,
        )


def payload_of(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
