"""Soak: the concurrency and crash checks of the reliability tests, round after round.

    .venv/bin/python bench/soak.py [--seconds 60] [--db URL] [--rows 20000] [--writers 3]

Until the time is up, alternates two kinds of round against one database (default: a fresh
SQLite file in a temporary directory; pass ``--db postgresql://...`` for PostgreSQL):

* **concurrency**: several processes at once — CSV imports of different files that share new
  patients, ``AuditService.run`` for a month, single appenders fighting over one stream
  (retrying on ``VersionConflict``) and a projector catching up in small batches;
* **crash**: ``sipdash import`` of a big file killed with SIGKILL inside its append transaction
  (the log must not move), then rerun to completion; and a catch-up in small batches killed
  half-way, resumed, and compared with a full rebuild.

After every round it checks the promises (positions gap-free, event ids unique, stream
versions 1..n, the hash chain, one token per patient, read models equal to a rebuild) and
prints counts. Every loop is bounded; the exit status is 1 if any check failed. Not run by
the test suite (see docs/reliability.md).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from audit import readmodel as rm  # noqa: E402
from audit.imports import Importer  # noqa: E402
from audit.projections import Projector  # noqa: E402
from audit.service import AuditError, AuditService  # noqa: E402
from events import EventStore, NewEvent, VersionConflict  # noqa: E402
from events.pseudonym import PatientRegistry  # noqa: E402
from events.types import ConsultationHeld, TeamRegistered  # noqa: E402
from tests.helpers.logs import append_in_progress  # noqa: E402
from tests.helpers.readmodels import snapshot  # noqa: E402

KEY = "sipdash-soak-key-0123456789abcdef0123"
HEADER = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up"
)
TEAMS = ("north", "south", "east")
STEP_TIMEOUT = 300  # seconds: the most one step may take before the soak gives up on it


class SoakFailure(AssertionError):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SoakFailure(what)


# --------------------------------------------------------------------------- data


def csv_bytes(prefix: str, team: str, month: int, rows: int, patients: list[str]) -> bytes:
    rng = random.Random(prefix)
    lines = [HEADER]
    for i in range(rows):
        flags = ",".join(rng.choice(("yes", "no")) for _ in range(3))
        lines.append(
            f"{prefix}-{i},{team},{team}-k{i % 6},{patients[i % len(patients)]},"
            f"2024-{month:02d}-{1 + i % 28:02d},video,{flags}"
        )
    return ("\n".join(lines) + "\n").encode()


def check_log(store: EventStore) -> int:
    """The log's promises; returns the number of events."""
    with store.engine.connect() as conn:
        n, distinct_ids, top = conn.exec_driver_sql(
            "SELECT COUNT(*), COUNT(DISTINCT event_id), COALESCE(MAX(position), 0) FROM events"
        ).one()
        bad_streams = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM (SELECT stream_id FROM events GROUP BY stream_id HAVING "
            "MIN(stream_version) <> 1 OR MAX(stream_version) <> COUNT(*) "
            "OR COUNT(DISTINCT stream_version) <> COUNT(*)) s"
        ).scalar_one()
        tokens, distinct_keys = conn.exec_driver_sql(
            "SELECT COUNT(*), COUNT(DISTINCT key_hash) FROM patient_tokens"
        ).one()
    check(n == top, f"positions have gaps: {n} events, top position {top}")
    check(n == distinct_ids, f"duplicate event ids: {n} events, {distinct_ids} ids")
    check(bad_streams == 0, f"{bad_streams} streams whose versions are not 1..n")
    check(tokens == distinct_keys, "a patient has two tokens")
    result = store.verify()
    check(result.ok, f"verify failed: {result.line()}")
    return int(n)


def check_projection(store: EventStore) -> None:
    projector = Projector(store)
    projector.catch_up()
    incremental = snapshot(store)
    projector.rebuild()
    check(snapshot(store) == incremental, "read models after catch-up differ from a rebuild")


# --------------------------------------------------------------------------- workers


