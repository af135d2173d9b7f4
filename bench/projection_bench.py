"""Projection catch-up and rebuild against a like-for-like raw scan (issue #19).

The peer (one per backend) does the work the projector cannot avoid, with the same libraries
and batch size, and nothing the projector does not:

* **scan**: the events table in position order, in batches of 50,000 by keyset
  (``WHERE position > ? ORDER BY position LIMIT 50000``, the projector's batch), reading
  ``position, type, schema_version, payload`` — SQLite with the stdlib ``sqlite3`` module,
  PostgreSQL with raw ``psycopg`` (no SQLAlchemy on either);
* **decode**: every payload with ``orjson.loads`` (payload only: the projector decodes
  metadata for only the few team-level types, the peer for none);
* **fold**: the case-note census in Python dicts — a ``ConsultationHeld`` opens a note
  (team, month of ``occurred_on``) and counts it; ``AgendaSet`` / ``GoalAgreed`` /
  ``FollowUpArranged`` / ``ElementRetracted`` / ``ElementNotApplicable`` move that note's element
  between yes / no / not applicable and the per team × month numerators and not-applicable
  exclusions of the element and of all three follow. Every other event is decoded and skipped.

What the peer does *not* do, and the projector does: write anything (rm_case_notes, one
rm_element_facts row per element event, the census and reach aggregates per recorded day, the
team, clinician, round, review and survey tables, the checkpoint), keep the late-documentation
(orphan) bookkeeping, apply upcasters, or commit. So a ratio of 0.5 means sipdash does all of
that for at most twice the peer's time.

Method: the projector is timed twice per repetition — ``catch_up`` from empty read models (the
read models are emptied untimed first) and ``rebuild`` (emptying included, as a user meets it) —
interleaved with the peer (peer, catch-up, peer, rebuild, …) for ``reps`` repetitions, each
measure timed inside a fresh process (``bench/projection_worker.py``). Reported:
medians with the min–max spread; ratio = peer median / sipdash median (≥ 0.5: sipdash takes at
most twice as long), and the spread of the per-repetition ratios.

``python bench/projection_bench.py URL_OR_PATH [--reps N] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "bench")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from projection_worker import fresh  # noqa: E402

from audit.projections import Projector  # noqa: E402
from events import EventStore  # noqa: E402
from events.db import is_sqlite, normalise_url, sqlite_path  # noqa: E402

BATCH = 50_000
_ELEMENT_OF = {"AgendaSet": 0, "GoalAgreed": 1, "FollowUpArranged": 2}
_ELEMENT_INDEX = {"agenda_setting": 0, "goal_setting": 1, "follow_up": 2}
_STATE_OF = {"ElementRetracted": (False, False), "ElementNotApplicable": (False, True)}


def _fold(batches: Any) -> dict[tuple[str, str], list[int]]:
    """The peer's fold: per (team, month) [yes per element, all three yes, notes, not applicable
    per element, any not applicable]."""
    loads = orjson.loads
    notes: dict[str, list] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    element_of = _ELEMENT_OF
    state_of = _STATE_OF
    for rows in batches:
        for _pos, typ, _sver, payload in rows:
            data = loads(payload)
            if typ == "ConsultationHeld":
                cid = data["consultation_id"]
                if cid in notes:
                    continue
                key = (data["team_id"], data["occurred_on"][:7])
                notes[cid] = [key, False, False, False, False, False, False]
                sums = counts.get(key)
                if sums is None:
                    sums = counts[key] = [0] * 9
                sums[4] += 1
                continue
            index = element_of.get(typ)
            state = state_of.get(typ)
            if index is None and state is None:
                continue
            note = notes.get(data["consultation_id"])
            if note is None:
                continue
            if index is None:
                index = _ELEMENT_INDEX[data["element"]]
                documented, na = state
            else:
                documented, na = True, False
            if note[1 + index] == documented and note[4 + index] == na:
                continue
            was_all = note[1] and note[2] and note[3]
            was_na = note[4] or note[5] or note[6]
            sums = counts[note[0]]
            sums[index] += int(documented) - int(note[1 + index])
            sums[5 + index] += int(na) - int(note[4 + index])
            note[1 + index] = documented
            note[4 + index] = na
            sums[3] += int(note[1] and note[2] and note[3]) - int(was_all)
            sums[8] += int(note[4] or note[5] or note[6]) - int(was_na)
    return counts


def _sqlite_batches(path: str) -> Any:
    conn = sqlite3.connect(path)
    try:
        after = 0
        while True:
            rows = conn.execute(
                "SELECT position, type, schema_version, payload FROM events "
                "WHERE position > ? ORDER BY position LIMIT ?",
                (after, BATCH),
            ).fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]
    finally:
        conn.close()


def _pg_batches(url: str) -> Any:
    import psycopg

    conninfo = normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn:
        after = 0
        while True:
            rows = conn.execute(
                "SELECT position, type, schema_version, payload FROM events "
                "WHERE position > %s ORDER BY position LIMIT %s",
                (after, BATCH),
            ).fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]


def peer(url: str) -> int:
    """The like-for-like raw scan-decode-fold of the whole log; returns the events scanned."""
    n = 0

    def counted(batches: Any) -> Any:
        nonlocal n
        for rows in batches:
            n += len(rows)
            yield rows

    if is_sqlite(url):
        path = sqlite_path(url)
        if path is None:
            raise ValueError("the projection benchmark needs a SQLite file, not :memory:")
        _fold(counted(_sqlite_batches(path)))
    else:
        _fold(counted(_pg_batches(url)))
    return n


def _summary(times: list[float], events: int) -> dict:
    med = statistics.median(times)
    return {
        "median_s": med,
        "min_s": min(times),
        "max_s": max(times),
        "us_per_event": med / events * 1e6 if events else None,
        "times_s": times,
    }


def run(db_url_or_path: str | Path | None = None, reps: int = 5, *, url: str | None = None) -> dict:
    """Time the peer, catch-up from empty and rebuild, interleaved ``reps`` times, on an
    already seeded database (SQLite path or URL, or a PostgreSQL URL; ``url=`` is the same
    argument by the name ``run_all``'s hook passes). Leaves the read models fully built."""
    target = db_url_or_path if db_url_or_path is not None else url
    if target is None:
        raise TypeError("run() needs a database: a SQLite path or a database URL")
    url = str(target)
    if "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    url = normalise_url(url)
    store = EventStore(url)
    proj = Projector(store)
    proj.ensure_schema()
    peer_t: list[float] = []
    cu_t: list[float] = []
    rb_t: list[float] = []
    events = applied = 0
    try:
        for _ in range(reps):  # each measure timed inside a fresh process (projection_worker)
            t, events = fresh("peer", url)
            peer_t.append(t)
            proj.empty()  # untimed: catch-up starts from position 0
            t, applied = fresh("catch_up", url)
            cu_t.append(t)
            t, _ = fresh("peer", url)
            peer_t.append(t)
            t, _ = fresh("rebuild", url)
            rb_t.append(t)
    finally:
        store.dispose()
    if applied != events:
        raise RuntimeError(f"the projector applied {applied} events, the peer scanned {events}")
    peer_med = statistics.median(peer_t)
    out: dict = {
        "backend": "sqlite" if is_sqlite(url) else "postgresql",
        "events": events,
        "reps": reps,
        "peer": _summary(peer_t, events),
        "catch_up": _summary(cu_t, events),
        "rebuild": _summary(rb_t, events),
    }
    for name, times in (("catch_up", cu_t), ("rebuild", rb_t)):
        # the peer runs just before each sipdash run: pair them for the per-repetition spread
        pairs = peer_t[0::2] if name == "catch_up" else peer_t[1::2]
        per_rep = [p / s for p, s in zip(pairs, times, strict=True)]
        out[name]["ratio_vs_peer"] = peer_med / statistics.median(times)
        out[name]["ratio_min"] = min(per_rep)
        out[name]["ratio_max"] = max(per_rep)
    return out


def _line(name: str, s: dict) -> str:
    text = (
        f"{name:9} median {s['median_s']:.3f} s ({s['min_s']:.3f}–{s['max_s']:.3f}), "
        f"{s['us_per_event']:.2f} µs/event"
    )
    if "ratio_vs_peer" in s:
        text += f", ratio {s['ratio_vs_peer']:.2f} ({s['ratio_min']:.2f}–{s['ratio_max']:.2f})"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="a seeded SQLite file or database URL")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    res = run(args.db, args.reps)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"{res['backend']}: {res['events']} events, {res['reps']} interleaved repetitions")
    for name in ("peer", "catch_up", "rebuild"):
        print(_line(name, res[name]))


if __name__ == "__main__":
    main()
