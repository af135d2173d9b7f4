"""The review pack from the seeded demo: rendered pages carry the headline and the head hash,
and a pack as of a past date does not change when events are appended afterwards."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pypdfium2 as pdfium
import pytest

from audit.projections import Projector
from dashboard.cli import main
from dashboard.pack import build_pack
from events import EventStore, NewEvent
from events.types import CommentaryAdded, MilestoneLogged

AS_OF = datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)


def _pages_text_and_ink(pdf_bytes: bytes) -> tuple[list[str], list[float]]:
    doc = pdfium.PdfDocument(pdf_bytes)
    texts, ink = [], []
    for page in doc:
        texts.append(page.get_textpage().get_text_range())
        image = page.render(scale=0.5).to_pil().convert("L")
        histogram = image.histogram()
        dark = sum(histogram[:200]) / max(1, sum(histogram))
        ink.append(dark)
    return texts, ink


@pytest.fixture
def store(seeded_db_copy) -> EventStore:
    s = EventStore(f"sqlite:///{seeded_db_copy}")
    yield s
    s.dispose()


def test_the_pack_pages_are_not_blank_and_carry_the_headline_and_head_hash(store) -> None:
    pack = build_pack(store, as_of=AS_OF, record=False)
    texts, ink = _pages_text_and_ink(pack.pdf)
    assert len(texts) >= 9  # headline + a page per team + comparison
    assert all(share > 0.002 for share in ink), "every page must show something"
    first = texts[0]
    assert "of 8 teams have made agenda setting the norm" in first
    assert pack.head_hash in first.replace("\r", "").replace("\n", "")
    assert pack.head_hash == store.head(as_of=AS_OF).hash
    assert "Synthetic demonstration data" in first
    html = pack.html
    assert "<svg" in html and pack.head_hash in html and "of 8 teams" in html


def test_an_as_of_pack_is_unchanged_after_new_events_are_appended(store) -> None:
    before = build_pack(store, as_of=AS_OF, record=False)
    store.append(
        [
            NewEvent(
                MilestoneLogged(
                    team_id=store.read_stream("team-" + _a_team(store))[0].payload["team_id"],
                    on=date(2025, 3, 1),
                    kind="pdsa_cycle",
                    title="A PDSA cycle recorded after the review",
                )
            ),
            NewEvent(
                CommentaryAdded(
                    team_id=_a_team(store), period="2025-05", text="Written later.", author="lead"
                )
            ),
        ]
    )
    Projector(store).catch_up()
    after = build_pack(store, as_of=AS_OF, record=False)
    assert after.html == before.html
    assert after.pdf == before.pdf


def test_sipdash_report_writes_both_formats_and_records_the_export(
    seeded_db_copy, tmp_path, capsys
) -> None:
    url = f"sqlite:///{seeded_db_copy}"
    out = tmp_path / "pack.html"
    assert (
        main(["report", "--db", url, "--out", str(out), "--as-of", "2025-06-30", "--by", "Dr Lead"])
        == 0
    )
    assert "head" in capsys.readouterr().out
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    store = EventStore(url)
    exports = list(store.read_all(types=["ExportRecorded"]))
    assert exports[-1].metadata["actor"] == "Dr Lead"
    assert exports[-1].payload["as_of"].startswith("2025-06-30T23:59:59")
    store.dispose()


def _a_team(store: EventStore) -> str:
    return next(store.read_all(types=["TeamRegistered"])).payload["team_id"]
