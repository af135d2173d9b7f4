"""Markdown tables (for docs/performance.md) from a results file, each target marked.

.venv/bin/python bench/report_md.py [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAT = 1.25  # "the same cost per event": within 25 % (the machine is shared and noisy)
RSS_GROWTH = 1.10  # "does not grow": within 10 %


def mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def f(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def md(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def render(res: dict) -> str:
    S = res["sizes"]
    by = {s["label"]: s for s in S}
    first = S[0]
    parts = []

    rows = []
    for s in S:
        a = s.get("append")
        rows.append(
            [
                s["label"],
                f"{s['events']:,}",
                f(g(a, "sipdash_eps"), ",.0f"),
                f(g(a, "raw_eps"), ",.0f"),
                f(g(a, "ratio_vs_raw"), ".2f")
                + (f" {mark(a['ratio_vs_raw'] >= 0.7)}" if a else ""),
                f(g(a, "eventsourcing_eps"), ",.0f"),
                f(g(a, "ratio_vs_eventsourcing"), ".2f")
                + (
                    f" {mark(a['ratio_vs_eventsourcing'] >= 1.5)}"
                    if a and "ratio_vs_eventsourcing" in a
                    else ""
                ),
                f(g(s, "postgresql", "seed", "eps"), ",.0f"),
            ]
        )
    parts.append(
        "### Bulk append (seed path), events/s\n\nTargets: ≥ 0.7× raw sqlite3, ≥ 1.5× "
        "`eventsourcing`.\n\n"
        + md(
            [
                "size",
                "events",
                "sipdash SQLite",
                "raw sqlite3",
                "sipdash / raw",
                "eventsourcing",
                "sipdash / eventsourcing",
                "sipdash PostgreSQL (seed)",
            ],
            rows,
        )
    )

    rows = []
    for s in S:
        r = s["seed"].get("ratio_vs_bulk")
        rows.append(
            [
                s["label"],
                f"{s['events']:,}",
                f"{s['seed']['seconds']:.1f}",
                f"{s['seed']['eps']:,.0f}"
                + (" ¹" if s.get("seed_overlapped_smaller_sizes") else ""),
                f(g(s, "append", "sipdash_eps"), ",.0f"),
                "–" if r is None else f"{r:.2f} {mark(r >= 0.5)}",
            ]
        )
    parts.append(
        "### Seeding (generation + append), events/s\n\nTarget: ≥ 0.5× the bulk-append rate "
        "of the same events.\n\n"
        + md(["size", "events", "seed s", "seed ev/s", "bulk append ev/s", "seed / bulk"], rows)
        + (
            "\n\n¹ seeded by a second process beside the smaller sizes (the two cores shared "
            "for most of it); no peer at this size."
            if any(s.get("seed_overlapped_smaller_sizes") for s in S)
            else ""
        )
    )

    rows = []
    for s in S:
        x = s["single_append"]
        rows.append(
            [
                s["label"],
                f"{x['sipdash_p50_ms']:.2f}",
                f"{x['sipdash_p99_ms']:.2f}",
                f"{x['raw_p50_ms']:.2f}",
                f"{x['raw_p99_ms']:.2f}",
                f"{x['p99_ratio']:.2f} {mark(x['p99_ratio'] <= 3)}",
            ]
        )
    parts.append(
        f"### Single interactive append, ms ({S[0]['single_append']['n']:,} appends onto the "
        "size's log, each followed by one peer append)\n\nTarget: p99 ≤ 3× a raw sqlite3 "
        "one-row insert-and-commit (WAL, synchronous=FULL), interleaved one for one so both "
        "see the same load.\n\n"
        + md(["size", "sipdash p50", "sipdash p99", "raw p50", "raw p99", "p99 ratio"], rows)
    )

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
                f"{x['sipdash_s']:.2f}",
                f"{x['sipdash_projection_s']:.2f}",
                f"{x['sipdash_eps']:,.0f}",
                f"{x['raw_eps']:,.0f}",
                f"{x['ratio_vs_raw']:.2f} {mark(x['ratio_vs_raw'] >= 0.25)}",
                f"{x['ratio_vs_raw_excl_projection']:.2f}",
            ]
        )
    parts.append(
        "### CSV import (`Importer.import_consultations`), events/s\n\nTarget: ≥ 0.25× raw "
        "sqlite3 `executemany` of the resulting events (parsing, validation, pseudonymisation "
        "included; the import also brings the projections up to date, shown separately).\n\n"
        + md(
            [
                "size",
                "CSV rows",
                "events",
                "import s",
                "of which projection s",
                "sipdash ev/s",
                "raw ev/s",
                "sipdash / raw",
                "without projection",
            ],
            rows,
        )
    )

    base = by.get("100k", first)
    rows = []
    for s in S:
        cu = s["catch_up"]
        rb = s.get("rebuild")
        flat = cu["us_per_event"] / base["catch_up"]["us_per_event"]
        base_rb = g(base, "rebuild", "us_per_event")
        rb_flat = rb["us_per_event"] / base_rb if rb and base_rb else None
        rows.append(
            [
                s["label"],
                f"{s['events']:,}",
                f"{cu['seconds']:.1f}",
                f"{cu['us_per_event']:.1f}",
                "–" if not rb else f"{rb['us_per_event']:.1f}",
                f"{s['raw_scan']['us_per_event']:.1f}",
                f"{cu['ratio_vs_raw_scan']:.2f} {mark(cu['ratio_vs_raw_scan'] >= 0.5)}",
                "–"
                if not rb
                else f"{rb['ratio_vs_raw_scan']:.2f} {mark(rb['ratio_vs_raw_scan'] >= 0.5)}",
                f"{flat:.2f}" + (f" {mark(flat <= FLAT)}" if s["events"] > base["events"] else ""),
                "–"
                if rb_flat is None
                else f"{rb_flat:.2f}"
                + (f" {mark(rb_flat <= FLAT)}" if s["events"] > base["events"] else ""),
                f"{s['incremental_catch_up']['us_per_event']:.0f}",
                f(g(s, "postgresql", "catch_up", "us_per_event"), ".1f"),
            ]
        )
    parts.append(
        "### Projection catch-up and rebuild, µs per event\n\nTargets: ≥ 0.5× a raw sqlite3 "
        f"scan-and-decode (ratio = raw time / sipdash time); cost per event at every size within "
        f"{FLAT:.2f}× of the {base['label']} cost. *incremental* = folding the "
        f"{S[0]['single_append']['n']:,} single appends made after the pages were measured "
        "(one short batch: fixed per-batch overhead dominates).\n\n"
        + md(
            [
                "size",
                "events",
                "catch-up s",
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

    rows = []
    b = first["audit_report"]["warm_s"]
    for s in S:
        ar = s["audit_report"]
        ratio = ar["warm_s"] / b
        sp = g(s, "naive_pandas", "speedup_of_audit_report")
        rows.append(
            [
                s["label"],
                f"{ar['cold_s'] * 1e3:.0f}",
                f"{ar['warm_s'] * 1e3:.0f}",
                f"{ratio:.2f}" + (f" {mark(ratio <= 1.5)}" if s is not first else ""),
                f(g(s, "naive_pandas", "seconds"), ".2f"),
                "–"
                if sp is None
                else f"{sp:,.0f}×" + (f" {mark(sp >= 50)}" if s["label"] == "1m" else ""),
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
        "pandas and grouping, at 1M. Warm = median of repeated calls.\n\n"
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

    pages = [
        ("overview", "overview"),
        ("team", "team"),
        ("compare", "compare"),
        ("events_first", "event log p1"),
        ("events_later", "event log later"),
    ]
    rows = []
    for s in S:
        p = s["pages"]
        row = [s["label"]]
        for key, _ in pages:
            r = p[key]["warm_s"] / first["pages"][key]["warm_s"]
            cell = f"{p[key]['cold_s'] * 1e3:.0f} / {p[key]['warm_s'] * 1e3:.0f}"
            if s is not first:
                cell += f" ({r:.2f}× {mark(r <= 1.5)})"
            if p[key]["warm_s"] >= 0.5:
                cell += " **warm ≥ 0.5 s**"
            row.append(cell)
        rows.append(row)
    parts.append(
        "### Dashboard pages' server-side work, ms cold / warm\n\nTargets: at every size ≤ 1.5× "
        f"the {first['label']} cost; a warm page well under 0.5 s. Cold = first call on a fresh "
        "engine in a fresh process; warm = median of the next three.\n\n"
        + md(["size", *[label for _, label in pages]], rows)
    )

    rows = []
    hwm_base = next((s["pages"]["peak_hwm_mb"] for s in S if "peak_hwm_mb" in s["pages"]), None)
    hwm_label = next((s["label"] for s in S if "peak_hwm_mb" in s["pages"]), None)
    for s in S:
        p = s["pages"]
        hwm = p.get("peak_hwm_mb")
        growth = None if hwm is None or hwm_base is None else hwm / hwm_base
        rows.append(
            [
                s["label"],
                f"{s['events']:,}",
                f(p.get("hwm_after_imports_mb"), ".0f"),
                f(hwm, ".0f"),
                "–"
                if growth is None
                else f"{growth:.2f}"
                + (f" {mark(growth <= RSS_GROWTH)}" if s["label"] != hwm_label else ""),
                f"{p['peak_rss_mb']:.0f}",
                f(g(s, "postgresql", "pages", "peak_hwm_mb"), ".0f"),
            ]
        )
    parts.append(
        "### Memory: peak RSS of a fresh process doing every page's work, MB\n\nTarget: does "
        f"not grow with the log (within {RSS_GROWTH:.2f}×). *peak* is the process's own "
        "high-water mark (`VmHWM`); *getrusage* is `ru_maxrss`, which Linux carries over "
        "fork + exec from the (large) benchmark parent, so it is shown only for reference.\n\n"
        + md(
            [
                "size",
                "events",
                "after imports",
                "peak (VmHWM)",
                f"vs {hwm_label}",
                "getrusage ru_maxrss",
                "PostgreSQL peak",
            ],
            rows,
        )
    )

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
                f"{pg['pages']['overview']['cold_s'] * 1e3:.0f} / {pg['pages']['overview']['warm_s'] * 1e3:.0f}",
                f"{s['pages']['overview']['cold_s'] * 1e3:.0f} / {s['pages']['overview']['warm_s'] * 1e3:.0f}",
            ]
        )
    if rows:
        parts.append(
            "### PostgreSQL vs SQLite (same events, same run)\n\n"
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
                    "PG overview ms cold/warm",
                    "SQLite overview ms cold/warm",
                ],
                rows,
            )
        )
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench/results/latest.json"
    print(render(json.loads(src.read_text())))
