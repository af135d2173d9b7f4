"""The dashboard's and the pack's words and charts take the wired registry's enablers, so a
fourth enabler gets its own column, label, panel and sentence (no I/O)."""

from __future__ import annotations

import json

import pandas as pd

from dashboard import charts, presentation
from dashboard.pack import method_lines
from events.elements import ALL, DEFAULT_ELEMENTS, ELEMENTS, Element, Registry

FOUR = Registry(
    (
        *DEFAULT_ELEMENTS,
        Element(
            "shared_decision",
            "DecisionShared",
            "Shared decision",
            question="We decided together what to do",
        ),
    )
)


def test_measures_labels_and_questions_come_from_the_registry_given() -> None:
    assert presentation.measures(FOUR) == [*FOUR.names, ALL]
    assert presentation.measure_label("shared_decision", FOUR) == "Shared decision"
    assert presentation.measure_label(ALL, FOUR) == "All 4"
    assert presentation.measures() == list(ELEMENTS.measures)  # the default unchanged
    assert presentation.measure_label(ALL) == "All three"
    assert FOUR.questions["shared_decision"] == "We decided together what to do"
    assert FOUR.questions["goal_setting"] == "We agreed a goal I want to work towards"
    unworded = Registry((Element("a1", "A1Done", "A one"),))
    assert unworded.questions == {"a1": "A one"}  # the label where no question is given


def test_the_notes_table_has_a_column_per_enabler_of_the_registry() -> None:
    notes = pd.DataFrame(
        [
            {
                "consultation_id": "c1",
                "patient_ref": "p_1",
                "occurred_on": "2024-03-01",
                "clinician_id": "k1",
                "reviewer_id": "r1",
                "second_review": False,
                "round_id": "r",
                **dict.fromkeys(FOUR.names, "yes"),
                "shared_decision": "not_applicable",
            }
        ]
    )
    table = presentation.notes_table(notes, elements=FOUR)
    assert "Shared decision" in table.columns
    assert table["Shared decision"].iloc[0] == presentation.FINDING_BADGES["not_applicable"]
    empty = presentation.notes_table(notes.iloc[0:0], elements=FOUR)
    assert "Shared decision" in empty.columns


def test_agreement_words_name_the_fourth_enabler_by_its_label() -> None:
    fig = {"percent_agreement": 90.0, "kappa": 0.8, "notes": 25, "n": 25}
    text = presentation.agreement_by_enabler_text(
        {"by_enabler": {"shared_decision": fig}}, FOUR.labels
    )
    assert text is not None and text.startswith("Per enabler: Shared decision 90%")


def test_the_curve_chart_has_a_panel_per_measure_of_the_registry() -> None:
    curve = pd.DataFrame(
        [
            {"period": "2024-01", "measure": m, "teams_total": 2, "teams_norm": 1}
            for m in FOUR.measures
        ]
    )
    spec = json.dumps(charts.culture_curve_chart(curve, measure_labels=FOUR.labels).to_dict())
    assert "Shared decision" in spec and "All 4" in spec
    three = json.dumps(charts.culture_curve_chart(curve).to_dict())
    assert "Shared decision" not in three  # the default registry's panels only


def test_the_icon_grid_keeps_a_column_for_an_enabler_outside_the_default_labels() -> None:
    grid = pd.DataFrame(
        [
            {
                "team": "T",
                "measure": m,
                "measure_label": FOUR.labels[m],
                "variation": "common_cause",
                "assurance": None,
                "is_norm": False,
            }
            for m in FOUR.measures
        ]
    )
    spec = charts.icon_grid_chart(grid).to_dict()
    sorts = [
        layer["encoding"]["x"].get("sort")
        for layer in spec.get("layer", [])
        if "x" in layer.get("encoding", {})
    ]
    assert sorts and all("Shared decision" in s for s in sorts if s)


def test_the_method_appendix_names_every_enabler_of_the_registry() -> None:
    [first, *_] = method_lines(elements=FOUR)
    assert "agenda setting, goal setting, follow-up and shared decision" in first
    assert "all 4 = every enabler documented" in first
    [default, *_] = method_lines()
    assert "agenda setting, goal setting and follow-up (yes / no" in default
    assert "all three = every enabler documented" in default
