"""Re-imported consultations and reviews: every change is recorded or refused by row and
column, never dropped silently (issue #13 item 1, DESIGN "Imports and corrections")."""

from __future__ import annotations

import pytest

from audit.imports import ImportRefused
from audit.measures import census_measures
from audit.projections import Projector
from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import normalise_identifier
from events.types import TeamRegistered

HEADER = "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,follow_up"
ROW1 = "c-1,msk1,K01,LOCAL-1,2024-03-04,face_to_face,{a},{g},{f}"
ROW2 = "c-2,msk1,K01,LOCAL-2,2024-03-05,telephone,no,no,no"


def _file(a: str = "yes", g: str = "no", f: str = "yes", *extra: str) -> bytes:
    return "\n".join([HEADER, ROW1.format(a=a, g=g, f=f), ROW2, *extra, ""]).encode()


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append(
        [NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="North", service="MSK pain"))]
    )
    yield s
    s.dispose()


def _census(store: EventStore, measure: str) -> tuple[int, int]:
    Projector(store).catch_up()
    df = census_measures(store.engine)
    row = df[(df["measure"] == measure) & (df["period"] == "2024-03")]
    return int(row["numerator"].iloc[0]), int(row["denominator"].iloc[0])


def _types(store: EventStore, after: int) -> list[str]:
    return [e.type for e in store.read_all(after=after)]


def test_an_element_now_yes_that_was_no_is_appended_and_counted_as_late_documentation(
    store, importer
) -> None:
    importer.import_consultations(_file(g="no"))
    assert _census(store, "goal_setting") == (0, 2)
    head = store.head().position
    result = importer.import_consultations(_file(g="yes"))
    assert result.appended == 1 and result.late_documentation == 1
    assert "1 late documentation" in result.summary()
    assert _types(store, head) == ["GoalAgreed"]
    assert _census(store, "goal_setting") == (1, 2)


def test_an_element_now_no_that_was_yes_is_refused_naming_row_and_column(store, importer) -> None:
    importer.import_consultations(_file(a="yes"))
    head = store.head().position
    with pytest.raises(ImportRefused) as info:
        importer.import_consultations(_file(a="no"))
    assert "row 2, column agenda_setting" in str(info.value)
    assert "--corrections" in str(info.value)
    assert store.head().position == head


def test_with_corrections_a_yes_now_no_is_retracted_and_yes_no_yes_works(store, importer) -> None:
    importer.import_consultations(_file(a="yes"))
    assert _census(store, "agenda_setting") == (1, 2)
    head = store.head().position
    retract = importer.import_consultations(_file(a="no"), corrections=True)
    assert retract.retracted == 1 and retract.appended == 1
    assert "1 retracted" in retract.summary()
    assert _types(store, head) == ["ElementRetracted"]
    assert _census(store, "agenda_setting") == (0, 2)
    again = importer.import_consultations(_file(a="yes"))
    assert again.late_documentation == 1 and again.appended == 1
    assert _census(store, "agenda_setting") == (1, 2)
    # and back once more: each step follows a new stream version, so none is mistaken for a
    # re-import of an earlier one
    assert importer.import_consultations(_file(a="no"), corrections=True).retracted == 1
    assert _census(store, "agenda_setting") == (0, 2)
    # re-running the last file appends nothing
    head = store.head().position
    assert importer.import_consultations(_file(a="no"), corrections=True).appended == 0
    assert store.head().position == head


@pytest.mark.parametrize(
    ("column", "changed"),
    [
        ("team", "c-1,other,K01,LOCAL-1,2024-03-04,face_to_face,yes,no,yes"),
        ("clinician", "c-1,msk1,K99,LOCAL-1,2024-03-04,face_to_face,yes,no,yes"),
        ("patient", "c-1,msk1,K01,LOCAL-9,2024-03-04,face_to_face,yes,no,yes"),
        ("occurred_on", "c-1,msk1,K01,LOCAL-1,2024-03-09,face_to_face,yes,no,yes"),
        ("contact", "c-1,msk1,K01,LOCAL-1,2024-03-04,video,yes,no,yes"),
    ],
)
def test_any_other_changed_column_is_refused_even_with_corrections(
    store, importer, column, changed
) -> None:
    store.append(
        [NewEvent(TeamRegistered(team_id="other", name="Other", site="S", service="COPD"))]
    )
    importer.import_consultations(_file())
    head = store.head().position
    data = "\n".join([HEADER, changed, ROW2, ""]).encode()
    with pytest.raises(ImportRefused) as info:
        importer.import_consultations(data, corrections=True)
    message = str(info.value)
    assert (
        f"row 2, column {column}: consultation 'c-1' is already in the log with a different "
        f"{column};" in message
    )
    assert "LOCAL-9" not in message and "LOCAL-1" not in message
    assert store.head().position == head


