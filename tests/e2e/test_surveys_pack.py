"""The review pack's section on case notes and patient surveys (issue #17), from the demo."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from audit import queries
from audit.triangulation import FLAG_TEXT
from dashboard.pack import build_pack
from events import EventStore


@pytest.fixture(scope="module")
def pack_and_name(seeded_db):
    store = EventStore(f"sqlite:///{seeded_db}")
    try:
        pack = build_pack(store, record=False)
        name = queries.teams(store.engine).set_index("team_id").loc["b-diab", "name"]
        yield pack, name, pack.pdf, pack.html
    finally:
        store.dispose()


def test_the_html_pack_has_a_triangulation_section_listing_the_tick_box_team(
    pack_and_name,
) -> None:
    _, name, _, html = pack_and_name
    section = html[html.index("<section id='triangulation'>") :]
    section = section[: section.index("</section>")]
    assert "Case notes and patient surveys" in section
    assert "2025-Q3 (the latest complete quarter): 4 of 32" in section
    assert "not a verdict" in section and name in section
    assert html.index("id='triangulation'") < html.index("id='appendix'")
    assert "href='#triangulation'" in html


def test_the_pdf_pack_has_the_section_on_its_own_page_before_the_appendix(pack_and_name) -> None:
    _, name, pdf, _ = pack_and_name
    texts = [p.get_textpage().get_text_range() for p in pdfium.PdfDocument(pdf)]
    flat = [t.replace("\r", "").replace("\n", " ") for t in texts]
    pages = [i for i, t in enumerate(flat) if t.startswith("Case notes and patient surveys")]
    assert len(pages) == 1
    page = flat[pages[0]]
    assert FLAG_TEXT in page and "not a verdict" in page and name.split()[0] in page
    assert "Appendix: method and reproduction" in flat[pages[0] + 1]
