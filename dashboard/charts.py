"""Pure Altair chart builders: data frames in, ``alt.Chart`` / ``alt.LayerChart`` out.

No streamlit here, so the dashboard and the review pack draw the same charts, and the builders
are unit-tested through ``.to_dict()``. Nothing is calculated here either: every number comes
from ``audit.views``; this module only reshapes frames for drawing (dates, labels, long form).

Colours follow NHS England "Making Data Count": improvement #00B0F0, concern #E46C0A, neither
#490092, common cause #A6A6A6, target #DE1B1B. Every colour has a text alternative (a labelled
legend and tooltips), so nothing is said by colour alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import altair as alt
import pandas as pd

from audit import labels
from audit.spc import POINT_COLOURS, month_gaps

TARGET_COLOUR = "#DE1B1B"
TEXT_COLOUR = "#212B32"  # NHS black
LINE_COLOUR = "#768692"  # NHS mid grey: the line joining the points
LIMIT_COLOUR = "#425563"  # NHS dark grey: centre and process limits
MILESTONE_COLOUR = "#330072"  # NHS dark purple, distinct from the point colours
BREAK_COLOUR = "#231F20"

POINT_LABELS: dict[str, str] = labels.POINT_LABELS
"""Legend text of each MDC point type (one label module: ``audit.labels``)."""

SIGNAL_LABELS: dict[str, str] = {
    "single_point": "a point beyond a process limit",
    "shift": "a shift (a run of points on one side of the centre)",
    "trend": "a trend (points rising or falling in a row)",
    "two_of_three": "two of three points beyond the 2σ line",
    "long_run": "a run longer than expected (Anhøj)",
}

MILESTONE_LABELS: dict[str, str] = labels.MILESTONE_LABELS

SAMPLE_LABELS: dict[str, str] = {
    # legend label: point shape
    "10 or more notes": "circle",
    "Fewer than 10 notes (small)": "triangle-down",
}

LINE_STYLES: dict[str, tuple[str, list[int]]] = {
    # legend label: (colour, stroke dash)
    "Centre line": (LIMIT_COLOUR, [1, 0]),
    "Process limits (3σ)": (LIMIT_COLOUR, [6, 4]),
    "2σ lines": ("#AEB7BD", [2, 3]),
    "Target": (TARGET_COLOUR, [1, 0]),
}
_LINE_COLUMNS: dict[str, str] = {
    "centre": "Centre line",
    "upper_limit": "Process limits (3σ)",
    "lower_limit": "Process limits (3σ)",
    "upper_2sigma": "2σ lines",
    "lower_2sigma": "2σ lines",
}

FUNNEL_POSITIONS: dict[str, str] = {
    # label: colour. Above the funnel is better than the programme, below is worse.
    "Above the 99.8% limit": POINT_COLOURS["improvement"],
    "Above the 95% limit": "#7FD7F7",
    "Within the limits": POINT_COLOURS["common_cause"],
    "Below the 95% limit": "#F2B584",
    "Below the 99.8% limit": POINT_COLOURS["concern"],
}

_PCT = ".0%"
_PCT1 = ".1%"


def period_date(periods: Iterable[str]) -> pd.Series:
    """``YYYY-MM`` (or ``YYYY-MM-DD``) labels as dates on the first of the month."""
    text = pd.Series(list(periods), dtype="string")
    text = text.where(text.str.len() > 7, text + "-01")
    return pd.to_datetime(text, format="%Y-%m-%d")


def describe_signals(signals: str | Sequence[str] | None) -> str:
    """Plain-English names of the special-cause rules behind a point."""
    if signals is None or (isinstance(signals, float) and pd.isna(signals)):
        return "none"
    names = (
        [s.strip() for s in signals.split(",") if s.strip()]
        if isinstance(signals, str)
        else list(signals)
    )
    if not names:
        return "none"
    return "; ".join(SIGNAL_LABELS.get(n, n) for n in names)


def _segments(periods: pd.Series, recalculate_at: Sequence[str]) -> pd.Series:
    """Which limit segment each period belongs to: lines never join across a recalculation,
    nor across a gap (a month without reviewed notes), so limits never step inside a gap."""
    starts = sorted(recalculate_at)
    recalcs = periods.map(lambda p: sum(1 for s in starts if str(p) >= s)).astype(int)
    return recalcs + _runs(periods)


def _runs(periods: pd.Series) -> pd.Series:
    """Stretch number of each period: it goes up by one after every gap."""
    gaps = month_gaps([str(p) for p in periods])
    return pd.Series(gaps.cumsum(), index=periods.index).astype(int)


def _x(title: str | None = None) -> alt.X:
    return alt.X(
        "date:T",
        title=title,
        axis=alt.Axis(format="%b %Y", labelAngle=-40, labelOverlap=True, grid=False),
    )


# ---------------------------------------------------------------------------------------- SPC


def spc_points_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-point frame the SPC chart draws: ``SpcResult.to_frame()`` columns plus, when
    present, ``ci_low``/``ci_high``/``small``; adds the date, labels and plain-English rules."""
    out = frame.copy()
    out["date"] = period_date(out["period"].astype(str))
    out["point_label"] = out["point_type"].astype(str).map(POINT_LABELS)
    out["rules"] = out["signals"].map(describe_signals) if "signals" in out else "none"
    out["small"] = out["small"].fillna(False).astype(bool) if "small" in out else False
    small, large = list(SAMPLE_LABELS)[1], next(iter(SAMPLE_LABELS))
    out["sample"] = out["small"].map(lambda s: small if s else large)
    if "provisional" in out:
        out["provisional"] = out["provisional"].fillna(False).astype(bool)
    else:
        out["provisional"] = False
    out["status"] = out["provisional"].map(
        lambda p: "Provisional (round still open)" if p else "Final"
    )
    out["run"] = _runs(out["period"].astype(str)) if len(out) else pd.Series(dtype=int)
    for col in ("ci_low", "ci_high", "numerator", "denominator"):
        if col not in out:
            out[col] = pd.NA
    return out


