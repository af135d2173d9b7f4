"""Altair charts sent as a cached Vega-Lite spec.

Why: Streamlit converts an Altair chart to its Vega-Lite spec on every run (schema validation,
deep copies, Arrow datasets), even when the chart object itself is cached. For the overview's
9-panel culture-shift chart that was ~0.19 s of every overview run (issue #19). Here the spec is
converted once per key and the cached spec is sent with ``st.vega_lite_chart``, the element
``st.altair_chart`` itself sends.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

try:  # the very conversion st.altair_chart runs (theme, Arrow datasets, Altair's globals lock)
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec as _to_spec
except ImportError:  # pragma: no cover - a Streamlit that moved it: convert on every run
    _to_spec = None


@st.cache_data(show_spinner=False, max_entries=32)
def _chart_spec(key: Hashable, _build: Callable[[], Any]) -> dict:
    return _to_spec(_build()) if _to_spec is not None else {}


def altair_chart(key: Hashable, build: Callable[[], Any], *, width: Any = "stretch") -> None:
    """``st.altair_chart(build(), width=width)``, converted to its Vega-Lite spec once per
    ``key``, which must change whenever what the chart draws changes (a content digest, or
    the log position its reads show with every argument it is drawn from). Each run gets its
    own copy of the spec (``st.cache_data``): Streamlit moves the datasets out of the spec it
    is given."""
    spec = _chart_spec(key, build)
    if not spec:
        st.altair_chart(build(), width=width)
        return
    st.vega_lite_chart(spec=spec, width=width)
