"""Every sipdash benchmark in one run: the log grows, teams and months stay fixed.

    .venv/bin/python bench/run_all.py                       # 10k, 100k, 1M, 10M (make bench)
    .venv/bin/python bench/run_all.py --quick               # smoke run: 10k only, fewer reps
    .venv/bin/python bench/run_all.py --sizes 10k,100k --no-pg

Each size's database is built once (``seed --scenario large --teams 8 --months 12`` with the
number of consultations chosen for the target event count) and reused for every measure at
that size. Peers (raw sqlite3, ``eventsourcing``, naive pandas) and PostgreSQL run up to 1M.
The 10M database is seeded by a second process started at the beginning, beside the smaller
sizes (the machine has two cores; ``--no-overlap`` seeds it in turn); every 10M measure runs
after that seed has finished and the smaller sizes are done, alone on the machine.
Results: ``bench/results/latest.json`` and tables on stdout; chart: ``docs/performance-cost.png``.
Only ratios against a peer measured in the same run are targets; absolute times are orientation.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import append_bench as ab  # noqa: E402
import import_bench  # noqa: E402
import reads  # noqa: E402
from benchlib import MONTHS, ROOT, SCENARIO, SEED, SIZES, TEAMS, consultations_for, log  # noqa: E402

PEER_MAX = 1_000_000  # raw/eventsourcing/pandas peers and PostgreSQL up to this size


def machine(pg_version: str | None) -> dict:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    return {
        "nproc": os.cpu_count(),
        "memory_mb": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_size(label: str, tmp: Path, args, pg) -> dict:
    n_target = SIZES[label]
    cons = consultations_for(n_target)
    r: dict = {"label": label, "target_events": n_target, "consultations": cons}
    peers = n_target <= PEER_MAX
    if peers:
        log(f"{label}: generating the event list ({cons:,} consultations)")
        t_gen, events = ab.generate_list(cons)
        r["generate_s"] = t_gen
        log(f"{label}: bulk append sipdash / raw / eventsourcing ({len(events):,} events)")
        r["append"] = ab.append_compare(events, tmp, with_eventsourcing=not args.no_eventsourcing)
        del events
        gc.collect()
    db = tmp / f"sipdash_{label}.db"
    url = f"sqlite:///{db}"
    background = getattr(args, "background_seeds", {}).get(label)
    if background is not None:
        log(f"{label}: waiting for the seed started at the beginning of the run")
        t_seed, n = background.wait()
        r["seed_overlapped_smaller_sizes"] = True
    else:
        log(f"{label}: seeding (generation + append)")
        t_seed, n = ab.seeding(url, cons)
    r["events"] = n
    r["seed"] = {"seconds": t_seed, "eps": n / t_seed}
    if peers:
        r["seed"]["ratio_vs_bulk"] = r["seed"]["eps"] / r["append"]["sipdash_eps"]
    r["db_bytes"] = db.stat().st_size
    log(f"{label}: projection catch-up of {n:,} events")
    t, applied = reads.catch_up(url)
    r["catch_up"] = {"seconds": t, "events": applied, "us_per_event": t / applied * 1e6}
    t_raw, scanned = reads.raw_scan(db)
    r["raw_scan"] = {"seconds": t_raw, "us_per_event": t_raw / scanned * 1e6}
    r["catch_up"]["ratio_vs_raw_scan"] = t_raw / t
    if n_target <= args.rebuild_max:
        log(f"{label}: rebuild")
        t, applied = reads.rebuild(url)
        r["rebuild"] = {
            "seconds": t,
            "us_per_event": t / applied * 1e6,
            "ratio_vs_raw_scan": t_raw / t,
        }
    log(f"{label}: audit report")
    r["audit_report"] = reads.audit_report(url, reps=args.reps)
    if peers:
        log(f"{label}: naive pandas report")
        t, naive = reads.naive_pandas_report(db)
        r["naive_pandas"] = {"seconds": t, "rows": len(naive)}
        r["naive_pandas"]["speedup_of_audit_report"] = t / r["audit_report"]["warm_s"]
        r["naive_pandas"]["speedup_of_audit_report_cold"] = t / r["audit_report"]["cold_s"]
    log(f"{label}: dashboard pages (fresh process)")
    r["pages"] = reads.pages(url)
    log(f"{label}: single appends ({args.single})")
    team = r["pages"]["team_id"]
    sip, raw = ab.single_latency(url, args.single, team)
    r["single_append"] = ab.latency_summary(sip, raw)
    t, applied = reads.catch_up(url)
    r["incremental_catch_up"] = {
        "events": applied,
        "seconds": t,
        "us_per_event": t / max(applied, 1) * 1e6,
    }
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    if n_target <= args.import_max:
        log(f"{label}: CSV import")
        r["import"] = import_bench.import_compare(tmp, n_target)
    if pg is not None and peers:
        r["postgresql"] = run_pg(label, cons, pg, args)
    return r


class BackgroundSeed:
    """The largest size's seed, started first in its own process (``seed_db.py``)."""

    def __init__(self, label: str, tmp: Path) -> None:
        self.label = label
        self.out = tmp / f"seed_{label}.json"
        db = tmp / f"sipdash_{label}.db"
        cons = consultations_for(SIZES[label])
        log(f"{label}: seeding {cons:,} consultations in the background")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve().parent / "seed_db.py"),
                f"sqlite:///{db}",
                str(cons),
                str(self.out),
            ]
        )

    def wait(self) -> tuple[float, int]:
        if self.proc.wait() != 0:
            raise RuntimeError(
                f"the background seed of {self.label} failed ({self.proc.returncode})"
            )
        done = json.loads(self.out.read_text())
        return done["seconds"], done["events"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_pg(label: str, cons: int, pg, args) -> dict:
    url = pg.new_database()
    try:
        log(f"{label}: PostgreSQL seed")
        t, n = ab.seeding(url, cons)
        out: dict = {"events": n, "seed": {"seconds": t, "eps": n / t}}
        log(f"{label}: PostgreSQL catch-up")
        t, applied = reads.catch_up(url)
        out["catch_up"] = {"seconds": t, "us_per_event": t / applied * 1e6}
        out["audit_report"] = reads.audit_report(url, reps=args.reps)
        pages = reads.pages(url)
        out["pages"] = {k: pages[k] for k in ("overview", "team", "compare", "events_first")}
        out["pages"]["peak_rss_mb"] = pages["peak_rss_mb"]
        out["pages"]["peak_hwm_mb"] = pages.get("peak_hwm_mb")
        return out
    finally:
        pg.drop_database(url)


# --- printing ----------------------------------------------------------------------------


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _g(d: dict, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [f"\n{title}", "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def report(res: dict) -> str:
    sizes = res["sizes"]
    out = []
    rows = []
    for s in sizes:
        a = s.get("append", {})
        rows.append(
            [
                s["label"],
                f"{s['events']:,}",
                _fmt(a.get("sipdash_eps"), ",.0f"),
                _fmt(a.get("raw_eps"), ",.0f"),
                _fmt(a.get("ratio_vs_raw"), ".2f"),
                _fmt(a.get("eventsourcing_eps"), ",.0f"),
                _fmt(a.get("ratio_vs_eventsourcing"), ".2f"),
                _fmt(_g(s, "postgresql", "seed", "eps"), ",.0f"),
            ]
        )
    out.append(
        table(
            "bulk append, events/s (targets: ≥0.7× raw, ≥1.5× eventsourcing)",
            ["size", "events", "sipdash", "raw", "×raw", "evsrc", "×evsrc", "sipdash PG seed"],
            rows,
        )
    )
    rows = [
        [
            s["label"],
            _fmt(s["seed"]["eps"], ",.0f"),
            _fmt(_g(s, "append", "sipdash_eps"), ",.0f"),
            _fmt(s["seed"].get("ratio_vs_bulk"), ".2f"),
            _fmt(s["seed"]["seconds"], ".1f"),
        ]
        for s in sizes
    ]
    out.append(
        table(
            "seeding (generate + append), events/s (target ≥0.5× bulk)",
            ["size", "seed", "bulk", "×bulk", "seed s"],
            rows,
        )
    )
    rows = [
        [
            s["label"],
            f"{s['single_append']['sipdash_p50_ms']:.2f}",
            f"{s['single_append']['sipdash_p99_ms']:.2f}",
            f"{s['single_append']['raw_p50_ms']:.2f}",
            f"{s['single_append']['raw_p99_ms']:.2f}",
            f"{s['single_append']['p99_ratio']:.2f}",
        ]
        for s in sizes
    ]
    out.append(
        table(
            "single append latency, ms (target p99 ≤3× raw)",
            ["size", "sip p50", "sip p99", "raw p50", "raw p99", "p99 ×"],
            rows,
        )
    )
    rows = [
        [
            s["label"],
            f"{s['import']['rows']:,}",
            f"{s['import']['events']:,}",
            f"{s['import']['sipdash_eps']:,.0f}",
            f"{s['import']['raw_eps']:,.0f}",
            f"{s['import']['ratio_vs_raw']:.2f}",
            f"{s['import']['ratio_vs_raw_excl_projection']:.2f}",
        ]
        for s in sizes
        if "import" in s
    ]
    if rows:
        out.append(
            table(
                "CSV import, events/s (target ≥0.25× raw)",
                ["size", "rows", "events", "sipdash", "raw", "×raw", "×raw w/o proj"],
                rows,
            )
        )
    rows = [
        [
            s["label"],
            f"{s['catch_up']['us_per_event']:.1f}",
            _fmt(_g(s, "rebuild", "us_per_event"), ".1f"),
            f"{s['raw_scan']['us_per_event']:.1f}",
            f"{s['catch_up']['ratio_vs_raw_scan']:.2f}",
            _fmt(_g(s, "rebuild", "ratio_vs_raw_scan"), ".2f"),
            f"{s['incremental_catch_up']['us_per_event']:.0f}",
            _fmt(_g(s, "postgresql", "catch_up", "us_per_event"), ".1f"),
        ]
        for s in sizes
    ]
    out.append(
        table(
            "projection, µs/event (target ≥0.5× raw scan-and-decode; flat per event)",
            ["size", "catch-up", "rebuild", "raw scan", "×raw cu", "×raw rb", "incr", "PG cu"],
            rows,
        )
    )
    base = sizes[0]
    rows = []
    for s in sizes:
        ar = s["audit_report"]
        rows.append(
            [
                s["label"],
                f"{ar['cold_s'] * 1e3:.1f}",
                f"{ar['warm_s'] * 1e3:.1f}",
                f"{ar['warm_s'] / base['audit_report']['warm_s']:.2f}",
                _fmt(_g(s, "naive_pandas", "seconds"), ".2f"),
                _fmt(_g(s, "naive_pandas", "speedup_of_audit_report"), ",.0f"),
                _fmt(
                    _g(s, "postgresql", "audit_report", "warm_s")
                    and _g(s, "postgresql", "audit_report", "warm_s") * 1e3,
                    ".1f",
                ),
            ]
        )
    out.append(
        table(
            f"audit report, ms (targets: ≤1.5× the {base['label']} cost; ≥50× faster than pandas at 1M)",
            ["size", "cold", "warm", f"×{base['label']}", "pandas s", "speedup", "PG warm"],
            rows,
        )
    )
    rows = []
    for s in sizes:
        p = s["pages"]
        row = [s["label"]]
        for page in ("overview", "team", "compare", "events_first", "events_later"):
            row.append(f"{p[page]['cold_s'] * 1e3:.0f}/{p[page]['warm_s'] * 1e3:.0f}")
        row.append(f"{p['overview']['warm_s'] / base['pages']['overview']['warm_s']:.2f}")
        row.append(f"{p['peak_rss_mb']:.0f}")
        row.append(
            _fmt(
                _g(s, "postgresql", "pages", "overview", "warm_s")
                and _g(s, "postgresql", "pages", "overview", "warm_s") * 1e3,
                ".0f",
            )
        )
        rows.append(row)
    out.append(
        table(
            "dashboard pages, ms cold/warm (target ≤1.5× the smallest size; warm < 500 ms); peak RSS MB",
            [
                "size",
                "overview",
                "team",
                "compare",
                "log p1",
                "log later",
                "ov ×",
                "RSS",
                "PG ov warm",
            ],
            rows,
        )
    )
    return "\n".join(out)


def write_results(res: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10k,100k,1m,10m")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10k, fewer repetitions")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-eventsourcing", action="store_true")
    ap.add_argument("--single", type=int, default=1_000, help="single appends per size")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--rebuild-max",
        type=int,
        default=max(SIZES.values()),
        help="time a full rebuild (drop + fold from position 0) up to this many events "
        "(default: every size)",
    )
    ap.add_argument(
        "--import-max", type=int, default=100_000, help="CSV import up to this many events"
    )
    ap.add_argument(
        "--no-overlap",
        action="store_true",
        help="seed the largest size (above 1M) in its turn instead of beside the smaller ones",
    )
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/latest.json")
    ap.add_argument("--chart", type=Path, default=ROOT / "docs/performance-cost.png")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.single, args.reps = "10k", 200, 2
    labels = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SIZES]
    if unknown:
        ap.error(f"unknown size(s) {unknown}; choose from {', '.join(SIZES)}")

    started = time.perf_counter()
    pg = None
    if not args.no_pg:
        from pg import BenchPostgres

        pg = BenchPostgres()
        if pg.start() is None:
            log("PostgreSQL binaries not found: skipping PostgreSQL")
            pg = None
    res: dict = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(pg.version if pg else None),
        "postgresql_settings": pg.settings() if pg else None,
        "programme": {"scenario": SCENARIO, "seed": SEED, "teams": TEAMS, "months": MONTHS},
        "sizes": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="sipdash-bench-", dir=args.tmp))
    args.background_seeds = {}
    try:
        if len(labels) > 1 and not args.no_overlap:
            # the largest size's seed is the longest single step: run it beside the others
            big = max(labels, key=lambda x: SIZES[x])
            if SIZES[big] > PEER_MAX:
                args.background_seeds[big] = BackgroundSeed(big, tmp)
        for label in labels:
            t0 = time.perf_counter()
            res["sizes"].append(run_size(label, tmp, args, pg))
            res["sizes"][-1]["wall_s"] = time.perf_counter() - t0
            res["wall_s"] = time.perf_counter() - started
            write_results(res, args.out)
            log(f"{label}: done in {res['sizes'][-1]['wall_s']:.0f} s")
    finally:
        for seed_proc in args.background_seeds.values():
            seed_proc.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res["wall_s"] = time.perf_counter() - started
    write_results(res, args.out)
    print(report(res))
    try:
        from plot import plot

        plot(res, args.chart)
        log(f"chart: {args.chart}")
    except Exception as exc:  # the chart is a by-product: never lose the results for it
        log(f"chart not written: {exc!r}")
    print(f"\nresults: {args.out}\ntotal wall time: {res['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
