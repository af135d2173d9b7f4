"""The review pack: a board paper, exactly as the numbers stood at one moment.

Page 1 is the cover and executive summary: the headline with the culture-shift curve, the
icon grid of the teams needing attention first (at most 12; the rest on the next page), what
changed since the last programme review and the signed-off commentary. Then a contents list,
the change list in full, a section per team (charts with milestones, the state now,
commentary), the comparison of teams (window stated), audit quality, case notes beside patient
surveys and who the shift reaches (``pack_sections``), and an appendix with the
method and how to reproduce the pack (full head hash, ``sipdash verify --expect-head``,
``sipdash report --at-head``).

One self-contained HTML file (charts as inline SVG) and a PDF (the same renders as PNG), both
drawn with the pure ``charts.py`` and rendered by vl-convert: each chart is rendered once, in
parallel, and the render is reused by both formats. Words come from ``audit.labels``, the
dashboard's. Dates are written as people write them (Europe/London on the cover, UTC in the
appendix); the pack has no timestamp of its own, so the same as-of gives the same bytes.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import vl_convert as vlc
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from audit import labels, queries, views
from audit.changes import ReviewPoint, default_since, last_programme_review, state_changes
from audit.commentary import current_commentary
from audit.curve import culture_curve, team_curve, team_starts, training_waves
from audit.exports import record_export
from audit.judgement import summary_lines
from audit.measures import audit_measures
from audit.quality import audit_quality
from audit.settings import DEFAULT_SETTINGS, ProgrammeSettings, load_settings_from_engine
from events import EventStore
from events.elements import ALL, ELEMENTS, Registry
from events.store import format_ts

from . import charts, presentation
from .fastdata import fast_data
from .pack_sections import PackSection, collect_sections

FONT_DIR = Path(__file__).parent / "static" / "fonts"
FONT = "DejaVu Sans"
LONDON = ZoneInfo("Europe/London")
COVER_TEAMS = 12
"""At most this many teams' icons on the cover; the rest go on the next page."""
COVER_CHANGES = 8
SHORT_HEAD = 16

_fonts_registered = False


def _register_fonts() -> None:
    """Give vl-convert the bundled DejaVu Sans, so accented names render in every chart."""
    global _fonts_registered
    if not _fonts_registered:
        vlc.register_font_directory(str(FONT_DIR))
        _fonts_registered = True


# ------------------------------------------------------------------------- dates and heads


def london_text(moment: datetime) -> str:
    """A moment as people write it, in Europe/London: ``29 Nov 2026 18:18``."""
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%b %Y %H:%M}"


def utc_text(moment: datetime) -> str:
    """A moment in UTC to the second, for the appendix: ``2026-11-29 18:18:42 UTC``."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def day_text(value: object) -> str:
    """A date (``2025-03-01``) as people write it: ``1 Mar 2025``."""
    try:
        d = datetime.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{d.day} {d:%b %Y}"


def month_text(period: object) -> str:
    """``2025-03`` → ``Mar 2025``."""
    try:
        d = datetime.strptime(str(period)[:7], "%Y-%m")
    except ValueError:
        return str(period)
    return f"{d:%b %Y}"


class HeadNotFound(ValueError):
    """The published head hash is not on this log."""


class NothingAudited(ValueError):
    """No audit round had reviewed a note by the pack's as-of moment: there is nothing for a
    review pack to show (said in words, rather than a pack of empty sections)."""


def resolve_head(store: EventStore, text: str) -> datetime:
    """The as-of moment of a published head hash (full or a prefix of 12+ hex digits), so a
    pack can be rebuilt from its printed head without copying a timestamp."""
    prefix = text.strip().lower()
    rows = queries.events_with_hash_prefix(store.engine, prefix, limit=2)
    if not rows:
        raise HeadNotFound(f"head {prefix} is not on this log (was it published from another?)")
    if len(rows) > 1:
        raise HeadNotFound(f"head {prefix} matches more than one event: give more digits")
    position, _full, recorded_at = rows[0]
    as_of = datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
    if store.head(as_of=as_of).position != int(position):
        raise HeadNotFound(
            f"head {prefix} was never a published head: later events share its recorded time"
        )
    return as_of


# ----------------------------------------------------------------------------- the content


@dataclass(frozen=True)
class Figure:
    key: str
    spec: dict
    caption: str
    width_mm: float = 186


@dataclass(frozen=True)
class TeamSection:
    team_id: str
    name: str
    subtitle: str
    figures: list[Figure]
    state: list[str]
    commentary: list[str]


@dataclass
class Content:
    meta: dict
    headlines: list
    curve: pd.DataFrame
    curve_figure: Figure | None
    grid_figures: list[Figure]  # cover (≤ 12 teams) and, if more, the overflow
    teams_on_cover: int
    teams_total: int
    since: ReviewPoint
    since_is_review: bool
    changes: pd.DataFrame
    commentary: list[str]
    teams: list[TeamSection]
    window_text: str
    funnel_figure: Figure | None
    league: pd.DataFrame
    quality: pd.DataFrame
    programme_agreement: str
    not_audited: list[str] = field(default_factory=list)
    extra_sections: list[PackSection] = field(default_factory=list)  # reach, surveys

    def figures(self) -> list[Figure]:
        out = [f for f in (self.curve_figure, *self.grid_figures) if f is not None]
        for t in self.teams:
            out.extend(t.figures)
        if self.funnel_figure is not None:
            out.append(self.funnel_figure)
        return out


def _spec(chart) -> dict:
    """The chart's Vega-Lite spec in the pack's font (no re-validation: the builders are
    unit-tested; validating every layer again costs more than rendering it)."""
    spec = chart.to_dict(validate=False)
    spec.setdefault("config", {})["font"] = FONT
    return spec


def _pct(x) -> str:
    return "" if x is None or pd.isna(x) else f"{100 * float(x):.0f}%"


def _team_order(grid: pd.DataFrame) -> list[str]:
    """Teams in the grid's order: those needing attention (concern, failing) first."""
    return list(dict.fromkeys(grid["team_id"])) if not grid.empty else []


