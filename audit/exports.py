"""Exports: the one place every CSV and XLSX writer goes through (neutralisation), and the
record of every export (:func:`record_export`).

A spreadsheet opening an export runs any cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, in some programs, tab or carriage return) as a formula: a team name or a period label
typed as ``=HYPERLINK(...)`` would become live in a board member's Excel. Following OWASP's
CSV-injection guidance, such a text cell is written with a leading ``'``, so it is shown as
text. Numbers stay numbers: numeric values are never touched, and a text cell that is a plain
number (``-0.25``, ``+3``) is left as it is, since a spreadsheet reads it as that number and
nothing else. XLSX goes through openpyxl, which stores a text starting with ``=`` as a formula: after
neutralisation no text does.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from events import EventStore, NewEvent

if TYPE_CHECKING:  # pandas is imported where a frame is written, not for one cell
    import pandas as pd

__all__ = [
    "FORMULA_START",
    "neutralise",
    "neutralise_frame",
    "record_export",
    "to_csv_bytes",
    "to_xlsx_bytes",
]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_DANGEROUS = r"^[=+\-@\t\r]"


def neutralise(value: Any) -> Any:
    """One cell: a text value starting like a formula gets a leading ``'``; anything else
    (numbers, plain numeric text, other text, None) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell neutralised (column names too); numeric columns
    are not looked at. Vectorised per column: one regex pass, no Python loop per cell."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype != object and not pd.api.types.is_string_dtype(series.dtype):
            continue
        text = series.map(lambda v: v if isinstance(v, str) else "")
        risky = text.str.match(_DANGEROUS) & ~text.str.match(_NUMBER.pattern)
        if risky.any():
            out.loc[risky, col] = "'" + text[risky]
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as UTF-8 CSV, neutralised."""
    return neutralise_frame(df).to_csv(index=False).encode("utf-8")


def to_xlsx_bytes(df: pd.DataFrame, sheet: str = "sipdash") -> bytes:
    """``df`` as an Excel workbook (openpyxl), neutralised: openpyxl stores a text value
    starting with ``=`` as a formula, and after :func:`neutralise_frame` none does."""
    buf = io.BytesIO()
    title = re.sub(r"[\[\]:*?/\\]", "-", str(neutralise(sheet)))[:31] or "sipdash"
    neutralise_frame(df).to_excel(buf, index=False, sheet_name=title, engine="openpyxl")
    return buf.getvalue()


def record_export(
    store: EventStore,
    subject: str,
    what: str,
    *,
    actor: str,
    head_hash: str | None,
    as_of: str | None = None,
    source: str | None = None,
) -> None:
    """Record that someone took data out of sipdash (``ExportRecorded``): a review pack
    (``subject="review-pack"``) or a table download (``"table"``). ``what`` is a file or table
    name: its digit runs are masked (a name is never refused, and never stores an identifier);
    ``head_hash`` is the log head the export shows (None for an empty log)."""
    from events.types import ExportRecorded

    from .identifiers import mask_digit_runs

    metadata = {"actor": actor} | ({"source": source} if source else {})
    store.append(
        [
            NewEvent(
                ExportRecorded(
                    subject=subject,
                    what=mask_digit_runs(what)[:120],
                    as_of=as_of,
                    head_hash=head_hash,
                )
            )
        ],
        metadata=metadata,
    )
