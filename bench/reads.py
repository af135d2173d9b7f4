"""Projection catch-up/rebuild, ``audit report``, the naive pandas peer, the dashboard pages."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
from benchlib import best_of, raw_scan_decode, timed

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


def pages(url: str) -> dict:
    """Dashboard pages' server-side work in a fresh subprocess (cold, warm, peak RSS)."""
    out = subprocess.run(
        [sys.executable, str(HERE / "pages_worker.py"), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
