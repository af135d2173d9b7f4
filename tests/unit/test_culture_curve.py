"""Culture shift over time: k of n teams with each enabler the norm, month by month, each team
judged on its own series up to that month; and what changed between two reviews."""

from __future__ import annotations

import pandas as pd

from audit.changes import directions, state_changes
from audit.curve import culture_curve, curve_records, judge_months, month_range

N = 20  # notes reviewed per month
HIGH, LOW = 18, 10  # 90% and 50% of 20: above and below the 80% target


def months(n: int, start: int = 1) -> list[str]:
    return [f"{2023 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}" for m in range(start, start + n)]


def _rows(team: str, numerators: dict[str, int], measure: str = "agenda_setting") -> list[dict]:
    return [
        {
            "team": team,
            "period": period,
            "measure": measure,
            "numerator": k,
            "denominator": N,
            "proportion": k / N,
            "small": False,
        }
        for period, k in numerators.items()
    ]


def constructed_programme() -> pd.DataFrame:
    """Four teams over 20 months (2023-01 … 2024-08), agenda setting only:

    - steady: 90% from the first month: the norm from month 6 (six points at or above 80%),
      with no audit in month 12 (a gap, not a slip);
    - late: 50% for 8 months, then 90%: the norm from month 14;
    - slipping: 90% for 10 months, then 50%: the norm in months 6-10 only;
    - joiner: starts in month 5 at 50%: counted from month 5, never the norm.
    """
    all_months = months(20)
    steady = {p: HIGH for i, p in enumerate(all_months, 1) if i != 12}
    late = {p: (LOW if i <= 8 else HIGH) for i, p in enumerate(all_months, 1)}
    slipping = {p: (HIGH if i <= 10 else LOW) for i, p in enumerate(all_months, 1)}
    joiner = {p: LOW for i, p in enumerate(all_months, 1) if i >= 5}
    rows = (
        _rows("steady", steady)
        + _rows("late", late)
        + _rows("slipping", slipping)
        + _rows("joiner", joiner)
    )
    return pd.DataFrame(rows)


def expected_k(month: int) -> int:
    steady = month >= 6
    late = month >= 14
    slipping = 6 <= month <= 10
    return int(steady) + int(late) + int(slipping)


def test_the_curve_gives_the_known_k_of_n_for_every_month_with_one_team_slipping_back() -> None:
    per_team = judge_months(constructed_programme(), {})
    curve = culture_curve(None, per_team=per_team)  # type: ignore[arg-type]
    agenda = curve[curve["measure"] == "agenda_setting"].reset_index(drop=True)
    assert agenda["period"].tolist() == months(20)
    assert agenda["teams_norm"].tolist() == [expected_k(m) for m in range(1, 21)]
    assert agenda["teams_total"].tolist() == [3] * 4 + [4] * 16


def test_a_month_without_an_audit_keeps_the_team_judged_on_its_earlier_months() -> None:
    per_team = judge_months(constructed_programme(), {})
    steady = per_team[(per_team["team_id"] == "steady")].set_index("period")
    assert bool(steady.loc["2023-12", "is_norm"])  # month 12 was not audited
    assert bool(steady.loc["2023-12", "counted"])


def test_every_month_and_measure_has_a_row_even_where_no_team_is_counted() -> None:
    per_team = judge_months(constructed_programme(), {})
    curve = culture_curve(None, per_team=per_team)  # type: ignore[arg-type]
    assert len(curve) == 20 * 4
    goal = curve[curve["measure"] == "goal_setting"]
    assert (goal["teams_norm"] == 0).all() and (goal["teams_total"] == 0).all()


def test_headline_records_follow_the_contract_sorted_by_period_then_measure() -> None:
    per_team = judge_months(constructed_programme(), {})
    records = curve_records(culture_curve(None, per_team=per_team))  # type: ignore[arg-type]
    assert all(set(r) == {"period", "measure", "teams_norm", "teams_total"} for r in records)
    assert records == sorted(records, key=lambda r: (r["period"], r["measure"]))
    assert all(isinstance(r["teams_norm"], int) for r in records)


