"""Seed one benchmark database in its own process: ``python bench/seed_db.py URL CONSULTATIONS
OUT.json``. ``run_all`` starts the largest size's seed this way at the beginning of the run,
so the one step that takes longest (generation + append of 10M events) overlaps the smaller
sizes on the machine's second core instead of adding to the run's wall time."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import append_bench as ab


def main() -> None:
    url, consultations, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    started = time.time()
    seconds, events = ab.seeding(url, consultations)
    out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "events": events,
                "started": time.strftime("%H:%M:%S", time.localtime(started)),
            }
        )
    )


if __name__ == "__main__":
    main()
