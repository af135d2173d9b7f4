"""Validated, all-or-nothing, idempotent import of anonymous patient surveys.

Format (DESIGN, CSV formats): ``survey_id,team,returned_on,agenda_setting,goal_setting,
follow_up[,confidence]``; answers yes / no / not_sure / doesnt_apply / blank (an empty cell is
blank); confidence a whole number 0-10 or blank. Surveys are anonymous, so the header must be
exactly the format (an unknown or repeated column is refused: a ``patient`` or ``nhs_number``
column must never slip in), and any cell shaped like an NHS number is refused without being
echoed. Errors follow the consultations import: the row as a spreadsheet numbers it (header =
row 1), the column, and what was expected. Event ids are UUID v5 of (team, survey_id), so a
re-import appends nothing; the caller folds the new events into the read models.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from datetime import date

from pydantic import ValidationError

from events import DuplicateEventConflict, EventStore, NewEvent
from events.types import EARLIEST_DATE, ELEMENTS, PatientSurveyReturned, TeamRegistered

from . import identifiers, queries
from .imports import (
    NAMESPACE,
    ImportRefused,
    ImportResult,
    _date,
    _decode,
    _id_problem,
    _refused_row,
    _rows,
    _shown,
    event_id,
)

SURVEY_COLUMNS = ["survey_id", "team", "returned_on", *ELEMENTS]
OPTIONAL_COLUMNS = ["confidence"]
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


def looks_like_nhs_number(value: str) -> bool:
    """Whether a cell holds something shaped like an NHS number: the programme-wide
    identifier guard (:mod:`audit.identifiers`, DESIGN "Decisions": identifier guard)."""
    return identifiers.looks_like_nhs_number(value)


def masked_source(name: str) -> str:
    """A file name as stored in metadata and shown in messages: runs of 10 or more digits
    masked (:func:`audit.identifiers.mask_digit_runs`), so a file is never refused, nor an
    identifier kept, because of its name."""
    return identifiers.mask_digit_runs(name)


_NAMESPACE = NAMESPACE.bytes


def survey_event_id(team_id: str, survey_id: str) -> str:
    """``imports.event_id("survey", team, survey_id)`` (UUID v5), computed without building
    a ``uuid.UUID`` per row: a survey file is one event per row, so this is its hot loop."""
    name = "\x1f".join(("survey", team_id, survey_id)).encode("utf-8")
    raw = bytearray(hashlib.sha1(_NAMESPACE + name).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _header_problems(data: bytes, source: str) -> list[str]:
    """Unknown, repeated and missing columns (surveys are anonymous: exactly the format)."""
    reader = csv.reader(io.StringIO(_decode(data, source), newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        return [f"{source}: row 1: not readable as CSV ({exc})"]
    allowed = SURVEY_COLUMNS + OPTIONAL_COLUMNS
    expected = f"expected {','.join(SURVEY_COLUMNS)}[,confidence]"
    problems = []
    for i, column in enumerate(header, start=1):
        if column not in allowed:
            shown = (
                "a column name shaped like an NHS number (not shown)"
                if looks_like_nhs_number(column)
                else repr(column[:60])
            )
            problems.append(
                f"{source}: row 1, column {i}: {shown} is not in the surveys format; {expected} "
                "(surveys are anonymous: no other column is accepted)"
            )
    repeated = sorted({c for c in header if header.count(c) > 1 and c in allowed})
    for column in repeated:
        problems.append(f"{source}: row 1: column {column} appears more than once; {expected}")
    missing = [c for c in SURVEY_COLUMNS if c not in header]
    if missing:
        problems.append(f"{source}: row 1: missing column(s) {', '.join(missing)}; {expected}")
    return problems


def _confidence(value: str) -> tuple[int | None, bool]:
    """(score, ok): blank is (None, True); a whole number 0-10 is accepted."""
    if value == "" or value.lower() == "blank":
        return None, True
    if re.fullmatch(r"\d{1,2}", value) and 0 <= int(value) <= 10:
        return int(value), True
    return None, False


class SurveyImporter:
    """Turns a surveys CSV into ``PatientSurveyReturned`` events in one transaction (or none)."""

    def __init__(
        self, store: EventStore, *, actor: str = "sipdash import", today: date | None = None
    ) -> None:
        self.store = store
        self.actor = actor
        self.today = today or date.today()

    def _team_lookup(self) -> dict[str, str]:
        return queries.team_lookup(self.store.engine)

    def import_surveys(
        self,
        data: bytes,
        *,
        source: str = "surveys.csv",
        register_teams: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """Validate every row, then append every survey at once; re-importing appends nothing."""
        source = masked_source(source)
        problems = _header_problems(data, source)
        if problems:
            raise ImportRefused(problems)
        rows = _rows(data, source, SURVEY_COLUMNS, OPTIONAL_COLUMNS)
        by_key = self._team_lookup()
        errors: list[str] = []
        seen: dict[tuple[str, str], tuple[int, tuple]] = {}
        unknown_teams: dict[str, int] = {}
        parsed: list[tuple[int, PatientSurveyReturned]] = []
        for n, row in rows:
            where = f"{source}: row {n}"
            bad = []
            # one search over the whole row (cells joined by a non-digit) finds any such cell;
            # only then is each cell checked, to name its column
            if looks_like_nhs_number("\x1f".join(row.values())):
                for column, value in row.items():
                    if not looks_like_nhs_number(value):
                        continue
                    bad.append(
                        f"{where}, column {column}: a value shaped like an NHS number (not "
                        "shown); surveys are anonymous and must not carry a patient identifier"
                    )
            if bad:  # nothing else about such a row is reported, so nothing of it is echoed
                errors.extend(bad)
                continue
            survey_id = row["survey_id"]
            if not survey_id:
                bad.append(f"{where}, column survey_id: expected a survey id, got nothing")
            team_raw = row["team"]
            team_id = by_key.get(team_raw.lower())
            if not team_raw:
                bad.append(f"{where}, column team: expected a team id or name, got nothing")
            elif team_id is None:
                if register_teams:
                    team_id = team_raw
                    unknown_teams.setdefault(team_raw, n)
                else:
                    bad.append(
                        f"{where}, column team: {_shown(team_raw)} is not a registered team "
                        "(register it first, or import with --register-teams)"
                    )
            for column in ("survey_id", "team"):
                problem = _id_problem(where, column, row[column])
                if problem:
                    bad.append(problem)
            returned = _date(row["returned_on"])
            if returned is None:
                bad.append(
                    f"{where}, column returned_on: expected a date YYYY-MM-DD, "
                    f"got {_shown(row['returned_on'])}"
                )
            elif not (EARLIEST_DATE <= returned <= self.today):
                bad.append(
                    f"{where}, column returned_on: {returned} is outside "
                    f"{EARLIEST_DATE}..{self.today}"
                )
            answers = {}
            for element in ELEMENTS:
                answer = _ANSWERS.get(row[element].lower())
                if answer is None:
                    bad.append(
                        f"{where}, column {element}: expected {_EXPECTED_ANSWER}, "
                        f"got {_shown(row[element])}"
                    )
                answers[element] = answer
            confidence, ok = _confidence(row.get("confidence", ""))
            if not ok:
                bad.append(
                    f"{where}, column confidence: expected a whole number 0 to 10 or blank, "
                    f"got {_shown(row['confidence'])}"
                )
            if bad:
                errors.extend(bad)
                continue
            content = (returned, *answers.values(), confidence)
            key = (team_id, survey_id)
            if key in seen:
                first_row, first_content = seen[key]
                if first_content != content:
                    errors.append(
                        f"{where}, column survey_id: {_shown(survey_id)} of team {team_id} already "
                        f"appears in row {first_row} with different answers"
                    )
                continue
            seen[key] = (n, content)
            try:
                survey = PatientSurveyReturned(
                    survey_id=survey_id,
                    team_id=team_id,
                    returned_on=returned,
                    confidence=confidence,
                    **answers,
                )
            except ValidationError as exc:  # a safety net: the row checks above catch it first
                errors.append(_refused_row(source, n, exc))
                continue
            parsed.append((n, survey))
        if errors:
            raise ImportRefused(errors)
        events: list[NewEvent] = []
        origin: dict[str, int] = {}
        for team, _first in unknown_teams.items():
            registered = TeamRegistered(team_id=team, name=team, site="unknown", service="unknown")
            events.append(NewEvent(registered, event_id=event_id("team", team)))
        for n, survey in parsed:
            eid = survey_event_id(survey.team_id, survey.survey_id)
            origin[eid] = n
            events.append(NewEvent(survey, event_id=eid))
        try:
            result = self.store.append_many(
                events,
                atomic=True,
                batch_size=10_000,
                metadata={"actor": self.actor, "source": f"import:{source}"},
                progress=progress,
            )
        except DuplicateEventConflict as exc:
            raise ImportRefused(
                [
                    f"{source}: row {origin.get(exc.event_id)}, column survey_id: this survey was "
                    "imported before with different answers; a survey, once recorded, is not edited"
                ]
            ) from None
        return ImportResult(
            "surveys",
            len(rows),
            result.appended,
            result.skipped,
            registered_teams=list(unknown_teams),
        )
