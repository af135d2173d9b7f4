"""The old commit against the new code, interleaved in one run (issue #12: "did not get
slower beyond the measured spread").

    .venv/bin/python bench/old_vs_new.py [--old 75f4e0d] [--events 100k] [--reps 5]
                                         [--out bench/results/old_vs_new.json]

The old commit is checked out into a temporary worktree (``git worktree add --detach``) and
removed afterwards. Each tree seeds its own database once from the same seed (its own code
writes its own schema; the newer seed may write more events, e.g. survey returns, so times
are compared per event), then each repetition runs, old and new alternating (the first tree
alternates too), every measure in a fresh process with ``PYTHONPATH`` pointing at that tree:

* bulk append: ``seed.generate`` into a list (not timed), ``append_many(history=True)``;
* catch-up: ``Projector.catch_up`` from position 0 on a fresh copy of the tree's seeded log;
* pages: THIS tree's ``bench/pages_worker.py`` run with ``PYTHONPATH`` at each tree, on that
  tree's projected database, so both are timed by the same harness (pages both trees have;
  warm = median of as many calls as fit in 0.25 s, at least 3), reported in milliseconds to
  3 decimals (the event-log pages take well under one);
* single append: ``--single`` one-event appends onto the tree's log (p50 / p99).

Prints and writes JSON; ``report_md.py`` renders it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from method import REPS, spread

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "old_vs_new_worker.py"
PAGES = Path(__file__).resolve().parent / "pages_worker.py"
OLD = "75f4e0d"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _count(text: str) -> int:
    t = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def consultations_for(events: int) -> int:
    """About ``events`` events for the fixed programme (the old seed's own estimate is not
    used: both trees get the same number of consultations)."""
    return max(8 * 12 * 25, round(events / 2.6))


def run(tree: Path, *args: str, script: Path = WORKER) -> dict:
    """One measure in a fresh process that imports only ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        cwd=str(tree),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} in {tree} failed:\n{out.stderr}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if "tree" in res and Path(res["tree"]).resolve() != tree.resolve():
        raise RuntimeError(f"{script.name} imported {res['tree']}, not {tree}")
    return res


def commit_of(tree: Path, rev: str = "HEAD") -> str:
    return subprocess.run(
        ["git", "-C", str(tree), "rev-parse", rev], capture_output=True, text=True, check=True
    ).stdout.strip()


def compare(old: list[float], new: list[float]) -> dict:
    return {
        "old": spread(old),
        "new": spread(new),
        "ratio_new_over_old": spread([n / o for o, n in zip(old, new, strict=True)]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default=OLD, help="the old commit (default 75f4e0d)")
    ap.add_argument("--new", type=Path, default=ROOT, help="the new tree (default: this one)")
    ap.add_argument("--events", type=_count, default=100_000)
    ap.add_argument("--reps", type=int, default=REPS)
    ap.add_argument(
        "--single",
        type=int,
        default=1_000,
        help="single appends per repetition (1,000: p99 is then the 10th-slowest, not the 2nd)",
    )
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/old_vs_new.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sipdash-old-vs-new-", dir=args.tmp))
    old_tree = work / "old"
    new_tree = args.new.resolve()
    started = time.perf_counter()
    log(f"checking out {args.old} into {old_tree}")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), args.old],
        check=True,
        capture_output=True,
    )
    try:
        trees = {"old": old_tree, "new": new_tree}
        cons = consultations_for(args.events)
        base: dict[str, Path] = {}
        events: dict[str, int] = {}
        for name, tree in trees.items():
            base[name] = work / f"{name}_base.db"
            log(f"{name}: seeding {cons:,} consultations with its own code")
            events[name] = run(tree, "seed", f"sqlite:///{base[name]}", str(cons))["events"]
            # the projected copy the pages and single appends use
            proj = work / f"{name}_proj.db"
            shutil.copyfile(base[name], proj)
            run(tree, "catch_up", f"sqlite:///{proj}")
        samples: dict[str, dict[str, list]] = {
            k: {"old": [], "new": []}
            for k in ("bulk_append_s", "catch_up_s", "single_p50_ms", "single_p99_ms")
        }
        pages: dict[str, dict[str, list]] = {}
        for rep in range(args.reps):
            order = ["old", "new"] if rep % 2 == 0 else ["new", "old"]
            for name in order:
                tree = trees[name]
                bulk_db = work / f"{name}_bulk.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(str(bulk_db) + suffix).unlink(missing_ok=True)
                r = run(tree, "bulk", str(bulk_db), str(cons))
                samples["bulk_append_s"][name].append(r["seconds"] / r["events"] * events["new"])
            for name in order:
                tree = trees[name]
                cu = work / f"{name}_cu.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(str(cu) + suffix).unlink(missing_ok=True)
                shutil.copyfile(base[name], cu)
                r = run(tree, "catch_up", f"sqlite:///{cu}")
                samples["catch_up_s"][name].append(r["seconds"] / r["events"] * events["new"])
            for name in order:
                tree = trees[name]
                r = run(tree, f"sqlite:///{work / f'{name}_proj.db'}", script=PAGES)
                for key, v in r.items():
                    if isinstance(v, dict) and "warm_s" in v:
                        ms = v["warm_s"] * 1e3
                        pages.setdefault(key, {"old": [], "new": []})[name].append(ms)
            for name in order:
                tree = trees[name]
                r = run(tree, "single", f"sqlite:///{work / f'{name}_proj.db'}", str(args.single))
                samples["single_p50_ms"][name].append(r["p50_ms"])
                samples["single_p99_ms"][name].append(r["p99_ms"])
            log(f"repetition {rep + 1}/{args.reps} done")
        measures: dict = {k: compare(v["old"], v["new"]) for k, v in samples.items()}
        measures["pages_warm_ms"] = {
            k: compare(v["old"], v["new"])
            for k, v in pages.items()
            if len(v["old"]) == len(v["new"]) == args.reps
        }
        result = {
            "old": {"commit": commit_of(old_tree), "events": events["old"]},
            "new": {
                "commit": commit_of(new_tree),
                "tree": str(new_tree),
                "events": events["new"],
                "uncommitted_changes": bool(
                    subprocess.run(
                        ["git", "-C", str(new_tree), "status", "--porcelain"],
                        capture_output=True,
                        text=True,
                    ).stdout.strip()
                ),
            },
            "events": events["new"],
            "consultations": cons,
            "reps": args.reps,
            "note": "bulk and catch-up times scaled to the new tree's event count (per event)",
            "measures": measures,
            "wall_s": time.perf_counter() - started,
        }
        text = json.dumps(result, indent=2)
        print(text)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        from report_md import render_old_vs_new

        print(render_old_vs_new(result), file=sys.stderr)
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