def spc_lines_frame(frame: pd.DataFrame, recalculate_at: Sequence[str] = ()) -> pd.DataFrame:
    """Centre, limits and 2σ lines in long form (one row per date × line), nulls dropped."""
    rows = []
    dates = period_date(frame["period"].astype(str))
    segments = _segments(frame["period"].astype(str), recalculate_at)
    for column, label in _LINE_COLUMNS.items():
        if column not in frame:
            continue
        part = pd.DataFrame(
            {
                "date": dates,
                "period": frame["period"].astype(str),
                "value": pd.to_numeric(frame[column], errors="coerce"),
                "line": label,
                "series": column,
                "segment": segments,
            }
        )
        rows.append(part.dropna(subset=["value"]))
    if not rows:
        return pd.DataFrame(columns=["date", "period", "value", "line", "series", "segment"])
    return pd.concat(rows, ignore_index=True)


def milestones_frame(milestones: pd.DataFrame | None) -> pd.DataFrame:
    """Milestone events (``on``, ``kind``, ``title``) as dated, labelled rows."""
    cols = ["date", "on", "kind", "label", "title"]
    if milestones is None or milestones.empty or "on" not in milestones:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(milestones["on"].astype(str), format="%Y-%m-%d"),
            "on": milestones["on"].astype(str),
            "kind": milestones["kind"].astype(str),
            "label": milestones["kind"].astype(str).map(lambda k: MILESTONE_LABELS.get(k, k)),
            "title": milestones.get("title", pd.Series([""] * len(milestones))).astype(str),
        }
    )
    return out.sort_values("date").reset_index(drop=True)[cols]


def breaks_frame(baseline_end: str | None, recalculate_at: Sequence[str] = ()) -> pd.DataFrame:
    """Where the limits' basis changes: the end of a fixed baseline and each recalculation.

    A baseline ends after its last period, so its rule sits at the start of the next month;
    a recalculation's new limits start at its period.
    """
    rows = []
    if baseline_end:
        end = period_date([baseline_end]).iloc[0] + pd.offsets.MonthBegin(1)
        rows.append({"date": end, "label": "Baseline ends", "period": baseline_end})
    for p in recalculate_at:
        rows.append(
            {"date": period_date([p]).iloc[0], "label": "New limits from here", "period": p}
        )
    return pd.DataFrame(rows, columns=["date", "label", "period"])


def annotations_frame(
    milestones: pd.DataFrame | None,
    baseline_end: str | None = None,
    recalculate_at: Sequence[str] = (),
) -> pd.DataFrame:
    """One text label per month for the milestones and limit changes in it, so labels of the
    same month never overlap ("Baseline ends · SIP start · ADP training")."""
    stones = milestones_frame(milestones)[["date", "label", "title"]]
    breaks = breaks_frame(baseline_end, recalculate_at)
    breaks = breaks.assign(title=breaks["label"])[["date", "label", "title"]]
    parts = [df for df in (breaks, stones) if not df.empty]
    if not parts:
        return pd.DataFrame(columns=["date", "label", "title"])
    both = pd.concat(parts, ignore_index=True)
    both["date"] = pd.to_datetime(both["date"])
    grouped = both.groupby(both["date"].dt.strftime("%Y-%m"), sort=True)
    return pd.DataFrame(
        {
            "date": grouped["date"].min(),
            "label": grouped["label"].agg(lambda x: " · ".join(dict.fromkeys(x))),
            "title": grouped["title"].agg(lambda x: "; ".join(dict.fromkeys(x))),
        }
    ).reset_index(drop=True)


