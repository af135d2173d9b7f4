"""The event stream: walks the plan's calendar month by month and yields events in time order.

Time is simulated: every event carries an explicit ``recorded_at`` (and ``occurred_at``), in
whole seconds since the programme's first midnight (UTC). Consultations of one day are sorted
by time of day and yielded as they happen; anything recorded later (late documentation,
corrections, audit rounds, team milestones, training) waits in a heap keyed
``(seconds, sequence)`` and is released as soon as the clock passes it, so ``recorded_at``
never decreases along the stream. Memory is bounded by one month's consultations (kept only
as compact tuples for the month's audit round) plus what is waiting in the heap.

Event ids come from the seeded generator: UUID v7 built from the simulated recording time and
74 of the 128 bits ``getrandbits(128)`` draws (the same draws the earlier v4 ids used, so the
programme itself is unchanged). The same seed gives byte-identical events, and ids recorded
close in time sort close together: the log's unique index on ``event_id`` is appended to, not
written at random, which keeps a 10-million-event seed fast. Nothing here reads the wall clock.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.sampling import draw_sample, second_review_ids
from events.ids import RAND_B as _RAND_B
from events.ids import uuid7_from
from events.store import NewEvent
from events.types import (
    AuditRoundClosed,
    AuditRoundOpened,
    ClinicianRegistered,
    ClinicianTrained,
    ConsultationHeld,
    Contact,
    Event,
    MilestoneLogged,
    TeamRegistered,
    catalogue,
)

from .params import per_element
from .plan import ClinicianSeed, Plan, TeamPlan, logit, person_name
from .reach import TrainingResponse, gap_factors, quintile_of, trained_share
from .surveys import SurveySeeder

DAY = 86_400
NEVER = 1 << 62  # "not retracted" sentinel (seconds)


class _Clinician:
    __slots__ = ("active", "clinician_id", "effects", "lag", "response", "trained")

    def __init__(self, clinician_id: str, effects: tuple[float, ...]) -> None:
        self.clinician_id = clinician_id
        self.effects = effects
        self.trained: tuple[int, int] | None = None  # (month, day of month)
        self.active = True
        self.lag, self.response = 0.0, 1.0  # how training shows (seed/reach.py)

    def trained_by(self, m: int) -> bool:
        """Trained in time to count for month ``m`` (trained before its middle)."""
        t = self.trained
        return t is not None and (t[0] < m or (t[0] == m and t[1] <= 15))


class _TeamState:
    __slots__ = (
        "caseload",
        "clinicians",
        "gapf",
        "keeps",
        "lapsed",
        "next_no",
        "pending",
        "plan",
        "probs",
    )

    def __init__(self, plan: TeamPlan) -> None:
        self.plan = plan
        self.clinicians: list[_Clinician] = []
        self.next_no = len(plan.clinicians) + 1
        self.pending: list[tuple[int, int, _Clinician]] = []  # (month, day, clinician)
        self.lapsed = False
        self.caseload: list[str] = []
        self.probs: list[tuple[Any, ...]] = []  # (clinician id, one probability per enabler)
        self.gapf: tuple[float, ...] | None = None  # per IMD quintile, this month
        self.keeps: list[tuple[float, ...]] = []  # per clinician, as probs


class Generator:
    """One pass over a plan. Use :meth:`events`; an instance is single-use."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.p = plan.params
        self.cal = plan.calendar
        # the enablers (plan.elements): every per-enabler loop and event class derives from it
        self.elements = plan.elements
        self.n = len(plan.elements)
        # constructors whose keyword fields depend on the registry (validated by pydantic)
        self.types: dict[str, Callable[..., Event]] = dict(catalogue(plan.elements))
        self.keep_all = (1.0,) * self.n
        self.rng = random.Random(f"sipdash-seed:{plan.scenario}:{plan.seed}:events")
        self.heap: list[tuple[int, int, NewEvent]] = []
        self._stable: dict[str, int | None] = {}
        self._audit_paused = self._pauses(plan)
        self.seq = itertools.count()
        self.epoch = datetime(
            self.cal.start.year, self.cal.start.month, self.cal.start.day, tzinfo=UTC
        )
        self.epoch_ms = int(self.epoch.timestamp()) * 1000
        self.teams = [_TeamState(t) for t in plan.teams]
        self.reach = TrainingResponse(plan.scenario, plan.seed)
        # surveys draw from their own random stream: every other event stays byte-identical
        self.surveys = SurveySeeder(plan, self.epoch_ms)

    # -- helpers --

    def _id(self, secs: int) -> str:
        return uuid7_from(self.epoch_ms + secs * 1000, self.rng.getrandbits(128) >> 54)

    def _at(self, secs: int) -> datetime:
        return self.epoch + timedelta(seconds=secs)

    def _push(self, secs: int, event, occurred=None) -> None:
        at = self._at(secs)
        new = NewEvent(event, occurred if occurred is not None else at, self._id(secs), at)
        heapq.heappush(self.heap, (secs, next(self.seq), new))

    def _randint(self, spec) -> int:
        lo, hi = spec
        return int(lo) + int(self.rng.random() * (int(hi) - int(lo) + 1))

    # -- the stream --

    def events(self) -> Iterator[NewEvent]:
        cal = self.cal
        setup = cal.month_first_day[0] * DAY + 9 * 3600
        for k, st in enumerate(self.teams):
            tp = st.plan
            self._push(
                setup + k,
                TeamRegistered(
                    team_id=tp.team_id, name=tp.name, site=tp.site, service=tp.service_label
                ),
            )
            for c in tp.clinicians:
                self._add_clinician(st, c, setup + k)
        for m in range(cal.months):
            for st in self.teams:
                self._month_start(st, m)
            yield from self._month(m)
        heap = self.heap
        while heap:
            yield heapq.heappop(heap)[2]

    def _add_clinician(self, st: _TeamState, c: ClinicianSeed, secs: int) -> _Clinician:
        tp = st.plan
        self._push(
            secs,
            ClinicianRegistered(
                clinician_id=c.clinician_id,
                team_id=tp.team_id,
                role=c.role,
                display_name=c.display_name,
            ),
        )
        clin = _Clinician(c.clinician_id, c.effects)
        clin.lag, clin.response = self.reach.draw()
        st.clinicians.append(clin)
        return clin

    def _new_starter(self, st: _TeamState, m: int, secs: int) -> None:
        tp = st.plan
        rng = self.rng
        seed = ClinicianSeed(
            f"{tp.team_id}-c{st.next_no:03d}",
            tp.roles[int(rng.random() * len(tp.roles))],
            person_name(self.plan.fake),
            tuple(
                rng.gauss(0.0, float(self.p["rates"]["clinician_sd"])) for _ in self.elements.names
            ),
        )
        st.next_no += 1
        clin = self._add_clinician(st, seed, secs)
        if m > tp.adp and not st.lapsed:
            when = m + self._randint(self.p["staff"]["new_starter_training_months"])
            st.pending.append((when, self._randint((5, 25)), clin))

    def _month_start(self, st: _TeamState, m: int) -> None:
        """Staff changes, training and team facts for month ``m``; then this month's rates."""
        tp, cal, rng, staff = st.plan, self.cal, self.rng, self.p["staff"]
        first = cal.month_first_day[m] * DAY
        joined = 0
        if m > 0:
            leaving = float(staff["monthly_leaving_rate"])
            leavers = [c for c in st.clinicians if rng.random() < leaving]
            if m == tp.regress:
                st.lapsed = True
                trained = [c for c in st.clinicians if c.trained is not None and c not in leavers]
                k = round(tp.key_staff_leave_share * len(st.clinicians)) - len(leavers)
                leavers += rng.sample(trained, max(0, min(k, len(trained))))
            for c in leavers:
                c.active = False
                st.clinicians.remove(c)
                self._new_starter(st, m, first + 7 * 3600 + joined)
                joined += 1
        if m == tp.adp:
            first_share = float(staff["first_cohort_share"])
            for c in st.clinicians:
                if c.trained is None:
                    if rng.random() < first_share:
                        st.pending.append((m, tp.adp_day, c))
                    else:
                        later = m + self._randint(staff["late_cohort_months"])
                        st.pending.append((later, self._randint((5, 25)), c))
        due = [x for x in st.pending if x[0] == m]
        if due:
            st.pending = [x for x in st.pending if x[0] != m]
            for _, day, c in due:
                if c.active and not st.lapsed:
                    c.trained = (m, day)
                    on = cal.day_of(m, day)
                    self._push(
                        on * DAY + 12 * 3600,
                        ClinicianTrained(
                            clinician_id=c.clinician_id,
                            team_id=tp.team_id,
                            programme="ADP",
                            on=cal.days[on],
                        ),
                    )
        for j, (month, day, kind, title) in enumerate(tp.milestones):
            if month != m:
                continue
            on = cal.day_of(m, day)
            secs = on * DAY + 16 * 3600 + j * 60
            self._push(
                secs,
                MilestoneLogged(team_id=tp.team_id, on=cal.days[on], kind=kind, title=title),
                cal.days[on],
            )
            if kind == "sip_start":
                self._baseline_and_target(tp, m, secs + 30)
        self._reach_milestones(tp, m)
        self._recalculation(tp, m)
        self._rates(st, m)
        self._surveys(tp, m)

    def _surveys(self, tp: TeamPlan, m: int) -> None:
        """The month's patient surveys, each recorded a few days after its return."""
        seeder = self.surveys
        for secs, survey in seeder.month(tp, m):
            at = self._at(secs)
            new = NewEvent(survey, survey.natural_time(), seeder.event_id(secs), at)  # returned_on
            heapq.heappush(self.heap, (secs, next(self.seq), new))

    def _reach_milestones(self, tp: TeamPlan, m: int) -> None:
        """The reach story's milestones (a change idea that closes a deprivation gap), with ids
        from the reach stream: the main stream, and so every other event, is unchanged."""
        cal = self.cal
        for j, (month, day, kind, title) in enumerate(tp.reach_milestones):
            if month != m:
                continue
            on = cal.day_of(m, day)
            secs = on * DAY + 16 * 3600 + 50 * 60 + j * 60
            at = self._at(secs)
            event_id = uuid7_from(
                self.epoch_ms + secs * 1000, self.reach.rng.getrandbits(128) >> 54
            )
            event = MilestoneLogged(team_id=tp.team_id, on=cal.days[on], kind=kind, title=title)
            heapq.heappush(
                self.heap, (secs, next(self.seq), NewEvent(event, cal.days[on], event_id, at))
            )

    def _baseline_and_target(self, tp: TeamPlan, m: int, secs: int) -> None:
        cal, ms = self.cal, self.p["milestones"]
        if m >= 1:
            reason = ms["baseline_reason"].format(n=m, first=cal.period(0), last=cal.period(m - 1))
            for measure in self.elements.measures:
                self._push(
                    secs,
                    self.types["BaselineFixed"](
                        team_id=tp.team_id, measure=measure, period=cal.period(m - 1), reason=reason
                    ),
                )
        for measure in self.elements.measures:
            self._push(
                secs,
                self.types["TargetSet"](
                    team_id=tp.team_id,
                    measure=measure,
                    target=float(ms["target"]),
                    from_period=cal.period(m),
                    reason=ms["target_reason"],
                ),
            )

    def _recalculation(self, tp: TeamPlan, m: int) -> None:
        """Once a team's rise has levelled off and been sustained for a while, its lead
        recalculates the limits from the month the new process began (an explicit decision,
        recorded months later, never automatic)."""
        cal, ms = self.cal, self.p["milestones"]
        start = self._stable_from(tp)
        if start is None or m != start + int(ms["recalculate_after_months"]):
            return
        day = cal.day_of(m, 3)
        reason = ms["recalculate_reason"].format(period=cal.period(start))
        for j, measure in enumerate(self.elements.measures):
            self._push(
                day * DAY + 10 * 3600 + j,
                self.types["LimitsRecalculated"](
                    team_id=tp.team_id, measure=measure, period=cal.period(start), reason=reason
                ),
                cal.days[day],
            )

    def _stable_from(self, tp: TeamPlan) -> int | None:
        """The first month in which every enabler has made most of its rise, if at least
        ``minimum_points`` months remain after it (MDC needs 12 or more to recalculate)."""
        cached = self._stable.get(tp.team_id, -1)
        if cached != -1:
            return cached
        ms = self.p["milestones"]
        share, minimum = float(ms["recalculate_at_gain"]), int(ms["recalculate_minimum_points"])
        found = None
        if tp.shift:
            for m in range(tp.sip_start, self.cal.months - minimum + 1):
                if all(tp.gain(e, m + 0.5) >= share for e in range(self.n)):
                    found = m
                    break
        self._stable[tp.team_id] = found
        return found

    def _rates(self, st: _TeamState, m: int) -> None:
        """Each active clinician's probability of documenting each enabler this month."""
        tp, rates = st.plan, self.p["rates"]
        t = m + 0.5
        season = float(rates["season"].get(str(self.cal.calendar_month(m)), 0.0))
        uptake = float(rates["untrained_uptake"])
        each = range(self.n)
        trained = [logit(tp.rate(e, t, 1.0)) + season for e in each]
        untrained = [logit(tp.rate(e, t, uptake)) + season for e in each]
        probs = []
        keeps = []
        for c in st.clinicians:
            base = trained if c.trained_by(m) else untrained
            u = c.effects
            row = (c.clinician_id, *(1.0 / (1.0 + math.exp(-(base[e] + u[e]))) for e in each))
            probs.append(row)
            keeps.append(
                self._training_keep(tp, c, m, t, season, uptake, row)
                if base is trained
                else self.keep_all
            )
        st.probs = probs
        st.keeps = keeps
        st.gapf = gap_factors(tp.gap, t)

    def _training_keep(
        self, tp: TeamPlan, c: _Clinician, m: int, t: float, season: float, uptake: float, row
    ) -> tuple[float, ...]:
        """Who the shift reaches (seed/reach.py): a trained clinician's notes show the training
        with a lag and to a degree of their own. Applied as the share of the trained rate's
        documented elements that are kept (drawn from the reach stream, so the main stream, and
        every other team's events, stay as they were)."""
        share = trained_share(c.trained, c.lag, c.response, t)
        factor = uptake + (1.0 - uptake) * share
        u = c.effects
        out = []
        for e in range(self.n):
            p_eff = 1.0 / (1.0 + math.exp(-(logit(tp.rate(e, t, factor)) + season + u[e])))
            out.append(min(1.0, p_eff / row[1 + e]) if row[1 + e] > 0 else 1.0)
        return tuple(out)

    def _month(self, m: int) -> Iterator[NewEvent]:  # noqa: C901 - one pass kept whole; the next to split (ADR 0006)
        """Every consultation of month ``m`` in time order, then queue the month's audit."""
        cal, p, rng = self.cal, self.p, self.rng
        rnd, bits = rng.random, rng.getrandbits
        heap, heappop, heappush, seq = self.heap, heapq.heappop, heapq.heappush, self.seq
        epoch, days = self.epoch, cal.days
        teams = self.teams
        n_teams = len(teams)
        ym = cal.period(m).replace("-", "")
        prefixes = [f"{st.plan.team_id}-{ym}-" for st in teams]
        counters = [0] * n_teams
        notes: list[dict[str, tuple]] = [{} for _ in teams]
        volumes = [st.plan.volumes[m] for st in teams]
        doc = p["documentation"]
        late_share = tuple(float(per_element(doc["late_share"], e)) for e in self.elements.names)
        late_lo, late_hi = (int(x) for x in doc["late_days"])
        late_n = late_hi - late_lo + 1
        retract = float(doc["retracted_share"])
        ret_lo, ret_hi = (int(x) for x in doc["retracted_days"])
        ret_n = ret_hi - ret_lo + 1
        reasons = doc["retraction_reasons"]
        cons_p = p["consultations"]
        new_share = float(cons_p["new_patient_share"])
        discharged_share = float(cons_p["discharged_share"])
        opens, span = cal.opens, cal.closes - cal.opens
        elements = self.elements.names
        element_types = [self.types[t] for t in self.elements.event_types]
        retracted = self.types["ElementRetracted"]
        each = tuple(range(self.n))
        #: the enablers that do not apply to a discharged patient's note (follow-up)
        na_discharged = self.elements.not_applicable_when_discharged
        blank_state = [-1, NEVER] * self.n
        reach_rnd = self.reach.rng.random

        epoch_ms = self.epoch_ms

        def new_id(secs: int) -> str:
            r = bits(128) >> 54  # 128 bits drawn, as v4 ids did: the demo story stays the same
            n = (
                ((epoch_ms + secs * 1000) << 80)
                | (0x7 << 76)
                | ((r >> 62) << 64)
                | (0b10 << 62)
                | (r & _RAND_B)
            )
            h = f"{n:032x}"
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

        work = cal.working_days(m)
        n_days = len(work)
        for i, day in enumerate(work):
            keys: list[int] = []
            base = day * DAY + opens
            for t in range(n_teams):
                n = volumes[t]
                for _ in range((i + 1) * n // n_days - i * n // n_days):
                    keys.append((base + int(rnd() * span)) * n_teams + t)
            keys.sort()
            the_date = days[day]
            for key in keys:
                secs, t = divmod(key, n_teams)
                while heap and heap[0][0] <= secs:
                    yield heappop(heap)[2]
                st = teams[t]
                tp = st.plan
                probs = st.probs
                pick = int(rnd() * len(probs))
                row = probs[pick]
                clin_id = row[0]
                keep = st.keeps[pick]
                counters[t] += 1
                cid = f"{prefixes[t]}{counters[t]:05d}"
                # the patient: new, or one already on the team's caseload (a pseudonym only)
                caseload = st.caseload
                u = rnd()
                if len(caseload) < tp.caseload:
                    patient = f"p_{bits(128):032x}"
                    caseload.append(patient)
                elif u < new_share:
                    patient = f"p_{bits(128):032x}"
                    caseload[int(u / new_share * tp.caseload)] = patient
                else:
                    patient = caseload[int((u - new_share) / (1.0 - new_share) * tp.caseload)]
                imd = quintile_of(patient, tp.imd_cut)
                gapf = st.gapf
                if gapf is not None and imd is not None:
                    f = gapf[imd - 1]
                    keep = tuple([k * f for k in keep])
                v = rnd()
                cut = tp.contact_cut
                contact: Contact = (
                    "face_to_face" if v < cut[0] else "telephone" if v < cut[1] else "video"
                )
                at = epoch + timedelta(seconds=secs)
                yield NewEvent(
                    ConsultationHeld(
                        consultation_id=cid,
                        team_id=tp.team_id,
                        clinician_id=clin_id,
                        patient_ref=patient,
                        occurred_on=the_date,
                        contact=contact,
                        imd_quintile=imd,
                    ),
                    at,
                    new_id(secs),
                    at,
                )
                discharged = rnd() < discharged_share
                state: list = [*blank_state, discharged]
                for e in each:
                    if rnd() >= row[1 + e] or (discharged and e in na_discharged):
                        continue
                    # not written up after all (training lag, deprivation gap: seed/reach.py);
                    # the main stream's draws are taken all the same, so it stays aligned
                    k = keep[e]
                    drop = k < 1.0 and reach_rnd() >= k
                    share = late_share[e]
                    if share and rnd() < share:
                        later = day + late_lo + int(rnd() * late_n)
                        rec = later * DAY + opens + int(rnd() * span)
                        when = epoch + timedelta(seconds=rec)
                        eid = new_id(rec)
                        if not drop:
                            heappush(
                                heap,
                                (
                                    rec,
                                    next(seq),
                                    NewEvent(
                                        element_types[e](
                                            consultation_id=cid, documented_on=days[later]
                                        ),
                                        when,
                                        eid,
                                        when,
                                    ),
                                ),
                            )
                    else:
                        rec = secs
                        eid = new_id(secs)
                        if not drop:
                            yield NewEvent(
                                element_types[e](consultation_id=cid, documented_on=the_date),
                                at,
                                eid,
                                at,
                            )
                    if not drop:
                        state[2 * e] = rec
                    if rnd() < retract:
                        gone = rec + (ret_lo + int(rnd() * ret_n)) * DAY
                        when = epoch + timedelta(seconds=gone)
                        reason = reasons[int(rnd() * len(reasons))]
                        eid = new_id(gone)
                        if not drop:
                            heappush(
                                heap,
                                (
                                    gone,
                                    next(seq),
                                    NewEvent(
                                        retracted(
                                            consultation_id=cid, element=elements[e], reason=reason
                                        ),
                                        when,
                                        eid,
                                        when,
                                    ),
                                ),
                            )
                            state[2 * e + 1] = gone
                notes[t][cid] = tuple(state)
        for st, team_notes in zip(teams, notes, strict=True):
            if team_notes:
                self._audit(st, m, team_notes)

    def _pauses(self, plan: Plan) -> dict[str, tuple[int, int]]:
        """Demo teams whose audit paused (``audit_paused = [first, last]`` reference months,
        scaled to the calendar): those months have consultations but no audit round, a gap."""
        if plan.scenario != "demo":
            return {}
        out = {}
        for spec in self.p["scenario"]["demo"]["team"]:
            if "audit_paused" in spec:
                first, last = spec["audit_paused"]
                out[spec["id"]] = (round(plan.scale(first)), round(plan.scale(last)))
        return out

    def _audit(self, st: _TeamState, m: int, notes: dict[str, tuple]) -> None:
        """Queue the team-month's audit round, reviewed a few days into the next month."""
        tp, cal, a, rng = st.plan, self.cal, self.p["audit"], self.rng
        paused = self._audit_paused.get(tp.team_id)
        if paused is not None and paused[0] <= m <= paused[1]:
            return
        period = cal.period(m)
        round_id = f"r-{tp.team_id}-{period}-1"
        size = int(a["sample_size"])
        share = float(a["second_review_share"])
        sampling_seed = a["sampling_seed"].format(
            team_id=tp.team_id, period=period, round_id=round_id
        )
        sampled = draw_sample(list(notes), size, sampling_seed)
        open_day = cal.day_of(m + 1, self._randint(a["open_day"]))
        secs = open_day * DAY + 9 * 3600 + (tp.index % 60) * 60
        self._push(
            secs,
            AuditRoundOpened(
                round_id=round_id,
                team_id=tp.team_id,
                period=period,
                method="sample",
                sample_size=size,
                sampling_seed=sampling_seed,
                sampled=tuple(sampled),
                second_review_share=share,
            ),
        )
        auto = a["auto_reviewer"]
        for cid in sampled:
            secs += 60 * self._randint(a["review_minutes"])
            self._push(secs, self._review(round_id, cid, notes[cid], secs, auto, False))
        second = second_review_ids(sampled, share, sampling_seed)
        if second:
            reviewers = self.plan.reviewers[tp.org]
            reviewer = reviewers[int(rng.random() * len(reviewers))]
            secs = (open_day + self._randint(a["second_review_after_days"])) * DAY + 14 * 3600
            flip = float(a["disagreement"])
            for cid in second:
                secs += 60 * self._randint(a["review_minutes"])
                self._push(
                    secs, self._review(round_id, cid, notes[cid], secs, reviewer, True, flip)
                )
        self._push(secs + 600, AuditRoundClosed(round_id=round_id))

    def _review(
        self,
        round_id: str,
        cid: str,
        state: tuple,
        secs: int,
        reviewer: str,
        second: bool,
        flip: float = 0.0,
    ) -> Event:
        """Findings as the note stood at ``secs``; a second reviewer may disagree."""
        findings = []
        discharged = state[2 * self.n]
        na_discharged = self.elements.not_applicable_when_discharged
        for e in range(self.n):
            rec, gone = state[2 * e], state[2 * e + 1]
            if discharged and e in na_discharged:
                finding = "not_applicable"
            else:
                finding = "yes" if 0 <= rec <= secs < gone else "no"
            if flip and self.rng.random() < flip:
                finding = "no" if finding != "no" else "yes"
            findings.append(finding)
        return self.types["CaseNoteReviewed"](
            round_id=round_id,
            consultation_id=cid,
            reviewer_id=reviewer,
            **dict(zip(self.elements.names, findings, strict=True)),
            second_review=second,
        )
