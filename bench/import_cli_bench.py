"""CSV import as a user meets it: ``sipdash import consultations`` vs raw sqlite3.

    .venv/bin/python bench/import_cli_bench.py [--rows 50000] [--reps 5] [--json out.json]

sipdash side: the CLI in a fresh subprocess (interpreter start, module imports, reading and
validating the CSV, pseudonymisation, append, and the projection catch-up the command does
before it returns: read models brought up to date), wall time, into an empty SQLite file.
Raw side: plain sqlite3 ``executemany`` of the very events that import wrote (same row shape,
canonical JSON, stream versions and SHA-256 chain, WAL + synchronous=FULL; ``benchlib.
raw_append``), timed in this process. The raw peer does no CSV work, no validation and no
projection: that is the point of the 0.25x target (DESIGN "Performance targets").
The two run interleaved (A B A B ...), ``reps`` times each; the ratio is the median of the
per-pair ratios raw/sipdash, reported with its spread (min, max).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ROOT, raw_append, remove_db, timed
from import_bench import make_csv


def _cli_import(csv_path: Path, db: Path, python: str, root: Path = ROOT) -> float:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("SIPDASH_DATABASE_URL", None)
    env.pop("SIPDASH_PSEUDONYM_KEY", None)  # the demo key: patients here are local ids
    env.pop("SIPDASH_LOG_KEY", None)
    cmd = [
        python,
        "-m",
        "dashboard.cli",
        "--db",
        f"sqlite:///{db}",
        "import",
        "consultations",
        str(csv_path),
        "--register-teams",
        "--quiet",
    ]
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=db.parent, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"sipdash import failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def _events_of(db: Path) -> list[tuple]:
    """The imported events as ``raw_append`` items (same ids, streams, payloads, metadata)."""
    import sqlite3

    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT event_id, stream_id, type, schema_version, occurred_at, payload, metadata "
        "FROM events ORDER BY position"
    ).fetchall()
    conn.close()
    return [(r[0], r[1], r[2], int(r[3]), r[4], None, json.loads(r[5]), r[6]) for r in rows]


def run(
    rows: int = 50_000,
    reps: int = 5,
    python: str | None = None,
    *,
    events: int | None = None,
    old_tree: Path | None = None,
) -> dict:
    """Interleaved CLI import vs raw executemany of the same events; medians and spread.

    As a ``run_all`` hook, ``events`` is the size: a file of about that many events (2.8 per
    row), at most the 50,000 rows the target is stated for. ``old_tree``: a checkout of an
    older sipdash whose CLI is timed too, in the same interleaving (before/after figures)."""
    python = python or sys.executable
    if events is not None:
        rows = min(50_000, max(100, round(events / 2.8)))
    with tempfile.TemporaryDirectory(prefix="sipdash-import-cli-") as tmp_name:
        tmp = Path(tmp_name)
        csv_path = tmp / "consultations.csv"
        csv_path.write_bytes(make_csv(rows))
        db = tmp / "import_cli.db"
        raw_db = tmp / "import_raw.db"
        cli_s: list[float] = []
        raw_s: list[float] = []
        old_s: list[float] = []
        events = 0
        items: list[tuple] = []
        for _ in range(reps):
            if old_tree is not None:
                remove_db(db)
                old_s.append(_cli_import(csv_path, db, python, old_tree))
            remove_db(db)
            cli_s.append(_cli_import(csv_path, db, python))
            if not items:
                items = _events_of(db)
                events = len(items)
            remove_db(raw_db)
            t_raw, n = timed(partial(raw_append, raw_db, items))
            assert n == events
            raw_s.append(t_raw)
        remove_db(db)
        remove_db(raw_db)
    ratios = [r / c for r, c in zip(raw_s, cli_s, strict=True)]
    out = {
        "rows": rows,
        "events": events,
        "reps": reps,
        "sipdash_cli_s": statistics.median(cli_s),
        "sipdash_cli_s_all": cli_s,
        "raw_s": statistics.median(raw_s),
        "raw_s_all": raw_s,
        "ratio_vs_raw": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "sipdash_eps": events / statistics.median(cli_s),
        "raw_eps": events / statistics.median(raw_s),
    }
    if old_s:
        old_ratios = [r / o for r, o in zip(raw_s, old_s, strict=True)]
        out.update(
            old_cli_s=statistics.median(old_s),
            old_cli_s_all=old_s,
            old_ratio_vs_raw=statistics.median(old_ratios),
            old_ratio_min=min(old_ratios),
            old_ratio_max=max(old_ratios),
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--old-tree", type=Path, help="a checkout of an older sipdash to time too")
    args = ap.parse_args()
    out = run(args.rows, args.reps, old_tree=args.old_tree)
    print(
        f"import consultations {out['rows']} rows -> {out['events']} events: "
        f"sipdash CLI {out['sipdash_cli_s']:.2f} s (median of {out['reps']}), "
        f"raw executemany {out['raw_s']:.2f} s; ratio {out['ratio_vs_raw']:.3f}x "
        f"(spread {out['ratio_min']:.3f}-{out['ratio_max']:.3f})"
    )
    if "old_cli_s" in out:
        print(
            f"old tree {args.old_tree}: CLI {out['old_cli_s']:.2f} s; ratio "
            f"{out['old_ratio_vs_raw']:.3f}x (spread {out['old_ratio_min']:.3f}-"
            f"{out['old_ratio_max']:.3f})"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
