"""The programme plan: teams, calendar, curves and volumes, drawn once from the seed.

Everything here is small (teams × months numbers, a few hundred names), so it is built up
front; the event stream (``seed/generator.py``) then walks the calendar month by month.
Random draws come from ``random.Random`` seeded with a string derived from the scenario and
seed (string seeding is stable across processes and Python builds), and names from
``Faker("en_GB")`` seeded with the same seed: the same seed gives the same plan.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from faker import Faker

from events.elements import ELEMENTS, Registry
from events.types import MilestoneKind

from .params import load_params, per_element
from .reach import gap_plans, quintile_cut

SCENARIOS = ("demo", "large")


def _range(rng: random.Random, spec: Any) -> float:
    """A uniform draw from ``[lo, hi]`` (or the number itself)."""
    if isinstance(spec, list | tuple):
        lo, hi = spec
        return lo if lo == hi else rng.uniform(lo, hi)
    return float(spec)


def _irange(rng: random.Random, spec: Any) -> int:
    if isinstance(spec, list | tuple):
        lo, hi = spec
        return rng.randint(int(lo), int(hi))
    return int(spec)


def logistic(x: float) -> float:
    if x < -60:
        return 0.0
    if x > 60:
        return 1.0
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


@dataclass
class Calendar:
    """Month indices ↔ dates; times are whole seconds since the first month's first midnight."""

    start: date
    months: int
    opens: int  # seconds after midnight
    closes: int
    closed_days: frozenset[str]
    #: day index (since ``start``) of the first of month m, for m in 0..months+2
    month_first_day: list[int] = field(default_factory=list)
    #: date of each day index (covers the programme plus three spare months)
    days: list[date] = field(default_factory=list)

    def __post_init__(self) -> None:
        y, m = self.start.year, self.start.month
        firsts = []
        for _ in range(self.months + 4):
            firsts.append((date(y, m, 1) - self.start).days)
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        self.month_first_day = firsts
        self.days = [self.start + timedelta(days=i) for i in range(firsts[-1] + 1)]

    def year_month(self, m: int) -> tuple[int, int]:
        total = self.start.year * 12 + self.start.month - 1 + m
        return total // 12, total % 12 + 1

    def period(self, m: int) -> str:
        y, mo = self.year_month(m)
        return f"{y:04d}-{mo:02d}"

    def calendar_month(self, m: int) -> int:
        return self.year_month(m)[1]

    def day_of(self, m: int, day_of_month: int) -> int:
        """Day index of ``day_of_month`` (1-based) in month ``m``, clipped into the month."""
        first, nxt = self.month_first_day[m], self.month_first_day[m + 1]
        return min(first + day_of_month - 1, nxt - 1)

    def working_days(self, m: int) -> list[int]:
        out = []
        for d in range(self.month_first_day[m], self.month_first_day[m + 1]):
            day = self.days[d]
            if day.weekday() < 5 and day.strftime("%m-%d") not in self.closed_days:
                out.append(d)
        return out


@dataclass
class ClinicianSeed:
    clinician_id: str
    role: str
    display_name: str
    effects: tuple[float, ...]  # logit random effect per enabler, in ELEMENTS order


