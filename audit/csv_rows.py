"""One pydantic row model per CSV kind, and the one row loop every import shares.

Each CSV kind (consultations, reviews, surveys, training) declares its cells once, as a
pydantic model whose fields say what each column accepts; :func:`validate_rows` runs every
data row through it exactly once and collects EVERY problem of the file (not only the first),
each naming the file, the row as a spreadsheet numbers it (header = row 1), the column and
what was expected. The values quoted back are shortened and never anything shaped like an NHS
number (:func:`shown`); the ``patient`` column is never quoted at all. The identifier guard
(:mod:`audit.identifiers`) runs over the columns before validation, so an NHS-number-shaped
value is refused in any column but ``patient``.

Checks that need the database (is the team registered, is the clinician known) read it
through the validation context (:class:`RowContext`), so they are part of the same single
pass. What the row model accepts is exactly what the event types accept (the same id rules:
1-120 printable characters; the same date range), so the importers build their events from
validated rows without validating them a second time (:func:`trusted`).

The element columns come from ``events.types.ELEMENTS``: the consultation and review models are
made by :func:`consultation_row_model` / :func:`review_row_model` from that list, and the
column lists the importers check headers against are in :mod:`audit.imports`.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo
from pydantic import create_model as _create_model
from pydantic_core import PydanticCustomError

from events.pseudonym import PseudonymError, normalise_identifier
from events.types import EARLIEST_DATE, ELEMENTS

from . import identifiers
from .team_names import team_key

__all__ = [
    "MAX_ID_LENGTH",
    "ConsultationRow",
    "ReviewRow",
    "RowContext",
    "RowModel",
    "SurveyRow",
    "TrainingRow",
    "consultation_row_model",
    "parse_imd_quintile",
    "review_row_model",
    "shown",
    "validate_rows",
]

MAX_ID_LENGTH = 120  # events.types.Identifier
_SHOWN_LENGTH = 60
_NHS_SHAPED = re.compile(r"(?<!\d)(?:\d[\s./-]*){9}\d(?!\d)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_KIND = "sipdash_cell"


def shown(value: str) -> str:
    """A cell quoted for an error message: shortened, and never anything shaped like an NHS
    number (a patient identifier in the wrong column must not be echoed either)."""
    if _NHS_SHAPED.search(value):
        return "a value shaped like an NHS number (not shown)"
    if len(value) > _SHOWN_LENGTH:
        return repr(value[:_SHOWN_LENGTH]) + f"… ({len(value)} characters)"
    return repr(value)


def problem(text: str) -> PydanticCustomError:
    """A cell refusal whose text is the message shown after ``row N, column C: ``."""
    return PydanticCustomError(_KIND, "{text}", {"text": text})


@dataclass
class RowContext:
    """What the row checks need beyond the cell: the database's teams and clinicians, today,
    and the import's options. Filled by the importer once per file."""

    today: date = field(default_factory=date.today)
    #: team id or name (its ``team_key``) -> team id
    teams: Mapping[str, str] = field(default_factory=dict)
    #: team id -> name (for messages)
    team_names: Mapping[str, str] = field(default_factory=dict)
    #: clinician id -> team id
    clinicians: Mapping[str, str] = field(default_factory=dict)
    register_teams: bool = False
    demo_key: bool = False
    #: teams not registered yet that ``register_teams`` will register: name -> first row
    unknown_teams: dict[str, int] = field(default_factory=dict)
    #: those teams by key (``team_key``) -> the file's first spelling, the one registered: a
    #: later row spelling the same team another way (``MSK``, ``msk``) joins it
    new_teams: dict[str, str] = field(default_factory=dict)
    row: int = 0  # the row being validated (set by the loop)


def _ctx(info: ValidationInfo) -> RowContext:
    return info.context if isinstance(info.context, RowContext) else RowContext()


# --- cells -----------------------------------------------------------------------------------


def _id_rules(value: str, missing: str | None) -> str:
    """The event types' id rules (1-120 printable characters), with the import's words."""
    if not value:
        if missing is not None:
            raise problem(f"expected {missing}, got nothing")
        return value
    if len(value) > MAX_ID_LENGTH:
        raise problem(f"longer than {MAX_ID_LENGTH} characters")
    if "\n" in value or "\r" in value:
        raise problem("contains a line break; expected a one-line id")
    if _CONTROL.search(value):
        raise problem("contains a control character (a tab, …); expected printable text")
    return value


