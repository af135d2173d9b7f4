"""The review pack: what a senior leader takes into a review, exactly as the numbers stood.

One self-contained HTML file (charts as inline SVG) and a PDF (charts as PNG), both drawn with
the same pure ``charts.py`` and rendered by vl-convert (no browser, no system library). The pack
carries its as-of time and the log's head hash at that moment, so anyone can reproduce it; it has
no timestamp of its own, so the same as-of gives the same pack.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import vl_convert as vlc
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from audit import queries, views
from audit.commentary import current_commentary
from audit.measures import audit_measures
from events import EventStore, NewEvent
from events.store import format_ts
from events.types import MEASURES, ExportRecorded

from . import charts

_EMOJI = {
    "improvement": "Improvement",
    "concern": "Concern",
    "neither": "Special cause (neither)",
    "common_cause": "Common cause",
}


@dataclass(frozen=True)
class Pack:
    sections: list
    meta: dict

    @property
    def as_of_text(self) -> str:
        return self.meta["as_of"]

    @property
    def head_position(self) -> int:
        return self.meta["head_position"]

    @property
    def head_hash(self) -> str:
        return self.meta["head_hash"]

    @property
    def html(self) -> str:
        return _html(self.sections, self.meta)

    @property
    def pdf(self) -> bytes:
        return _pdf(self.sections, self.meta)


@dataclass(frozen=True)
class _Section:
    heading: str
    text: list[str]
    charts: list[tuple[str, dict]]  # (caption, vega-lite spec)
    tables: list[tuple[str, pd.DataFrame]]


def _spec(chart) -> dict:
    return chart.to_dict()


def _pct(x) -> str:
    return "" if x is None or pd.isna(x) else f"{100 * float(x):.0f}%"


def _collect(store: EventStore, as_of: datetime | None) -> tuple[list[_Section], dict]:
    engine = store.engine
    head = store.head(as_of=as_of)
    teams = queries.teams(engine, as_of=as_of)
    grid = views.overview(engine, as_of=as_of)
    heads = views.headlines(grid)
    measures = audit_measures(engine, as_of=as_of)
    meta = {
        "as_of": format_ts(as_of) if as_of else (head.recorded_at or "(empty log)"),
        "head_position": head.position,
        "head_hash": head.hash,
        "synthetic": bool(teams["synthetic"].any()) if not teams.empty else False,
    }
    sections: list[_Section] = []

    summary = pd.DataFrame(
        [
            {"Enabler": h.label, "Teams where it is the norm": f"{h.norm} of {h.teams}"}
            for h in heads
        ]
    )
    icon_grid = pd.DataFrame()
    if not grid.empty:
        icon_grid = pd.DataFrame(
            {
                "Team": grid["team"],
                "Enabler": grid["measure_label"],
                "Latest month": grid["latest_period"],
                "Latest": grid["latest"].map(_pct),
                "n": grid["n"],
                "Variation": grid["variation"].map(lambda v: _EMOJI.get(v, "Too few points")),
                "Assurance": grid["assurance_label"],
                "The norm?": grid["is_norm"].map({True: "yes", False: "no"}),
            }
        )
    sections.append(
        _Section(
            "Programme headline",
            [h.text for h in heads],
            [],
            [
                ("Teams where each enabler is the norm", summary),
                ("Icon grid (concern first)", icon_grid),
            ],
        )
    )

    for team in teams.itertuples():
        milestones = queries.team_facts(
            engine, team.team_id, types=("MilestoneLogged",), as_of=as_of
        )
        chart_specs = []
        for measure in MEASURES:
            tc = views.team_chart(engine, team.team_id, measure, as_of=as_of, measures=measures)
            if tc is None:
                continue
            frame = tc.result.to_frame().merge(
                tc.table[["period", "ci_low", "ci_high", "small"]], on="period", how="left"
            )
            chart = charts.spc_chart(
                frame,
                target=tc.target,
                milestones=milestones,
                baseline_end=tc.baseline_end,
                recalculate_at=tc.recalculate_at,
                title=f"{views.MEASURE_LABELS[measure]} (p-chart)",
                height=200,
                width=620,
            )
            variation = _EMOJI.get(tc.result.variation, "too few points")
            assurance = views.ASSURANCE_LABELS[tc.result.assurance]
            chart_specs.append(
                (
                    f"{views.MEASURE_LABELS[measure]}: variation {variation}; {assurance}.",
                    _spec(chart),
                )
            )
        notes = queries.team_facts(engine, team.team_id, types=("ReviewSignedOff",), as_of=as_of)
        said = current_commentary(engine, team.team_id, as_of=as_of)  # withdrawn ones left out
        notes = pd.concat([said.assign(type="CommentaryAdded"), notes]) if not said.empty else notes
        text = [f"{team.site} · {team.service}"]
        for row in notes.sort_values("position").itertuples() if not notes.empty else []:
            if row.type == "CommentaryAdded":
                text.append(f"Commentary for {row.period} by {row.author}: {row.text}")
            else:
                text.append(f"Review for {row.period} signed off by {row.signed_off_by}.")
        agreement = views.agreement(engine, team_id=team.team_id, as_of=as_of)
        sizes = measures[(measures["team"] == team.team_id) & (measures["measure"] == "all_three")]
        sizes = sizes.tail(12)
        table = pd.DataFrame(
            {
                "Month": sizes["period"],
                "Notes reviewed (all three applicable)": sizes["denominator"],
            }
        )
        text.append(_agreement_text(agreement))
        sections.append(
            _Section(team.name, text, chart_specs, [("Audit sample sizes, last 12 months", table)])
        )

    teams_f, curves, theta = views.funnel(engine, "all_three", as_of=as_of)
    funnel_specs = []
    league = pd.DataFrame()
    if not teams_f.empty:
        funnel_specs.append(
            (
                "All three enablers, every audited month: teams outside the dashed (95%) or solid "
                "(99.8%) limits differ from the programme by more than chance.",
                _spec(charts.funnel_chart(teams_f, curves, theta, height=320, width=620)),
            )
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
    programme_agreement = views.agreement(engine, as_of=as_of)
    sections.append(
        _Section(
            "Comparing teams",
            [_agreement_text(programme_agreement, "Programme-wide")],
            funnel_specs,
            [("League table with intervals", league)],
        )
    )
    return sections, meta


def _agreement_text(a: dict, who: str = "Second reviews") -> str:
    if a["kappa"] is None and a["percent_agreement"] is None:
        return f"{who}: {a['n']} paired findings, fewer than 20, so agreement is not reported."
    kappa = "not defined" if a["kappa"] is None else f"{a['kappa']:.2f}"
    return (
        f"{who}: agreement {a['percent_agreement']:.0f}%, Cohen's kappa {kappa} "
        f"(n = {a['n']} paired findings, last 12 audited months)."
    )


def _svg(spec: dict, figure: int) -> str:
    """Inline SVG with its clip-path ids made unique per figure and independent of how many
    charts this process rendered before (vl-convert numbers them process-wide), so the same
    pack renders to the same bytes."""
    svg = vlc.vegalite_to_svg(spec)
    numbering: dict[str, str] = {}

    def rename(match: re.Match) -> str:
        old = match.group(0)
        if old not in numbering:
            numbering[old] = f"f{figure}clip{len(numbering) + 1}"
        return numbering[old]

    return re.sub(r"\bclip\d+\b", rename, svg)


def _html(sections: list[_Section], meta: dict) -> str:
    esc = html.escape
    figure = 0
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>sipdash review pack</title><style>",
        "body{font-family:Arial,Helvetica,sans-serif;max-width:1100px;margin:2em auto;color:#231f20}",
        "h1{color:#005eb8}h2{color:#003087;border-bottom:2px solid #005eb8}",
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:13px}.banner{background:#fff3cd;padding:.6em;border:1px solid #e0c36c}",
        ".meta{font-family:monospace;font-size:12px}</style></head><body>",
        "<h1>SIP case-note audit: review pack</h1>",
        f"<p class='meta'>As of {esc(meta['as_of'])} · log position {meta['head_position']}"
        f" · head hash {esc(meta['head_hash'])}</p>",
        "<p>Reproduce: <code>sipdash verify --expect-head "
        f"{esc(meta['head_hash'])}</code>, then <code>sipdash report --as-of {esc(meta['as_of'])}"
        "</code>.</p>",
    ]
    if meta["synthetic"]:
        parts.append(
            "<p class='banner'>Synthetic demonstration data: no real teams, clinicians or patients.</p>"
        )
    for s in sections:
        parts.append(f"<h2>{esc(s.heading)}</h2>")
        parts.extend(f"<p>{esc(t)}</p>" for t in s.text)
        for caption, spec in s.charts:
            figure += 1
            parts.append(
                f"<figure>{_svg(spec, figure)}<figcaption>{esc(caption)}</figcaption></figure>"
            )
        for caption, table in s.tables:
            if not table.empty:
                parts.append(f"<h3>{esc(caption)}</h3>" + table.to_html(index=False, escape=True))
    parts.append("</body></html>")
    return "\n".join(parts)


def _latin1(text: str) -> str:
    """The PDF's core fonts speak Latin-1; say the rest in plain words."""
    table = {"–": "-", "—": "-", "·": "|", "≥": ">=", "≤": "<=", "κ": "kappa", "’": "'", "…": "..."}
    for a, b in table.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


