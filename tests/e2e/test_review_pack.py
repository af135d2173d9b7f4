"""The review pack from the seeded demo: rendered pages carry the headline and the head hash,
and a pack as of a past date does not change when events are appended afterwards."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from audit.projections import Projector
from dashboard.cli import main
from dashboard.pack import build_pack
from events import EventStore, NewEvent
from events.types import CommentaryAdded, MilestoneLogged, TeamRegistered

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
    # the cover shows the 16-hex head; the appendix (last page) the full one
    assert pack.head_hash[:16] in first.replace("\r", "").replace("\n", "")
    assert pack.head_hash in texts[-1].replace("\r", "").replace("\n", "")
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


# ------------------------------------------------------------------------ the board paper

MICROSECOND_STAMP = re.compile(r"\d{2}:\d{2}:\d{2}[.,]\d{3,}")
ACCENTED = "Équipe Zoë Ångström-Nuñez"


@pytest.fixture(scope="module")
def board_pack(seeded_db, tmp_path_factory):
    """The demo pack as of AS_OF, built once for the checks that only read it."""
    path = tmp_path_factory.mktemp("board") / "demo.db"
    shutil.copyfile(seeded_db, path)
    store = EventStore(f"sqlite:///{path}")
    pack = build_pack(store, as_of=AS_OF, record=False)
    pdf = pack.pdf
    yield store, pack, pdf
    store.dispose()


def _image_regions_ink(page, scale: float = 1.0) -> list[float]:
    """The share of dark pixels inside each image placed on the page."""
    bitmap = page.render(scale=scale).to_pil().convert("L")
    height = page.get_height()
    shares = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        left, bottom, right, top = obj.get_bounds()
        box = (
            int(left * scale),
            int((height - top) * scale),
            int(right * scale),
            int((height - bottom) * scale),
        )
        histogram = bitmap.crop(box).histogram()
        shares.append(sum(histogram[:230]) / max(1, sum(histogram)))
    return shares


def test_page_one_carries_the_curve_and_the_icon_grid_as_images_not_a_text_table(
    board_pack,
) -> None:
    _store, _pack, pdf = board_pack
    doc = pdfium.PdfDocument(pdf)
    first = doc[0]
    text = first.get_textpage().get_text_range()
    assert "Culture shift over time" in text
    assert "Teams needing attention first" in text
    ink = _image_regions_ink(first)
    assert len(ink) >= 2, "the curve and the icon grid are drawn as images on page 1"
    assert all(share > 0.01 for share in ink), f"an image on page 1 is blank: {ink}"


def test_every_page_is_numbered_page_k_of_n_and_the_contents_point_at_the_sections(
    board_pack,
) -> None:
    _store, pack, pdf = board_pack
    doc = pdfium.PdfDocument(pdf)
    texts = [page.get_textpage().get_text_range() for page in doc]
    n = len(texts)
    for k, text in enumerate(texts, start=1):
        assert f"page {k} of {n}" in text, f"page {k} has no page number"
    contents_page = next(i for i, t in enumerate(texts) if "Contents" in t.splitlines())
    assert contents_page <= 2
    contents = texts[contents_page]
    for team in pack.content.teams:
        line = next(x for x in contents.splitlines() if x.startswith(team.name))
        target = int(re.search(r"page (\d+)$", line).group(1))
        heading = " ".join(texts[target - 1].split())  # a long name wraps onto two lines
        assert heading.startswith(" ".join(team.name.split())), team.name
    for section in (
        "What changed since the last review",
        "Comparing teams",
        "Audit quality",
        "Appendix: method and reproduction",
    ):
        assert section in contents


def test_the_cover_says_what_changed_since_the_last_review(board_pack) -> None:
    _store, _pack, pdf = board_pack
    first = pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "Changed since" in first
    assert "Signed-off commentary" in first


def test_no_timestamp_with_microseconds_anywhere_and_dates_as_people_write_them(
    board_pack,
) -> None:
    _store, pack, pdf = board_pack
    texts = [page.get_textpage().get_text_range() for page in pdfium.PdfDocument(pdf)]
    for k, text in enumerate(texts, start=1):
        assert not MICROSECOND_STAMP.search(text), f"page {k}: {MICROSECOND_STAMP.search(text)}"
    assert not MICROSECOND_STAMP.search(pack.html)
    # 2025-06-30 23:59:59 UTC is 1 Jul 2025 00:59 in London (BST); UTC in the appendix
    assert "As of 1 Jul 2025 00:59 (Europe/London)" in texts[0]
    assert "2025-06-30 23:59:59 UTC" in texts[-1]
    assert f"sipdash verify --expect-head {pack.head_hash}" in texts[-1].replace("\r\n", " ")


def test_accented_names_print_correctly_with_the_bundled_font(seeded_db_copy) -> None:
    store = EventStore(f"sqlite:///{seeded_db_copy}")
    try:
        store.append(
            [
                NewEvent(
                    TeamRegistered(team_id="z-accent", name=ACCENTED, site="Site", service="MSK")
                )
            ]
        )
        Projector(store).catch_up()
        pack = build_pack(store, record=False)
        texts = [p.get_textpage().get_text_range() for p in pdfium.PdfDocument(pack.pdf)]
    finally:
        store.dispose()
    assert any(ACCENTED in t for t in texts)
    assert ACCENTED in pack.html


def test_the_same_labels_as_the_dashboard(board_pack) -> None:
    from audit import labels

    _store, pack, pdf = board_pack
    text = "\n".join(p.get_textpage().get_text_range() for p in pdfium.PdfDocument(pdf))
    assert "Consistently fails target" not in text and "Consistently fails target" not in pack.html
    assert any(badge in text for badge in labels.ASSURANCE_BADGES.values())
    assert any(badge in text for badge in labels.VARIATION_BADGES.values())


def test_report_at_head_rebuilds_the_published_pack_after_later_events(
    seeded_db_copy, tmp_path, capsys
) -> None:
    url = f"sqlite:///{seeded_db_copy}"
    first = tmp_path / "published.html"
    assert main(["report", "--db", url, "--out", str(first), "--as-of", "2025-06-30"]) == 0
    printed = capsys.readouterr().out
    head = re.search(r"log head ([0-9a-f]{64})", printed).group(1)
    store = EventStore(url)
    store.append(
        [
            NewEvent(
                CommentaryAdded(
                    team_id=_a_team(store), period="2025-05", text="Later.", author="lead"
                )
            )
        ]
    )
    store.dispose()
    again = tmp_path / "again.html"
    assert main(["report", "--db", url, "--out", str(again), "--at-head", head[:16]]) == 0
    assert head in capsys.readouterr().out

    def body(path):  # everything but the lines that print the as-of moment itself
        return [x for x in path.read_text(encoding="utf-8").splitlines() if "As of" not in x]

    assert body(again) == body(first)
    assert "Later." not in again.read_text(encoding="utf-8")


def test_report_at_head_refuses_a_hash_that_is_not_on_the_log(seeded_db_copy, tmp_path, capsys):
    url = f"sqlite:///{seeded_db_copy}"
    out = tmp_path / "x.html"
    assert main(["report", "--db", url, "--out", str(out), "--at-head", "0" * 16]) == 1
    assert "is not on this log" in capsys.readouterr().err
    assert main(["report", "--db", url, "--out", str(out), "--at-head", "xyz"]) == 2
    assert not out.exists()


# ------------------------------------------- patient surveys and who the shift reaches


def _pages(pdf: bytes) -> list[str]:
    return [" ".join(p.get_textpage().get_text_range().split()) for p in pdfium.PdfDocument(pdf)]


def _section_pages(texts: list[str], title: str) -> str:
    """The text of a section: from the page its heading opens to the next section's heading."""
    start = next(i for i, t in enumerate(texts) if t.startswith(title))
    out = [texts[start]]
    for t in texts[start + 1 :]:
        if not t.startswith("Team "):  # a table running on (its header row repeats)
            break
        out.append(t)
    return " ".join(out)