@dataclass
class TeamPlan:
    index: int
    team_id: str
    name: str
    site: str
    org: int
    service: str
    service_label: str
    roles: tuple[str, ...]
    contact_cut: tuple[float, float]  # cumulative face_to_face, +telephone
    archetype: str
    shift: bool
    base: tuple[float, ...]  # per enabler of the plan's registry, in its order
    plateau: tuple[float, ...]
    mid: tuple[float, ...]  # month (float) of each logistic midpoint
    slope: float
    sip_start: int
    sip_day: int
    adp: int
    adp_day: int
    regress: int | None
    regress_keep: float
    regress_slope: float
    key_staff_leave_share: float
    #: (month, day of month, kind, title), in time order
    milestones: list[tuple[int, int, MilestoneKind, str]]
    volumes: list[int]
    clinicians: list[ClinicianSeed]
    caseload: int
    #: who the shift reaches (seed/reach.py): the team's IMD quintile mix and deprivation gap
    imd_cut: tuple = (0.0, (0.2, 0.4, 0.6, 0.8))
    gap: Any = None
    #: milestones of the reach story (month, day, kind, title): logged with ids from the reach
    #: stream, so the main stream's draws are unchanged
    reach_milestones: list = field(default_factory=list)

    @property
    def sip_time(self) -> float:
        return self.sip_start + (self.sip_day - 1) / 30.0

    def gain(self, e: int, t: float) -> float:
        """Share of the (plateau - baseline) gain reached at month ``t`` by trained staff."""
        if not self.shift or t <= self.sip_time:
            return 0.0
        s = self.sip_time
        lo = logistic((s - self.mid[e]) / self.slope)
        a = (logistic((t - self.mid[e]) / self.slope) - lo) / (1.0 - lo)
        if self.regress is not None and t > self.regress:
            r0 = logistic(-1.0 / self.regress_slope)
            r = (logistic((t - self.regress - 1.0) / self.regress_slope) - r0) / (1.0 - r0)
            a *= 1.0 - (1.0 - self.regress_keep) * r
        return a

    def rate(self, e: int, t: float, trained_factor: float) -> float:
        """The team's documentation rate for enabler ``e`` before clinician and season effects."""
        return self.base[e] + (self.plateau[e] - self.base[e]) * self.gain(e, t) * trained_factor


@dataclass
class Plan:
    scenario: str
    seed: int
    params: dict[str, Any]
    calendar: Calendar
    organisations: list[str]
    reviewers: list[list[str]]  # per organisation
    teams: list[TeamPlan]
    fake: Faker
    consultations: int
    #: the enablers the programme audits: the seed's per-enabler loops derive from it
    elements: Registry = ELEMENTS

    def scale(self, months: float) -> float:
        """A month count on the reference calendar, scaled to this programme's length."""
        ref = self.params["calendar"]["reference_months"]
        return months * self.calendar.months / ref


def _unique(make, taken: set[str]) -> str:
    for _ in range(1000):
        value = make()
        if value not in taken:
            taken.add(value)
            return value
    raise RuntimeError("could not draw a unique name")


def _one_word_place(fake: Faker) -> str:
    """A made-up town with a one-word name ("Quinnshire"), for organisation names."""
    for _ in range(100):
        place = fake.city()
        if " " not in place:
            return place
    return place.split(" ")[-1]


def person_name(fake: Faker) -> str:
    return f"{fake.first_name()} {fake.last_name()}"


