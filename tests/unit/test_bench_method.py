"""The benchmark method (bench/method.py) and its tables (bench/report_md.py): interleaved
repetitions, medians with spread, ratios as medians of per-repetition ratios, every target
marked met or not met. No I/O: results are built in memory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import method
import report_md


def test_contenders_run_interleaved_a_b_a_b_not_all_of_one_then_the_other():
    calls: list[str] = []

    def make(name: str):
        def run() -> float:
            calls.append(name)
            return 1.0

        return run

    times = method.interleave({"A": make("A"), "B": make("B")}, reps=5)
    assert calls == ["A", "B"] * 5
    assert times == {"A": [1.0] * 5, "B": [1.0] * 5}


def test_a_spread_keeps_median_min_max_quartiles_and_every_sample():
    s = method.spread([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (3.0, 1.0, 5.0, 5)
    assert s["q1"] == 2.0 and s["q3"] == 4.0
    assert s["values"] == [5.0, 1.0, 3.0, 2.0, 4.0]


def test_a_ratio_is_the_median_of_per_repetition_ratios_not_a_ratio_of_medians():
    # a load spike in repetition 3 hit sipdash: per-repetition ratios are 2, 1, 10 → median 2
    peer, ours = [2.0, 4.0, 100.0], [1.0, 4.0, 10.0]
    r = method.ratio(peer, ours)
    assert r["median"] == 2.0 and r["min"] == 1.0 and r["max"] == 10.0
    assert method.spread(peer)["median"] / method.spread(ours)["median"] == 1.0


def test_unpaired_repetitions_are_refused():
    with pytest.raises(ValueError, match="unpaired"):
        method.ratio([1.0, 2.0], [1.0])


def test_a_spread_prints_as_median_with_min_max():
    assert method.fmt_spread(method.spread([0.9, 1.0, 1.3])) == "1.00 (0.90–1.30)"
    assert method.fmt_spread(None) == "–"


def _size(label: str, events: int, page_warm: float, ratio_vs_base: dict | None) -> dict:
    sp = method.spread
    page = {"warm_s": page_warm, "cold_s": page_warm, "warm_spread": sp([page_warm] * 5)}
    if ratio_vs_base:
        page["ratio_vs_base"] = ratio_vs_base
    return {
        "label": label,
        "events": events,
        "reps": 5,
        "append": {
            "events": events,
            "sipdash_s": sp([1.0, 1.1, 0.9, 1.0, 1.2]),
            "raw_s": sp([0.8, 0.9, 0.85, 0.8, 0.9]),
            "sipdash_eps": events,
            "ratio_vs_raw": method.ratio([0.8, 0.9, 0.85, 0.8, 0.9], [1.0, 1.1, 0.9, 1.0, 1.2]),
            "eventsourcing_skipped": "above --es-max 100,000",
        },
        "seed": {"seconds": 2.0, "eps": events / 2.0, "ratio_vs_bulk": 0.5 * events / events},
        "single_append": {
            "n": 1000,
            "sipdash_p50_ms": 1.0,
            "sipdash_p99_ms": 4.0,
            "raw_p50_ms": 0.5,
            "raw_p99_ms": 1.0,
            "p99_ratio": sp([4.0, 3.5, 4.5, 4.0, 5.0]),
        },
        "catch_up": {
            "us_per_event": 20.0,
            "us_per_event_spread": sp([20.0] * 5),
            "ratio_vs_raw_scan": sp([0.4, 0.45, 0.5, 0.35, 0.4]),
        },
        "raw_scan": {"us_per_event": 8.0, "work": "orjson payload-only scan"},
        "incremental_catch_up": {"us_per_event": 30.0},
        "audit_report": {"cold_s": 0.1, "warm_s": 0.05, "warm_spread": sp([0.05] * 5)},
        "pages": {"overview": page, "pick_team": dict(page), "peak_hwm_mb": 150.0},
    }


def test_the_tables_show_median_and_spread_and_say_met_or_not_met():
    ratio_10m = method.spread([1.2, 1.3, 1.1, 1.6, 1.2])
    res = {
        "method": {"reps": 5, "big_reps": 1, "pack_reps": 3, "peer_max": 1_000_000},
        "sizes": [_size("10k", 10_000, 0.1, None), _size("10m", 10_000_000, 0.12, ratio_10m)],
    }
    text = report_md.render(res)
    assert "1.20 (1.10–1.60) met" in text  # the page at 10M against 10k, with its spread
    assert "4.00 (3.50–5.00) **not met**" in text  # single append p99 ratio above 3
    assert "0.40 (0.35–0.50) **not met**" in text  # catch-up below 0.5× the raw scan
    assert "above --es-max 100,000" in text  # a peer not run says why, beside the figure
    assert "orjson payload-only scan" in text  # the peer's work is described
    assert "| pick_team |" in text  # a timing the pages worker adds gets its own column


def test_old_vs_new_flags_a_measure_slower_beyond_the_old_spread():
    def cmp(old: list[float], new: list[float]) -> dict:
        return {
            "old": method.spread(old),
            "new": method.spread(new),
            "ratio_new_over_old": method.ratio(new, old),
        }

    ov = {
        "old": {"commit": "75f4e0d" + "0" * 33},
        "new": {"commit": "abcdef1" + "0" * 33},
        "events": 100_000,
        "reps": 5,
        "measures": {
            "bulk_append_s": cmp([5.0, 5.2, 4.9, 5.1, 5.0], [5.1, 5.0, 5.2, 4.8, 5.0]),
            "catch_up_s": cmp([1.0, 1.1, 1.0, 1.05, 1.0], [2.0, 2.1, 1.9, 2.0, 2.2]),
            "pages_warm_s": {},
        },
    }
    lines = report_md.render_old_vs_new(ov).splitlines()
    bulk = next(x for x in lines if x.startswith("| bulk append"))
    catch = next(x for x in lines if x.startswith("| catch-up"))
    assert bulk.endswith("| no |") and catch.endswith("| **yes** |")


def test_a_hooked_benchmark_gets_only_the_arguments_it_declares(monkeypatch):
    import types

    import run_all

    seen: dict = {}
    fake = types.ModuleType("projection_bench")

    def run(url: str, reps: int) -> dict:
        seen.update(url=url, reps=reps)
        return {"ok": True}

    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "projection_bench", fake)
    errors: list[str] = []
    out = run_all.run_hook("projection", errors, url="sqlite:///x", reps=5, tmp="/t", pg=None)
    assert out == {"module": "projection_bench", "result": {"ok": True}}
    assert seen == {"url": "sqlite:///x", "reps": 5} and errors == []


def test_a_hooked_benchmark_that_crashes_is_recorded_not_lost(monkeypatch):
    import types

    import run_all

    fake = types.ModuleType("interactions")

    def run() -> dict:
        raise RuntimeError("boom")

    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "interactions", fake)
    errors: list[str] = []
    out = run_all.run_hook("interactions", errors)
    assert (
        out is not None
        and "boom" in out["error"]
        and errors == ["interactions: RuntimeError('boom')"]
    )
