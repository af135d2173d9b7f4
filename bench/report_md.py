"""Markdown tables (for docs/performance.md) from a results file, each target marked.

.venv/bin/python bench/report_md.py [bench/results/latest.json] [bench/results/old_vs_new.json]

Every figure is ``median (min–max)`` over the run's interleaved repetitions; a ratio is the
median of the per-repetition ratios. Each table says what the peer does and each target says
**met** or the measured gap.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from method import fmt_spread  # noqa: E402

FLAT = 1.25  # "the same cost per event": within 25 %
RSS_GROWTH = 1.10  # "does not grow": within 10 %


def mark(ok: bool, gap: str = "") -> str:
    return "met" if ok else f"**not met**{' (' + gap + ')' if gap else ''}"


def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def f(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def med(v) -> float | None:
    """A spread's median, or the number itself (older results files)."""
    if isinstance(v, dict):
        return v.get("median")
    return v


def sp(v, spec: str = ".2f", scale: float = 1.0) -> str:
    if isinstance(v, dict):
        return fmt_spread(v, spec, scale)
    return f(None if v is None else v * scale, spec)


def rate_spread(events: int, seconds: dict | float | None) -> str:
    """events/s as median (slowest–fastest) from a spread of seconds."""
    if seconds is None:
        return "–"
    if not isinstance(seconds, dict):
        return f"{events / seconds:,.0f}"
    return (
        f"{events / seconds['median']:,.0f} "
        f"({events / seconds['max']:,.0f}–{events / seconds['min']:,.0f})"
    )


def target(v, ok, gap_fmt: str = "{:.2f}") -> str:
    """``median (min–max) met`` for a ratio spread against a predicate on its median."""
    m = med(v)
    if m is None:
        return "–"
    return f"{sp(v)} {mark(ok(m))}"


