"""The dashboard's main caching seam between the pages and ``audit``/``events``.

- ``@st.cache_resource``: one :class:`EventStore` and :class:`Projector` per database URL.
- ``@st.cache_data``: every read, keyed on the database URL, the log's head position (read
  after the projector has caught up) and the view's own arguments. A new event moves the head,
  so it shows at once; otherwise nothing is recomputed.

Every number comes from ``audit.views`` (which reads the read models, never the log). Besides
caching, this module still runs a few read-model queries of its own (case-note months, round
notes, the event log's filters and pages) and shapes frames for display and download;
``reach_data`` and ``survey_data`` cache their pages' reads the same way. The database URL is
read in one place, :func:`audit.bootstrap.load_settings` (shared with the CLI).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pandas as pd
import streamlit as st
from sqlalchemy import func, select

from audit import exports, labels, queries, views
from audit import readmodel as rm
from audit.bootstrap import Wiring, bootstrap, load_settings, wire
from audit.projections import Projector, ReadModelsAhead  # noqa: F401 - app.py catches it
from audit.views import MEASURE_LABELS, Headline, TeamChart
from events import EventStore, Head, VerifyResult
from events.chain import LogKeyError  # noqa: F401 - app.py catches it
from events.types import EVENT_TYPES, MEASURES

PAGE_SIZE = 50
"""Events per page of the event log."""
MAX_SCAN = 5_000
"""At most this many events are read to fill one filtered page of the event log."""
_CHUNK = 500
_CACHE = {"show_spinner": False, "max_entries": 256}

# One set of words and colours for the dashboard and the pack (audit/labels.py).
VARIATION_BADGES: dict[str | None, str] = labels.VARIATION_BADGES
ASSURANCE_BADGES: dict[str | None, str] = labels.ASSURANCE_BADGES
ASSURANCE_MEANING: dict[str | None, str] = labels.ASSURANCE_MEANING
BADGE_COLOURS: dict[str, tuple[str, str]] = {
    # badge text: (background, text colour); the NHS "Making Data Count" icon colours, each
    # with words, so colour is never the only signal.
    VARIATION_BADGES["improvement"]: ("#00B0F0", "#000000"),
    VARIATION_BADGES["concern"]: ("#E46C0A", "#000000"),
    VARIATION_BADGES["neither"]: ("#490092", "#FFFFFF"),
    VARIATION_BADGES["common_cause"]: ("#A6A6A6", "#000000"),
    ASSURANCE_BADGES["pass"]: ("#00B0F0", "#000000"),
    ASSURANCE_BADGES["fail"]: ("#E46C0A", "#000000"),
    ASSURANCE_BADGES["hit_or_miss"]: ("#A6A6A6", "#000000"),
    ASSURANCE_BADGES["not_assessable"]: ("#FFEB3B", "#000000"),
}
FINDING_BADGES = {"yes": "✔ yes", "no": "✘ no", "not_applicable": "– n/a"}
CHART_TYPES = {"p": "p-chart", "xmr": "XmR", "run": "Run chart"}
SMALL_SAMPLE_BADGE = "⚠ small (n < 10)"


# ------------------------------------------------------------------------------ the database


@st.cache_resource(show_spinner=False)
def _open(url: str) -> tuple[EventStore, Projector]:
    wiring = bootstrap(url)
    return wiring.store, wiring.projector


def current_url() -> str:
    """The database URL in the one precedence shared with the CLI (:mod:`audit.bootstrap`)."""
    return load_settings().database_url


def wiring() -> Wiring:
    """Store, projector and pseudonym registry for this run: the settings (and so the key)
    are read now, the store and projector are the server's cached ones."""
    settings = load_settings()
    return wire(settings, *_open(settings.database_url))


@dataclass(frozen=True)
class Snapshot:
    """The log as the pages see it on this run: the cache key of every read."""

    url: str
    position: int
    head_hash: str
    recorded_at: str | None
    lag: int

    @property
    def empty(self) -> bool:
        return self.position == 0


