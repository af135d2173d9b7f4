"""Small streamlit helpers every page uses: the run's context, downloads, plain-English help."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import streamlit as st

from audit.settings import DEFAULT_SETTINGS, ProgrammeSettings
from dashboard import access, data
from dashboard.chart_cache import altair_chart as altair_chart  # the pages call ui.altair_chart

_CTX = "_sipdash_context"
_FLASH = "_sipdash_flash"


@dataclass(frozen=True)
class Context:
    """What the frame (app.py) decided for this run: the log's head, the as-of cut-off and the
    period window."""

    snap: data.Snapshot
    as_of_day: date | None
    as_of: datetime | None
    period_from: str | None
    period_to: str | None
    access: access.Access | None = None

    @property
    def actor(self) -> str:
        return (self.access.actor if self.access else None) or access.LOCAL_ACTOR

    @property
    def as_of_text(self) -> str:
        if self.as_of_day is None:
            return "latest data"
        return f"data as known at the end of {self.as_of_day:%d %B %Y} (UTC)"


def set_context(ctx: Context) -> None:
    st.session_state[_CTX] = ctx


def context() -> Context:
    return st.session_state[_CTX]


def require_editor() -> access.Access:
    """Defence in depth for a write page: work out the user's access afresh (not from the
    navigation) and, unless they may write, say so and stop the page before any form."""
    acc = access.current()
    if not acc.can_write:
        st.info(access.READ_ONLY_MESSAGE, icon=":material/lock:")
        st.stop()
    return acc


def flash(message: str, kind: str = "success") -> None:
    """A message to show at the top of the page after the rerun that follows a write."""
    st.session_state[_FLASH] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop(_FLASH, (None, None))
    if message:
        getattr(st, kind)(message, icon=":material/check_circle:" if kind == "success" else None)


def empty_database_notice() -> None:
    st.info(
        "The database holds no audit data yet. Load the synthetic demo with "
        "`sipdash seed`, or import consultations and reviews with `sipdash import`."
    )


def _record_download(name: str) -> None:
    """A table download, recorded in the log (``ExportRecorded``, subject "table")."""
    from dashboard import writes

    ctx = st.session_state.get(_CTX)
    actor = ctx.actor if ctx is not None else access.LOCAL_ACTOR
    try:
        writes.record_table_export(name, actor=actor)
    except Exception:  # the download itself must never fail because of the record
        st.session_state[_FLASH] = ("warning", f"The download of {name} could not be recorded.")


@st.cache_data(show_spinner=False, max_entries=64)
def _csv_bytes(digest: str, _df: pd.DataFrame) -> bytes:
    return data.to_csv(_df)


@st.cache_data(show_spinner=False, max_entries=64)
def _excel_bytes(digest: str, sheet: str, _df: pd.DataFrame) -> bytes:
    return data.to_excel(_df, sheet=sheet)


def downloads(df: pd.DataFrame, name: str, *, key: str) -> None:
    """CSV and Excel downloads of a table exactly as shown; each download is recorded.
    The files are made when a button is clicked (Streamlit's deferred download), not on every
    run that draws the table: the first look at a team's chart spent ~14 % of its run building
    a workbook and a CSV nobody had asked for (issue #19). The bytes are cached on the table's
    content, so a second click, or the same table again, reuses them."""
    digest = data.frames_digest(df)
    left, right, _ = st.columns([1, 1, 4])
    left.download_button(
        "CSV",
        icon=":material/download:",
        data=lambda: _csv_bytes(digest, df),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        help="Download this table as CSV (the download is recorded in the event log)",
        on_click=_record_download,
        args=(f"{name}.csv",),
    )
    right.download_button(
        "Excel",
        icon=":material/download:",
        data=lambda: _excel_bytes(digest, name, df),
        file_name=f"{name}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx",
        help="Download this table as an Excel workbook (the download is recorded in the event log)",
        on_click=_record_download,
        args=(f"{name}.xlsx",),
    )


def badge(text: str) -> str:
    """HTML of a coloured MDC badge with its words (for st.markdown with unsafe_allow_html)."""
    bg, fg = data.BADGE_COLOURS.get(text, ("#E8EDEE", "#212B32"))
    return (
        f'<span style="background:{bg};color:{fg};padding:0.15em 0.55em;border-radius:0.4em;'
        f'font-weight:600;white-space:nowrap">{text}</span>'
    )


def styled(df: pd.DataFrame, columns: tuple[str, ...] = ("Variation", "Assurance")):
    """The frame with its badge columns coloured (NHS MDC colours, words kept)."""

    def css(value: object) -> str:
        colours = data.BADGE_COLOURS.get(str(value))
        return f"background-color: {colours[0]}; color: {colours[1]}" if colours else ""

    present = [c for c in columns if c in df.columns]
    return df.style.map(css, subset=present) if present else df


def percent(label: str, help: str | None = None) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format="percent", help=help)


@st.cache_data(show_spinner=False, max_entries=64)
def _programme_settings(url: str, head: int, as_of: datetime | None) -> ProgrammeSettings:
    from audit.settings import load_settings_from_engine

    return load_settings_from_engine(data._engine(url), as_of=as_of)


def programme_settings(ctx: Context) -> ProgrammeSettings:
    """The programme's SPC settings as of the page's moment (one indexed read per head)."""
    return _programme_settings(ctx.snap.url, ctx.snap.position, ctx.as_of)


def how_to_read_spc(settings: ProgrammeSettings = DEFAULT_SETTINGS) -> None:
    """The plain-English key to an SPC chart and its icons, with the SPC settings in force
    (the programme's decision: pass the chart's ``settings``)."""
    v, a = data.VARIATION_BADGES, data.ASSURANCE_BADGES
    s = settings
    st.markdown(
        f"""
**Each dot is one month's audit**: the share of sampled case notes that document the enabler.
The solid grey line is the **centre** (the average over the baseline); the dashed lines are the
**process limits**: where a month's result would normally fall by chance alone, given how many
notes were reviewed (fewer notes give wider limits). The dotted lines are the 2σ lines, two
thirds of the way out. The red line is the **target**.

**Colours always come with words**, in the legend, the tooltips and the tables:

- {badge(v["common_cause"])} nothing unusual: the month-to-month ups and downs are noise.
  Do not react to a single month.
- {badge(v["improvement"])} / {badge(v["concern"])} a *special cause*: something has changed,
  for the better or for the worse. The rules behind it (hover on a dot to see which fired):
  - **a point beyond a process limit**: one month far outside the usual range;
  - **a shift**: {s.shift_points} or more months in a row on the same side of the centre line; the process
    has moved to a new level. This is how a real culture change usually shows first;
  - **a trend**: {s.trend_points} or more months in a row, each higher (or each lower) than the one before;
  - **two of three beyond 2σ**: two of three months in a row close to a limit, on one side.
- {badge(v["neither"])} something changed where neither direction is better.

**Assurance** says whether the target can be relied on:
{badge(a["pass"])} the whole range between the limits is above the target, so it will be met
month after month unless the process changes; {badge(a["fail"])} the whole range is below the
target, so it will not be met without changing how the work is done; {badge(a["hit_or_miss"])}
the target lies between the limits, so some months will meet it and some will not, by chance.
Assurance describes the process the limits were drawn from: when the limits come from an
earlier baseline and the process has shifted since, read it together with the variation.

Limits and icons need **at least {s.minimum_points} months**; before that the chart shows the dots only.
▼ marks a **small sample** (fewer than {s.small_sample} notes that month): a wide, uncertain result.
Purple vertical lines mark **milestones** (SIP start, ADP training, change ideas, PDSA cycles);
a black dashed line marks where a **baseline ends** or **limits were recalculated**, always by an
explicit decision recorded in the log, never automatically.
""",
        unsafe_allow_html=True,
    )


HOW_TO_READ_FUNNEL = """
**Each dot is one team**: the share of its reviewed notes over the chosen months (up) against how
many notes were reviewed (across). The horizontal line is the programme-wide figure. The funnel
lines show how far a team could sit from it **by chance alone**, given its number of notes:
wide for teams with few notes, narrow for teams with many.

- Inside the dashed **95%** lines: no evidence the team differs from the programme.
- Outside the 95% lines but inside the solid **99.8%** lines: worth a look (about 1 team in 20
  lands here by chance).
- Outside the **99.8%** lines: very unlikely to be chance (1 in 500).

A league table without intervals ranks noise; the table and the chart below give each team's
95% (Wilson) interval, so overlapping intervals mean the teams cannot be told apart.
"""
