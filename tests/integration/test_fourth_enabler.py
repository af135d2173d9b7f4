"""A programme that audits a fourth enabler: one registry passed to ``bootstrap``, then seed →
project → measures → report, with no other change (issue #12's "fourth-enabler test")."""

from __future__ import annotations

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
