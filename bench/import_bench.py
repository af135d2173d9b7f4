"""CSV import (parse, validate, pseudonymise, append) vs raw sqlite3 of the resulting events.

``Importer.import_consultations`` only appends; it does not fold the read models (the
``sipdash import`` command's wall time with the fold is measured by ``import_cli_bench``).
"""

from __future__ import annotations

import io
import json
import random
from datetime import date
from pathlib import Path

from benchlib import raw_append, raw_create_table, remove_db, timed
from method import REPS, interleave, ratio, spread

from audit.imports import CONSULTATION_COLUMNS, Importer
from audit.projections import Projector
from events import EventStore
from events.pseudonym import DEMO_KEY, PatientRegistry

#: what each side does, stated beside the figures
WORK = (
    "sipdash: Importer.import_consultations of the CSV bytes (parse, validate, pseudonymise, "
    "register teams, append in one transaction; read models not folded); raw: sqlite3 "
    "executemany of the resulting events (canonical JSON, chain, same table created before "
    "the timing), no validation"
)


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


def import_compare(tmp: Path, target_events: int, reps: int = REPS) -> dict:
    """The import and its raw peer interleaved ``reps`` times, each into a fresh database."""
    rows = max(100, round(target_events / 2.8))
    data = make_csv(rows)
    path = tmp / "import_sip.db"
    raw_path = tmp / "import_raw.db"
    state: dict = {}

    def sip() -> float:
        remove_db(path)
        store = EventStore(f"sqlite:///{path}")
        store.create_schema()
        registry = PatientRegistry(store.engine, DEMO_KEY)
        projector = Projector(store)
        projector.ensure_schema()
        imp = Importer(store, registry, demo_key=True, projector=projector, today=date(2025, 1, 1))
        t, result = timed(lambda: imp.import_consultations(data, register_teams=True))
        if "items" not in state:
            state["items"] = [
                (r[1], r[2], r[4], int(r[5]), r[6], None, json.loads(r[8]), r[9])
                for r in store.read_rows(batch_size=20_000)
            ]
        state["appended"] = result.appended
        store.dispose()
        remove_db(path)
        return t

    def raw() -> float:
        remove_db(raw_path)
        raw_create_table(raw_path)
        t, n = timed(lambda: raw_append(raw_path, state["items"], create=False))
        state["raw_n"] = n
        remove_db(raw_path)
        return t

    times = interleave({"sipdash": sip, "raw": raw}, reps)
    n = state["appended"]
    out = {
        "rows": rows,
        "events": n,
        "csv_bytes": len(data),
        "reps": reps,
        "work": WORK,
        "sipdash_s": spread(times["sipdash"]),
        "raw_s": spread(times["raw"]),
    }
    out["sipdash_eps"] = n / out["sipdash_s"]["median"]
    out["raw_eps"] = state["raw_n"] / out["raw_s"]["median"]
    out["ratio_vs_raw"] = ratio(times["raw"], times["sipdash"], per=n / state["raw_n"])
    return out