def state_sentence(row: pd.Series) -> str:
    """The state now of one team's enabler, in the dashboard's words."""
    latest = f"{_pct(row['latest'])} in {month_text(row['latest_period'])} (n = {row['n']})"
    if bool(row.get("small")):
        latest += ", a small month"
    culture = row.get("culture")
    first = row.get("first_improvement")
    if isinstance(culture, str) and culture:
        improved = culture  # "improved from 2024-02; concern since 2025-04"
    elif isinstance(first, str):
        improved = f"sustained improvement from {month_text(first)}"
    else:
        improved = "no sustained improvement yet"
    norm = "the norm" if row["is_norm"] else "not yet the norm"
    if "counted" in row and not bool(row["counted"]):
        norm = "not audited recently: counted neither way"
    return (
        f"{row['measure_label']}: {latest}; {labels.VARIATION_BADGES.get(row['variation'])}; "
        f"{labels.ASSURANCE_BADGES.get(row['assurance'])} against {_pct(row['target'])}; "
        f"{improved}; {norm}."
    )


def _collect(store: EventStore, as_of: datetime | None, elements: Registry = ELEMENTS) -> Content:
    engine = store.engine
    names = elements.labels  # every measure's label, from the wired registry
    head = store.head(as_of=as_of)
    asked = as_of  # None: the latest data (the cut below is the head's own moment)
    if as_of is None and head.recorded_at:
        # one cut for every read, so events arriving while the pack is built do not leak in
        as_of = datetime.fromisoformat(head.recorded_at.replace("Z", "+00:00"))
    teams = queries.teams(engine, as_of=as_of)
    settings = load_settings_from_engine(engine, as_of=as_of)
    measures = audit_measures(
        engine, as_of=as_of, small_sample=settings.small_sample, elements=elements
    )
    if measures.empty:
        when = f"by {london_text(asked)} Europe/London" if asked else "yet"
        raise NothingAudited(
            f"no audit round had reviewed a case note {when}, so there is nothing for a review "
            "pack to show: run an audit round first (`sipdash audit run --period YYYY-MM`, or "
            "the Worklist page), or choose a later as-of moment"
        )
    grid = views.overview(engine, as_of=as_of, settings=settings, elements=elements)
    heads = views.headlines(grid, elements=elements)
    per_team = team_curve(
        engine, as_of=as_of, measures=measures, settings=settings, elements=elements
    )
    curve = culture_curve(engine, as_of=as_of, per_team=per_team, elements=elements)
    meta = {
        "as_of": as_of,
        "as_of_iso": format_ts(as_of) if as_of else None,
        "head_position": head.position,
        "head_hash": head.hash,
        "synthetic": bool(teams["synthetic"].any()) if not teams.empty else False,
        "settings": settings.lines(),
        "programme_settings": settings,
        "elements": elements,
    }
    curve_figure = None
    if not curve.empty:
        curve_figure = Figure(
            "curve",
            charts.culture_curve_chart(
                curve,
                team_starts(engine, as_of=as_of),
                training_waves(engine, as_of=as_of),
                panel_width=150,
                panel_height=90,
                font=FONT,
                measure_labels=names,
            ).to_dict(validate=False),
            "Culture shift over time: teams with each enabler the norm (blue) of teams "
            "audited (grey), month by month; ticks mark each team's SIP start, purple bars "
            "the clinicians trained (ADP) that month.",
        )
    order = _team_order(grid)
    grid_figures = []
    for i, chunk in enumerate((order[:COVER_TEAMS], order[COVER_TEAMS:])):
        if not chunk:
            continue
        part = grid[grid["team_id"].isin(chunk)]
        grid_figures.append(
            Figure(
                f"grid{i}",
                charts.icon_grid_chart(part, width=420, font=FONT).to_dict(validate=False),
                "Variation: ↑ improvement, ↓ concern, ~ common cause, ◆ neither; "
                "assurance: P pass, F fail, ? hit or miss, ! not assessable (recalculate limits); "
                "✔ the norm. "
                "Teams needing attention first.",
            )
        )

    review = last_programme_review(engine, as_of=as_of)
    # without a programme review: three months before the head's own time, so a pack rebuilt
    # from its head (``--at-head``) compares with the same moment
    head_time = (
        datetime.fromisoformat(head.recorded_at.replace("Z", "+00:00"))
        if head.recorded_at
        else datetime.now(UTC)
    )
    since = review or default_since(head_time)
    before = views.overview(engine, as_of=since.at, elements=elements)
    changes = state_changes(before, grid)

    facts = queries.team_facts(engine, types=("CommentaryAdded", "ReviewSignedOff"), as_of=as_of)
    current = current_commentary(engine, as_of=as_of)  # withdrawn ones left out
    team_names = dict(zip(teams["team_id"], teams["name"], strict=True))
    signed = (
        set(
            zip(
                facts.loc[facts["type"] == "ReviewSignedOff", "team_id"],
                facts.loc[facts["type"] == "ReviewSignedOff", "period"],
                strict=True,
            )
        )
        if not facts.empty
        else set()
    )
    cover_commentary = [
        f"{team_names.get(r.team_id, r.team_id)}, {month_text(r.period)} ({r.author}): {r.text}"
        for r in (current.itertuples() if not current.empty else [])
        if (r.team_id, r.period) in signed
    ]

    team_sections = []
    by_id = teams.set_index("team_id")
    for team_id in [*order, *[t for t in teams["team_id"] if t not in order]]:
        team = by_id.loc[team_id]
        milestones = queries.team_facts(engine, team_id, types=("MilestoneLogged",), as_of=as_of)
        figures = []
        judged_lines: list[str] = []
        for measure in elements.measures:
            tc = views.team_chart(
                engine,
                team_id,
                measure,
                as_of=as_of,
                measures=measures,
                settings=settings,
                elements=elements,
            )
            if tc is None:
                continue
            if tc.judgement is not None:  # limits, gaps, small and provisional months, in words
                judged_lines += [
                    f"{names[measure]}: {line}"
                    for line in summary_lines(tc.judgement, settings.small_sample)[1:]
                ]
            # the judgement's own frame, as the team page draws it (gaps, provisional months,
            # targets in force)
            frame = (
                tc.frame.copy()
                if tc.frame is not None
                else tc.result.to_frame().merge(
                    tc.table[["period", "ci_low", "ci_high", "small"]], on="period", how="left"
                )
            )
            chart = charts.spc_chart(
                frame,
                target=tc.target,
                milestones=milestones,
                baseline_end=tc.baseline_end,
                recalculate_at=tc.recalculate_at,
                title=f"{names[measure]} (p-chart)",
                height=150,
                width=480,
            )
            figures.append(
                Figure(
                    f"{team_id}:{measure}",
                    _spec(chart),
                    f"{names[measure]}: "
                    f"{labels.VARIATION_BADGES.get(tc.result.variation)}; "
                    f"{labels.ASSURANCE_BADGES.get(tc.result.assurance)}.",
                    width_mm=150,
                )
            )
        mine = grid[grid["team_id"] == team_id] if not grid.empty else grid
        mine = mine.assign(_o=mine["measure"].map(elements.measures.index)).sort_values("_o")
        state = [state_sentence(r) for _, r in mine.iterrows()] + judged_lines
        notes = [
            f"Commentary for {r.period} by {r.author}: {r.text}"
            for r in (
                current[current["team_id"] == team_id].itertuples() if not current.empty else []
            )
        ]
        if not facts.empty:
            for r in facts[
                (facts["type"] == "ReviewSignedOff") & (facts["team_id"] == team_id)
            ].itertuples():
                notes.append(f"Review for {r.period} signed off by {r.signed_off_by}.")
        team_sections.append(
            TeamSection(
                team_id,
                str(team["name"]),
                f"{team['site']} · {team['service']}",
                figures,
                state,
                notes,
            )
        )

    # the compare page's default: the bundle (every enabler; contract id all_three)
    comparison = views.compare(engine, ALL, as_of=as_of, elements=elements)
    teams_f, curves, theta = comparison.teams, comparison.curves, comparison.theta
    window_text = comparison.window.label
    funnel_figure = None
    league = pd.DataFrame()
    if not teams_f.empty:
        funnel_figure = Figure(
            "funnel",
            _spec(charts.funnel_chart(teams_f, curves, theta, height=300, width=560)),
            f"{names[ALL]} enablers over {window_text}: teams outside the dashed (95%) or solid "
            "(99.8%) limits differ from the programme by more than chance.",
        )
        league = pd.DataFrame(
            {
                "Team": teams_f["team_name"],
                "Documented": teams_f["proportion"].map(_pct),
                "95% interval": [
                    f"{_pct(lo)}–{_pct(hi)}"
                    for lo, hi in zip(teams_f["ci_low"], teams_f["ci_high"], strict=True)
                ],
                "n": teams_f["denominator"],
            }
        )
    quality = audit_quality(engine, as_of=as_of, measures=measures, elements=elements)
    return Content(
        meta=meta,
        headlines=heads,
        curve=curve,
        curve_figure=curve_figure,
        grid_figures=grid_figures,
        teams_on_cover=min(len(order), COVER_TEAMS),
        teams_total=len(order),
        since=since,
        since_is_review=review is not None,
        changes=changes,
        commentary=cover_commentary,
        teams=team_sections,
        window_text=window_text,
        funnel_figure=funnel_figure,
        league=league,
        quality=quality,
        programme_agreement=_agreement_text(
            views.agreement(engine, as_of=as_of, elements=elements), "Programme-wide", names
        ),
        extra_sections=collect_sections(
            engine, as_of=as_of, synthetic=meta["synthetic"], elements=elements
        ),
    )


