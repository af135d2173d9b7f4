"""The words and colours every screen and the review pack use, defined once.

A board reads the dashboard on Monday and the pack on Thursday: if one says "✘ Fail" and the
other "Consistently fails target" they look like two verdicts. So the dashboard (data.py,
charts.py, the pages) and the pack (pack.py) import their labels from here and nowhere else.
Plain data only: no streamlit, no altair.
"""

from __future__ import annotations

import pandas as pd

from audit.spc import POINT_COLOURS
from events.elements import ELEMENTS as REGISTRY

# The vocabulary the labels are keyed by, re-exported so the dashboard takes it from audit and
# imports nothing from events.types (tests/unit/test_layering.py).
from events.types import EARLIEST_DATE as EARLIEST_DATE
from events.types import ELEMENTS as ELEMENTS
from events.types import EVENT_TYPES as _EVENT_TYPES
from events.types import MEASURES as MEASURES
from events.types import PROGRAMME as PROGRAMME

EVENT_TYPE_NAMES: tuple[str, ...] = tuple(sorted(_EVENT_TYPES))
"""Every event type's name, for the event log's filter (the classes stay in events/audit)."""

MEASURE_LABELS: dict[str, str] = dict(REGISTRY.labels)
"""The enablers and the bundle, as people say them (from the ELEMENTS registry's labels)."""

ELEMENT_HELP: dict[str, str] = {e.name: e.help for e in REGISTRY}
"""Each enabler's question to the reviewer (the worklist form's help), from the registry."""

POINT_LABELS: dict[str, str] = {
    "improvement": "Improvement",
    "concern": "Concern",
    "neither": "Special cause (neither)",
    "common_cause": "Common cause",
}
"""Legend text of each MDC point type (the text alternative to its colour)."""

VARIATION_BADGES: dict[str | None, str] = {
    "improvement": "↑ Improvement",
    "concern": "↓ Concern",
    "neither": "◆ Special cause (neither)",
    "common_cause": "~ Common cause",
    None: "– Too few points (needs 13)",
}
"""The MDC variation icon of a team's latest point, as words with a symbol."""

ASSURANCE_BADGES: dict[str | None, str] = {
    "pass": "✔ Pass",
    "fail": "✘ Fail",
    "hit_or_miss": "? Hit or miss",
    "not_assessable": "⚠ Not assessable — recalculate limits",
    None: "– None (too few points)",
}
"""The MDC assurance icon (the process limits against the target), as words with a symbol."""

ASSURANCE_MEANING: dict[str | None, str] = {
    "pass": "the target will be met month after month",
    "fail": "the target will not be met without a change to the process",
    "hit_or_miss": "some months will meet the target and some will not, by chance",
    "not_assessable": "the last months are a sustained change against limits drawn before it; "
    "recalculate the limits to judge the new process",
    None: "assurance needs at least 13 final months",
}

NORM_LABELS: dict[bool, str] = {True: "✔ Yes", False: "Not yet"}
"""Whether a team has made an enabler the norm."""

MILESTONE_LABELS: dict[str, str] = {
    "sip_start": "SIP start",
    "adp_training": "ADP training",
    "change_idea": "Change idea",
    "pdsa_cycle": "PDSA cycle",
    "note": "Note",
}

MDC_COLOURS: dict[str, str] = dict(POINT_COLOURS)
"""NHS England Making Data Count colours: improvement, concern, neither, common cause."""

VARIATION_COLOURS: dict[str | None, tuple[str, str]] = {
    # (background, text colour) of each variation icon
    "improvement": (MDC_COLOURS["improvement"], "#000000"),
    "concern": (MDC_COLOURS["concern"], "#000000"),
    "neither": (MDC_COLOURS["neither"], "#FFFFFF"),
    "common_cause": (MDC_COLOURS["common_cause"], "#000000"),
    None: ("#E8EDEE", "#212B32"),
}
ASSURANCE_COLOURS: dict[str | None, tuple[str, str]] = {
    "pass": (MDC_COLOURS["improvement"], "#000000"),
    "fail": (MDC_COLOURS["concern"], "#000000"),
    "hit_or_miss": (MDC_COLOURS["common_cause"], "#000000"),
    "not_assessable": ("#E8EDEE", "#212B32"),
    None: ("#E8EDEE", "#212B32"),
}

DIRECTION_LABELS: dict[str, str] = {
    "better": "↗ Better",
    "worse": "↘ Worse",
    "same": "→ Same",
    "new": "● New",
}
"""A team's direction since the last review (see ``audit.changes``)."""

CHANGE_FIELD_LABELS: dict[str, str] = {
    "variation": "Variation",
    "assurance": "Assurance",
    "is_norm": "The norm?",
}


def state_label(field: str, value: str | bool | None) -> str:
    """One state value (variation, assurance or norm) in the dashboard's words."""
    if field in ("variation", "assurance"):
        badges = VARIATION_BADGES if field == "variation" else ASSURANCE_BADGES
        return str(value) if isinstance(value, bool) else badges.get(value, str(value))
    if field == "is_norm":
        if value is None:
            return "– Not audited"
        return NORM_LABELS[bool(value)]
    raise ValueError(f"unknown state field {field!r}")


#: The deprivation gap's verdicts (``audit.reach``) in the Reach page's and the pack's words.
REACH_VERDICT_LABELS: dict[str, str] = {
    "less often": "⚠ most deprived less often",
    "more often": "most deprived more often",
    "no clear gap": "no clear gap",
    "too few notes": "too few notes",
}


def rate_text(proportion: object, low: object, high: object, n: int) -> str:
    """``62% (55–68%), n = 120`` or ``too few notes (n = 4)``: never a bare 0%."""
    if int(n) == 0:
        return "no notes (n = 0)"
    if proportion is None or pd.isna(proportion):  # too few notes to give a rate
        return f"too few notes (n = {int(n)})"
    return f"{proportion:.0%} ({low:.0%}–{high:.0%}), n = {int(n)}"
