"""Crashes, for real: ``kill -9`` a writer or a projector half-way and check what is left.

Each test starts ``sipdash`` (or a small Python program) as a subprocess against a fresh
SQLite file or PostgreSQL database, watches the database until the work is visibly under way,
kills the process with SIGKILL (no clean-up code runs), and then checks the promises:
whole batches only (an atomic import: nothing at all), an intact hash chain, a rerun that
completes the work without duplicates, and read models that resume from their checkpoint.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from audit.projections import Projector
from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry
from events.types import (
    AgendaSet,
    ConsultationHeld,
    ElementRetracted,
    FollowUpArranged,
    GoalAgreed,
    TeamRegistered,
)
from tests.helpers.logs import append_in_progress
from tests.helpers.readmodels import snapshot

KEY = "reliability-crash-key-0123456789abcdef0123"
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)
#: rows in the big import; 100000 is the full-size run (slow on a shared machine)
IMPORT_ROWS = int(os.environ.get("SIPDASH_RELIABILITY_IMPORT_ROWS", "12000"))
SEED_BATCH = 20_000  # EventStore.append_many's default batch: the unit a crash may leave
WAIT = 120  # seconds: the most any step may take before the test fails instead of hanging
ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers


def sipdash(*args: str) -> list[str]:
    """The installed ``sipdash`` next to this interpreter (or ``python -m dashboard.cli``)."""
    script = Path(sys.executable).with_name("sipdash")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "dashboard.cli", *args]


def start(cmd: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "SIPDASH_PSEUDONYM_KEY": KEY, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(what: str, condition: Callable[[], bool], proc: subprocess.Popen) -> None:
    """Poll ``condition`` until true; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill_9(proc: subprocess.Popen) -> None:
    assert proc.poll() is None, "the process finished before it could be killed"
    proc.kill()  # SIGKILL: no finally blocks, no rollback by the client
    proc.communicate(timeout=30)
    assert proc.returncode == -9


def scalar(url: str, sql: str) -> int:
    store = EventStore(url)
    try:
        with store.engine.connect() as conn:
            return int(conn.exec_driver_sql(sql).scalar_one() or 0)
    finally:
        store.dispose()


def prepare(url: str) -> EventStore:
    store = EventStore(url)
    Projector(store).ensure_schema()
    PatientRegistry(store.engine, KEY).ensure_schema()
    store.append(
        [NewEvent(TeamRegistered(team_id="msk1", name="MSK", site="North", service="MSK pain"))]
    )
    return store


def big_csv(path: Path, rows: int) -> Path:
    rng = random.Random(5)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
        for i in range(rows):
            yes = [rng.choice(("yes", "no")) for _ in range(3)]
            fh.write(
                f"c{i},msk1,K{i % 40},LOCAL-{i % 3000},2024-{1 + i % 12:02d}-{1 + i % 28:02d},"
                f"video,{','.join(yes)}\n"
            )
    return path


def programme(consultations: int, seed: int = 11) -> list[NewEvent]:
    """Teams, consultations, documented elements (some late), a few retractions."""
    rng = random.Random(seed)
    events = [
        NewEvent(TeamRegistered(team_id=t, name=t.upper(), site="S", service="COPD"))
        for t in ("copd1", "msk1", "dm1")
    ]
    late: list[NewEvent] = []
    for i in range(consultations):
        cid = f"c{i}"
        day = date(2024, 1, 1) + timedelta(days=i % 300)
        events.append(
            NewEvent(
                ConsultationHeld(
                    consultation_id=cid,
                    team_id=("copd1", "msk1", "dm1")[i % 3],
                    clinician_id=f"k{i % 17}",
                    patient_ref="p_" + f"{i % 5000:032x}",
                    occurred_on=day,
                    contact="video",
                )
            )
        )
        for cls in (AgendaSet, GoalAgreed, FollowUpArranged):
            if rng.random() < 0.5:
                ev = NewEvent(cls(consultation_id=cid, documented_on=day))
                (late if rng.random() < 0.1 else events).append(ev)
        if rng.random() < 0.02:
            late.append(NewEvent(ElementRetracted(consultation_id=cid, element="goal_setting")))
        if len(late) > 50:
            events.extend(late)
            late = []
    return events + late


