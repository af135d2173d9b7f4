"""The first look at each team × enabler on the Team page, timed as the server runs it.

    .venv/bin/python bench/first_views.py /tmp/10k.db
    for t in OLD NEW OLD NEW; do SIPDASH_TREE=$t .venv/bin/python bench/first_views.py 10k.db; done

``bench/interactions.py`` times the enabler toggle both ways, so half its samples are cached
views. This times only cold ones: on a copy of the database, the Team page (AppTest, in
process) visits every team, and for each picks every enabler but the first once, so every
timed run reads, judges, draws and converts a chart it has not drawn before (and builds
whatever else the page builds for it). Prints the median, min and max in ms and every sample
as JSON. ``SIPDASH_TREE=DIR`` times another source tree (a before/after: run the trees in
turn, as above, on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("SIPDASH_TREE") or Path(__file__).resolve().parents[1]).resolve()
sys.path.insert(0, str(ROOT))


def run(db_path: str) -> list[float]:
    """Seconds of each first view of a team × enabler (every team, every enabler but the
    one the page opens on)."""
    from interactions import served_copy
    from streamlit.testing.v1 import AppTest

    from events.elements import ELEMENTS

    work = Path(tempfile.mkdtemp(prefix="sipdash-first-views-"))
    try:
        _url, teams = served_copy(db_path, work)
        at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
        at.run()
        at.switch_page("app_pages/team.py").run()
        first, *others = ELEMENTS.measures
        samples = []
        for team in teams:
            at.selectbox(key="team").set_value(team).run()
            for measure in others:
                started = time.perf_counter()
                at.selectbox(key="measure").set_value(measure).run()
                samples.append(time.perf_counter() - started)
                if at.exception:
                    raise RuntimeError(f"the page failed: {at.exception}")
            at.selectbox(key="measure").set_value(first).run()
        return samples
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="a seeded, projected SQLite database (copied, never changed)")
    args = ap.parse_args()
    if not Path(args.db).is_file():
        ap.error(f"{args.db}: no such database file")
    samples = run(args.db)
    ms = [round(s * 1000, 1) for s in samples]
    print(json.dumps({"tree": str(ROOT), "db": args.db, "samples_ms": ms}))
    print(
        f"{len(ms)} first views: median {statistics.median(ms):.0f} ms "
        f"(min {min(ms):.0f}, max {max(ms):.0f}); tree {ROOT}"
    )


if __name__ == "__main__":
    main()
