"""CSV input, fuzzed: whatever bytes arrive, the parsers answer with data or a named refusal.

Two parsers read user files without touching a database: the series reader behind
``sipdash spc`` (``audit.spc_io.parse_series_csv``) and the row reader behind the CSV imports
(``audit.imports._rows``). Random bytes, random rows with random cells, byte-order marks,
other encodings and huge cells must give either parsed rows or one refusal whose every line
names the row (as a spreadsheet numbers it) or says what is wrong with the whole file —
never a traceback. The database half of the imports is fuzzed in
``tests/integration/test_reliability_bad_input.py``.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.imports import CONSULTATION_COLUMNS, REVIEW_COLUMNS, ImportRefused, _rows
from audit.spc_io import CHART_COLUMNS, SpcInputError, parse_series_csv

#: an error line either names its row or describes the whole file
SPC_LINE = re.compile(r"^(row \d+(, column \w+)?: |the file )")
IMPORT_LINE = re.compile(r"^f\.csv: (row \d+|the file )")

cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "0", "1", "-1", "20", "0.5", "1e308", "-1e308", "inf", "nan", "NaN", "1,5"]
    ),
    st.sampled_from(["1e999", "12abc", "٣", "1_000", "\ufeff1", '"', '""', "\x00", "yes"]),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
headers = st.one_of(
    st.sampled_from([list(cols) for cols in CHART_COLUMNS.values()]),
    st.lists(st.sampled_from(["period", "value", "numerator", "denominator", "x", ""]), max_size=4),
)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    def cell(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if any(x in c for x in ',"\n\r') else c

    return "".join(",".join(cell(c) for c in r) + "\n" for r in [header, *rows])


def _spc(data: bytes | str, chart: str):
    try:
        return parse_series_csv(data, chart)
    except SpcInputError as exc:
        assert exc.errors, "a refusal lists its problems"
        for line in exc.errors:
            assert SPC_LINE.match(line), f"not naming a row: {line!r}"
        return exc


def _check_series(result, chart: str) -> None:
    if isinstance(result, SpcInputError):
        return
    periods, *numbers = result
    assert all(len(col) == len(periods) for col in numbers)
    assert all(p for p in periods)
    if chart == "p":
        yes, total = numbers
        assert all(0 <= y <= t and t >= 1 for y, t in zip(yes, total, strict=True))
    else:
        assert all(math.isfinite(v) for v in numbers[0])


# --------------------------------------------------------------------------- sipdash spc input


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), chart=st.sampled_from(sorted(CHART_COLUMNS)))
def test_spc_input_of_random_bytes_is_parsed_or_refused_naming_the_row(
    data: bytes, chart: str
) -> None:
    _check_series(_spc(data, chart), chart)


@settings(max_examples=300, deadline=None)
@given(
    header=headers,
    rows=st.lists(st.lists(cells, max_size=5), max_size=12),
    chart=st.sampled_from(sorted(CHART_COLUMNS)),
    bom=st.booleans(),
)
def test_spc_input_of_random_rows_is_parsed_or_refused_naming_the_row(
    header: list[str], rows: list[list[str]], chart: str, bom: bool
) -> None:
    text = ("\ufeff" if bom else "") + _csv(header, rows)
    _check_series(_spc(text.encode("utf-8"), chart), chart)


@pytest.mark.parametrize(
    ("body", "chart", "expected"),
    [
        ("period,numerator,denominator\nM1,5,20\nM2,-3,20\n", "p", "row 3, column numerator"),
        ("period,numerator,denominator\nM1,5,0\n", "p", "row 2, column denominator"),
        ("period,numerator,denominator\nM1,25,20\n", "p", "row 2, column numerator"),
        ("period,numerator,denominator\nM1,2.5,20\n", "p", "row 2, column numerator"),
        ("period,value\nM1,1\nM2,1e999\n", "xmr", "row 3, column value"),
        ("period,value\nM1,1\n,2\n", "xmr", "row 3, column period"),
        ("period,value\nM1,1\n\nM3,abc\n", "run", "row 4, column value"),
        ("period,value\nM1,1\nM2," + "9" * 200_000 + "\n", "xmr", "row 3: "),
        ("value\n1\n", "xmr", "row 1: missing column period"),
        ("", "xmr", "the file is empty"),
    ],
)
def test_absurd_spc_values_are_refused_naming_row_and_column(
    body: str, chart: str, expected: str
) -> None:
    result = _spc(body.encode(), chart)
    assert isinstance(result, SpcInputError)
    assert expected in str(result)


def test_spc_input_in_other_encodings_is_refused_and_a_bom_is_accepted() -> None:
    text = "period,value\nJanvier,1\nFévrier,2\n"
    assert isinstance(_spc(text.encode("utf-16"), "xmr"), SpcInputError)
    latin = _spc(text.encode("latin-1"), "xmr")
    assert isinstance(latin, SpcInputError) and "row 3" in str(latin)
    assert _spc(b"\xef\xbb\xbf" + text.encode(), "xmr") == (["Janvier", "Février"], [1.0, 2.0])


# --------------------------------------------------------------------------- import rows


def _import_rows(data: bytes, columns: list[str]):
    """The file's rows, or its refusal: raised at once (the header, an unreadable file), or
    the rows that are not table rows, which every importer puts first in its refusal after
    checking the other rows too (``CsvRows.problems``)."""
    try:
        rows = _rows(data, "f.csv", columns)
        if rows.problems:
            raise ImportRefused(rows.problems)
        return rows
    except ImportRefused as exc:
        assert exc.errors
        for line in exc.errors:
            assert IMPORT_LINE.match(line), f"not naming a row: {line!r}"
        return exc


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=400), columns=st.sampled_from([CONSULTATION_COLUMNS, REVIEW_COLUMNS])
)
def test_import_rows_of_random_bytes_are_read_or_refused_naming_the_row(
    data: bytes, columns: list[str]
) -> None:
    result = _import_rows(data, columns)
    if not isinstance(result, ImportRefused):
        assert all(set(columns) <= set(row) for _, row in result)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(cells, max_size=11), max_size=10),
    blank_lines=st.lists(st.integers(0, 10), max_size=3),
    bom=st.booleans(),
)
def test_import_rows_are_numbered_as_a_spreadsheet_numbers_them(
    rows: list[list[str]], blank_lines: list[int], bom: bool
) -> None:
    lines = _csv(CONSULTATION_COLUMNS, rows).splitlines(keepends=True)
    for at in sorted(blank_lines, reverse=True):
        lines.insert(min(at + 1, len(lines)), "\n")
    text = ("\ufeff" if bom else "") + "".join(lines)
    result = _import_rows(text.encode(), CONSULTATION_COLUMNS)
    if isinstance(result, ImportRefused):
        return
    # every row number points at the record the spreadsheet shows on that row
    records = _spreadsheet_rows(text.removeprefix("\ufeff"))
    for n, row in result:
        assert records[n - 1][0].strip() == row["consultation_id"]


def _spreadsheet_rows(text: str) -> list[list[str]]:
    import csv
    import io

    return [r or [""] for r in csv.reader(io.StringIO(text, newline=""))]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"consultation_id,team\n" + b"x" * 10, "row 1: missing column(s)"),
        (",".join(CONSULTATION_COLUMNS).encode() + b'\nc1,"' + b"x" * 200_000 + b'"\n', "row 2: "),
        (",".join(CONSULTATION_COLUMNS).encode() + b"\nc1\n\nc2," + b"1," * 12 + b"\n", "row 4: "),
        (",".join(CONSULTATION_COLUMNS).encode("utf-16"), "not UTF-8"),
        (",".join(CONSULTATION_COLUMNS).encode() + b"\n\n\n", "no data rows"),
        (b"", "empty"),
    ],
)
def test_import_rows_that_cannot_be_read_are_refused_naming_the_row(
    data: bytes, expected: str
) -> None:
    result = _import_rows(data, CONSULTATION_COLUMNS)
    assert isinstance(result, ImportRefused)
    assert expected in str(result)