def _agreement_text(
    a: dict, who: str = "Second reviews", names: dict[str, str] | None = None
) -> str:
    text = presentation.agreement_text(a, who)
    per_enabler = presentation.agreement_by_enabler_text(a, names)
    return f"{text} {per_enabler}" if per_enabler else text


# ------------------------------------------------------------------------------ the words


def since_text(c: Content) -> str:
    when = london_text(c.since.at)
    if c.since_is_review:
        return f"Changed since {c.since.label} on {when}"
    return f"Changed since {when} ({c.since.label}; no programme review has been signed off yet)"


def change_lines(changes: pd.DataFrame, limit: int | None = None) -> list[str]:
    rows = changes if limit is None else changes.head(limit)
    return [
        f"{r.team}, {r.measure_label}: {r.field_label.lower()} {r.then_label} → {r.now_label}"
        for r in rows.itertuples()
    ]


def quality_table(q: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Team": q["team"],
            "Months audited": q["months"],
            "Median notes a month": q["median_n"].map(lambda v: "" if pd.isna(v) else f"{v:g}"),
            "Fewest notes": q["smallest_n"].map(lambda v: "" if pd.isna(v) else f"{int(v)}"),
            "Small months (n < 10)": q["small_months"],
            "Provisional months (round open)": q["provisional_months"],
            "Notes reviewed twice": q["paired_notes"],
            "Agreement": q["percent_agreement"].map(
                lambda v: "too few notes" if v is None or pd.isna(v) else f"{v:.0f}%"
            ),
            "Kappa": q["kappa"].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.2f}"),
        }
    )


