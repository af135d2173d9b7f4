"""The ``sipdash spc`` file contract: input errors a user can act on, output in the agreed shape."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from audit.spc import p_chart, run_chart, xmr_chart
from audit.spc_io import (
    SpcInputError,
    parse_series_csv,
    read_series_csv,
    result_to_csv,
    result_to_json,
)

HEADER = "period,value,centre,lower_limit,upper_limit,lower_2sigma,upper_2sigma,point_type"
CALM = [9.0, 11.0] * 7


def periods(n: int) -> list[str]:
    return [f"2024-{m:02d}" if m <= 12 else f"2025-{m - 12:02d}" for m in range(1, n + 1)]


# --- reading ---------------------------------------------------------------------------------


def test_a_value_series_is_read_in_file_order() -> None:
    text = "period,value\nQ3,3\nQ1,1.5\nQ2,-2\n"
    assert parse_series_csv(text, "xmr") == (["Q3", "Q1", "Q2"], [3.0, 1.5, -2.0])


def test_a_proportion_series_is_read_as_counts() -> None:
    text = "period,numerator,denominator\n2024-01,5,20\n2024-02,7,18\n"
    assert parse_series_csv(text, "p") == (["2024-01", "2024-02"], [5, 7], [20, 18])


def test_a_byte_order_mark_and_crlf_line_ends_from_excel_are_accepted() -> None:
    data = "\ufeffPeriod,Value\r\nJan,1\r\nFeb,2\r\n".encode()
    assert parse_series_csv(data, "run") == (["Jan", "Feb"], [1.0, 2.0])


def test_extra_columns_and_blank_lines_are_ignored() -> None:
    text = "team,period,value\nA,Jan,1\n\nA,Feb,2\n"
    assert parse_series_csv(text, "xmr") == (["Jan", "Feb"], [1.0, 2.0])


def error_of(text: str | bytes, chart: str) -> SpcInputError:
    with pytest.raises(SpcInputError) as caught:
        parse_series_csv(text, chart)
    return caught.value


def test_an_empty_file_says_which_header_is_expected() -> None:
    assert "period,value" in str(error_of("", "xmr"))


def test_a_header_without_rows_is_an_error() -> None:
    assert "no data rows" in str(error_of("period,value\n", "xmr"))


def test_missing_columns_are_named_on_row_one() -> None:
    message = str(error_of("period,yes\nJan,1\n", "p"))
    assert message.startswith("row 1:")
    assert "numerator" in message and "denominator" in message


def test_a_non_numeric_value_names_its_row_and_column_without_echoing_it() -> None:
    message = str(error_of("period,value\nJan,1\nFeb,1\nMar,secret-text\n", "xmr"))
    assert message.startswith("row 4, column value:")
    assert "expected a number" in message
    assert "secret-text" not in message


def test_an_empty_value_is_an_error() -> None:
    assert str(error_of("period,value\nJan,\n", "xmr")).startswith("row 2, column value: empty")


def test_a_numerator_above_the_denominator_is_an_error() -> None:
    message = str(error_of("period,numerator,denominator\nJan,21,20\n", "p"))
    assert message.startswith("row 2, column numerator:")
    assert "greater than the denominator" in message


def test_negative_counts_are_an_error() -> None:
    message = str(error_of("period,numerator,denominator\nJan,-1,20\n", "p"))
    assert message.startswith("row 2, column numerator: negative")


def test_a_zero_denominator_is_an_error() -> None:
    message = str(error_of("period,numerator,denominator\nJan,0,0\n", "p"))
    assert message.startswith("row 2, column denominator:")
    assert "at least 1" in message


def test_a_fractional_count_is_an_error() -> None:
    message = str(error_of("period,numerator,denominator\nJan,1.5,20\n", "p"))
    assert message.startswith("row 2, column numerator: not a whole number")


def test_every_bad_row_is_reported_at_once() -> None:
    error = error_of("period,value\nJan,x\nFeb,2\nMar,y\n", "xmr")
    assert [line.split(":")[0] for line in error.errors] == [
        "row 2, column value",
        "row 4, column value",
    ]


def test_rows_are_numbered_as_a_spreadsheet_numbers_them_even_after_blank_lines() -> None:
    error = error_of("period,value\nJan,1\n\nMar,x\n", "xmr")
    assert error.errors == [
        "row 4, column value: not a number; expected a number such as 12 or 0.75"
    ]


def test_a_file_that_is_not_utf8_is_an_error_naming_the_row() -> None:
    message = str(error_of(b"period,value\nJan,1\nF\xe9v,2\n", "xmr"))
    assert message.startswith("row 3:")
    assert "UTF-8" in message


def test_reading_a_file_with_other_columns_names_what_is_missing() -> None:
    conformance = Path(__file__).resolve().parents[3] / "shared/conformance/mdc-xmr/test_data.csv"
    if not conformance.exists():
        pytest.skip("shared conformance file not present")
    with pytest.raises(SpcInputError, match="row 1: missing column period"):
        read_series_csv(conformance, "xmr")


# --- writing ---------------------------------------------------------------------------------


def test_csv_output_has_the_contract_header_and_one_row_per_point() -> None:
    result = xmr_chart(periods(14), CALM)
    lines = result_to_csv(result).splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 15
    first = next(csv.DictReader(io.StringIO(result_to_csv(result))))
    assert first["period"] == "2024-01"
    assert first["point_type"] == "common_cause"
    assert float(first["upper_limit"]) == pytest.approx(10 + 2.66 * 2)


def test_csv_numbers_are_written_at_full_precision() -> None:
    result = p_chart(periods(13), [1] * 13, [3] * 13)
    row = next(csv.DictReader(io.StringIO(result_to_csv(result))))
    assert row["value"] == repr(1 / 3)
    assert float(row["centre"]) == result.points[0].centre


def test_csv_limits_are_empty_when_there_are_too_few_points() -> None:
    result = xmr_chart(periods(3), [1.0, 2.0, 3.0])
    row = result_to_csv(result).splitlines()[1]
    assert row == "2024-01,1.0,2.0,,,,,common_cause"


def test_csv_quotes_period_labels_that_contain_commas() -> None:
    result = run_chart(["Jan, 2024"], [1.0])
    assert result_to_csv(result).splitlines()[1].startswith('"Jan, 2024",1.0,')


def test_json_output_has_the_contract_shape() -> None:
    result = xmr_chart(periods(14), CALM, target=4.0)  # below the lower limit 4.68
    document = json.loads(result_to_json(result))
    assert set(document) == {"points", "summary"}
    assert list(document["points"][0]) == HEADER.split(",")
    assert document["summary"]["variation"] == "common_cause"
    assert document["summary"]["assurance"] == "pass"
    assert set(document["summary"]["runs"]) == {
        "n_useful",
        "longest_run",
        "longest_run_max",
        "crossings",
        "crossings_min",
        "signal",
    }


def test_json_limits_are_null_when_there_are_too_few_points() -> None:
    document = json.loads(result_to_json(xmr_chart(periods(3), [1.0, 2.0, 3.0])))
    point = document["points"][0]
    assert point["upper_limit"] is None and point["lower_2sigma"] is None
    assert document["summary"]["variation"] is None
    assert document["summary"]["assurance"] is None


def test_json_output_is_the_same_bytes_for_the_same_input() -> None:
    first = result_to_json(p_chart(periods(13), [5] * 13, [20] * 13))
    second = result_to_json(p_chart(periods(13), [5] * 13, [20] * 13))
    assert first == second


def test_to_frame_is_tidy_with_one_row_per_point() -> None:
    frame = p_chart(periods(13), [5] * 13, [20] * 13).to_frame()
    assert len(frame) == 13
    assert list(frame.columns[:8]) == HEADER.split(",")
    assert {"numerator", "denominator", "signals"} <= set(frame.columns)
    assert frame["denominator"].tolist() == [20] * 13