def _tick_box_team() -> str:
    import seed

    specs = seed.load_params()["scenario"]["demo"]["team"]
    (team,) = [t["id"] for t in specs if t.get("survey") == "tick_box"]
    return team


def test_the_contents_list_the_surveys_and_reach_sections_at_their_pages_before_the_appendix(
    board_pack,
) -> None:
    from dashboard.pack_sections import REACH_TITLE, SURVEYS_TITLE

    _store, pack, pdf = board_pack
    texts = [page.get_textpage().get_text_range() for page in pdfium.PdfDocument(pdf)]
    contents = next(t for t in texts if "Contents" in t.splitlines())
    lines = contents.splitlines()
    pages = {}
    for title in ("Audit quality", REACH_TITLE, SURVEYS_TITLE, "Appendix: method and reproduction"):
        line = next(x for x in lines if x.startswith(title))
        pages[title] = int(re.search(r"page (\d+)$", line).group(1))
        assert texts[pages[title] - 1].startswith(title), f"{title} is not on page {pages[title]}"
    # after audit quality, before the appendix
    assert list(pages.values()) == sorted(pages.values())
    html = pack.html
    for anchor, title in (("triangulation", SURVEYS_TITLE), ("reach", REACH_TITLE)):
        assert f"<li><a href='#{anchor}'>{title}</a></li>" in html
        assert f"<section id='{anchor}'><h2>{title}</h2>" in html
    assert html.index("id='quality'") < html.index("id='reach'")
    assert html.index("id='reach'") < html.index("id='triangulation'") < html.index("id='appendix'")