def method_lines(
    settings: ProgrammeSettings = DEFAULT_SETTINGS, elements: Registry = ELEMENTS
) -> list[str]:
    """The method appendix, with the SPC settings in force (never restated numbers) and the
    enablers of ``elements`` (the wired registry)."""
    s = settings
    *first, last = [e.label.lower() for e in elements]
    enablers = f"{', '.join(first)} and {last}" if first else last
    return [
        f"Each month a reproducible sample of case notes per team is reviewed for {enablers} "
        "(yes / no / not applicable); a share gets a blind second "
        "review. A measure is the share of reviewed notes documenting it (first reviews only), "
        f"with a Wilson 95% interval; {elements.labels[ALL].lower()} = every enabler documented.",
        "SPC: p-charts in the NHS England Making Data Count style. Limits p̄ ± 3σ per point from "
        f"the baseline (or the latest explicit recalculation); icons need {s.minimum_points} "
        f"points; special causes: a point beyond a limit, a shift of {s.shift_points}, a trend "
        f"of {s.trend_points}, two of three beyond 2σ.",
        "Variation icons: "
        + "; ".join(v for k, v in labels.VARIATION_BADGES.items() if k)
        + ". Assurance icons: "
        + "; ".join(v for k, v in labels.ASSURANCE_BADGES.items() if k)
        + ".",
        "The norm: assurance pass against the target in force (80% unless a team set another), "
        f"or the last {s.norm_window} points all at or above the target. A small month has "
        f"fewer than {s.small_sample} notes in the measure's denominator; a provisional "
        "month's round is still open.",
        "Culture shift over time: for every month P, each team is judged on its own series up "
        "to P with the baselines, recalculations and targets in force at P, as known at the "
        "pack's as-of; k of n counts the teams audited by then.",
        "What changed since the last review: each team's variation, assurance and norm status "
        "as known at the last programme review (or three months earlier when none has been "
        "signed off) against the pack's as-of; both sides from as-of views.",
    ]


def _programme_settings(meta: dict) -> ProgrammeSettings:
    return meta.get("programme_settings") or DEFAULT_SETTINGS


