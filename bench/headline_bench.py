"""`sipdash audit headline --format json` as a user runs it (a fresh process each, interpreter
start included) on a small and a large projected log of the same programme, alternating A B A B,
``--reps`` times; medians, spreads and the median of the per-repetition ratios.

    .venv/bin/python bench/headline_bench.py SMALL.db LARGE.db [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def run(small: str, large: str, reps: int = 5) -> dict:
    """Time the command on both logs, interleaved; the ratio is large / small."""
    dbs = {"small": small, "large": large}
    times: dict[str, list[float]] = {k: [] for k in dbs}
    rows: dict[str, int] = {}
    for _ in range(reps):
        for k, db in dbs.items():
            cmd = [sys.executable, "-m", "dashboard.cli", "audit", "headline", "--format", "json"]
            t = time.perf_counter()
            out = subprocess.run([*cmd, "--db", f"sqlite:///{db}"], capture_output=True, check=True)
            times[k].append(time.perf_counter() - t)
            rows[k] = len(json.loads(out.stdout))
    ratios = [b / a for a, b in zip(times["small"], times["large"], strict=True)]
    result: dict = {
        k: {"median_s": statistics.median(v), "min": min(v), "max": max(v), "all": v}
        for k, v in times.items()
    }
    result["ratio_large_vs_small"] = {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
    }
    result["rows"] = rows
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("small")
    parser.add_argument("large")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.small, args.large, args.reps), indent=1))


if __name__ == "__main__":
    main()
