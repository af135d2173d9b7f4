"""Concurrency, tried hard: several processes write at once and nothing is lost or doubled.

Every test starts real OS processes (multiprocessing, spawn) against a real SQLite file or a
real PostgreSQL database (``db_url`` runs each test once per backend). Workers live in this
module, so the spawned interpreters import it; the repository root is put on their path.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from datetime import date
from pathlib import Path

import psycopg
import pytest

from audit.imports import Importer
from audit.projections import Projector
from audit.service import AuditError, AuditService
from events import EventStore, NewEvent, VersionConflict
from events.pseudonym import PatientRegistry
from events.types import ConsultationHeld, TeamRegistered
from tests.helpers.readmodels import snapshot

ROOT = Path(__file__).resolve().parents[2]
KEY = "reliability-concurrency-key-0123456789abcdef0123"
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)
PG_APPEND_LOCK = 0x5_1B_DA_54  # events.sql.Lock.APPEND
WAIT = 90  # seconds: the most any worker may take before the test fails instead of hanging


# --------------------------------------------------------------------------- helpers


def nhs_number(i: int) -> str:
    """The i-th valid NHS number from a fixed walk (modulus 11 check digit)."""
    n = 400_000_000 + i * 7_919
    while True:
        base = f"{n % 1_000_000_000:09d}"
        total = sum(int(d) * w for d, w in zip(base, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return base + str(check)
        n += 1


def consultations_csv(prefix: str, team: str, month: str, n: int, patients: list[str]) -> bytes:
    lines = [HEADER]
    for i in range(n):
        flags = ("yes" if i % 2 else "no", "yes" if i % 3 else "no", "yes" if i % 5 else "no")
        lines.append(
            f"{prefix}-{i},{team},{team}-k{i % 4},{patients[i % len(patients)]},"
            f"{month}-{1 + i % 28:02d},video,{','.join(flags)}"
        )
    return ("\n".join(lines) + "\n").encode()


def prepare(url: str, teams: tuple[str, ...] = ("msk1", "copd1")) -> EventStore:
    store = EventStore(url)
    Projector(store).ensure_schema()
    PatientRegistry(store.engine, KEY).ensure_schema()
    store.append(
        [
            NewEvent(TeamRegistered(team_id=t, name=t.upper(), site="North", service="COPD"))
            for t in teams
        ]
    )
    return store


def importer(store: EventStore) -> Importer:
    return Importer(
        store, PatientRegistry(store.engine, KEY), demo_key=False, projector=Projector(store)
    )


def log_invariants(store: EventStore) -> list[tuple]:
    """Assert the log's shape; return every (position, event_id, stream_id, version, type)."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT position, event_id, stream_id, stream_version, type FROM events "
            "ORDER BY position"
        ).fetchall()
        streams = conn.exec_driver_sql(
            "SELECT stream_id, COUNT(*), MIN(stream_version), MAX(stream_version), "
            "COUNT(DISTINCT stream_version) FROM events GROUP BY stream_id"
        ).fetchall()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "positions must be gap-free"
    assert len({r[1] for r in rows}) == len(rows), "an event id appears twice"
    for sid, n, lo, hi, distinct in streams:
        assert (lo, hi, distinct) == (1, n, n), f"stream {sid} versions are not 1..{n}"
    assert store.verify().ok
    return rows