def md(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _method_line(res: dict) -> str:
    m = res.get("method") or {}
    if not m:
        return ""
    return (
        f"Method: {m.get('reps')} interleaved repetitions per ratio up to "
        f"{m.get('peer_max', 0):,} events ({m.get('big_reps')} above, stated), pack "
        f"{m.get('pack_reps')} builds per size; the largest size seeded first, alone; "
        f"bulk-append peers up to {m.get('bulk_max', m.get('peer_max', 0)):,}, "
        f"`eventsourcing` up to {m.get('es_max', 0):,}, PostgreSQL up to "
        f"{m.get('pg_max', 0):,}, rebuild up to {m.get('rebuild_max', 0):,} events. "
        "Cells: median (min–max).\n\n"
    )


def render(res: dict) -> str:
    S = res["sizes"]
    first = S[0]
    parts = [_method_line(res).strip()] if res.get("method") else []

    # --- bulk append
    rows = []
    for s in S:
        a = s.get("append")
        if not a:
            continue
        n = a["events"]
        rows.append(
            [
                s["label"],
                f"{n:,}",
                rate_spread(n, a.get("sipdash_s")),
                rate_spread(n, a.get("raw_s")),
                target(a.get("ratio_vs_raw"), lambda x: x >= 0.7),
                rate_spread(n, a.get("eventsourcing_s"))
                if "eventsourcing_s" in a
                else f"– ({a.get('eventsourcing_skipped', 'not run')})",
                target(a.get("ratio_vs_eventsourcing"), lambda x: x >= 1.5),
            ]
        )
    parts.append(
        "### Bulk append (seed path), events/s\n\nTargets: ≥ 0.7× raw sqlite3, ≥ 1.5× "
        "`eventsourcing`. sipdash: `EventStore.append_many(history=True)`, 20,000 events per "
        "transaction. raw: plain sqlite3 building the same canonical JSON, stream versions and "
        "SHA-256 chain, shared metadata encoded once (as sipdash), `executemany` 20,000 per "
        "transaction into the same table DDL (created before the timing, as sipdash's), WAL, "
        "`synchronous=FULL`. eventsourcing: its `Application` (SQLite module), one aggregate "
        "per fact, 20,000 per `save` (one transaction); its own schema and encoding (no hash "
        "chain). Each repetition writes a fresh database.\n\n"
        + md(
            [
                "size",
                "events",
                "sipdash",
                "raw sqlite3",
                "sipdash / raw",
                "eventsourcing",
                "sipdash / eventsourcing",
            ],
            rows,
        )
    )

    # --- seeding
    rows = []
    for s in S:
        r = s["seed"].get("ratio_vs_bulk")
        note = " (seeded alone, first)" if s.get("seeded_alone_first") else ""
        if s["seed"].get("reused_from"):
            note = " (reused cached seed)"
        spread_of = s["seed"].get("ratio_vs_bulk_spread")
        rows.append(
            [
                s["label"],
                f"{s['events']:,}",
                f"{s['seed']['seconds']:.1f}{note}",
                f"{s['seed']['eps']:,.0f}",
                f(g(s, "append", "sipdash_eps"), ",.0f"),
                "–"
                if r is None
                else f"{r:.2f}"
                + (f" ({spread_of['min']:.2f}–{spread_of['max']:.2f})" if spread_of else "")
                + f" {mark(r >= 0.5)}",
            ]
        )
    parts.append(
        "### Seeding (generation + append), events/s\n\nTarget: ≥ 0.5× the bulk-append rate "
        "of the same events. Where the bulk append is measured, seeding into a fresh database "
        "joins its interleaved rotation and *seed / bulk* is the median (min–max) of the "
        "per-repetition ratios; *seed s* is the one seed that made the size's database "
        "(generation + append).\n\n"
        + md(["size", "events", "seed s", "seed ev/s", "bulk append ev/s", "seed / bulk"], rows)
    )

    # --- single append
    rows = []
    for s in S:
        x = s["single_append"]
        pr = x["p99_ratio"]
        rows.append(
            [
                s["label"],
                f"{x['sipdash_p50_ms']:.2f}",
                f"{x['sipdash_p99_ms']:.2f}",
                f"{x['raw_p50_ms']:.2f}",
                f"{x['raw_p99_ms']:.2f}",
                target(pr, lambda v: v <= 3) if isinstance(pr, dict) else f"{pr:.2f}",
            ]
        )
    parts.append(
        f"### Single interactive append, ms ({first['single_append']['n']:,} appends onto the "
        "size's log, each followed by one peer append)\n\nTarget: p99 ≤ 3× a raw sqlite3 "
        "one-row `BEGIN IMMEDIATE` / insert / `COMMIT` (same hash chain, WAL, "
        "`synchronous=FULL`), interleaved one for one so both see the same load. The ratio is "
        "the median (min–max) of the p99 ratios of consecutive blocks of pairs.\n\n"
        + md(["size", "sipdash p50", "sipdash p99", "raw p50", "raw p99", "p99 ratio"], rows)
    )

    # --- import
    rows = []
    for s in S:
        x = s.get("import")
        if not x:
            continue
        rows.append(
            [
                s["label"],
                f"{x['rows']:,}",
                f"{x['events']:,}",
                sp(x["sipdash_s"], ".2f"),
                rate_spread(x["events"], x["sipdash_s"]),
                rate_spread(x["events"], x.get("raw_s"))
                if x.get("raw_s")
                else f"{x['raw_eps']:,.0f}",
                target(x["ratio_vs_raw"], lambda v: v >= 0.25),
            ]
        )
    if rows:
        parts.append(
            "### CSV import (`Importer.import_consultations`), events/s\n\nTarget: ≥ 0.25× raw "
            "sqlite3 `executemany` of the resulting events. sipdash parses, validates, "
            "pseudonymises, registers teams and appends in one transaction; it does **not** "
            "fold the read models (the `sipdash import` command's wall time with the fold is "
            "the import-CLI table, when present). The raw peer does no validation.\n\n"
            + md(
                [
                    "size",
                    "CSV rows",
                    "events",
                    "import s",
                    "sipdash ev/s",
                    "raw ev/s",
                    "sipdash / raw",
                ],
                rows,
            )
        )

    # --- projection
    by = {s["label"]: s for s in S}
    base = by.get("100k", first)
    rows = []
    work = next((g(s, "raw_scan", "work") for s in S if g(s, "raw_scan", "work")), None)
    for s in S:
        cu = s["catch_up"]
        rb = s.get("rebuild")
        flat = cu["us_per_event"] / base["catch_up"]["us_per_event"]
        base_rb = g(base, "rebuild", "us_per_event")
        rb_flat = rb["us_per_event"] / base_rb if rb and base_rb else None
        bigger = s["events"] > base["events"]
        rows.append(
            [
                s["label"] + (f" ({s.get('reps')}×)" if s.get("reps") else ""),
                f"{s['events']:,}",
                sp(cu.get("us_per_event_spread") or cu["us_per_event"], ".1f"),
                "–" if not rb else sp(rb.get("us_per_event_spread") or rb["us_per_event"], ".1f"),
                sp(
                    g(s, "raw_scan", "us_per_event_spread") or s["raw_scan"]["us_per_event"],
                    ".1f",
                ),
                target(cu["ratio_vs_raw_scan"], lambda v: v >= 0.5),
                "–" if not rb else target(rb["ratio_vs_raw_scan"], lambda v: v >= 0.5),
                f"{flat:.2f}" + (f" {mark(flat <= FLAT)}" if bigger else ""),
                "–"
                if rb_flat is None
                else f"{rb_flat:.2f}" + (f" {mark(rb_flat <= FLAT)}" if bigger else ""),
                f"{s['incremental_catch_up']['us_per_event']:.0f}",
                f(g(s, "postgresql", "catch_up", "us_per_event"), ".1f"),
            ]
        )
    parts.append(
        "### Projection catch-up and rebuild, µs per event\n\nTargets: ≥ 0.5× a like-for-like "
        f"raw scan-and-decode (ratio = raw time / sipdash time); cost per event within "
        f"{FLAT:.2f}× of the {base['label']} cost. Catch-up = fold from position 0 into a fresh "
        "copy of the unprojected log (copied before the timing); rebuild = empty every read "
        "model and fold again. The raw peer: "
        f"{work or 'plain sqlite3 scan and decode'}. *incremental* = folding the single "
        "appends made after the pages were measured (one short batch). PostgreSQL: one "
        "sample.\n\n"
        + md(
            [
                "size (reps)",
                "events",
                "catch-up",
                "rebuild",
                "raw scan+decode",
                "catch-up / raw",
                "rebuild / raw",
                f"catch-up per event vs {base['label']}",
                f"rebuild per event vs {base['label']}",
                "incremental",
                "PostgreSQL catch-up",
            ],
            rows,
        )
    )

    # --- audit report
    rows = []
    b = first["audit_report"]["warm_s"]
    for s in S:
        ar = s["audit_report"]
        r = ar["warm_s"] / b
        speed = g(s, "naive_pandas", "speedup_of_audit_report")
        rows.append(
            [
                s["label"],
                f"{ar['cold_s'] * 1e3:.0f}",
                sp(ar.get("warm_spread") or ar["warm_s"], ".0f", 1e3),
                f"{r:.2f}" + (f" {mark(r <= 1.5)}" if s is not first else ""),
                sp(g(s, "naive_pandas", "spread") or g(s, "naive_pandas", "seconds"), ".2f"),
                "–"
                if speed is None
                else sp(speed, ",.0f")
                + (f" {mark(med(speed) >= 50)}" if s["label"] == "1m" else ""),
                f(
                    g(s, "postgresql", "audit_report", "warm_s")
                    and g(s, "postgresql", "audit_report", "warm_s") * 1e3,
                    ".0f",
                ),
            ]
        )
    parts.append(
        f"### `audit report` (audit_measures + JSON records), ms\n\nTargets: cost ≤ 1.5× the "
        f"{first['label']} cost at every size; ≥ 50× faster than loading every event into "
        "pandas and grouping, at 1M (the pandas peer: `read_sql` of every event, `json.loads` "
        "of every payload, group the first reviews; interleaved with the report).\n\n"
        + md(
            [
                "size",
                "cold",
                "warm",
                f"warm vs {first['label']}",
                "naive pandas s",
                "speedup (warm)",
                "PostgreSQL warm",
            ],
            rows,
        )
    )

    # --- pages
    pages = [
        ("overview", "overview"),
        ("team", "team"),
        ("compare", "compare"),
        ("surveys", "surveys (team p-chart + triangulation)"),
        ("reach", "reach"),
        ("events_first", "event log p1"),
        ("events_later", "event log later"),
    ]
    known = {k for k, _ in pages}
    extra = [
        (k, k)
        for k, v in first["pages"].items()
        if k not in known and isinstance(v, dict) and "warm_s" in v
    ]
    present = [(k, label) for k, label in pages if any(k in s["pages"] for s in S)] + extra
    rows = []
    for s in S:
        p = s["pages"]
        row = [s["label"]]
        for key, _ in present:
            if key not in p:
                row.append("–")
                continue
            cell = sp(p[key].get("warm_spread") or p[key]["warm_s"], ".0f", 1e3)
            r = p[key].get("ratio_vs_base")
            if r is None and s is not first and key in first["pages"]:
                r = p[key]["warm_s"] / first["pages"][key]["warm_s"]
            if r is not None and s is not first:
                cell += f"; ×{sp(r)} {mark(med(r) <= 1.5)}"
            if p[key]["warm_s"] >= 0.5:
                cell += " **warm ≥ 0.5 s**"
            row.append(cell)
        rows.append(row)
    parts.append(
        "### Dashboard pages' server-side work, warm ms; × the smallest size\n\nTargets: at "
        f"every size ≤ 1.5× the {first['label']} cost (teams, months and clinicians fixed; "
        "only the log grows); a warm page well under 0.5 s. Each size's pages run in a fresh "
        "process interleaved with the smallest size's (A B A B …); warm = median of three "
        "calls after the first; the ratio is the median of the per-repetition ratios. *reach* "
        "reads the per-team-month aggregates (clinicians held fixed); *surveys* reads "
        "`rm_surveys` for the team's survey p-chart and the triangulation table.\n\n"
        + md(["size", *[label for _, label in present]], rows)
    )

    # --- pack
    packs = [s for s in S if s.get("pack")]
    if packs:
        rows = []
        for s in packs:
            pk = s["pack"]
            labels = list(pk["sizes"])
            for label in labels:
                t = pk["sizes"][label]
                rows.append(
                    [
                        label,
                        sp(t["collect"], ".2f"),
                        sp(t["render_write"], ".2f"),
                        sp(t["total"], ".2f"),
                        ""
                        if label == labels[0]
                        else target(pk["ratio"], lambda v: v <= 1.5)
                        + f" ({pk['ratio']['n']} builds each)",
                    ]
                )
        parts.append(
            "### Review pack (HTML + PDF, every team), s\n\nTarget: cost at 10M ≤ 1.5× the "
            "cost at 10k. Each build in a fresh process, sizes interleaved.\n\n"
            + md(["size", "collect", "render + write", "total", "× smallest"], rows)
        )

    # --- memory
    rows = []
    hwm_base = first["pages"].get("peak_hwm_mb")
    for s in S:
        p = s["pages"]
        hwm = p.get("peak_hwm_mb")
        growth = None if hwm is None or not hwm_base else hwm / hwm_base
        rows.append(
            [
                s["label"],
                f"{s['events']:,}",
                f(hwm, ".0f"),
                "–"
                if growth is None
                else f"{growth:.2f}" + (f" {mark(growth <= RSS_GROWTH)}" if s is not first else ""),
                f(g(s, "postgresql", "pages", "peak_hwm_mb"), ".0f"),
            ]
        )
    parts.append(
        "### Memory: peak RSS of a fresh process doing every page's work, MB\n\nTarget: does "
        f"not grow with the log (within {RSS_GROWTH:.2f}×); `VmHWM`, median of the "
        "repetitions.\n\n"
        + md(["size", "events", "peak (VmHWM)", f"vs {first['label']}", "PostgreSQL peak"], rows)
    )

    # --- PostgreSQL
    rows = []
    for s in S:
        pg = s.get("postgresql")
        if not pg:
            continue
        rows.append(
            [
                s["label"],
                f"{pg['events']:,}",
                f"{pg['seed']['eps']:,.0f}",
                f"{s['seed']['eps']:,.0f}",
                f"{pg['catch_up']['us_per_event']:.1f}",
                f"{s['catch_up']['us_per_event']:.1f}",
                f"{pg['audit_report']['warm_s'] * 1e3:.0f}",
                f"{s['audit_report']['warm_s'] * 1e3:.0f}",
                f"{pg['pages']['overview']['warm_s'] * 1e3:.0f}",
                f"{s['pages']['overview']['warm_s'] * 1e3:.0f}",
            ]
        )
    if rows:
        parts.append(
            "### PostgreSQL vs SQLite (same events, same run; PostgreSQL one sample each)\n\n"
            + md(
                [
                    "size",
                    "events",
                    "PG seed ev/s",
                    "SQLite seed ev/s",
                    "PG catch-up µs/ev",
                    "SQLite catch-up µs/ev",
                    "PG audit report ms",
                    "SQLite audit report ms",
                    "PG overview warm ms",
                    "SQLite overview warm ms",
                ],
                rows,
            )
        )

    # --- interactions (bench/interactions.py: a larger size alternating with the base)
    inter = [(s, g(s, "interactions", "result")) for s in S]
    inter = [(s, x) for s, x in inter if x and x.get("interactions")]
    if inter:
        names = list(inter[0][1]["interactions"])

        def cells(x: dict, ratio: dict | None) -> list[str]:
            out = []
            for name in names:
                e = x["interactions"].get(name)
                if not e:
                    out.append("–")
                    continue
                cell = f"{e['median_s'] * 1e3:.0f} ({e['min_s'] * 1e3:.0f}–{e['max_s'] * 1e3:.0f})"
                if ratio and name in ratio:
                    q = ratio[name]
                    cell += (
                        f"; ×{q['median']:.2f} ({q['min']:.2f}–{q['max']:.2f}) "
                        f"{mark(q['median'] <= 1.5)}"
                    )
                cell += "" if e["median_s"] < 0.3 else " **≥ 300 ms**"
                out.append(cell)
            return out

        rows = []
        alternating = any("base" in x for _s, x in inter)
        base_label = S[0]["label"]
        for s, x in inter:
            if "base" in x:
                b = x["base"]
                rows.append([f"{base_label} ({b['events']:,} ev; alternating)", *cells(b, None)])
                rows.append([f"{s['label']} ({x['events']:,} ev)", *cells(x, x["ratio"])])
            else:
                rows.append([f"{s['label']} ({x['events']:,} ev)", *cells(x, None)])
        how = (
            "the larger size alternating with the base (base, size, base, size, …), two "
            "repetitions of every interaction per turn (a toggle timed both ways), each turn "
            "with its own untimed warm-up; the ratio is the median (min–max) of the "
            "sample-by-sample ratios (same turn, same direction)"
            if alternating
            else "sizes run at different moments of the run (no ratio)"
        )
        parts.append(
            "### Dashboard interactions (AppTest server time), ms\n\nTargets: at 1M ≤ 1.5× the "
            f"{base_label} time, and under 300 ms. `bench/interactions.py`: {how}.\n\n"
            + md(["size", *names], rows)
        )

    # --- PostgreSQL projection against its own raw psycopg peer (projection_bench.run)
    rows = []
    for s in S:
        pr = g(s, "postgresql", "projection", "result")
        if not pr:
            continue
        n = pr["events"]

        def per_event(x: dict, n: int = n) -> str:
            """µs per event: median (min–max) of the repetitions."""
            return (
                f"{x['us_per_event']:.1f} ({x['min_s'] / n * 1e6:.1f}–{x['max_s'] / n * 1e6:.1f})"
            )

        row = [s["label"], f"{n:,}", per_event(pr["peer"])]
        for name in ("catch_up", "rebuild"):
            x = pr[name]
            row.append(per_event(x))
            row.append(
                f"{x['ratio_vs_peer']:.2f} ({x['ratio_min']:.2f}–{x['ratio_max']:.2f}) "
                + mark(x["ratio_vs_peer"] >= 0.5)
            )
        rows.append(row)
    if rows:
        parts.append(
            "### PostgreSQL projection, µs per event (`bench/projection_bench.py`)\n\nTarget: "
            "≥ 0.5× its raw psycopg peer (keyset scan, orjson decode, census fold in dicts), "
            "interleaved repetitions, each timed in a fresh process; cells: median (min–max).\n\n"
            + md(
                [
                    "size",
                    "events",
                    "peer",
                    "catch-up",
                    "catch-up / peer",
                    "rebuild",
                    "rebuild / peer",
                ],
                rows,
            )
        )

    # --- the projection floor: what writing the read models' rows alone costs (#19)
    times_rows, ratio_rows = [], []
    bounds = ("floor_indexes_after", "no_rollups_indexes_after")  # absent from older results
    for s in S:
        h = s.get("projection_floor")
        if not h:
            continue
        if "error" in h:
            times_rows.append([s["label"], f"crashed: `{h['error']}`", *[""] * 6])
            continue
        fl = h["result"]
        label = f"{s['label']} ({fl['reps']}×)"
        times_rows.append(
            [
                label,
                f"{fl['events']:,}",
                f"{fl['rows_total']:,}"
                + (f" ({fl['rows_without_rollups']:,})" if "rows_without_rollups" in fl else ""),
                sp(fl["peer"], ".3f"),
                sp(fl["floor"], ".3f"),
                *(sp(fl[b], ".3f") if b in fl else "–" for b in bounds),
                sp(fl["sipdash"], ".3f"),
            ]
        )
        ratio_rows.append(
            [
                label,
                sp(fl["peer_over_floor"], ".2f"),
                *(sp(fl[f"peer_over_{b}"], ".2f") if b in fl else "–" for b in bounds),
                sp(fl["peer_over_sipdash"], ".2f"),
                sp(fl["floor_over_sipdash"], ".2f"),
            ]
        )
    if times_rows:
        parts.append(
            "### Projection floor: the read models' rows alone, s (`bench/projection_floor.py`)"
            "\n\nThe projection peer writes nothing. The *floor* is that peer followed by every "
            "row sipdash's read models hold after catch-up (captured from a real catch-up, "
            "untimed) inserted once, in final form, by raw `sqlite3` `executemany` into the same "
            "empty tables, one transaction: no upsert, no cross-batch lookup, no roll-up — less "
            "work than any batch-by-batch fold. Two more generous bounds: *indexes after* drops "
            "the read models' secondary indexes before the timing and builds them inside it, "
            "after the inserts (a bulk load's best case); *no roll-ups* also leaves out the "
            "reach grains (`rm_reach_*`, rows in brackets: the rest), which keep the pages' "
            "as-of reads of the two lenses flat in the log. *peer / floor* is the best ratio "
            "any projector that writes these rows can reach; *peer / sipdash* is the measured "
            "one. Each measure timed in a fresh process, interleaved.\n\n"
            + md(
                [
                    "size (reps)",
                    "events",
                    "rows written",
                    "peer",
                    "floor",
                    "floor, indexes after",
                    "no roll-ups, indexes after",
                    "sipdash catch-up",
                ],
                times_rows,
            )
            + "\n\n"
            + md(
                [
                    "size (reps)",
                    "peer / floor",
                    "peer / floor, indexes after",
                    "peer / no roll-ups, indexes after",
                    "peer / sipdash",
                    "floor / sipdash",
                ],
                ratio_rows,
            )
        )

    # --- other engineers' benchmarks, as they report themselves
    hooks = [(name, res[name]) for name in ("import_cli", "pg_append") if res.get(name)]
    if hooks:
        lines = []
        for _name, h in hooks:
            if "error" in h:
                lines.append(f"* **{h['module']}**: crashed: `{h['error']}`")
                continue
            lines.append(f"* **{h['module']}**: " + _summarise(h.get("result")))
        parts.append(
            "### Import as a user meets it, PostgreSQL bulk append (their own results)\n\n"
            "Targets: `sipdash import` wall time (fold included) ≥ 0.25× raw `executemany`; "
            "PostgreSQL bulk append ≥ 0.7× raw psycopg (COPY or executemany, the faster). "
            "Each module's docstring states its peer's work.\n\n" + "\n".join(lines)
        )
    if res.get("errors"):
        parts.append("**Errors during the run:** " + "; ".join(res["errors"]))
    return "\n\n".join(parts) + "\n"


def _summarise(result) -> str:
    """One line from a result object: its numbers and median (min–max) spreads, by key."""
    if not isinstance(result, dict):
        return f"`{result!r}`"[:300]
    bits = []
    for key, v in result.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int | float):
            bits.append(f"{key} {v:,.3g}" if isinstance(v, float) else f"{key} {v:,}")
        elif isinstance(v, dict) and "median" in v and "min" in v and "max" in v:
            bits.append(f"{key} {fmt_spread(v)}")
        elif isinstance(v, dict) and {"median_s", "min_s", "max_s"} <= set(v):
            bits.append(f"{key} {v['median_s']:.3f} s ({v['min_s']:.3f}–{v['max_s']:.3f})")
    return "; ".join(bits) if bits else f"`{json.dumps(result, default=str)[:300]}`"