def spc_chart(
    frame: pd.DataFrame,
    *,
    target: float | None = None,
    milestones: pd.DataFrame | None = None,
    baseline_end: str | None = None,
    recalculate_at: Sequence[str] = (),
    title: str | None = None,
    y_title: str = "Notes documenting it",
    height: int = 460,
    width: int | str = "container",
    unit: str = "notes",
) -> alt.LayerChart:
    """An SPC chart in the Making Data Count style.

    ``frame``: one row per period with ``period``, ``value``, ``centre``, ``lower_limit``,
    ``upper_limit``, ``lower_2sigma``, ``upper_2sigma``, ``point_type`` and ``signals``
    (``SpcResult.to_frame()``), optionally ``numerator``, ``denominator``, ``ci_low``,
    ``ci_high`` and ``small``. Values are proportions (0–1) and drawn as percentages.
    ``width="container"`` fills the page (Streamlit); give pixels for a static render
    (vl-convert has no container to fill). ``unit`` names what a point counts in the
    small-sample legend and the tooltip ("notes"; "returns" for a patient-survey series).
    """
    points = spc_points_frame(frame)
    if unit != "notes":
        points["sample"] = points["sample"].str.replace("notes", unit)
    lines = spc_lines_frame(frame, recalculate_at)
    y_scale = alt.Scale(domain=[0, 1], clamp=True)
    y = alt.Y("value:Q", title=y_title, scale=y_scale, axis=alt.Axis(format=_PCT))
    line_domain = [k for k in LINE_STYLES if k != "Target"]
    layers: list[alt.Chart] = []

    if not lines.empty:
        layers.append(
            alt.Chart(lines)
            .mark_line(interpolate="step", strokeWidth=1.5)
            .encode(
                x=_x(),
                y=y,
                color=alt.Color(
                    "line:N",
                    title="Lines",
                    scale=alt.Scale(
                        domain=line_domain, range=[LINE_STYLES[k][0] for k in line_domain]
                    ),
                    legend=alt.Legend(orient="bottom", symbolStrokeWidth=2),
                ),
                strokeDash=alt.StrokeDash(
                    "line:N",
                    scale=alt.Scale(
                        domain=line_domain, range=[LINE_STYLES[k][1] for k in line_domain]
                    ),
                    legend=None,
                ),
                detail=alt.Detail("series_segment:N"),
                tooltip=[
                    alt.Tooltip("line:N", title="Line"),
                    alt.Tooltip("period:N", title="Month"),
                    alt.Tooltip("value:Q", title="Value", format=_PCT1),
                ],
            )
            .transform_calculate(series_segment="datum.series + '-' + datum.segment")
        )

    steps = target_steps_frame(frame)
    if not steps.empty:
        # the target in force month by month: a step line, so a later target never re-judges
        # the months before it
        layers.append(
            alt.Chart(steps)
            .mark_line(interpolate="step-after", strokeWidth=2, color=TARGET_COLOUR)
            .encode(
                x=_x(),
                y=y,
                detail="stretch:N",
                tooltip=[
                    alt.Tooltip("period:N", title="Month"),
                    alt.Tooltip("value:Q", title="Target in force", format=_PCT),
                ],
            )
        )
        label = (
            steps.dropna(subset=["value"])
            .tail(1)
            .assign(text=lambda d: "Target " + d["value"].map(lambda v: f"{v:.0%}"))
        )
        layers.append(
            alt.Chart(label)
            .mark_text(
                align="right",
                baseline="bottom",
                dx=0,
                dy=-3,
                fontWeight="bold",
                color=TARGET_COLOUR,
            )
            .encode(x=_x(), y=y, text="text:N")
        )
    elif target is not None:
        target_df = pd.DataFrame(
            {"value": [target], "line": ["Target"], "text": [f"Target {target:.0%}"]}
        )
        layers.append(
            alt.Chart(target_df)
            .mark_rule(strokeWidth=2, color=TARGET_COLOUR)
            .encode(y=y, tooltip=[alt.Tooltip("value:Q", title="Target", format=_PCT)])
        )
        layers.append(
            alt.Chart(target_df)
            .mark_text(
                align="left",
                baseline="bottom",
                dx=4,
                dy=-3,
                fontWeight="bold",
                color=TARGET_COLOUR,
            )
            .encode(y=y, x=alt.value(0), text="text:N")
        )

    breaks = breaks_frame(baseline_end, recalculate_at)
    if not breaks.empty:
        layers.append(
            alt.Chart(breaks)
            .mark_rule(strokeWidth=1.5, strokeDash=[8, 3], color=BREAK_COLOUR)
            .encode(
                x=_x(),
                tooltip=[
                    alt.Tooltip("label:N", title="Limits"),
                    alt.Tooltip("period:N", title="Month"),
                ],
            )
        )

    stones = milestones_frame(milestones)
    if not stones.empty:
        layers.append(
            alt.Chart(stones)
            .mark_rule(strokeWidth=1.5, opacity=0.55, color=MILESTONE_COLOUR)
            .encode(
                x=_x(),
                tooltip=[
                    alt.Tooltip("label:N", title="Milestone"),
                    alt.Tooltip("on:N", title="On"),
                    alt.Tooltip("title:N", title="What"),
                ],
            )
        )

    notes = annotations_frame(milestones, baseline_end, recalculate_at)
    if not notes.empty:
        text_style = {
            "angle": 270,
            "align": "right",
            "baseline": "bottom",
            "dx": -4,
            "dy": -2,
            "y": 0,
            "fontSize": 11,
        }
        # A white halo under each label keeps it readable where it crosses a line or a point.
        for extra in (
            {"color": "white", "stroke": "white", "strokeWidth": 3, "opacity": 0.85},
            {"color": MILESTONE_COLOUR},
        ):
            layers.append(
                alt.Chart(notes)
                .mark_text(**text_style, **extra)
                .encode(
                    x=_x(),
                    text="label:N",
                    tooltip=[
                        alt.Tooltip("label:N", title="Marked"),
                        alt.Tooltip("title:N", title="What"),
                    ],
                )
            )

    # the line breaks at a gap: one line per stretch of consecutive months
    layers.append(
        alt.Chart(points)
        .mark_line(strokeWidth=1.5, color=LINE_COLOUR)
        .encode(x=_x(), y=y, detail="run:N")
    )
    point_types = list(POINT_LABELS)
    for provisional in (False, True):
        part = points[points["provisional"] == provisional]
        if part.empty:
            continue
        layers.append(_point_layer(part, y, point_types, hollow=provisional, unit=unit))

    chart = alt.layer(*layers).resolve_scale(color="independent", strokeDash="independent")
    props: dict = {"height": height, "width": width}
    if title:
        props["title"] = title
    return chart.properties(**props)