def spawn_context(monkeypatch: pytest.MonkeyPatch) -> mp.context.SpawnContext:
    """A spawn context whose children can import this module (as ``tests.integration...``)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return mp.get_context("spawn")


def run_workers(ctx, jobs: list[tuple], *, release=None) -> list[tuple]:
    """Start one process per job, let them go together, collect one result each.

    ``release`` (optional) is called once every worker has started and is waiting; it returns
    when the workers may proceed past their own synchronisation (used to force races).
    """
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_work, args=(*job, start, results)) for job in jobs]
    for p in procs:
        p.start()
    start.set()
    if release is not None:
        release()
    out = []
    deadline = time.monotonic() + WAIT
    try:
        while len(out) < len(jobs):
            try:
                out.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"workers did not finish within {WAIT}s; got {out}")
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0, f"a worker exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    return out


# --------------------------------------------------------------------------- the workers


def _work(kind: str, url: str, arg, start, results) -> None:
    """One worker process: do ``kind`` once the start signal is given; report what happened."""
    store = EventStore(url)
    try:
        start.wait(WAIT)
        if kind == "import":
            name, data = arg
            r = importer(store).import_consultations(data, source=name)
            results.put((kind, name, "ok", (r.rows, r.appended, r.skipped)))
        elif kind == "audit":
            outcomes = AuditService(store, projector=Projector(store)).run(arg, sample_size=10)
            results.put((kind, arg, "ok", sorted((o.team_id, o.status) for o in outcomes)))
        elif kind == "append":
            n = 0
            for i in range(arg):
                store.append(
                    [
                        NewEvent(
                            ConsultationHeld(
                                consultation_id=f"single-{i}",
                                team_id="copd1",
                                clinician_id="single-k",
                                patient_ref="p_" + f"{i:032x}",
                                occurred_on=date(2024, 5, 1 + i % 28),
                                contact="telephone",
                            )
                        )
                    ],
                    expected_version=0,
                )
                n += 1
            results.put((kind, arg, "ok", n))
        elif kind == "project":
            projector = Projector(store)
            applied = 0
            deadline = time.monotonic() + arg
            while time.monotonic() < deadline:
                applied += projector.catch_up(batch_size=13, max_batches=1)
            results.put((kind, arg, "ok", applied))
        elif kind == "race-append":
            worker = arg
            try:
                store.append(
                    [NewEvent(_race_team(f"first try of worker {worker}"))], expected_version=0
                )
                results.put((kind, worker, "won", None))
            except VersionConflict as exc:
                # a clear, retryable error: re-read the version and try again
                detail = (exc.retryable, str(exc), exc.expected, exc.actual)
                while True:
                    version = store.stream_version("team-race")
                    try:
                        store.append(
                            [NewEvent(_race_team(f"retry of worker {worker}"))],
                            expected_version=version,
                        )
                        break
                    except VersionConflict:
                        continue
                results.put((kind, worker, "conflict", detail))
        elif kind == "cli":
            import contextlib
            import io

            from dashboard.cli import main

            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*arg, "--db", url, "-q"])
            results.put((kind, arg[0], "ok" if code == 0 else "failed", err.getvalue()[-600:]))
        elif kind == "open-round":
            team, period = arg
            try:
                info = AuditService(store, projector=Projector(store)).open_round(
                    team, period, sample_size=5
                )
                results.put((kind, arg, "ok", info.round_id))
            except AuditError as exc:
                results.put((kind, arg, "audit-error", str(exc)))
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)
    except BaseException as exc:  # report, so the test shows what broke in the child
        results.put((kind, str(arg)[:40], "error", f"{type(exc).__name__}: {exc}"))
        traceback.print_exc()
    finally:
        store.dispose()


def _race_team(name: str) -> TeamRegistered:
    return TeamRegistered(team_id="race", name=name, site="North", service="COPD")


# --------------------------------------------------------------------------- the tests


def test_imports_audit_runs_single_appends_and_a_projector_at_once_lose_and_double_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = prepare(db_url)
    base_patients = [nhs_number(i) for i in range(30)]
    imp = importer(store)
    imp.import_consultations(consultations_csv("base-m", "msk1", "2024-01", 60, base_patients))
    imp.import_consultations(consultations_csv("base-c", "copd1", "2024-02", 60, base_patients))
    imp.import_consultations(consultations_csv("base-m2", "msk1", "2024-02", 40, base_patients))
    imp.import_consultations(consultations_csv("base-c1", "copd1", "2024-01", 40, base_patients))
    # the two concurrent files share patients none of the imports has seen yet
    shared = [nhs_number(100 + i) for i in range(25)] + [f"LOCAL-{i}" for i in range(25)]
    file_a = consultations_csv("a", "msk1", "2024-03", 150, shared)
    file_b = consultations_csv("b", "copd1", "2024-04", 150, shared)
    held_before = sum(1 for _ in store.read_all(types=["ConsultationHeld"]))

    results = run_workers(
        spawn_context(monkeypatch),
        [
            ("import", db_url, ("a.csv", file_a)),
            ("import", db_url, ("b.csv", file_b)),
            ("audit", db_url, "2024-01"),
            ("audit", db_url, "2024-02"),
            ("append", db_url, 25),
            ("project", db_url, 4.0),
        ],
    )
    errors = [r for r in results if r[2] != "ok"]
    assert not errors, errors
    by = {(r[0], r[1]): r[3] for r in results}
    assert by[("import", "a.csv")][0] == by[("import", "b.csv")][0] == 150
    assert (
        by[("audit", "2024-01")]
        == by[("audit", "2024-02")]
        == [
            ("copd1", "opened"),
            ("msk1", "opened"),
        ]
    )

    rows = log_invariants(store)
    held = [r for r in rows if r[4] == "ConsultationHeld"]
    assert len(held) == held_before + 150 + 150 + 25, "a consultation was lost or doubled"
    assert sum(1 for r in rows if r[4] == "AuditRoundOpened") == 4
    assert sum(1 for r in rows if r[4] == "AuditRoundClosed") == 4
    assert sum(1 for r in rows if r[4] == "CaseNoteReviewed") == 4 * 10
    with store.engine.connect() as conn:
        tokens = conn.exec_driver_sql("SELECT COUNT(*) FROM patient_tokens").scalar_one()
    assert tokens == 30 + 50, "each patient has exactly one token, however many files name them"

    projector = Projector(store)
    projector.catch_up()
    assert projector.lag() == 0
    concurrent = snapshot(store)
    projector.rebuild()
    assert snapshot(store) == concurrent, "concurrent catch-ups must fold every event exactly once"
    store.dispose()


def test_the_losers_of_a_version_race_get_a_retryable_error_and_succeed_on_retry(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = prepare(db_url, teams=())
    workers = 4
    results = run_workers(
        spawn_context(monkeypatch), [("race-append", db_url, w) for w in range(workers)]
    )
    outcomes = [r[2] for r in results]
    assert "error" not in outcomes, results
    assert outcomes.count("won") == 1, "exactly one writer may create the stream at version 1"
    for _, _, outcome, detail in results:
        if outcome == "conflict":
            retryable, message, expected, actual = detail
            assert retryable is True
            assert expected == 0 and actual >= 1
            assert "team-race" in message and "reload and try again" in message
    versions = [e.stream_version for e in store.read_stream("team-race")]
    assert versions == list(range(1, workers + 1))
    log_invariants(store)
    store.dispose()


def _rounds(store: EventStore) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        return sorted(
            conn.exec_driver_sql("SELECT round_id, team_id, period FROM rm_audit_rounds").fetchall()
        )


def test_concurrent_open_rounds_for_one_team_month_never_share_a_round(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Racing ``open_round`` calls end as one round plus "reload and try again", or (when
    they happen not to overlap) as two rounds with distinct ids; never anything else."""
    store = prepare(db_url)
    patients = [f"L{i}" for i in range(10)]
    importer(store).import_consultations(consultations_csv("m", "msk1", "2024-01", 40, patients))
    importer(store).import_consultations(consultations_csv("c", "copd1", "2024-01", 40, patients))
    team_months = [("msk1", "2024-01"), ("copd1", "2024-01")]
    jobs = [("open-round", db_url, tm) for tm in team_months for _ in range(2)]
    results = run_workers(spawn_context(monkeypatch), jobs)
    assert all(r[2] in ("ok", "audit-error") for r in results), results
    rounds = _rounds(store)
    for team, period in team_months:
        mine = [r for r in results if r[1] == (team, period)]
        ok = [r[3] for r in mine if r[2] == "ok"]
        refused = [r[3] for r in mine if r[2] == "audit-error"]
        assert len(ok) >= 1
        assert len(set(ok)) == len(ok), "two callers were told they opened the same round"
        assert all("reload and try again" in m for m in refused)
        assert sorted(r[0] for r in rounds if (r[1], r[2]) == (team, period)) == sorted(ok)
    log_invariants(store)
    store.dispose()


