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
from datetime import date
from typing import Any, TypeVar

from events import DuplicateEventConflict, EventStore, NewEvent
from events.types import (
    BaselineFixed,
    CommentaryAdded,
    CommentaryWithdrawn,
    Event,
    LimitsRecalculated,
    MilestoneLogged,
    ReviewSignedOff,
    SpcSettingsChanged,
    TargetSet,
)

from . import queries
from .identifiers import check_fields
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
    reason = str(fields.get("reason", "")).strip()
    if cls is not SpcSettingsChanged and not reason:
        raise DecisionRefused("give a reason: why this decision, in a sentence")
    return _build(cls, **fields)


def _build(cls: type[E], **fields: Any) -> E:
    """The event, or :class:`DecisionRefused` naming each invalid field (never a traceback)."""
    from pydantic import ValidationError

    try:
        return cls(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        raise DecisionRefused(f"{cls.type}: {problems}") from None


# --- team facts that need no partition rule: milestones, commentary, sign-off ----------------
#
# Pages call these instead of building the events: every text field passes the identifier
# guard here (nothing appended can ever be erased), and invalid entries come back as
# DecisionRefused naming the field. ``event_id``: a form's submission id, so the same
# submission sent twice appends one event.


def _guarded(event: Event, *text_fields: str) -> Event:
    check_fields({name: getattr(event, name) for name in text_fields})
    return event


def log_milestone(
    store: EventStore,
    team_id: str,
    on: date,
    kind: str,
    title: str,
    *,
    actor: str,
    projector=None,
    source: str = "dashboard",
    event_id: str | None = None,
) -> MilestoneLogged:
    """Something that happened to a team (SIP start, training, a change idea, a PDSA cycle),
    shown on its charts and used by the culture-shift curve (``sip_start``)."""
    if not str(title).strip():
        raise DecisionRefused("give the milestone a title")
    event = _build(MilestoneLogged, team_id=team_id, on=on, kind=kind, title=str(title).strip())
    _append(store, projector, _guarded(event, "title"), actor, source, event_id)
    return event


def add_commentary(
    store: EventStore,
    team_id: str,
    period: str,
    text: str,
    author: str,
    *,
    actor: str,
    projector=None,
    source: str = "dashboard",
    event_id: str | None = None,
) -> CommentaryAdded:
    """A lead's commentary on a team's month (the pack prints the latest not withdrawn)."""
    if not str(text).strip():
        raise DecisionRefused("write the commentary first")
    if not str(author).strip():
        raise DecisionRefused("give the author's name")
    event = _build(
        CommentaryAdded,
        team_id=team_id,
        period=period,
        text=str(text).strip(),
        author=str(author).strip(),
    )
    _append(store, projector, _guarded(event, "text", "author"), actor, source, event_id)
    return event


def withdraw_commentary(
    store: EventStore,
    team_id: str,
    commentary_event_id: str,
    withdrawn_by: str,
    *,
    actor: str,
    reason: str = "",
    projector=None,
    source: str = "dashboard",
) -> CommentaryWithdrawn | None:
    """Take back a commentary of ``team_id`` (it stays in the log, marked withdrawn).

    Refused when the team has no such commentary; None (nothing appended) when it is already
    withdrawn, so a double click or a second person's click withdraws it once."""
    from .commentary import commentary
    from .imports import event_id as derived_id

    said = commentary(store.engine, team_id)
    mine = said[said["event_id"] == commentary_event_id]
    if mine.empty:
        raise DecisionRefused(f"team {team_id} has no such commentary to withdraw")
    if bool(mine["withdrawn"].iloc[0]):
        return None
    event = _build(
        CommentaryWithdrawn,
        team_id=team_id,
        period=str(mine["period"].iloc[0]),
        commentary_event_id=commentary_event_id,
        withdrawn_by=str(withdrawn_by).strip() or actor,
        reason=reason,
    )
    _guarded(event, "withdrawn_by", "reason")
    try:
        # one withdrawal per commentary, however often it is asked for
        _append(store, projector, event, actor, source, derived_id("withdraw", commentary_event_id))
    except DuplicateEventConflict:  # withdrawn a moment ago by someone else
        return None
    return event


def sign_off(
    store: EventStore,
    team_id: str,
    period: str,
    signed_off_by: str,
    *,
    viewed_head: str | None,
    actor: str,
    projector=None,
    source: str = "dashboard",
    event_id: str | None = None,
) -> ReviewSignedOff:
    """A senior leader's sign-off of a team's month (``team_id`` = :data:`PROGRAMME` for the
    programme review), recording the log head the signer was viewing."""
    if not str(signed_off_by).strip():
        raise DecisionRefused("give the name of the person signing off")
    event = _build(
        ReviewSignedOff,
        team_id=team_id,
        period=period,
        signed_off_by=str(signed_off_by).strip(),
        viewed_head=viewed_head or None,
    )
    _append(store, projector, _guarded(event, "signed_off_by"), actor, source, event_id)
    return event
