"""Read-model tables: what every query reads instead of the log.

Each row remembers the ``position`` and ``recorded_at`` at which the fact became known, so an
``as_of`` query filters the read model and never scans the log. Tables are plain SQLAlchemy
Core: they are rebuilt from the log at will and hold nothing the log does not.
"""

from __future__ import annotations

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

metadata = MetaData()

#: Bumped whenever a table's layout changes: read models stamped with another version are
#: dropped and folded again from the log (they hold nothing the log does not).
VERSION = 6

#: A log position as a primary key: on SQLite declared ``INTEGER`` so that it is the table's
#: rowid (one B-tree per row instead of two; the read models are insert-heavy).
POSITION = BigInteger().with_variant(Integer, "sqlite")

checkpoints = Table(
    "rm_checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

#: Facts about the read models themselves (``version``: the layout they were created with).
meta = Table(
    "rm_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

teams = Table(
    "rm_teams",
    metadata,
    Column("team_id", String(120), primary_key=True),
    Column("name", Text, nullable=False),
    Column("site", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("synthetic", Boolean, nullable=False, default=False),
)

clinicians = Table(
    "rm_clinicians",
    metadata,
    Column("clinician_id", String(120), primary_key=True),
    Column("team_id", String(120), nullable=False),
    Column("role", Text, nullable=False),
    Column("display_name", Text),
    Column("trained_on", String(10)),
    Column("position", BigInteger, nullable=False),
    Column("recorded_at", String(32), nullable=False),
)

#: Team-level annotations: milestones, baselines, recalculations, targets, commentary, sign-off.
team_facts = Table(
    "rm_team_facts",
    metadata,
    Column("position", POSITION, primary_key=True, autoincrement=False),
    Column("team_id", String(120), nullable=False),
    Column("type", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("actor", Text),
    Column("recorded_at", String(32), nullable=False),
    Index("ix_rm_team_facts_team", "team_id", "type"),
)

#: One row per consultation with its current documentation state, keyed by the position of
#: its ``ConsultationHeld`` (on SQLite the rowid: notes are appended in log order).
case_notes = Table(
    "rm_case_notes",
    metadata,
    Column("position", POSITION, primary_key=True, autoincrement=False),
    Column("consultation_id", String(120), nullable=False),
    Column("team_id", String(120), nullable=False),
    Column("clinician_id", String(120), nullable=False),
    Column("patient_ref", String(80), nullable=False),
    Column("period", String(7), nullable=False),
    Column("occurred_on", String(10), nullable=False),
    Column("contact", String(20), nullable=False),
    Column("agenda_setting", Boolean, nullable=False),
    Column("goal_setting", Boolean, nullable=False),
    Column("follow_up", Boolean, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    # numerator contributions known at creation (elements recorded before the consultation)
    Column("init_agenda_setting", Integer, nullable=False, default=0),
    Column("init_goal_setting", Integer, nullable=False, default=0),
    Column("init_follow_up", Integer, nullable=False, default=0),
    Column("init_all_three", Integer, nullable=False, default=0),
    # the patient's IMD quintile (1-5; 0 = not given): the reach aggregates' stratum
    Column("imd_quintile", Integer, nullable=False, default=0),
    # elements recorded as not applicable (out of the denominator), and those known at creation
    Column("na_agenda_setting", Boolean, nullable=False, default=False),
    Column("na_goal_setting", Boolean, nullable=False, default=False),
    Column("na_follow_up", Boolean, nullable=False, default=False),
    Column("init_na_agenda_setting", Integer, nullable=False, default=0),
    Column("init_na_goal_setting", Integer, nullable=False, default=0),
    Column("init_na_follow_up", Integer, nullable=False, default=0),
    Column("init_na_all_three", Integer, nullable=False, default=0),
    Index("ux_rm_case_notes_consultation", "consultation_id", unique=True),
    Index("ix_rm_case_notes_team_period", "team_id", "period"),
)

#: Every change of an element's state, with when it became known (for as-of).
element_facts = Table(
    "rm_element_facts",
    metadata,
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
    Column("d_all_three", Integer, nullable=False),
    # not applicable: the note left the element's (and the bundle's) denominator
    Column("not_applicable", Boolean, nullable=False, default=False),
    Column("d_den_element", Integer, nullable=False, default=0),
    Column("d_den_all_three", Integer, nullable=False, default=0),
)

#: Element facts whose consultation was not yet known when they arrived.
orphan_elements = Table(
    "rm_orphan_elements",
    metadata,
    Column("position", POSITION, primary_key=True, autoincrement=False),
    Column("consultation_id", String(120), nullable=False),
    Index("ix_rm_orphan_elements_consultation", "consultation_id"),
)

#: The first and last log position recorded on each day. ``recorded_at`` never decreases along
#: the log, so an as-of cutoff's own day is a position range of rm_case_notes and
#: rm_element_facts (their keys): no index on ``recorded_at`` to maintain.
days = Table(
    "rm_days",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("first_position", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
)

#: Census counts per team × period × measure, as they stand now.
census = Table(
    "rm_census",
    metadata,
    Column("team_id", String(120), nullable=False),
    Column("period", String(7), nullable=False),
    Column("measure", String(20), nullable=False),
    Column("numerator", Integer, nullable=False),
    Column("denominator", Integer, nullable=False),
    PrimaryKeyConstraint("team_id", "period", "measure"),
)

#: The same counts' changes summed per recorded day: as-of = whole days before the cutoff's
#: day + that day's changes read from rm_case_notes and rm_element_facts.
census_daily = Table(
    "rm_census_daily",
    metadata,
    Column("day", String(10), nullable=False),
    Column("team_id", String(120), nullable=False),
    Column("period", String(7), nullable=False),
    Column("measure", String(20), nullable=False),
    Column("numerator", Integer, nullable=False),
    Column("denominator", Integer, nullable=False),
    PrimaryKeyConstraint("day", "team_id", "period", "measure"),
)

# --- who the shift reaches (training, deprivation): per-team-month aggregates ---------------
#: Census counts per team × month × stratum, measures as columns. The stratum is the clinician
#: (training lens) or the patient's IMD quintile (deprivation lens, 0 = not given). Rows are
#: bounded by teams × months × clinicians (or quintiles), never by the size of the log; the
#: ``_daily`` twins hold each recorded day's changes, so an as-of read is exact (as the census).
#: ``notes`` counts activity; ``den_<measure>`` is each measure's denominator (not-applicable
#: elements excluded, as in the census).
_REACH_MEASURES = ("agenda_setting", "goal_setting", "follow_up", "all_three")


def _reach_table(name: str, stratum: Column, *, daily: bool) -> Table:
    day = [Column("day", String(10), nullable=False)] if daily else []
    keys = (["day"] if daily else []) + ["team_id", "period", stratum.name]
    return Table(
        name,
        metadata,
        *day,
        Column("team_id", String(120), nullable=False),
        Column("period", String(7), nullable=False),
        stratum,
        *(Column(m, Integer, nullable=False) for m in _REACH_MEASURES),
        Column("notes", Integer, nullable=False),
        # each measure's denominator: the notes less those with the element (any, for all
        # three) recorded as not applicable, as in rm_census
        *(Column(f"den_{m}", Integer, nullable=False, default=0) for m in _REACH_MEASURES),
        PrimaryKeyConstraint(*keys),
    )


reach_clinician = _reach_table(
    "rm_reach_clinician", Column("clinician_id", String(120), nullable=False), daily=False
)
reach_clinician_daily = _reach_table(
    "rm_reach_clinician_daily", Column("clinician_id", String(120), nullable=False), daily=True
)
reach_imd = _reach_table(
    "rm_reach_imd", Column("imd_quintile", Integer, nullable=False), daily=False
)
reach_imd_daily = _reach_table(
    "rm_reach_imd_daily", Column("imd_quintile", Integer, nullable=False), daily=True
)

#: ``ClinicianTrained`` facts, one per (clinician, programme): the first one recorded counts.
training = Table(
    "rm_training",
    metadata,
    Column("clinician_id", String(120), nullable=False),
    Column("programme", String(120), nullable=False),
    Column("team_id", String(120), nullable=False),
    Column("trained_on", String(10), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    PrimaryKeyConstraint("clinician_id", "programme"),
)

audit_rounds = Table(
    "rm_audit_rounds",
    metadata,
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
)

reviews = Table(
    "rm_reviews",
    metadata,
    Column("position", BigInteger, nullable=False),
    Column("round_id", String(120), nullable=False),
    Column("team_id", String(120), nullable=False),
    Column("period", String(7), nullable=False),
    Column("consultation_id", String(120), nullable=False),
    Column("reviewer_id", String(120), nullable=False),
    Column("second_review", Boolean, nullable=False),
    Column("agenda_setting", String(16), nullable=False),
    Column("goal_setting", String(16), nullable=False),
    Column("follow_up", String(16), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    PrimaryKeyConstraint("round_id", "consultation_id", "reviewer_id", "second_review"),
    Index("ix_rm_reviews_team_period", "team_id", "period"),
)

#: One row per returned patient survey (anonymous: no patient field), keyed by the position of
#: its ``PatientSurveyReturned``; ``recorded_at`` makes as-of exact. Surveys are few (tens per
#: team-month, not per consultation), so measures group these rows directly.
surveys = Table(
    "rm_surveys",
    metadata,
    Column("position", POSITION, primary_key=True, autoincrement=False),
    Column("team_id", String(120), nullable=False),
    Column("survey_id", String(120), nullable=False),
    Column("period", String(7), nullable=False),
    Column("returned_on", String(10), nullable=False),
    Column("agenda_setting", String(16), nullable=False),
    Column("goal_setting", String(16), nullable=False),
    Column("follow_up", String(16), nullable=False),
    Column("confidence", Integer),
    Column("recorded_at", String(32), nullable=False),
    Index("ux_rm_surveys_team_survey", "team_id", "survey_id", unique=True),
    Index("ix_rm_surveys_team_period", "team_id", "period"),
)

#: Patients whose pseudonym mapping was erased (the log keeps only the token).
forgotten = Table(
    "rm_forgotten",
    metadata,
    Column("patient_ref", String(80), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("recorded_at", String(32), nullable=False),
)

ALL_TABLES = list(metadata.sorted_tables)
