"""A programme that audits a fourth enabler: one registry passed to ``bootstrap``, then seed →
project → measures → report, with no other change (issue #12's "fourth-enabler test")."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from audit.bootstrap import Wiring, bootstrap
from audit.measures import audit_measures, census_measures, first_reviews, report_records
from audit.projections import Projector
from events.elements import ALL, DEFAULT_ELEMENTS, ELEMENTS, Element, Registry
from seed import run_seed

FOUR = Registry(
    (
        *DEFAULT_ELEMENTS,
        Element(
            "shared_decision",
            "DecisionShared",
            "Shared decision",
            "The note records a decision the patient and clinician made together.",
        ),
    )
)
KEY = "fourth-enabler-test-key-0123456789abcdef"


@pytest.fixture
def wiring(db_url: str) -> Iterator[Wiring]:
    wired = bootstrap(db_url, KEY, registry=FOUR)
    run_seed(wired.store, "large", seed=7, teams=2, months=14, consultations=2_400, elements=FOUR)
    wired.projector.catch_up()
    yield wired
    wired.store.dispose()


def _sum(df, measure: str, column: str) -> int:
    return int(df.loc[df["measure"] == measure, column].sum())


def test_the_report_shows_four_enabler_measures_and_a_bundle_that_needs_all_four(
    wiring: Wiring,
) -> None:
    engine = wiring.store.engine
    assert wiring.elements is FOUR and wiring.projector.registry is FOUR
    report = report_records(audit_measures(engine, elements=FOUR))
    assert {r["measure"] for r in report} == {*FOUR.measures}
    assert len(FOUR.measures) == 5 and FOUR.measures[-1] == ALL == "all_three"
    # the seed documented the fourth enabler like the others: some yes, some no
    fourth = [r for r in report if r["measure"] == "shared_decision"]
    assert 0 < sum(r["numerator"] for r in fourth) < sum(r["denominator"] for r in fourth)

    # all_three (every enabler) is yes only when all FOUR findings are yes: recount by hand
    reviews = first_reviews(engine, elements=FOUR)
    findings = reviews[list(FOUR.names)]
    all_four = int((findings == "yes").all(axis=1).sum())
    first_three = int((findings[list(ELEMENTS.names)] == "yes").all(axis=1).sum())
    audit = audit_measures(engine, elements=FOUR)
    assert _sum(audit, ALL, "numerator") == all_four
    assert all_four < first_three  # the fourth enabler really narrows the bundle

    # the census (every consultation) agrees: the bundle needs all four flags
    census = census_measures(engine, elements=FOUR)
    assert {*census["measure"]} == {*FOUR.measures}
    with engine.connect() as conn:
        flags = " AND ".join(
            f"{n} = {'1' if 'sqlite' in str(engine.url) else 'true'}" for n in FOUR.names
        )
        notes_all_four = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM rm_case_notes WHERE {flags}"
        ).scalar_one()
    assert _sum(census, ALL, "numerator") == notes_all_four
    for measure in FOUR.names:
        assert _sum(census, ALL, "numerator") <= _sum(census, measure, "numerator")


def test_a_rebuild_and_an_as_of_read_agree_with_catch_up_for_four_enablers(
    wiring: Wiring,
) -> None:
    engine = wiring.store.engine
    before = census_measures(engine, elements=FOUR)
    wiring.projector.rebuild()
    after = census_measures(engine, elements=FOUR)
    assert before.equals(after)
    head = wiring.store.head()
    assert head.recorded_at is not None
    from events.store import parse_ts

    as_of = census_measures(engine, elements=FOUR, as_of=parse_ts(head.recorded_at))
    assert before[["team", "period", "measure", "numerator", "denominator"]].equals(
        as_of[["team", "period", "measure", "numerator", "denominator"]]
    )


def test_the_default_registry_re_lays_out_read_models_built_for_four_enablers(
    wiring: Wiring,
) -> None:
    """Read models laid out for another set of enablers are never written with the wrong
    columns: the default projector drops them and folds the log again (ignoring the fourth)."""
    default = Projector(wiring.store)
    default.ensure_schema()
    assert default.checkpoint() == 0
    default.catch_up()
    engine = wiring.store.engine
    census = census_measures(engine)
    assert {*census["measure"]} == {*ELEMENTS.measures}
    three = audit_measures(engine)
    assert set(three["measure"]) == {*ELEMENTS.measures}


def test_four_enablers_folded_after_three_on_the_same_connections_get_their_own_census(
    wiring: Wiring,
) -> None:
    """The census is staged in a temporary table that lives as long as its pooled connection:
    a projector for four enablers running after one for three on the same engine must not
    find the three-enabler table and fold into the wrong columns."""
    expected = census_measures(wiring.store.engine, elements=FOUR)  # the fixture's catch-up
    url = wiring.store.engine.url.render_as_string(hide_password=False)
    other = bootstrap(url, KEY, registry=FOUR)  # a new engine: connections of its own
    try:
        Projector(other.store).rebuild()  # three enablers first on these connections
        other.projector.rebuild()  # then four, same engine, same pooled connections
        census = census_measures(other.store.engine, elements=FOUR)
    finally:
        other.store.dispose()
    assert {*census["measure"]} == {*FOUR.measures}
    columns = ["team", "period", "measure", "numerator", "denominator"]
    assert (
        census.sort_values(columns[:3])[columns]
        .reset_index(drop=True)
        .equals(expected.sort_values(columns[:3])[columns].reset_index(drop=True))
    )


# --- importing and reviewing the fourth enabler (the wiring's registry, not the default) ---

HEADER4 = (
    "consultation_id,team,clinician,patient,occurred_on,contact,"
    "agenda_setting,goal_setting,follow_up,shared_decision"
)
CONSULTATIONS4 = f"""{HEADER4}
c-1,msk1,K01,943 476 5919,2024-03-04,face_to_face,yes,yes,yes,yes
c-2,msk1,K01,943 476 5919,2024-03-05,video,yes,yes,yes,no
c-3,msk1,K02,943 476 5919,2024-03-06,telephone,yes,no,yes,yes
c-4,msk1,K02,943 476 5919,2024-03-07,telephone,no,no,na,na
""".encode()


@pytest.fixture
def empty(db_url: str) -> Iterator[Wiring]:
    wired = bootstrap(db_url, KEY, registry=FOUR)
    yield wired
    wired.store.dispose()


def _row(df, measure: str) -> tuple[int, int]:
    return _sum(df, measure, "numerator"), _sum(df, measure, "denominator")


def test_the_wirings_importer_and_services_take_its_registry(empty: Wiring) -> None:
    assert empty.importer().elements is FOUR
    assert empty.audit_service().elements is FOUR
    assert empty.survey_importer().elements is FOUR
    # a service or importer made over the wired projector derives the registry from it
    from audit.imports import Importer
    from audit.service import AuditService

    assert AuditService(empty.store, empty.projector).elements is FOUR
    assert Importer(empty.store, empty.registry, projector=empty.projector).elements is FOUR


def test_a_consultations_csv_with_the_fourth_enablers_column_is_imported_and_counted(
    empty: Wiring,
) -> None:
    result = empty.importer().import_consultations(CONSULTATIONS4, register_teams=True)
    assert result.ok and result.rows == 4
    empty.projector.catch_up()
    census = census_measures(empty.store.engine, elements=FOUR)
    assert _row(census, "shared_decision") == (2, 3)  # c-4 is not applicable
    assert _row(census, "goal_setting") == (2, 4)
    # every enabler (four of them) documented: only c-1; c-4 leaves the bundle (na)
    assert _row(census, ALL) == (1, 3)
    types = [e.type for e in empty.store.read_all(types=["DecisionShared"])]
    assert len(types) == 2


def test_a_consultations_csv_without_the_fourth_enablers_column_is_refused(
    empty: Wiring,
) -> None:
    from audit.imports import ImportRefused

    three = b"\n".join(line.rsplit(b",", 1)[0] for line in CONSULTATIONS4.strip().split(b"\n"))
    with pytest.raises(ImportRefused) as refused:
        empty.importer().import_consultations(three + b"\n", register_teams=True)
    assert "shared_decision" in str(refused.value)
    assert empty.store.head().position == 0


def test_a_review_with_four_findings_is_recorded_and_counted(empty: Wiring) -> None:
    empty.importer().import_consultations(CONSULTATIONS4, register_teams=True)
    service = empty.audit_service()
    info = service.open_round("msk1", "2024-03", census=True)
    assert sorted(info.sampled) == ["c-1", "c-2", "c-3", "c-4"]
    yes4 = dict.fromkeys(FOUR.names, "yes")
    service.record_review(info.round_id, "c-1", "rev-a", yes4)
    service.record_review(info.round_id, "c-2", "rev-a", {**yes4, "shared_decision": "no"})
    service.record_review(
        info.round_id, "c-3", "rev-a", {**yes4, "shared_decision": "not_applicable"}
    )
    audit = audit_measures(empty.store.engine, elements=FOUR)
    assert _row(audit, "shared_decision") == (1, 2)
    assert _row(audit, "agenda_setting") == (3, 3)
    assert _row(audit, ALL) == (1, 2)  # c-2 fails on the fourth enabler alone
    reviews = first_reviews(empty.store.engine, elements=FOUR)
    assert set(reviews["shared_decision"]) == {"yes", "no", "not_applicable"}

    # a review that leaves out the fourth enabler is refused, naming it
    from audit.service import AuditError

    with pytest.raises(AuditError, match="shared_decision"):
        service.record_review(info.round_id, "c-4", "rev-a", dict.fromkeys(ELEMENTS.names, "no"))


def test_the_automated_round_and_a_reviews_csv_carry_the_fourth_enabler(empty: Wiring) -> None:
    empty.importer().import_consultations(CONSULTATIONS4, register_teams=True)
    service = empty.audit_service()
    [outcome] = service.run("2024-03", census=True)
    assert outcome.status == "opened"
    audit = audit_measures(empty.store.engine, elements=FOUR)
    assert _row(audit, "shared_decision") == (2, 3)  # what the import said, na left out

    info = service.open_round("msk1", "2024-03", census=True)
    reviews = (
        b"team,period,consultation_id,reviewer,agenda_setting,goal_setting,follow_up,"
        b"shared_decision\n"
        b"msk1,2024-03,c-1,rev-b,yes,yes,yes,no\n"
    )
    result = empty.importer().import_reviews(reviews)
    assert result.appended == 1
    empty.projector.catch_up()
    [event] = [
        e
        for e in empty.store.read_all(types=["CaseNoteReviewed"])
        if e.payload["reviewer_id"] == "rev-b"
    ]
    assert event.payload["shared_decision"] == "no" and info.round_id == event.payload["round_id"]


def test_a_survey_csv_with_the_fourth_enablers_column_is_imported(empty: Wiring) -> None:
    surveys = (
        b"survey_id,team,returned_on,agenda_setting,goal_setting,follow_up,shared_decision\n"
        b"s-1,msk1,2024-03-04,yes,no,yes,not_sure\n"
    )
    result = empty.survey_importer().import_surveys(surveys, register_teams=True)
    assert result.appended == 2  # the team and the survey
    [event] = empty.store.read_all(types=["PatientSurveyReturned"])
    assert event.payload["shared_decision"] == "not_sure"


def test_the_overview_headlines_curve_chart_and_compare_list_the_fourth_measure(
    wiring: Wiring,
) -> None:
    from audit import views
    from audit.curve import culture_curve

    engine = wiring.store.engine
    grid = views.overview(engine, elements=FOUR)
    assert {*grid["measure"]} == {*FOUR.measures}
    assert "Shared decision" in set(grid["measure_label"])
    heads = views.headlines(grid, elements=FOUR)
    assert [h.measure for h in heads] == list(FOUR.measures)
    assert heads[-1].label == "All 4" and heads[3].label == "Shared decision"
    curve = culture_curve(engine, elements=FOUR)
    assert {*curve["measure"]} == {*FOUR.measures}
    team = str(grid["team_id"].iloc[0])
    chart = views.team_chart(engine, team, "shared_decision", elements=FOUR)
    assert chart is not None and len(chart.table) > 0
    comparison = views.compare(engine, "shared_decision", elements=FOUR)
    assert len(comparison.teams) > 0


def test_a_re_import_and_a_correction_of_the_fourth_enabler_compare_all_four(
    empty: Wiring,
) -> None:
    from audit.imports import ImportRefused

    importer = empty.importer()
    importer.import_consultations(CONSULTATIONS4, register_teams=True)
    again = importer.import_consultations(CONSULTATIONS4)
    assert again.appended == 0
    # c-2's fourth enabler documented late (no -> yes): appended without --corrections
    late = CONSULTATIONS4.replace(b"video,yes,yes,yes,no", b"video,yes,yes,yes,yes")
    assert importer.import_consultations(late).late_documentation == 1
    # c-1's fourth enabler taken back (yes -> no): a correction, refused unless asked for
    back = late.replace(b"face_to_face,yes,yes,yes,yes", b"face_to_face,yes,yes,yes,no")
    with pytest.raises(ImportRefused, match="column shared_decision"):
        importer.import_consultations(back)
    assert importer.import_consultations(back, corrections=True).retracted == 1
    empty.projector.catch_up()
    census = census_measures(empty.store.engine, elements=FOUR)
    assert _row(census, "shared_decision") == (2, 3)  # c-2 and c-3 now, c-1 no more


# --- the second-version reads: surveys, triangulation, reach, agreement, the pack ---------


def test_survey_measures_and_triangulation_list_the_fourth_enabler(wiring: Wiring) -> None:
    from audit.surveys import survey_counts, survey_measures
    from audit.triangulation import triangulation

    engine = wiring.store.engine
    surveys = survey_measures(engine, elements=FOUR)
    assert {*surveys["measure"]} == {*FOUR.measures}
    counts = survey_counts(engine, elements=FOUR)
    # the survey bundle needs every answer yes, the fourth too: recount from the raw returns
    with engine.connect() as conn:
        answered = " AND ".join(f"{n} IN ('yes', 'no', 'not_sure')" for n in FOUR.names)
        all_yes = " AND ".join(f"{n} = 'yes'" for n in FOUR.names)
        yes4, den4 = conn.exec_driver_sql(
            f"SELECT SUM(CASE WHEN {all_yes} THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {answered} THEN 1 ELSE 0 END) FROM rm_surveys"
        ).one()
    assert _row(counts, ALL) == (int(yes4), int(den4))
    assert _sum(counts, "shared_decision", "denominator") > 0

    table = triangulation(engine, elements=FOUR)
    assert not table.empty
    assert {*table["measure"]} == {*FOUR.measures}
    order = [m for m in FOUR.measures if m in set(table["measure"])]
    first_team = table[table["team"] == table["team"].iloc[0]]
    assert list(first_team["measure"]) == order  # the registry's order, the fourth before all


def test_reach_tables_carry_the_fourth_enabler_now_and_as_of(wiring: Wiring) -> None:
    from audit import reach
    from events.store import parse_ts

    engine = wiring.store.engine
    census = census_measures(engine, elements=FOUR)
    head = wiring.store.head()
    assert head.recorded_at is not None
    at_head = parse_ts(head.recorded_at)
    for read in (reach.clinician_counts, reach.imd_counts):
        now = read(engine, elements=FOUR)
        assert {"shared_decision", "den_shared_decision", "den_all_three"} <= set(now.columns)
        # per team-month the strata add up to the census, the fourth enabler and the bundle
        per = now.groupby(["team", "period"]).sum(numeric_only=True)
        for measure in ("shared_decision", ALL):
            mine = census[census["measure"] == measure].set_index(["team", "period"])
            for key, row in per.iterrows():
                if row[f"den_{measure}"]:
                    assert (row[measure], row[f"den_{measure}"]) == (
                        mine.loc[key, "numerator"],
                        mine.loc[key, "denominator"],
                    ), (measure, key)
        # as of the head (the day-plus-window SQL) gives the same counts
        as_of = read(engine, elements=FOUR, as_of=at_head)
        assert as_of.to_dict("records") == now.to_dict("records")
    tables = reach.pack_tables(engine, measure="shared_decision", elements=FOUR)
    assert not tables["coverage"].empty and not tables["deprivation"].empty


def test_review_pairs_and_agreement_carry_the_fourth_enabler(wiring: Wiring) -> None:
    from audit import queries, views

    engine = wiring.store.engine
    pairs = queries.review_pairs(engine, elements=FOUR)
    assert {*pairs["element"]} == {*FOUR.names}
    agree = views.agreement(engine, elements=FOUR, window=None)
    assert list(agree["by_enabler"]) == list(FOUR.names)
    fourth = pairs[pairs["element"] == "shared_decision"]
    assert agree["by_enabler"]["shared_decision"]["n"] == len(fourth)
    assert agree["n"] == len(pairs)

    team, period = pairs[["team_id", "period"]].iloc[0]
    notes = queries.sampled_notes(engine, team, period, elements=FOUR)
    assert set(notes["shared_decision"]) <= {"yes", "no", "not_applicable"}
    round_id = str(notes["round_id"].iloc[0])
    [review, *_] = queries.round_reviews(engine, round_id, elements=FOUR)
    assert review["shared_decision"] in {"yes", "no", "not_applicable"}


def test_the_pack_carries_the_fourth_enabler_in_every_section(wiring: Wiring) -> None:
    from dashboard.pack import build_pack
    from dashboard.pack_sections import collect_sections

    engine = wiring.store.engine
    reach_part, surveys_part = collect_sections(engine, as_of=None, elements=FOUR)
    assert any("All 4 (every enabler documented)" in line for line in reach_part.lines)
    assert surveys_part.lines[0].count("team-enabler pairs") == 1

    pack = build_pack(wiring.store, elements=FOUR, record=False)
    content = pack.content
    assert [h.measure for h in content.headlines] == list(FOUR.measures)
    assert {*content.curve["measure"]} == {*FOUR.measures}
    for team in content.teams:
        assert [f.key.split(":")[1] for f in team.figures] == list(FOUR.measures)
        assert any(line.startswith("Shared decision") for line in team.state)
    assert "Shared decision" in content.programme_agreement
    curve_panels = json.dumps(content.curve_figure.spec) if content.curve_figure else ""
    assert "Shared decision" in curve_panels and "All 4" in curve_panels
    assert content.funnel_figure is not None and content.funnel_figure.caption.startswith("All 4")
