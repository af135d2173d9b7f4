"""A faster drop-in for Altair's default data transformer, for the review pack.

Altair turns every layer's DataFrame into inline ``values`` through
``sanitize_pandas_dataframe``: a copy of the frame and a pandas ``astype``/``where`` per
column. The pack draws ~35 charts of ~9 layers each, and that sanitising was a third of the
time spent building their specs. This module writes the same records (same keys, order and
Python values: NaN and ±inf as None, NaT as "", timestamps as ``isoformat()``) column by
column in plain Python; any frame it does not know how to copy exactly (categoricals,
nullable dtypes, odd column names, a MultiIndex) goes to Altair's own transformer, so the
spec is byte-for-byte the one Altair would write.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
from altair.utils.data import limit_rows
from altair.vegalite.data import default_data_transformer
from pandas.core.dtypes.cast import maybe_box_native

NAME = "sipdash_fast"
MAX_ROWS = 5000  # Altair's default limit, kept


def _float_column(values: np.ndarray) -> list[Any]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _datetime_column(col: pd.Series) -> list[Any]:
    return [("" if x is pd.NaT else x.isoformat()) for x in col]


def _object_column(values: np.ndarray) -> list[Any]:
    out = []
    for v in values:
        if isinstance(v, np.ndarray):
            out.append(maybe_box_native(v.tolist()))
        elif v is None or (not isinstance(v, (list, dict, tuple)) and pd.isna(v)):
            out.append(None)
        else:
            out.append(maybe_box_native(v))
    return out


def _columns(df: pd.DataFrame) -> list[list[Any]] | None:
    """Each column as a list of JSON-ready values, or None when only Altair knows how."""
    out = []
    for name, dtype in df.dtypes.items():
        if not isinstance(name, str):
            return None
        kind = dtype.kind if isinstance(dtype, np.dtype) else None
        col = df[name]
        if kind == "f":
            out.append(_float_column(col.to_numpy()))
        elif kind in ("i", "u", "b"):
            out.append(col.to_numpy().tolist())
        elif kind == "M" or (
            isinstance(dtype, pd.DatetimeTZDtype) and str(dtype).startswith("datetime")
        ):
            out.append(_datetime_column(col))
        elif kind == "O":
            out.append(_object_column(col.to_numpy()))
        else:  # category, string, nullable ints/floats/booleans, timedelta, geometry
            return None
    return out


def to_values(data: Any) -> Any:
    """``{"values": records}`` for a plain DataFrame, as Altair's ``to_values`` writes it."""
    data = limit_rows(data, max_rows=MAX_ROWS)
    if (
        type(data) is pd.DataFrame
        and not isinstance(data.index, pd.MultiIndex)
        and not isinstance(data.columns, (pd.MultiIndex, pd.RangeIndex))
        and data.columns.is_unique
    ):
        columns = _columns(data)
        if columns:  # no columns at all (rows of {}): Altair's path
            names = list(data.columns)
            rows = zip(*columns, strict=True)
            return {"values": [dict(zip(names, row, strict=True)) for row in rows]}
    return default_data_transformer(data, max_rows=MAX_ROWS)


alt.data_transformers.register(
    NAME, lambda data=None: to_values if data is None else to_values(data)
)


@contextmanager
def fast_data() -> Iterator[None]:
    """Altair specs built in this block use the fast transformer (the same values)."""
    with alt.data_transformers.enable(NAME):
        yield
