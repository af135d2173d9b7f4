"""Audit rounds: open a reproducible sample, record reviews, close — every step an event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from events import EventStore, NewEvent, VersionConflict
from events.elements import Registry
from events.types import (
    AuditRoundClosed,
    AuditRoundOpened,
    catalogue,
)

from .projections import Projector
from .queries import (  # the round reads live with the other read-model queries
    RoundInfo,
    consultations_in,
    documented_findings,
    event_stored,
    round_by_id,
    round_reviews,
    rounds_for,
    team_ids,
)
from .sampling import (
    DEFAULT_SAMPLE_SIZE,
    DEFAULT_SECOND_REVIEW_SHARE,
    draw_sample,
)

AUTO_REVIEWER = "auto-reviewer"


class AuditError(Exception):
    """A request the audit cannot carry out; the message says why and what to do."""


class ReviewRefused(AuditError):
    """A review the rules do not allow (see :func:`check_review`)."""


class RoundExists(AuditError):
    """The team-month already has a round, and only a first one was asked for (``round``:
    the latest, perhaps opened by another process a moment ago)."""

    def __init__(self, round: RoundInfo) -> None:
        super().__init__(f"round {round.round_id} already exists")
        self.round = round


@dataclass(frozen=True)
class RoundProgress:
    round: RoundInfo
    first_done: int
    second_done: int
    second_due: int

    @property
    def complete(self) -> bool:
        return self.first_done >= len(self.round.sampled) and self.second_done >= self.second_due


@dataclass(frozen=True)
class RunOutcome:
    team_id: str
    period: str
    round_id: str
    status: str  # "opened", "exists", "empty"
    sampled: int


def round_progress(engine: Engine, round_id: str) -> RoundProgress:
    info = round_by_id(engine, round_id)
    if info is None:
        raise AuditError(f"no audit round {round_id}")
    done = round_reviews(engine, round_id)
    first = {r["consultation_id"] for r in done if not r["second_review"]}
    second = {r["consultation_id"] for r in done if r["second_review"]}
    return RoundProgress(info, len(first), len(second), len(info.second_review))


def check_review(
    info: RoundInfo,
    consultation_id: str,
    reviewer_id: str,
    second_review: bool,
    reviewers: dict[tuple[str, bool], set[str]],
) -> str | None:
    """Why this review may not enter the log, or None. The one rule for every way a review
    enters (worklist form, ``import reviews``, the service API), so kappa is never inflated:
    only in an open round, only of a sampled note; a second review only of a note chosen for
    one, and never by a person who reviewed the same note the other way (first vs second).

    ``reviewers`` maps ``(consultation_id, second_review)`` to who already reviewed it so."""
    if info.closed_at is not None:
        return f"round {info.round_id} is closed; open a new round to review again"
    if consultation_id not in info.sampled:
        return f"consultation {consultation_id} is not in the sample of {info.round_id}"
    if second_review and consultation_id not in info.second_review:
        return (
            f"consultation {consultation_id} was not chosen for a second review in "
            f"{info.round_id}; record a first review instead"
        )
    if reviewer_id in reviewers.get((consultation_id, not second_review), set()):
        other = "first" if second_review else "second"
        return (
            f"{reviewer_id} already made the {other} review of consultation {consultation_id}; "
            "a second review must be by someone other than the first reviewer"
        )
    return None


def reviewers_of(engine: Engine, round_id: str) -> dict[tuple[str, bool], set[str]]:
    """Who reviewed each note of a round, first and second reviews apart (for check_review)."""
    out: dict[tuple[str, bool], set[str]] = {}
    for r in round_reviews(engine, round_id):
        out.setdefault((r["consultation_id"], bool(r["second_review"])), set()).add(
            r["reviewer_id"]
        )
    return out


class AuditService:
    """Write side of the audit. Each method appends events, then folds them into the read models."""

    def __init__(
        self,
        store: EventStore,
        projector: Projector,
        *,
        elements: Registry | None = None,
    ) -> None:
        """``projector``: the wired one, never a hidden default. ``elements``: the programme's
        enablers (the findings a review carries); by default the projector's, so a review
        never has findings its read models cannot hold."""
        self.store = store
        self.projector = projector
        self.elements = elements or self.projector.registry
        if self.projector.registry != self.elements:
            raise ValueError("the audit service's enablers differ from its projector's")
        # made at run time from the registry (one finding field per enabler)
        self._reviewed: type[Any] = catalogue(self.elements)["CaseNoteReviewed"]

    def _append(self, events: list[NewEvent], expected: int | None, actor: str) -> None:
        self.store.append(events, expected_version=expected, metadata={"actor": actor})
        self.projector.catch_up()

    def open_round(
        self,
        team_id: str,
        period: str,
        *,
        sample_size: int | None = DEFAULT_SAMPLE_SIZE,
        census: bool = False,
        second_review_share: float = DEFAULT_SECOND_REVIEW_SHARE,
        actor: str = "sipdash",
        first_only: bool = False,
    ) -> RoundInfo:
        """Open a new round for a team-month with a reproducible sample (or a census).

        ``first_only``: open the team-month's first round or nothing (:class:`RoundExists`),
        decided against the log as it is when the round is appended, so two processes asked
        at once open one round between them, not two."""
        self.projector.catch_up()
        existing = rounds_for(self.store.engine, team_id=team_id, period=period)
        if first_only and existing:
            raise RoundExists(existing[-1])
        candidates = self._consultations(team_id, period)
        seed = f"{team_id}:{period}"
        sample = draw_sample(candidates, None if census else sample_size, seed)
        round_id = f"r-{team_id}-{period}-{len(existing) + 1}"
        opened = AuditRoundOpened(
            round_id=round_id,
            team_id=team_id,
            period=period,
            method="census" if census else "sample",
            sample_size=len(sample) if census else int(sample_size or 0),
            sampling_seed=seed,
            sampled=tuple(sample),
            second_review_share=second_review_share,
        )
        try:
            self._append([NewEvent(opened)], 0, actor)
        except VersionConflict as exc:
            if first_only:  # another process opened this very round first: report theirs
                self.projector.catch_up()
                theirs = round_by_id(self.store.engine, round_id)
                if theirs is not None:
                    raise RoundExists(theirs) from exc
            raise AuditError(
                f"round {round_id} was opened by someone else a moment ago; reload and try again"
            ) from exc
        info = round_by_id(self.store.engine, round_id)
        assert info is not None  # just appended and folded
        return info

    def _consultations(self, team_id: str, period: str) -> list[str]:
        return consultations_in(self.store.engine, team_id, period)

    def record_review(
        self,
        round_id: str,
        consultation_id: str,
        reviewer_id: str,
        findings: dict[str, str],
        *,
        second_review: bool = False,
        actor: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Append one ``CaseNoteReviewed`` if :func:`check_review` allows it (else AuditError).

        ``event_id`` (e.g. the submission id of the form that asked) makes a resubmission
        append nothing."""
        self.projector.catch_up()
        info = round_by_id(self.store.engine, round_id)
        if info is None:
            raise AuditError(f"no audit round {round_id}")
        missing = [e for e in self.elements.names if e not in findings]
        if missing:
            raise AuditError(
                f"a review needs one finding per enabler ({', '.join(self.elements.names)}); "
                f"missing {', '.join(missing)}"
            )
        problem = check_review(
            info,
            consultation_id,
            reviewer_id,
            second_review,
            reviewers_of(self.store.engine, round_id),
        )
        if problem and event_id is not None and self._already_stored(event_id):
            return  # the same submission again: it is in the log already
        if problem:
            raise ReviewRefused(problem)
        event = self._reviewed(
            round_id=round_id,
            consultation_id=consultation_id,
            reviewer_id=reviewer_id,
            second_review=second_review,
            **{e: findings[e] for e in self.elements.names},
        )
        new = NewEvent(event, event_id=event_id) if event_id else NewEvent(event)
        self._append([new], None, actor or reviewer_id)

    def _already_stored(self, event_id: str) -> bool:
        return event_stored(self.store.engine, event_id)

    def close_round(self, round_id: str, *, actor: str = "sipdash") -> None:
        info = round_by_id(self.store.engine, round_id)
        if info is None:
            raise AuditError(f"no audit round {round_id}")
        if info.closed_at is None:
            self._append([NewEvent(AuditRoundClosed(round_id=round_id))], None, actor)

    def automated_findings(self, consultation_ids: list[str]) -> dict[str, dict[str, str]]:
        """What the case-note read model says each note documents (yes / no)."""
        return documented_findings(self.store.engine, consultation_ids, elements=self.elements)

    def run(
        self,
        period: str,
        *,
        team_id: str | None = None,
        sample_size: int | None = DEFAULT_SAMPLE_SIZE,
        census: bool = False,
        new_round: bool = False,
        actor: str = "sipdash audit run",
    ) -> list[RunOutcome]:
        """Open and complete (automated first reviews) a round per team for ``period``.

        A team-month that already has a round is reported and left alone unless ``new_round``.
        Second reviews are left to people (the worklist), so they stay blind.
        """
        self.projector.catch_up()
        teams = [team_id] if team_id else team_ids(self.store.engine)
        outcomes = []
        for team in teams:
            existing = rounds_for(self.store.engine, team_id=team, period=period)
            if existing and not new_round:
                outcomes.append(
                    RunOutcome(
                        team, period, existing[-1].round_id, "exists", len(existing[-1].sampled)
                    )
                )
                continue
            if not self._consultations(team, period):
                outcomes.append(RunOutcome(team, period, "", "empty", 0))
                continue
            try:
                info = self.open_round(
                    team,
                    period,
                    sample_size=sample_size,
                    census=census,
                    actor=actor,
                    first_only=not new_round,
                )
            except RoundExists as exc:  # opened by another process since the check above
                outcomes.append(
                    RunOutcome(team, period, exc.round.round_id, "exists", len(exc.round.sampled))
                )
                continue
            findings = self.automated_findings(list(info.sampled))
            events = [
                NewEvent(
                    self._reviewed(
                        round_id=info.round_id,
                        consultation_id=cid,
                        reviewer_id=AUTO_REVIEWER,
                        second_review=False,
                        **findings[cid],
                    )
                )
                for cid in info.sampled
            ]
            events.append(NewEvent(AuditRoundClosed(round_id=info.round_id)))
            self._append(events, 1, actor)
            outcomes.append(RunOutcome(team, period, info.round_id, "opened", len(info.sampled)))
        return outcomes
