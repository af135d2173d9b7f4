"""Synthetic patient surveys: what patients report, beside what the case notes document.

A separate random stream (``sipdash-seed:<scenario>:<seed>:surveys``) draws every survey, so
adding surveys leaves every consultation, review and milestone event byte-identical (their own
stream draws exactly what it drew before); only positions, and so the head hash, change.

Each team's patient-reported rate for an enabler follows the notes' own curve
(:meth:`TeamPlan.gain`) ``lag`` months later, from a patient baseline (patients report more
than notes document before the programme) to just below the notes' plateau. A "tick-box" team
documents the enablers as well as any, while its patients see only a small share of that gain:
the triangulation's story. Every number lives in ``[surveys]`` of ``seed/params.toml``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from datetime import date

from events.ids import uuid7_from
from events.types import Event, catalogue

from .params import per_element
from .plan import Calendar, Plan, TeamPlan, logit

DAY = 86_400


class SurveyProfile:
    """One team's patient-reported curve (drawn once, from the survey stream)."""

    __slots__ = ("base", "keep", "kind", "lag", "plateau")

    def __init__(self, kind: str, lag: float, base: tuple, plateau: tuple, keep: float) -> None:
        self.kind = kind
        self.lag = lag
        self.base = base
        self.plateau = plateau
        self.keep = keep

    def rate(self, tp: TeamPlan, e: int, t: float) -> float:
        """Share of answering patients who say yes to enabler ``e`` at month ``t``."""
        gain = tp.gain(e, t - self.lag) * self.keep
        return self.base[e] + (self.plateau[e] - self.base[e]) * gain


class SurveySeeder:
    """Draws each team-month's returns; yields ``(recorded seconds, event, returned date)``."""

    def __init__(self, plan: Plan, epoch_ms: int) -> None:
        self.plan = plan
        self.cal: Calendar = plan.calendar
        self.p = plan.params["surveys"]
        self.rng = random.Random(f"sipdash-seed:{plan.scenario}:{plan.seed}:surveys")
        self.epoch_ms = epoch_ms
        self.names = plan.elements.names
        # its answer fields are the registry's enablers (validated by pydantic when made)
        self.survey_type: Callable[..., Event] = catalogue(plan.elements)["PatientSurveyReturned"]
        self.profiles = {tp.team_id: self._profile(tp) for tp in plan.teams}

    def _range(self, spec) -> float:
        lo, hi = (float(x) for x in spec)
        return lo + (hi - lo) * self.rng.random()

    def _kind(self, tp: TeamPlan) -> str:
        if self.plan.scenario == "demo":
            spec = self.plan.params["scenario"]["demo"]["team"][tp.index]
            return str(spec.get("survey", "follows"))
        return (
            "tick_box" if self.rng.random() < float(self.p["large_tick_box_share"]) else "follows"
        )

    def _profile(self, tp: TeamPlan) -> SurveyProfile:
        p = self.p
        kind = self._kind(tp)
        lag = self.plan.scale(self._range(p["lag_months"]))
        base = tuple(self._range(per_element(p["baseline"], e)) for e in self.names)
        gap = tuple(self._range(p["plateau_gap"]) for _ in self.names)
        plateau = tuple(max(b, tp.plateau[e] - gap[e]) for e, b in enumerate(base))
        keep = float(p["tick_box_keep"]) if kind == "tick_box" else 1.0
        return SurveyProfile(kind, lag, base, plateau, keep)

    def month(self, tp: TeamPlan, m: int) -> Iterator[tuple[int, Event]]:
        """The team's returns for month ``m`` (none in a month without clinics)."""
        if not tp.volumes[m]:
            return
        p, rng, cal = self.p, self.rng, self.cal
        work = cal.working_days(m)
        if not work:
            return
        lo, hi = (int(x) for x in p["returns_per_team_month"])
        n = lo + int(rng.random() * (hi - lo + 1))
        profile = self.profiles[tp.team_id]
        t = m + 0.5
        each = range(len(self.names))
        logits = [logit(profile.rate(tp, e, t)) for e in each]
        blank = float(p["blank_share"])
        doesnt = [float(per_element(p["doesnt_apply"], e)) for e in self.names]
        not_sure = float(p["not_sure_share"])
        sd = float(p["patient_sd"])
        rec_lo, rec_hi = (int(x) for x in p["recorded_days"])
        ym = cal.period(m).replace("-", "")
        for k in range(n):
            day = work[int(rng.random() * len(work))]
            u = rng.gauss(0.0, sd)  # this patient's overall view: answers hang together
            answers = []
            for e in each:
                r = rng.random()
                if r < blank:
                    answers.append("blank")
                elif r < blank + doesnt[e]:
                    answers.append("doesnt_apply")
                elif rng.random() < 1.0 / (1.0 + math.exp(-(logits[e] + u))):
                    answers.append("yes")
                else:
                    answers.append("not_sure" if rng.random() < not_sure else "no")
            yes = sum(a == "yes" for a in answers)
            confidence = None
            if rng.random() >= float(p["confidence_blank"]):
                score = rng.gauss(3.5 + 1.6 * yes, 1.8)
                confidence = min(10, max(0, round(score)))
            returned: date = cal.days[day]
            recorded = (day + rec_lo + int(rng.random() * (rec_hi - rec_lo + 1))) * DAY
            recorded += 17 * 3600 + 40 * 60 + tp.index * 60 + k
            yield (
                recorded,
                self.survey_type(
                    survey_id=f"s-{ym}-{k + 1:03d}",
                    team_id=tp.team_id,
                    returned_on=returned,
                    **dict(zip(self.names, answers, strict=True)),
                    confidence=confidence,
                ),
            )

    def event_id(self, secs: int) -> str:
        return uuid7_from(self.epoch_ms + secs * 1000, self.rng.getrandbits(128) >> 54)


def expected_returns(plan: Plan) -> int:
    """About how many surveys the plan yields (for the seed's progress estimate)."""
    lo, hi = (int(x) for x in plan.params["surveys"]["returns_per_team_month"])
    months = sum(1 for tp in plan.teams for v in tp.volumes if v)
    return round(months * (lo + hi) / 2)