def test_a_target_decided_later_does_not_judge_the_months_before_it() -> None:
    """A target of 95% from month 15: the late team (90%) stops being the norm at month 15,
    but the months before keep the 80% target that was in force for them."""
    limits = {
        ("late", "agenda_setting"): {
            "baseline_end": None,
            "recalculate_at": [],
            "target": 0.95,
            "targets": [("2023-01", 0.8), (months(1, 15)[0], 0.95)],
        }
    }
    per_team = judge_months(constructed_programme(), limits)
    late = per_team[per_team["team_id"] == "late"].set_index("period")["is_norm"]
    assert bool(late[months(1, 14)[0]])
    assert not bool(late[months(1, 15)[0]])


def test_a_team_no_longer_audited_drops_out_of_the_count_after_three_months() -> None:
    """Audits stop after month 10: still counted in months 11 and 12, then "not audited
    recently" (counted neither way) from month 13, while the others carry on."""
    programme = constructed_programme()
    stopped = pd.DataFrame(
        _rows("stopped", {p: HIGH for i, p in enumerate(months(20), 1) if i <= 10})
    )
    per_team = judge_months(pd.concat([programme, stopped], ignore_index=True), {})
    mine = per_team[per_team["team_id"] == "stopped"].set_index("period")
    assert mine["counted"].tolist() == [True] * 12 + [False] * 8
    assert not mine.loc[months(1, 13)[0], "is_norm"]
    curve = culture_curve(None, per_team=per_team)  # type: ignore[arg-type]
    agenda = curve[curve["measure"] == "agenda_setting"]
    assert agenda["teams_total"].tolist() == [4] * 4 + [5] * 8 + [4] * 8


def test_month_range_crosses_years_and_keeps_unaudited_months() -> None:
    assert month_range("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]


# ------------------------------------------------------------------------ changed since


def _grid(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "team_id": t,
                "team": t.title(),
                "measure": m,
                "measure_label": m.replace("_", " ").capitalize(),
                "variation": v,
                "assurance": a,
                "is_norm": n,
            }
            for t, m, v, a, n in rows
        ]
    )


THEN = _grid(
    [
        ("alpha", "agenda_setting", "common_cause", "hit_or_miss", False),
        ("beta", "agenda_setting", "improvement", "fail", False),
        ("gamma", "agenda_setting", "concern", "fail", False),
        ("delta", "agenda_setting", None, None, False),
    ]
)
NOW = _grid(
    [
        ("alpha", "agenda_setting", "common_cause", "hit_or_miss", False),  # unchanged
        ("beta", "agenda_setting", "improvement", "pass", True),  # assurance and norm
        ("gamma", "agenda_setting", "common_cause", "fail", False),  # variation
        ("delta", "agenda_setting", None, None, False),  # unchanged (too few points)
        ("omega", "agenda_setting", "common_cause", "hit_or_miss", False),  # new team
    ]
)


def test_changed_since_lists_exactly_the_teams_whose_state_changed_with_both_values() -> None:
    changes = state_changes(THEN, NOW)
    got = {(r.team_id, r.field, r.then, r.now) for r in changes.itertuples()}
    assert got == {
        ("beta", "assurance", "fail", "pass"),
        ("beta", "is_norm", False, True),
        ("gamma", "variation", "concern", "common_cause"),
        ("omega", "variation", None, "common_cause"),
        ("omega", "assurance", None, "hit_or_miss"),
        ("omega", "is_norm", None, False),  # not audited then: a new team in the count
    }
    beta = changes[(changes["team_id"] == "beta") & (changes["field"] == "assurance")].iloc[0]
    assert (beta["then_label"], beta["now_label"]) == ("✘ Fail", "✔ Pass")


def test_nothing_changed_gives_an_empty_list() -> None:
    assert state_changes(NOW, NOW).empty