def id_cell(missing: str | None) -> Any:
    """An id column: ``missing`` names what an empty cell should have held (None: may be
    empty; the caller's later rule refuses it in its own words)."""
    return BeforeValidator(lambda v: _id_rules(v, missing))


def parse_date(value: str) -> date | None:
    """A ``YYYY-MM-DD`` date, or None (other ISO forms, e.g. ``20240301``, are refused)."""
    try:
        d = date.fromisoformat(value)
    except ValueError:
        return None
    return d if len(value) == 10 else None


_SEPARATORS = ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars"))


def separator_problem(source: str, header: list[str]) -> str | None:
    """A header read as one column that holds another separator (Excel saves ``;`` in many
    locales): said first and in those words, as every other complaint about the file follows
    from it. The header itself is not quoted back."""
    if len(header) != 1:
        return None
    for sep, name in _SEPARATORS:
        if sep in header[0]:
            return (
                f"{source}: row 1: the columns are separated by {name} ({sep!r}), not commas; "
                'save the file as CSV (comma-separated), e.g. "CSV UTF-8 (Comma delimited)" in '
                "Excel"
            )
    return None


def unclosed_quote(text: str) -> bool:
    """Whether a quote opens a cell that the file never closes: Python's csv (not strict)
    then reads the rest of the file into that one cell, so later rows vanish into it."""
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def unclosed_quote_problem(source: str, n: int) -> str:
    return (
        f'{source}: row {n}: a quote (") opens a cell that is never closed, so the rest of the '
        "file was read as that one cell; close the quote (or remove it) and import again"
    )


_DATE_SHAPE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)


def date_problem(value: str) -> str:
    """What is wrong with a cell that is not a ``YYYY-MM-DD`` date: a day the calendar does
    not have (``2025-02-29``, ``2025-04-31``, ``2025-13-01``) is named as such, not as a
    wrong format."""
    m = _DATE_SHAPE.fullmatch(value)
    if m is None:
        return f"expected a date YYYY-MM-DD, got {shown(value)}"
    year, month, day = (int(g) for g in m.groups())
    if year < 1:
        why = "there is no year 0000"
    elif not 1 <= month <= 12:
        why = f"there is no month {month:02d}"
    elif day < 1:
        why = "there is no day 00"
    else:
        days = calendar.monthrange(year, month)[1]
        why = f"{year:04d}-{month:02d} has {days} days"
    return f"{shown(value)} is not a real date ({why}); expected a date YYYY-MM-DD"


def _past_date(value: str, info: ValidationInfo) -> date:
    d = parse_date(value)
    if d is None:
        raise problem(date_problem(value))
    today = _ctx(info).today
    if not (EARLIEST_DATE <= d <= today):
        raise problem(f"{d} is outside {EARLIEST_DATE}..{today}")
    return d


PastDate = Annotated[date, BeforeValidator(_past_date)]

_YES = frozenset(("yes", "y", "true", "1"))
_NO = frozenset(("no", "n", "false", "0"))
_NA = frozenset(("na", "n/a", "not_applicable", "not applicable"))


def yes_no(value: str, allow_na: bool) -> str | None:
    """``yes`` / ``no`` (/ ``not_applicable``) from the spellings people type, else None."""
    v = value.lower()
    if v in _YES:
        return "yes"
    if v in _NO:
        return "no"
    if allow_na and v in _NA:
        return "not_applicable"
    return None


def finding_cell(expected: str) -> Any:
    """yes / no / na, refused with ``expected`` (the words differ between file kinds)."""

    def check(value: str) -> str:
        found = yes_no(value, allow_na=True)
        if found is None:
            raise problem(f"expected {expected}, got {shown(value)}")
        return found

    return BeforeValidator(check)


def parse_imd_quintile(cell: str) -> tuple[int | None, str | None]:
    """An ``imd_quintile`` CSV cell: (quintile or None when blank, problem or None).

    Whole numbers 1 (most deprived) to 5 (least deprived); ``3.0`` as a spreadsheet may save it
    is read as 3; anything else is a problem (the caller names row and column)."""
    text = cell.strip()
    if not text:
        return None, None
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number != number or not number.is_integer():  # NaN or a fraction
        return None, "expected a whole number from 1 (most deprived) to 5 (least deprived) or blank"
    if not 1 <= number <= 5:
        return None, "expected 1 (most deprived) to 5 (least deprived) or blank; out of range"
    return int(number), None


def _quintile(value: str) -> int | None:
    quintile, why = parse_imd_quintile(value)
    if why:
        raise problem(f"{why}, got {shown(value)}")
    return quintile