def worker(kind: str, url: str, arg, start, results) -> None:
    store = EventStore(url)
    try:
        start.wait(STEP_TIMEOUT)
        if kind == "import":
            name, data = arg
            registry = PatientRegistry(store.engine, KEY)
            r = Importer(store, registry, projector=Projector(store)).import_consultations(
                data, source=name
            )
            results.put((kind, "ok", r.appended))
        elif kind == "audit":
            try:
                outcomes = AuditService(store, projector=Projector(store)).run(arg, sample_size=10)
                results.put((kind, "ok", len(outcomes)))
            except AuditError as exc:  # a concurrent run of the same month: allowed, clear
                results.put((kind, "ok" if "reload and try again" in str(exc) else "error", 0))
        elif kind == "append":
            round_no, worker_no, count = arg
            conflicts = 0
            for i in range(count):
                store.append(
                    [
                        NewEvent(
                            ConsultationHeld(
                                consultation_id=f"single-{round_no}-{worker_no}-{i}",
                                team_id=TEAMS[i % len(TEAMS)],
                                clinician_id=f"single-k{worker_no}",
                                patient_ref="p_" + f"{worker_no:08x}{i:024x}",
                                occurred_on=date(2024, 6, 1 + i % 28),
                                contact="telephone",
                            )
                        )
                    ],
                    expected_version=0,
                )
                while True:
                    version = store.stream_version("team-soak-shared")
                    try:
                        store.append(
                            [
                                NewEvent(
                                    TeamRegistered(
                                        team_id="soak-shared",
                                        name=f"w{worker_no}-{i}",
                                        site="S",
                                        service="COPD",
                                    )
                                )
                            ],
                            expected_version=version,
                        )
                        break
                    except VersionConflict as exc:
                        if not exc.retryable:
                            raise
                        conflicts += 1
            results.put((kind, "ok", conflicts))
        elif kind == "project":
            projector = Projector(store)
            applied, deadline = 0, time.monotonic() + arg
            while time.monotonic() < deadline:
                applied += projector.catch_up(batch_size=31, max_batches=1)
            results.put((kind, "ok", applied))
    except BaseException as exc:
        results.put((kind, "error", f"{type(exc).__name__}: {exc}"))
    finally:
        store.dispose()


def concurrency_round(url: str, round_no: int, writers: int, stats: Counter) -> None:
    ctx = mp.get_context("spawn")
    shared = [f"SOAK-{round_no}-{i}" for i in range(40)]
    month = 1 + round_no % 12
    jobs = [
        (
            "import",
            url,
            (f"r{round_no}-{t}.csv", csv_bytes(f"r{round_no}{t}", t, month, 300, shared)),
        )
        for t in TEAMS[:2]
    ]
    jobs += [("append", url, (round_no, w, 15)) for w in range(writers)]
    jobs += [("audit", url, f"2024-{month:02d}"), ("project", url, 3.0)]
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(*job, start, results)) for job in jobs]
    for p in procs:
        p.start()
    start.set()
    got = []
    try:
        for _ in jobs:
            got.append(results.get(timeout=STEP_TIMEOUT))
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [g for g in got if g[1] != "ok"]
    check(not errors, f"worker errors: {errors}")
    stats["version conflicts retried"] += sum(g[2] for g in got if g[0] == "append")
    stats["concurrency rounds"] += 1


# --------------------------------------------------------------------------- crashes


def sipdash_cmd(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("sipdash")
    return (
        [str(script), *args] if script.exists() else [sys.executable, "-m", "dashboard.cli", *args]
    )


def count(store: EventStore, sql: str, *params: str) -> int:
    """``sql`` with ``?`` placeholders, on either backend."""
    if not store.sqlite:
        sql = sql.replace("?", "%s")
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(sql, params).scalar_one() or 0)


