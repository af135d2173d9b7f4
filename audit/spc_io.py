"""Reading a series for ``sipdash spc`` and writing its result in the contract's formats.

Errors name the row as a spreadsheet numbers it (the header is row 1) and the column, and say
what was expected, without echoing the cell, so a user can fix the file in Excel.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date
from os import PathLike
from pathlib import Path

from audit.exports import neutralise
from audit.spc import CONTRACT_POINT_FIELDS, SpcResult

CHART_COLUMNS: dict[str, tuple[str, ...]] = {
    "xmr": ("period", "value"),
    "run": ("period", "value"),
    "p": ("period", "numerator", "denominator"),
}


#: Larger magnitudes are not measurements (and would overflow the limit arithmetic).
MAX_MAGNITUDE = 1e15


class SpcInputError(ValueError):
    """A series file that cannot be charted; ``errors`` lists every problem found."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors if errors is not None else [message]


Series = tuple[list[str], list[float]] | tuple[list[str], list[int], list[int]]


def read_series_csv(path: str | PathLike[str], chart: str) -> Series:
    """Read ``period,value`` (xmr, run) or ``period,numerator,denominator`` (p), in file order."""
    return parse_series_csv(Path(path).read_bytes(), chart)


def parse_series_csv(data: bytes | str, chart: str) -> Series:
    """Parse the contents of a series CSV (the pure half of ``read_series_csv``).

    Every bad cell is reported at once (all-or-nothing, like the imports). Extra columns are
    ignored; header names are matched case-insensitively; a UTF-8 BOM (Excel) is accepted.
    """
    if chart not in CHART_COLUMNS:
        raise ValueError(f"chart must be one of {', '.join(CHART_COLUMNS)}, got {chart!r}")
    text = _decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    rows: list[list[str]] = []
    try:
        rows.extend(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        what = str(exc)
        if "field larger than field limit" in what:
            what = f"a cell is longer than {csv.field_size_limit()} characters"
        raise SpcInputError(f"row {len(rows) + 1}: not readable as CSV ({what})") from None
    required = CHART_COLUMNS[chart]
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise SpcInputError(f"the file is empty: expected a header row {','.join(required)}")
    columns = _column_positions(rows[0], required)
    data_rows = [(number, row) for number, row in enumerate(rows[1:], start=2) if _has_content(row)]
    if not data_rows:
        raise SpcInputError("the file has a header but no data rows")
    parsed, errors = _parse_rows(data_rows, columns, chart)
    if errors:
        raise SpcInputError("\n".join(errors), errors)
    return parsed


def result_to_csv(result: SpcResult) -> str:
    """The contract's CSV: one row per point, empty cells for missing limits, full precision."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CONTRACT_POINT_FIELDS)
    for point in result.points:
        record = point.contract_dict()
        writer.writerow(_csv_cell(record[name]) for name in CONTRACT_POINT_FIELDS)
    return out.getvalue()


def result_to_json(result: SpcResult) -> str:
    """The contract's JSON (``null`` for missing limits); floats keep full precision."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpcInputError(
            f"row {line}: the file is not UTF-8 text (save it as 'CSV UTF-8')"
        ) from None


