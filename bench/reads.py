"""Projection catch-up/rebuild, ``audit report``, the naive pandas peer, the dashboard pages."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import projection_worker
from benchlib import RAW_SCAN_WORK, best_of, raw_scan_decode, remove_db, timed
from method import REPS, interleave, ratio, spread

from audit.measures import audit_measures, report_records
from audit.projections import Projector
from events import EventStore
from events.types import ELEMENTS, MEASURES

HERE = Path(__file__).resolve().parent


def catch_up(url: str) -> tuple[float, int]:
    store = EventStore(url)
    proj = Projector(store)
    proj.ensure_schema()
    t, n = timed(proj.catch_up)
    store.dispose()
    return t, n


def rebuild(url: str) -> tuple[float, int]:
    store = EventStore(url)
    t, n = timed(Projector(store).rebuild)
    store.dispose()
    return t, n


def raw_scan(path: Path) -> tuple[float, int]:
    return timed(lambda: raw_scan_decode(path))


def checkpoint_wal(path: Path) -> None:
    """Fold the WAL into the main file, so the file alone is the whole database (to copy)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def projection_peer(db: Path) -> tuple[Callable[[], float], str]:
    """The projection's like-for-like peer: ``projection_bench.peer`` (scan + orjson decode +
    the case-note census folded in dicts, defined by the projection work) when that module is
    present, else the plain scan-and-decode of :func:`benchlib.raw_scan_decode`."""
    if importlib.util.find_spec("projection_bench") is None:
        return (lambda: raw_scan(db)[0]), RAW_SCAN_WORK
    url = f"sqlite:///{db}"
    work = (
        "bench/projection_bench.py's peer: plain sqlite3 keyset scan in batches of 50,000 "
        "(the projector's batch) of position, type, schema_version, payload; orjson.loads of "
        "every payload; the case-note census (per team × month numerators and not-applicable "
        "exclusions) folded in Python dicts; writes nothing; in a fresh process, as sipdash"
    )
    return (lambda: projection_worker.fresh("peer", url)[0]), work


def projection_compare(db: Path, events: int, reps: int = REPS, with_rebuild: bool = True) -> dict:
    """Catch-up from position 0, full rebuild and the like-for-like raw scan, interleaved, each
    measure timed inside a fresh process (``projection_worker.fresh``: neither side inherits the heap the run's
    earlier phases left).

    Each repetition: catch-up of a fresh copy of the unprojected log (the copy is made before
    the timing starts), the raw scan of the same log, and (``with_rebuild``) a rebuild of the
    projected copy. With ``reps == 1`` (10M, stated) the log itself is projected, no copy.
    Leaves ``db`` projected.
    """
    url = f"sqlite:///{db}"
    checkpoint_wal(db)
    work = db.with_name(db.stem + "_proj.db")
    applied = {"n": 0}

    def cu() -> float:
        if reps == 1:
            t, n = projection_worker.fresh("catch_up", url)
        else:
            remove_db(work)
            shutil.copyfile(db, work)
            t, n = projection_worker.fresh("catch_up", f"sqlite:///{work}")
        applied["n"] = n
        return t

    scan, scan_work = projection_peer(db)

    def rb() -> float:
        return projection_worker.fresh("rebuild", url if reps == 1 else f"sqlite:///{work}")[0]

    contenders = {"catch_up": cu, "raw_scan": scan}
    if with_rebuild:
        contenders["rebuild"] = rb
    times = interleave(contenders, reps)
    if reps > 1:
        remove_db(db)
        checkpoint_wal(work)
        work.rename(db)
        remove_db(work)
    n = applied["n"] or events
    out: dict = {"reps": reps, "events": n, "raw_scan_work": scan_work}
    for name, ts in times.items():
        sp = spread(ts)
        out[name] = {
            "seconds": sp,
            "us_per_event": sp["median"] / n * 1e6,
            "us_per_event_spread": spread([t / n * 1e6 for t in ts]),
        }
    out["catch_up"]["ratio_vs_raw_scan"] = ratio(times["raw_scan"], times["catch_up"])
    if with_rebuild:
        out["rebuild"]["ratio_vs_raw_scan"] = ratio(times["raw_scan"], times["rebuild"])
    return out


