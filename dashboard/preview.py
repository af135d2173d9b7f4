"""The import page's preview of an uploaded file, with nothing identifying left in it.

The import refuses identifiers outside the patient column, but the preview is shown *before*
that check, so it masks on its own: every column whose header is ``patient`` in any spelling
(`` patient``, ``Patient``, a byte-order mark, the column given twice) is hidden whole, and any
identifier-shaped value in any other column is hidden where it stands. The file is read with
the csv module, not pandas, so duplicated headers are seen as such rather than renamed.
"""

from __future__ import annotations

import csv
import io

import pandas as pd

from audit.identifiers import mask_identifiers

HIDDEN = "(hidden)"
PREVIEW_ROWS = 10


def is_patient_column(header: str) -> bool:
    """Whether a header names the patient column, however it is spaced, cased or marked."""
    return header.replace("\ufeff", "").strip().lower() == "patient"


def masked_preview(content: bytes, rows: int = PREVIEW_ROWS) -> pd.DataFrame | None:
    """The first ``rows`` data rows as text, masked; None when the file is not readable CSV."""
    try:
        text = content[:1_000_000].decode("utf-8-sig", errors="replace")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        body = [cells for _, cells in zip(range(rows), reader, strict=False)]
    except (csv.Error, StopIteration):
        return None
    hide = [is_patient_column(h) for h in header]
    width = max([len(header), *(len(r) for r in body)])
    names = _unique(
        [mask_identifiers(h.replace("\ufeff", "").strip()) or "(blank)" for h in header]
    )
    names += [f"(extra {i + 1})" for i in range(width - len(names))]
    shown = []
    for cells in body:
        cells = cells + [""] * (width - len(cells))
        shown.append(
            [
                HIDDEN if i < len(hide) and hide[i] else mask_identifiers(cell, HIDDEN)
                for i, cell in enumerate(cells)
            ]
        )
    return pd.DataFrame(shown, columns=names, dtype=str)


def _unique(names: list[str]) -> list[str]:
    """Headers made unique for display (``patient``, ``patient (2)``): a table needs them so."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