def test_na_leaves_the_denominator_and_never_counts_as_no(store, importer) -> None:
    result = importer.import_consultations(_file(a="yes", g="no", f="na"))
    assert result.appended > 0
    assert _census(store, "follow_up") == (0, 1)  # c-2's "no" only
    assert _census(store, "agenda_setting") == (1, 2)
    # all three: excluded when any is not applicable
    assert _census(store, "all_three") == (0, 1)
    # na -> no is a correction; then it counts as "no" again
    with pytest.raises(ImportRefused, match="row 2, column follow_up"):
        importer.import_consultations(_file(f="no"))
    assert importer.import_consultations(_file(f="no"), corrections=True).retracted == 1
    assert _census(store, "follow_up") == (0, 2)
    assert importer.import_consultations(_file(f="na"), corrections=True).not_applicable == 1
    assert _census(store, "follow_up") == (0, 1)


def test_na_as_of_a_moment_before_it_was_recorded_counts_the_note(store, importer) -> None:
    importer.import_consultations(_file(f="no"))
    Projector(store).catch_up()
    before = store.head().recorded_at
    importer.import_consultations(_file(f="na"), corrections=True)
    Projector(store).catch_up()
    from events.store import parse_ts

    df = census_measures(store.engine, as_of=parse_ts(before))
    row = df[(df["measure"] == "follow_up")]
    assert int(row["denominator"].iloc[0]) == 2
    now = census_measures(store.engine)
    assert int(now[now["measure"] == "follow_up"]["denominator"].iloc[0]) == 1


def test_rebuild_gives_the_same_census_after_corrections(store, importer) -> None:
    importer.import_consultations(_file(a="yes", f="na"))
    importer.import_consultations(_file(a="no", f="yes"), corrections=True)
    Projector(store).catch_up()
    incremental = census_measures(store.engine)
    Projector(store).rebuild()
    assert census_measures(store.engine).equals(incremental)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (HEADER + ",notes", ["row 1", "unknown column", "'notes'"]),
        (HEADER + ",agenda_setting", ["row 1", "agenda_setting appears more than once"]),
    ],
)
def test_unknown_and_duplicated_header_columns_are_refused(
    store, importer, header, expected
) -> None:
    data = f"{header}\nc-9,msk1,K01,L1,2024-03-04,video,yes,no,yes,x\n".encode()
    with pytest.raises(ImportRefused) as info:
        importer.import_consultations(data)
    for fragment in expected:
        assert fragment in str(info.value)


def test_identical_duplicate_rows_are_harmless(store, importer) -> None:
    row = ROW1.format(a="yes", g="no", f="yes")
    head = store.head().position
    result = importer.import_consultations("\n".join([HEADER, row, row, ""]).encode())
    # clinician, consultation, two elements (and the key's check value, recorded once)
    assert _types(store, head).count("ConsultationHeld") == 1
    assert [t for t in _types(store, head) if t != "PseudonymKeyRecorded"] == [
        "ClinicianRegistered",
        "ConsultationHeld",
        "AgendaSet",
        "FollowUpArranged",
    ]
    assert result.appended == len(_types(store, head))


def test_a_non_utf8_byte_is_reported_by_row_and_column(store, importer) -> None:
    data = (
        f"{HEADER}\nc-9,msk1,K01,L1,2024-03-04,video,yes,no,yes\n"
        "c-10,msk1,K0\xef,L1,2024-03-04,video,yes,no,yes\n"
    ).encode("latin-1")
    with pytest.raises(ImportRefused) as info:
        importer.import_consultations(data)
    message = str(info.value)
    assert "row 3, column clinician" in message and "not UTF-8" in message
    assert "byte 1" not in message and "offset" not in message