def audit_report(url: str, reps: int = 5) -> dict:
    """``sipdash audit report --format json``: audit_measures + JSON records (projections
    current). Cold = first call on a fresh engine; warm = median of the next ``reps``."""
    store = EventStore(url)
    engine = store.engine

    def run() -> int:
        return len(json.dumps(report_records(audit_measures(engine))))

    cold, size = timed(run)
    warm, warm_min, _ = best_of(run, reps)
    rows = len(audit_measures(engine))
    store.dispose()
    return {"cold_s": cold, "warm_s": warm, "warm_min_s": warm_min, "rows": rows, "bytes": size}


def naive_pandas_report(path: Path) -> tuple[float, pd.DataFrame]:
    """The naive way: load every event into pandas, decode, and group reviews."""

    def run() -> pd.DataFrame:
        conn = sqlite3.connect(path)
        df = pd.read_sql_query("SELECT position, type, payload FROM events ORDER BY position", conn)
        conn.close()
        df["data"] = df["payload"].map(json.loads)
        opened = df[df["type"] == "AuditRoundOpened"]["data"]
        rounds = {d["round_id"]: (d["team_id"], d["period"]) for d in opened}
        rev = pd.DataFrame(list(df[df["type"] == "CaseNoteReviewed"]["data"]))
        rev = rev[~rev.get("second_review", pd.Series(False, index=rev.index)).fillna(False)]
        rev["team"] = rev["round_id"].map(lambda r: rounds[r][0])
        rev["period"] = rev["round_id"].map(lambda r: rounds[r][1])
        rev = rev.drop_duplicates(["team", "period", "consultation_id"], keep="first")
        frames = []
        for m in MEASURES:
            if m == "all_three":
                f = rev[list(ELEMENTS)]
                app = ~(f == "not_applicable").any(axis=1)
                yes = (f == "yes").all(axis=1) & app
            else:
                app = rev[m] != "not_applicable"
                yes = (rev[m] == "yes") & app
            frames.append(
                pd.DataFrame(
                    {
                        "team": rev["team"],
                        "period": rev["period"],
                        "measure": m,
                        "numerator": yes.astype(int),
                        "denominator": app.astype(int),
                    }
                )
            )
        tall = pd.concat(frames, ignore_index=True)
        return tall.groupby(["team", "period", "measure"], as_index=False)[
            ["numerator", "denominator"]
        ].sum()

    return timed(run)


def pages(url: str, worker: Path | None = None) -> dict:
    """Dashboard pages' server-side work in a fresh subprocess (cold, warm, peak RSS)."""
    out = subprocess.run(
        [sys.executable, str(worker or HERE / "pages_worker.py"), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


PAGE_KEYS = ("overview", "team", "compare", "surveys", "reach", "events_first", "events_later")


def pages_compare(urls: dict[str, str], reps: int = REPS) -> dict:
    """The pages of two (or more) sizes, a fresh process each, interleaved A B A B …: per page
    the median warm and cold time per size with spread, and per-repetition ratios of each
    size to the first (same teams, months and clinicians; only the log differs)."""
    runs: dict[str, list[dict]] = {label: [] for label in urls}
    for _ in range(reps):
        for label, url in urls.items():
            runs[label].append(pages(url))
    labels = list(urls)
    base = labels[0]
    out: dict = {"reps": reps, "sizes": labels, "pages": {}}
    # the known pages first, then any the worker adds (e.g. interaction timings)
    seen = [k for k, v in runs[base][0].items() if isinstance(v, dict) and "warm_s" in v]
    ordered = [k for k in PAGE_KEYS if k in seen] + [k for k in seen if k not in PAGE_KEYS]
    keys = [k for k in ordered if all(k in r for rs in runs.values() for r in rs)]
    for key in keys:
        entry: dict = {}
        for label in labels:
            entry[label] = {
                "warm_s": spread([r[key]["warm_s"] for r in runs[label]]),
                "cold_s": spread([r[key]["cold_s"] for r in runs[label]]),
            }
        for label in labels[1:]:
            entry[f"ratio_{label}_vs_{base}"] = ratio(
                [r[key]["warm_s"] for r in runs[label]], [r[key]["warm_s"] for r in runs[base]]
            )
        out["pages"][key] = entry
    out["peak_hwm_mb"] = {
        label: spread([r.get("peak_hwm_mb", r["peak_rss_mb"]) for r in runs[label]])
        for label in labels
    }
    return out
