"""Every sipdash benchmark in one run: the log grows, teams, months and clinicians stay fixed.

    .venv/bin/python bench/run_all.py                       # 10k, 100k, 1M, 10M (make bench)
    .venv/bin/python bench/run_all.py --quick [--pack]      # smoke run: 2k + 10k, 2 reps
    .venv/bin/python bench/run_all.py --sizes 10k,100k --no-pg
    .venv/bin/python bench/run_all.py --keep-10m /data/sipdash-10m.db     # save the 10M seed
    .venv/bin/python bench/run_all.py --reuse-10m /data/sipdash-10m.db    # reuse it (no seed)

Method (``bench/method.py``; ``../shared/DESIGN.md`` "Performance targets"):

* Every ratio comes from interleaved repetitions (A B A B …, ``--reps``, default 5) and is the
  median of the per-repetition ratios with its spread (min–max, quartiles); every time is a
  median with its spread. ``latest.json`` keeps every sample.
* Nothing is measured beside another heavy job: the largest size (above ``--peer-max``) is
  seeded FIRST, alone (or copied from ``--reuse-10m`` when its seed parameters match), then
  the smaller sizes run, then the largest size's measures. At the largest size the projection
  runs ``--big-reps`` times (3; stated in the output), the pack ``--pack-reps`` times.
* Each size's database (``seed --scenario large --teams 8 --months 12``, 20 clinicians per
  team, only the consultations grow) is built once and reused for every measure at that size;
  the smallest size's database is kept so pages and pack at every size are measured
  interleaved against it.
* Peers: bulk append against raw sqlite3 and ``eventsourcing`` (20,000 per transaction, as
  sipdash) up to ``--bulk-max`` (``eventsourcing`` up to ``--es-max``); the projection's peer
  (``projection_bench.peer`` when present), naive pandas and pages at every size up to
  ``--peer-max``; PostgreSQL up to ``--pg-max``. What each peer does is written beside its
  figures.
* Other engineers' benchmarks are called when present (``HOOKS``); a hook that crashes is
  recorded in ``errors`` and printed; with ``--quick`` or ``--strict`` the run then exits 1
  (after the results are written), so the smoke run fails on a crash.

Results: ``bench/results/latest.json``, tables on stdout, chart ``docs/performance-cost.png``;
``bench/report_md.py`` turns the JSON into docs/performance.md's tables. Only ratios against a
peer measured in the same run are targets; absolute times are orientation.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import append_bench as ab
import import_bench
import reads
from benchlib import (
    CLINICIANS,
    MONTHS,
    ROOT,
    SCENARIO,
    SEED,
    SIZES,
    TEAMS,
    consultations_for,
    log,
    remove_db,
)
from method import REPS, interleave, ratio, spread

SIZES = {"2k": 2_000, **SIZES}
PEER_MAX = 1_000_000  # raw/eventsourcing/pandas peers up to this size; above: the "big" phase

#: Benchmarks other engineers add (module in bench/, its ``run`` called with the keyword
#: arguments it declares among: url, path, db, events, reps, tmp, label, pg). HOOK POINT.
HOOKS = {
    "projection": "projection_bench",  # projperf: its peer on SQLite (reads), its run() on PG
    "pg_append": "pg_append_bench",  # ingest: PostgreSQL bulk append vs raw psycopg (once)
    "import_cli": "import_cli_bench",  # ingest: `sipdash import` wall time vs raw (once)
    "interactions": "interactions",  # dashboard: AppTest interaction timings, per size
    "floor": "projection_floor",  # the projection's writing peer: the rows alone (#19)
}


def machine(pg_version: str | None) -> dict:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    return {
        "nproc": os.cpu_count(),
        "memory_mb": mem,
        "load_before": os.getloadavg(),
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


def seed_params(label: str) -> dict:
    """What a database's content depends on (a cached database is reused only if equal)."""
    return {
        "scenario": SCENARIO,
        "seed": SEED,
        "teams": TEAMS,
        "months": MONTHS,
        "clinicians": CLINICIANS,
        "consultations": consultations_for(SIZES[label]),
    }


