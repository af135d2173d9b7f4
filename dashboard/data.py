"""The dashboard's main caching seam between the pages and ``audit``/``events``.

- ``@st.cache_resource``: one :class:`EventStore` and :class:`Projector` per database URL.
- ``@st.cache_data``: every read, keyed on the database URL, the log's head position (read
  after the projector has caught up) and the view's own arguments. A new event moves the head,
  so it shows at once; otherwise nothing is recomputed.

Every number comes from ``audit.views`` and ``audit.queries`` (which read the read models,
never the log); this module holds no SQL and only caches. Display shaping lives in
:mod:`dashboard.presentation`, downloads in :mod:`dashboard.downloads` (both re-exported here
for the pages); ``reach_data`` and ``survey_data`` cache their pages' reads the same way. The
database URL is read in one place, :func:`audit.bootstrap.load_settings` (shared with the CLI).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pandas as pd
import streamlit as st

from audit import labels, queries, views
from audit.bootstrap import Wiring, bootstrap, load_settings, wire
from audit.projections import Projector, ReadModelsAhead  # noqa: F401 - app.py catches it
from audit.views import Headline, TeamChart
from dashboard import presentation

# Display shaping and downloads live in their own modules; re-exported for the pages.
from dashboard.downloads import to_csv, to_excel  # noqa: F401
from dashboard.presentation import (  # noqa: F401
    ASSURANCE_BADGES,
    ASSURANCE_MEANING,
    BADGE_COLOURS,
    CHART_TYPES,
    FINDING_BADGES,
    SMALL_SAMPLE_BADGE,
    VARIATION_BADGES,
    agreement_text,
    changes_table,
    filter_grid,
    grid_table,
    improved_but_failing,
    league_table,
    period_table,
    spc_frame,
    window,
)
from events import EventStore, Head, VerifyResult
from events.chain import LogKeyError  # noqa: F401 - app.py catches it
from events.elements import Registry

PAGE_SIZE = 50
"""Events per page of the event log."""
MAX_SCAN = 5_000
"""At most this many events are read to fill one filtered page of the event log."""
_CACHE = {"show_spinner": False, "max_entries": 256}


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


def _at(snap: Snapshot, as_of: datetime | None) -> int:
    """The log position an as-of read is cached under: the head as it stood at ``as_of``
    (every read is as-of exact, so a later event cannot change it: the view stays cached
    after appends), else the current head."""
    return snap.position if as_of is None else head_as_of(snap, as_of).position


def store() -> EventStore:
    return _open(current_url())[0]


def _engine(url: str):
    return _open(url)[0].engine


def _elements(url: str) -> Registry:
    return _open(url)[1].registry


def elements() -> Registry:
    """The wired registry (bootstrap's, the projector's): every per-enabler list, label and
    form field on the pages derives from it, never from the default registry."""
    return _elements(current_url())


def measures() -> list[str]:
    """The wired registry's measures: each enabler, then the bundle."""
    return presentation.measures(elements())


def measure_label(measure: str) -> str:
    return presentation.measure_label(measure, elements())


def notes_table(notes: pd.DataFrame, names: dict[str, str] | None = None) -> pd.DataFrame:
    return presentation.notes_table(notes, names, elements())


def agreement_by_enabler_text(agree: dict) -> str | None:
    return presentation.agreement_by_enabler_text(agree, elements().labels)


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
    return _teams(snap.url, _at(snap, as_of), as_of)


def is_synthetic(snap: Snapshot) -> bool:
    return bool(_teams(snap.url, snap.position, None)["synthetic"].any())


def team_names(snap: Snapshot, as_of: datetime | None = None) -> dict[str, str]:
    """team_id → name, in name order."""
    t = teams(snap, as_of).sort_values("name")
    return dict(zip(t["team_id"], t["name"], strict=True))


@st.cache_data(**_CACHE)
def _measures(url: str, head: int, as_of: datetime | None) -> pd.DataFrame:
    """``views.programme_measures``: read once per head and as-of, then shared by the grid,
    the culture-shift curve, the triangulation and the months list (after a new review each
    of them used to read and count the first reviews again: three reads per overview run)."""
    return views.programme_measures(_engine(url), as_of=as_of, elements=_elements(url))


