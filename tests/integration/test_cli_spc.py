"""``sipdash spc``: the contract an analyst checks against their own tool."""

from __future__ import annotations

import csv
import io
import json

from dashboard.cli import main

VALUES = [30, 31, 25, 35, 34, 15, 21, 23, 30, 26, 26, 22, 25, 40, 41, 42, 43, 44, 45, 46]


def _write(tmp_path, text: str):
    path = tmp_path / "series.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_xmr_csv_has_one_row_per_point_with_the_contract_columns(tmp_path, capsys) -> None:
    body = "period,value\n" + "".join(f"M{i:02d},{v}\n" for i, v in enumerate(VALUES))
    assert main(["spc", _write(tmp_path, body), "--chart", "xmr"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == [
        "period",
        "value",
        "centre",
        "lower_limit",
        "upper_limit",
        "lower_2sigma",
        "upper_2sigma",
        "point_type",
    ]
    assert [r["period"] for r in rows] == [f"M{i:02d}" for i in range(len(VALUES))]
    assert (
        rows[-1]["point_type"] == "improvement"
    )  # the closing run of rises is a trend and a shift


def test_json_summary_carries_icons_and_runs(tmp_path, capsys) -> None:
    body = "period,value\n" + "".join(f"M{i:02d},{v}\n" for i, v in enumerate(VALUES))
    assert main(["spc", _write(tmp_path, body), "--format", "json", "--target", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["variation"] == "improvement"
    assert out["summary"]["assurance"] in {"pass", "hit_or_miss", "fail"}
    assert set(out["summary"]["runs"]) == {
        "n_useful",
        "longest_run",
        "longest_run_max",
        "crossings",
        "crossings_min",
        "signal",
    }


def test_too_few_points_give_empty_limits_in_csv(tmp_path, capsys) -> None:
    body = "period,value\n" + "".join(f"M{i},{v}\n" for i, v in enumerate(VALUES[:12]))
    assert main(["spc", _write(tmp_path, body)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert all(r["upper_limit"] == "" and r["point_type"] == "common_cause" for r in rows)


def test_p_chart_values_are_proportions(tmp_path, capsys) -> None:
    body = "period,numerator,denominator\n" + "".join(f"M{i},{i % 7 + 5},20\n" for i in range(15))
    assert main(["spc", _write(tmp_path, body), "--chart", "p", "--format", "json"]) == 0
    points = json.loads(capsys.readouterr().out)["points"]
    assert all(0 <= p["value"] <= 1 for p in points)
    assert all(0 <= p["lower_limit"] <= p["centre"] <= p["upper_limit"] <= 1 for p in points)


def test_bad_input_exits_1_naming_the_row_and_column_without_a_traceback(tmp_path, capsys) -> None:
    body = "period,numerator,denominator\nM1,5,20\nM2,7,0\n"
    assert main(["spc", _write(tmp_path, body), "--chart", "p"]) == 1
    err = capsys.readouterr().err
    assert "row 3" in err and "denominator" in err
    assert "Traceback" not in err
