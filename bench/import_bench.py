"""CSV import (validation + pseudonymisation + append + projection) vs raw sqlite3."""

from __future__ import annotations

import io
import json
import random
import time
from datetime import date
from pathlib import Path

from benchlib import raw_append, remove_db, timed

from audit.imports import CONSULTATION_COLUMNS, Importer
from audit.projections import Projector
from events import EventStore
from events.pseudonym import DEMO_KEY, PatientRegistry


class _TimedProjector(Projector):
    """Records how long the import's own projection catch-ups take."""

    spent = 0.0

    def catch_up(self, **kw) -> int:
        t = time.perf_counter()
        try:
            return super().catch_up(**kw)
        finally:
            self.spent += time.perf_counter() - t


def make_csv(rows: int, teams: int = 8, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    out = io.StringIO()
    out.write(",".join(CONSULTATION_COLUMNS) + "\n")
    for i in range(rows):
        t = i % teams
        day = date(2024, 1 + i % 12, 1 + i % 28).isoformat()
        yn = ["yes" if rnd.random() < 0.6 else "no" for _ in range(3)]
        out.write(
            f"c{i:08d},team{t:02d},k{t:02d}{i % 12:02d},P{i % (rows // 3 + 1):07d},{day},"
            f"{('face_to_face', 'telephone', 'video')[i % 3]},{yn[0]},{yn[1]},{yn[2]}\n"
        )
    return out.getvalue().encode()


def import_compare(tmp: Path, target_events: int) -> dict:
    rows = max(100, round(target_events / 2.8))
    data = make_csv(rows)
    path = tmp / "import_sip.db"
    store = EventStore(f"sqlite:///{path}")
    store.create_schema()
    proj = _TimedProjector(store)
    proj.ensure_schema()
    registry = PatientRegistry(store.engine, DEMO_KEY)
    imp = Importer(store, registry, demo_key=True, projector=proj, today=date(2025, 1, 1))
    t, result = timed(lambda: imp.import_consultations(data, register_teams=True))
    items = [
        (r[1], r[2], r[4], int(r[5]), r[6], None, json.loads(r[8]), r[9])
        for r in store.read_rows(batch_size=20_000)
    ]
    store.dispose()
    remove_db(path)
    raw_path = tmp / "import_raw.db"
    t_raw, n = timed(lambda: raw_append(raw_path, items))
    remove_db(raw_path)
    out = {
        "rows": rows,
        "events": result.appended,
        "csv_bytes": len(data),
        "sipdash_s": t,
        "sipdash_projection_s": proj.spent,
        "raw_s": t_raw,
    }
    out["sipdash_eps"] = result.appended / t
    out["raw_eps"] = n / t_raw
    out["ratio_vs_raw"] = t_raw / t
    out["ratio_vs_raw_excl_projection"] = t_raw / (t - proj.spent)
    return out
