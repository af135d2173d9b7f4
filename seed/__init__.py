"""Deterministic synthetic programme data for demos and benchmarks.

>>> events = generate("demo", seed=42)          # an iterator of NewEvent, in recorded_at order
>>> run_seed(store, "demo", seed=42)            # appends them into an empty store

The same scenario and seed always give the same events (ids, payloads and recorded_at), so
the same head hash. Every number that shapes the data lives in ``seed/params.toml``.
Organisations are marked "(synthetic)"; the append metadata carries ``"synthetic": true``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from events.elements import ELEMENTS, Registry
from events.store import AppendResult, EventStore, NewEvent

from .generator import Generator
from .params import load_params
from .plan import SCENARIOS, Plan, build_plan

__all__ = [
    "SCENARIOS",
    "SeedRefused",
    "build_plan",
    "estimate_events",
    "generate",
    "run_seed",
    "seed_metadata",
]


class SeedRefused(Exception):
    """The database is not empty: seeding only writes into an empty database."""


def generate(
    scenario: str = "demo",
    seed: int = 42,
    teams: int | None = None,
    months: int | None = None,
    consultations: int | None = None,
    clinicians: int | None = None,
    elements: Registry = ELEMENTS,
) -> Iterator[NewEvent]:
    """Stream the scenario's events in ``recorded_at`` order (constant memory per month).

    ``teams`` (large scenario only), ``months`` and ``consultations`` (the total over the
    whole programme) override the scenario's defaults; ``clinicians`` fixes each team's
    starting staff (benchmarks hold it constant while the log grows). Raises ``ValueError`` at once for bad
    arguments. ``elements``: the programme's enablers (the default makes the same log as ever).
    """
    plan = build_plan(scenario, seed, teams, months, consultations, clinicians, elements)
    return Generator(plan).events()


def estimate_events(
    scenario: str = "demo",
    seed: int = 42,
    teams: int | None = None,
    months: int | None = None,
    consultations: int | None = None,
    clinicians: int | None = None,
    elements: Registry = ELEMENTS,
) -> int:
    """About how many events :func:`generate` yields (for a progress bar; within a few %)."""
    return _estimate(build_plan(scenario, seed, teams, months, consultations, clinicians, elements))


def seed_metadata(scenario: str, seed: int) -> dict[str, object]:
    return {"actor": "sipdash-seed", "source": f"seed:{scenario}:{seed}", "synthetic": True}


def run_seed(
    store: EventStore,
    scenario: str = "demo",
    seed: int = 42,
    teams: int | None = None,
    months: int | None = None,
    consultations: int | None = None,
    progress: Callable[[int], None] | None = None,
    clinicians: int | None = None,
    elements: Registry = ELEMENTS,
) -> AppendResult:
    """Generate the scenario and append it through the store's bulk path.

    Refuses a non-empty store with :class:`SeedRefused` (nothing is appended).
    """
    head = store.head()
    if head.position:
        raise SeedRefused(
            f"the database already holds {head.position} events; "
            "sipdash seed only writes into an empty database"
        )
    events = generate(scenario, seed, teams, months, consultations, clinicians, elements)
    return store.append_many(
        events,
        history=True,
        progress=progress,
        metadata=seed_metadata(scenario, seed),
    )


def _estimate(plan: Plan) -> int:
    from .surveys import expected_returns

    return _estimate_notes(plan) + expected_returns(plan)


def _estimate_notes(plan: Plan) -> int:
    p = load_params()
    cal = plan.calendar
    staff, doc, audit = p["staff"], p["documentation"], p["audit"]
    discharged = float(p["consultations"]["discharged_share"])
    retract = float(doc["retracted_share"])
    sample = int(audit["sample_size"])
    second = max(1, round(float(audit["second_review_share"]) * sample + 1e-9))
    total = 0.0
    for tp in plan.teams:
        n_clin = len(tp.clinicians)
        total += 1 + n_clin  # registered team and staff
        total += n_clin  # ADP training
        starters = float(staff["monthly_leaving_rate"]) * n_clin * max(0, cal.months - 1)
        starters += tp.key_staff_leave_share * n_clin if tp.regress is not None else 0
        total += starters * 2  # registered and (mostly) trained
        total += sum(1 for ms in tp.milestones if ms[0] < cal.months)
        if tp.sip_start < cal.months:
            total += 2 * len(plan.elements.measures)  # baseline and target for each measure
        for m in range(cal.months):
            n = tp.volumes[m]
            if not n:
                continue
            trained = 1.0 if m > tp.adp else 0.0
            t = m + 0.5
            elements = sum(tp.rate(e, t, trained) for e in range(len(plan.elements)))
            elements -= sum(
                discharged * tp.rate(e, t, trained)
                for e in plan.elements.not_applicable_when_discharged
            )
            total += n * (1 + elements * (1 + retract))
            total += 1 + min(n, sample) + (second if n else 0) + 1  # the audit round
    return round(total)