def _column_positions(header: list[str], required: tuple[str, ...]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    missing = [name for name in required if name not in names]
    if missing:
        raise SpcInputError(
            f"row 1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"expected a header row {','.join(required)}"
        )
    return {name: names.index(name) for name in required}


def _has_content(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def _parse_rows(
    data: list[tuple[int, list[str]]], columns: dict[str, int], chart: str
) -> tuple[tuple, list[str]]:
    errors: list[str] = []
    periods: list[str] = []
    numbers: dict[str, list] = {name: [] for name in columns if name != "period"}
    for number, row in data:
        cells = {name: _cell(row, at) for name, at in columns.items()}
        if not cells["period"]:
            errors.append(f"row {number}, column period: empty; expected a period label")
        periods.append(cells["period"])
        if chart == "p":
            _parse_counts(number, cells, numbers, errors)
        else:
            numbers["value"].append(_parse_value(number, cells["value"], errors))
    _check_labels(data, periods, errors)
    if chart == "p":
        return (periods, numbers["numerator"], numbers["denominator"]), errors
    return (periods, numbers["value"]), errors


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def _check_labels(data: list[tuple[int, list[str]]], periods: list[str], errors: list[str]) -> None:
    """A label shaped like a date must be a real one; a label may appear only once."""
    first_row: dict[str, int] = {}
    for (number, _), label in zip(data, periods, strict=True):
        if not label:
            continue
        where = f"row {number}, column period"
        month, day = _MONTH.match(label), _DAY.match(label)
        if month and not 1 <= int(month.group(2)) <= 12:
            errors.append(f"{where}: not a real month; expected YYYY-MM with a month 01 to 12")
        elif day:
            try:
                date(int(day.group(1)), int(day.group(2)), int(day.group(3)))
            except ValueError:
                errors.append(f"{where}: not a real date; expected YYYY-MM-DD, a day that exists")
        if label in first_row:
            errors.append(
                f"{where}: the same period as row {first_row[label]}; expected each period once"
            )
        else:
            first_row[label] = number


def check_target(chart: str, target: float | None) -> None:
    """A target in the units of the values: a proportion 0–1 for a p-chart, finite for all."""
    if target is None:
        return
    if not math.isfinite(target):
        raise SpcInputError("--target: expected a finite number in the units of the values")
    if chart == "p" and not 0.0 <= target <= 1.0:
        raise SpcInputError(
            f"--target {target:g}: a p-chart's target is a proportion between 0 and 1 "
            f"(e.g. 0.8 for 80%), the units of its values"
        )


def _cell(row: list[str], at: int) -> str:
    return row[at].strip() if at < len(row) else ""


def _parse_value(number: int, text: str, errors: list[str]) -> float:
    where = f"row {number}, column value"
    if not text:
        errors.append(f"{where}: empty; expected a number")
        return math.nan
    try:
        value = float(text)
    except ValueError:
        errors.append(f"{where}: not a number; expected a number such as 12 or 0.75")
        return math.nan
    if not math.isfinite(value):
        errors.append(f"{where}: expected a finite number")
    elif abs(value) > MAX_MAGNITUDE:
        errors.append(f"{where}: larger than 10^15 in size; expected a measurement")
        return math.nan
    return value


def _parse_counts(number: int, cells: dict[str, str], numbers: dict, errors: list[str]) -> None:
    counts = {}
    for name in ("numerator", "denominator"):
        counts[name] = _parse_count(number, name, cells[name], errors)
        numbers[name].append(counts[name] if counts[name] is not None else 0)
    yes, total = counts["numerator"], counts["denominator"]
    if total == 0:
        errors.append(f"row {number}, column denominator: 0; expected at least 1 reviewed note")
    if yes is not None and total is not None and yes > total:
        errors.append(
            f"row {number}, column numerator: greater than the denominator; "
            "expected a count no larger than the denominator"
        )


def _parse_count(number: int, name: str, text: str, errors: list[str]) -> int | None:
    where = f"row {number}, column {name}"
    if not text:
        errors.append(f"{where}: empty; expected a whole number ≥ 0")
        return None
    try:
        value = float(text)
    except ValueError:
        errors.append(f"{where}: not a number; expected a whole number ≥ 0")
        return None
    if not math.isfinite(value) or not value.is_integer():
        errors.append(f"{where}: not a whole number; expected a whole number ≥ 0")
        return None
    if value < 0:
        errors.append(f"{where}: negative; expected a whole number ≥ 0")
        return None
    if value > MAX_MAGNITUDE:
        errors.append(f"{where}: larger than 10^15; expected a count of case notes")
        return None
    return int(value)


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(neutralise(str(value)))  # a period label typed as "=..." stays text