def target_steps_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The target in force per month (``target`` column of the judgement frame), one row per
    month, with a stretch number that changes where no target was in force."""
    cols = ["date", "period", "value", "stretch"]
    if "target" not in frame or frame["target"].isna().all():
        return pd.DataFrame(columns=cols)
    periods = frame["period"].astype(str)
    out = pd.DataFrame(
        {
            "date": period_date(periods),
            "period": periods,
            "value": pd.to_numeric(frame["target"], errors="coerce"),
        }
    )
    out["stretch"] = out["value"].isna().cumsum()
    return out.dropna(subset=["value"]).reset_index(drop=True)[cols]


def _point_layer(
    points: pd.DataFrame, y: alt.Y, point_types: list[str], *, hollow: bool, unit: str = "notes"
):
    samples = {label.replace("notes", unit): shape for label, shape in SAMPLE_LABELS.items()}
    yes, n = (
        ("Notes documenting it", "Notes reviewed (n)")
        if unit == "notes"
        else (f"{unit.capitalize()} answering yes", f"{unit.capitalize()} (n)")
    )
    return (
        alt.Chart(points)
        .mark_point(filled=not hollow, size=80 if not hollow else 90, opacity=1, strokeWidth=2)
        .encode(
            x=_x(),
            y=y,
            color=alt.Color(
                "point_label:N",
                title="Variation",
                scale=alt.Scale(
                    domain=[POINT_LABELS[t] for t in point_types],
                    range=[POINT_COLOURS[t] for t in point_types],
                ),
                legend=alt.Legend(orient="top", symbolSize=90),
            ),
            shape=alt.Shape(
                "sample:N",
                title="Sample",
                scale=alt.Scale(domain=list(samples), range=list(samples.values())),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("period:N", title="Month"),
                alt.Tooltip("value:Q", title="Documented", format=_PCT1),
                alt.Tooltip("numerator:Q", title=yes),
                alt.Tooltip("denominator:Q", title=n),
                alt.Tooltip("ci_low:Q", title="95% interval from", format=_PCT),
                alt.Tooltip("ci_high:Q", title="95% interval to", format=_PCT),
                alt.Tooltip("point_label:N", title="Variation"),
                alt.Tooltip("rules:N", title="Rule(s)"),
                alt.Tooltip("sample:N", title="Sample"),
                alt.Tooltip("status:N", title="Status"),
            ],
        )
    )


# ------------------------------------------------------------------------- two sources


SOURCE_STYLES: dict[str, tuple[str, list[int], str]] = {
    # legend label: (colour, stroke dash, point shape); dash and shape repeat the colour's message
    "Case notes (audit sample)": ("#005EB8", [1, 0], "circle"),  # NHS blue, solid
    "Patients report (surveys)": ("#AE2573", [7, 4], "square"),  # NHS pink, dashed
}


def sources_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The "Both" chart's rows: every month of each source's span present (a month without
    data is a null, so the line breaks there and is never bridged), with dates and labels."""
    parts = []
    for source, rows in frame.groupby("source", sort=False):
        rows = rows.assign(period=rows["period"].astype(str))
        span = pd.period_range(rows["period"].min(), rows["period"].max(), freq="M")
        full = pd.DataFrame({"period": span.strftime("%Y-%m")})
        full = full.merge(rows, on="period", how="left").assign(source=source)
        parts.append(full)
    if not parts:
        return pd.DataFrame(columns=[*frame.columns, "date", "status", "sample"])
    out = pd.concat(parts, ignore_index=True)
    out["date"] = period_date(out["period"])
    out["provisional"] = out["provisional"].astype("boolean").fillna(False).astype(bool)
    out["small"] = out["small"].astype("boolean").fillna(False).astype(bool)
    out["status"] = out["provisional"].map(
        lambda p: "Provisional (latest month, still coming in)" if p else "Final"
    )
    small, large = list(SAMPLE_LABELS)[1], next(iter(SAMPLE_LABELS))
    out["sample"] = out["small"].map(lambda s: small.replace("notes", "answers") if s else large)
    return out


