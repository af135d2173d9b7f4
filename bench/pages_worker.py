"""Run in a fresh process: each dashboard page's server-side work, cold then warm, and the
process's peak RSS. Prints one JSON line.

    .venv/bin/python bench/pages_worker.py sqlite:////tmp/x.db

``warm_s`` is the median of at least 3 repeated calls, and of as many as fit in 0.25 s (at
most 200): the event-log pages take well under a millisecond, where a median of 3 is mostly
scheduler noise. ``bench/old_vs_new.py`` runs THIS file against both trees
(``PYTHONPATH=TREE``, which is then left first on the path), so both are timed the same way;
a page whose module a tree lacks is left out (``missing``).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

if not os.environ.get("PYTHONPATH"):  # else: the tree old_vs_new.py points at
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit import queries, views
from events import EventStore
from events.db import make_engine

MEASURE = "all_three"
#: warm repetitions: at least WARM_MIN, then more until WARM_BUDGET_S is spent (at most WARM_MAX)
WARM_MIN, WARM_MAX, WARM_BUDGET_S = 3, 200, 0.25


def rss_mb() -> float:
    """getrusage's peak RSS. Caution: Linux carries ru_maxrss over fork + exec, so a child of
    a big parent reports at least the parent's peak at fork time; see :func:`hwm_mb`."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hwm_mb() -> float:
    """This process's own peak RSS (VmHWM of its address space, fresh after exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return rss_mb()


def main() -> None:
    url = sys.argv[1]
    probe = make_engine(url)
    team = queries.teams(probe)["team_id"].iloc[0]
    with probe.connect() as conn:
        period = conn.execute(
            text("SELECT MAX(period) FROM rm_reviews WHERE team_id = :team"), {"team": team}
        ).scalar_one()
    head = EventStore(url, engine=probe).head().position
    probe.dispose()
    rss_start = rss_mb()
    hwm_start = hwm_mb()

    def overview(engine) -> object:
        grid = views.overview(engine)
        return views.headlines(grid)

    def team_page(engine) -> object:
        chart = views.team_chart(engine, team, MEASURE)
        ms = queries.team_facts(engine, team, types=("MilestoneLogged",))
        notes = queries.sampled_notes(engine, team, period)
        return chart, ms, notes

    def compare(engine) -> object:
        return views.funnel(engine, MEASURE)

    def surveys_page(engine) -> object:
        """The team page in "Patient surveys"/"Both" mode and the triangulation table: reads of
        ``rm_surveys`` (the survey p-chart) and the latest complete quarter of both sources."""
        from audit import sources, triangulation

        chart = sources.survey_chart(engine, team, MEASURE)
        table = triangulation.triangulation(engine)
        return chart, table

    def reach_page(engine) -> object:
        """The Reach page's reads and lenses: per-team-month aggregates (teams × months ×
        clinicians or quintiles), never the log."""
        from audit import reach

        counts = reach.clinician_counts(engine)
        training = reach.training_records(engine)
        quintiles = reach.imd_counts(engine)
        cov = reach.coverage(counts, training)
        groups = reach.trained_vs_untrained(counts, training, MEASURE)
        summary = reach.before_after_summary(reach.before_after(counts, training, MEASURE))
        gaps = reach.quintile_gap(reach.quintile_rates(quintiles, MEASURE))
        return cov, groups, summary, gaps

    def log_first(engine) -> object:
        return list(EventStore(url, engine=engine).read_all(after=0, limit=50, batch_size=50))

    def log_later(engine) -> object:
        after = max(0, head - 1_000)
        return list(EventStore(url, engine=engine).read_all(after=after, limit=50, batch_size=50))

    out: dict = {"team_id": team, "period": period, "head": head}
    for name, fn in (
        ("overview", overview),
        ("team", team_page),
        ("compare", compare),
        ("surveys", surveys_page),
        ("reach", reach_page),
        ("events_first", log_first),
        ("events_later", log_later),
    ):
        engine = make_engine(url)  # a fresh engine: nothing pooled, nothing cached
        gc.collect()
        t = time.perf_counter()
        try:
            fn(engine)
        except ImportError as exc:  # a page this tree does not have (old_vs_new.py)
            engine.dispose()
            out.setdefault("missing", {})[name] = str(exc)
            continue
        cold = time.perf_counter() - t
        warm: list[float] = []
        spent = 0.0
        while len(warm) < WARM_MIN or (spent < WARM_BUDGET_S and len(warm) < WARM_MAX):
            t = time.perf_counter()
            fn(engine)
            warm.append(time.perf_counter() - t)
            spent += warm[-1]
        engine.dispose()
        out[name] = {"cold_s": cold, "warm_s": statistics.median(warm), "warm_n": len(warm)}
    out["rss_after_imports_mb"] = rss_start
    out["peak_rss_mb"] = rss_mb()
    out["hwm_after_imports_mb"] = hwm_start
    out["peak_hwm_mb"] = hwm_mb()
    out["tree"] = str(Path(views.__file__).resolve().parents[1])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
