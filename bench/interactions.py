"""The interactions people feel, timed as the server runs them (streamlit AppTest, in process).

    .venv/bin/python bench/interactions.py /tmp/demo.db --reps 5

DESIGN ("Performance targets", interaction): every dashboard interaction's server time at 1M
events ≤ 1.5× at 10k, and under 300 ms on the development machine. Each interaction is the
rerun one user action causes, timed around ``AppTest.run()`` (the script run the server does;
no browser, no network):

- ``team``: pick another team on the Team page;
- ``measure``: pick another enabler on the Team page;
- ``as_of``: set (or clear) the sidebar's as-of date on the overview;
- ``pack_tab``: open the review pack page (not building the pack: that is ``pack_bench``);
- ``overview_back``: go back to the overview from the pack page;
- ``review``: submit one first review on the worklist (appends an event, so the head moves);
- ``overview_after_append``: the overview's next run after that new event (every cached read
  keyed on the head is recomputed: the "cold render after a new event").

Every interaction is done once first (warm: caches filled as for a user who has looked around),
then ``reps`` repetitions of the reads run interleaved (team, measure, as_of, …, team, …) so
the shared machine's noise falls on all of them, then ``reps`` repetitions of the write pair
(a write moves the head, which would make every read after it cold). Each figure is the median
with its min–max spread, as wall time and as this process's CPU time (``cpu_*``: less
sensitive to other jobs on a shared machine).
The database is copied first (the review interaction writes).

``compare(base_db, db_path, reps)`` is what ``bench/run_all.py`` calls for the 1M-vs-10k
target: the two sizes alternate, one ``run(…, reps=2)`` each per repetition (base, size, base,
size, …; each with its own warm-up, untimed; two samples so that a toggle such as the as-of
date is timed both ways), so both see the same moments of a shared machine, and the ratio is
taken per sample, each against the base's sample of the same repetition and direction. (Timed at different moments of a run, the same
code's 1M/10k ratio moved from ×0.85–1.02 to ×1.22–1.88 between two runs of 2026-11-30.)
``python bench/interactions.py DB [--against BASE_DB]`` does the same by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(os.environ.get("SIPDASH_TREE") or Path(__file__).resolve().parents[1]).resolve()
"""The source tree whose dashboard is timed (``SIPDASH_TREE=../old`` for a before/after)."""
sys.path.insert(0, str(ROOT))

APP = str(ROOT / "dashboard" / "app.py")
ELEMENTS = ("agenda_setting", "goal_setting", "follow_up")
READS = ("team", "measure", "as_of", "pack_tab", "overview_back")
WRITES = ("review", "overview_after_append")
INTERACTIONS = READS + WRITES


def _next_month(period: str) -> str:
    y, m = int(period[:4]), int(period[5:7])
    return f"{y + 1:04d}-01" if m == 12 else f"{y:04d}-{m + 1:02d}"


def _prepare_month(url: str, team: str, notes: int) -> str:
    """A new month of ``notes`` consultations for ``team`` (the worklist then opens a round
    sampling them: the notes the review interaction submits, one per repetition)."""
    from sqlalchemy import text

    from audit.bootstrap import bootstrap

    wiring = bootstrap(url)
    store = wiring.store
    wiring.projector.catch_up()  # read models of another layout version are rebuilt first
    with store.engine.connect() as conn:
        last = conn.execute(
            text("SELECT MAX(period) FROM rm_case_notes WHERE team_id = :t"), {"t": team}
        ).scalar_one()
    period = _next_month(str(last))
    lines = [
        "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,"
        "goal_setting,follow_up"
    ]
    lines += [
        f"bench-{period}-{i:03d},{team},bench-clin-{i % 3},B{i:05d},{period}-{1 + i % 28:02d},"
        "face_to_face,yes,no,yes"
        for i in range(notes)
    ]
    wiring.importer(actor="bench").import_consultations(("\n".join(lines) + "\n").encode())
    wiring.projector.catch_up()
    store.dispose()
    return period


def _check(at) -> None:
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception}")


def served_copy(db_path: str | Path, work: Path) -> tuple[str, list[str]]:
    """A copy of the SQLite database at ``db_path`` (with its WAL) in ``work``, set as the
    database the in-process dashboard opens; its URL and its team ids in order."""
    from audit import queries
    from events.db import make_engine

    copy = work / "db.sqlite"
    shutil.copyfile(db_path, copy)
    for suffix in ("-wal", "-shm"):
        if Path(f"{db_path}{suffix}").exists():
            shutil.copyfile(f"{db_path}{suffix}", f"{copy}{suffix}")
    url = f"sqlite:///{copy}"
    os.environ["SIPDASH_DATABASE_URL"] = url
    os.environ.pop("SIPDASH_LOCAL_ROLE", None)
    probe = make_engine(url)
    try:
        return url, queries.teams(probe).sort_values("team_id")["team_id"].tolist()
    finally:
        probe.dispose()


def run(db_path: str | Path, reps: int = 5, *, keep_copy: bool = False) -> dict:
    """Median server time (seconds) of each interaction over ``reps`` interleaved repetitions
    on a copy of the SQLite database at ``db_path``; with min, max and every sample."""
    from streamlit.testing.v1 import AppTest

    from events.db import make_engine

    work = Path(tempfile.mkdtemp(prefix="sipdash-interactions-"))
    url, teams = served_copy(db_path, work)
    from events import EventStore

    head_store = EventStore(url)
    head_before = head_store.head().position
    head_store.dispose()
    team_a, team_b = teams[0], teams[1 % len(teams)]
    period = _prepare_month(url, team_a, notes=max(20, reps + 3))  # sampled whole: one per rep

    def app(page: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=600)
        at.run()
        _check(at)
        if page:
            at.switch_page(page).run()
            _check(at)
        return at

    team_at = app("app_pages/team.py")
    overview_at = app()
    pack_at = app()
    work_at = app("app_pages/worklist.py")
    work_at.selectbox(key="wl_team").set_value(team_a).run()
    work_at.selectbox(key="wl_month").set_value(period).run()
    _check(work_at)
    work_at.number_input(key="wl_size").set_value(max(20, reps + 3))
    opener = [b for b in work_at.button if (b.key or "").startswith("open_submit_")]
    opener[0].click().run()
    _check(work_at)
    from audit.service import rounds_for

    engine = make_engine(url)
    (info,) = rounds_for(engine, team_id=team_a, period=period)
    engine.dispose()
    pending = list(info.sampled)
    if len(pending) < reps + 1:
        raise RuntimeError(f"the round sampled {len(pending)} notes; {reps + 1} are needed")
    as_of_day = date.fromisoformat(f"{period[:7]}-01")
    state = {"team": 0, "measure": 0, "as_of": 0}

    def team() -> None:
        state["team"] ^= 1
        team_at.selectbox(key="team").set_value((team_a, team_b)[state["team"]]).run()
        _check(team_at)

    def measure() -> None:
        state["measure"] ^= 1
        choice = ("agenda_setting", "all_three")[state["measure"]]
        team_at.selectbox(key="measure").set_value(choice).run()
        _check(team_at)

    def as_of() -> None:
        state["as_of"] ^= 1
        overview_at.date_input(key="as_of").set_value(as_of_day if state["as_of"] else None).run()
        _check(overview_at)

    def pack_tab() -> None:
        pack_at.switch_page("app_pages/pack.py").run()
        _check(pack_at)

    def overview_back() -> None:
        pack_at.switch_page("app_pages/overview.py").run()
        _check(pack_at)

    def overview_after_append() -> None:
        overview_at.run()
        _check(overview_at)

    def review() -> None:
        cid = pending.pop(0)
        for element in ELEMENTS:
            work_at.radio(key=f"first_{cid}_{element}").set_value("yes")
        work_at.text_input(key=f"first_{cid}_reviewer").set_value("bench")
        work_at.button(key=f"first_{cid}_submit").click().run()
        _check(work_at)

    actions: dict[str, Callable[[], None]] = {
        "team": team,
        "measure": measure,
        "as_of": as_of,
        "pack_tab": pack_tab,
        "overview_back": overview_back,
        "review": review,
        "overview_after_append": overview_after_append,
    }

    def timed(name: str) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        actions[name]()
        return time.perf_counter() - t, time.process_time() - c

    if state["as_of"]:  # the overview starts on the latest data
        as_of()
    for name in READS:  # warm: every page visited, every cache filled once
        timed(name)
        if name in ("team", "measure", "as_of"):
            timed(name)  # and back, so both values are cached
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in INTERACTIONS}
    for _ in range(reps):
        for name in READS:
            samples[name].append(timed(name))
    # the overview after a new event is timed on the latest data, as a user watching the log
    # sees it: an as-of date left set by an odd number of as_of toggles would keep its reads
    # on the past, unchanged by the append (until 2026-11-30 that made the figure ~250 ms at
    # an odd --reps against ~500 ms at an even one: the cold render was not what was timed)
    if state["as_of"]:
        as_of()
    timed("review")  # the worklist's first submit fills its own caches
    timed("overview_after_append")
    for _ in range(reps):
        for name in WRITES:
            samples[name].append(timed(name))
    out: dict = {"db": str(db_path), "events": head_before, "reps": reps, "interactions": {}}
    for name, pairs in samples.items():
        out["interactions"][name] = _summary([w for w, _ in pairs], [c for _, c in pairs])
    if not keep_copy:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _summary(wall: list[float], cpu: list[float]) -> dict:
    """One interaction's samples (wall and this process's CPU seconds): medians, min, max."""
    return {
        "median_s": statistics.median(wall),
        "min_s": min(wall),
        "max_s": max(wall),
        "cpu_median_s": statistics.median(cpu),
        "cpu_min_s": min(cpu),
        "cpu_max_s": max(cpu),
        "samples_s": wall,
        "cpu_samples_s": cpu,
    }


def _merged(runs: list[dict]) -> dict:
    """``run`` results of one database, as one result of all their repetitions."""
    reps = sum(r["reps"] for r in runs)
    out: dict = {"db": runs[0]["db"], "events": runs[0]["events"], "reps": reps}
    out["interactions"] = {
        name: _summary(
            [w for r in runs for w in r["interactions"][name]["samples_s"]],
            [c for r in runs for c in r["interactions"][name]["cpu_samples_s"]],
        )
        for name in INTERACTIONS
    }
    return out


def compare(base_db: str | Path, db_path: str | Path, reps: int = 5, per_run: int = 2) -> dict:
    """Each interaction on ``db_path`` and on ``base_db``, the two alternating (base, size,
    base, size, …: ``reps`` runs of ``per_run`` repetitions each); ``ratio``: size / base time
    of each interaction, sample by sample (the same repetition, the same toggle direction),
    median with min–max."""
    if reps < 1 or per_run < 1:
        raise ValueError("at least one repetition")
    base_runs, runs = [], []
    for _ in range(reps):
        base_runs.append(run(base_db, per_run))
        runs.append(run(db_path, per_run))
    out = _merged(runs)
    out["base"] = _merged(base_runs)
    out["ratio"] = {}
    for name in INTERACTIONS:
        per_rep = [
            a / b
            for r, base in zip(runs, base_runs, strict=True)
            for a, b in zip(
                r["interactions"][name]["samples_s"],
                base["interactions"][name]["samples_s"],
                strict=True,
            )
        ]
        out["ratio"][name] = {
            "median": statistics.median(per_rep),
            "min": min(per_rep),
            "max": max(per_rep),
            "per_rep": per_rep,
        }
    return out


def _print(label: str, result: dict, ratio: dict | None = None) -> None:
    print(f"{label}: {result['events']:,} events, {result['reps']} reps", file=sys.stderr)
    for name, r in result["interactions"].items():
        line = (
            f"{name:>22}: median {r['median_s'] * 1000:7.1f} ms "
            f"(min {r['min_s'] * 1000:.1f}, max {r['max_s'] * 1000:.1f}); "
            f"cpu {r['cpu_median_s'] * 1000:.1f} ms"
        )
        if ratio:
            x = ratio[name]
            line += f"; ×{x['median']:.2f} ({x['min']:.2f}–{x['max']:.2f}) the base"
        print(line, file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="a seeded, projected SQLite database (copied, never changed)")
    ap.add_argument(
        "--against",
        metavar="BASE_DB",
        help="a smaller seeded, projected database: the sizes alternate, ratios per repetition",
    )
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    for path in (args.db, args.against):
        if path is not None and not Path(path).is_file():
            ap.error(f"{path}: no such database file")
    if args.against:
        result = compare(args.against, args.db, args.reps)
        print(json.dumps(result))
        _print("base", result["base"])
        _print("size", result, result["ratio"])
        return
    result = run(args.db, args.reps)
    print(json.dumps(result))
    _print("size", result)


if __name__ == "__main__":
    main()