def run_hook(name: str, errors: list[str], fn: str = "run", **kw) -> dict | None:
    """Call ``HOOKS[name]``'s ``fn`` (``run`` unless told) with the arguments it accepts; None
    when not present."""
    module = HOOKS[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    call = getattr(mod, fn, None)
    if call is None:
        return None
    params = inspect.signature(call).parameters
    accepted = {k: v for k, v in kw.items() if k in params}
    log(f"hook {module}.{fn}({', '.join(accepted)})")
    try:
        return {"module": module, "result": call(**accepted)}
    except Exception as exc:  # keep the rest of the run; fail at the end
        errors.append(f"{module}: {exc!r}")
        traceback.print_exc()
        return {"module": module, "error": repr(exc)}


# --- one size ---------------------------------------------------------------------------


def _scalar(sp: dict) -> float:
    return sp["median"]


def seed_size(label: str, tmp: Path) -> tuple[Path, dict]:
    """Seed the size's database (timed: generation + append)."""
    db = tmp / f"sipdash_{label}.db"
    remove_db(db)
    cons = consultations_for(SIZES[label])
    log(f"{label}: seeding {cons:,} consultations (generation + append)")
    t, n = ab.seeding(f"sqlite:///{db}", cons)
    return db, {"seconds": t, "eps": n / t, "events": n, "consultations": cons}


def audit_vs_pandas(url: str, db: Path | None, reps: int) -> dict:
    """``audit report`` (warm: after one cold call) and the naive pandas peer interleaved."""
    store_url = url
    first = reads.audit_report(store_url, reps=1)
    contenders = {"audit_report": lambda: reads.audit_report(store_url, reps=1)["warm_s"]}
    if db is not None:
        contenders["naive_pandas"] = lambda: reads.naive_pandas_report(db)[0]
    times = interleave(contenders, reps)
    out: dict = {
        "audit_report": {
            "cold_s": first["cold_s"],
            "warm_s": _scalar(spread(times["audit_report"])),
            "warm_spread": spread(times["audit_report"]),
            "rows": first["rows"],
        }
    }
    if db is not None:
        out["naive_pandas"] = {
            "seconds": _scalar(spread(times["naive_pandas"])),
            "spread": spread(times["naive_pandas"]),
            "speedup_of_audit_report": ratio(times["naive_pandas"], times["audit_report"]),
        }
    return out


def pages_vs_base(label: str, url: str, base: tuple[str, str] | None, reps: int) -> dict:
    """This size's pages, interleaved with the smallest size's (the base) when there is one."""
    urls = {label: url} if base is None or base[0] == label else {base[0]: base[1], label: url}
    cmp = reads.pages_compare(urls, reps)
    pages: dict = {"reps": reps, "vs": next(iter(urls))}
    for key, entry in cmp["pages"].items():
        mine = entry[label]
        pages[key] = {
            "warm_s": mine["warm_s"]["median"],
            "cold_s": mine["cold_s"]["median"],
            "warm_spread": mine["warm_s"],
            "cold_spread": mine["cold_s"],
        }
        r = entry.get(f"ratio_{label}_vs_{pages['vs']}")
        if r is not None:
            pages[key]["ratio_vs_base"] = r
    hwm = cmp["peak_hwm_mb"][label]
    pages["peak_hwm_mb"] = hwm["median"]
    pages["peak_rss_mb"] = hwm["max"]
    return pages


def team_of(url: str) -> str:
    from audit import queries
    from events.db import make_engine

    engine = make_engine(url)
    try:
        return str(queries.teams(engine)["team_id"].iloc[0])
    finally:
        engine.dispose()


def run_size(label: str, tmp: Path, args, pg, base: tuple[str, str] | None) -> tuple[dict, Path]:
    """A size up to ``--peer-max``: peers, every ratio from ``--reps`` interleaved repetitions."""
    n_target = SIZES[label]
    cons = consultations_for(n_target)
    reps = args.reps
    r: dict = {"label": label, "target_events": n_target, "consultations": cons, "reps": reps}
    es = not args.no_eventsourcing and n_target <= args.es_max
    if n_target <= args.bulk_max:
        log(f"{label}: generating the event list ({cons:,} consultations)")
        r["generate_s"], events = ab.generate_list(cons)
        log(f"{label}: bulk append sipdash / raw{' / eventsourcing' if es else ''} × {reps}")
        r["append"] = ab.append_compare(
            events, tmp, with_eventsourcing=es, reps=reps, seed_consultations=cons
        )
        if not es:
            r["append"]["eventsourcing_skipped"] = (
                "--no-eventsourcing" if args.no_eventsourcing else f"above --es-max {args.es_max:,}"
            )
        del events
    db, r["seed"] = seed_size(label, tmp)
    url = f"sqlite:///{db}"
    r["events"] = n = r["seed"]["events"]
    if "append" in r:  # seeding timed in the bulk append's rotation: per-repetition ratios
        r["seed"]["ratio_vs_bulk"] = r["append"]["ratio_seed_vs_bulk"]["median"]
        r["seed"]["ratio_vs_bulk_spread"] = r["append"]["ratio_seed_vs_bulk"]
        r["seed"]["interleaved_s"] = r["append"]["seed_s"]
    r["db_bytes"] = db.stat().st_size
    log(f"{label}: projection catch-up / raw scan / rebuild × {reps}")
    r["projection"] = reads.projection_compare(
        db, n, reps, with_rebuild=n_target <= args.rebuild_max
    )
    _flatten_projection(r)
    log(f"{label}: projection floor (peer / the same rows written / sipdash) × {reps}")
    hook = run_hook("floor", args.errors, db=db, reps=reps)
    if hook:
        r["projection_floor"] = hook
    log(f"{label}: audit report and the naive pandas peer × {reps}")
    r.update(audit_vs_pandas(url, db, reps))
    log(f"{label}: dashboard pages (fresh process each) × {reps}")
    r["pages"] = pages_vs_base(label, url, base, reps)
    interactions_at(r, db, args, base)
    single_and_incremental(r, url, args)
    if n_target <= args.import_max:
        log(f"{label}: CSV import × {reps}")
        r["import"] = import_bench.import_compare(tmp, n_target, reps)
    if pg is not None and n_target <= args.pg_max:
        r["postgresql"] = run_pg(label, cons, pg, args)
    return r, db


def _flatten_projection(r: dict) -> None:
    """The keys older readers (plot.py) use: medians as plain numbers, spreads beside."""
    p = r["projection"]
    r["catch_up"] = {
        "seconds": p["catch_up"]["seconds"]["median"],
        "us_per_event": p["catch_up"]["us_per_event"],
        "us_per_event_spread": p["catch_up"]["us_per_event_spread"],
        "ratio_vs_raw_scan": p["catch_up"]["ratio_vs_raw_scan"],
        "events": p["events"],
    }
    r["raw_scan"] = {
        "seconds": p["raw_scan"]["seconds"]["median"],
        "us_per_event": p["raw_scan"]["us_per_event"],
        "us_per_event_spread": p["raw_scan"]["us_per_event_spread"],
        "work": p["raw_scan_work"],
    }
    if "rebuild" in p:
        r["rebuild"] = {
            "seconds": p["rebuild"]["seconds"]["median"],
            "us_per_event": p["rebuild"]["us_per_event"],
            "us_per_event_spread": p["rebuild"]["us_per_event_spread"],
            "ratio_vs_raw_scan": p["rebuild"]["ratio_vs_raw_scan"],
        }


def interactions_at(r: dict, db: Path, args, base: tuple[str, str] | None = None) -> None:
    """The dashboard's interaction timings (``bench/interactions.py``, AppTest in this
    process, on copies of the projected databases) at the sizes in ``--interactions-at``.
    A size above the base (the first size, whose database the run keeps) is timed against it,
    the two sizes alternating (``interactions.compare``); the base alone only when it is the
    one size asked for."""
    if r["label"] not in args.interactions_at:
        return
    against = base[1].removeprefix("sqlite:///") if base and base[0] != r["label"] else None
    if against is None and (args.interactions_at - {r["label"]}):
        return  # the base's figures come from each larger size's alternating comparison
    log(
        f"{r['label']}: dashboard interactions (AppTest)"
        + (f", alternating with {base[0]}" if against and base else "")
        + f" × {args.reps}"
    )
    saved = dict(os.environ)
    try:
        if against:
            hook = run_hook(
                "interactions",
                args.errors,
                fn="compare",
                base_db=against,
                db_path=db,
                reps=args.reps,
            )
        else:
            hook = run_hook("interactions", args.errors, db_path=db, reps=args.reps)
    finally:  # the AppTest run points the environment at its copy: put it back
        os.environ.clear()
        os.environ.update(saved)
    if hook:
        r["interactions"] = hook


def single_and_incremental(r: dict, url: str, args) -> None:
    log(f"{r['label']}: single appends ({args.single}, interleaved one for one with the peer)")
    sip, raw = ab.single_latency(url, args.single, team_of(url))
    r["single_append"] = ab.latency_summary(sip, raw, reps=max(args.reps, 5))
    t, applied = reads.catch_up(url)
    r["incremental_catch_up"] = {
        "events": applied,
        "seconds": t,
        "us_per_event": t / max(applied, 1) * 1e6,
    }


def prepare_big(label: str, tmp: Path, args) -> tuple[Path, dict]:
    """Phase 0: the largest size's database, seeded alone before anything else is measured,
    or copied from ``--reuse-10m`` when the seed parameters recorded beside it match."""
    params = seed_params(label)
    db = tmp / f"sipdash_{label}.db"
    if args.reuse_10m:
        src = Path(args.reuse_10m)
        side = Path(str(src) + ".json")
        cached = json.loads(side.read_text()) if side.exists() else None
        if cached and cached.get("params") == params:
            log(f"{label}: reusing {src} (seed parameters match); copying it")
            remove_db(db)
            shutil.copyfile(src, db)
            info = dict(cached["seed"])
            info["reused_from"] = str(src)
            return db, info
        log(f"{label}: {src} not reusable (parameters differ or no {side.name}); seeding")
    db, info = seed_size(label, tmp)
    if args.keep_10m:
        dest = Path(args.keep_10m)
        log(f"{label}: keeping the seeded (unprojected) database as {dest}")
        reads.checkpoint_wal(db)
        remove_db(dest)
        shutil.copyfile(db, dest)
        Path(str(dest) + ".json").write_text(json.dumps({"params": params, "seed": info}))
    return db, info


def run_big(label: str, db: Path, seed: dict, tmp: Path, args, base) -> dict:
    """The largest size: no peers for append (stated), projection ``--big-reps`` times,
    pages and pack interleaved against the smallest size."""
    reps = args.big_reps
    url = f"sqlite:///{db}"
    n = seed["events"]
    r: dict = {
        "label": label,
        "target_events": SIZES[label],
        "consultations": seed["consultations"],
        "events": n,
        "seed": seed,
        "seeded_alone_first": True,
        "reps": reps,
        "db_bytes": db.stat().st_size,
    }
    log(
        f"{label}: projection catch-up / raw scan{' / rebuild' if SIZES[label] <= args.rebuild_max else ''} × {reps}"
    )
    r["projection"] = reads.projection_compare(
        db, n, reps, with_rebuild=SIZES[label] <= args.rebuild_max
    )
    _flatten_projection(r)
    log(f"{label}: audit report × {args.reps}")
    r.update(audit_vs_pandas(url, None, args.reps))
    log(f"{label}: dashboard pages against {base[0] if base else 'nothing'} × {args.reps}")
    r["pages"] = pages_vs_base(label, url, base, args.reps)
    if base is not None and base[0] != label and not args.no_pack:
        import pack_bench

        log(f"{label}: review pack against {base[0]} × {args.pack_reps}")
        r["pack"] = pack_bench.compare_sizes({base[0]: base[1], label: url}, args.pack_reps)
    interactions_at(r, db, args, base)
    single_and_incremental(r, url, args)
    return r


def run_pg(label: str, cons: int, pg, args) -> dict:
    """One sample each (stated): PostgreSQL seed, catch-up, audit report, pages."""
    url = pg.new_database()
    try:
        log(f"{label}: PostgreSQL seed")
        t, n = ab.seeding(url, cons)
        out: dict = {"events": n, "seed": {"seconds": t, "eps": n / t}, "samples": 1}
        log(f"{label}: PostgreSQL catch-up")
        t, applied = reads.catch_up(url)
        out["catch_up"] = {"seconds": t, "us_per_event": t / applied * 1e6}
        # the PostgreSQL peer (raw psycopg scan + decode + fold), interleaved with catch-up
        # from empty and rebuild: projection_bench.run, when present
        hook = run_hook("projection", args.errors, url=url, reps=args.reps)
        if hook:
            out["projection"] = hook
        out["audit_report"] = reads.audit_report(url, reps=args.reps)
        pages = reads.pages(url)
        out["pages"] = {k: pages[k] for k in ("overview", "team", "compare", "events_first")}
        out["pages"]["peak_rss_mb"] = pages["peak_rss_mb"]
        out["pages"]["peak_hwm_mb"] = pages.get("peak_hwm_mb")
        return out
    finally:
        pg.drop_database(url)


# --- printing ----------------------------------------------------------------------------


def report(res: dict) -> str:
    """The same tables as ``report_md`` (Markdown reads fine in a terminal)."""
    from report_md import render

    return render(res)


def write_results(res: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2, default=str))


