"""Survey import and projection, against the consultations path and raw sqlite3.

    PYTHONPATH=. python bench/survey_bench.py --events 50000 --reps 5

Each repetition runs, interleaved (A B C D …, never all of one then all of another):
  A  ``sipdash import surveys`` as a user meets it: validate, append, fold into the read models;
  B  the consultations import of a CSV giving about as many events, read models included;
  C  raw ``sqlite3.executemany`` of the survey events (canonical JSON, stream versions, SHA-256
     chain, same table, WAL, synchronous=FULL: ``benchlib.raw_append``);
  D  projection alone: ``Projector.rebuild`` of each log vs a raw scan-and-decode of it.
Every ratio is the median of the repetitions with its min–max spread; a ratio above 1 means
sipdash is faster than the peer named. The peers do the same work except where stated: the raw
append skips validation and the read models; the raw scan decodes every payload (orjson, as the projector) and builds nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    raw_append,
    raw_create_table,
    raw_scan_decode,
    remove_db,
    timed,
)
from import_bench import make_csv

from audit.imports import Importer
from audit.projections import Projector
from audit.survey_imports import SURVEY_COLUMNS, SurveyImporter
from events import EventStore
from events.pseudonym import DEMO_KEY, PatientRegistry

ANSWERS = ("yes", "yes", "yes", "no", "not_sure", "doesnt_apply", "")


def make_survey_csv(rows: int, teams: int = 8, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    out = io.StringIO()
    out.write(",".join(SURVEY_COLUMNS) + ",confidence\n")
    for i in range(rows):
        t = i % teams
        day = date(2024, 1 + i % 12, 1 + i % 28).isoformat()
        a = [ANSWERS[int(rnd.random() * len(ANSWERS))] for _ in range(3)]
        conf = "" if rnd.random() < 0.1 else str(int(rnd.random() * 11))
        out.write(f"s{i:08d},team{t:02d},{day},{a[0]},{a[1]},{a[2]},{conf}\n")
    return out.getvalue().encode()


def _items(store: EventStore) -> list[tuple]:
    return [
        (r[1], r[2], r[4], int(r[5]), r[6], None, json.loads(r[8]), r[9])
        for r in store.read_rows(batch_size=20_000)
    ]


def _import(tmp: Path, name: str, run) -> tuple[float, int, Path]:
    """Time ``run(store, projector)`` + the catch-up the CLI does after it, on a new log."""
    path = tmp / f"{name}.db"
    remove_db(path)
    store = EventStore(f"sqlite:///{path}")
    store.create_schema()
    proj = Projector(store)
    proj.ensure_schema()

    def go() -> int:
        result = run(store, proj)
        proj.catch_up()
        return result.appended

    t, appended = timed(go)
    store.dispose()
    return t, appended, path


def _rebuild(path: Path) -> float:
    store = EventStore(f"sqlite:///{path}")
    t, _ = timed(lambda: Projector(store).rebuild())
    store.dispose()
    return t


def run(events: int, reps: int) -> dict:
    survey_csv = make_survey_csv(events)
    consult_csv = make_csv(max(100, round(events / 2.8)))
    today = date(2025, 1, 1)
    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "survey_s",
            "consult_s",
            "raw_s",
            "survey_rebuild_s",
            "consult_rebuild_s",
            "survey_scan_s",
            "consult_scan_s",
        )
    }
    counts = {}
    with tempfile.TemporaryDirectory(prefix="sipdash-survey-bench-") as d:
        tmp = Path(d)
        for rep in range(reps):
            # A: surveys
            t, n_s, s_path = _import(
                tmp,
                "surveys",
                lambda st, _p: SurveyImporter(st, today=today).import_surveys(
                    survey_csv, register_teams=True
                ),
            )
            samples["survey_s"].append(t)
            # B: consultations
            t, n_c, c_path = _import(
                tmp,
                "consult",
                lambda st, p: Importer(
                    st,
                    PatientRegistry(st.engine, DEMO_KEY),
                    demo_key=True,
                    projector=p,
                    today=today,
                ).import_consultations(consult_csv, register_teams=True),
            )
            samples["consult_s"].append(t)
            # C: raw executemany of the very survey events
            store = EventStore(f"sqlite:///{s_path}")
            items = _items(store)
            store.dispose()
            raw_path = tmp / "raw.db"
            remove_db(raw_path)
            raw_create_table(raw_path)  # DDL outside the timing, as sipdash's create_schema
            t, _ = timed(lambda p=raw_path, i=items: raw_append(p, i, create=False))
            samples["raw_s"].append(t)
            remove_db(raw_path)
            # D: projection alone, each log against its own raw scan
            samples["survey_rebuild_s"].append(_rebuild(s_path))
            samples["survey_scan_s"].append(timed(lambda p=s_path: raw_scan_decode(p))[0])
            samples["consult_rebuild_s"].append(_rebuild(c_path))
            samples["consult_scan_s"].append(timed(lambda p=c_path: raw_scan_decode(p))[0])
            counts = {"survey_events": n_s, "consult_events": n_c}
            remove_db(s_path)
            remove_db(c_path)
            print(f"[{time.strftime('%H:%M:%S')}] rep {rep + 1}/{reps} done", flush=True)

    def ratios(num: str, den: str, per_num: int = 1, per_den: int = 1) -> dict:
        """Median and spread of (events/s of ``den`` side) … expressed as peer time / ours."""
        values = [
            (a / per_num) / (b / per_den) for a, b in zip(samples[num], samples[den], strict=True)
        ]
        return {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }

    n_s, n_c = counts["survey_events"], counts["consult_events"]
    out = {
        "events": counts,
        "reps": reps,
        "median_s": {k: statistics.median(v) for k, v in samples.items()},
        # > 1: sipdash's survey import is faster per event than the peer
        "survey_import_vs_raw_executemany": ratios("raw_s", "survey_s"),
        "consult_import_vs_raw_executemany": ratios("raw_s", "consult_s", n_s, n_c),
        "survey_import_vs_consult_import_per_event": ratios("consult_s", "survey_s", n_c, n_s),
        "survey_rebuild_vs_raw_scan": ratios("survey_scan_s", "survey_rebuild_s"),
        "consult_rebuild_vs_raw_scan": ratios("consult_scan_s", "consult_rebuild_s"),
    }
    out["survey_import_eps"] = n_s / out["median_s"]["survey_s"]
    out["consult_import_eps"] = n_c / out["median_s"]["consult_s"]
    out["survey_rebuild_eps"] = n_s / out["median_s"]["survey_rebuild_s"]
    out["consult_rebuild_eps"] = n_c / out["median_s"]["consult_rebuild_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="survey events (≤ 100k)")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if args.reps < 5:
        parser.error("ratios need at least 5 interleaved repetitions")
    print(json.dumps(run(args.events, args.reps), indent=2))


if __name__ == "__main__":
    main()
