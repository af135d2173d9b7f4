"""Read-model tables: what every query reads instead of the log.

Each row remembers the ``position`` and ``recorded_at`` at which the fact became known, so an
``as_of`` query filters the read model and never scans the log. The tables are SQLModel table
models (one table language with the event log) made by :func:`read_models` from the registry of
enablers: the per-enabler columns (``agenda_setting``, ``na_goal_setting``, ``den_follow_up``
…) are one per enabler of the registry. They are rebuilt from the log at will and hold nothing
the log does not. The module-level names (``case_notes``, ``metadata``, ``ALL_TABLES`` …) are
the default registry's.
"""

from __future__ import annotations

import hashlib
import types
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlmodel import Field, SQLModel

from events.elements import ELEMENTS, Registry

#: Bumped whenever a table's layout changes: read models stamped with another version are
#: dropped and folded again from the log (they hold nothing the log does not).
VERSION = 9  # 7: same-instant elements folded into rm_case_notes' init counts; 8: rm_surveys
# without its (team, period) index; 9: rm_census and rm_census_daily dropped (the census is
# rm_reach_imd(_daily) summed over quintiles), the reach tables WITHOUT ROWID on SQLite

#: Tables of earlier layouts that no version lays out any more: dropped with the read models
#: when those are re-laid out (the census is rm_reach_imd(_daily) summed over IMD quintiles:
#: it was written twice).
RETIRED = ("rm_census", "rm_census_daily")

#: A log position as a primary key: on SQLite declared ``INTEGER`` so that it is the table's
#: rowid (one B-tree per row instead of two; the read models are insert-heavy).
POSITION = BigInteger().with_variant(Integer, "sqlite")


def _reach_items(stratum: Column, measures: tuple[str, ...], *, daily: bool) -> list[Any]:
    """Census counts per team × month × stratum, measures as columns. The stratum is the
    clinician (training lens) or the patient's IMD quintile (deprivation lens, 0 = not given).
    Rows are bounded by teams × months × clinicians (or quintiles), never by the size of the
    log; the ``_daily`` twins hold each recorded day's changes, so an as-of read is exact (as
    the census). ``notes`` counts activity; ``den_<measure>`` is each measure's denominator
    (not-applicable elements excluded, as in the census)."""
    day = [Column("day", String(10), nullable=False)] if daily else []
    keys = (["day"] if daily else []) + ["team_id", "period", str(stratum.name)]
    return [
        *day,
        Column("team_id", String(120), nullable=False),
        Column("period", String(7), nullable=False),
        stratum,
        *(Column(m, Integer, nullable=False) for m in measures),
        Column("notes", Integer, nullable=False),
        # each measure's denominator: the notes less those with the element (any, for the
        # bundle) recorded as not applicable, as in the census
        *(Column(f"den_{m}", Integer, nullable=False, default=0) for m in measures),
        PrimaryKeyConstraint(*keys),
        # SQLite: the rows stored in their key's B-tree (no rowid B-tree beside the key's
        # index): one B-tree written per upserted row, and a team's rows read together
        {"sqlite_with_rowid": False},
    ]