def render_old_vs_new(ov: dict) -> str:
    """The old commit against the new code, interleaved in one run."""
    rows = []
    for key, label in (
        ("bulk_append_s", "bulk append, s"),
        ("single_p50_ms", "single append p50, ms"),
        ("single_p99_ms", "single append p99, ms"),
        ("catch_up_s", "catch-up from 0, s"),
    ):
        e = ov["measures"].get(key)
        if not e:
            continue
        rows.append(_ovn_row(label, e))
    for page, e in sorted(ov["measures"].get("pages_warm_s", {}).items()):  # runs before #12
        rows.append(_ovn_row(f"page {page} (warm), s", e))
    for page, e in sorted(ov["measures"].get("pages_warm_ms", {}).items()):
        rows.append(_ovn_row(f"page {page} (warm), ms", e))
    return (
        f"### Old ({ov['old']['commit'][:7]}) vs new ({ov['new']['commit'][:7]}), interleaved"
        f"\n\n{ov['events']:,} events (same seed), {ov['reps']} repetitions, each measure in a "
        "fresh process per tree, old and new alternating. *new / old* is the median "
        "(min–max) of per-repetition time ratios (below 1: new is faster); *slower beyond "
        "spread* = the new median above the old maximum.\n\n"
        + md(["measure", "old", "new", "new / old", "slower beyond spread?"], rows)
        + "\n"
    )


def _ovn_row(label: str, e: dict) -> list[str]:
    worse = e["new"]["median"] > e["old"]["max"]
    return [
        label,
        fmt_spread(e["old"], ".3f"),
        fmt_spread(e["new"], ".3f"),
        fmt_spread(e["ratio_new_over_old"], ".2f"),
        "**yes**" if worse else "no",
    ]


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench/results/latest.json"
    print(render(json.loads(src.read_text())))
    ov = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "bench/results/old_vs_new.json"
    if ov.exists():
        print(render_old_vs_new(json.loads(ov.read_text())))
