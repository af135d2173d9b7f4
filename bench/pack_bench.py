"""Review pack cost: a small and a large log for the same teams and months, interleaved.

    .venv/bin/python bench/pack_bench.py --sizes 10k,500k --reps 5
    .venv/bin/python bench/pack_bench.py --demo ../old-checkout --demo . --reps 5   # before/after

The design's target: a pack (HTML + PDF, every team) costs at most 1.5x at a large log what it
costs at a small one, because it reads the read models, never the log. Each size's database is
seeded once (``--scenario large --teams 8 --months 12``: only the number of consultations
grows). Repetitions run A B A B … so the shared machine's noise falls on both sides; each
figure is a median with its min-max spread, and the ratio is the median of the per-repetition
ratios. ``--demo TREE`` times the demo pack (seed 42) built by the code in each source tree, in
a fresh process per build, interleaved likewise (a before/after comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    CLINICIANS,
    MONTHS,
    SCENARIO,
    SEED,
    SIZES,
    TEAMS,
    consultations_for,
    log,
)
from method import spread

SIZES = {**SIZES, "500k": 500_000}

_BUILD = """
import sys, time, json
from events import EventStore
from dashboard.pack import build_pack
store = EventStore(sys.argv[1])
t0 = time.perf_counter()
pack = build_pack(store, record=False)
t1 = time.perf_counter()
html = pack.html
pdf = pack.pdf
t2 = time.perf_counter()
print(json.dumps({"collect": t1 - t0, "render_write": t2 - t1, "total": t2 - t0,
                  "pdf_bytes": len(pdf), "html_bytes": len(html)}))
"""


def seed_db(path: Path, consultations: int | None, scenario: str) -> int:
    """Seed and project one database (in this process); returns its number of events."""
    import seed
    from audit.projections import Projector
    from events import EventStore

    store = EventStore(f"sqlite:///{path}")
    Projector(store).ensure_schema()
    if scenario == "demo":
        result = seed.run_seed(store, scenario="demo", seed=SEED)
    else:
        result = seed.run_seed(
            store,
            scenario=SCENARIO,
            seed=SEED,
            teams=TEAMS,
            months=MONTHS,
            consultations=consultations,
            clinicians=CLINICIANS,
        )
    Projector(store).catch_up()
    store.dispose()
    return result.head.position


def build_once(tree: Path, url: str) -> dict:
    """One pack build (HTML + PDF) by the code in ``tree``, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _BUILD, url],
        env=env,
        cwd=str(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> dict:
    return spread(values)


def compare_sizes(urls: dict[str, str], reps: int, tree: Path | None = None) -> dict:
    """The pack built from each database (a fresh process per build), A B A B … ``reps``
    times: per size the median and min–max of collect / render / total, and the ratio of the
    last size to the first as the median of the per-repetition ratios (with its spread)."""
    tree = tree or Path(__file__).resolve().parents[1]
    labels = list(urls)
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    for rep in range(reps):
        for label in labels:
            r = build_once(tree, urls[label])
            runs[label].append(r)
            log(f"pack rep {rep + 1}/{reps}: {label}: {r['total']:.2f} s")
    out: dict = {
        "reps": reps,
        "sizes": {
            label: {k: summary([r[k] for r in rs]) for k in ("collect", "render_write", "total")}
            for label, rs in runs.items()
        },
    }
    small, large = labels[0], labels[-1]
    ratios = [b["total"] / a["total"] for a, b in zip(runs[small], runs[large], strict=True)]
    out["ratio"] = {"of": f"{large}/{small}", **summary(ratios)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10k,500k", help="comma-separated: 10k, 100k, 500k, 1m")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (>= 5)")
    ap.add_argument(
        "--demo", action="append", default=[], metavar="TREE", help="time the demo pack per tree"
    )
    ap.add_argument("--workdir", default=None, help="where the databases go (default: a temp dir)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"reps": args.reps, "cpus": os.cpu_count()}

    if args.demo:
        trees = [Path(t).resolve() for t in args.demo]
        path = work / "demo.db"
        if not path.exists():
            log(f"seeding the demo into {path}")
            results["demo_events"] = seed_db(path, None, "demo")
        url = f"sqlite:///{path}"
        times: dict[str, list[dict]] = {str(t): [] for t in trees}
        for rep in range(args.reps):
            for tree in trees:
                r = build_once(tree, url)
                times[str(tree)].append(r)
                log(f"demo rep {rep + 1}: {tree}: {r['total']:.2f} s")
        results["demo"] = {
            t: {k: summary([r[k] for r in rs]) for k in ("collect", "render_write", "total")}
            for t, rs in times.items()
        }
    else:
        labels = args.sizes.split(",")
        urls = {}
        for label in labels:
            path = work / f"pack-{label}.db"
            if not path.exists():
                cons = consultations_for(SIZES[label])
                log(f"seeding {label} ({cons} consultations) into {path}")
                results[f"{label}_events"] = seed_db(path, cons, SCENARIO)
            urls[label] = f"sqlite:///{path}"
        results.update(compare_sizes(urls, args.reps, here))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    log(f"done at {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
