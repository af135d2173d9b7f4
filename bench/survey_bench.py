"""Survey import and projection, against the consultations path and raw sqlite3.

    PYTHONPATH=. python bench/survey_bench.py --events 50000 --reps 5 [--old-tree DIR]

Each repetition runs, interleaved (A B C D …, never all of one then all of another):
  A  survey import as a user meets it (``SurveyImporter.import_surveys``, then the catch-up the
     CLI does: validate, append, fold into the read models), in a fresh worker process of the
     tree measured (``bench/import_worker.py``); the worker times the import and the fold only (not interpreter start-up);
  B  the consultations import of a CSV giving about as many events, read models included,
     in a fresh worker process the same way;
  C  raw ``sqlite3.executemany`` of the survey events, and of the consultation events
     (canonical JSON, stream versions, SHA-256 chain, same table, WAL, synchronous=FULL:
     ``benchlib.raw_append``), each import against the raw append of its own events;
  D  projection alone: ``Projector.rebuild`` of each log vs a raw scan-and-decode of it
     (skipped with ``--no-rebuild``).
With ``--old-tree`` (a checkout of an older sipdash), A and B run for the old tree too, in the
same repetition (old A, new A, old B, new B), so before/after share each repetition's load.
Every ratio is the median of the per-repetition ratios with its min–max spread; a ratio
above 1 means sipdash is faster than the peer named. The raw appends skip validation and the
read models; the raw scan decodes every payload (orjson, as the projector) and builds nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    ROOT,
    raw_append,
    raw_create_table,
    raw_scan_decode,
    remove_db,
    timed,
)
from import_bench import make_csv

from audit.projections import Projector
from audit.survey_imports import SURVEY_COLUMNS
from events import EventStore

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


def _import(tree: Path, kind: str, csv_path: Path, db: Path) -> tuple[float, int]:
    """Seconds and events of one worker run of ``tree`` (its own modules on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    for name in ("SIPDASH_DATABASE_URL", "SIPDASH_PSEUDONYM_KEY", "SIPDASH_LOG_KEY"):
        env.pop(name, None)
    worker = Path(__file__).resolve().parent / "import_worker.py"
    cmd = [sys.executable, str(worker), kind, str(csv_path), str(db)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=db.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} import in {tree} failed: {done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], out["appended"]


def _rebuild(path: Path) -> float:
    store = EventStore(f"sqlite:///{path}")
    t, _ = timed(lambda: Projector(store).rebuild())
    store.dispose()
    return t


def _raw(tmp: Path, db: Path) -> float:
    """Raw executemany of the events ``db`` holds (DDL outside the timing, as sipdash's)."""
    store = EventStore(f"sqlite:///{db}")
    items = _items(store)
    store.dispose()
    raw_path = tmp / "raw.db"
    remove_db(raw_path)
    raw_create_table(raw_path)
    t, _ = timed(lambda: raw_append(raw_path, items, create=False))
    remove_db(raw_path)
    return t


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _fmt(s: dict) -> str:
    return f"{s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f})"


def run(events: int, reps: int, old_tree: Path | None = None, rebuild: bool = True) -> dict:
    trees = {"new": ROOT} if old_tree is None else {"old": old_tree, "new": ROOT}
    samples: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        samples.setdefault(key, []).append(value)

    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="sipdash-survey-bench-") as d:
        tmp = Path(d)
        survey_csv, consult_csv = tmp / "surveys.csv", tmp / "consultations.csv"
        survey_csv.write_bytes(make_survey_csv(events))
        consult_csv.write_bytes(make_csv(max(100, round(events / 2.8))))
        s_path, c_path = tmp / "surveys.db", tmp / "consult.db"
        for rep in range(reps):
            # A then B, each tree in turn (old, new), then the raw peers of the new tree's logs
            for kind, csv_path, db in (
                ("surveys", survey_csv, s_path),
                ("consult", consult_csv, c_path),
            ):
                for name, tree in trees.items():
                    t, n = _import(tree, kind, csv_path, db)
                    add(f"{name}_{kind}_s", t)
                    if counts.setdefault(f"{kind}_events", n) != n:
                        raise RuntimeError(f"{name} tree appended {n} {kind} events, not {counts}")
            add("raw_surveys_s", _raw(tmp, s_path))
            add("raw_consult_s", _raw(tmp, c_path))
            if rebuild:
                add("survey_rebuild_s", _rebuild(s_path))
                add("survey_scan_s", timed(lambda p=s_path: raw_scan_decode(p))[0])
                add("consult_rebuild_s", _rebuild(c_path))
                add("consult_scan_s", timed(lambda p=c_path: raw_scan_decode(p))[0])
            remove_db(s_path)
            remove_db(c_path)
            line = "  ".join(
                f"{name}: surveys {samples['raw_surveys_s'][-1] / samples[f'{name}_surveys_s'][-1]:.3f}"
                f" consult {samples['raw_consult_s'][-1] / samples[f'{name}_consult_s'][-1]:.3f}"
                for name in trees
            )
            print(f"[{time.strftime('%H:%M:%S')}] rep {rep + 1}/{reps}  x raw  {line}", flush=True)

    def ratios(peer: str, ours: str) -> dict:
        """Per-repetition peer time / our time (both sides did the same events)."""
        return _spread([p / o for p, o in zip(samples[peer], samples[ours], strict=True)])

    n_s, n_c = counts["surveys_events"], counts["consult_events"]
    out: dict = {"events": {"survey_events": n_s, "consult_events": n_c}, "reps": reps}
    out["median_s"] = {k: statistics.median(v) for k, v in samples.items()}
    for name in trees:
        prefix = "" if name == "new" else "old_"
        survey = ratios("raw_surveys_s", f"{name}_surveys_s")
        consult = ratios("raw_consult_s", f"{name}_consult_s")
        per_rep = [
            (rs / s) / (rc / c)
            for rs, s, rc, c in zip(
                samples["raw_surveys_s"],
                samples[f"{name}_surveys_s"],
                samples["raw_consult_s"],
                samples[f"{name}_consult_s"],
                strict=True,
            )
        ]
        out[f"{prefix}survey_import_vs_raw_executemany"] = survey
        out[f"{prefix}consult_import_vs_raw_executemany"] = consult
        # > 1: survey import is nearer its raw peer than consultation import is to its own
        out[f"{prefix}survey_ratio_over_consult_ratio"] = _spread(per_rep)
        out[f"{prefix}survey_import_eps"] = n_s / out["median_s"][f"{name}_surveys_s"]
        out[f"{prefix}consult_import_eps"] = n_c / out["median_s"][f"{name}_consult_s"]
    if rebuild:
        out["survey_rebuild_vs_raw_scan"] = ratios("survey_scan_s", "survey_rebuild_s")
        out["consult_rebuild_vs_raw_scan"] = ratios("consult_scan_s", "consult_rebuild_s")
    return out