def test_a_file_imported_before_corrections_existed_reimports_with_nothing_appended(
    store, importer
) -> None:
    """The first version's event ids (UUID v5 of consultation and type) are what a file
    imported before this change left in the log; a re-import must append nothing."""
    import uuid

    from audit.imports import NAMESPACE
    from events.types import AgendaSet, ClinicianRegistered, ConsultationHeld, FollowUpArranged

    registry = importer.registry
    with registry.transaction() as conn:
        canonical, _ = normalise_identifier("LOCAL-1")
        hashes = list(registry.hashes_for([canonical]).values())
        token = registry.tokens_for(hashes, conn, create=True)
        token = next(iter(token.values()))

    def old_id(*key: str) -> str:
        return str(uuid.uuid5(NAMESPACE, "\x1f".join(key)))

    from datetime import date

    store.append(
        [
            NewEvent(
                ClinicianRegistered(clinician_id="K01", team_id="msk1", role="clinician"),
                event_id=old_id("clinician", "K01"),
            ),
            NewEvent(
                ConsultationHeld(
                    consultation_id="c-1",
                    team_id="msk1",
                    clinician_id="K01",
                    patient_ref=token,
                    occurred_on=date(2024, 3, 4),
                    contact="face_to_face",
                ),
                event_id=old_id("consultation", "c-1", "ConsultationHeld"),
            ),
            NewEvent(
                AgendaSet(consultation_id="c-1", documented_on=date(2024, 3, 4)),
                event_id=old_id("consultation", "c-1", "AgendaSet"),
            ),
            NewEvent(
                FollowUpArranged(consultation_id="c-1", documented_on=date(2024, 3, 4)),
                event_id=old_id("consultation", "c-1", "FollowUpArranged"),
            ),
        ]
    )
    head = store.head().position
    data = "\n".join([HEADER, ROW1.format(a="yes", g="no", f="yes"), ""]).encode()
    result = importer.import_consultations(data)
    # nothing of the file is appended (the first write with a key records its check value,
    # once, whatever is imported: #14)
    assert [t for t in _types(store, head) if t != "PseudonymKeyRecorded"] == []
    assert result.appended == len(_types(store, head)) <= 1
    assert result.skipped == 3  # the consultation and its two elements already present
    again = importer.import_consultations(data)
    assert again.appended == 0


def test_the_cli_refuses_a_retraction_without_corrections_and_records_it_with(
    store, db_url, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", "cli-test-key-0123456789abcdef0123")
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_bytes(_file(a="yes"))
    second.write_bytes(_file(a="no", g="yes"))
    assert main(["--db", db_url, "import", "consultations", str(first), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["--db", db_url, "import", "consultations", str(second), "--quiet"]) == 1
    assert "row 2, column agenda_setting" in capsys.readouterr().err
    args = ["--db", db_url, "import", "consultations", str(second), "--corrections", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 events appended (1 late documentation, 1 retracted)" in out
    assert "already present" in out


def test_a_missing_file_says_no_such_file(store, db_url, tmp_path, capsys) -> None:
    missing = tmp_path / "nowhere.csv"
    assert main(["--db", db_url, "import", "consultations", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no such file {missing}" in err and "unexpected error" not in err


def test_audit_report_on_an_empty_database_says_so(db_url, capsys) -> None:
    EventStore(db_url).create_schema()
    assert main(["--db", db_url, "audit", "report"]) == 0
    out = capsys.readouterr().out
    assert "Empty DataFrame" not in out and "the database is empty" in out


def test_a_changed_imd_quintile_is_refused_even_with_corrections(store, importer) -> None:
    header = HEADER + ",imd_quintile"
    first = f"{header}\n{ROW1.format(a='yes', g='no', f='yes')},3\n".encode()
    importer.import_consultations(first)
    head = store.head().position
    changed = f"{header}\n{ROW1.format(a='yes', g='no', f='yes')},4\n".encode()
    with pytest.raises(
        ImportRefused,
        match=r"row 2, column imd_quintile: consultation .* with a different imd_quintile;",
    ):
        importer.import_consultations(changed, corrections=True)
    assert store.head().position == head
    assert importer.import_consultations(first).appended == 0