_CONTACTS = ("face_to_face", "telephone", "video")


def _contact(value: str) -> str:
    contact = value.lower().replace("-", "_").replace(" ", "_")
    if contact not in _CONTACTS:
        raise problem(f"expected one of {', '.join(_CONTACTS)}, got {shown(value)}")
    return contact


def _team(value: str, info: ValidationInfo) -> str:
    """A registered team's id or name (any case) -> its id; unknown: an error, or (with
    ``register_teams``) a new team registered first."""
    ctx = _ctx(info)
    _id_rules(value, "a team id or name")
    key = team_key(value)
    team_id = ctx.teams.get(key)
    if team_id is not None:
        return team_id
    if ctx.register_teams:
        first = ctx.new_teams.setdefault(key, value)
        ctx.unknown_teams.setdefault(first, ctx.row)
        return first
    raise problem(
        f"{shown(value)} is not a registered team (register it first, or import with "
        "--register-teams)"
    )


def _registered_team(value: str, info: ValidationInfo) -> str:
    """A registered team (files that cannot register teams: reviews, training)."""
    team_id = _ctx(info).teams.get(team_key(value))
    if not value:
        raise problem("expected a team id or name, got nothing")
    if team_id is None:
        raise problem(f"{shown(value)} is not a registered team")
    return team_id


# --- row models ------------------------------------------------------------------------------