def sources_chart(
    frame: pd.DataFrame,
    *,
    target: float | None = None,
    milestones: pd.DataFrame | None = None,
    title: str | None = None,
    height: int = 420,
    width: int | str = "container",
) -> alt.LayerChart:
    """Case-note and patient-reported rates on one time axis, each with its Wilson 95%
    interval as a band. ``frame``: ``audit.sources.both_frame`` (source, period, proportion,
    ci_low, ci_high, numerator, denominator, small, provisional). Provisional months are
    drawn hollow, small ones as triangles; no SPC limits here (each source keeps its own
    chart: the rules apply to each separately)."""
    data = sources_frame(frame)
    domain = list(SOURCE_STYLES)
    y_scale = alt.Scale(domain=[0, 1], clamp=True)
    y = alt.Y(
        "proportion:Q", title="Share saying it happened", scale=y_scale, axis=alt.Axis(format=_PCT)
    )
    colour = alt.Color(
        "source:N",
        title="Source",
        scale=alt.Scale(domain=domain, range=[SOURCE_STYLES[k][0] for k in domain]),
        legend=alt.Legend(orient="top", symbolStrokeWidth=2),
    )
    tooltip = [
        alt.Tooltip("source:N", title="Source"),
        alt.Tooltip("period:N", title="Month"),
        alt.Tooltip("proportion:Q", title="Rate", format=_PCT1),
        alt.Tooltip("ci_low:Q", title="95% interval from", format=_PCT),
        alt.Tooltip("ci_high:Q", title="95% interval to", format=_PCT),
        alt.Tooltip("numerator:Q", title="Saying yes"),
        alt.Tooltip("denominator:Q", title="n"),
        alt.Tooltip("status:N", title="Status"),
        alt.Tooltip("sample:N", title="Sample"),
    ]
    layers: list[alt.Chart] = [
        alt.Chart(data)
        .mark_area(opacity=0.16, invalid="break-paths-show-domains")
        .encode(x=_x(), y=alt.Y("ci_low:Q", scale=y_scale), y2="ci_high:Q", color=colour),
        alt.Chart(data)
        .mark_line(strokeWidth=2, invalid="break-paths-show-domains")
        .encode(
            x=_x(),
            y=y,
            color=colour,
            strokeDash=alt.StrokeDash(
                "source:N",
                scale=alt.Scale(domain=domain, range=[SOURCE_STYLES[k][1] for k in domain]),
                legend=None,
            ),
        ),
    ]
    shape = alt.Shape(
        "source:N",
        scale=alt.Scale(domain=domain, range=[SOURCE_STYLES[k][2] for k in domain]),
        legend=None,
    )
    final = data[~data["provisional"] & data["proportion"].notna()]
    layers.append(
        alt.Chart(final)
        .mark_point(filled=True, size=55, opacity=1)
        .encode(x=_x(), y=y, color=colour, shape=shape, tooltip=tooltip)
    )
    small = final[final["small"]]
    if not small.empty:
        layers.append(
            alt.Chart(small)
            .mark_point(
                shape="triangle-down", size=160, filled=False, strokeWidth=1.5, color=TEXT_COLOUR
            )
            .encode(x=_x(), y=y, tooltip=tooltip)
        )
    provisional = data[data["provisional"] & data["proportion"].notna()]
    if not provisional.empty:
        layers.append(
            alt.Chart(provisional)
            .mark_point(filled=False, size=90, strokeWidth=2, opacity=1)
            .encode(x=_x(), y=y, color=colour, shape=shape, tooltip=tooltip)
        )
    if target is not None:
        layers.append(
            alt.Chart(pd.DataFrame({"value": [target]}))
            .mark_rule(strokeWidth=1.5, color=TARGET_COLOUR, strokeDash=[2, 2])
            .encode(
                y=alt.Y("value:Q", scale=y_scale),
                tooltip=[alt.Tooltip("value:Q", title="Target", format=_PCT)],
            )
        )
    stones = milestones_frame(milestones)
    if not stones.empty:
        layers.append(
            alt.Chart(stones)
            .mark_rule(strokeWidth=1.5, opacity=0.45, color=MILESTONE_COLOUR)
            .encode(
                x=_x(),
                tooltip=[
                    alt.Tooltip("label:N", title="Milestone"),
                    alt.Tooltip("on:N", title="On"),
                    alt.Tooltip("title:N", title="What"),
                ],
            )
        )
    props: dict = {"height": height, "width": width}
    if title:
        props["title"] = title
    return alt.layer(*layers).properties(**props)


# ------------------------------------------------------------------------------------ funnel


def funnel_position_label(row: pd.Series) -> str:
    """Where a team sits on the funnel, in words (the text alternative to its colour)."""
    if bool(row.get("outside_998")):
        return "Above the 99.8% limit" if row.get("side") == "above" else "Below the 99.8% limit"
    if bool(row.get("outside_95")):
        return "Above the 95% limit" if row.get("side") == "above" else "Below the 95% limit"
    return "Within the limits"


def funnel_points_frame(teams: pd.DataFrame) -> pd.DataFrame:
    out = teams.copy()
    out["position"] = (
        out.apply(funnel_position_label, axis=1) if not out.empty else pd.Series(dtype=str)
    )
    return out