def _layout(registry: Registry) -> dict[str, tuple[str, list[Any]]]:
    """Attribute name -> (table name, columns and constraints) of every read model."""
    names = registry.names
    measures = registry.measures
    bundle = measures[-1]
    return {
        "checkpoints": (
            "rm_checkpoints",
            [
                Column("name", String(64), primary_key=True),
                Column("position", BigInteger, nullable=False),
            ],
        ),
        #: Facts about the read models themselves (``version``: the layout they were created with).
        "meta": (
            "rm_meta",
            [
                Column("name", String(64), primary_key=True),
                Column("value", BigInteger, nullable=False),
            ],
        ),
        "teams": (
            "rm_teams",
            [
                Column("team_id", String(120), primary_key=True),
                Column("name", Text, nullable=False),
                Column("site", Text, nullable=False),
                Column("service", Text, nullable=False),
                Column("position", BigInteger, nullable=False),
                Column("recorded_at", String(32), nullable=False),
                Column("synthetic", Boolean, nullable=False, default=False),
            ],
        ),
        "clinicians": (
            "rm_clinicians",
            [
                Column("clinician_id", String(120), primary_key=True),
                Column("team_id", String(120), nullable=False),
                Column("role", Text, nullable=False),
                Column("display_name", Text),
                Column("trained_on", String(10)),
                Column("position", BigInteger, nullable=False),
                Column("recorded_at", String(32), nullable=False),
            ],
        ),
        # Team-level annotations: milestones, baselines, recalculations, targets, commentary,
        # sign-off.
        "team_facts": (
            "rm_team_facts",
            [
                Column("position", POSITION, primary_key=True, autoincrement=False),
                Column("team_id", String(120), nullable=False),
                Column("type", String(40), nullable=False),
                Column("payload", Text, nullable=False),
                Column("actor", Text),
                Column("recorded_at", String(32), nullable=False),
                Index("ix_rm_team_facts_team", "team_id", "type"),
            ],
        ),
        # One row per consultation with its current documentation state, keyed by the position
        # of its ``ConsultationHeld`` (on SQLite the rowid: notes are appended in log order).
        "case_notes": (
            "rm_case_notes",
            [
                Column("position", POSITION, primary_key=True, autoincrement=False),
                Column("consultation_id", String(120), nullable=False),
                Column("team_id", String(120), nullable=False),
                Column("clinician_id", String(120), nullable=False),
                Column("patient_ref", String(80), nullable=False),
                Column("period", String(7), nullable=False),
                Column("occurred_on", String(10), nullable=False),
                Column("contact", String(20), nullable=False),
                *(Column(n, Boolean, nullable=False) for n in names),
                Column("recorded_at", String(32), nullable=False),
                # numerator contributions known at the note's recording instant (elements
                # recorded before the consultation, or in the same instant: those have no
                # rm_element_facts row)
                *(Column(f"init_{m}", Integer, nullable=False, default=0) for m in measures),
                # the patient's IMD quintile (1-5; 0 = not given): the reach aggregates' stratum
                Column("imd_quintile", Integer, nullable=False, default=0),
                # elements recorded as not applicable (out of the denominator), and those known
                # at creation
                *(Column(f"na_{n}", Boolean, nullable=False, default=False) for n in names),
                *(Column(f"init_na_{m}", Integer, nullable=False, default=0) for m in measures),
                Index("ux_rm_case_notes_consultation", "consultation_id", unique=True),
                Index("ix_rm_case_notes_team_period", "team_id", "period"),
            ],
        ),
        # Every change of an element's state, with when it became known (for as-of).
        "element_facts": (
            "rm_element_facts",
            [
                Column("position", POSITION, primary_key=True, autoincrement=False),
                Column("consultation_id", String(120), nullable=False),
                Column("element", String(20), nullable=False),
                Column("documented", Boolean, nullable=False),
                Column("documented_on", String(10)),
                Column("recorded_at", String(32), nullable=False),
                # what this fact changed in the census (0 when the consultation was not yet known)
                Column("team_id", String(120)),
                Column("period", String(7)),
                Column("d_element", Integer, nullable=False),
                Column(f"d_{bundle}", Integer, nullable=False),
                # not applicable: the note left the element's (and the bundle's) denominator
                Column("not_applicable", Boolean, nullable=False, default=False),
                Column("d_den_element", Integer, nullable=False, default=0),
                Column(f"d_den_{bundle}", Integer, nullable=False, default=0),
            ],
        ),
        # Element facts whose consultation was not yet known when they arrived.
        "orphan_elements": (
            "rm_orphan_elements",
            [
                Column("position", POSITION, primary_key=True, autoincrement=False),
                Column("consultation_id", String(120), nullable=False),
                Index("ix_rm_orphan_elements_consultation", "consultation_id"),
            ],
        ),
        # The first and last log position recorded on each day. ``recorded_at`` never
        # decreases along the log, so an as-of cutoff's own day is a position range of
        # rm_case_notes and rm_element_facts (their keys): no index on ``recorded_at``.
        "days": (
            "rm_days",
            [
                Column("day", String(10), primary_key=True),
                Column("first_position", BigInteger, nullable=False),
                Column("last_position", BigInteger, nullable=False),
            ],
        ),
        # --- who the shift reaches (training, deprivation): per-team-month aggregates -------
        "reach_clinician": (
            "rm_reach_clinician",
            _reach_items(
                Column("clinician_id", String(120), nullable=False), measures, daily=False
            ),
        ),
        "reach_clinician_daily": (
            "rm_reach_clinician_daily",
            _reach_items(Column("clinician_id", String(120), nullable=False), measures, daily=True),
        ),
        "reach_imd": (
            "rm_reach_imd",
            _reach_items(Column("imd_quintile", Integer, nullable=False), measures, daily=False),
        ),
        "reach_imd_daily": (
            "rm_reach_imd_daily",
            _reach_items(Column("imd_quintile", Integer, nullable=False), measures, daily=True),
        ),
        # ``ClinicianTrained`` facts, one per (clinician, programme): the first one recorded
        # counts.
        "training": (
            "rm_training",
            [
                Column("clinician_id", String(120), nullable=False),
                Column("programme", String(120), nullable=False),
                Column("team_id", String(120), nullable=False),
                Column("trained_on", String(10), nullable=False),
                Column("position", BigInteger, nullable=False),
                Column("recorded_at", String(32), nullable=False),
                PrimaryKeyConstraint("clinician_id", "programme"),
            ],
        ),
        "audit_rounds": (
            "rm_audit_rounds",
            [
                Column("round_id", String(120), primary_key=True),
                Column("team_id", String(120), nullable=False),
                Column("period", String(7), nullable=False),
                Column("method", String(10), nullable=False),
                Column("sample_size", Integer, nullable=False),
                Column("sampling_seed", Text, nullable=False),
                Column("sampled", Text, nullable=False),
                Column("second_review_share", Text, nullable=False),
                Column("opened_position", BigInteger, nullable=False),
                Column("opened_at", String(32), nullable=False),
                Column("closed_at", String(32)),
                Index("ix_rm_audit_rounds_team_period", "team_id", "period"),
            ],
        ),
        "reviews": (
            "rm_reviews",
            [
                Column("position", BigInteger, nullable=False),
                Column("round_id", String(120), nullable=False),
                Column("team_id", String(120), nullable=False),
                Column("period", String(7), nullable=False),
                Column("consultation_id", String(120), nullable=False),
                Column("reviewer_id", String(120), nullable=False),
                Column("second_review", Boolean, nullable=False),
                *(Column(n, String(16), nullable=False) for n in names),
                Column("recorded_at", String(32), nullable=False),
                PrimaryKeyConstraint("round_id", "consultation_id", "reviewer_id", "second_review"),
                Index("ix_rm_reviews_team_period", "team_id", "period"),
            ],
        ),
        # One row per returned patient survey (anonymous: no patient field), keyed by the
        # position of its ``PatientSurveyReturned``; ``recorded_at`` makes as-of exact. Surveys
        # are few (tens per team-month, not per consultation), so measures group these rows.
        "surveys": (
            "rm_surveys",
            [
                Column("position", POSITION, primary_key=True, autoincrement=False),
                Column("team_id", String(120), nullable=False),
                Column("survey_id", String(120), nullable=False),
                Column("period", String(7), nullable=False),
                Column("returned_on", String(10), nullable=False),
                *(Column(n, String(16), nullable=False) for n in names),
                Column("confidence", Integer),
                Column("recorded_at", String(32), nullable=False),
                # one index: reads by team use its prefix; a second (team, period) index cost a
                # quarter of the survey fold and no read needs it (surveys are tens per month)
                Index("ux_rm_surveys_team_survey", "team_id", "survey_id", unique=True),
            ],
        ),
        # Patients whose pseudonym mapping was erased (the log keeps only the token).
        "forgotten": (
            "rm_forgotten",
            [
                Column("patient_ref", String(80), primary_key=True),
                Column("position", BigInteger, nullable=False),
                Column("recorded_at", String(32), nullable=False),
            ],
        ),
    }


