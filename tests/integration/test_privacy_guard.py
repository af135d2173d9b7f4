"""Privacy, second version (issue #14): no identifier anywhere but the patient column, one
identity per NHS number whatever its separators, exports that cannot run formulas, a database
bound to its pseudonym key, erasure that leaves no bytes behind, errors without values, one
composition root for the CLI and the dashboard.

Every scenario goes through the public entry points (``dashboard.cli.main``, the dashboard's
write seam ``dashboard.writes``, the ``Importer``) on a real SQLite file and a real PostgreSQL
database.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from sqlalchemy.engine import make_url

from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry, key_hash
from events.types import TeamRegistered
from tests.helpers.logs import one_team

from .test_reliability_privacy import nhs_numbers

KEY = "privacy-guard-key-0123456789abcdef"
OTHER_KEY = "privacy-guard-key-TYPO-0123456789abcdef0123"
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)
REVIEW_HEADER = "team,period,consultation_id,reviewer,agenda_setting,goal_setting,follow_up"
SEPARATORS = [" ", "\u00a0", "\t", "-", ".", "/"]
ROOT = Path(__file__).resolve().parents[2]


def grouped(digits: str, sep: str) -> str:
    return f"{digits[:3]}{sep}{digits[3:6]}{sep}{digits[6:]}"


def every_form(digits: str) -> list[str]:
    return [digits, *(grouped(digits, s) for s in SEPARATORS)]


def write_csv(path: Path, rows: list[list[str]], header: str = HEADER) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(header + "\n" + out.getvalue(), encoding="utf-8")
    return str(path)


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    return one_team(db_url)


class Cli:
    """``sipdash`` in process, keeping everything it printed."""

    def __init__(self, db: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.db, self.capsys, self.printed = db, capsys, []

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--db", self.db, "-q"])
        out = self.capsys.readouterr()
        self.printed += [out.out, out.err]
        return code, out.out, out.err


@pytest.fixture
def cli(db: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(db, capsys)


def events_of(db: str, type_name: str | None = None) -> list:
    store = EventStore(db)
    try:
        return [e for e in store.read_all() if type_name is None or e.type == type_name]
    finally:
        store.dispose()


def head(db: str) -> int:
    store = EventStore(db)
    try:
        return store.head().position
    finally:
        store.dispose()


# ------------------------------------------------------------- 0. one composition root


@pytest.mark.parametrize("cli_from", ["environment", "secrets"])
def test_cli_and_dashboard_give_a_patient_one_token_whichever_way_the_key_is_given(
    db: str,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli_from: str,
) -> None:
    """The key in the environment for one side and in ``.streamlit/secrets.toml`` for the
    other: the same patient gets the same token, and ``forget`` reaches both imports."""
    from dashboard import writes

    (patient,) = nhs_numbers(1, valid=True, start=61)
    work = tmp_path / "work"
    (work / ".streamlit").mkdir(parents=True)
    (work / ".streamlit" / "secrets.toml").write_text(
        f'SIPDASH_PSEUDONYM_KEY = "{KEY}"\n', encoding="utf-8"
    )
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SIPDASH_DATABASE_URL", db)

    def key_from(where: str) -> None:
        if where == "environment":
            monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
        else:
            monkeypatch.delenv("SIPDASH_PSEUDONYM_KEY", raising=False)

    key_from(cli_from)
    rows = [["cli-1", "msk1", "K1", patient, "2024-03-01", "video", "yes", "no", "no"]]
    assert cli("import", "consultations", write_csv(tmp_path / "a.csv", rows))[0] == 0

    key_from("secrets" if cli_from == "environment" else "environment")
    dashboard_rows = (
        f"{HEADER}\ndash-1,msk1,K1,{grouped(patient, ' ')},2024-03-02,video,yes,no,no\n"
    )
    writes.run_import("consultations", dashboard_rows.encode(), source="b.csv", actor="Dr D")

    refs = {
        e.payload["consultation_id"]: e.payload["patient_ref"]
        for e in events_of(db, "ConsultationHeld")
    }
    assert refs["cli-1"] == refs["dash-1"]

    key_from(cli_from)
    code, out, _ = cli("forget", patient, "--by", "Dr X")
    assert code == 0 and refs["cli-1"] in out
    key_from("secrets" if cli_from == "environment" else "environment")
    with pytest.raises(writes.ImportRefused) as refused:
        writes.run_import("consultations", dashboard_rows.encode(), source="c.csv", actor="Dr D")
    assert "asked to be forgotten" in str(refused.value)
    assert "delete this row from the file" in str(refused.value)  # and what to do about it
    key_from(cli_from)
    code, _, err = cli("import", "consultations", write_csv(tmp_path / "d.csv", rows))
    assert code == 1 and "asked to be forgotten" in err


# ------------------------------------------------------------------ 1. identifier guard


def test_identifiers_in_any_other_column_are_refused_naming_row_and_column(
    db: str, cli: Cli, tmp_path: Path
) -> None:
    n1, n2, n3 = nhs_numbers(3, valid=True, start=71)
    rows = [
        [grouped(n1, "."), "msk1", "K1", "HOSP-1", "2024-03-01", "video", "yes", "no", "no"],
        ["c2", grouped(n2, "/"), "K1", "HOSP-2", "2024-03-01", "video", "yes", "no", "no"],
        ["c3", "msk1", grouped(n3, "\u00a0"), "HOSP-3", "2024-03-01", "video", "yes", "no", "no"],
        ["c4", "msk1", "K1", "HOSP-4", "2024-03-01", "video", "yes", "no", "no"],
    ]
    before = head(db)
    code, out, err = cli(
        "import", "consultations", write_csv(tmp_path / "c.csv", rows), "--register-teams"
    )
    assert code == 1
    for where in ["row 2, column consultation_id", "row 3, column team", "row 4, column clinician"]:
        assert f"{where}: looks like an NHS number (not shown)" in err
    assert "row 5" not in err and "registered teams" not in out
    printed = out + err
    for n in (n1, n2, n3):
        assert not any(form in printed for form in every_form(n))
    assert head(db) == before

    reviews = [["msk1", "2024-03", "c4", grouped(n1, "\t"), "yes", "no", "na"]]
    code, out, err = cli("import", "reviews", write_csv(tmp_path / "r.csv", reviews, REVIEW_HEADER))
    assert code == 1 and "row 2, column reviewer: looks like an NHS number" in err
    assert not any(form in out + err for form in every_form(n1))


def test_a_file_is_never_refused_for_its_name_but_stored_and_printed_masked(
    db: str, cli: Cli, tmp_path: Path
) -> None:
    (n,) = nhs_numbers(1, valid=True, start=81)
    rows = [["c1", "msk1", "K1", "HOSP-1", "2024-03-01", "video", "yes", "no", "no"]]
    path = write_csv(tmp_path / f"clinic {grouped(n, '-')} march.csv", rows)
    code, out, err = cli("import", "consultations", path)
    assert code == 0, err
    assert "clinic ###-###-#### march.csv" in out
    sources = {e.metadata.get("source") for e in events_of(db) if e.metadata.get("source")}
    assert sources == {"import:clinic ###-###-#### march.csv"}
    assert not any(form in out + err for form in every_form(n))


def test_dashboard_forms_and_cli_authors_refuse_identifiers_without_echoing_them(
    db: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import writes

    (n,) = nhs_numbers(1, valid=True, start=91)
    monkeypatch.setenv("SIPDASH_DATABASE_URL", db)
    before = head(db)
    with pytest.raises(writes.WriteRefused) as refused:
        writes.log_milestone(
            "msk1", date(2024, 3, 1), "note", f"call back {grouped(n, '.')}", actor="Dr X"
        )
    assert "title: looks like an NHS number" in str(refused.value)
    with pytest.raises(writes.WriteRefused) as refused:
        writes.record_review(
            "no-round", "c1", grouped(n, " "), {}, second_review=False, actor="Dr X"
        )
    assert "reviewer: looks like an NHS number" in str(refused.value)
    with pytest.raises(writes.WriteRefused) as refused:
        writes.decide(
            "target",
            actor="Dr X",
            team_id="msk1",
            measure="agenda_setting",
            target=0.8,
            from_period="2024-03",
            reason=f"agreed with {n}",
        )
    assert "reason: looks like an NHS number" in str(refused.value)
    assert not any(form in str(refused.value) for form in every_form(n))
    assert head(db) == before
    code, out, err = cli("forget", "HOSP-1", "--by", n)
    assert code == 1 and "--by: looks like an NHS number" in err and n not in out + err
    assert head(db) == before


# --------------------------------------------------------------------- 2. normalisation


@pytest.mark.parametrize("sep", SEPARATORS)
def test_every_separator_form_is_one_patient_and_a_forgotten_one_stays_forgotten(
    db: str, cli: Cli, tmp_path: Path, sep: str
) -> None:
    (n,) = nhs_numbers(1, valid=True, start=101)
    rows = [
        ["c1", "msk1", "K1", n, "2024-03-01", "video", "yes", "no", "no"],
        ["c2", "msk1", "K1", grouped(n, sep), "2024-03-02", "video", "yes", "no", "no"],
    ]
    assert cli("import", "consultations", write_csv(tmp_path / "a.csv", rows))[0] == 0
    assert len({e.payload["patient_ref"] for e in events_of(db, "ConsultationHeld")}) == 1
    assert cli("forget", grouped(n, sep), "--by", "Dr X")[0] == 0
    for i, form in enumerate(every_form(n)):
        again = [[f"d{i}", "msk1", "K1", form, "2024-04-01", "video", "yes", "no", "no"]]
        code, _, err = cli("import", "consultations", write_csv(tmp_path / f"b{i}.csv", again))
        assert code == 1 and "asked to be forgotten" in err, form
    bad = grouped(n[:9] + str((int(n[9]) + 1) % 10), sep)
    code, _, err = cli(
        "import",
        "consultations",
        write_csv(
            tmp_path / "x.csv",
            [["c9", "msk1", "K1", bad, "2024-03-01", "video", "yes", "no", "no"]],
        ),
    )
    assert code == 1 and "check digit" in err and bad not in err


def test_a_token_issued_earlier_for_a_formatted_form_is_reused_and_forget_erases_both(
    db: str, cli: Cli, tmp_path: Path
) -> None:
    """An older version took ``943-476-5919`` as a local id: its token is found and reused,
    and ``forget`` in any form erases that mapping and the current one."""
    (n,) = nhs_numbers(1, valid=True, start=111)
    store = EventStore(db)
    registry = PatientRegistry(store.engine, KEY)
    registry.ensure_schema()
    legacy_token = "p_" + "ab" * 16
    with store.engine.begin() as conn:  # what the earlier version stored
        conn.exec_driver_sql(
            "INSERT INTO patient_tokens (key_hash, token) VALUES (%s, %s)".replace(
                "%s", "?" if store.sqlite else "%s"
            ),
            (key_hash(KEY, f"local:{grouped(n, '-')}"), legacy_token),
        )
    rows = [["c1", "msk1", "K1", grouped(n, "."), "2024-03-01", "video", "yes", "no", "no"]]
    assert cli("import", "consultations", write_csv(tmp_path / "a.csv", rows))[0] == 0
    assert [e.payload["patient_ref"] for e in events_of(db, "ConsultationHeld")] == [legacy_token]

    code, out, _ = cli("forget", n, "--by", "Dr X")
    assert code == 0 and legacy_token in out
    assert [e.payload["patient_ref"] for e in events_of(db, "PatientForgotten")] == [legacy_token]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM patient_tokens").scalar() == 0
    again = [["c2", "msk1", "K1", grouped(n, "-"), "2024-04-01", "video", "yes", "no", "no"]]
    assert cli("import", "consultations", write_csv(tmp_path / "b.csv", again))[0] == 1
    store.dispose()


# --------------------------------------------------------------------------- 3. exports


FORMULAS = ['=HYPERLINK("http://x","msk")', "+1+1", "-2+3+cmd", "@SUM(A1)"]


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def _formula_like(cell: str) -> bool:
    return bool(re.match(r"^[=+\-@\t\r]", cell)) and not re.fullmatch(
        r"[+-]?[\d.]+(e[+-]?\d+)?", cell
    )


def test_audit_report_csv_never_starts_a_cell_with_a_formula(
    db: str, cli: Cli, tmp_path: Path
) -> None:
    store = EventStore(db)
    store.append(
        [NewEvent(TeamRegistered(team_id=t, name=t, site="s", service="x")) for t in FORMULAS]
    )
    store.dispose()
    rows = [
        [f"c{i}", team, "K1", f"HOSP-{i}", "2024-03-01", "video", "yes", "no", "no"]
        for i, team in enumerate(FORMULAS)
    ]
    assert cli("import", "consultations", write_csv(tmp_path / "a.csv", rows))[0] == 0
    assert cli("audit", "run", "--period", "2024-03", "--census")[0] == 0
    code, out, _ = cli("audit", "report", "--format", "csv")
    assert code == 0
    cells = _cells(out)
    assert not [c for c in cells if _formula_like(c)]
    assert "'" + FORMULAS[0] in cells and "'-2+3+cmd" in cells


def test_spc_csv_keeps_numbers_numbers_and_neutralises_labels(cli: Cli, tmp_path: Path) -> None:
    rows = [f"{label},{-1.5 - i}" for i, label in enumerate(["=1+1", "+A1", "@3", "-4x", "5"])]
    path = tmp_path / "series.csv"
    path.write_text("period,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, out, err = cli("spc", str(path), "--chart", "xmr")
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["period"] for r in table] == ["'=1+1", "'+A1", "'@3", "'-4x", "5"]
    assert [float(r["value"]) for r in table] == [-1.5, -2.5, -3.5, -4.5, -5.5]
    assert table[0]["value"] == "-1.5"


def test_dashboard_downloads_write_no_formula_and_keep_negative_numbers(tmp_path: Path) -> None:
    from dashboard import data

    df = pd.DataFrame({"team": FORMULAS, "change": [-0.5, 0.25, -1.0, 2.0]})
    text = data.to_csv(df).decode("utf-8")
    assert not [c for c in _cells(text) if _formula_like(c)]
    path = tmp_path / "t.xlsx"
    path.write_bytes(data.to_excel(df, sheet="=bad"))
    sheet = openpyxl.load_workbook(path).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert [c.value for c in sheet["B"][1:]] == [-0.5, 0.25, -1.0, 2.0]
    assert all(c.data_type == "n" for c in sheet["B"][1:])
    assert sheet["A2"].value == "'" + FORMULAS[0]


# ------------------------------------------------------------------------------ 4. the key


def test_key_generate_prints_a_new_key_of_at_least_128_bits(cli: Cli) -> None:
    keys = []
    for _ in range(2):
        code, out, _ = cli("key", "generate")
        assert code == 0
        keys.append(out.strip())
    assert keys[0] != keys[1]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,}", k) for k in keys)  # ≥ 256 bits


def test_a_different_key_is_refused_for_writes_and_forget_but_viewing_works(
    db: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (n,) = nhs_numbers(1, valid=True, start=121)
    rows = [["c1", "msk1", "K1", n, "2024-03-01", "video", "yes", "no", "no"]]
    path = write_csv(tmp_path / "a.csv", rows)
    assert cli("import", "consultations", path)[0] == 0
    (recorded,) = events_of(db, "PseudonymKeyRecorded")
    before = head(db)

    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", OTHER_KEY)
    more = write_csv(
        tmp_path / "b.csv", [["c2", "msk1", "K1", n, "2024-03-02", "video", "no", "no", "no"]]
    )
    code, out, err = cli("import", "consultations", more)
    assert code == 1 and "not the one this database was built with" in err
    code, out, err = cli("forget", n, "--by", "Dr X")
    assert code == 1 and "not the one this database was built with" in err
    assert "no mapping held" not in out + err
    assert cli("audit", "report", "--format", "json")[0] == 0  # viewing works
    assert head(db) == before

    monkeypatch.delenv("SIPDASH_PSEUDONYM_KEY")  # unset: the demo key
    code, out, err = cli("forget", n, "--by", "Dr X")
    assert code == 1 and "no mapping held" not in out + err

    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    backup = tmp_path / "b.jsonl"
    assert cli("backup", str(backup))[0] == 0
    assert "PseudonymKeyRecorded" in backup.read_text(encoding="utf-8")
    assert recorded.payload["check"] not in KEY


def test_forget_on_a_database_without_a_key_check_and_without_the_key_is_refused(
    db: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIPDASH_PSEUDONYM_KEY")
    (n,) = nhs_numbers(1, valid=True, start=131)
    code, out, err = cli("forget", n, "--by", "Dr X")
    assert code == 1 and "SIPDASH_PSEUDONYM_KEY is not set" in err
    assert "no mapping held" not in out


# ------------------------------------------------------------------- 5. physical erasure


def _mapping_row(db: str, n: str) -> tuple[str, str]:
    h = key_hash(KEY, f"nhs:{n}")
    store = EventStore(db)
    ph = "?" if store.sqlite else "%s"
    with store.engine.connect() as conn:
        token = conn.exec_driver_sql(
            f"SELECT token FROM patient_tokens WHERE key_hash = {ph}", (h,)
        ).scalar()
    store.dispose()
    return h, token


def _sqlite_files(db: str) -> bytes:
    path = Path(make_url(db).database)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_sqlite_forget_leaves_no_mapping_bytes_in_the_file_or_wal_or_says_pending(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    cli = Cli(sqlite_url, capsys)
    store = EventStore(sqlite_url)
    store.create_schema()
    store.append([NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="N", service="M"))])
    store.dispose()
    patients = nhs_numbers(40, valid=True, start=141)
    rows = [
        [f"c{i}", "msk1", "K1", p, "2024-03-01", "video", "yes", "no", "no"]
        for i, p in enumerate(patients)
    ]
    assert cli("import", "consultations", write_csv(tmp_path / "a.csv", rows))[0] == 0
    h, token = _mapping_row(sqlite_url, patients[7])
    row = h.encode() + token.encode()
    assert row in _sqlite_files(sqlite_url)  # the mapping row as stored (the test can see it)

    reader = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # holds a snapshot: WAL pinned
    code, out, _ = cli("forget", patients[7], "--by", "Dr X")
    assert code == 0 and "erasure pending" in out
    reader.execute("COMMIT")
    reader.close()

    code, out, _ = cli("forget", patients[7], "--by", "Dr X")  # completes the erasure
    assert code == 0 and "erasure pending" not in out
    wal = Path(f"{make_url(sqlite_url).database}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert row not in _sqlite_files(sqlite_url)
    assert _mapping_row(sqlite_url, patients[8])[1] is not None  # the others are kept


@pytest.mark.postgres
def test_postgresql_forget_vacuums_the_mapping_table(
    pg_server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    import psycopg

    url = pg_server.new_database()
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    cli = Cli(url, capsys)
    store = EventStore(url)
    store.create_schema()
    store.append([NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="N", service="M"))])
    store.dispose()
    (n,) = nhs_numbers(1, valid=True, start=151)
    rows = [["c1", "msk1", "K1", n, "2024-03-01", "video", "yes", "no", "no"]]
    assert cli("import", "consultations", write_csv(tmp_path / "a.csv", rows))[0] == 0
    _, token = _mapping_row(url, n)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def heap() -> bytes | None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            try:
                datadir = conn.execute("SHOW data_directory").fetchone()[0]
            except psycopg.Error:
                return None
            rel = conn.execute("SELECT pg_relation_filepath('patient_tokens')").fetchone()[0]
        path = Path(datadir) / rel
        return path.read_bytes() if path.exists() else None

    before = heap()
    if before is None:
        pytest.skip("the server's data directory is not readable from here")
    assert token.encode() in before
    assert cli("forget", n, "--by", "Dr X")[0] == 0
    assert token.encode() not in (heap() or b"")  # no dead row version left in the heap


# --------------------------------------------------------------- 6. errors without values


def test_an_unexpected_database_error_prints_no_sql_parameters(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("SIPDASH_DEBUG", raising=False)
    cli = Cli(sqlite_url, capsys)
    store = EventStore(sqlite_url)
    store.create_schema()
    store.append([NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="N", service="M"))])
    PatientRegistry(store.engine, KEY).ensure_schema()
    with store.engine.begin() as conn:  # a mapping table that refuses every new token
        conn.exec_driver_sql("DROP TABLE patient_tokens")
        conn.exec_driver_sql(
            "CREATE TABLE patient_tokens (key_hash VARCHAR(64) PRIMARY KEY, "
            "token VARCHAR(40) NOT NULL UNIQUE CHECK (length(token) < 5))"
        )
    store.dispose()
    (n,) = nhs_numbers(1, valid=True, start=161)
    rows = [["c1", "msk1", "K1", n, "2024-03-01", "video", "yes", "no", "no"]]
    code, _out, err = cli("import", "consultations", write_csv(tmp_path / "a.csv", rows))
    assert code == 1
    assert "unexpected error (IntegrityError from IntegrityError in a INSERT statement" in err
    assert key_hash(KEY, f"nhs:{n}") not in err and "p_" not in err
    assert "parameters" not in err and "[SQL" not in err


# ------------------------------------------------------------------- 8. closed by default


def test_serve_binds_loopback_by_default_and_sigterm_stops_streamlit(
    sqlite_url: str, tmp_path: Path
) -> None:
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dashboard.cli",
                "serve",
                "--port",
                str(port),
                "--db",
                sqlite_url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"serve did not come up: {log.read_text(errors='replace')}")
        listening = _listeners(port)
        assert listening == {"127.0.0.1"}, listening
        children = _children(proc.pid)
        assert children, "streamlit runs as a child of sipdash serve"
        proc.send_signal(signal.SIGTERM)  # the parent only, as a service manager would
        assert proc.wait(timeout=30) is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.2)
        assert not any(_alive(c) for c in children), "streamlit kept serving after SIGTERM"
        assert not _listeners(port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _listeners(port: int) -> set[str]:
    """Local addresses listening on ``port`` (IPv4 and IPv6), from /proc/net."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                if width == 8:
                    found.add(".".join(str(int(addr[i : i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.add("::" if set(addr) == {"0"} else addr)
    return found


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


# ------------------------------------------------------------- the whole-product grep


def test_no_raw_identifier_or_erased_mapping_is_left_in_files_outputs_or_exports(
    db: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identifiers typed where they belong and where they do not, in every separator form,
    through every CLI command that writes or exports and the dashboard's downloads; then
    the SQLite file and its WAL (or every PostgreSQL table), everything printed and every
    export are searched for each of them, and for the erased (key hash, token) row."""
    import zipfile

    from audit.measures import audit_measures
    from dashboard import data

    kept, misplaced, erased = nhs_numbers(3, valid=True, start=171)
    local = "HOSP-ZQX-0042"
    good = [
        [f"g{i}", "msk1", "K1", form, f"2024-03-{1 + i:02d}", "video", "yes", "no", "yes"]
        for i, form in enumerate([*every_form(kept)[:4], *every_form(erased), local])
    ]
    named = write_csv(tmp_path / f"march {grouped(misplaced, '.')}.csv", good)
    assert cli("import", "consultations", named)[0] == 0
    assert cli("import", "consultations", named)[0] == 0  # again: a no-op
    wrong = [
        [grouped(misplaced, s), "msk1", "K1", local, "2024-03-09", "video", "no", "no", "no"]
        for s in SEPARATORS
    ] + [
        ["w1", grouped(misplaced, "-"), "K1", local, "2024-03-09", "video", "no", "no", "no"],
        ["w2", "msk1", misplaced, local, "2024-03-09", "video", "no", "no", "no"],
        ["w3", "msk1", "K1", misplaced[:9] + "0", "2024-03-09", "video", "no", "no", "no"],
    ]
    assert (
        cli("import", "consultations", write_csv(tmp_path / "w.csv", wrong), "--register-teams")[0]
        == 1
    )
    assert cli("audit", "run", "--period", "2024-03", "--census")[0] == 0
    reviews = [["msk1", "2024-03", "g0", grouped(misplaced, "/"), "yes", "no", "na"]]
    assert cli("import", "reviews", write_csv(tmp_path / "r.csv", reviews, REVIEW_HEADER))[0] == 1
    exports: list[bytes] = []
    for fmt in ("csv", "json", "table"):
        code, out, _ = cli("audit", "report", "--format", fmt)
        assert code == 0
        exports.append(out.encode())
    backup = tmp_path / "log.jsonl"
    assert cli("backup", str(backup))[0] == 0
    exports.append(backup.read_bytes())
    store = EventStore(db)
    frame = audit_measures(store.engine)
    events = pd.DataFrame(
        [{"type": e.type, **e.payload, **e.metadata} for e in store.read_all()]
    ).map(lambda v: ",".join(map(str, v)) if isinstance(v, list) else v)
    for df in (frame, events):
        exports.append(data.to_csv(df))
        with zipfile.ZipFile(io.BytesIO(data.to_excel(df))) as xlsx:
            exports += [xlsx.read(name) for name in xlsx.namelist()]

    h = key_hash(KEY, f"nhs:{erased}")
    ph = "?" if store.sqlite else "%s"
    with store.engine.connect() as conn:
        token = conn.exec_driver_sql(
            f"SELECT token FROM patient_tokens WHERE key_hash = {ph}", (h,)
        ).scalar()
    store.dispose()
    assert token
    code, out, _ = cli("forget", grouped(erased, "\u00a0"), "--by", "Dr X")
    assert code == 0 and token in out
    pending = "erasure pending" in out

    stored = _sqlite_files(db) if db.startswith("sqlite") else _pg_bytes(db)
    printed = "\n".join(cli.printed)
    exported = b"\n".join(exports)
    for n in (kept, misplaced, erased):
        for form in every_form(n):
            assert form.encode() not in stored, f"stored: {form!r}"
            assert form not in printed, f"printed: {form!r}"
            assert form.encode() not in exported, f"exported: {form!r}"
    assert local.encode() not in stored + exported and local not in printed
    if not pending:
        assert (h + token).encode() not in stored
        assert not re.search(rf"{h}.{{0,8}}{token}".encode(), stored)


def _pg_bytes(url: str) -> bytes:
    from .test_reliability_privacy import database_bytes

    return database_bytes(url)


def test_a_patient_with_two_version_1_tokens_is_forgotten_in_both(
    db: str, cli: Cli, tmp_path: Path
) -> None:
    """Version 1 gave ``9434765919`` and ``943-476-5919`` two tokens: ``forget`` in any form
    erases both mappings and records ``PatientForgotten`` for each."""
    (n,) = nhs_numbers(1, valid=True, start=181)
    store = EventStore(db)
    PatientRegistry(store.engine, KEY).ensure_schema()
    plain, dashed = "p_" + "cd" * 16, "p_" + "ef" * 16
    ph = "?" if store.sqlite else "%s"
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO patient_tokens (key_hash, token) VALUES ({ph}, {ph})",
            [
                (key_hash(KEY, f"nhs:{n}"), plain),
                (key_hash(KEY, f"local:{grouped(n, '-')}"), dashed),
            ],
        )
    code, out, _ = cli("forget", grouped(n, "/"), "--by", "Dr X")
    assert code == 0 and plain in out and dashed in out
    forgotten = {e.payload["patient_ref"] for e in events_of(db, "PatientForgotten")}
    assert forgotten == {plain, dashed}
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM patient_tokens").scalar() == 0
    store.dispose()
    again = [["c1", "msk1", "K1", grouped(n, "-"), "2024-04-01", "video", "yes", "no", "no"]]
    code, _, err = cli("import", "consultations", write_csv(tmp_path / "b.csv", again))
    assert code == 1 and "asked to be forgotten" in err
