"""The service layer (issue #12) on real databases (SQLite file and PostgreSQL): the privacy
service's erasure protocol, reached from the CLI and from the dashboard's wiring alike, and
the team-fact and export services the pages now call instead of building events."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from audit import decisions, queries
from audit.bootstrap import bootstrap
from audit.commentary import commentary
from audit.exports import record_export
from audit.privacy import ForgetRefused, forget_patient
from dashboard.cli import main
from events import EventStore, NewEvent
from events.types import TeamRegistered

from .test_reliability_privacy import nhs_numbers

KEY = "services-test-key-0123456789abcdef"
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)


@pytest.fixture
def db(db_url: str) -> str:
    store = EventStore(db_url)
    store.create_schema()
    store.append(
        [NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="North", service="MSK pain"))]
    )
    store.dispose()
    return db_url


def _csv(rows: list[tuple[str, str]]) -> bytes:
    lines = [f"{cid},msk1,K1,{patient},2024-03-01,video,yes,no,no" for cid, patient in rows]
    return (HEADER + "\n" + "\n".join(lines) + "\n").encode()


def _events(url: str, type_name: str) -> list:
    store = EventStore(url)
    try:
        return [e for e in store.read_all() if e.type == type_name]
    finally:
        store.dispose()


# --------------------------------------------------------------------- the privacy service


def test_forget_patient_records_then_erases_and_a_second_forget_finds_no_mapping(db: str) -> None:
    (n,) = nhs_numbers(1, valid=True, start=201)
    wiring = bootstrap(db, KEY)
    try:
        wiring.importer().import_consultations(_csv([("c1", n)]), source="a.csv")
        wiring.projector.catch_up()
        (token,) = wiring.registry.tokens_of(n)

        result = forget_patient(wiring, f"{n[:3]} {n[3:6]} {n[6:]}", requested_by="Dr X")
        assert result.had_mapping and result.tokens == (token,)
        assert wiring.registry.tokens_of(n) == []
        forgotten = _events(db, "PatientForgotten")
        assert [e.payload["patient_ref"] for e in forgotten] == [token]
        assert forgotten[0].metadata["actor"] == "Dr X"

        again = wiring.forget_patient(n, requested_by="Dr Y")  # the bootstrap's wiring
        assert not again.had_mapping and again.tokens == ()
        assert len(_events(db, "PatientForgotten")) == 1
    finally:
        wiring.store.dispose()


def test_forget_patient_refuses_another_key_and_an_identifier_as_requester(db: str) -> None:
    (n,) = nhs_numbers(1, valid=True, start=202)
    wiring = bootstrap(db, KEY)
    try:
        wiring.importer().import_consultations(_csv([("c1", n)]), source="a.csv")
    finally:
        wiring.store.dispose()
    before = len(_events(db, "PatientForgotten"))
    other = bootstrap(db, KEY + "-typo")
    try:
        with pytest.raises(ForgetRefused, match="forget refused") as refused:
            forget_patient(other, n, requested_by="Dr X")
        assert n not in str(refused.value)
    finally:
        other.store.dispose()
    wiring = bootstrap(db, KEY)
    try:
        with pytest.raises(ForgetRefused, match="looks like an NHS number") as refused:
            forget_patient(wiring, n, requested_by=f"on behalf of {n}")
        assert n not in str(refused.value)
        with pytest.raises(ForgetRefused, match="who asked"):
            forget_patient(wiring, n, requested_by="  ")
        assert wiring.registry.tokens_of(n)  # nothing was erased
    finally:
        wiring.store.dispose()
    assert len(_events(db, "PatientForgotten")) == before


@pytest.mark.parametrize("forget_from", ["cli", "dashboard"])
def test_forget_from_either_side_erases_what_the_cli_and_the_dashboard_imported(
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    forget_from: str,
) -> None:
    """The key in the environment for the CLI and in ``.streamlit/secrets.toml`` for the
    dashboard: the patient imported by each gets one token, and ``forget`` run from either
    side (``sipdash forget``, or the privacy service over the dashboard's own wiring) erases
    it for both, after which both refuse the patient."""
    from dashboard import data, writes

    (n,) = nhs_numbers(1, valid=True, start=203 if forget_from == "cli" else 204)
    work = tmp_path / "work"
    (work / ".streamlit").mkdir(parents=True)
    (work / ".streamlit" / "secrets.toml").write_text(
        f'SIPDASH_PSEUDONYM_KEY = "{KEY}"\n', encoding="utf-8"
    )
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SIPDASH_DATABASE_URL", db)

    def cli(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)  # the CLI: the environment
        code = main([*argv, "-q"])
        out = capsys.readouterr()
        return code, out.out, out.err

    def dashboard() -> None:
        monkeypatch.delenv("SIPDASH_PSEUDONYM_KEY", raising=False)  # the dashboard: secrets

    a = tmp_path / "a.csv"
    a.write_bytes(_csv([("cli-1", n)]))
    assert cli("import", "consultations", str(a))[0] == 0
    dashboard()
    writes.run_import(
        "consultations", _csv([("dash-1", f"{n[:3]}-{n[3:6]}-{n[6:]}")]), source="b.csv", actor="D"
    )
    refs = {
        e.payload["consultation_id"]: e.payload["patient_ref"]
        for e in _events(db, "ConsultationHeld")
    }
    assert refs["cli-1"] == refs["dash-1"]

    if forget_from == "cli":
        code, out, _ = cli("forget", n, "--by", "Dr X")
        assert code == 0 and refs["cli-1"] in out and n not in out
    else:
        dashboard()
        result = data.wiring().forget_patient(n, requested_by="Dr X")
        assert result.tokens == (refs["cli-1"],)

    assert [e.payload["patient_ref"] for e in _events(db, "PatientForgotten")] == [refs["cli-1"]]
    dashboard()
    assert data.wiring().registry.tokens_of(n) == []
    with pytest.raises(writes.ImportRefused, match="asked to be forgotten"):
        writes.run_import("consultations", _csv([("dash-2", n)]), source="c.csv", actor="D")
    c = tmp_path / "c.csv"
    c.write_bytes(_csv([("cli-2", n)]))
    code, _, err = cli("import", "consultations", str(c))
    assert code == 1 and "asked to be forgotten" in err


# ------------------------------------------------------- team facts and exports, as services


def test_team_facts_are_checked_and_saved_once_per_submission(db: str) -> None:
    (n,) = nhs_numbers(1, valid=True, start=205)
    wiring = bootstrap(db, KEY)
    store, projector = wiring.store, wiring.projector
    try:
        projector.catch_up()
        submission = "0190f2a0-0000-7000-8000-000000000001"
        for _ in range(2):  # a double click: one event
            decisions.log_milestone(
                store,
                "msk1",
                date(2024, 3, 1),
                "pdsa_cycle",
                " PDSA 1 ",
                actor="lead",
                projector=projector,
                event_id=submission,
            )
        facts = queries.team_facts(store.engine, "msk1", types=("MilestoneLogged",))
        assert facts["title"].tolist() == ["PDSA 1"]
        assert queries.event_stored(store.engine, submission)
        with pytest.raises(decisions.DecisionRefused, match="title"):
            decisions.log_milestone(store, "msk1", date(2024, 3, 1), "note", " ", actor="lead")
        with pytest.raises(decisions.DecisionRefused, match="kind"):
            decisions.log_milestone(store, "msk1", date(2024, 3, 1), "party", "x", actor="lead")
        with pytest.raises(Exception, match="looks like an NHS number") as refused:
            decisions.add_commentary(
                store, "msk1", "2024-03", f"call {n}", "Dr A", actor="lead", projector=projector
            )
        assert n not in str(refused.value)

        added = decisions.add_commentary(
            store,
            "msk1",
            "2024-03",
            "Goal setting rose.",
            "Dr A",
            actor="lead",
            projector=projector,
        )
        assert added.text == "Goal setting rose."
        (said,) = commentary(store.engine, "msk1").itertuples()
        first = decisions.withdraw_commentary(
            store, "msk1", said.event_id, "Dr A", actor="lead", projector=projector
        )
        second = decisions.withdraw_commentary(
            store, "msk1", said.event_id, "Dr B", actor="lead", projector=projector
        )
        assert first is not None and second is None
        assert commentary(store.engine, "msk1")["withdrawn"].tolist() == [True]
        with pytest.raises(decisions.DecisionRefused, match="no such commentary"):
            decisions.withdraw_commentary(store, "msk1", "not-an-id", "Dr A", actor="lead")

        head = store.head().hash
        signed = decisions.sign_off(
            store,
            "msk1",
            "2024-03",
            "Ms Board",
            viewed_head=head,
            actor="board",
            projector=projector,
        )
        assert signed.viewed_head == head
        with pytest.raises(decisions.DecisionRefused, match="viewed_head"):
            decisions.sign_off(store, "msk1", "2024-03", "Ms Board", viewed_head="xyz", actor="b")
        assert len(_events(db, "CommentaryWithdrawn")) == 1
    finally:
        store.dispose()


def test_an_export_is_recorded_with_its_name_masked_and_the_head_it_shows(db: str) -> None:
    store = EventStore(db)
    try:
        head = store.head().hash
        record_export(
            store, "table", "teams 943 476 5919.csv", actor="Dr X", head_hash=head, source="d"
        )
        (event,) = _events(db, "ExportRecorded")
        assert event.payload["what"] == "teams ### ### ####.csv"
        assert event.payload["head_hash"] == head
        assert event.metadata == {"actor": "Dr X", "source": "d"}
    finally:
        store.dispose()


def test_a_published_head_is_found_by_prefix_and_a_pattern_is_never_one(db: str) -> None:
    store = EventStore(db)
    try:
        head = store.head().hash
        rows = queries.events_with_hash_prefix(store.engine, head[:12])
        assert [r[1] for r in rows] == [head]
        assert queries.events_with_hash_prefix(store.engine, "%") == []
        assert queries.events_with_hash_prefix(store.engine, "_" * 12) == []
    finally:
        store.dispose()
