"""The pack's fast data transformer writes exactly the values Altair's own would."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest
from altair.utils.data import to_values as altair_to_values

from dashboard.fastdata import fast_data, to_values

FRAMES = {
    "floats with nan and infinities": pd.DataFrame({"v": [0.5, np.nan, np.inf, -np.inf, 1.0]}),
    "ints and bools": pd.DataFrame({"n": [1, 2, 3], "ok": [True, False, True]}),
    "naive and tz-aware dates with NaT": pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
            "at": pd.to_datetime(["2024-01-01T10:00Z", "2024-02-01T11:30Z", None]),
        }
    ),
    "objects with None, nan, numpy scalars and arrays": pd.DataFrame(
        {
            "text": ["a", None, "ç"],
            "mixed": [np.int64(3), np.nan, np.float64(2.5)],
            "arr": [np.array([1, 2]), "x", None],
            "flag": [True, None, False],
        }
    ),
    "categorical (Altair's path)": pd.DataFrame({"c": pd.Categorical(["a", None, "b"])}),
    "nullable ints (Altair's path)": pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")}),
    "empty with columns": pd.DataFrame(columns=["date", "label", "title"]),
    "rows without columns": pd.DataFrame(index=[0, 1]),
    "a filtered frame keeps its gaps out": pd.DataFrame({"v": [1.0, 2.0, 3.0]}).iloc[[0, 2]],
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_the_fast_values_equal_altairs_values(name: str) -> None:
    df = FRAMES[name]
    assert to_values(df) == altair_to_values(df)


def test_a_chart_spec_is_byte_for_byte_the_same_with_the_fast_transformer() -> None:
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
            "value": [0.2, np.nan, 0.9],
            "label": ["a", None, "b"],
        }
    )
    chart = alt.layer(
        alt.Chart(df).mark_line().encode(x="date:T", y="value:Q"),
        alt.Chart(df.dropna()).mark_text().encode(x="date:T", text="label:N"),
    )
    before = json.dumps(chart.to_dict(validate=False))
    with fast_data():
        fast = json.dumps(chart.to_dict(validate=False))
    assert fast == before
    assert alt.data_transformers.active != "sipdash_fast"  # enabled only inside the block


def test_too_many_rows_are_refused_as_altair_refuses_them() -> None:
    with pytest.raises(alt.MaxRowsError):
        to_values(pd.DataFrame({"v": range(5001)}))