def test_direction_since_the_last_review_puts_the_norm_first() -> None:
    d = directions(THEN, NOW).tolist()
    assert d == ["same", "better", "better", "same", "new"]
    assert directions(NOW, THEN).tolist() == ["same", "worse", "worse", "same"]


# ------------------------------------------------- the curve's fast path equals the judgement


def _from_scratch(measures: pd.DataFrame, limits: dict) -> pd.DataFrame:
    """The curve's per-team rows the slow way: ``judge_team`` from scratch at every month."""
    from audit.judgement import Decisions, judge_team

    m = measures[measures["denominator"] > 0]
    months_all = month_range(str(m["period"].min()), str(m["period"].max()))
    out = []
    for (team, measure), rows in m.groupby(["team", "measure"], sort=True):
        rows = rows.sort_values("period").reset_index(drop=True)
        decisions = Decisions.from_settings(limits.get((team, measure)))
        for period in months_all:
            if period < str(rows["period"].iloc[0]):
                continue
            j = judge_team(rows, decisions, up_to=period, team_id=team, measure=measure)
            out.append(
                {
                    "team_id": team,
                    "period": period,
                    "measure": measure,
                    "is_norm": bool(j.is_norm and j.counted),
                    "counted": bool(j.counted),
                }
            )
    return pd.DataFrame(out)


def _random_programme(seed: int) -> tuple[pd.DataFrame, dict]:
    """Teams with gaps, small and provisional months, baselines, recalculations and targets
    changing over time: everything the judgement cuts by month."""
    import random

    rng = random.Random(seed)
    rows, limits = [], {}
    all_months = months(30)
    for t in range(4):
        team = f"team-{t}"
        level = rng.uniform(0.3, 0.95)
        for measure in ("agenda_setting", "all_three"):
            start = rng.randrange(0, 8)
            for i, period in enumerate(all_months[start:], start):
                if rng.random() < 0.1:
                    continue  # a gap
                if i == 14:
                    level = min(0.99, level + rng.uniform(-0.2, 0.3))
                n = rng.choice([4, 9, 10, 20, 20, 20])
                k = sum(rng.random() < level for _ in range(n))
                rows.append(
                    {
                        "team": team,
                        "period": period,
                        "measure": measure,
                        "numerator": k,
                        "denominator": n if rng.random() > 0.03 else 0,
                        "proportion": k / n,
                        "provisional": i >= 28 or rng.random() < 0.05,
                    }
                )
            limits[(team, measure)] = {
                "baseline_end": all_months[start + 12] if rng.random() < 0.5 else None,
                "recalculate_at": [all_months[20]] if rng.random() < 0.5 else [],
                "targets": [(all_months[10], 0.7), (all_months[22], 0.85)]
                if rng.random() < 0.5
                else [],
            }
    return pd.DataFrame(rows), limits


def test_the_memoised_curve_equals_judging_every_team_from_scratch_at_every_month() -> None:
    for seed in range(3):
        measures, limits = _random_programme(seed)
        fast = judge_months(measures, limits)
        slow = _from_scratch(measures, limits)
        pd.testing.assert_frame_equal(
            fast.reset_index(drop=True), slow.reset_index(drop=True), check_dtype=False
        )
        assert fast["is_norm"].any() and not fast["is_norm"].all()


def test_a_changed_month_is_re_judged_never_served_from_the_memo() -> None:
    measures, limits = _random_programme(7)
    judge_months(measures, limits)  # fills the memo
    changed = measures.copy()
    last = changed.index[changed["team"] == "team-0"][-1]
    changed.loc[last, ["numerator", "proportion", "provisional"]] = [0, 0.0, False]
    small = changed["team"] == "team-1"  # every month small now
    changed.loc[small, "denominator"] = 5
    changed.loc[small, "numerator"] = changed.loc[small, "numerator"].clip(upper=5)
    changed.loc[small, "proportion"] = changed.loc[small, "numerator"] / 5
    pd.testing.assert_frame_equal(
        judge_months(changed, limits).reset_index(drop=True),
        _from_scratch(changed, limits).reset_index(drop=True),
        check_dtype=False,
    )
