"""The programme's SPC settings: one object, read from the log as known at an as-of moment.

Shift, trend, minimum points, the small-sample threshold, the kappa minimum and the norm window
are programme decisions (``SpcSettingsChanged`` on the ``programme-sip`` stream), not constants,
so an as-of view and a pack rebuilt from an old head judge the teams by the rules in force then.
The dashboard and the pack pass this one object through; nothing else holds these numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from events.types import SpcSettingsChanged

from .spc import SpcSettings

PROGRAMME_STREAM = "programme-sip"
STALE_MONTHS = 3
"""A team whose last final, non-small point is older than this is "not audited recently"."""


@dataclass(frozen=True)
class ProgrammeSettings:
    """Every number the judgement of a team depends on (defaults: MDC and the design)."""

    shift_points: int = 6
    trend_points: int = 6
    minimum_points: int = 13
    small_sample: int = 10
    kappa_minimum_pairs: int = 20
    norm_window: int = 6
    two_of_three_counts_beyond_3sigma: bool = False
    changed_at: str | None = None  # recorded_at of the decision, None for the defaults
    reason: str = ""

    @property
    def spc(self) -> SpcSettings:
        """The rule settings the chart functions take."""
        return SpcSettings(
            shift_points=self.shift_points,
            trend_points=self.trend_points,
            minimum_points=self.minimum_points,
            two_of_three_counts_beyond_3sigma=self.two_of_three_counts_beyond_3sigma,
        )

    def lines(self) -> list[str]:
        """The settings in words, for the pack's method appendix and the team page."""
        beyond = "counted" if self.two_of_three_counts_beyond_3sigma else "not counted"
        when = f" (decided {self.changed_at[:10]})" if self.changed_at else " (defaults)"
        return [
            f"Shift: {self.shift_points} points on one side of the centre line{when}",
            f"Trend: {self.trend_points} points rising or falling in a row",
            f"Two of three beyond 2σ: points beyond 3σ {beyond}",
            f"Limits and icons from {self.minimum_points} points",
            f"Small month: fewer than {self.small_sample} notes in the measure's denominator",
            f"Kappa reported from {self.kappa_minimum_pairs} paired notes",
            f"The norm: assurance pass, or the last {self.norm_window} final, non-small points "
            "all at or better than the target in force at that point",
        ]

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_SETTINGS = ProgrammeSettings()


def settings_from_event(payload: dict, recorded_at: str | None = None) -> ProgrammeSettings:
    """The settings one ``SpcSettingsChanged`` payload decides."""
    event = SpcSettingsChanged.model_validate(payload)
    return ProgrammeSettings(
        shift_points=event.shift_points,
        trend_points=event.trend_points,
        minimum_points=event.minimum_points,
        small_sample=event.small_sample,
        kappa_minimum_pairs=event.kappa_minimum_pairs,
        norm_window=event.norm_window,
        two_of_three_counts_beyond_3sigma=event.two_of_three_counts_beyond_3sigma,
        changed_at=recorded_at,
        reason=event.reason,
    )


def load_settings(store, *, as_of: datetime | None = None) -> ProgrammeSettings:
    """The settings in force at ``as_of`` (the latest decision recorded by then).

    ``store`` is an :class:`events.EventStore`; one indexed read of a short stream.
    """
    events = store.read_stream(PROGRAMME_STREAM, as_of=as_of)
    latest = [e for e in events if e.type == SpcSettingsChanged.type]
    if not latest:
        return DEFAULT_SETTINGS
    return settings_from_event(latest[-1].payload, latest[-1].recorded_at)


def load_settings_from_engine(engine, *, as_of: datetime | None = None) -> ProgrammeSettings:
    """:func:`load_settings` for callers that hold only an engine (views, the CLI)."""
    from events.sql import sql
    from events.store import format_ts

    statement = "SELECT payload, recorded_at FROM events WHERE stream_id = :stream AND type = :type"
    params = {"stream": PROGRAMME_STREAM, "type": SpcSettingsChanged.type}
    if as_of is not None:
        statement += " AND recorded_at <= :as_of"
        params["as_of"] = format_ts(as_of)
    with engine.connect() as conn:
        row = conn.execute(sql(statement + " ORDER BY position DESC LIMIT 1"), params).fetchone()
    if row is None:
        return DEFAULT_SETTINGS
    import json

    return settings_from_event(json.loads(row[0]), row[1])