@st.cache_data(**_CACHE)
def _overview(url: str, head: int, as_of: datetime | None) -> pd.DataFrame:
    return views.overview(
        _engine(url),
        as_of=as_of,
        elements=_elements(url),
        measures=_measures(url, head, as_of),
    )


def overview(snap: Snapshot, as_of: datetime | None = None) -> pd.DataFrame:
    """``views.overview``: one row per team × measure, concern first."""
    return _overview(snap.url, _at(snap, as_of), as_of)


@st.cache_data(**_CACHE)
def _headlines(url: str, head: int, as_of: datetime | None) -> list[Headline]:
    return views.headlines(_overview(url, head, as_of), elements=_elements(url))


def headlines(snap: Snapshot, as_of: datetime | None = None) -> list[Headline]:
    return _headlines(snap.url, _at(snap, as_of), as_of)


@st.cache_data(**_CACHE)
def _periods(url: str, head: int, as_of: datetime | None) -> list[str]:
    m = _measures(url, head, as_of)
    return sorted(m.loc[m["denominator"] > 0, "period"].unique().tolist())


def periods(snap: Snapshot, as_of: datetime | None = None) -> list[str]:
    """Every audited month, oldest first."""
    return _periods(snap.url, _at(snap, as_of), as_of)


@st.cache_data(**_CACHE)
def _team_chart(
    url: str, head: int, team_id: str, measure: str, chart: str, as_of: datetime | None
) -> TeamChart | None:
    return views.team_chart(
        _engine(url), team_id, measure, chart=chart, as_of=as_of, elements=_elements(url)
    )


def team_chart(
    snap: Snapshot, team_id: str, measure: str, chart: str = "p", as_of: datetime | None = None
) -> TeamChart | None:
    return _team_chart(snap.url, _at(snap, as_of), team_id, measure, chart, as_of)


@st.cache_data(**_CACHE)
def _milestones(url: str, head: int, team_id: str, as_of: datetime | None) -> pd.DataFrame:
    return queries.team_facts(_engine(url), team_id, types=("MilestoneLogged",), as_of=as_of)


def milestones(snap: Snapshot, team_id: str, as_of: datetime | None = None) -> pd.DataFrame:
    return _milestones(snap.url, _at(snap, as_of), team_id, as_of)


@st.cache_data(**_CACHE)
def _sampled_notes(
    url: str, head: int, team_id: str, period: str, as_of: datetime | None
) -> pd.DataFrame:
    return queries.sampled_notes(
        _engine(url), team_id, period, as_of=as_of, elements=_elements(url)
    )


def sampled_notes(
    snap: Snapshot, team_id: str, period: str, as_of: datetime | None = None
) -> pd.DataFrame:
    return _sampled_notes(snap.url, _at(snap, as_of), team_id, period, as_of)


@st.cache_data(**_CACHE)
def _agreement(url: str, head: int, team_id: str | None, as_of: datetime | None) -> dict:
    return views.agreement(_engine(url), team_id=team_id, as_of=as_of, elements=_elements(url))


def agreement(snap: Snapshot, team_id: str | None, as_of: datetime | None = None) -> dict:
    return _agreement(snap.url, _at(snap, as_of), team_id, as_of)


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
        _engine(url),
        measure,
        period_from=period_from,
        period_to=period_to,
        as_of=as_of,
        elements=_elements(url),
    )