def spread_labels(values: Sequence[float], gap: float) -> list[float]:
    """Label heights near ``values`` but at least ``gap`` apart (layout only, order kept), so
    the names of teams with close results do not print over each other."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed = [0.0] * len(values)
    previous = None
    for i in order:
        y = float(values[i]) if previous is None else max(float(values[i]), previous + gap)
        placed[i] = y
        previous = y
    top = max(placed, default=0.0)
    if top > 1.0:  # push the whole stack down to stay on the chart
        shift = top - 1.0
        placed = [y - shift for y in placed]
    return placed


def funnel_x_domain(denominators: Sequence[float]) -> list[float]:
    """The n-axis: from a little below the smallest team to a little beyond the largest, so the
    part of the funnel where the teams are is readable (the curves start at n = 1)."""
    n = [float(d) for d in denominators]
    if not n:
        return [0.0, 1.0]
    low, high = min(n), max(n)
    span = max(high - low, 0.25 * high, 1.0)
    return [max(0.0, low - span * 0.6), high + span * 0.25]


def funnel_chart(
    teams: pd.DataFrame,
    curves: pd.DataFrame,
    theta: float,
    *,
    theta_label: str = "Programme",
    title: str | None = None,
    height: int = 440,
    width: int | str = "container",
    x_title: str = "Notes reviewed in the months chosen (n)",
) -> alt.LayerChart:
    """Funnel plot: each team's proportion against its number of reviewed notes, with the
    95% and 99.8% limits around θ (``views.funnel``). Team names are printed outside the plot,
    right of it (the legends go below)."""
    points = funnel_points_frame(teams).rename(columns={"denominator": "n", "proportion": "value"})
    domain = funnel_x_domain(points["n"].tolist() if not points.empty else [])
    plot_height = height - 40
    points["label_y"] = spread_labels(points["value"].tolist(), 15 / plot_height)

    long = []
    for column, label in (
        ("upper_95", "95% limits"),
        ("lower_95", "95% limits"),
        ("upper_998", "99.8% limits"),
        ("lower_998", "99.8% limits"),
    ):
        if column in curves:
            part = pd.DataFrame(
                {"n": curves["n"], "value": curves[column], "limit": label, "series": column}
            )
            long.append(part[(part["n"] >= domain[0]) & (part["n"] <= domain[1])])
    lines = pd.concat(long, ignore_index=True) if long else pd.DataFrame()
    y = alt.Y(
        "value:Q",
        title="Notes documenting it",
        scale=alt.Scale(domain=[0, 1]),
        axis=alt.Axis(format=_PCT),
    )
    x = alt.X(
        "n:Q",
        title=x_title,
        scale=alt.Scale(domain=domain, nice=False, zero=False),
    )
    layers: list[alt.Chart] = []
    if not lines.empty:
        layers.append(
            alt.Chart(lines)
            .mark_line(strokeWidth=1.5, interpolate="monotone", clip=True)
            .encode(
                x=x,
                y=y,
                detail="series:N",
                color=alt.Color(
                    "limit:N",
                    title="Limits",
                    scale=alt.Scale(
                        domain=["95% limits", "99.8% limits"], range=[LIMIT_COLOUR, BREAK_COLOUR]
                    ),
                    legend=alt.Legend(orient="bottom"),
                ),
                strokeDash=alt.StrokeDash(
                    "limit:N",
                    scale=alt.Scale(domain=["95% limits", "99.8% limits"], range=[[6, 4], [1, 0]]),
                    legend=None,
                ),
            )
        )
    theta_df = pd.DataFrame({"value": [theta], "text": [f"{theta_label} {theta:.0%}"]})
    layers.append(
        alt.Chart(theta_df)
        .mark_rule(color=LIMIT_COLOUR, strokeWidth=1)
        .encode(y=y, tooltip=[alt.Tooltip("value:Q", title=theta_label, format=_PCT1)])
    )
    layers.append(
        alt.Chart(theta_df)
        .mark_text(align="left", baseline="bottom", dx=4, dy=-3, color=LIMIT_COLOUR)
        .encode(y=y, x=alt.value(0), text="text:N")
    )
    tooltip = [
        alt.Tooltip("team_name:N", title="Team"),
        alt.Tooltip("value:Q", title="Documented", format=_PCT1),
        alt.Tooltip("numerator:Q", title="Notes documenting it"),
        alt.Tooltip("n:Q", title="Notes reviewed (n)"),
        alt.Tooltip("ci_low:Q", title="95% interval from", format=_PCT),
        alt.Tooltip("ci_high:Q", title="95% interval to", format=_PCT),
        alt.Tooltip("position:N", title="Funnel"),
    ]
    layers.append(
        alt.Chart(points)
        .mark_point(filled=True, size=90, opacity=1, stroke=TEXT_COLOUR, strokeWidth=0.5)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "position:N",
                title="Position",
                scale=alt.Scale(
                    domain=list(FUNNEL_POSITIONS), range=list(FUNNEL_POSITIONS.values())
                ),
                legend=alt.Legend(orient="bottom", columns=3),
            ),
            tooltip=tooltip,
        )
    )
    # Team names sit outside the plot area, to the right, at (spread) heights of their points,
    # so no limit line ever strikes through a label.
    layers.append(
        alt.Chart(points)
        .mark_text(
            align="left",
            baseline="middle",
            x={"expr": "width + 10"},
            fontSize=11,
            color=TEXT_COLOUR,
            clip=False,
        )
        .encode(
            y=alt.Y("label_y:Q", scale=alt.Scale(domain=[0, 1])),
            text="team_name:N",
            tooltip=tooltip,
        )
    )
    layers.append(
        alt.Chart(points)
        .mark_rule(x={"expr": "width"}, x2={"expr": "width + 8"}, color=LINE_COLOUR, clip=False)
        .encode(y=alt.Y("label_y:Q", scale=alt.Scale(domain=[0, 1])))
    )
    chart = alt.layer(*layers).resolve_scale(color="independent", strokeDash="independent")
    # the labels extend the chart to the right; a fitted (container-wide) chart shrinks its
    # plot to leave them room, a fixed-width one (the pack) grows by their width
    props: dict = {"height": height, "width": width}
    if title:
        props["title"] = title
    return chart.properties(**props)


def interval_chart(
    teams: pd.DataFrame,
    theta: float | None = None,
    *,
    theta_label: str = "Programme",
    title: str | None = None,
    width: int | str = "container",
) -> alt.LayerChart:
    """League table as a chart: each team's proportion with its Wilson 95% interval, so no
    team is ranked without showing how uncertain its place is."""
    points = funnel_points_frame(teams)
    order = points.sort_values("proportion", ascending=False)["team_name"].tolist()
    y = alt.Y(
        "team_name:N",
        title=None,
        sort=order,
        axis=alt.Axis(labelLimit=320, labelOverlap=False, labelFontSize=12),
    )
    x_scale = alt.Scale(domain=[0, 1])
    tooltip = [
        alt.Tooltip("team_name:N", title="Team"),
        alt.Tooltip("proportion:Q", title="Documented", format=_PCT1),
        alt.Tooltip("ci_low:Q", title="95% interval from", format=_PCT1),
        alt.Tooltip("ci_high:Q", title="95% interval to", format=_PCT1),
        alt.Tooltip("denominator:Q", title="Notes reviewed (n)"),
        alt.Tooltip("position:N", title="Funnel"),
    ]
    bars = (
        alt.Chart(points)
        .mark_rule(strokeWidth=3, color=LIMIT_COLOUR)
        .encode(
            y=y,
            x=alt.X(
                "ci_low:Q",
                title="Notes documenting it, with the 95% interval",
                scale=x_scale,
                axis=alt.Axis(format=_PCT),
            ),
            x2="ci_high:Q",
            tooltip=tooltip,
        )
    )
    dots = (
        alt.Chart(points)
        .mark_point(filled=True, size=110, opacity=1, stroke=TEXT_COLOUR, strokeWidth=0.5)
        .encode(
            y=y,
            x=alt.X("proportion:Q", scale=x_scale),
            color=alt.Color(
                "position:N",
                title="Funnel position",
                scale=alt.Scale(
                    domain=list(FUNNEL_POSITIONS), range=list(FUNNEL_POSITIONS.values())
                ),
                legend=alt.Legend(orient="right"),
            ),
            tooltip=tooltip,
        )
    )
    layers: list[alt.Chart] = [bars, dots]
    if theta is not None and not pd.isna(theta):
        layers.append(
            alt.Chart(pd.DataFrame({"value": [theta], "label": [theta_label]}))
            .mark_rule(color=LIMIT_COLOUR, strokeDash=[4, 3])
            .encode(
                x=alt.X("value:Q", scale=x_scale),
                tooltip=[alt.Tooltip("value:Q", title=theta_label, format=_PCT1)],
            )
        )
    height = max(160, 30 * len(points) + 20)
    props: dict = {"height": height, "width": width}
    if title:
        props["title"] = title
    return alt.layer(*layers).properties(**props)


# ----------------------------------------------------------------------- culture shift curve


def curve_frame(curve: pd.DataFrame, measure_labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The headline curve (``audit.curve.culture_curve``) with dates and enabler labels
    (``measure_labels``: the wired registry's ``labels``; the default registry's when None)."""
    out = curve.copy()
    out["date"] = period_date(out["period"].astype(str)) if not out.empty else pd.Series()
    out["enabler"] = out["measure"].map(measure_labels or labels.MEASURE_LABELS)
    return out


