"""Who the shift reaches, in the synthetic programme: IMD quintiles, deprivation gaps and the
lag with which each clinician's training shows in their notes (params.toml ``[reach]``).

Kept apart from the generator's main random stream: a patient's quintile is read from the
hex digits of their (already random) pseudonym, so the same patient always lives in the same
quintile and no extra draw is taken; each clinician's training lag and response come from a
stream of their own (``…:reach``). Same seed → same events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .params import load_params


@dataclass(frozen=True)
class GapPlan:
    """A team whose most deprived patients get the enablers less often."""

    kind: str  # "closing" (after a change idea) or "persistent"
    factors: tuple[float, ...]  # per quintile 1-5, on the probability
    closes_at: float | None  # month (float) the change idea lands; None: never closes
    closes_over: float  # months the gap takes to close after it


def _params() -> dict:
    return load_params().get("reach", {})


def quintile_cut(team_id: str) -> tuple[float, tuple[float, float, float, float]]:
    """(share of patients with no quintile, cumulative quintile shares 1..4) for a team."""
    p = _params()
    mixes = p.get("team_mix", {})
    mix = [float(x) for x in mixes.get(team_id, p.get("mix", [0.2] * 5))]
    total = sum(mix)
    acc, cuts = 0.0, []
    for share in mix[:4]:
        acc += share / total
        cuts.append(acc)
    return float(p.get("missing_share", 0.0)), tuple(cuts)  # type: ignore[return-value]


def quintile_of(patient_ref: str, cut: tuple[float, tuple[float, ...]]) -> int | None:
    """The patient's IMD quintile (1 = most deprived), or None (address not known): a pure
    function of the pseudonym, so a returning patient keeps theirs."""
    u = int(patient_ref[2:10], 16) / 4294967296.0
    missing, cuts = cut
    if u < missing:
        return None
    u = (u - missing) / (1.0 - missing)
    for q, edge in enumerate(cuts, start=1):
        if u < edge:
            return q
    return 5


def gap_plans(scale, milestone_day: int = 12) -> dict[str, tuple[GapPlan, tuple | None]]:
    """Per team id: its gap and, for a closing gap, the change-idea milestone that closes it
    (month, day, kind, title). ``scale`` maps reference-calendar months to this run's."""
    p = _params()
    out: dict[str, tuple[GapPlan, tuple | None]] = {}
    for spec in p.get("gap", []):
        factors = tuple(float(x) for x in spec["factors"])
        if len(factors) != 5:
            raise ValueError(f"params.toml [reach] gap {spec['team']}: factors needs 5 (Q1-Q5)")
        closes = spec.get("closes_month")
        milestone = None
        closes_at = None
        if closes is not None:
            month = max(1, round(scale(float(closes))))
            closes_at = month + milestone_day / 30.0
            milestone = (month, milestone_day, "change_idea", spec["title"])
        out[spec["team"]] = (
            GapPlan(spec["kind"], factors, closes_at, scale(float(spec.get("closes_over", 3)))),
            milestone,
        )
    return out


def gap_factors(gap: GapPlan | None, t: float) -> tuple[float, ...] | None:
    """Per quintile, the factor on each enabler's probability at month ``t`` (None: no gap)."""
    if gap is None:
        return None
    if gap.closes_at is None or t <= gap.closes_at:
        return gap.factors
    done = min(1.0, (t - gap.closes_at) / max(gap.closes_over, 1e-9))
    return tuple(f + (1.0 - f) * done for f in gap.factors)


class TrainingResponse:
    """Each clinician's lag (months until their training shows fully) and response (the
    share of the trained rise they reach), from a random stream of their own."""

    def __init__(self, scenario: str, seed: int) -> None:
        p = _params()
        self.rng = random.Random(f"sipdash-seed:{scenario}:{seed}:reach")
        self.lag = tuple(float(x) for x in p.get("training_lag_months", [0.0, 0.0]))
        self.response = tuple(float(x) for x in p.get("training_response", [1.0, 1.0]))

    def draw(self) -> tuple[float, float]:
        rng = self.rng
        lag = self.lag[0] + (self.lag[1] - self.lag[0]) * rng.random()
        response = self.response[0] + (self.response[1] - self.response[0]) * rng.random()
        return lag, response


def trained_share(trained: tuple[int, int] | None, lag: float, response: float, t: float) -> float:
    """How much of the trained rise a clinician shows at month ``t``: 0 before training, then
    rising linearly over ``lag`` months to ``response``."""
    if trained is None:
        return 0.0
    since = t - (trained[0] + (trained[1] - 1) / 30.0)
    if since <= 0:
        return 0.0
    if lag <= 0 or since >= lag:
        return response
    return response * since / lag