def refresh() -> Snapshot:
    """Fold any new events into the read models, then read the head (once per run)."""
    url = current_url()
    store, projector = _open(url)
    if (
        projector.lag() != 0
    ):  # below zero: a truncated log, which catch_up refuses (ReadModelsAhead)
        projector.catch_up()
    head = store.head()
    lag = head.position - projector.checkpoint()
    return Snapshot(url, head.position, head.hash, head.recorded_at, lag)


@st.cache_data(**_CACHE)
def _head_as_of(url: str, head: int, as_of: datetime) -> Head:
    return _open(url)[0].head(as_of)


def head_as_of(snap: Snapshot, as_of: datetime) -> Head:
    """The log's head as it stood at ``as_of`` (its position and hash then)."""
    return _head_as_of(snap.url, snap.position, as_of)


def store() -> EventStore:
    return _open(current_url())[0]


def _engine(url: str):
    return _open(url)[0].engine


def as_of_datetime(day: date | None) -> datetime | None:
    """An as-of date means the end of that day, UTC (as ``--as-of`` does on the CLI)."""
    if day is None:
        return None
    return datetime.combine(day, time.max, tzinfo=UTC)


# ---------------------------------------------------------------------------------- reads


@st.cache_data(**_CACHE)
def _teams(url: str, head: int, as_of: datetime | None) -> pd.DataFrame:
    return queries.teams(_engine(url), as_of=as_of)


def teams(snap: Snapshot, as_of: datetime | None = None) -> pd.DataFrame:
    """Registered teams: team_id, name, site, service, synthetic."""
    return _teams(snap.url, snap.position, as_of)


def is_synthetic(snap: Snapshot) -> bool:
    return bool(_teams(snap.url, snap.position, None)["synthetic"].any())


def team_names(snap: Snapshot, as_of: datetime | None = None) -> dict[str, str]:
    """team_id → name, in name order."""
    t = teams(snap, as_of).sort_values("name")
    return dict(zip(t["team_id"], t["name"], strict=True))


@st.cache_data(**_CACHE)
def _overview(url: str, head: int, as_of: datetime | None) -> pd.DataFrame:
    return views.overview(_engine(url), as_of=as_of)


def overview(snap: Snapshot, as_of: datetime | None = None) -> pd.DataFrame:
    """``views.overview``: one row per team × measure, concern first."""
    return _overview(snap.url, snap.position, as_of)


def headlines(snap: Snapshot, as_of: datetime | None = None) -> list[Headline]:
    return views.headlines(overview(snap, as_of))


@st.cache_data(**_CACHE)
def _periods(url: str, head: int, as_of: datetime | None) -> list[str]:
    from audit.measures import audit_measures

    m = audit_measures(_engine(url), as_of=as_of)
    return sorted(m.loc[m["denominator"] > 0, "period"].unique().tolist())


def periods(snap: Snapshot, as_of: datetime | None = None) -> list[str]:
    """Every audited month, oldest first."""
    return _periods(snap.url, snap.position, as_of)


@st.cache_data(**_CACHE)
def _team_chart(
    url: str, head: int, team_id: str, measure: str, chart: str, as_of: datetime | None
) -> TeamChart | None:
    return views.team_chart(_engine(url), team_id, measure, chart=chart, as_of=as_of)


def team_chart(
    snap: Snapshot, team_id: str, measure: str, chart: str = "p", as_of: datetime | None = None
) -> TeamChart | None:
    return _team_chart(snap.url, snap.position, team_id, measure, chart, as_of)


@st.cache_data(**_CACHE)
def _milestones(url: str, head: int, team_id: str, as_of: datetime | None) -> pd.DataFrame:
    return queries.team_facts(_engine(url), team_id, types=("MilestoneLogged",), as_of=as_of)


def milestones(snap: Snapshot, team_id: str, as_of: datetime | None = None) -> pd.DataFrame:
    return _milestones(snap.url, snap.position, team_id, as_of)


@st.cache_data(**_CACHE)
def _sampled_notes(
    url: str, head: int, team_id: str, period: str, as_of: datetime | None
) -> pd.DataFrame:
    return queries.sampled_notes(_engine(url), team_id, period, as_of=as_of)