def test_the_surveys_section_shows_the_tick_box_team_flagged_with_both_rates_and_their_n(
    board_pack,
) -> None:
    from audit.triangulation import FLAG_TEXT, PROMPT_TEXT, triangulation

    store, pack, pdf = board_pack
    section = _section_pages(_pages(pdf), "Case notes and patient surveys")
    table = triangulation(store.engine, as_of=AS_OF)
    team = _tick_box_team()
    mine = table[table["team"] == team]
    assert len(mine) == 4 and mine["flagged"].all()
    assert f"{mine['quarter'].iloc[0]} (the latest complete quarter)" in section
    assert f"flagged as {FLAG_TEXT}" in section
    assert " ".join(PROMPT_TEXT.split()) in section  # a prompt, not a verdict
    name = " ".join(mine["team_name"].iloc[0].split())
    assert section.count(name) == 4, "one row per flagged enabler of the tick-box team"
    row = mine[mine["measure"] == "all_three"].iloc[0]
    figures = (
        f"{name} All three {row['notes_rate']:.0%}, n = {row['notes_n']} "
        f"{row['survey_rate']:.0%}, n = {row['survey_n']} {row['difference']:+.0%} "
        f"{row['diff_low']:+.0%} to {row['diff_high']:+.0%} ⚑"
    )
    assert figures in section
    for unflagged in table.loc[~table["flagged"], "team_name"].unique():
        if unflagged not in set(table.loc[table["flagged"], "team_name"]):
            assert " ".join(unflagged.split()) not in section, f"{unflagged} is not flagged"
    assert f"{row['notes_rate']:.0%}, n = {row['notes_n']}" in pack.html


def test_the_reach_section_shows_coverage_both_groups_the_deprivation_gap_and_no_causal_claim(
    board_pack,
) -> None:
    from audit import reach

    store, pack, pdf = board_pack
    section = _section_pages(_pages(pdf), "Who the shift reaches (observational)")
    assert "Observational, no causal claim" in section
    tables = reach.pack_tables(store.engine, as_of=AS_OF, measure="all_three", programme="ADP")
    cov = tables["coverage"].set_index("team").loc[reach.ALL_TEAMS]
    coverage = (
        f"All teams: {int(cov['trained'])} of {int(cov['active'])} active clinicians trained "
        f"in ADP ({cov['period']})"
    )
    assert coverage in section and coverage in pack.html
    ba = tables["before_after"]
    trained = ba[(ba["team"] == reach.ALL_TEAMS) & (ba["group"] == "trained")]
    after = trained.set_index("window").loc["after"]
    assert (
        f"All teams trained clinicians {trained.set_index('window').loc['before', 'proportion']:.0%}"
        in section
    )
    assert f"{after['proportion']:.0%} ({after['ci_low']:.0%}–{after['ci_high']:.0%}), n = " in (
        section
    )
    assert "not yet trained (same team, same months)" in section
    gaps = tables["deprivation"]
    flagged = gaps[gaps["verdict"] == "less often"]
    assert len(flagged) >= 1, "the demo has a team whose most deprived get it less often"
    g = flagged.iloc[0]
    assert (
        f"{reach.points_interval_text(g['gap'], g['gap_low'], g['gap_high'])}"
        f" ⚠ most deprived less often {int(g['q1_notes'])} {int(g['q5_notes'])}"
    ) in section


def test_the_reach_section_says_observational_once_and_signs_with_a_minus(board_pack) -> None:
    import re

    from dashboard.pack_sections import REACH_TITLE

    _store, _pack, pdf = board_pack
    section = _section_pages(_pages(pdf), REACH_TITLE)
    body = section.replace(REACH_TITLE, "")
    assert body.lower().count("observational") == 1, body
    assert not re.search(r"(^|[\s(])-\d|[+\u2212]0 points", body), (
        "hyphens or ±0 in the reach figures"
    )