@pytest.mark.postgres
def test_when_two_open_rounds_truly_race_one_round_opens_and_the_other_is_told_to_reload(
    pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced race (PostgreSQL lets us see who waits): the test holds the append lock until
    both callers have read "no round yet" and are waiting to append."""
    url = pg_server.new_database()
    store = prepare(url)
    patients = [f"L{i}" for i in range(10)]
    importer(store).import_consultations(consultations_csv("m", "msk1", "2024-01", 40, patients))
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    blocker = psycopg.connect(conninfo)
    blocker.execute("SELECT pg_advisory_xact_lock(%s)", (PG_APPEND_LOCK,))

    def release() -> None:
        deadline = time.monotonic() + WAIT
        with psycopg.connect(conninfo, autocommit=True) as watch:
            while time.monotonic() < deadline:
                waiting = watch.execute(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND objid = %s AND NOT granted",
                    (PG_APPEND_LOCK,),
                ).fetchone()[0]
                if waiting == 2:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the two open_round calls never both reached the append")
        blocker.commit()  # releases the lock: both append with expected version 0

    try:
        results = run_workers(
            spawn_context(monkeypatch),
            [("open-round", url, ("msk1", "2024-01")) for _ in range(2)],
            release=release,
        )
    finally:
        blocker.close()
    outcomes = sorted(r[2] for r in results)
    assert outcomes == ["audit-error", "ok"], results
    (message,) = [r[3] for r in results if r[2] == "audit-error"]
    assert "reload and try again" in message
    assert _rounds(store) == [("r-msk1-2024-01-1", "msk1", "2024-01")]
    # the loser does as told: a reload and a new attempt opens the next round
    assert (
        AuditService(store, projector=Projector(store)).open_round("msk1", "2024-01").round_id
        == "r-msk1-2024-01-2"
    )
    log_invariants(store)
    store.dispose()


@pytest.mark.postgres
def test_an_import_meeting_another_imports_new_patient_mid_commit_reuses_its_token(
    pg_server,
) -> None:
    """Two imports that name the same new patient both create a token for it; the one that
    commits second must take the first one's token, not fail on the duplicate key.

    The test plays the first import: it inserts the patient's token in an open transaction and
    commits only once the importer is waiting on that row."""
    import threading

    url = pg_server.new_database()
    store = prepare(url)
    patient = nhs_number(7)
    registry = PatientRegistry(store.engine, KEY)
    (key_hash,) = registry.hashes_for([f"nhs:{patient}"]).values()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    other = psycopg.connect(conninfo)
    other.execute(
        "INSERT INTO patient_tokens (key_hash, token) VALUES (%s, %s)",
        (key_hash, "p_" + "ab" * 16),
    )
    outcome: list = []

    def run_import() -> None:
        try:
            outcome.append(
                importer(store).import_consultations(
                    consultations_csv("x", "msk1", "2024-01", 3, [patient])
                )
            )
        except Exception as exc:
            outcome.append(exc)

    t = threading.Thread(target=run_import)
    t.start()
    try:
        deadline = time.monotonic() + WAIT
        with psycopg.connect(conninfo, autocommit=True) as watch:
            while time.monotonic() < deadline and t.is_alive():
                waiting = watch.execute(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
                ).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.02)
        other.commit()
    finally:
        other.close()
    t.join(WAIT)
    (result,) = outcome
    assert not isinstance(result, Exception), f"{type(result).__name__}: {result}"
    refs = {e.payload["patient_ref"] for e in store.read_all(types=["ConsultationHeld"])}
    assert refs == {"p_" + "ab" * 16}
    store.dispose()


def test_sipdash_commands_started_at_once_on_a_fresh_database_all_succeed(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command sets up the schema it needs; doing so from several processes at once
    (a fresh database, or CREATE OR REPLACE on PostgreSQL) must not make any of them fail.
    (Since #13 a command that only reads refuses a database that does not exist yet, with a
    clear message and creating nothing: a reader that starts before the imports have created
    the log may end that way, and in no other.)"""
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    files = []
    for name in ("north", "south"):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(consultations_csv(name, name, "2024-01", 30, ["L1", "L2", "L3"]))
        files.append(str(path))
    jobs = [
        ("cli", db_url, ["verify"]),
        ("cli", db_url, ["verify"]),
        ("cli", db_url, ["import", "consultations", files[0], "--register-teams"]),
        ("cli", db_url, ["import", "consultations", files[1], "--register-teams"]),
        ("cli", db_url, ["audit", "report", "--format", "json"]),
        ("cli", db_url, ["rebuild"]),
    ]
    results = run_workers(spawn_context(monkeypatch), jobs)
    not_yet = ("does not exist. Check --db", "holds no sipdash")
    failed = [
        r
        for r in results
        if r[2] != "ok"
        and not (r[1] != "import" and r[3].count("\n") == 1 and any(w in r[3] for w in not_yet))
    ]
    assert not failed, failed
    store = EventStore(db_url)
    rows = log_invariants(store)
    assert sum(1 for r in rows if r[4] == "ConsultationHeld") == 60
    store.dispose()
