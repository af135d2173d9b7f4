"""The decisions service: baselines, recalculations, targets and SPC settings, checked against
the partition rule before anything is appended.

Pages (and any other writer) call these instead of building the events themselves, so the rule
is enforced in one place:

- a recalculation or baseline may start the open last partition once it has 6 final points
  (its limits are marked provisional until 13);
- a closed partition (one followed by another) shorter than 13 final points is refused;
- a target is a proportion 0–1 in force from a month on; earlier months keep theirs.

Counting uses the team's final points for the measure as known now (provisional months and
gaps do not count), with the programme's minimum-points setting.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from events import EventStore, NewEvent
from events.types import (
    BaselineFixed,
    Event,
    LimitsRecalculated,
    SpcSettingsChanged,
    TargetSet,
)

from . import queries
from .judgement import Decisions, chart_args
from .measures import audit_measures
from .settings import PROGRAMME_STREAM, load_settings_from_engine
from .spc import partitions

E = TypeVar("E", bound=Event)

OPEN_PARTITION_MINIMUM = 6


class DecisionRefused(ValueError):
    """A decision the partition rule (or the event's own validation) does not allow."""


def check_partitions(
    periods: list[str],
    decisions: Decisions,
    *,
    minimum_points: int = 13,
    changed: str | None = None,
) -> None:
    """Refuse partitions the rule forbids. ``changed`` (a period) limits the check to the
    partitions that touch the decision being made, so an old decision is never re-litigated."""
    if not periods:
        raise DecisionRefused("there are no final audited months for this measure yet")
    args = chart_args(periods, decisions)
    parts = partitions(periods, **args)
    for i, (calc, apply) in enumerate(parts):
        first, last = periods[apply[0]], periods[apply[-1]]
        if changed is not None and not _touches(periods, calc, apply, parts, i, changed):
            continue
        n = len(calc)
        basis = f"{periods[calc[0]]} to {periods[calc[-1]]}"
        if i == len(parts) - 1:
            if n < OPEN_PARTITION_MINIMUM:
                raise DecisionRefused(
                    f"the last partition ({first} to {last}) would have {n} final month"
                    f"{'s' if n != 1 else ''} behind its limits ({basis}); it needs at least "
                    f"{OPEN_PARTITION_MINIMUM} (limits are marked provisional until "
                    f"{minimum_points})"
                )
        elif n < minimum_points:
            raise DecisionRefused(
                f"the partition {first} to {last} would be closed with {n} final month"
                f"{'s' if n != 1 else ''} behind its limits ({basis}); a closed partition "
                f"needs at least {minimum_points}"
            )


def _touches(periods, calc, apply, parts, i, changed) -> bool:
    start = periods[apply[0]]
    nxt = periods[parts[i + 1][1][0]] if i + 1 < len(parts) else None
    # the partition that starts at the decision, and the one it closes
    return start >= changed or (nxt is not None and nxt >= changed) or periods[calc[-1]] >= changed


def _final_periods(store: EventStore, team_id: str, measure: str) -> list[str]:
    m = audit_measures(store.engine, team=team_id)
    m = m[(m["measure"] == measure) & (m["denominator"] > 0) & ~m["provisional"]]
    return sorted(m["period"].tolist())


def _decisions(store: EventStore, team_id: str, measure: str) -> Decisions:
    return Decisions.from_settings(queries.limits_settings(store.engine, team_id, measure))


def _append(
    store: EventStore, projector, event: Event, actor: str, source: str, event_id: str | None = None
) -> None:
    new = NewEvent(event, event_id=event_id) if event_id else NewEvent(event)
    store.append([new], metadata={"actor": actor, "source": source})
    if projector is not None:
        projector.catch_up()


def fix_baseline(
    store: EventStore,
    team_id: str,
    measure: str,
    period: str,
    reason: str,
    *,
    actor: str,
    projector=None,
    source: str = "dashboard",
    event_id: str | None = None,
) -> BaselineFixed:
    """Limits from the final months up to and including ``period``, carried forward."""
    event = _event(BaselineFixed, team_id=team_id, measure=measure, period=period, reason=reason)
    periods = _final_periods(store, team_id, measure)
    decisions = replace(_decisions(store, team_id, measure), baseline_end=period)
    settings = load_settings_from_engine(store.engine)
    check_partitions(periods, decisions, minimum_points=settings.minimum_points, changed=period)
    if not any(p <= period for p in periods):
        raise DecisionRefused(f"no final audited month at or before {period}: nothing to fix")
    _append(store, projector, event, actor, source, event_id)
    return event


def recalculate_limits(
    store: EventStore,
    team_id: str,
    measure: str,
    period: str,
    reason: str,
    *,
    actor: str,
    projector=None,
    source: str = "dashboard",
    event_id: str | None = None,
) -> LimitsRecalculated:
    """New limits from ``period`` on (after a sustained, understood change)."""
    event = _event(
        LimitsRecalculated, team_id=team_id, measure=measure, period=period, reason=reason
    )
    periods = _final_periods(store, team_id, measure)
    current = _decisions(store, team_id, measure)
    decisions = replace(current, recalculate_at=(*current.recalculate_at, period))
    settings = load_settings_from_engine(store.engine)
    if periods and period <= periods[0]:
        raise DecisionRefused(
            f"{period} is not after the first final month ({periods[0]}): nothing to recalculate"
        )
    check_partitions(periods, decisions, minimum_points=settings.minimum_points, changed=period)
    _append(store, projector, event, actor, source, event_id)
    return event


def set_target(
    store: EventStore,
    team_id: str,
    measure: str,
    target: float,
    from_period: str,
    reason: str,
    *,
    actor: str,
    projector=None,
    source: str = "dashboard",
    event_id: str | None = None,
) -> TargetSet:
    """A target (a proportion 0–1) in force from ``from_period``; earlier months keep theirs."""
    if not 0.0 <= float(target) <= 1.0:
        raise DecisionRefused(
            f"a target is a proportion between 0 and 1 (0.8 for 80%), got {target:g}"
        )
    event = _event(
        TargetSet,
        team_id=team_id,
        measure=measure,
        target=float(target),
        from_period=from_period,
        reason=reason,
    )
    _append(store, projector, event, actor, source, event_id)
    return event


def change_spc_settings(
    store: EventStore,
    *,
    actor: str,
    reason: str,
    projector=None,
    source: str = "dashboard",
    **values,
) -> SpcSettingsChanged:
    """A programme decision on the SPC settings (shift, trend, minimum points, small, kappa
    minimum, norm window); the values not given keep the ones in force."""
    current = load_settings_from_engine(store.engine)
    fields = {
        name: values.get(name, getattr(current, name))
        for name in (
            "shift_points",
            "trend_points",
            "minimum_points",
            "small_sample",
            "kappa_minimum_pairs",
            "norm_window",
            "two_of_three_counts_beyond_3sigma",
        )
    }
    unknown = set(values) - set(fields)
    if unknown:
        raise DecisionRefused(f"unknown SPC setting(s): {', '.join(sorted(unknown))}")
    event = _event(SpcSettingsChanged, reason=reason, **fields)
    assert event.stream_id == PROGRAMME_STREAM
    _append(store, projector, event, actor, source)
    return event


def _event(cls: type[E], **fields: Any) -> E:
    from pydantic import ValidationError

    reason = str(fields.get("reason", "")).strip()
    if cls is not SpcSettingsChanged and not reason:
        raise DecisionRefused("give a reason: why this decision, in a sentence")
    try:
        return cls(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        raise DecisionRefused(f"{cls.type}: {problems}") from None