def funnel(
    snap: Snapshot,
    measure: str,
    period_from: str | None = None,
    period_to: str | None = None,
    as_of: datetime | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """``views.funnel``: teams' pooled proportions over the window, limit curves and θ."""
    return _funnel(snap.url, _at(snap, as_of), measure, period_from, period_to, as_of)


# ------------------------------------------------------------- culture shift and review change


@st.cache_data(**_CACHE)
def _curve(url: str, head: int, as_of: datetime | None) -> tuple:
    from audit import curve

    engine = _engine(url)
    per_team = curve.team_curve(engine, as_of=as_of, measures=_measures(url, head, as_of))
    return (
        curve.culture_curve(engine, as_of=as_of, per_team=per_team, elements=_elements(url)),
        curve.team_starts(engine, as_of=as_of),
        curve.training_waves(engine, as_of=as_of),
    )


def culture_curve(
    snap: Snapshot, as_of: datetime | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``audit.curve``: the headline curve, each team's SIP start and the training waves."""
    return _curve(snap.url, _at(snap, as_of), as_of)


@st.cache_data(**_CACHE)
def _last_review(url: str, head: int, as_of: datetime | None):
    from audit.changes import last_programme_review

    return last_programme_review(_engine(url), as_of=as_of)


def last_review(snap: Snapshot, as_of: datetime | None = None):
    """The last programme-level sign-off known at ``as_of`` (``ReviewPoint``), or None."""
    return _last_review(snap.url, _at(snap, as_of), as_of)


@st.cache_data(**_CACHE)
def _review_change(
    url: str, since_head: int, head: int, since: datetime, as_of: datetime | None
) -> tuple[pd.DataFrame, pd.Series]:
    from audit.changes import directions, state_changes

    before, after = _overview(url, since_head, since), _overview(url, head, as_of)
    return state_changes(before, after), directions(before, after)


def review_change(
    snap: Snapshot, since: datetime, as_of: datetime | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """What changed between ``since`` and ``as_of`` (both as-of views): the changed states,
    and each current grid row's direction ("better", "worse", "same", "new"). Cached on the
    head as it stood at each side (as every as-of read), so a new event recomputes it."""
    return _review_change(snap.url, _at(snap, since), _at(snap, as_of), since, as_of)


def read_position(snap: Snapshot, as_of: datetime | None = None) -> int:
    """The log position a read as of ``as_of`` shows (the current head when None): the key a
    page caches something derived from that read under."""
    return _at(snap, as_of)


def frames_digest(*frames: pd.DataFrame) -> str:
    """A digest of the frames' whole contents (values, index, columns, dtypes, and which frame
    is which): the cache key of something made from them, so it is made again when what they
    hold changes, not whenever the log moves. A chart (an append that changes no judged month
    leaves the culture-shift curve as it was) and a table's download bytes (a changed table
    can never get an old file). Pickled, so list cells (sparklines) count too."""
    import hashlib
    import pickle

    return hashlib.sha256(pickle.dumps(frames, protocol=5)).hexdigest()


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
        elements=_elements(url),
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
        snap.url, _at(snap, as_of), measure, mode, period, period_from, period_to, n_source, as_of
    )


# ------------------------------------------------------------------------- write pages' reads


@st.cache_data(**_CACHE)
def _case_note_months(url: str, head: int, team_id: str) -> pd.DataFrame:
    return queries.case_note_months(_engine(url), team_id)


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
    return queries.consultations(_engine(url), ids)


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
    return list(labels.EVENT_TYPE_NAMES)


def _when(stamp: str) -> str:
    """``2024-01-31T09:00:00.000000Z`` → ``2024-01-31 09:00:00`` (UTC)."""
    return stamp[:19].replace("T", " ")


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

    Every filter is one query (:func:`audit.queries.event_log_matches`); with a stream, team or
    date filter it looks at most ``MAX_SCAN`` positions further, so a rare match never makes the
    page scan the whole log (**Next** looks further). The matches are then read from the store,
    upcast as every reader sees them."""
    es = _open(snap.url)[0]
    bounded = bool(stream_prefix or team_id or date_from or date_to)
    window_end = min(after + MAX_SCAN, snap.position) if bounded else snap.position
    matches = queries.event_log_matches(
        es.engine,
        after=after,
        scan_to=window_end,
        limit=PAGE_SIZE,
        types=tuple(types),
        stream_prefix=stream_prefix,
        team_id=team_id,
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
        as_of=as_of,
    )
    records: list[dict] = []
    for position, team in matches:
        (ev,) = es.read_all(after=position - 1, limit=1, batch_size=1)
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
    full = len(records) == PAGE_SIZE
    cursor = matches[-1][0] if full else window_end
    at_end = not full and window_end >= snap.position
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
        scanned=cursor - after,
        capped=not full and not at_end,
    )