class RowModel(BaseModel):
    """Base of the row models: frozen, cells arrive stripped (columns not in the model are
    refused by the header check before any row is read)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _Patient(BaseModel):
    """``patient``: an NHS number (any separators, checked by modulus 11) or a local id,
    normalised; never quoted back in any message."""

    canonical: str
    is_nhs: bool


def _patient(value: str, info: ValidationInfo) -> _Patient:
    try:
        canonical, is_nhs = normalise_identifier(value)
    except PseudonymError as exc:
        raise problem(str(exc)) from None
    if is_nhs and _ctx(info).demo_key:
        raise problem(
            "an NHS number cannot be imported with the demo pseudonym key; set "
            "SIPDASH_PSEUDONYM_KEY first"
        )
    return trusted(_Patient, canonical=canonical, is_nhs=is_nhs)


_CONSULTATION_FINDING = "yes or no (or na where it does not apply)"
_REVIEW_FINDING = "yes, no or na"


def _row_model(name: str, fields: dict[str, Any]) -> type[RowModel]:
    """``create_model`` over field definitions built at run time (one field per enabler)."""
    return _create_model(name, __base__=RowModel, **fields)


def consultation_row_model(elements: Sequence[str] = ELEMENTS) -> type[RowModel]:
    """The consultations row model for an enabler registry (``elements``: column names)."""
    finding = Annotated[str, finding_cell(_CONSULTATION_FINDING)]
    return _row_model(
        "ConsultationRow",
        {
            "consultation_id": (Annotated[str, id_cell("an id")], ...),
            "team": (Annotated[str, BeforeValidator(_team)], ...),
            "clinician": (Annotated[str, id_cell("a clinician code")], ...),
            "patient": (Annotated[_Patient, BeforeValidator(_patient)], ...),
            "occurred_on": (PastDate, ...),
            "contact": (Annotated[str, BeforeValidator(_contact)], ...),
            "imd_quintile": (Annotated[int | None, BeforeValidator(_quintile)], None),
            **{e: (finding, ...) for e in elements},
        },
    )


def is_month(value: str) -> bool:
    """Whether ``value`` is a month as ``YYYY-MM`` (a real one: its first day is a date)."""
    return len(value) == 7 and parse_date(value + "-01") is not None


def _period(value: str) -> str:
    if not is_month(value):
        raise problem(f"expected YYYY-MM, got {shown(value)}")
    return value


def _second_review(value: str) -> bool:
    raw = value or "no"
    found = yes_no(raw, allow_na=False)
    if found is None:
        raise problem(f"expected yes or no, got {shown(raw)}")
    return found == "yes"


def review_row_model(elements: Sequence[str] = ELEMENTS) -> type[RowModel]:
    """The case-note reviews row model for an enabler registry."""
    finding = Annotated[str, finding_cell(_REVIEW_FINDING)]
    return _row_model(
        "ReviewRow",
        {
            "team": (Annotated[str, BeforeValidator(_registered_team)], ...),
            "period": (Annotated[str, BeforeValidator(_period)], ...),
            "consultation_id": (Annotated[str, id_cell(None)], ...),
            "reviewer": (Annotated[str, id_cell("a reviewer id")], ...),
            "second_review": (Annotated[bool, BeforeValidator(_second_review)], False),
            **{e: (finding, ...) for e in elements},
        },
    )


ConsultationRow = consultation_row_model()
ReviewRow = review_row_model()

_ANSWERS = {
    "yes": "yes",
    "y": "yes",
    "no": "no",
    "n": "no",
    "not_sure": "not_sure",
    "not sure": "not_sure",
    "unsure": "not_sure",
    "doesnt_apply": "doesnt_apply",
    "doesn't apply": "doesnt_apply",
    "does not apply": "doesnt_apply",
    "doesnt apply": "doesnt_apply",
    "n/a": "doesnt_apply",
    "na": "doesnt_apply",
    "blank": "blank",
    "": "blank",
}
_EXPECTED_ANSWER = "yes, no, not_sure, doesnt_apply or blank"


def _answer(value: str) -> str:
    answer = _ANSWERS.get(value.lower())
    if answer is None:
        raise problem(f"expected {_EXPECTED_ANSWER}, got {shown(value)}")
    return answer


def _confidence(value: str) -> int | None:
    if value == "" or value.lower() == "blank":
        return None
    if re.fullmatch(r"\d{1,2}", value) and 0 <= int(value) <= 10:
        return int(value)
    raise problem(f"expected a whole number 0 to 10 or blank, got {shown(value)}")


def survey_row_model(elements: Sequence[str] = ELEMENTS) -> type[RowModel]:
    """The patient-survey row model (anonymous: no patient column exists)."""
    answer = Annotated[str, BeforeValidator(_answer)]
    return _row_model(
        "SurveyRow",
        {
            "survey_id": (Annotated[str, id_cell("a survey id")], ...),
            "team": (Annotated[str, BeforeValidator(_team)], ...),
            "returned_on": (PastDate, ...),
            "confidence": (Annotated[int | None, BeforeValidator(_confidence)], None),
            **{e: (answer, ...) for e in elements},
        },
    )


SurveyRow = survey_row_model()


def _training_date(value: str, info: ValidationInfo) -> date:
    d = parse_date(value)
    if d is None:
        raise problem(date_problem(value))
    today = _ctx(info).today
    if d > today:
        raise problem(
            f"{d} is in the future (today is {today}); record a training once it has happened"
        )
    if d < EARLIEST_DATE:
        raise problem(f"{d} is before {EARLIEST_DATE}")
    return d


class TrainingRow(RowModel):
    """``clinician,team,programme,trained_on``: a known clinician of that registered team."""

    clinician: Annotated[str, id_cell("a clinician code")]
    team: Annotated[str, BeforeValidator(_registered_team)]
    programme: Annotated[str, id_cell("the programme's name (e.g. ADP)")]
    trained_on: Annotated[date, BeforeValidator(_training_date)]

    def clinician_problem(self, ctx: RowContext) -> tuple[str, str] | None:
        """(column, problem) when the clinician is unknown or of another team."""
        home = ctx.clinicians.get(self.clinician)
        if home is None:
            return (
                "clinician",
                f"{shown(self.clinician)} is not a known clinician (clinicians become known "
                "with their first consultation or registration)",
            )
        if home != self.team:
            names = ctx.team_names
            return (
                "team",
                f"{shown(self.clinician)} belongs to {names.get(home, home)!r}, "
                f"not {names.get(self.team, self.team)!r}",
            )
        return None


# --- events from validated rows ---------------------------------------------------------------

E = TypeVar("E", bound=BaseModel)


def trusted(cls: type[E], **values: Any) -> E:
    """An event built from values a row model has already validated (and ids or tokens sipdash
    made itself): every field given, nothing validated again. ``model_construct`` would do the
    same but costs more than validating (6 µs against 5 µs per event); this is 1.5 µs. The
    import tests show the payloads equal the validated events' (same ids, same hashes, and
    re-imports append nothing); ``tests/unit/test_csv_rows.py`` compares them directly."""
    event = cls.__new__(cls)
    object.__setattr__(event, "__dict__", values)
    object.__setattr__(event, "__pydantic_fields_set__", set(values))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


# --- the one row loop ------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _messages(exc: ValidationError) -> Iterable[tuple[str, str]]:
    """(column, what is wrong) for every error of a row, never with the value itself."""
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = err["loc"]
        column = str(loc[0]) if loc else ""
        if err["type"] == _KIND:
            yield column, err["msg"]
        else:  # a rule of pydantic's own (should not happen: every cell has its check)
            yield column, f"not accepted ({err['msg']})"


@dataclass
class Validated:
    """What :func:`validate_rows` found: the good rows (row number, model) and every error."""

    rows: list[tuple[int, Any]]
    errors: list[str]


def _fast_and_guarded(
    rows: Sequence[tuple[int, Mapping[str, str]]],
    columns: Sequence[str],
    source: str,
    fast: Callable[[Mapping[str, str]], tuple[Any, str | None] | None],
    free_text: Sequence[str],
) -> tuple[dict[int, tuple[Any, str | None]], list[str]]:
    """The rows ``fast`` accepted (by row number) and the identifier guard's refusals.

    A cell a fast check accepted outside ``free_text`` is a closed spelling (a word, a date,
    two digits at most) that cannot hold an identifier, so only the free-text columns are
    searched in those rows; a row with a hit there goes the model's way, whole, and every
    column of the rows left to the model is searched, as without a fast check."""
    accepted: dict[int, tuple[Any, str | None]] = {}
    for n, row in rows:
        if (found := fast(row)) is not None:
            accepted[n] = found
    free = [c for c in columns if c in free_text]
    for hit in identifiers.refuse_in_columns(rows, free, source):
        if (at := re.search(r": row (\d+)", hit)) is not None:
            accepted.pop(int(at.group(1)), None)
    slow = [(n, row) for n, row in rows if n not in accepted]
    return accepted, identifiers.refuse_in_columns(slow, columns, source)


def validate_rows(
    model: type[M],
    rows: Sequence[tuple[int, dict[str, str]]],
    source: str,
    *,
    context: RowContext | None = None,
    guard_skip: Sequence[str] = (),
    guard_message: str | None = None,
    guard_stops_row: bool = False,
    check: Callable[[M, RowContext], tuple[str, str] | None] | None = None,
    fast: Callable[[Mapping[str, str]], tuple[Any, str | None] | None] | None = None,
    free_text: Sequence[str] = (),
) -> Validated:
    """Every row through ``model`` once; every problem of the file collected.

    ``guard_skip``: columns the identifier guard leaves alone (``patient``); ``guard_message``
    replaces the guard's own words after ``column C: ``; ``guard_stops_row``: a row with an
    identifier-shaped cell is reported for that alone (anonymous files). ``check``: a rule
    across cells of a valid row, returning (column, problem). ``fast``: a check that only
    accepts (:mod:`audit.fast_rows`), returning the same row the model would and the team to
    register, or None to let the model judge (and word) the row; the guard then searches the
    ``free_text`` columns of the rows it accepted and every column of the others."""
    ctx = context or RowContext()
    columns = [c for c in (rows[0][1] if rows else {}) if c not in guard_skip]
    if fast is None:
        accepted: dict[int, tuple[Any, str | None]] = {}
        guarded = identifiers.refuse_in_columns(rows, columns, source)
    else:
        accepted, guarded = _fast_and_guarded(rows, columns, source, fast, free_text)
    if guard_message is not None:
        guarded = [re.sub(r"(, column [^:]+: ).*$", rf"\g<1>{guard_message}", g) for g in guarded]
    errors: list[str] = []
    bad_rows: set[int] = set()
    if guarded:
        bad_rows = {int(m.group(1)) for g in guarded if (m := re.search(r": row (\d+)", g))}
    by_row: dict[int, list[str]] = {}
    for g in guarded:
        found = re.search(r": row (\d+)", g)
        by_row.setdefault(int(found.group(1)) if found else 0, []).append(g)
    good: list[tuple[int, Any]] = []
    validate = model.model_validate
    for n, row in rows:
        errors.extend(by_row.get(n, ()))
        if guard_stops_row and n in bad_rows:
            continue
        ctx.row = n
        quick = accepted.get(n)
        if quick is not None:
            valid, new_team = quick
            if new_team is not None:  # as the model's team check does, in row order
                ctx.unknown_teams.setdefault(new_team, n)
        else:
            try:
                valid = validate(row, context=ctx)
            except ValidationError as exc:
                errors.extend(f"{source}: row {n}, column {c}: {m}" for c, m in _messages(exc))
                continue
        if check is not None and (found_problem := check(valid, ctx)) is not None:
            errors.append(f"{source}: row {n}, column {found_problem[0]}: {found_problem[1]}")
            continue
        if n not in bad_rows:
            good.append((n, valid))
    return Validated(good, errors)
