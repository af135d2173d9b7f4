"""Review pack: the one document a senior leader takes into a review, as the numbers stood on
the sidebar's as-of date. Building it records an ``ExportRecorded`` event."""

from __future__ import annotations

import streamlit as st

from dashboard import writes
from dashboard.app_pages import _shared as ui
from dashboard.pack import NothingAudited

ctx = ui.context()
snap = ctx.snap

st.title("Review pack")
st.caption(
    f"Headline, every team's icons and charts, commentary and sign-offs — {ctx.as_of_text}. "
    "Set the **As of** date in the sidebar to reproduce the pack of a past review."
)
if snap.empty:
    ui.empty_database_notice()
    st.stop()

key = (snap.url, ctx.as_of_day)
built = st.session_state.get("pack")
if built is not None and built["key"] != key:
    built = None

if st.button("Build the review pack", type="primary", icon=":material/picture_as_pdf:", key="pk"):
    with st.spinner("Drawing every team's charts…"):
        try:
            pack = writes.build_pack(ctx.as_of, actor=ctx.actor)
            built = {
                "key": key,
                "html": pack.html.encode("utf-8"),
                "pdf": pack.pdf,
                "as_of": pack.as_of_text,  # "14 Jan 2026 16:54 Europe/London"
                "day": (pack.meta["as_of_iso"] or "empty")[:10],  # the files' names: ISO day
                "position": pack.head_position,
                "hash": pack.head_hash,
            }
        except NothingAudited as exc:
            built = None
            st.info(str(exc)[:1].upper() + str(exc)[1:] + ".", icon=":material/info:")
        except Exception as exc:  # vl-convert / fpdf failures: say so, no traceback
            built = None
            st.error(
                f"The pack could not be built ({type(exc).__name__}: {exc}). Try again; if it "
                "keeps failing, `sipdash report --out pack.html` gives the detailed error.",
                icon=":material/error:",
            )
    st.session_state["pack"] = built

if built is None:
    st.caption(
        "The pack is one self-contained HTML page and a PDF. Building it is recorded in the "
        "event log (who, and as of when)."
    )
else:
    stamp = built["day"]
    st.success(
        f"Pack built as of {built['as_of']}: log position "
        f"{built['position']:,}, head hash `{built['hash']}`. Anyone can check later that "
        f"nothing behind it changed with `sipdash verify --expect-head {built['hash']}`.",
        icon=":material/task_alt:",
    )
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button(
        "HTML",
        data=built["html"],
        file_name=f"sipdash-review-pack-{stamp}.html",
        mime="text/html",
        icon=":material/download:",
        key="pk_html",
        on_click="ignore",
    )
    d2.download_button(
        "PDF",
        data=built["pdf"],
        file_name=f"sipdash-review-pack-{stamp}.pdf",
        mime="application/pdf",
        icon=":material/download:",
        key="pk_pdf",
        on_click="ignore",
    )
