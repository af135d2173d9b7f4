"""One builder of a small clinic's event log for the reach tests: teams and their clinicians,
consultations over several months, training part-way through, and each test's own element
events (some recorded late, some before their consultation)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta

from events import NewEvent
from events.types import (
    ClinicianRegistered,
    ClinicianTrained,
    ConsultationHeld,
    Event,
    TeamRegistered,
)

#: (when it is recorded, the event): an element event to record at or after its note
Later = tuple[datetime, Event]


def clinic_log(
    rng: random.Random,
    *,
    start: datetime,
    clinicians: dict[str, list[str]],
    consultations: int,
    step: Callable[[random.Random], timedelta],
    quintiles: Sequence[int | None],
    early: Callable[[int, str, date], Event | None],
    elements: Callable[[random.Random, str, date, datetime], Iterable[Later]],
) -> list[NewEvent]:
    """Consultation ``i`` (of team ``(i + 1) % len(clinicians)``: with two teams the first
    takes the odd ones) is recorded ``step(rng)`` after the one before; ``early(i, cid,
    day)`` may give an event recorded just before it, ``elements(rng, cid, day, clock)`` its
    element events, each released into the log once the clock reaches its time. The first
    clinician is trained after a third of the consultations."""
    teams = list(clinicians)
    clock = start
    out = [
        NewEvent(TeamRegistered(team_id=t, name=t, site="S", service="X"), recorded_at=clock)
        for t in teams
    ]
    out += [
        NewEvent(ClinicianRegistered(clinician_id=c, team_id=t, role="nurse"), recorded_at=clock)
        for t, ids in clinicians.items()
        for c in ids
    ]
    late: list[Later] = []
    for i in range(consultations):
        clock += step(rng)
        ready = sorted((x for x in late if x[0] <= clock), key=lambda x: x[0])
        late = [x for x in late if x[0] > clock]
        out.extend(NewEvent(ev, recorded_at=when) for when, ev in ready)
        if i == consultations // 3:
            first = teams[0]
            trained = ClinicianTrained(
                clinician_id=clinicians[first][0], team_id=first, on=clock.date()
            )
            out.append(NewEvent(trained, recorded_at=clock))
        team = teams[(i + 1) % len(teams)]
        cid = f"c{i}"
        day = clock.date()
        before = early(i, cid, day)
        if before is not None:
            out.append(NewEvent(before, recorded_at=clock))
        held = ConsultationHeld(
            consultation_id=cid,
            team_id=team,
            clinician_id=rng.choice(clinicians[team]),
            patient_ref="p_" + f"{i:032x}",
            occurred_on=day,
            contact="video",
            imd_quintile=rng.choice(quintiles),
        )
        out.append(NewEvent(held, recorded_at=clock))
        late.extend(elements(rng, cid, day, clock))
    for when, ev in sorted(late, key=lambda x: x[0]):
        out.append(NewEvent(ev, recorded_at=max(when, clock)))
    return out