def culture_curve_chart(
    curve: pd.DataFrame,
    starts: pd.DataFrame | None = None,
    waves: pd.DataFrame | None = None,
    *,
    panel_width: int = 170,
    panel_height: int = 120,
    columns: int = 4,
    font: str | None = None,
    measure_labels: dict[str, str] | None = None,
) -> alt.VConcatChart:
    """Small multiples, one panel per enabler (and the bundle): a step line of k teams with the
    enabler the norm, under the step line of n teams audited; a tick per team's SIP start on
    the time axis and a purple bar per month's training wave (clinicians trained, ADP).
    ``measure_labels``: the panels, in order (the wired registry's ``labels``; the default
    registry's when None)."""
    measure_labels = measure_labels or labels.MEASURE_LABELS
    frame = curve_frame(curve, measure_labels)
    top = max(1, int(frame["teams_total"].max())) if not frame.empty else 1
    y = alt.Y(
        "teams:Q",
        title="Teams",
        scale=alt.Scale(domain=[0, top]),
        axis=alt.Axis(tickMinStep=1, format="d"),
    )
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%b %y", labelAngle=-40, grid=False))
    starts = starts if starts is not None else pd.DataFrame(columns=["team", "on", "period"])
    waves = waves if waves is not None else pd.DataFrame(columns=["period", "trained"])
    tick_df = starts.assign(
        date=period_date(starts["period"].astype(str)) if not starts.empty else pd.Series(),
        teams=0,
    )
    wave_df = waves.assign(
        date=period_date(waves["period"].astype(str)) if not waves.empty else pd.Series(),
        teams=0,
    )
    if not wave_df.empty:
        peak = max(1, int(wave_df["trained"].max()))
        wave_df["height"] = wave_df["trained"] / peak * top * 0.35
    panels = []
    for measure, label in measure_labels.items():
        part = frame[frame["measure"] == measure]
        long = pd.concat(
            [
                part.assign(series="Teams audited (n)", teams=part["teams_total"]),
                part.assign(series="Teams with it the norm (k)", teams=part["teams_norm"]),
            ],
            ignore_index=True,
        )
        layers: list = []
        if not wave_df.empty:
            layers.append(
                alt.Chart(wave_df)
                .mark_bar(color=MILESTONE_COLOUR, opacity=0.35, width=3)
                .encode(
                    x=x,
                    y=alt.Y("teams:Q", scale=alt.Scale(domain=[0, top])),
                    y2="height:Q",
                    tooltip=[
                        alt.Tooltip("period:N", title="Month"),
                        alt.Tooltip("trained:Q", title="Clinicians trained (ADP)"),
                    ],
                )
            )
        layers.append(
            alt.Chart(long)
            .mark_line(interpolate="step-after", strokeWidth=2)
            .encode(
                x=x,
                y=y,
                color=alt.Color(
                    "series:N",
                    title=None,
                    scale=alt.Scale(
                        domain=["Teams with it the norm (k)", "Teams audited (n)"],
                        range=["#005EB8", "#AEB7BD"],
                    ),
                    legend=alt.Legend(orient="bottom"),
                ),
                tooltip=[
                    alt.Tooltip("period:N", title="Month"),
                    alt.Tooltip("series:N", title="Line"),
                    alt.Tooltip("teams:Q", title="Teams"),
                ],
            )
        )
        if not tick_df.empty:
            layers.append(
                alt.Chart(tick_df)
                .mark_tick(color=TEXT_COLOUR, thickness=2, size=10, orient="vertical")
                .encode(
                    x=x,
                    y=alt.Y("teams:Q", scale=alt.Scale(domain=[0, top])),
                    tooltip=[
                        alt.Tooltip("team:N", title="SIP start"),
                        alt.Tooltip("on:N", title="On"),
                    ],
                )
            )
        panels.append(
            alt.layer(*layers).properties(width=panel_width, height=panel_height, title=label)
        )
    rows = [alt.hconcat(*panels[i : i + columns]) for i in range(0, len(panels), columns)]
    chart = alt.vconcat(*rows).resolve_scale(color="shared")
    if font:
        chart = chart.configure(font=font)
    return chart


