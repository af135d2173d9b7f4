"""The accept-only fast row checks (audit.fast_rows) and the collector pause (audit.gc_pause):
a fast check gives exactly the row the pydantic model gives, or leaves the row to the model;
what it accepts in a closed column can never hold an NHS number."""

from __future__ import annotations

import gc
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from audit import identifiers
from audit.csv_rows import ConsultationRow, RowContext, SurveyRow, validate_rows
from audit.fast_rows import (
    _CONFIDENCE,
    _QUINTILES,
    CONSULTATION_FREE_TEXT,
    SURVEY_FREE_TEXT,
    consultation_fast,
    survey_fast,
)
from audit.gc_pause import collector_paused, paused_collector
from events.types import ELEMENTS

TODAY = date(2025, 1, 1)
NHS = "943 476 5919"

# spellings people type, odd ones included: each goes fast or to the model, never elsewhere
ANSWER_CELLS = ["yes", "YES", "y", "no", "N", "not sure", "Not_Sure", "unsure", "n/a", "na",
                "doesn't apply", "blank", "", "maybe", "0", NHS, "yes ", "ｙｅｓ"]  # fmt: skip
FINDING_CELLS = ["yes", "Y", "true", "1", "no", "0", "False", "na", "N/A", "not applicable",
                 "", "maybe", "2", NHS]  # fmt: skip
DATE_CELLS = ["2024-03-04", "2024-02-30", "20240304", "1989-12-31", "1990-01-01", "2025-01-01",
              "2025-01-02", "04/03/2024", "", "2024-3-4", "２０２４-03-04"]  # fmt: skip
TEAM_CELLS = ["msk1", "MSK Pain", "copd", "", "x" * 121, "tab\tteam", "nbsp\u00a0team", NHS]
CONFIDENCE_CELLS = ["", "0", "7", "07", "10", "11", "010", "blank", "BLANK", "3.0", "-1", "٣"]
QUINTILE_CELLS = ["", "1", "5", "3.0", "0", "6", "3.5", "0000000003", "3e0", " 3", "three"]
CONTACT_CELLS = ["video", "Face-to-face", "face to face", "TELEPHONE", "pigeon", ""]
PATIENT_CELLS = ["P001", "LOCAL-77", NHS, "9434765918", "", "p\x01"]


def context(**kw) -> RowContext:
    return RowContext(today=TODAY, teams={"msk1": "msk1", "msk pain": "msk1"}, **kw)


def model_row(model, row: dict[str, str], ctx: RowContext):
    """What the row model alone makes of ``row`` (the identifier guard is not the model's:
    ``validate_rows`` runs it on the free-text columns of fast-accepted rows, tested below)."""
    try:
        return model.model_validate(row, context=ctx)
    except ValidationError:
        return None


def same(fast_row, slow_row) -> bool:
    return fast_row.model_dump() == slow_row.model_dump() and type(fast_row) is type(slow_row)


survey_rows = st.fixed_dictionaries(
    {
        "survey_id": st.sampled_from(["s-1", "", "x" * 121, "a\nb", "s\u00a01"]),
        "team": st.sampled_from(TEAM_CELLS),
        "returned_on": st.sampled_from(DATE_CELLS),
        **{e: st.sampled_from(ANSWER_CELLS) for e in ELEMENTS},
        "confidence": st.sampled_from(CONFIDENCE_CELLS),
    }
)


@settings(max_examples=400, deadline=None)
@given(row=survey_rows, register=st.booleans())
def test_a_fast_survey_row_is_exactly_the_models_row_or_left_to_the_model(row, register) -> None:
    fast = survey_fast(SurveyRow, ELEMENTS, context(register_teams=register))(row)
    slow = model_row(SurveyRow, row, context(register_teams=register))
    if fast is not None:
        assert slow is not None and same(fast[0], slow)
        assert fast[1] == (row["team"] if slow.team == row["team"] and register and
                           row["team"].lower() not in ("msk1", "msk pain") else None)  # fmt: skip


consultation_rows = st.fixed_dictionaries(
    {
        "consultation_id": st.sampled_from(["c-1", "", "x" * 121, "a\rb"]),
        "team": st.sampled_from(TEAM_CELLS),
        "clinician": st.sampled_from(["K1", "", "k\x7f"]),
        "patient": st.sampled_from(PATIENT_CELLS),
        "occurred_on": st.sampled_from(DATE_CELLS),
        "contact": st.sampled_from(CONTACT_CELLS),
        "imd_quintile": st.sampled_from(QUINTILE_CELLS),
        **{e: st.sampled_from(FINDING_CELLS) for e in ELEMENTS},
    }
)


@settings(max_examples=400, deadline=None)
@given(row=consultation_rows, demo_key=st.booleans())
def test_a_fast_consultation_row_is_exactly_the_models_row_or_left_to_the_model(
    row, demo_key
) -> None:
    fast = consultation_fast(ConsultationRow, ELEMENTS, context(demo_key=demo_key))(row)
    slow = model_row(ConsultationRow, row, context(demo_key=demo_key))
    if fast is not None:
        assert slow is not None and same(fast[0], slow)


def test_the_usual_spellings_do_go_the_fast_way() -> None:
    survey = {"survey_id": "s-1", "team": "MSK Pain", "returned_on": "2024-03-04",
              "agenda_setting": "Not sure", "goal_setting": "", "follow_up": "yes",
              "confidence": "7"}  # fmt: skip
    assert survey_fast(SurveyRow, ELEMENTS, context())(survey) is not None
    consultation = {"consultation_id": "c-1", "team": "msk1", "clinician": "K1",
                    "patient": "P001", "occurred_on": "2024-03-04", "contact": "Face-to-face",
                    "imd_quintile": "", "agenda_setting": "yes", "goal_setting": "no",
                    "follow_up": "na"}  # fmt: skip
    assert consultation_fast(ConsultationRow, ELEMENTS, context())(consultation) is not None