def report(out: dict, old_tree: Path | None) -> str:
    """The ratios side by side (old beside new when there is an old tree)."""
    lines = [
        f"{out['events']['survey_events']} survey events, {out['events']['consult_events']} "
        f"consultation events, {out['reps']} interleaved repetitions; median (min-max)",
        f"{'tree':<6} {'survey import / raw':<24} {'consultation import / raw':<26} "
        "survey ratio / consultation ratio",
    ]
    for prefix, name in (("old_", "old"), ("", "new")):
        if f"{prefix}survey_import_vs_raw_executemany" not in out:
            continue
        lines.append(
            f"{name:<6} {_fmt(out[f'{prefix}survey_import_vs_raw_executemany']):<24} "
            f"{_fmt(out[f'{prefix}consult_import_vs_raw_executemany']):<26} "
            f"{_fmt(out[f'{prefix}survey_ratio_over_consult_ratio'])}"
        )
    if "survey_rebuild_vs_raw_scan" in out:
        lines.append(
            f"rebuild / raw scan: surveys {_fmt(out['survey_rebuild_vs_raw_scan'])}, "
            f"consultations {_fmt(out['consult_rebuild_vs_raw_scan'])}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="survey events (≤ 100k)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--old-tree", type=Path, help="an older checkout, timed in the same reps")
    parser.add_argument("--no-rebuild", action="store_true", help="imports only (no D)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if args.reps < 5:
        parser.error("ratios need at least 5 interleaved repetitions")
    out = run(args.events, args.reps, args.old_tree, rebuild=not args.no_rebuild)
    print(report(out, args.old_tree))
    text = json.dumps(out, indent=2)
    if args.json:
        args.json.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