def _pdf(sections: list[_Section], meta: dict) -> bytes:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(
        datetime.fromisoformat(meta["as_of"].replace("Z", "+00:00"))
        if meta["as_of"][0].isdigit()
        else datetime(2000, 1, 1, tzinfo=UTC)
    )
    pdf.set_title("sipdash review pack")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.set_text_color(0, 94, 184)
    pdf.multi_cell(0, 9, "SIP case-note audit: review pack", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(35, 31, 32)
    pdf.set_font("Courier", "", 8)
    pdf.multi_cell(
        0,
        4,
        _latin1(f"As of {meta['as_of']} | log position {meta['head_position']}"),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.multi_cell(
        0, 4, _latin1(f"Head hash {meta['head_hash']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    if meta["synthetic"]:
        pdf.set_font("Helvetica", "B", 10)
        pdf.set_fill_color(255, 243, 205)
        pdf.multi_cell(
            0,
            6,
            "Synthetic demonstration data: no real teams, clinicians or patients.",
            fill=True,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    for i, s in enumerate(sections):
        if i:
            pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.set_text_color(0, 48, 135)
        pdf.multi_cell(0, 8, _latin1(s.heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(35, 31, 32)
        pdf.set_font("Helvetica", "", 10)
        for t in s.text:
            pdf.multi_cell(0, 5, _latin1(t), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for caption, spec in s.charts:
            png = vlc.vegalite_to_png(spec, scale=1.6)
            pdf.image(io.BytesIO(png), w=185)
            pdf.set_font("Helvetica", "I", 8)
            pdf.multi_cell(0, 4, _latin1(caption), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font("Helvetica", "", 10)
        for caption, table in s.tables:
            if table.empty:
                continue
            pdf.set_font("Helvetica", "B", 10)
            pdf.multi_cell(0, 6, _latin1(caption), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font("Helvetica", "", 7)
            with pdf.table(text_align="LEFT", line_height=4) as t:
                header = t.row()
                for col in table.columns:
                    header.cell(_latin1(str(col)))
                for values in table.astype(str).itertuples(index=False):
                    row = t.row()
                    for v in values:
                        row.cell(_latin1(v))
    return bytes(pdf.output())


def build_pack(
    store: EventStore, *, as_of: datetime | None = None, actor: str = "sipdash", record: bool = True
) -> Pack:
    """Render the pack as of ``as_of`` (now when None) and record the export as an event."""
    sections, meta = _collect(store, as_of)
    pack = Pack(sections, meta)
    if record:
        store.append(
            [
                NewEvent(
                    ExportRecorded(
                        subject="review-pack",
                        what="review pack",
                        as_of=meta["as_of"],
                        head_hash=meta["head_hash"],
                    )
                )
            ],
            metadata={"actor": actor},
        )
    return pack