@pytest.mark.parametrize(
    "cells",
    [ANSWER_CELLS, FINDING_CELLS, DATE_CELLS, CONTACT_CELLS, list(_QUINTILES), list(_CONFIDENCE)],
)
def test_nothing_a_fast_check_accepts_in_a_closed_column_can_hold_an_nhs_number(cells) -> None:
    """The guard searches only the free-text columns of fast-accepted rows: this is why."""
    closed = [c for c in cells if c not in (NHS,)]
    for cell in closed:
        assert not identifiers.looks_like_nhs_number(cell), cell
    assert set(CONSULTATION_FREE_TEXT) == {"consultation_id", "team", "clinician"}
    assert set(SURVEY_FREE_TEXT) == {"survey_id", "team"}


def test_an_nhs_number_in_any_column_of_a_fast_checked_file_is_refused_and_not_echoed() -> None:
    base = {"survey_id": "s-1", "team": "msk1", "returned_on": "2024-03-04",
            "agenda_setting": "yes", "goal_setting": "no", "follow_up": "yes",
            "confidence": "7"}  # fmt: skip
    for column in base:
        row = {**base, column: NHS}
        ctx = context()
        out = validate_rows(
            SurveyRow,
            [(2, dict(base)), (3, row)],
            "s.csv",
            context=ctx,
            guard_stops_row=True,
            fast=survey_fast(SurveyRow, ELEMENTS, ctx),
            free_text=SURVEY_FREE_TEXT,
        )
        assert [n for n, _ in out.rows] == [2]
        assert any(f"s.csv: row 3, column {column}:" in e for e in out.errors), out.errors
        assert all(NHS not in e and "9434765919" not in e for e in out.errors)


def test_with_a_fast_check_the_refusals_are_word_for_word_the_models() -> None:
    rows = [
        (2, {"survey_id": "s-1", "team": "nope", "returned_on": "2024-13-01",
             "agenda_setting": "maybe", "goal_setting": NHS, "follow_up": "yes",
             "confidence": "11"}),
        (3, {"survey_id": "s-2", "team": "msk1", "returned_on": "2024-03-01",
             "agenda_setting": "yes", "goal_setting": "no", "follow_up": "yes",
             "confidence": ""}),
        (4, {"survey_id": "", "team": "MSK Pain", "returned_on": "2026-01-01",
             "agenda_setting": "unsure", "goal_setting": "no", "follow_up": "N/A",
             "confidence": "٣"}),
    ]  # fmt: skip
    slow = validate_rows(SurveyRow, rows, "s.csv", context=context())
    ctx = context()
    fast = validate_rows(
        SurveyRow, rows, "s.csv", context=ctx,
        fast=survey_fast(SurveyRow, ELEMENTS, ctx), free_text=SURVEY_FREE_TEXT,
    )  # fmt: skip
    assert fast.errors == slow.errors and len(fast.errors) >= 5
    assert [(n, r.model_dump()) for n, r in fast.rows] == [
        (n, r.model_dump()) for n, r in slow.rows
    ]


def test_teams_to_register_are_listed_in_row_order_as_the_model_lists_them() -> None:
    rows = [
        (2, {"survey_id": "s-1", "team": "new-b", "returned_on": "2024-03-01",
             "agenda_setting": "yes", "goal_setting": "no", "follow_up": "yes",
             "confidence": "٣"}),  # a digit the fast check leaves to the model
        (3, {"survey_id": "s-2", "team": "new-a", "returned_on": "2024-03-01",
             "agenda_setting": "yes", "goal_setting": "no", "follow_up": "yes",
             "confidence": ""}),
        (4, {"survey_id": "s-3", "team": "new-b", "returned_on": "2024-03-01",
             "agenda_setting": "yes", "goal_setting": "no", "follow_up": "yes",
             "confidence": ""}),
    ]  # fmt: skip
    ctx = context(register_teams=True)
    out = validate_rows(
        SurveyRow, rows, "s.csv", context=ctx,
        fast=survey_fast(SurveyRow, ELEMENTS, ctx), free_text=SURVEY_FREE_TEXT,
    )  # fmt: skip
    assert out.errors == [] and list(ctx.unknown_teams.items()) == [("new-b", 2), ("new-a", 3)]


def test_the_collector_is_paused_inside_and_restored_after_even_on_an_error() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested (two imports in one process)
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()

    @paused_collector
    def fails() -> None:
        assert not gc.isenabled()
        raise ValueError("refused")

    with pytest.raises(ValueError):
        fails()
    assert gc.isenabled()


def test_a_collector_someone_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@settings(max_examples=200, deadline=None)
@given(
    answers=st.lists(
        st.sampled_from(["yes", "no", "not_sure", "doesnt_apply", "blank"]), min_size=3, max_size=3
    ),
    confidence=st.one_of(st.none(), st.integers(0, 10)),
    day=st.dates(date(1990, 1, 1), date(2100, 12, 31)),
)
def test_a_survey_payload_is_exactly_the_models_json_dump(answers, confidence, day) -> None:
    """``PatientSurveyReturned.payload`` is built from the fields directly: the same dict."""
    from events.types import PatientSurveyReturned

    survey = PatientSurveyReturned(
        survey_id="s-1",
        team_id="msk1",
        returned_on=day,
        confidence=confidence,
        **dict(zip(ELEMENTS, answers, strict=True)),
    )
    dumped = survey.model_dump(mode="json")
    if confidence is None:
        del dumped["confidence"]
    assert survey.payload() == dumped