def verify_cli(url: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(["verify", "--db", url, "-q"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0, last
    assert last.startswith("ok: ")
    return last


def event_ids_unique(url: str) -> None:
    assert scalar(url, "SELECT COUNT(*) FROM events") == scalar(
        url, "SELECT COUNT(DISTINCT event_id) FROM events"
    )


# --------------------------------------------------------------------------- the tests


def test_a_kill_9_during_an_atomic_import_leaves_nothing_and_a_rerun_completes_it(
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    prepare(db_url).dispose()
    path = big_csv(tmp_path / "BIG.csv", IMPORT_ROWS)
    proc = start(sipdash("import", "consultations", str(path), "--db", db_url, "-q"))
    # the pseudonyms are committed first; then one transaction appends every event
    wait_until(
        "the patient tokens were written",
        lambda: scalar(db_url, "SELECT COUNT(*) FROM patient_tokens") > 0,
        proc,
    )
    wait_until("the append transaction began", lambda: append_in_progress(db_url), proc)
    time.sleep(0.3)  # well inside the transaction
    kill_9(proc)

    assert scalar(db_url, "SELECT MAX(position) FROM events") == 1, "only the team, nothing else"
    verify_cli(db_url, capsys)

    rerun = start(sipdash("import", "consultations", str(path), "--db", db_url, "-q"))
    out, err = rerun.communicate(timeout=WAIT * 2)
    assert rerun.returncode == 0, err
    assert f"imported {IMPORT_ROWS} rows" in out
    held = "SELECT COUNT(*) FROM events WHERE type = 'ConsultationHeld'"
    assert scalar(db_url, held) == IMPORT_ROWS
    event_ids_unique(db_url)
    assert scalar(db_url, "SELECT COUNT(*) FROM rm_case_notes") == IMPORT_ROWS
    verify_cli(db_url, capsys)
    # and once more: nothing new
    assert main(["import", "consultations", str(path), "--db", db_url, "-q"]) == 0
    assert " 0 events appended" in capsys.readouterr().out


def test_a_kill_9_during_seeding_leaves_whole_batches_only_and_the_chain_intact(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cmd = sipdash("seed", "--scenario", "large", "--consultations", "50000", "--db", db_url, "-q")
    proc = start(cmd)
    store = EventStore(db_url)

    def first_batch_committed() -> bool:
        try:
            return store.head().position > 0
        except Exception:  # the seed has not created the events table yet
            return False

    wait_until("the first batch was committed", first_batch_committed, proc)
    kill_9(proc)
    head = store.head().position
    assert head > 0 and head % SEED_BATCH == 0, f"{head} events: a batch was cut in two"
    assert verify_cli(db_url, capsys).startswith(f"ok: {head} events")
    event_ids_unique(db_url)
    # the seed writes only into an empty database: a rerun is refused and appends nothing
    assert main(["seed", "--scenario", "large", "--db", db_url, "-q"]) == 1
    assert "empty database" in capsys.readouterr().err
    assert store.head().position == head
    store.dispose()


CATCH_UP_IN_SMALL_BATCHES = """
import sys
from audit.projections import Projector
from events import EventStore
projector = Projector(EventStore(sys.argv[1]))
while projector.catch_up(batch_size=int(sys.argv[2]), max_batches=1):
    pass
"""


def test_a_projector_killed_mid_catch_up_resumes_from_its_checkpoint_and_equals_a_rebuild(
    db_url: str,
) -> None:
    store = EventStore(db_url)
    projector = Projector(store)
    projector.ensure_schema()
    store.append_many(programme(4_000))
    head = store.head().position
    batch = 250
    proc = start([sys.executable, "-c", CATCH_UP_IN_SMALL_BATCHES, db_url, str(batch)])
    wait_until("a tenth of the log was folded", lambda: projector.checkpoint() >= head // 10, proc)
    kill_9(proc)
    checkpoint = projector.checkpoint()
    assert 0 < checkpoint < head
    assert checkpoint % batch == 0, "a batch and its checkpoint land together or not at all"
    with store.engine.connect() as conn:
        folded = conn.exec_driver_sql("SELECT MAX(position) FROM rm_case_notes").scalar_one()
    assert folded <= checkpoint, "nothing beyond the checkpoint may be in the read models"

    assert projector.catch_up() == head - checkpoint, "resumes exactly where it stopped"
    resumed = snapshot(store)
    projector.rebuild()
    assert snapshot(store) == resumed
    store.dispose()


def test_sipdash_rebuild_killed_half_way_is_completed_by_the_next_catch_up(db_url: str) -> None:
    store = EventStore(db_url)
    projector = Projector(store)
    projector.ensure_schema()
    store.append_many(programme(9_000), batch_size=5_000)
    head = store.head().position
    batch = 5_000
    assert head > 3 * batch, "the rebuild must need several batches"
    projector.catch_up()
    before = snapshot(store)
    proc = start(sipdash("rebuild", "--db", db_url, "-q", "--batch-size", str(batch)))

    def first_batch_committed() -> bool:
        try:
            return 0 < scalar(db_url, "SELECT MAX(position) FROM rm_checkpoints") < head
        except Exception:  # the table is being dropped and created again right now
            return False

    wait_until("the rebuild committed its first batch", first_batch_committed, proc)
    kill_9(proc)
    assert 0 < projector.checkpoint() < head
    projector.catch_up()
    assert projector.lag() == 0
    assert snapshot(store) == before, "the resumed rebuild equals the read models it replaced"
    store.dispose()
