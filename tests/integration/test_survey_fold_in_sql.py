"""SQLite folds the current version's patient surveys itself (``INSERT … SELECT json_extract``):
the rows must be exactly those the Python fold writes, the first recorded survey of a (team,
survey_id) must still win, and an older schema version must still be upcast (issue #17/#19)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from audit.projections import Projector, survey_fold_sql
from events import EventStore, NewEvent
from events.types import Event, PatientSurveyReturned
from events.upcast import _UPCASTERS, upcaster


def _survey(team: str, survey_id: str, returned_on: str, answers: tuple[str, str, str], **kw: Any):
    agenda, goal, follow = answers
    return PatientSurveyReturned(
        team_id=team,
        survey_id=survey_id,
        returned_on=returned_on,
        agenda_setting=agenda,
        goal_setting=goal,
        follow_up=follow,
        **kw,
    )


def _log(store: EventStore) -> None:
    """Surveys with every answer kind, no confidence, a non-ASCII team, and a second return
    of one (team, survey_id) under another event id, recorded later (the first must win)."""
    events = [
        _survey("t1", "s1", "2026-01-05", ("yes", "no", "not_sure"), confidence=7),
        _survey("t1", "s2", "2026-01-31", ("doesnt_apply", "blank", "yes")),
        _survey("équipe-ß", "s1", "2026-02-01", ("yes", "yes", "yes"), confidence=0),
        _survey("t2", "s9", "2025-12-31", ("no", "no", "no"), confidence=10),
        _survey("t1", "s1", "2026-03-01", ("no", "no", "no"), confidence=1),  # the duplicate
        _survey("t2", "s10", "2026-02-14", ("blank", "blank", "blank"), confidence=None),
    ]
    store.append([NewEvent(e) for e in events[:4]])
    # the duplicate: the same stream as the first t1/s1, another event id, appended later
    store.append([NewEvent(e) for e in events[4:]])


def _surveys(store: EventStore) -> list[tuple]:
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql("SELECT * FROM rm_surveys ORDER BY position").fetchall()
        ]


def _fold(store: EventStore, *, in_sql: bool, batch_size: int = 50_000) -> list[tuple]:
    projector = Projector(store)
    if not in_sql:
        projector._surveys_in_sql = None
    projector.rebuild(batch_size=batch_size)
    return _surveys(store)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[EventStore]:
    s = EventStore(sqlite_url)
    s.create_schema()
    yield s
    s.dispose()


def test_surveys_folded_by_sqlite_are_the_rows_the_python_fold_writes(store: EventStore) -> None:
    _log(store)
    in_python = _fold(store, in_sql=False)
    assert len(in_python) == 5, "the second return of t1/s1 is not a new survey"
    for batch_size in (50_000, 1, 2, 3):
        assert _fold(store, in_sql=True, batch_size=batch_size) == in_python, batch_size


def test_the_first_recorded_return_of_a_survey_wins_when_sqlite_folds_it(
    store: EventStore,
) -> None:
    _log(store)
    for batch_size in (50_000, 1):
        rows = {(r[1], r[2]): r for r in _fold(store, in_sql=True, batch_size=batch_size)}
        first = rows[("t1", "s1")]
        assert first[3:9] == ("2026-01", "2026-01-05", "yes", "no", "not_sure", 7)


def test_the_sqlite_fold_keeps_no_confidence_as_null_and_blank_answers_as_blank(
    store: EventStore,
) -> None:
    _log(store)
    rows = {(r[1], r[2]): r for r in _fold(store, in_sql=True)}
    assert rows[("t1", "s2")][5:9] == ("doesnt_apply", "blank", "yes", None)
    assert rows[("équipe-ß", "s1")][3] == "2026-02"
    assert rows[("équipe-ß", "s1")][8] == 0


class _SurveyV0(Event):
    """A hypothetical first shape of ``PatientSurveyReturned``: one combined answer string
    ("y/n/?" per enabler) and the confidence as text."""

    type: ClassVar[str] = "PatientSurveyReturned"
    schema_version: ClassVar[int] = 0
    stream_prefix: ClassVar[str] = "survey"
    stream_key: ClassVar[str] = "survey_id"
    team_id: str
    survey_id: str
    returned_on: str
    answers: str
    confidence: str


_WORDS = {"y": "yes", "n": "no", "?": "not_sure"}


@pytest.fixture
def survey_v0_upcaster() -> Iterator[None]:
    @upcaster("PatientSurveyReturned", 0)
    def _v0(payload: dict[str, Any]) -> dict[str, Any]:
        a, g, f = (_WORDS[c] for c in payload["answers"])
        return {
            "team_id": payload["team_id"],
            "survey_id": payload["survey_id"],
            "returned_on": payload["returned_on"],
            "agenda_setting": a,
            "goal_setting": g,
            "follow_up": f,
            "confidence": int(payload["confidence"]),
        }

    yield
    del _UPCASTERS[("PatientSurveyReturned", 0)]


def test_an_older_survey_version_is_upcast_when_its_batch_also_holds_surveys_sqlite_folds(
    store: EventStore, survey_v0_upcaster: None
) -> None:
    old = _SurveyV0(
        team_id="t1", survey_id="s0", returned_on="2025-11-03", answers="y?n", confidence="4"
    )
    store.append([NewEvent(old)])
    _log(store)
    in_python = _fold(store, in_sql=False)
    rows = {(r[1], r[2]): r for r in in_python}
    assert rows[("t1", "s0")][3:9] == ("2025-11", "2025-11-03", "yes", "not_sure", "no", 4)
    for batch_size in (50_000, 1, 2, 4):
        assert _fold(store, in_sql=True, batch_size=batch_size) == in_python, batch_size


def test_a_rebuild_equals_an_incremental_catch_up_over_surveys_of_two_schema_versions(
    store: EventStore, survey_v0_upcaster: None
) -> None:
    store.append(
        [
            NewEvent(
                _SurveyV0(
                    team_id="t3",
                    survey_id="old",
                    returned_on="2025-10-10",
                    answers="nny",
                    confidence="9",
                )
            )
        ]
    )
    projector = Projector(store)
    projector.ensure_schema()
    projector.catch_up()
    _log(store)  # appended after the first catch-up: folded incrementally
    projector.catch_up()
    incremental = _surveys(store)
    projector.rebuild()
    assert _surveys(store) == incremental
    assert len(incremental) == 6


def test_the_sqlite_survey_fold_refuses_an_enabler_name_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="not an identifier"):
        survey_fold_sql(("agenda_setting", "x') , ('y"))


def test_the_first_recorded_return_wins_when_a_later_one_is_of_an_older_schema_version(
    store: EventStore, survey_v0_upcaster: None
) -> None:
    _log(store)  # t1/s1 first returned as yes / no / not_sure
    late = _SurveyV0(
        team_id="t1", survey_id="s1", returned_on="2026-04-01", answers="nnn", confidence="2"
    )
    store.append([NewEvent(late)])
    for batch_size in (50_000, 1, 7):
        rows = {(r[1], r[2]): r for r in _fold(store, in_sql=True, batch_size=batch_size)}
        assert rows[("t1", "s1")][5:9] == ("yes", "no", "not_sure", 7), batch_size