def _model(base: type[SQLModel], class_name: str, table: str, items: list[Any]) -> type[SQLModel]:
    """A SQLModel table model with exactly these columns, indexes and constraints."""
    columns = [c for c in items if isinstance(c, Column)]
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__tablename__": table,
        "__table_args__": tuple(c for c in items if not isinstance(c, Column)),
        "__annotations__": {str(c.name): Any for c in columns},
    }
    for column in columns:
        namespace[str(column.name)] = Field(default=None, sa_column=column)
    return types.new_class(class_name, (base,), {"table": True}, lambda ns: ns.update(namespace))


@dataclass(frozen=True)
class ReadModels:
    """The read-model tables of one registry of enablers: their own ``metadata`` (so two
    registries' tables live side by side in one process), the SQLModel classes by attribute
    name and their ``Table`` objects."""

    registry: Registry
    metadata: MetaData
    models: dict[str, type[SQLModel]]
    tables: dict[str, Table]

    @property
    def version(self) -> int:
        """The layout stamp in rm_meta: :data:`VERSION` for the default registry; another
        registry's layout has its own, so read models laid out for other enablers are dropped
        and folded again, never written with the wrong columns."""
        if self.registry.is_default:
            return VERSION
        spec = ",".join(self.registry.names).encode()
        return VERSION + (int(hashlib.sha256(spec).hexdigest()[:10], 16) << 8)

    @property
    def all_tables(self) -> list[Table]:
        return list(self.metadata.sorted_tables)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.all_tables)


