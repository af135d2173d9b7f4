"""Several processes append at once while a reader follows ``position > checkpoint``."""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import date

from events import EventStore, NewEvent, VersionConflict
from events.types import ConsultationHeld, TeamRegistered

WRITERS = 4
BATCHES = 15
PER_BATCH = 5


def _writer(url: str, worker: int, start: mp.Event) -> None:
    store = EventStore(url)
    start.wait()
    for b in range(BATCHES):
        store.append(
            [
                NewEvent(
                    ConsultationHeld(
                        consultation_id=f"w{worker}-b{b}-{i}",
                        team_id="msk1",
                        clinician_id=f"k{worker}",
                        patient_ref="p_" + "ef" * 16,
                        occurred_on=date(2024, 5, 1),
                        contact="video",
                    )
                )
                for i in range(PER_BATCH)
            ]
        )
        # everyone also fights over one stream: losers get a retryable conflict and retry
        while True:
            version = store.stream_version("team-shared")
            try:
                store.append(
                    [
                        NewEvent(
                            TeamRegistered(
                                team_id="shared", name=f"w{worker}-{b}", site="S", service="COPD"
                            )
                        )
                    ],
                    expected_version=version,
                )
                break
            except VersionConflict as exc:
                assert exc.retryable
    store.dispose()


def test_concurrent_writers_lose_nothing_and_a_follower_sees_every_event_once(db_url: str) -> None:
    store = EventStore(db_url)
    store.create_schema()
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(db_url, w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    seen: list[int] = []
    ids: list[str] = []
    checkpoint = 0
    expected = WRITERS * BATCHES * (PER_BATCH + 1)
    deadline = time.monotonic() + 120
    while checkpoint < expected and time.monotonic() < deadline:
        for ev in store.read_all(after=checkpoint, batch_size=17):
            seen.append(ev.position)
            ids.append(ev.event_id)
            checkpoint = ev.position
        time.sleep(0.005)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(seen) == expected
    assert seen == list(range(1, expected + 1)), "a follower must see every position, in order"
    assert len(set(ids)) == expected
    versions = [e.stream_version for e in store.read_stream("team-shared")]
    assert versions == list(range(1, WRITERS * BATCHES + 1))
    assert store.verify().ok
    store.dispose()