def _count(text: str) -> int:
    return SIZES[text.strip().lower()] if text.strip().lower() in SIZES else int(float(text))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10k,100k,1m,10m")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2k + 10k, 2 repetitions")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-eventsourcing", action="store_true")
    ap.add_argument("--no-pack", action="store_true", help="skip the pack at the largest size")
    ap.add_argument("--pack", action="store_true", help="with --quick: build the pack too")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a hooked benchmark crashed")
    ap.add_argument("--single", type=int, default=1_000, help="single appends per size")
    ap.add_argument("--reps", type=int, default=REPS, help="interleaved repetitions (>= 5)")
    ap.add_argument(
        "--big-reps",
        type=int,
        default=3,
        help="projection repetitions above --peer-max (10M: ~2.5 min each)",
    )
    ap.add_argument("--pack-reps", type=int, default=3, help="pack builds per size (10k vs 10M)")
    ap.add_argument("--peer-max", type=_count, default=PEER_MAX, help="peers up to this size")
    ap.add_argument(
        "--bulk-max",
        type=_count,
        default=100_000,
        help="bulk-append peers up to this size (1m adds ~6-8 min: 5 x 2 x 1M appends)",
    )
    ap.add_argument("--es-max", type=_count, default=100_000, help="eventsourcing up to this")
    ap.add_argument("--pg-max", type=_count, default=100_000, help="PostgreSQL up to this")
    ap.add_argument(
        "--rebuild-max", type=_count, default=1_000_000, help="time a full rebuild up to this"
    )
    ap.add_argument("--import-max", type=_count, default=100_000, help="CSV import up to this")
    ap.add_argument(
        "--interactions-at",
        default="10k,1m",
        help="sizes at which bench/interactions.py times the dashboard's interactions",
    )
    ap.add_argument("--reuse-10m", metavar="PATH", help="copy this seeded database (if it fits)")
    ap.add_argument("--keep-10m", metavar="PATH", help="save the largest size's fresh seed here")
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/latest.json")
    ap.add_argument("--chart", type=Path, default=ROOT / "docs/performance-cost.png")
    args = ap.parse_args()
    if args.quick:
        # every code path at tiny sizes: 2k with peers, 10k through the "big" phase
        args.sizes, args.single, args.reps, args.peer_max = "2k,10k", 100, 2, 2_000
        args.pack_reps, args.pg_max = 1, min(args.pg_max, 2_000)
        args.no_pack = args.no_pack or not args.pack  # a pack build is a minute when loaded
        args.interactions_at = ""  # AppTest interactions: minutes on a loaded machine
    labels = sorted(
        {s.strip().lower() for s in args.sizes.split(",") if s.strip()},
        key=lambda x: SIZES.get(x, 0),
    )
    unknown = [s for s in labels if s not in SIZES]
    if unknown:
        ap.error(f"unknown size(s) {unknown}; choose from {', '.join(SIZES)}")
    if args.reps < 5 and not args.quick:
        log(f"warning: --reps {args.reps} is below the method's five repetitions")
    args.errors = []
    # only the sizes this run measures (a base alone is timed alone; see interactions_at)
    args.interactions_at = {x.strip().lower() for x in args.interactions_at.split(",")} & set(
        labels
    )

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
        "programme": {
            "scenario": SCENARIO,
            "seed": SEED,
            "teams": TEAMS,
            "months": MONTHS,
            "clinicians_per_team": CLINICIANS,
        },
        "method": {
            "reps": args.reps,
            "big_reps": args.big_reps,
            "pack_reps": args.pack_reps,
            "peer_max": args.peer_max,
            "bulk_max": args.bulk_max,
            "es_max": args.es_max,
            "pg_max": args.pg_max,
            "rebuild_max": args.rebuild_max,
            "order": "interleaved A B A B …; the largest size seeded first, alone",
        },
        "sizes": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="sipdash-bench-", dir=args.tmp))
    big = [x for x in labels if SIZES[x] > args.peer_max]
    small = [x for x in labels if SIZES[x] <= args.peer_max]
    base: tuple[str, str] | None = None
    try:
        prepared = {}
        for label in big:  # phase 0: alone, before anything is measured
            t0 = time.perf_counter()
            prepared[label] = prepare_big(label, tmp, args)
            res.setdefault("phase0_s", {})[label] = time.perf_counter() - t0
        for label in small:
            t0 = time.perf_counter()
            r, db = run_size(label, tmp, args, pg, base)
            if base is None:
                base = (label, f"sqlite:///{db}")  # kept: pages and pack compare against it
            else:
                remove_db(db)
            r["wall_s"] = time.perf_counter() - t0
            res["sizes"].append(r)
            res["wall_s"] = time.perf_counter() - started
            write_results(res, args.out)
            log(f"{label}: done in {r['wall_s']:.0f} s")
        # once per run (their sizes are fixed by their targets; --quick caps them):
        # the `sipdash import` command as a user meets it, and PostgreSQL bulk append
        cap = {"events": 10_000} if args.quick else {}
        hook = run_hook("import_cli", args.errors, reps=args.reps, **cap)
        if hook:
            res["import_cli"] = hook
        if pg is not None:
            cap = {"events": 2_000} if args.quick else {}
            hook = run_hook("pg_append", args.errors, reps=args.reps, pg=pg, **cap)
            if hook:
                res["pg_append"] = hook
            pg.stop()
            pg = None
        write_results(res, args.out)
        for label in big:
            t0 = time.perf_counter()
            db, info = prepared[label]
            if base is None:
                base = (label, f"sqlite:///{db}")
            r = run_big(label, db, info, tmp, args, base)
            r["wall_s"] = time.perf_counter() - t0
            res["sizes"].append(r)
            res["wall_s"] = time.perf_counter() - started
            write_results(res, args.out)
            log(f"{label}: done in {r['wall_s']:.0f} s")
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res["wall_s"] = time.perf_counter() - started
    res["errors"] = args.errors
    write_results(res, args.out)
    print(report(res))
    try:
        from plot import plot

        plot(res, args.chart)
        log(f"chart: {args.chart}")
    except Exception as exc:  # the chart is a by-product: never lose the results for it
        log(f"chart not written: {exc!r}")
    print(f"\nresults: {args.out}\ntotal wall time: {res['wall_s']:.0f} s")
    if args.errors:
        print("errors:\n  " + "\n  ".join(args.errors), file=sys.stderr)
        if args.quick or args.strict:  # the smoke run fails on any crash
            sys.exit(1)


if __name__ == "__main__":
    main()