def reproduce_lines(meta: dict) -> list[str]:
    full = meta["head_hash"]
    as_of = utc_text(meta["as_of"]) if meta["as_of"] else "(empty log)"
    return [
        f"As of {as_of} (log position {meta['head_position']}).",
        f"Head hash: {full}",
        f"Check the log still holds this pack's history: sipdash verify --expect-head {full}",
        f"Rebuild this pack: sipdash report --at-head {full[:SHORT_HEAD]} --out pack.pdf",
    ]


# ----------------------------------------------------------------------------- rendering


def _svg_ids(svg: str, key: str) -> str:
    """Clip-path ids made unique per figure and independent of how many charts this process
    rendered before (vl-convert numbers them process-wide), so the same pack renders to the
    same bytes."""
    numbering: dict[str, str] = {}
    tag = re.sub(r"[^A-Za-z0-9]", "", key)

    def rename(match: re.Match) -> str:
        old = match.group(0)
        if old not in numbering:
            numbering[old] = f"f{tag}clip{len(numbering) + 1}"
        return numbering[old]

    return re.sub(r"\bclip\d+\b", rename, svg)


@dataclass(frozen=True)
class Render:
    svg: str
    png: bytes


def _render_one(fig: Figure) -> Render:
    svg = vlc.vegalite_to_svg(fig.spec)
    png = vlc.svg_to_png(svg, scale=2.0)
    return Render(_svg_ids(svg, fig.key), png)