# -------------------------------------------------------------------------------- icon grid

_VARIATION_GLYPH = {
    "improvement": "↑",
    "concern": "↓",
    "neither": "◆",
    "common_cause": "~",
}
_ASSURANCE_GLYPH = {"pass": "P", "fail": "F", "hit_or_miss": "?", "not_assessable": "!"}


def icon_grid_frame(grid: pd.DataFrame) -> pd.DataFrame:
    """One row per team × enabler × icon (variation, assurance, norm) with its MDC colour,
    glyph and words, teams in ``grid``'s order (those needing attention first)."""
    records = []
    team_order = list(dict.fromkeys(grid["team"])) if not grid.empty else []
    for r in grid.itertuples():
        variation = r.variation if isinstance(r.variation, str) else None
        assurance = r.assurance if isinstance(r.assurance, str) else None
        vbg, vfg = labels.VARIATION_COLOURS[variation]
        abg, afg = labels.ASSURANCE_COLOURS[assurance]
        base = {"team": r.team, "enabler": r.measure_label, "order": team_order.index(r.team)}
        records.append(
            base
            | {
                "icon": "Variation",
                "fill": vbg,
                "ink": vfg,
                "glyph": _VARIATION_GLYPH.get(variation or "", "–"),
                "words": labels.VARIATION_BADGES[variation],
            }
        )
        records.append(
            base
            | {
                "icon": "Assurance",
                "fill": abg,
                "ink": afg,
                "glyph": _ASSURANCE_GLYPH.get(assurance or "", "–"),
                "words": labels.ASSURANCE_BADGES[assurance],
            }
        )
        records.append(
            base
            | {
                "icon": "Norm",
                "fill": "#007F3B" if r.is_norm else "#FFFFFF",
                "ink": "#FFFFFF" if r.is_norm else "#768692",
                "glyph": "✔" if r.is_norm else "·",
                "words": "The norm: " + labels.NORM_LABELS[bool(r.is_norm)],
            }
        )
    return pd.DataFrame(
        records, columns=["team", "enabler", "order", "icon", "fill", "ink", "glyph", "words"]
    )


def icon_grid_chart(
    grid: pd.DataFrame, *, width: int = 560, row_height: int = 22, font: str | None = None
) -> alt.LayerChart:
    """The overview grid as MDC icons: per team (rows, in the grid's order) and enabler
    (columns), a variation disc (↑ improvement, ↓ concern, ~ common cause), an assurance disc
    (P pass, F fail, ? hit or miss) and a green ✔ where the enabler is the norm."""
    frame = icon_grid_frame(grid)
    teams = list(dict.fromkeys(frame["team"]))
    shown = list(dict.fromkeys(frame["enabler"]))  # a wired registry's own enablers included
    enablers = [v for v in labels.MEASURE_LABELS.values() if v in shown]
    enablers += [v for v in shown if v not in enablers]
    y = alt.Y(
        "team:N",
        sort=teams,
        title=None,
        axis=alt.Axis(labelLimit=330, labelFontSize=11, ticks=False, domain=False),
    )
    x = alt.X(
        "enabler:N",
        sort=enablers,
        title=None,
        axis=alt.Axis(orient="top", labelAngle=0, labelFontSize=11, ticks=False, domain=False),
    )
    offset = alt.XOffset("icon:N", sort=["Variation", "Assurance", "Norm"])
    tooltip = [
        alt.Tooltip("team:N", title="Team"),
        alt.Tooltip("enabler:N", title="Enabler"),
        alt.Tooltip("words:N", title="Icon"),
    ]
    discs = (
        alt.Chart(frame)
        .mark_circle(size=260, opacity=1, stroke="#425563", strokeWidth=0.6)
        .encode(x=x, xOffset=offset, y=y, color=alt.Color("fill:N", scale=None), tooltip=tooltip)
    )
    glyphs = (
        alt.Chart(frame)
        .mark_text(fontSize=11, fontWeight="bold", baseline="middle")
        .encode(
            x=x,
            xOffset=offset,
            y=y,
            text="glyph:N",
            color=alt.Color("ink:N", scale=None),
            tooltip=tooltip,
        )
    )
    chart = alt.layer(discs, glyphs).properties(
        width=width, height=max(row_height * max(len(teams), 1), 40)
    )
    if font:
        chart = chart.configure(font=font).configure_view(strokeWidth=0)
    else:
        chart = chart.configure_view(strokeWidth=0)
    return chart