def build_plan(  # noqa: C901 - the next to split (ADR 0006)
    scenario: str = "demo",
    seed: int = 42,
    teams: int | None = None,
    months: int | None = None,
    consultations: int | None = None,
    clinicians: int | None = None,
    elements: Registry = ELEMENTS,
) -> Plan:
    """Everything about the programme that is not an individual consultation.

    ``clinicians`` fixes each team's starting staff (otherwise volume / consultations per
    clinician-month, clamped): benchmarks grow the log with the staff held constant.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    params = load_params()
    spec = params["scenario"][scenario]
    cal_p = params["calendar"]
    n_months = int(months if months is not None else cal_p["months"])
    if n_months < 1:
        raise ValueError("--months must be at least 1")
    start_y, start_m = (int(x) for x in cal_p["start"].split("-"))
    calendar = Calendar(
        start=date(start_y, start_m, 1),
        months=n_months,
        opens=_hhmm(cal_p["clinic_opens"]),
        closes=_hhmm(cal_p["clinic_closes"]),
        closed_days=frozenset(cal_p["closed_days"]),
    )
    total = int(consultations if consultations is not None else spec["consultations"])
    if total < 0:
        raise ValueError("--consultations must not be negative")
    if clinicians is not None and clinicians < 1:
        raise ValueError("--clinicians must be at least 1")
    fixed_staff = clinicians

    rng = random.Random(f"sipdash-seed:{scenario}:{seed}:plan")
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    places: set[str] = set()

    # -- teams: their service, archetype, organisation and relative size --
    if scenario == "demo":
        team_specs = [dict(t) for t in spec["team"]]
        if teams is not None and teams != len(team_specs):
            raise ValueError(
                f"the demo scenario has {len(team_specs)} teams; "
                "use --scenario large for another number"
            )
        n_orgs = len(spec["organisations"])
    else:
        n_teams = int(teams if teams is not None else spec["teams"])
        if n_teams < 1:
            raise ValueError("--teams must be at least 1")
        n_orgs = max(1, min(int(spec["organisation_count"]), n_teams))
        mix = spec["archetype_mix"]
        names, weights = list(mix), [float(mix[k]) for k in mix]
        services = list(params["service"])
        team_specs = []
        for i in range(n_teams):
            service = services[i % len(services)]
            team_specs.append(
                {
                    "id": f"t{i + 1:03d}-{service}",
                    "org": i % n_orgs,
                    "service": service,
                    "archetype": rng.choices(names, weights)[0],
                    "size": _range(rng, spec["team_size_factor"]),
                }
            )

    org_templates = spec["organisations"]
    organisations = [
        org_templates[i % len(org_templates)].format(
            place=_unique(lambda: _one_word_place(fake), places)
        )
        for i in range(n_orgs)
    ]
    reviewers: list[list[str]] = []
    taken_ids: set[str] = set()
    for _ in range(n_orgs):
        ids = []
        for _ in range(int(spec["reviewers_per_organisation"])):
            name = person_name(fake)
            initials = "".join(part[0] for part in name.split()).lower()
            rid, k = f"rev-{initials}", 2
            while rid in taken_ids:
                rid, k = f"rev-{initials}{k}", k + 1
            taken_ids.add(rid)
            ids.append(rid)
        reviewers.append(ids)

    # -- volumes: the total spread over team-months, summing exactly to ``total`` --
    vol_p = params["consultations"]
    vol_season = {int(k): float(v) for k, v in vol_p["volume_season"].items()}
    weights_tm = []
    for ts in team_specs:
        row = []
        for m in range(n_months):
            w = float(ts["size"]) * vol_season.get(calendar.calendar_month(m), 1.0)
            w *= max(0.3, 1.0 + rng.gauss(0.0, float(vol_p["monthly_noise_sd"])))
            row.append(w)
        weights_tm.append(row)
    volumes = _apportion(weights_tm, total)

    staff = params["staff"]
    per_clin = float(spec["consultations_per_clinician_month"])
    rates = params["rates"]
    ms = params["milestones"]
    plan = Plan(
        scenario, seed, params, calendar, organisations, reviewers, [], fake, total, elements
    )
    enablers = elements.names
    for i, ts in enumerate(team_specs):
        service = params["service"][ts["service"]]
        arch = params["archetype"][ts["archetype"]]
        shift = bool(arch.get("shift", True))
        base = tuple(_range(rng, per_element(rates["baseline"], e)) for e in enablers)
        if shift:
            plateau = tuple(_range(rng, per_element(arch["plateau"], e)) for e in enablers)
            lags = tuple(plan.scale(_range(rng, per_element(arch["lag"], e))) for e in enablers)
            slope = plan.scale(_range(rng, arch["slope"]))
        else:
            plateau, lags, slope = base, (0.0,) * len(enablers), 1.0
        sip = max(1, round(plan.scale(_irange(rng, arch["sip_start"]))))
        sip_day = rng.randint(10, 20)
        lag_months = round(plan.scale(_irange(rng, arch["training_lag"])))
        adp = sip + lag_months
        adp_day = sip_day + rng.randint(3, 7) if lag_months == 0 else rng.randint(5, 24)
        regress = None
        if "regress_month" in arch:
            regress = max(adp + 1, round(plan.scale(_irange(rng, arch["regress_month"]))))
        contact = service["contact"]
        total_c = sum(contact.values())
        cut = (
            contact["face_to_face"] / total_c,
            (contact["face_to_face"] + contact["telephone"]) / total_c,
        )
        mean_volume = sum(volumes[i]) / max(1, n_months)
        n_clin = round(mean_volume / per_clin)
        n_clin = min(max(n_clin, int(staff["min_clinicians"])), int(staff["max_clinicians"]))
        if fixed_staff is not None:
            n_clin = fixed_staff
        place = _unique(lambda: fake.city(), places)
        team_id = ts["id"]
        roles = tuple(service["roles"])
        team_staff = [
            ClinicianSeed(
                f"{team_id}-c{k + 1:03d}",
                rng.choice(roles),
                person_name(fake),
                tuple(rng.gauss(0.0, float(rates["clinician_sd"])) for _ in enablers),
            )
            for k in range(n_clin)
        ]
        milestones: list[tuple[int, int, MilestoneKind, str]] = [
            (sip, sip_day, "sip_start", ms["sip_start_title"]),
            (adp, adp_day, "adp_training", ms["adp_training_title"]),
        ]
        ideas = rng.sample(ms["change_idea_titles"], _irange(rng, ms["change_ideas"]))
        for title in ideas:
            month = adp + max(1, round(plan.scale(rng.randint(1, 4))))
            milestones.append((month, rng.randint(5, 25), "change_idea", title))
        pdsas = rng.sample(ms["pdsa_titles"], _irange(rng, ms["pdsa_cycles"]))
        for k, title in enumerate(pdsas):
            month = adp + round(plan.scale(2 + k * 12 / len(pdsas) + rng.randint(0, 1)))
            milestones.append((month, rng.randint(5, 25), "pdsa_cycle", title))
        if regress is not None:
            milestones.append((regress, 5, "note", ms["regress_note"]))
        milestones.sort(key=lambda x: (x[0], x[1]))
        plan.teams.append(
            TeamPlan(
                index=i,
                team_id=team_id,
                name=service["name"].format(place=place),
                site=organisations[int(ts["org"])],
                org=int(ts["org"]),
                service=ts["service"],
                service_label=service["label"],
                roles=roles,
                contact_cut=cut,
                archetype=ts["archetype"],
                shift=shift,
                base=base,
                plateau=plateau,
                mid=tuple(sip + lag for lag in lags),
                slope=max(0.05, slope),
                sip_start=sip,
                sip_day=sip_day,
                adp=adp,
                adp_day=adp_day,
                regress=regress,
                regress_keep=float(arch.get("regress_keep", 1.0)),
                regress_slope=plan.scale(float(arch.get("regress_slope", 1.0))),
                key_staff_leave_share=float(arch.get("key_staff_leave_share", 0.0)),
                milestones=milestones,
                volumes=volumes[i],
                clinicians=team_staff,
                caseload=max(10, round(mean_volume * float(vol_p["caseload_months"]))),
            )
        )
    _add_reach(plan)
    return plan


def _add_reach(plan: Plan) -> None:
    """Quintile mixes and deprivation gaps (no draws from the plan's random stream)."""
    gaps = gap_plans(plan.scale)
    for tp in plan.teams:
        tp.imd_cut = quintile_cut(tp.team_id)
        if tp.team_id in gaps:
            tp.gap, milestone = gaps[tp.team_id]
            if milestone is not None and milestone[0] < plan.calendar.months:
                tp.reach_milestones.append(milestone)


def _apportion(weights: list[list[float]], total: int) -> list[list[int]]:
    """Integer volumes proportional to ``weights`` summing exactly to ``total``
    (largest remainder; ties by position)."""
    flat = [w for row in weights for w in row]
    whole = sum(flat)
    if not flat or whole <= 0:
        return [[0] * len(row) for row in weights]
    exact = [total * w / whole for w in flat]
    counts = [int(x) for x in exact]
    short = total - sum(counts)
    order = sorted(range(len(flat)), key=lambda k: (counts[k] - exact[k], k))
    for k in order[:short]:
        counts[k] += 1
    out, k = [], 0
    for row in weights:
        out.append(counts[k : k + len(row)])
        k += len(row)
    return out