def render_figures(figures: list[Figure], workers: int | None = None) -> dict[str, Render]:
    """Every chart rendered once (SVG, then the same scene rasterised to PNG), in parallel:
    vl-convert is thread-safe and releases the GIL while it renders."""
    _register_fonts()
    workers = workers or max(1, min(len(figures), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        renders = list(pool.map(_render_one, figures))
    return {f.key: r for f, r in zip(figures, renders, strict=True)}


@dataclass
class Pack:
    content: Content

    @property
    def meta(self) -> dict:
        return self.content.meta

    @property
    def as_of_text(self) -> str:
        a = self.meta["as_of"]
        return f"{london_text(a)} Europe/London" if a else "(empty log)"

    @property
    def head_position(self) -> int:
        return self.meta["head_position"]

    @property
    def head_hash(self) -> str:
        return self.meta["head_hash"]

    @cached_property
    def renders(self) -> dict[str, Render]:
        return render_figures(self.content.figures())

    @cached_property
    def html(self) -> str:
        return _html(self.content, self.renders)

    @cached_property
    def pdf(self) -> bytes:
        return _pdf(self.content, self.renders)


# ------------------------------------------------------------------------------------ HTML


def _table_html(table: pd.DataFrame) -> str:
    return table.to_html(index=False, escape=True) if not table.empty else ""


def _html(c: Content, renders: dict[str, Render]) -> str:
    esc = html.escape
    meta = c.meta
    as_of = london_text(meta["as_of"]) if meta["as_of"] else "(empty log)"

    def fig(f: Figure | None) -> str:
        if f is None:
            return ""
        return f"<figure>{renders[f.key].svg}<figcaption>{esc(f.caption)}</figcaption></figure>"

    toc = [("changes", "What changed since the last review")]
    toc += [(f"team-{i}", t.name) for i, t in enumerate(c.teams)]
    toc += [
        ("compare", "Comparing teams"),
        ("quality", "Audit quality"),
        *[(s.anchor, s.title) for s in c.extra_sections],
        ("appendix", "Appendix: method and reproduction"),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>SIP case-note audit: review pack</title><style>",
        "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;max-width:1100px;"
        "margin:2em auto;color:#231f20}",
        "h1{color:#005eb8}h2{color:#003087;border-bottom:2px solid #005eb8}",
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:13px}.banner{background:#fff3cd;padding:.6em;border:1px solid #e0c36c}",
        ".meta{font-size:13px;color:#425563}.heads{display:flex;gap:1em}",
        ".heads div{border:1px solid #005eb8;padding:.4em .8em;border-radius:.4em}",
        ".heads b{font-size:22px;color:#005eb8;display:block}</style></head><body>",
        "<section id='cover'><h1>SIP case-note audit: review pack</h1>",
        f"<p class='meta'>As of {esc(as_of)} (Europe/London) · log position "
        f"{meta['head_position']} · head {esc(meta['head_hash'][:SHORT_HEAD])}</p>",
    ]
    if meta["synthetic"]:
        parts.append(
            "<p class='banner'>Synthetic demonstration data: no real teams, clinicians or "
            "patients.</p>"
        )
    parts.append("<h2>Executive summary</h2><div class='heads'>")
    for h in c.headlines:
        parts.append(f"<div><b>{h.norm} of {h.teams}</b>{esc(h.label)}</div>")
    parts.append("</div>")
    parts.extend(f"<p>{esc(h.text)}.</p>" for h in c.headlines)
    stale = sorted({t for h in c.headlines for t in getattr(h, "not_recent", ())})
    if stale:
        parts.append(f"<p>Not audited recently, counted neither way: {esc(', '.join(stale))}.</p>")
    parts.append(fig(c.curve_figure))
    if c.grid_figures:
        parts.append(
            f"<h3>Teams needing attention first ({c.teams_on_cover} of {c.teams_total})</h3>"
        )
        parts.extend(fig(f) for f in c.grid_figures)
    parts.append(f"<h3>{esc(since_text(c))}</h3>")
    lines = change_lines(c.changes, COVER_CHANGES)
    parts.append(
        "<ul>" + "".join(f"<li>{esc(t)}</li>" for t in lines) + "</ul>"
        if lines
        else "<p>No team's variation, assurance or norm status changed.</p>"
    )
    if len(c.changes) > COVER_CHANGES:
        parts.append(
            f"<p>… and {len(c.changes) - COVER_CHANGES} more: see "
            "<a href='#changes'>What changed since the last review</a>.</p>"
        )
    parts.append("<h3>Signed-off commentary</h3>")
    parts.extend(f"<p>{esc(t)}</p>" for t in c.commentary or ["No commentary signed off yet."])
    parts.append("</section><nav><h2>Contents</h2><ol>")
    parts.extend(f"<li><a href='#{a}'>{esc(t)}</a></li>" for a, t in toc)
    parts.append("</ol></nav>")

    parts.append("<section id='changes'><h2>What changed since the last review</h2>")
    parts.append(f"<p>{esc(since_text(c))}.</p>")
    if c.changes.empty:
        parts.append("<p>No team's variation, assurance or norm status changed.</p>")
    else:
        parts.append(_table_html(_changes_table(c.changes)))
    parts.append("</section>")
    for i, t in enumerate(c.teams):
        parts.append(f"<section id='team-{i}'><h2>{esc(t.name)}</h2><p>{esc(t.subtitle)}</p>")
        parts.append("<h3>The state now</h3><ul>")
        parts.extend(f"<li>{esc(s)}</li>" for s in t.state or ["Not audited yet."])
        parts.append("</ul>")
        parts.extend(fig(f) for f in t.figures)
        parts.append("<h3>Commentary</h3>")
        parts.extend(f"<p>{esc(n)}</p>" for n in t.commentary or ["No commentary."])
        parts.append("</section>")
    parts.append("<section id='compare'><h2>Comparing teams</h2>")
    parts.append(f"<p>Window: {esc(c.window_text)}.</p>")
    parts.append(fig(c.funnel_figure))
    parts.append(_table_html(c.league))
    parts.append("</section><section id='quality'><h2>Audit quality</h2>")
    parts.append(f"<p>{esc(c.programme_agreement)}</p>")
    parts.append(_table_html(quality_table(c.quality)))
    parts.append("</section>")
    parts.extend(_section_html(s) for s in c.extra_sections)
    parts.append("<section id='appendix'><h2>Appendix: method and reproduction</h2>")
    parts.extend(
        f"<p>{esc(t)}</p>" for t in method_lines(_programme_settings(meta), meta["elements"])
    )
    parts.append("<h3>SPC settings in force</h3>")
    parts.extend(f"<p>{esc(t)}</p>" for t in meta.get("settings", []))
    parts.append("<h3>Reproduce this pack</h3>")
    parts.extend(f"<p><code>{esc(t)}</code></p>" for t in reproduce_lines(meta))
    parts.append("</section></body></html>")
    return "\n".join(parts)


def _section_html(s: PackSection) -> str:
    """One of the surveys / reach sections: paragraphs, then its titled tables."""
    esc = html.escape
    parts = [f"<section id='{esc(s.anchor)}'><h2>{esc(s.title)}</h2>"]
    parts.extend(f"<p>{esc(t)}</p>" for t in s.lines)
    for title, t in s.tables:
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append(_table_html(t))
    parts.append("</section>")
    return "\n".join(parts)


def _changes_table(changes: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Team": changes["team"],
            "Enabler": changes["measure_label"],
            "What": changes["field_label"],
            "Then": changes["then_label"],
            "Now": changes["now_label"],
        }
    )


# ------------------------------------------------------------------------------------- PDF

_BLUE = (0, 94, 184)
_DARK_BLUE = (0, 48, 135)
_TEXT = (35, 31, 32)
_GREY = (66, 85, 99)


class _BoardPdf(FPDF):
    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, "", 8)
        self.set_text_color(*_GREY)
        self.cell(
            0, 5, f"SIP case-note audit review pack · page {self.page_no()} of {{nb}}", align="C"
        )