def sampled_notes(
    snap: Snapshot, team_id: str, period: str, as_of: datetime | None = None
) -> pd.DataFrame:
    return _sampled_notes(snap.url, snap.position, team_id, period, as_of)


@st.cache_data(**_CACHE)
def _agreement(url: str, head: int, team_id: str | None, as_of: datetime | None) -> dict:
    return views.agreement(_engine(url), team_id=team_id, as_of=as_of)


def agreement(snap: Snapshot, team_id: str | None, as_of: datetime | None = None) -> dict:
    return _agreement(snap.url, snap.position, team_id, as_of)


@st.cache_data(**_CACHE)
def _funnel(
    url: str,
    head: int,
    measure: str,
    period_from: str | None,
    period_to: str | None,
    as_of: datetime | None,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    return views.funnel(
        _engine(url), measure, period_from=period_from, period_to=period_to, as_of=as_of
    )


def funnel(
    snap: Snapshot,
    measure: str,
    period_from: str | None = None,
    period_to: str | None = None,
    as_of: datetime | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """``views.funnel``: teams' pooled proportions over the window, limit curves and θ."""
    return _funnel(snap.url, snap.position, measure, period_from, period_to, as_of)


# ------------------------------------------------------------- culture shift and review change


@st.cache_data(**_CACHE)
def _curve(url: str, head: int, as_of: datetime | None) -> tuple:
    from audit import curve

    engine = _engine(url)
    return (
        curve.culture_curve(engine, as_of=as_of),
        curve.team_starts(engine, as_of=as_of),
        curve.training_waves(engine, as_of=as_of),
    )


def culture_curve(
    snap: Snapshot, as_of: datetime | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``audit.curve``: the headline curve, each team's SIP start and the training waves."""
    return _curve(snap.url, snap.position, as_of)


@st.cache_data(**_CACHE)
def _last_review(url: str, head: int, as_of: datetime | None):
    from audit.changes import last_programme_review

    return last_programme_review(_engine(url), as_of=as_of)


def last_review(snap: Snapshot, as_of: datetime | None = None):
    """The last programme-level sign-off known at ``as_of`` (``ReviewPoint``), or None."""
    return _last_review(snap.url, snap.position, as_of)


def review_change(
    snap: Snapshot, since: datetime, as_of: datetime | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """What changed between ``since`` and ``as_of`` (both as-of views): the changed states,
    and each current grid row's direction ("better", "worse", "same", "new")."""
    from audit.changes import directions, state_changes

    before, after = overview(snap, since), overview(snap, as_of)
    return state_changes(before, after), directions(before, after)


def changes_table(changes: pd.DataFrame) -> pd.DataFrame:
    """The change list as shown: team, enabler, what changed, then and now (in badge words)."""
    return pd.DataFrame(
        {
            "Team": changes["team"],
            "Enabler": changes["measure_label"],
            "What changed": changes["field_label"],
            "Then": changes["then_label"],
            "Now": changes["now_label"],
        }
    )


N_SOURCES = views.N_SOURCES


@st.cache_data(**_CACHE)
def _compare(
    url: str,
    head: int,
    measure: str,
    mode: str,
    period: str | None,
    period_from: str | None,
    period_to: str | None,
    n_source: str,
    as_of: datetime | None,
) -> views.Comparison:
    return views.compare(
        _engine(url),
        measure,
        mode=mode,
        period=period,
        period_from=period_from,
        period_to=period_to,
        n_source=n_source,
        as_of=as_of,
    )


def compare(
    snap: Snapshot,
    measure: str,
    mode: str = "quarter",
    period: str | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    n_source: str = "sample",
    as_of: datetime | None = None,
) -> views.Comparison:
    """``views.compare``: the teams over a window (default the latest complete quarter)."""
    return _compare(
        snap.url, snap.position, measure, mode, period, period_from, period_to, n_source, as_of
    )


# ------------------------------------------------------------------------- write pages' reads


@st.cache_data(**_CACHE)
def _case_note_months(url: str, head: int, team_id: str) -> pd.DataFrame:
    c = rm.case_notes.c
    q = (
        select(c.period, func.count())
        .where(c.team_id == team_id)
        .group_by(c.period)
        .order_by(c.period.desc())
    )
    with _engine(url).connect() as conn:
        rows = conn.execute(q).fetchall()
    return pd.DataFrame(rows, columns=["period", "notes"])


def case_note_months(snap: Snapshot, team_id: str) -> pd.DataFrame:
    """Months in which the team has consultations (newest first) and how many."""
    return _case_note_months(snap.url, snap.position, team_id)


@st.cache_data(**_CACHE)
def _rounds(url: str, head: int, team_id: str | None, period: str | None) -> list:
    from audit.service import rounds_for

    return rounds_for(_engine(url), team_id=team_id, period=period)


def rounds(snap: Snapshot, team_id: str | None = None, period: str | None = None) -> list:
    """``audit.service.rounds_for``: the audit rounds (``RoundInfo``), oldest first."""
    return _rounds(snap.url, snap.position, team_id, period)


@st.cache_data(**_CACHE)
def _round_reviews(url: str, head: int, round_id: str) -> list[dict]:
    from audit.service import round_reviews

    return round_reviews(_engine(url), round_id)


def round_reviews(snap: Snapshot, round_id: str) -> list[dict]:
    return _round_reviews(snap.url, snap.position, round_id)


@st.cache_data(**_CACHE)
def _round_progress(url: str, head: int, round_id: str):
    from audit.service import round_progress

    return round_progress(_engine(url), round_id)


def round_progress(snap: Snapshot, round_id: str):
    """``audit.service.round_progress``: first x/n, second y/m."""
    return _round_progress(snap.url, snap.position, round_id)


@st.cache_data(**_CACHE)
def _case_notes(url: str, head: int, ids: tuple[str, ...]) -> pd.DataFrame:
    engine = _engine(url)
    frames = []
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        q = select(
            rm.case_notes.c.consultation_id,
            rm.case_notes.c.patient_ref,
            rm.case_notes.c.occurred_on,
            rm.case_notes.c.clinician_id,
        ).where(rm.case_notes.c.consultation_id.in_(chunk))
        with engine.connect() as conn:
            frames.append(
                pd.DataFrame(conn.execute(q).fetchall(), columns=list(q.selected_columns.keys()))
            )
    found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    order = pd.DataFrame({"consultation_id": list(ids)})
    if found.empty:
        return order.assign(patient_ref=None, occurred_on=None, clinician_id=None)
    return order.merge(found, on="consultation_id", how="left")


def case_notes(snap: Snapshot, ids: tuple[str, ...]) -> pd.DataFrame:
    """The consultations behind sampled notes, in the given order: pseudonymous patient,
    date, clinician (never a finding)."""
    return _case_notes(snap.url, snap.position, tuple(ids))


@st.cache_data(**_CACHE)
def _team_facts(url: str, head: int, team_id: str, types: tuple[str, ...]) -> pd.DataFrame:
    return queries.team_facts(_engine(url), team_id, types=types)


def team_facts(snap: Snapshot, team_id: str, types: tuple[str, ...]) -> pd.DataFrame:
    """``queries.team_facts``: the team's milestones, baselines, targets, commentary…"""
    return _team_facts(snap.url, snap.position, team_id, tuple(types))


# ------------------------------------------------------------------------------ integrity


@st.cache_resource(show_spinner=False)
def _verifications() -> dict[str, tuple[int, VerifyResult, str]]:
    """The last full verification per database URL, shared by every session."""
    return {}


@st.cache_data(show_spinner=False, max_entries=16)
def _verify(url: str, head: int) -> VerifyResult:
    return _open(url)[0].verify()


def verify(snap: Snapshot) -> VerifyResult:
    """Recompute the whole hash chain (once per head; the result is kept for everyone)."""
    result = _verify(snap.url, snap.position)
    checked = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    previous = _verifications().get(snap.url)
    if previous is None or previous[0] != snap.position:
        _verifications()[snap.url] = (snap.position, result, checked)
    return result


def last_verification(snap: Snapshot) -> tuple[int, VerifyResult, str] | None:
    """(head position when checked, result, when) of the last full verification, if any."""
    return _verifications().get(snap.url)


# ------------------------------------------------------------------------------ event log


@dataclass(frozen=True)
class EventPage:
    rows: pd.DataFrame
    next_after: int | None  # None: nothing more to read
    scanned: int
    capped: bool  # stopped after MAX_SCAN events without filling the page


def event_types() -> list[str]:
    return sorted(EVENT_TYPES)


def _teams_of(url: str, consultations: set[str], rounds: set[str]) -> dict[str, str]:
    """Team of each consultation and audit round named on a page (bounded: one chunk)."""
    out: dict[str, str] = {}
    with _engine(url).connect() as conn:
        if consultations:
            q = select(rm.case_notes.c.consultation_id, rm.case_notes.c.team_id).where(
                rm.case_notes.c.consultation_id.in_(sorted(consultations))
            )
            out.update({f"consultation-{c}": t for c, t in conn.execute(q)})
        if rounds:
            q = select(rm.audit_rounds.c.round_id, rm.audit_rounds.c.team_id).where(
                rm.audit_rounds.c.round_id.in_(sorted(rounds))
            )
            out.update({f"audit-{r}": t for r, t in conn.execute(q)})
    return out


def _when(stamp: str) -> str:
    """``2024-01-31T09:00:00.000000Z`` → ``2024-01-31 09:00:00`` (UTC)."""
    return stamp[:19].replace("T", " ")


def _event_team(ev, lookup: dict[str, str]) -> str | None:
    team = ev.payload.get("team_id")
    if team:
        return str(team)
    if ev.stream_id.startswith("team-"):
        return ev.stream_id[len("team-") :]
    return lookup.get(ev.stream_id)


def event_page(
    snap: Snapshot,
    *,
    after: int = 0,
    types: tuple[str, ...] = (),
    stream_prefix: str = "",
    team_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    as_of: datetime | None = None,
) -> EventPage:
    """One page of the log after position ``after`` (keyset paging, never the whole log).

    Event types are filtered in SQL (``store.read_all(types=...)``); the stream prefix, team and
    occurred-on dates are filtered here, page by page, reading at most ``MAX_SCAN`` events.
    """
    es = _open(snap.url)[0]
    needs_filter = bool(stream_prefix or team_id or date_from or date_to)
    chunk = _CHUNK if needs_filter else PAGE_SIZE
    records: list[dict] = []
    cursor, scanned, at_end = after, 0, False
    while len(records) < PAGE_SIZE and scanned < MAX_SCAN:
        n = min(chunk, MAX_SCAN - scanned)
        batch = list(
            es.read_all(after=cursor, limit=n, types=list(types) or None, as_of=as_of, batch_size=n)
        )
        lookup: dict[str, str] = {}
        if team_id and batch:
            lookup = _teams_of(
                snap.url,
                {e.stream_id[13:] for e in batch if e.stream_id.startswith("consultation-")},
                {e.stream_id[6:] for e in batch if e.stream_id.startswith("audit-")},
            )
        for ev in batch:
            scanned += 1
            cursor = ev.position
            team = _event_team(ev, lookup)
            day = ev.occurred_at[:10]
            if (
                (stream_prefix and not ev.stream_id.startswith(stream_prefix))
                or (team_id and team != team_id)
                or (date_from and day < date_from.isoformat())
                or (date_to and day > date_to.isoformat())
            ):
                continue
            records.append(
                {
                    "position": ev.position,
                    "recorded_at": _when(ev.recorded_at),
                    "occurred_at": _when(ev.occurred_at),
                    "stream": ev.stream_id,
                    "version": ev.stream_version,
                    "type": ev.type,
                    "team": team or "",
                    "actor": str(ev.metadata.get("actor", "")),
                    "payload": json.dumps(ev.payload, sort_keys=True, default=str),
                    "hash": ev.hash[:16] + "…",
                }
            )
            if len(records) == PAGE_SIZE:
                break
        if len(batch) < n and (not batch or cursor == batch[-1].position):
            at_end = True
            break
    capped = len(records) < PAGE_SIZE and not at_end and scanned >= MAX_SCAN
    columns = [
        "position",
        "recorded_at",
        "occurred_at",
        "stream",
        "version",
        "type",
        "team",
        "actor",
        "payload",
        "hash",
    ]
    return EventPage(
        rows=pd.DataFrame(records, columns=columns),
        next_after=None if at_end or cursor >= snap.position else cursor,
        scanned=scanned,
        capped=capped,
    )


# ------------------------------------------------------------------------- display shaping


def filter_grid(
    grid: pd.DataFrame,
    *,
    site: str | None = None,
    service: str | None = None,
    measure: str | None = None,
) -> pd.DataFrame:
    """Rows of the overview grid for the chosen site, service and enabler (order kept)."""
    if grid.empty:
        return grid
    keep = pd.Series(True, index=grid.index)
    if site:
        keep &= grid["site"] == site
    if service:
        keep &= grid["service"] == service
    if measure:
        keep &= grid["measure"] == measure
    return grid[keep].reset_index(drop=True)


def grid_table(grid: pd.DataFrame) -> pd.DataFrame:
    """The overview grid as shown: icons with words, small samples marked, a sparkline."""
    cols = [
        "Team",
        "Enabler",
        "Latest %",
        "Notes reviewed (n)",
        "Variation",
        "Assurance",
        "Target",
        "The norm?",
        "Since last review",
        "Last 12 months",
        "Sample",
        "Latest month",
        "Sustained improvement from",
        "Culture shift",
        "Site",
        "Service",
    ]
    if grid.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(
        {
            "Team": grid["team"],
            "Enabler": grid["measure_label"],
            "Latest %": grid["latest"],
            "Notes reviewed (n)": grid["n"],
            "Variation": grid["variation"].map(lambda v: VARIATION_BADGES.get(v, str(v))),
            "Assurance": grid["assurance"].map(lambda a: ASSURANCE_BADGES.get(a, str(a))),
            "Target": grid["target"],
            "The norm?": grid["is_norm"].map(lambda n: labels.NORM_LABELS[bool(n)]),
            "Since last review": (
                grid["direction"].map(labels.DIRECTION_LABELS)
                if "direction" in grid
                else pd.Series("", index=grid.index)
            ),
            "Last 12 months": grid["sparkline"],
            "Sample": grid["small"].map(lambda s: SMALL_SAMPLE_BADGE if s else ""),
            "Latest month": grid["latest_period"],
            "Sustained improvement from": grid["first_improvement"].fillna("—"),
            "Culture shift": grid.get("culture", ""),
            "Site": grid["site"],
            "Service": grid["service"],
        }
    )[cols]


def improved_but_failing(grid: pd.DataFrame) -> int:
    """Rows whose latest point is an improvement while assurance (from limits drawn before the
    change) says fail: the page explains how to read them."""
    if grid.empty:
        return 0
    return int(((grid["variation"] == "improvement") & (grid["assurance"] == "fail")).sum())


def spc_frame(tc: TeamChart) -> pd.DataFrame:
    """Per-point frame for ``charts.spc_chart``: the SPC points with their Wilson interval,
    census estimate, small and provisional flags and the target in force (the judgement's
    frame, so gaps, provisional months and targets are drawn as judged)."""
    if tc.frame is not None:
        return tc.frame.copy()
    points = tc.result.to_frame()
    extra = tc.table[["period", "ci_low", "ci_high", "small", "census_proportion"]]
    return points.merge(extra, on="period", how="left")


def window(frame: pd.DataFrame, period_from: str | None, period_to: str | None) -> pd.DataFrame:
    """Rows whose ``period`` lies in the window (limits stay as computed on the whole series)."""
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    if period_from:
        keep &= frame["period"].astype(str) >= period_from
    if period_to:
        keep &= frame["period"].astype(str) <= period_to
    return frame[keep].reset_index(drop=True)


def period_table(
    tc: TeamChart, period_from: str | None = None, period_to: str | None = None
) -> pd.DataFrame:
    """The periods of a team chart as shown: sample estimate with its interval, census beside."""
    t = window(tc.table, period_from, period_to)
    points = tc.result.to_frame()[["period", "signals"]]
    t = t.merge(points, on="period", how="left")
    return pd.DataFrame(
        {
            "Month": t["period"],
            "Documented (sample)": t["proportion"],
            "Notes documenting it": t["numerator"],
            "Notes reviewed (n)": t["denominator"],
            "95% interval from": t["ci_low"],
            "95% interval to": t["ci_high"],
            "Sample": t["small"].map(lambda s: SMALL_SAMPLE_BADGE if s else ""),
            "Status": t["provisional"].map(lambda p: "provisional (round open)" if p else "final")
            if "provisional" in t
            else "final",
            "Target in force": t.get("target"),
            "Census (all notes)": t["census_proportion"],
            "Census n": t["census_n"],
            "Centre": t["centre"],
            "Lower limit": t["lower_limit"],
            "Upper limit": t["upper_limit"],
            "Variation": t["point_type"].map(lambda v: VARIATION_BADGES.get(v, str(v))),
            "Rule(s)": t["signals"]
            .fillna("")
            .map(lambda s: ", ".join(x.replace("_", " ") for x in s.split(", ") if x) or "—"),
        }
    )


def notes_table(notes: pd.DataFrame, names: dict[str, str] | None = None) -> pd.DataFrame:
    """Sampled case notes as shown: pseudonymous ids only, findings as labelled icons."""
    if notes.empty:
        return pd.DataFrame(
            columns=[
                "Consultation",
                "Patient (pseudonym)",
                "Seen on",
                "Clinician",
                "Reviewer",
                "Review",
                "Agenda setting",
                "Goal setting",
                "Follow-up",
                "Audit round",
            ]
        )
    return pd.DataFrame(
        {
            "Consultation": notes["consultation_id"],
            "Patient (pseudonym)": notes["patient_ref"],
            "Seen on": notes["occurred_on"],
            "Clinician": notes["clinician_id"],
            "Reviewer": notes["reviewer_id"],
            "Review": notes["second_review"].map(lambda s: "second (blind)" if s else "first"),
            "Agenda setting": notes["agenda_setting"].map(lambda f: FINDING_BADGES.get(f, f)),
            "Goal setting": notes["goal_setting"].map(lambda f: FINDING_BADGES.get(f, f)),
            "Follow-up": notes["follow_up"].map(lambda f: FINDING_BADGES.get(f, f)),
            "Audit round": notes["round_id"],
        }
    )


def league_table(teams_frame: pd.DataFrame) -> pd.DataFrame:
    """Funnel teams as a table: proportion always beside its Wilson 95% interval."""
    from dashboard.charts import funnel_position_label

    cols = [
        "Team",
        "Documented",
        "95% interval from",
        "95% interval to",
        "Notes documenting it",
        "Notes reviewed (n)",
        "Funnel position",
    ]
    if teams_frame.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(
        {
            "Team": teams_frame["team_name"],
            "Documented": teams_frame["proportion"],
            "95% interval from": teams_frame["ci_low"],
            "95% interval to": teams_frame["ci_high"],
            "Notes documenting it": teams_frame["numerator"],
            "Notes reviewed (n)": teams_frame["denominator"],
            "Funnel position": teams_frame.apply(funnel_position_label, axis=1),
        }
    )[cols]


def measure_label(measure: str) -> str:
    return MEASURE_LABELS.get(measure, measure)


def measures() -> list[str]:
    return list(MEASURES)


# ------------------------------------------------------------------------------- downloads


def to_csv(df: pd.DataFrame) -> bytes:
    """CSV download, formula-leading cells neutralised (:mod:`audit.exports`)."""
    return exports.to_csv_bytes(_flat(df))


def to_excel(df: pd.DataFrame, sheet: str = "sipdash") -> bytes:
    """Excel download, formula-leading cells neutralised (:mod:`audit.exports`)."""
    return exports.to_xlsx_bytes(_flat(df), sheet=sheet)


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Lists (sparklines) as text, so CSV and Excel cells hold plain values."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, list)).any():
            out[col] = out[col].map(
                lambda v: " ".join(f"{x:.2f}" for x in v) if isinstance(v, list) else v
            )
    return out
