"""One timed import in a fresh process of the tree on ``PYTHONPATH`` (``survey_bench``'s
worker): nothing of the bench's own tree is imported, so an ``--old-tree`` run measures the
old tree's code. Prints ``{"seconds": …, "appended": …}``: the import and the catch-up the CLI
does after it (interpreter start-up and module imports are not timed).

    PYTHONPATH=TREE python bench/import_worker.py surveys|consult FILE.csv NEW.db
"""

from __future__ import annotations

import gc
import json
import sys
import time
from datetime import date
from pathlib import Path


def main() -> None:
    kind, csv_path, db = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    from audit.imports import Importer
    from audit.projections import Projector
    from audit.survey_imports import SurveyImporter
    from events import EventStore
    from events.pseudonym import DEMO_KEY, PatientRegistry

    store = EventStore(f"sqlite:///{db}")
    store.create_schema()
    proj = Projector(store)
    proj.ensure_schema()
    data = csv_path.read_bytes()
    today = date(2025, 1, 1)
    gc.collect()
    t = time.perf_counter()
    if kind == "surveys":
        result = SurveyImporter(store, today=today).import_surveys(data, register_teams=True)
    else:
        registry = PatientRegistry(store.engine, DEMO_KEY)
        result = Importer(
            store, registry, demo_key=True, projector=proj, today=today
        ).import_consultations(data, register_teams=True)
    proj.catch_up()
    seconds = time.perf_counter() - t
    store.dispose()
    print(json.dumps({"seconds": seconds, "appended": result.appended}))


if __name__ == "__main__":
    main()