def read_models(registry: Registry = ELEMENTS) -> ReadModels:
    """The read models for ``registry`` (made once per registry and process: SQLModel keeps
    every table class in one global class registry, so their class names carry the registry's
    suffix and each registry has a fresh ``MetaData``)."""
    return _read_models(registry)


@cache
def _read_models(registry: Registry) -> ReadModels:
    md = MetaData()
    base = types.new_class(
        f"ReadModel{registry.suffix}",
        (SQLModel,),
        {},
        lambda ns: ns.update({"__module__": __name__, "metadata": md}),
    )
    models = {
        attr: _model(base, "Rm" + attr.title().replace("_", "") + registry.suffix, table, items)
        for attr, (table, items) in _layout(registry).items()
    }
    tables = {attr: model.__table__ for attr, model in models.items()}  # type: ignore[attr-defined]
    return ReadModels(registry, md, models, tables)


_DEFAULT = read_models()
metadata = _DEFAULT.metadata
checkpoints = _DEFAULT.tables["checkpoints"]
meta = _DEFAULT.tables["meta"]
teams = _DEFAULT.tables["teams"]
clinicians = _DEFAULT.tables["clinicians"]
team_facts = _DEFAULT.tables["team_facts"]
case_notes = _DEFAULT.tables["case_notes"]
element_facts = _DEFAULT.tables["element_facts"]
orphan_elements = _DEFAULT.tables["orphan_elements"]
days = _DEFAULT.tables["days"]
reach_clinician = _DEFAULT.tables["reach_clinician"]
reach_clinician_daily = _DEFAULT.tables["reach_clinician_daily"]
reach_imd = _DEFAULT.tables["reach_imd"]
reach_imd_daily = _DEFAULT.tables["reach_imd_daily"]
training = _DEFAULT.tables["training"]
audit_rounds = _DEFAULT.tables["audit_rounds"]
reviews = _DEFAULT.tables["reviews"]
surveys = _DEFAULT.tables["surveys"]
forgotten = _DEFAULT.tables["forgotten"]

ALL_TABLES = _DEFAULT.all_tables
