"""Privacy and erasure: raw patient identifiers never reach the disk, an output or a log line,
and a forgotten patient stays forgotten while the hash chain stays intact.

Imports here carry real-shaped NHS numbers (valid by the modulus-11 rule, and invalid ones)
and local ids. Afterwards the test reads every byte the database wrote (the SQLite file and
its WAL; every table of the PostgreSQL database), everything printed and every log record,
and looks for each identifier with and without spaces.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry, forgotten_event_id, key_hash
from events.types import PatientForgotten
from tests.helpers.logs import one_team

KEY = "reliability-privacy-key-0123456789abcdef0123"
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)
ROOT = Path(__file__).resolve().parents[2]
WAIT = 120


def nhs_numbers(count: int, *, valid: bool, start: int = 0) -> list[str]:
    """NHS numbers by the modulus-11 rule (or, with valid=False, with a wrong check digit)."""
    out, n = [], 612_345_678 + start * 104_729
    while len(out) < count:
        base = f"{n % 1_000_000_000:09d}"
        total = sum(int(d) * w for d, w in zip(base, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        n += 104_729
        if check == 10:
            if not valid:
                out.append(base + "0")  # a check digit of 10 is never valid
            continue
        out.append(base + str(check if valid else (check + 1) % 10))
    return out


def spaced(nhs: str) -> str:
    return f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"


def forms(identifier: str) -> set[str]:
    """How an identifier could appear: as typed, without spaces, in the 3-3-4 layout."""
    digits = identifier.replace(" ", "")
    if digits.isdigit() and len(digits) == 10:
        return {digits, spaced(digits)}
    return {identifier}


def sipdash(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("sipdash")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "dashboard.cli"]
    return subprocess.run(
        [*cmd, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SIPDASH_PSEUDONYM_KEY": KEY},
        timeout=WAIT,
    )


def database_bytes(url: str) -> bytes:
    """Everything the database holds: the SQLite file and its WAL, or every PostgreSQL table."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        return b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    out = []
    with psycopg.connect(conninfo) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            for row in conn.execute(f'SELECT t::text FROM "{table}" t'):
                out.append(row[0])
    return "\n".join(out).encode("utf-8")


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    return one_team(db_url)