def test_a_log_without_patient_surveys_says_reseed_rather_than_an_empty_table(
    seeded_db_copy,
) -> None:
    store = EventStore(f"sqlite:///{seeded_db_copy}")
    try:
        with store.engine.begin() as conn:  # the demo as projected before surveys existed
            conn.exec_driver_sql("DELETE FROM rm_surveys")
        pack = build_pack(store, as_of=AS_OF, record=False)
        (surveys,) = [s for s in pack.content.extra_sections if s.anchor == "triangulation"]
        assert surveys.tables == []
        texts = _pages(pack.pdf)
    finally:
        store.dispose()
    section = _section_pages(texts, "Case notes and patient surveys")
    assert "No patient surveys in this log (reseed to see them" in section
    assert "Screening flag" not in section and "Screening flag" not in pack.html
    assert "No patient surveys in this log (reseed to see them" in pack.html


def test_surveys_returned_after_the_as_of_do_not_change_the_surveys_or_reach_sections(
    seeded_db_copy,
) -> None:
    from events.types import PatientSurveyReturned

    store = EventStore(f"sqlite:///{seeded_db_copy}")
    try:
        before = build_pack(store, as_of=AS_OF, record=False)
        team = _tick_box_team()
        store.append(  # returned late for the quarter the section reports on
            [
                NewEvent(
                    PatientSurveyReturned(
                        survey_id=f"late-{k}",
                        team_id=team,
                        returned_on=date(2025, 2, 14),
                        agenda_setting="yes",
                        goal_setting="yes",
                        follow_up="yes",
                    )
                )
                for k in range(40)
            ]
        )
        Projector(store).catch_up()
        after = build_pack(store, as_of=AS_OF, record=False)
        from audit.triangulation import triangulation

        then = triangulation(store.engine, as_of=AS_OF)
        quarter = then["quarter"].iloc[0]
        at_head = triangulation(store.engine, quarter=quarter)  # the late returns do count now
    finally:
        store.dispose()

    def words(pack) -> list:
        return [
            (s.title, s.lines, [(t, table.to_dict("records")) for t, table in s.tables])
            for s in pack.content.extra_sections
        ]

    assert words(after) == words(before)
    assert after.html == before.html

    def surveys_n(table) -> int:
        return int(table.loc[table["team"] == team, "survey_n"].sum())

    assert surveys_n(at_head) == surveys_n(then) + 40 * 4


def test_a_signed_off_programme_review_is_the_point_the_pack_compares_with(
    seeded_db_copy,
) -> None:
    """Before any programme review the pack compares with three months earlier; once a senior
    leader signs off the programme review, the next pack compares with that moment, names the
    signer, and lists only what changed after it (nothing, here)."""
    from audit.changes import parse_ts
    from audit.decisions import sign_off
    from dashboard import pack as pack_module
    from events.types import PROGRAMME

    store = EventStore(f"sqlite:///{seeded_db_copy}")
    try:
        projector = Projector(store)
        before = pack_module._collect(store, as_of=None)
        assert not before.since_is_review
        assert "no programme review has been signed off yet" in pack_module.since_text(before)
        assert not before.changes.empty  # the demo's last quarter has changes to report

        sign_off(
            store,
            PROGRAMME,
            "2025-06",
            "Dr Ada Board",
            viewed_head=store.head().hash,
            actor="test",
            projector=projector,
        )
        signed_at = parse_ts(store.head().recorded_at)
        after = pack_module._collect(store, as_of=None)
        assert after.since_is_review
        assert after.since.at == signed_at
        assert after.since.signed_off_by == "Dr Ada Board"
        assert pack_module.since_text(after).startswith(
            "Changed since the programme review signed off by Dr Ada Board on "
        )
        assert after.changes.empty
    finally:
        store.dispose()


def test_the_reproduce_commands_are_set_left_aligned_not_spread_across_the_line(
    board_pack,
) -> None:
    """A justified line spreads the words of ``sipdash verify --expect-head <hash>`` across the
    page; a reader copying the command must see it as typed."""
    _store, _pack, pdf = board_pack
    doc = pdfium.PdfDocument(pdf)
    textpage = doc[len(doc) - 1].get_textpage()
    text = textpage.get_text_range()
    i = text.index("sipdash verify --expect-head")
    # the gap between "verify" and "--expect-head": one space at 8.5 pt is about 2.7 pt wide
    # (justified, the line measured 24.7 pt)
    end_of_verify = textpage.get_charbox(i + len("sipdash verify") - 1)[2]
    start_of_flag = textpage.get_charbox(i + len("sipdash verify "))[0]
    assert start_of_flag - end_of_verify < 5, (end_of_verify, start_of_flag)
