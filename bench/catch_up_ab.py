"""Before/after of a projector change: catch-up from 0 (or a rebuild) of one log, two trees
alternating.

    .venv/bin/python bench/catch_up_ab.py LOG.db --before DIR --after DIR [--reps 5] [--rebuild]

``LOG.db`` is a SQLite log (projected or not). Each run copies it and, in a fresh process of
the tree measured, lays out that tree's read models untimed; then it either empties them
(untimed) and times ``Projector.catch_up()`` from 0, or (``--rebuild``) folds them untimed and
times ``Projector.rebuild()``, emptying included (``PYTHONPATH`` = the tree), and
reports wall and process CPU seconds. The trees alternate (before, after, before, …) so a
moment of load falls on both; medians (min–max) and the median of the per-repetition
after/before ratios are printed. Check out the *before* tree with ``git worktree add --detach
DIR COMMIT``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_WORKER = r"""
import json, sys, time
from events import EventStore
from audit.projections import Projector
url, mode = sys.argv[1], sys.argv[2]
store = EventStore(url)
projector = Projector(store)
projector.ensure_schema()
if mode == "catch_up":
    # every read model and the checkpoint emptied, untimed (the private calls, not
    # Projector.empty: the tree before a change may predate that method)
    with projector._locked() as conn:
        projector._empty(conn)
else:  # the tree's own read models first (a log laid out by the other tree is re-laid out)
    projector.catch_up()
t, c = time.perf_counter(), time.process_time()
n = projector.rebuild() if mode == "rebuild" else projector.catch_up()
out = {"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "events": n}
store.dispose()
print(json.dumps(out))
"""


def _run(tree: Path, log: Path, mode: str, tmp: Path) -> dict:
    copy = tmp / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(log, copy)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, f"sqlite:///{copy}", mode],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", type=Path, help="a SQLite event log")
    ap.add_argument("--before", type=Path, required=True, help="the tree before the change")
    ap.add_argument("--after", type=Path, required=True, help="the tree after the change")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true", help="time rebuild() instead of catch_up()")
    args = ap.parse_args()
    mode = "rebuild" if args.rebuild else "catch_up"
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="sipdash-ab-") as tmp:
        for rep in range(args.reps):
            for side in ("before", "after"):
                runs[side].append(_run(getattr(args, side), args.log, mode, Path(tmp)))
            print(f"rep {rep + 1}/{args.reps}", file=sys.stderr)
    events = runs["after"][0]["events"]
    print(f"{mode} of {events:,} events, {args.reps} alternating repetitions; median (min–max)")
    for measure in ("wall", "cpu"):
        before = [r[measure] for r in runs["before"]]
        after = [r[measure] for r in runs["after"]]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        print(
            f"{measure:4s} s  before {_summary(before)}  after {_summary(after)}  "
            f"after/before {_summary(ratios)}"
        )


if __name__ == "__main__":
    main()