def write_csv(path: Path, rows: list[list[str]]) -> str:
    path.write_text(HEADER + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_raw_identifiers_never_reach_the_database_the_output_or_the_logs(
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    valid = nhs_numbers(12, valid=True)
    invalid = nhs_numbers(6, valid=False, start=50)
    local = [f"HOSP-ZQX-{i:04d}" for i in range(6)]
    identifiers = valid + invalid + local

    good = [
        [f"c{i}", "msk1", "K1", patient, f"2024-03-{1 + i:02d}", "video", "yes", "no", "yes"]
        for i, patient in enumerate(
            [spaced(v) if i % 2 else v for i, v in enumerate(valid)] + local
        )
    ]
    good_file = write_csv(tmp_path / "good.csv", good)
    # bad files: invalid check digits, and identifiers typed into the wrong columns
    bad_patient = write_csv(
        tmp_path / "bad.csv",
        [
            [
                f"b{i}",
                "msk1",
                "K1",
                spaced(p) if i % 2 else p,
                "2024-03-01",
                "video",
                "no",
                "no",
                "no",
            ]
            for i, p in enumerate(invalid)
        ],
    )
    shifted = write_csv(
        tmp_path / "shifted.csv",
        [
            ["s1", "msk1", "K1", "2024-03-01", valid[0], "video", "no", "no", "no"],
            ["s2", valid[1], "K1", local[0], "2024-03-01", "video", "no", "no", "no"],
            ["s3", "msk1", "K1", local[1], "2024-03-01", spaced(valid[2]), "no", "no", "no"],
            ["s4", "msk1", "K1", local[1], "2024-03-01", "video", valid[3], "no", "no"],
        ],
    )
    backup = tmp_path / "log.jsonl"

    outputs: list[str] = []

    def run(*argv: str) -> int:
        code = main([*argv, "--db", db, "-q"])
        captured = capsys.readouterr()
        outputs.extend([captured.out, captured.err])
        return code

    assert run("import", "consultations", good_file) == 0
    assert run("import", "consultations", good_file) == 0  # again: a no-op
    assert run("import", "consultations", bad_patient) == 1
    assert run("import", "consultations", shifted) == 1
    assert run("audit", "run", "--period", "2024-03") == 0
    assert run("audit", "report", "--format", "csv") == 0
    assert run("verify") == 0
    assert run("backup", str(backup)) == 0
    assert run("forget", valid[4], "--by", "Dr X") == 0
    assert run("forget", spaced(invalid[0]), "--by", "Dr X") == 1  # invalid: refused, not echoed
    real = sipdash("import", "consultations", bad_patient, "--db", db, "-q")
    assert real.returncode == 1
    outputs.extend([real.stdout, real.stderr])
    assert "row 2, column patient" in real.stderr

    stored = database_bytes(db) + backup.read_bytes()
    printed = "\n".join(outputs)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for identifier in identifiers:
        for form in forms(identifier):
            assert form.encode() not in stored, f"an identifier is stored: {form}"
            assert form not in printed, f"an identifier was printed: {form}"
            assert form not in logged, f"an identifier was logged: {form}"


def test_forget_erases_the_mapping_keeps_the_chain_and_refuses_the_patient_again(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forgotten, kept = nhs_numbers(2, valid=True, start=7)
    rows = [
        ["c1", "msk1", "K1", forgotten, "2024-03-01", "video", "yes", "no", "yes"],
        ["c2", "msk1", "K1", kept, "2024-03-02", "video", "no", "no", "yes"],
        ["c3", "msk1", "K1", "HOSP-7", "2024-03-03", "video", "yes", "yes", "yes"],
        ["c4", "msk1", "K1", forgotten, "2024-03-04", "video", "no", "yes", "no"],
    ]
    first = write_csv(tmp_path / "first.csv", rows)
    assert main(["import", "consultations", first, "--db", db, "-q"]) == 0
    store = EventStore(db)
    refs = {
        e.payload["consultation_id"]: e.payload["patient_ref"]
        for e in store.read_all()
        if e.type == "ConsultationHeld"
    }
    token = refs["c1"]
    assert refs["c4"] == token and len(set(refs.values())) == 3
    capsys.readouterr()

    # the identifier arrives on stdin, typed with spaces; it is never on a command line
    result = sipdash(
        "forget", "-", "--by", "Dr X", "--db", db, "-q", stdin=spaced(forgotten) + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert token in result.stdout
    for form in forms(forgotten):
        assert form not in result.stdout + result.stderr

    h = key_hash(KEY, f"nhs:{forgotten}")
    with store.engine.connect() as conn:
        mapped = dict(conn.exec_driver_sql("SELECT key_hash, token FROM patient_tokens").fetchall())
        remembered = {
            r[0] for r in conn.exec_driver_sql("SELECT key_hash FROM patient_forgotten_keys")
        }
        projected = [r[0] for r in conn.exec_driver_sql("SELECT patient_ref FROM rm_forgotten")]
    assert h not in mapped and token not in mapped.values(), "the mapping must be gone"
    assert h in remembered
    assert projected == [token]
    last = list(store.read_all())[-1]
    assert last.type == "PatientForgotten"
    assert last.payload == {"subject": "patients", "patient_ref": token, "requested_by": "Dr X"}
    assert last.metadata == {"actor": "Dr X"}

    assert main(["verify", "--db", db, "-q"]) == 0
    assert capsys.readouterr().out.strip().startswith("ok: ")

    # the same file again: refused whole, naming both of the forgotten patient's rows
    head = store.head().position
    assert main(["import", "consultations", first, "--db", db, "-q"]) == 1
    err = capsys.readouterr().err
    assert "row 2, column patient: this patient asked to be forgotten" in err
    assert "row 5, column patient" in err and "row 3, column patient" not in err
    assert all(form not in err for form in forms(forgotten))
    assert store.head().position == head

    # the other patients are untouched: same tokens, and they can still be imported
    later = write_csv(
        tmp_path / "later.csv",
        [
            ["c5", "msk1", "K1", spaced(kept), "2024-04-01", "video", "yes", "no", "no"],
            ["c6", "msk1", "K1", "HOSP-7", "2024-04-02", "video", "yes", "no", "no"],
        ],
    )
    assert main(["import", "consultations", later, "--db", db, "-q"]) == 0
    refs_after = {
        e.payload["consultation_id"]: e.payload["patient_ref"]
        for e in store.read_all()
        if e.type == "ConsultationHeld"
    }
    assert refs_after["c5"] == refs["c2"] and refs_after["c6"] == refs["c3"]

    # forgetting twice changes nothing; an invalid number is refused without being echoed
    again = sipdash("forget", "-", "--by", "Dr X", "--db", db, stdin=forgotten)
    assert again.returncode == 0 and "no mapping held" in again.stdout
    assert sum(1 for e in store.read_all() if e.type == "PatientForgotten") == 1
    (wrong,) = nhs_numbers(1, valid=False, start=3)
    refused = sipdash("forget", "-", "--by", "Dr X", "--db", db, stdin=wrong)
    assert refused.returncode == 1 and "check digit" in refused.stderr
    assert wrong not in refused.stdout + refused.stderr
    assert main(["verify", "--db", db, "-q"]) == 0
    store.dispose()


def test_a_forget_interrupted_after_recording_the_event_is_completed_by_running_it_again(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``forget`` records ``PatientForgotten`` first and erases the mapping second, so a crash
    in between leaves a state that a second run completes, with the event in the log once."""
    (patient,) = nhs_numbers(1, valid=True, start=21)
    rows = [["c1", "msk1", "K1", patient, "2024-03-01", "video", "yes", "no", "yes"]]
    assert main(["import", "consultations", write_csv(tmp_path / "p.csv", rows), "--db", db]) == 0
    store = EventStore(db)
    (held,) = [e for e in store.read_all() if e.type == "ConsultationHeld"]
    token = held.payload["patient_ref"]
    # the state a kill -9 between the two steps leaves: the event recorded, the mapping kept
    store.append(
        [
            NewEvent(
                PatientForgotten(subject="patients", patient_ref=token, requested_by="Dr X"),
                event_id=forgotten_event_id(token),
            )
        ]
    )
    assert PatientRegistry(store.engine, KEY).token_of(patient) == token
    capsys.readouterr()

    assert main(["forget", patient, "--by", "Dr Y", "--db", db, "-q"]) == 0
    assert token in capsys.readouterr().out
    assert PatientRegistry(store.engine, KEY).token_of(patient) is None
    assert [e.payload["patient_ref"] for e in store.read_all() if e.type == "PatientForgotten"] == [
        token
    ]
    assert main(["verify", "--db", db, "-q"]) == 0
    store.dispose()


def test_a_patient_forgotten_before_a_backup_stays_refused_after_a_restore(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    (patient,) = nhs_numbers(1, valid=True, start=33)
    rows = [["c1", "msk1", "K1", patient, "2024-03-01", "video", "yes", "no", "yes"]]
    path = write_csv(tmp_path / "p.csv", rows)
    assert main(["import", "consultations", path, "--db", db, "-q"]) == 0
    assert main(["forget", patient, "--by", "Dr X", "--db", db, "-q"]) == 0
    assert main(["backup", str(tmp_path / "b.jsonl"), "--db", db, "-q"]) == 0
    if db.startswith("sqlite"):
        target = f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        target = request.getfixturevalue("pg_server").new_database()
    assert main(["restore", str(tmp_path / "b.jsonl"), "--db", target, "-q"]) == 0
    again = [["c2", "msk1", "K1", patient, "2024-04-01", "video", "yes", "no", "yes"]]
    assert (
        main(["import", "consultations", write_csv(tmp_path / "q.csv", again), "--db", target]) == 1
    )