def crash_import_round(url: str, round_no: int, rows: int, workdir: Path, stats: Counter) -> None:
    store = EventStore(url)
    path = workdir / f"big-{round_no}.csv"
    patients = [f"BIG-{round_no}-{i}" for i in range(rows // 5 + 1)]
    path.write_bytes(csv_bytes(f"big{round_no}", TEAMS[round_no % 3], 7, rows, patients))
    env = {**os.environ, "SIPDASH_PSEUDONYM_KEY": KEY}
    cmd = sipdash_cmd("import", "consultations", str(path), "--db", url, "-q")
    head_before = store.head().position
    tokens_before = count(store, "SELECT COUNT(*) FROM patient_tokens")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + STEP_TIMEOUT
    killed = False
    while proc.poll() is None and time.monotonic() < deadline:
        if count(store, "SELECT COUNT(*) FROM patient_tokens") > tokens_before and (
            append_in_progress(url)
        ):
            time.sleep(random.uniform(0.0, 0.5))
            if proc.poll() is None:
                proc.kill()
                killed = True
            break
        time.sleep(0.02)
    proc.communicate(timeout=STEP_TIMEOUT)
    if killed:
        stats["imports killed"] += 1
        check(store.head().position == head_before, "a killed atomic import left events behind")
    else:
        stats["imports finished before the kill"] += 1
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    check(rerun.returncode == 0, f"the rerun failed: {rerun.stderr}")
    held = count(
        store,
        "SELECT COUNT(*) FROM events WHERE type = 'ConsultationHeld' AND stream_id LIKE ?",
        f"consultation-big{round_no}-%",
    )
    check(held == rows, f"after the rerun {held} consultations, expected {rows}")
    path.unlink()
    store.dispose()


CATCH_UP = """
import sys
from audit.projections import Projector
from events import EventStore
projector = Projector(EventStore(sys.argv[1]))
while projector.catch_up(batch_size=97, max_batches=1):
    pass
"""


def crash_projection_round(url: str, stats: Counter) -> None:
    """Empty the read models, fold the log again in a child process, kill it at a random point,
    resume here, and compare with a full rebuild."""
    store = EventStore(url)
    projector = Projector(store)
    rm.metadata.drop_all(store.engine)
    rm.metadata.create_all(store.engine)
    head = store.head().position
    proc = subprocess.Popen([sys.executable, "-c", CATCH_UP, url], cwd=ROOT)
    target = random.randint(1, max(1, head - 1))
    deadline = time.monotonic() + STEP_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if projector.checkpoint() >= target:
            proc.kill()
            stats["projectors killed"] += 1
            break
        time.sleep(0.01)
    proc.wait(timeout=STEP_TIMEOUT)
    checkpoint = projector.checkpoint()
    check(checkpoint % 97 == 0 or checkpoint == head, f"a torn batch: checkpoint {checkpoint}")
    check_projection(store)
    store.dispose()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the killed import")
    parser.add_argument("--writers", type=int, default=3, help="single appenders per round")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sipdash-soak-") as tmp:
        workdir = Path(tmp)
        url = args.db or f"sqlite:///{workdir / 'soak.db'}"
        store = EventStore(url)
        Projector(store).ensure_schema()
        PatientRegistry(store.engine, KEY).ensure_schema()
        if store.head().position:
            print(f"soak: {url} is not empty; use a fresh database", file=sys.stderr)
            return 2
        store.append(
            [
                NewEvent(TeamRegistered(team_id=t, name=t.title(), site="S", service="COPD"))
                for t in TEAMS
            ]
        )
        stats: Counter = Counter()
        deadline = time.monotonic() + args.seconds
        round_no, failures = 0, 0
        t0 = time.monotonic()
        while time.monotonic() < deadline and round_no < 10_000:
            round_no += 1
            kind = ("concurrency", "crash import", "crash projection")[(round_no - 1) % 3]
            try:
                if kind == "concurrency":
                    concurrency_round(url, round_no, args.writers, stats)
                elif kind == "crash import":
                    crash_import_round(url, round_no, args.rows, workdir, stats)
                else:
                    crash_projection_round(url, stats)
                events = check_log(store)
                if kind == "concurrency":
                    check_projection(store)
            except (SoakFailure, subprocess.TimeoutExpired) as exc:
                failures += 1
                print(f"round {round_no} ({kind}): FAILED: {exc}", flush=True)
                continue
            print(
                f"round {round_no:3d} {kind:<16} ok  {events:>8} events  "
                f"{time.monotonic() - t0:6.1f}s  "
                + ", ".join(f"{k} {v}" for k, v in sorted(stats.items())),
                flush=True,
            )
        store.dispose()
        print(
            f"soak: {round_no} rounds in {time.monotonic() - t0:.0f}s, {failures} failed; "
            + ", ".join(f"{k} {v}" for k, v in sorted(stats.items()))
        )
        return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
