"""Downloads: CSV and Excel bytes of a displayed table, formula-leading cells neutralised
(:mod:`audit.exports`) and list cells (sparklines) flattened to text."""

from __future__ import annotations

import pandas as pd

from audit import exports


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
