"""Cost against log size on log scales (Altair, saved as PNG with vl-convert).

.venv/bin/python bench/plot.py [bench/results/latest.json] [docs/performance-cost.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import altair as alt
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def frame(res: dict) -> pd.DataFrame:
    recs = []
    for s in res["sizes"]:
        n = s["events"]

        def add(what: str, seconds: float | None, kind: str, n: int = n) -> None:
            if seconds:
                recs.append({"events": n, "what": what, "seconds": seconds, "kind": kind})

        add("seed (generate + append)", s["seed"]["seconds"], "grows with the log")
        add("projection catch-up", s["catch_up"]["seconds"], "grows with the log")
        add("raw scan-and-decode", s["raw_scan"]["seconds"], "grows with the log")
        if "naive_pandas" in s:
            add("naive pandas report", s["naive_pandas"]["seconds"], "grows with the log")
        add("audit report (warm)", s["audit_report"]["warm_s"], "read side")
        for page, label in (
            ("overview", "overview page"),
            ("team", "team page"),
            ("compare", "compare page"),
            ("events_first", "event log page"),
        ):
            add(f"{label} (warm)", s["pages"][page]["warm_s"], "read side")
    return pd.DataFrame(recs)


def plot(res: dict, path: Path) -> None:
    df = frame(res)
    chart = (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=alt.X("events:Q", scale=alt.Scale(type="log"), title="events in the log"),
            y=alt.Y("seconds:Q", scale=alt.Scale(type="log"), title="seconds"),
            color=alt.Color("what:N", title=None),
            strokeDash=alt.StrokeDash("kind:N", title=None),
            tooltip=["what", "events", "seconds"],
        )
        .properties(
            width=560,
            height=360,
            title="sipdash: cost against log size (8 teams × 12 months, fixed)",
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    chart.save(str(path), scale_factor=2)


def merge(results: list[dict]) -> dict:
    """Sizes from several result files (the first file wins for a size measured twice)."""
    out, seen = {"sizes": []}, set()
    for res in results:
        for s in res["sizes"]:
            if s["label"] not in seen:
                seen.add(s["label"])
                out["sizes"].append(s)
    out["sizes"].sort(key=lambda s: s["events"])
    return out


if __name__ == "__main__":
    # plot.py [results.json ...] [--out docs/performance-cost.png]
    args = sys.argv[1:]
    dst = ROOT / "docs/performance-cost.png"
    if "--out" in args:
        i = args.index("--out")
        dst = Path(args[i + 1])
        del args[i : i + 2]
    srcs = [Path(a) for a in args] or [ROOT / "bench/results/latest.json"]
    plot(merge([json.loads(p.read_text()) for p in srcs]), dst)
    print(dst)
