"""Survey import: a good file lands once; every fault is refused whole, naming row and column,
and nothing shaped like an NHS number is ever stored or echoed."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.imports import ImportRefused
from audit.projections import Projector
from audit.survey_imports import SurveyImporter, looks_like_nhs_number, masked_source
from audit.surveys import survey_measures
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import TeamRegistered

HEADER = "survey_id,team,returned_on,agenda_setting,goal_setting,follow_up,confidence"
GOOD = f"""{HEADER}
s-1,msk1,2024-03-04,yes,yes,no,7
s-2,MSK Pain Team,2024-03-05,not_sure,doesnt_apply,yes,
s-3,msk1,2024-03-06,,no,Not sure,10
s-1,copd1,2024-03-06,yes,yes,yes,0
"""
NHS = "943 476 5919"


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append(
        [
            NewEvent(
                TeamRegistered(team_id="msk1", name="MSK Pain Team", site="North", service="MSK")
            ),
            NewEvent(TeamRegistered(team_id="copd1", name="COPD", site="North", service="COPD")),
        ]
    )
    Projector(s).catch_up()
    yield s
    s.dispose()


@pytest.fixture
def importer(store: EventStore) -> SurveyImporter:
    return SurveyImporter(store)


def test_a_good_survey_file_lands_once_and_a_second_import_appends_nothing(store, importer) -> None:
    first = importer.import_surveys(GOOD.encode())
    assert (first.rows, first.appended) == (4, 4)
    head = store.head().position
    again = importer.import_surveys(GOOD.encode())
    assert (again.appended, again.skipped) == (0, 4)
    assert store.head().position == head


def test_the_same_survey_id_in_two_teams_is_two_surveys_keyed_by_team(store, importer) -> None:
    importer.import_surveys(GOOD.encode())
    streams = sorted(e.stream_id for e in store.read_all(types=["PatientSurveyReturned"]))
    assert streams == ["survey-copd1-s-1", "survey-msk1-s-1", "survey-msk1-s-2", "survey-msk1-s-3"]


def test_answers_are_normalised_and_a_blank_confidence_is_absent_not_null(store, importer) -> None:
    importer.import_surveys(GOOD.encode())
    by_id = {
        (e.payload["team_id"], e.payload["survey_id"]): e.payload
        for e in store.read_all(types=["PatientSurveyReturned"])
    }
    s2, s3 = by_id[("msk1", "s-2")], by_id[("msk1", "s-3")]
    assert (s2["agenda_setting"], s2["goal_setting"]) == ("not_sure", "doesnt_apply")
    assert "confidence" not in s2
    assert (s3["agenda_setting"], s3["follow_up"], s3["confidence"]) == ("blank", "not_sure", 10)
    assert not any("patient" in key for p in by_id.values() for key in p)


def test_imported_surveys_reach_the_measures_after_catch_up(store, importer) -> None:
    importer.import_surveys(GOOD.encode())
    Projector(store).catch_up()
    m = survey_measures(store.engine)
    msk = m[(m["team"] == "msk1") & (m["measure"] == "agenda_setting")].iloc[0]
    # s-1 yes, s-2 not_sure, s-3 blank (excluded): 1 / 2
    assert (msk["numerator"], msk["denominator"]) == (1, 2)


FAULTS = {
    "unknown column": (
        f"{HEADER},patient\ns-9,msk1,2024-03-04,yes,yes,no,7,LOCAL-1\n",
        ["row 1", "'patient' is not in the surveys format", "anonymous"],
    ),
    "repeated column": (
        f"{HEADER},follow_up\ns-9,msk1,2024-03-04,yes,yes,no,7,no\n",
        ["row 1", "column follow_up appears more than once"],
    ),
    "missing column": (
        "survey_id,team,returned_on,agenda_setting,goal_setting\ns-9,msk1,2024-03-04,yes,no\n",
        ["row 1", "missing column(s) follow_up"],
    ),
    "bad answer": (
        f"{HEADER}\ns-9,msk1,2024-03-04,yes,maybe,no,7\n",
        [
            "row 2, column goal_setting",
            "expected yes, no, not_sure, doesnt_apply or blank",
            "'maybe'",
        ],
    ),
    "bad date": (
        f"{HEADER}\ns-9,msk1,2024-02-30,yes,yes,no,7\n",
        ["row 2, column returned_on", "YYYY-MM-DD", "'2024-02-30'"],
    ),
    "future date": (
        f"{HEADER}\ns-9,msk1,2099-01-01,yes,yes,no,7\n",
        ["row 2, column returned_on", "is outside"],
    ),
    "confidence out of range": (
        f"{HEADER}\ns-9,msk1,2024-03-04,yes,yes,no,11\n",
        ["row 2, column confidence", "whole number 0 to 10", "'11'"],
    ),
    "confidence not whole": (
        f"{HEADER}\ns-9,msk1,2024-03-04,yes,yes,no,7.5\n",
        ["row 2, column confidence", "'7.5'"],
    ),
    "unknown team": (
        f"{HEADER}\ns-9,nowhere,2024-03-04,yes,yes,no,7\n",
        ["row 2, column team", "'nowhere' is not a registered team"],
    ),
    "missing survey id": (
        f"{HEADER}\n,msk1,2024-03-04,yes,yes,no,7\n",
        ["row 2, column survey_id", "got nothing"],
    ),
    "same survey twice with different answers": (
        f"{HEADER}\ns-9,msk1,2024-03-04,yes,yes,no,7\n\ns-9,msk1,2024-03-04,no,yes,no,7\n",
        ["row 4, column survey_id", "already appears in row 2"],
    ),
    "one bad row among good ones, counted as a spreadsheet does": (
        f'{HEADER}\ns-8,msk1,2024-03-04,yes,yes,no,7\n"s-\n9",msk1,2024-03-04,yes,yes,no,7\n'
        "s-10,msk1,2024-03-04,yes,yes,nope,7\n",
        ["row 3, column survey_id", "line break", "row 4, column follow_up"],
    ),
    "header only": (f"{HEADER}\n", ["header but no data rows"]),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_survey_file_is_refused_naming_row_and_column_and_nothing_is_appended(
    store, importer, fault
) -> None:
    text, expected = FAULTS[fault]
    head = store.head().position
    with pytest.raises(ImportRefused) as refused:
        importer.import_surveys(text.encode())
    message = str(refused.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert store.head().position == head


@pytest.mark.parametrize(
    "row",
    [
        f"s-9,msk1,2024-03-04,yes,yes,no,{NHS}",
        f"{NHS},msk1,2024-03-04,yes,yes,no,7",
        "s-9,msk1,2024-03-04,943-476-5919,yes,no,7",
        "s-9,943.476.5919,2024-03-04,yes,yes,no,7",
        "9434765919,msk1,2024-03-04,yes,yes,no,7",
        "s-9,msk1,9434765919,yes,yes,no,7",
    ],
)
def test_a_value_shaped_like_an_nhs_number_is_refused_and_never_echoed(
    store, importer, row
) -> None:
    head = store.head().position
    with pytest.raises(ImportRefused) as refused:
        importer.import_surveys(f"{HEADER}\n{row}\n".encode())
    message = str(refused.value)
    assert "row 2, column" in message and "NHS number (not shown)" in message
    digits = "".join(ch for ch in message if ch.isdigit())
    assert "9434765919" not in digits.replace("2024", "")
    for form in (NHS, "943-476-5919", "943.476.5919", "9434765919"):
        assert form not in message
    assert store.head().position == head


def test_a_column_named_like_an_nhs_number_is_not_echoed(store, importer) -> None:
    with pytest.raises(ImportRefused) as refused:
        importer.import_surveys(f"{HEADER},{NHS}\ns-9,msk1,2024-03-04,yes,yes,no,7,x\n".encode())
    assert NHS not in str(refused.value) and "not shown" in str(refused.value)


def test_the_identifier_guard_does_not_refuse_ordinary_ids() -> None:
    for value in (
        "C-2024-000123",
        "6f1c9a52-5d8e-4c61-9a53-2b7d0c3e8f10",
        "surveys_20251128_103000",
        "2024-03-04",
        "s-000123456",
        "surveys_20251128_103000.csv",
    ):
        assert not looks_like_nhs_number(value), value
    for value in (NHS, "943-476-5919", "9434765919", "ref: 943 476 5919", "n:9434765919"):
        assert looks_like_nhs_number(value), value


def test_a_file_named_with_digits_is_accepted_and_its_name_stored_masked(store, importer) -> None:
    assert masked_source("surveys_9434765919.csv") == "surveys_##########.csv"
    importer.import_surveys(GOOD.encode(), source="surveys_9434765919.csv")
    sources = {e.metadata.get("source") for e in store.read_all(types=["PatientSurveyReturned"])}
    assert sources == {"import:surveys_##########.csv"}


def test_a_survey_reimported_with_different_answers_is_refused(store, importer) -> None:
    importer.import_surveys(GOOD.encode())
    head = store.head().position
    changed = GOOD.replace("s-3,msk1,2024-03-06,,no,Not sure,10", "s-3,msk1,2024-03-06,,yes,no,10")
    with pytest.raises(ImportRefused) as refused:
        importer.import_surveys(changed.encode())
    assert "row 4, column survey_id" in str(refused.value)
    assert "imported before with different answers" in str(refused.value)
    assert store.head().position == head


def test_unknown_teams_are_registered_first_when_asked(store, importer) -> None:
    text = f"{HEADER}\ns-9,New Team,2024-03-04,yes,yes,no,7\n"
    result = importer.import_surveys(text.encode(), register_teams=True)
    assert result.registered_teams == ["New Team"] and result.appended == 2


def test_survey_measures_as_of_reproduce_what_was_known_then(store, importer) -> None:
    importer.import_surveys(GOOD.encode())
    Projector(store).catch_up()
    between = datetime.now(UTC)
    more = f"{HEADER}\ns-4,msk1,2024-03-09,yes,yes,yes,9\n"
    importer.import_surveys(more.encode())
    Projector(store).catch_up()
    then = survey_measures(store.engine, as_of=between)
    now = survey_measures(store.engine)

    def agenda(m):
        row = m[(m["team"] == "msk1") & (m["measure"] == "agenda_setting")].iloc[0]
        return int(row["numerator"]), int(row["denominator"])

    assert agenda(then) == (1, 2) and agenda(now) == (2, 3)


def test_the_cli_imports_surveys_and_reports_them_in_the_audit_report_shape(
    store, tmp_path, capsys
) -> None:
    path = tmp_path / "surveys.csv"
    path.write_text(GOOD, encoding="utf-8")
    url = store.engine.url.render_as_string(hide_password=False)
    assert main(["import", "surveys", str(path), "--db", url, "-q"]) == 0
    assert "4 events appended" in capsys.readouterr().out
    assert main(["import", "surveys", str(path), "--db", url, "-q"]) == 0
    assert "0 events appended, 4 already present" in capsys.readouterr().out
    import json

    assert main(["audit", "report", "--source", "surveys", "--format", "json", "--db", url]) == 0
    records = json.loads(capsys.readouterr().out)
    keys = {"team", "period", "measure", "numerator", "denominator", "proportion"}
    keys |= {"ci_low", "ci_high", "small", "provisional"}
    assert all(set(r) == keys for r in records)
    assert records == sorted(records, key=lambda r: (r["team"], r["period"], r["measure"]))
    assert {(r["team"], r["measure"]) for r in records} >= {("msk1", "all_three")}


def test_the_cli_refuses_a_bad_survey_file_with_exit_1_and_appends_nothing(
    store, tmp_path, capsys
) -> None:
    path = tmp_path / "surveys.csv"
    path.write_text(f"{HEADER}\ns-9,msk1,2024-03-04,yes,yes,no,{NHS}\n", encoding="utf-8")
    url = store.engine.url.render_as_string(hide_password=False)
    head = store.head().position
    assert main(["import", "surveys", str(path), "--db", url, "-q"]) == 1
    err = capsys.readouterr().err
    assert "nothing was appended" in err and "row 2, column confidence" in err and NHS not in err
    assert store.head().position == head


def test_survey_event_ids_are_uuid5_of_team_and_survey_id(store, importer) -> None:
    import uuid

    from audit.imports import NAMESPACE, event_id
    from audit.survey_imports import survey_event_id

    for team, sid in (("msk1", "s-1"), ("copd1", "s-1"), ("t", "é/ünï\u00a0code")):
        expected = str(uuid.uuid5(NAMESPACE, f"survey\x1f{team}\x1f{sid}"))
        assert survey_event_id(team, sid) == event_id("survey", team, sid) == expected
    importer.import_surveys(GOOD.encode())
    ids = {e.event_id for e in store.read_all(types=["PatientSurveyReturned"])}
    assert survey_event_id("copd1", "s-1") in ids


# --- fuzzed survey files: imported whole or refused whole, every line naming its row ---------

REFUSAL_LINE = re.compile(r"^[\w.]+\.csv: (row \d+(, column \w+)?[:,] |the file )")
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
garbage = st.one_of(
    st.text(max_size=15),
    st.sampled_from(["", " ", "x" * 121, "a\nb", "\x00", "😀", "=1+1", "NULL", NHS, "9434765919"]),
)
answer = st.one_of(
    st.sampled_from(["yes", "no", "not_sure", "Not sure", "doesnt_apply", "N/A", "", "blank"]),
    garbage,
)
survey_cells = st.tuples(
    st.one_of(st.from_regex(r"s-[0-9]{1,3}", fullmatch=True), garbage),
    st.one_of(st.sampled_from(["msk1", "COPD1", "MSK Pain Team", "nope"]), garbage),
    st.one_of(st.sampled_from(["2024-03-04", "1900-01-01", "2024-02-30", "2024-3-4"]), garbage),
    answer,
    answer,
    answer,
    st.one_of(st.sampled_from(["", "0", "10", "11", "7.5", "-1"]), garbage),
).map(list)


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    out.write(HEADER + "\n")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


@FUZZ
@given(rows=st.lists(survey_cells, min_size=1, max_size=8))
def test_fuzzed_survey_files_are_imported_whole_or_refused_whole_naming_rows(
    store: EventStore, importer: SurveyImporter, rows: list[list[str]]
) -> None:
    before = store.head().position
    try:
        result = importer.import_surveys(_csv(rows))
    except ImportRefused as exc:
        assert exc.errors
        for line in exc.errors:
            assert REFUSAL_LINE.match(line), f"a refusal that names no row: {line!r}"
            for form in (NHS, "9434765919"):
                assert form not in line
        assert store.head().position == before, "a refused import appended something"
        return
    assert store.head().position == before + result.appended
    assert store.verify().ok


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_as_a_survey_file_are_refused_naming_the_problem(
    store: EventStore, importer: SurveyImporter, data: bytes
) -> None:
    before = store.head().position
    try:
        importer.import_surveys(data, source="random.csv")
    except ImportRefused as exc:
        assert all(REFUSAL_LINE.match(line) for line in exc.errors), exc.errors
    assert store.head().position == before
