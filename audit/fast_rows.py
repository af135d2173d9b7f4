"""Fast paths of the row checks for the two bulk CSV kinds (consultations, surveys).

A file of 50,000 rows spends most of its validation in pydantic calling one Python validator
per cell. Nearly every cell of a real file is one of a handful of spellings (``yes``, a team
name, a date), so each check here remembers what a spelling gave the first time it was seen
and answers from that memo after. A fast check only ever ACCEPTS: it returns the same row
model, with the same values, that :mod:`audit.csv_rows` would have produced, or ``None`` when
a cell is anything it is not sure of, and the row then goes through the pydantic row model as
before (which words the refusal). So every message of a refused file is unchanged.

The identifier guard also relies on this module: a cell a fast check accepted in a column it
lists as *closed* (a yes/no answer, a date, a contact type, a quintile, a confidence) is one
of a small set of words or a number of at most two digits, which cannot hold an
NHS-number-shaped run; the guard then searches only the *free-text* columns of those rows
(ids, team, clinician) and every column of the rows the fast check left to the model
(:func:`audit.csv_rows.validate_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from events.pseudonym import PseudonymError, normalise_identifier
from events.types import EARLIEST_DATE

from .csv_rows import _ANSWERS, MAX_ID_LENGTH, RowContext, _Patient, parse_date, trusted, yes_no
from .team_names import team_key

__all__ = [
    "CONSULTATION_FREE_TEXT",
    "SURVEY_FREE_TEXT",
    "FastCheck",
    "consultation_fast",
    "survey_fast",
]

#: ``fast(row) -> (validated row, team to register or None)``, or None: let the model decide
FastCheck = Callable[[Mapping[str, str]], tuple[Any, str | None] | None]

#: columns whose accepted cells are free text (the identifier guard searches them in every row)
CONSULTATION_FREE_TEXT = ("consultation_id", "team", "clinician")
SURVEY_FREE_TEXT = ("survey_id", "team")

_CONTACTS = ("face_to_face", "telephone", "video")
#: the only quintile spellings taken fast (``0000000003`` is a quintile to the model, and ten
#: digits to the guard: it goes the slow way, where the guard refuses it)
_QUINTILES = {
    **{str(q): q for q in range(1, 6)},
    **{f"{q}.0": q for q in range(1, 6)},
    "": None,
}
#: a confidence 0-10: one or two ASCII digits, or blank
_CONFIDENCE: dict[str, int | None] = {
    **{str(c): c for c in range(11)},
    **{f"0{c}": c for c in range(10)},
    "": None,
}
_MISSING = object()


def _plain_id(value: str) -> bool:
    """The id rules (1-120 characters, no line break or control character), decided only
    where ``isprintable`` settles it; anything else goes to the model's own words."""
    return 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


class _Cells:
    """The per-file memos: a spelling's accepted value (``_MISSING`` when the model must
    judge it). One per file: the team list and today are the file's."""

    def __init__(self, ctx: RowContext) -> None:
        self.ctx = ctx
        self.dates: dict[str, Any] = {}
        self.teams: dict[str, Any] = {}
        self.patients: dict[str, Any] = {}
        self.contacts: dict[str, Any] = {}
        self.findings: dict[str, Any] = {}

    def patient(self, value: str) -> Any:
        found = self.patients.get(value, _MISSING)
        if found is _MISSING:
            try:
                canonical, is_nhs = normalise_identifier(value)
            except (PseudonymError, ValueError):  # the model words the refusal
                found = None
            else:
                found = (
                    None
                    if is_nhs and self.ctx.demo_key
                    else trusted(_Patient, canonical=canonical, is_nhs=is_nhs)
                )
            self.patients[value] = found
        return found

    def contact(self, value: str) -> Any:
        found = self.contacts.get(value, _MISSING)
        if found is _MISSING:
            c = value.lower().replace("-", "_").replace(" ", "_")
            found = c if c in _CONTACTS else None
            self.contacts[value] = found
        return found

    def finding(self, value: str) -> Any:
        found = self.findings.get(value, _MISSING)
        if found is _MISSING:
            found = yes_no(value, allow_na=True)
            self.findings[value] = found
        return found

    def date(self, value: str) -> Any:
        found = self.dates.get(value, _MISSING)
        if found is _MISSING:
            d = parse_date(value) if value[:4].isdigit() else None
            found = d if d is not None and EARLIEST_DATE <= d <= self.ctx.today else None
            self.dates[value] = found
        return found

    def team(self, value: str) -> tuple[str, bool] | None:
        """(team id, whether it is a team to register) or None."""
        found = self.teams.get(value, _MISSING)
        if found is _MISSING:
            found = None
            if _plain_id(value):
                key = team_key(value)
                team_id = self.ctx.teams.get(key)
                if team_id is not None:
                    found = (team_id, False)
                elif self.ctx.register_teams:  # one team however the file spells it
                    found = (self.ctx.new_teams.setdefault(key, value), True)
            self.teams[value] = found
        return found


def survey_fast(model: type[Any], elements: Sequence[str], ctx: RowContext) -> FastCheck:
    """The fast check of a surveys row (:func:`audit.csv_rows.survey_row_model`)."""
    cells = _Cells(ctx)
    answers: dict[str, Any] = {}
    columns = tuple(elements)

    def answer(value: str) -> Any:
        found = answers.get(value, _MISSING)
        if found is _MISSING:
            found = _ANSWERS.get(value.lower())
            answers[value] = found
        return found

    def check(row: Mapping[str, str]) -> tuple[Any, str | None] | None:
        survey_id = row["survey_id"]
        if not _plain_id(survey_id):
            return None
        team = cells.team(row["team"])
        if team is None:
            return None
        returned_on = cells.date(row["returned_on"])
        if returned_on is None:
            return None
        confidence = _CONFIDENCE.get(row.get("confidence", ""), _MISSING)
        if confidence is _MISSING:
            if row["confidence"].lower() != "blank":
                return None
            confidence = None
        values: dict[str, Any] = {
            "survey_id": survey_id,
            "team": team[0],
            "returned_on": returned_on,
            "confidence": confidence,
        }
        for column in columns:
            found = answer(row[column])
            if found is None:
                return None
            values[column] = found
        return trusted(model, **values), (team[0] if team[1] else None)

    return check


def consultation_fast(model: type[Any], elements: Sequence[str], ctx: RowContext) -> FastCheck:
    """The fast check of a consultations row (:func:`audit.csv_rows.consultation_row_model`)."""
    cells = _Cells(ctx)
    columns = tuple(elements)

    def check(row: Mapping[str, str]) -> tuple[Any, str | None] | None:
        cid, clinician = row["consultation_id"], row["clinician"]
        if not (_plain_id(cid) and _plain_id(clinician)):
            return None
        team = cells.team(row["team"])
        who = cells.patient(row["patient"])
        occurred_on: date | None = cells.date(row["occurred_on"])
        how = cells.contact(row["contact"])
        imd = _QUINTILES.get(row.get("imd_quintile", ""), _MISSING)
        if team is None or who is None or occurred_on is None or how is None or imd is _MISSING:
            return None
        values: dict[str, Any] = {
            "consultation_id": cid,
            "team": team[0],
            "clinician": clinician,
            "patient": who,
            "occurred_on": occurred_on,
            "contact": how,
            "imd_quintile": imd,
        }
        for column in columns:
            found = cells.finding(row[column])
            if found is None:
                return None
            values[column] = found
        return trusted(model, **values), (team[0] if team[1] else None)

    return check