def _pdf(c: Content, renders: dict[str, Render]) -> bytes:  # noqa: C901 - one pass kept whole; the next to split (ADR 0006)
    meta = c.meta
    pdf = _BoardPdf(orientation="P", unit="mm", format="A4")
    pdf.alias_nb_pages("{nb}")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font(FONT, "I", str(FONT_DIR / "DejaVuSans-Oblique.ttf"))
    pdf.set_creation_date(meta["as_of"] or datetime(2000, 1, 1, tzinfo=UTC))
    pdf.set_title("SIP case-note audit: review pack")
    pdf.set_margins(12, 10, 12)
    pdf.set_auto_page_break(True, margin=14)

    def text(
        t: str, size: float = 9, style: str = "", colour=_TEXT, h: float = 4.2, align: str = "J"
    ) -> None:
        pdf.set_font(FONT, style, size)
        pdf.set_text_color(*colour)
        pdf.multi_cell(0, h, t, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align=align)

    def heading(t: str, size: float = 14, toc: bool = True) -> None:
        if toc:
            pdf.start_section(t)
        text(t, size, "B", _DARK_BLUE, h=size * 0.5)
        pdf.ln(1)

    def image(f: Figure | None, width: float | None = None, caption: bool = True) -> None:
        if f is None:
            return
        w = width or f.width_mm
        pdf.image(io.BytesIO(renders[f.key].png), w=w, x=pdf.l_margin + (186 - w) / 2)
        if caption:
            text(f.caption, 7, "I", _GREY, h=3.2)
        pdf.ln(1)

    def grid_of_images(figures: list[Figure], columns: int = 2, gap: float = 3) -> None:
        """Charts two by two, so a team's four charts share one page."""
        w = (186 - gap * (columns - 1)) / columns
        for i in range(0, len(figures), columns):
            row = figures[i : i + columns]
            y = pdf.get_y()
            heights = []
            for j, f in enumerate(row):
                info = pdf.image(
                    io.BytesIO(renders[f.key].png), x=pdf.l_margin + j * (w + gap), y=y, w=w
                )
                heights.append(float(info.rendered_height))
            pdf.set_xy(pdf.l_margin, y + max(heights) + 2)

    def table(t: pd.DataFrame, size: float = 7) -> None:
        if t.empty:
            return
        pdf.set_font(FONT, "", size)
        pdf.set_text_color(*_TEXT)
        with pdf.table(text_align="LEFT", line_height=size * 0.55) as tab:
            header = tab.row()
            for col in t.columns:
                header.cell(str(col))
            for values in t.astype(str).itertuples(index=False):
                row = tab.row()
                for v in values:
                    row.cell(v)
        pdf.ln(2)

    # --- page 1: cover and executive summary
    pdf.add_page()
    text("SIP case-note audit: review pack", 17, "B", _BLUE, h=8)
    as_of = london_text(meta["as_of"]) if meta["as_of"] else "(empty log)"
    text(
        f"As of {as_of} (Europe/London) · log position {meta['head_position']} · "
        f"head {meta['head_hash'][:SHORT_HEAD]}",
        8.5,
        colour=_GREY,
    )
    if meta["synthetic"]:
        pdf.set_fill_color(255, 243, 205)
        pdf.set_font(FONT, "B", 8.5)
        pdf.multi_cell(
            0,
            5,
            "Synthetic demonstration data: no real teams, clinicians or patients.",
            fill=True,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.ln(1)
    text("Executive summary", 12, "B", _DARK_BLUE, h=6)
    box_w = 186 / max(1, len(c.headlines))
    y0 = pdf.get_y()
    for i, h in enumerate(c.headlines):
        x = pdf.l_margin + i * box_w
        pdf.set_draw_color(*_BLUE)
        pdf.rect(x + 1, y0, box_w - 2, 13)
        pdf.set_xy(x + 1, y0 + 1)
        pdf.set_font(FONT, "B", 13)
        pdf.set_text_color(*_BLUE)
        pdf.cell(box_w - 2, 6, f"{h.norm} of {h.teams}", align="C")
        pdf.set_xy(x + 1, y0 + 7)
        pdf.set_font(FONT, "", 7.5)
        pdf.set_text_color(*_TEXT)
        pdf.cell(box_w - 2, 4.5, f"teams: {h.label.lower()} the norm", align="C")
    pdf.set_xy(pdf.l_margin, y0 + 14)
    text("; ".join(h.text for h in c.headlines) + ".", 7.5, h=3.4)
    stale = sorted({t for h in c.headlines for t in getattr(h, "not_recent", ())})
    if stale:
        text("Not audited recently, counted neither way: " + ", ".join(stale) + ".", 7.5, h=3.4)
    image(c.curve_figure, width=186)
    if c.grid_figures:
        text(
            f"Teams needing attention first ({c.teams_on_cover} of {c.teams_total}"
            + (", the rest on the next page)" if c.teams_total > c.teams_on_cover else ")"),
            9,
            "B",
            _DARK_BLUE,
        )
        image(c.grid_figures[0], width=170)
    text(since_text(c), 9, "B", _DARK_BLUE)
    lines = change_lines(c.changes, COVER_CHANGES)
    for t in lines or ["No team's variation, assurance or norm status changed."]:
        text("• " + t, 7.5, h=3.4)
    if len(c.changes) > COVER_CHANGES:
        text(
            f"… and {len(c.changes) - COVER_CHANGES} more: see “What changed since the last "
            "review”.",
            7.5,
            "I",
            h=3.4,
        )
    pdf.ln(1)
    text("Signed-off commentary", 9, "B", _DARK_BLUE)
    for t in c.commentary[:3] or ["No commentary signed off yet."]:
        text(t, 7.5, h=3.4)

    # --- the rest of the icon grid, then the contents
    if len(c.grid_figures) > 1:
        pdf.add_page()
        heading("Teams needing attention (continued)")
        image(c.grid_figures[1], width=150)
    pdf.add_page()
    pdf.insert_toc_placeholder(_render_toc, pages=1)  # ends with a page break of its own

    heading("What changed since the last review")
    text(since_text(c) + ".", 9)
    if c.changes.empty:
        text("No team's variation, assurance or norm status changed.", 9)
    else:
        table(_changes_table(c.changes))
    for t in c.teams:
        pdf.add_page()
        heading(t.name)
        text(t.subtitle, 8.5, colour=_GREY)
        text("The state now", 10, "B", _DARK_BLUE, h=5)
        for s in t.state or ["Not audited yet."]:
            text("• " + s, 7.5, h=3.4)
        pdf.ln(1)
        grid_of_images(t.figures)
        text("Commentary", 10, "B", _DARK_BLUE, h=5)
        for n in t.commentary or ["No commentary."]:
            text(n, 8, h=3.6)
    pdf.add_page()
    heading("Comparing teams")
    text(f"Window: {c.window_text}.", 9)
    image(c.funnel_figure, width=150)
    table(c.league)
    pdf.add_page()
    heading("Audit quality")
    text(c.programme_agreement, 9)
    table(quality_table(c.quality), size=6.5)
    for s in c.extra_sections:
        pdf.add_page()
        heading(s.title)
        for t in s.lines:
            text(t, 8.5)
            pdf.ln(0.5)
        for title, t in s.tables:
            pdf.ln(1)
            text(title, 10, "B", _DARK_BLUE, h=5)
            table(t, size=6.5)
    pdf.add_page()
    heading("Appendix: method and reproduction")
    for t in method_lines(_programme_settings(meta), meta["elements"]):
        text(t, 8.5)
        pdf.ln(1)
    text("SPC settings in force", 10, "B", _DARK_BLUE, h=5)
    for t in meta.get("settings", []):
        text(t, 8.5)
    pdf.ln(1)
    text("Reproduce this pack", 10, "B", _DARK_BLUE, h=5)
    for t in reproduce_lines(meta):  # commands and hashes: left-aligned, never spread out
        text(t, 8.5, align="L")
    return bytes(pdf.output())


def _render_toc(pdf: FPDF, outline: list) -> None:
    pdf.set_xy(pdf.l_margin, pdf.t_margin)
    pdf.set_font(FONT, "B", 14)
    pdf.set_text_color(*_DARK_BLUE)
    pdf.multi_cell(0, 7, "Contents", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_text_color(*_TEXT)
    pdf.set_font(FONT, "", 9.5)
    for entry in outline:
        link = pdf.add_link(page=entry.page_number)
        pdf.cell(160, 5.5, entry.name, link=link)
        pdf.cell(
            0,
            5.5,
            f"page {entry.page_number}",
            align="R",
            link=link,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )


# ------------------------------------------------------------------------------- building


def build_pack(
    store: EventStore,
    *,
    as_of: datetime | None = None,
    actor: str = "sipdash",
    record: bool = True,
    progress: Callable[[str], None] | None = None,
    elements: Registry = ELEMENTS,
) -> Pack:
    """Collect the pack as of ``as_of`` (the head when None) and record the export as an
    event; the charts render on first use of ``.html`` or ``.pdf``, once for both. Every
    per-enabler part (charts, words, sections) is for ``elements``: the wired registry."""
    with fast_data():  # the same specs, without Altair's per-layer DataFrame sanitising
        content = _collect(store, as_of, elements)
    pack = Pack(content)
    if record:
        record_pack_export(store, pack, actor=actor)
    return pack


def record_pack_export(store: EventStore, pack: Pack, *, actor: str) -> None:
    """Record that ``pack`` was exported (who, as of when, at which head). Callers that write
    or hand over the pack themselves build it with ``record=False`` and call this once the
    pack exists, so a failed write leaves no record of an export that never happened."""
    meta = pack.meta
    record_export(
        store,
        "review-pack",
        "review pack",
        actor=actor,
        as_of=meta["as_of_iso"] or "(empty log)",
        head_hash=meta["head_hash"],
    )
