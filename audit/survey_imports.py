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
import io
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

from events import DuplicateEventConflict, EventStore, NewEvent
from events.elements import ELEMENTS as DEFAULT_REGISTRY
from events.elements import Registry
from events.types import ELEMENTS, PatientSurveyReturned, TeamRegistered, catalogue

from . import identifiers, queries
from .csv_rows import (
    _ANSWERS,
    RowContext,
    SurveyRow,
    separator_problem,
    survey_row_model,
    trusted,
    validate_rows,
)
from .fast_rows import _CONFIDENCE, _MISSING, SURVEY_FREE_TEXT, _Cells, _plain_id, survey_fast
from .gc_pause import paused_collector
from .imports import (
    ImportRefused,
    ImportResult,
    _csv_cells,
    _decode,
    _rows,
    _shown,
    event_id,
)

SURVEY_COLUMNS = ["survey_id", "team", "returned_on", *ELEMENTS]
OPTIONAL_COLUMNS = ["confidence"]
_GUARD_MESSAGE = (
    "a value shaped like an NHS number (not shown); surveys are anonymous and must not carry "
    "a patient identifier"
)


def looks_like_nhs_number(value: str) -> bool:
    """Whether a cell holds something shaped like an NHS number: the programme-wide
    identifier guard (:mod:`audit.identifiers`, DESIGN "Decisions": identifier guard)."""
    return identifiers.looks_like_nhs_number(value)


def masked_source(name: str) -> str:
    """A file name as stored in metadata and shown in messages: runs of 10 or more digits
    masked (:func:`audit.identifiers.mask_digit_runs`), so a file is never refused, nor an
    identifier kept, because of its name."""
    return identifiers.mask_digit_runs(name)


def survey_event_id(team_id: str, survey_id: str) -> str:
    """``imports.event_id("survey", team, survey_id)`` (UUID v5 of the pair): a survey file
    is one event per row, so this is its hot loop (:func:`audit.imports.event_id` hashes the
    namespace once and builds no ``uuid.UUID``)."""
    return event_id("survey", team_id, survey_id)


@cache
def _formats(registry: Registry) -> tuple[list[str], type[Any], type[Any]]:
    """The columns, row model and event class of a survey for a registry of enablers (the
    default registry gets the module's own)."""
    if registry.is_default:
        return SURVEY_COLUMNS, SurveyRow, PatientSurveyReturned
    names = list(registry.names)
    return (
        [*SURVEY_COLUMNS[: -len(ELEMENTS)], *names],
        survey_row_model(names),
        catalogue(registry)["PatientSurveyReturned"],
    )


def _header_problems(data: bytes, source: str, columns: list[str] = SURVEY_COLUMNS) -> list[str]:
    """Unknown, repeated and missing columns (surveys are anonymous: exactly the format)."""
    reader = csv.reader(io.StringIO(_decode(data, source), newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        return [f"{source}: row 1: not readable as CSV ({exc})"]
    allowed = columns + OPTIONAL_COLUMNS
    expected = f"expected {','.join(columns)}[,confidence]"
    hint = separator_problem(source, header)
    problems = [hint] if hint else []
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
    missing = [c for c in columns if c not in header]
    if missing:
        problems.append(f"{source}: row 1: missing column(s) {', '.join(missing)}; {expected}")
    return problems


class SurveyImporter:
    """Turns a surveys CSV into ``PatientSurveyReturned`` events in one transaction (or none)."""

    def __init__(
        self,
        store: EventStore,
        *,
        actor: str = "sipdash import",
        today: date | None = None,
        elements: Registry = DEFAULT_REGISTRY,
    ) -> None:
        """``elements``: the programme's enablers (one answer column each); the wiring passes
        its own (:meth:`audit.bootstrap.Wiring.survey_importer`)."""
        self.store = store
        self.elements = elements
        self.columns, self.row_model, self.event_class = _formats(elements)
        self.actor = actor
        self.today = today or date.today()

    def _team_lookup(self) -> dict[str, str]:
        return queries.team_lookup(self.store.engine)

    @paused_collector
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
        problems = _header_problems(data, source, self.columns)
        if problems:
            raise ImportRefused(problems)
        teams = self._team_lookup()
        fast = self._fast_file(data, source, teams, register_teams)
        if fast is not None:
            n_rows, parsed, unknown_teams = fast
        else:
            n_rows, parsed, unknown_teams = self._checked(data, source, teams, register_teams)
        return self._append(parsed, unknown_teams, source, n_rows, progress)

    def _fast_file(
        self, data: bytes, source: str, teams: dict[str, str], register_teams: bool
    ) -> tuple[int, list[tuple[int, Any]], dict[str, int]] | None:
        """The events of a file whose every row the fast checks accept (the common case),
        built straight from the CSV cells; None when anything is unusual (a blank or short
        row, a spelling the fast checks leave to the model, a repeated survey, an
        identifier-shaped id or team), and the file then goes the checked way, which words
        every refusal. Accepts only what that way accepts, with the same values."""
        read = _csv_cells(data, source)
        if read is None:
            return None
        header, at, records = read
        width = len(header)
        i_id, i_team, i_date = at["survey_id"], at["team"], at["returned_on"]
        i_conf = at.get("confidence")
        answers = [(e, at[e]) for e in self.elements.names]
        context = RowContext(today=self.today, teams=teams, register_teams=register_teams)
        memo = _Cells(context)
        spelling: dict[str, str | None] = dict(_ANSWERS)  # then each new spelling once
        unknown: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        ids: list[str] = []
        team_cells: list[str] = []
        parsed: list[tuple[int, Any]] = []
        event_class = self.event_class
        for n, raw in enumerate(records, start=2):
            if len(raw) != width:
                return None
            cells = [c.strip() for c in raw]
            survey_id, team_cell = cells[i_id], cells[i_team]
            team = memo.team(team_cell)
            returned_on = memo.date(cells[i_date])
            confidence = _CONFIDENCE.get(cells[i_conf], _MISSING) if i_conf is not None else None
            if (
                team is None
                or returned_on is None
                or confidence is _MISSING
                or not _plain_id(survey_id)
                or (team[0], survey_id) in seen
            ):
                return None
            values = {
                "survey_id": survey_id,
                "team_id": team[0],
                "returned_on": returned_on,
                "confidence": confidence,
            }
            for element, i in answers:
                cell = cells[i]
                found = spelling.get(cell, _MISSING)
                if found is _MISSING:
                    found = spelling[cell] = _ANSWERS.get(cell.lower())
                if found is None:
                    return None
                values[element] = found
            seen.add((team[0], survey_id))
            if team[1]:
                unknown.setdefault(team[0], n)
            ids.append(survey_id)
            team_cells.append(team_cell)
            # a row the row model would accept, with its values: not validated a second time
            parsed.append((n, trusted(event_class, **values)))
        # the answer, date and confidence cells accepted above cannot hold an identifier
        if looks_like_nhs_number("\n".join(ids)) or looks_like_nhs_number("\n".join(team_cells)):
            return None
        return len(records), parsed, unknown

    def _checked(
        self, data: bytes, source: str, teams: dict[str, str], register_teams: bool
    ) -> tuple[int, list[tuple[int, Any]], dict[str, int]]:
        """Every row through the row checks (fast where they can, the model otherwise),
        every problem of the file collected and refused together."""
        rows = _rows(data, source, self.columns, OPTIONAL_COLUMNS)
        context = RowContext(today=self.today, teams=teams, register_teams=register_teams)
        # anonymous: a row with an NHS-number-shaped cell is reported for that alone, so
        # nothing else of it is quoted back
        checked = validate_rows(
            self.row_model,
            rows,
            source,
            context=context,
            guard_message=_GUARD_MESSAGE,
            guard_stops_row=True,
            fast=survey_fast(self.row_model, self.elements.names, context),
            free_text=SURVEY_FREE_TEXT,
        )
        errors = [*rows.problems, *checked.errors]
        unknown_teams = context.unknown_teams
        seen: dict[tuple[str, str], tuple[int, tuple]] = {}
        parsed: list[tuple[int, PatientSurveyReturned]] = []
        for n, row in checked.rows:
            answers = {e: getattr(row, e) for e in self.elements.names}
            content = (row.returned_on, *answers.values(), row.confidence)
            key = (row.team, row.survey_id)
            if key in seen:
                first_row, first_content = seen[key]
                if first_content != content:
                    errors.append(
                        f"{source}: row {n}, column survey_id: {_shown(row.survey_id)} of team "
                        f"{row.team} already appears in row {first_row} with different answers"
                    )
                continue
            seen[key] = (n, content)
            # the row model accepts what the event type accepts: not validated a second time
            survey = trusted(
                self.event_class,
                survey_id=row.survey_id,
                team_id=row.team,
                returned_on=row.returned_on,
                confidence=row.confidence,
                **answers,
            )
            parsed.append((n, survey))
        if errors:
            raise ImportRefused(errors)
        return len(rows), parsed, unknown_teams

    def _append(
        self,
        parsed: list[tuple[int, Any]],
        unknown_teams: dict[str, int],
        source: str,
        n_rows: int,
        progress: Callable[[int], None] | None,
    ) -> ImportResult:
        """Register the new teams and append every survey in one transaction."""
        events: list[NewEvent] = []
        origin: dict[str, int] = {}
        for team in unknown_teams:
            registered = TeamRegistered(team_id=team, name=team, site="unknown", service="unknown")
            events.append(NewEvent(registered, event_id=event_id("team", team)))
        for n, survey in parsed:
            eid = event_id("survey", survey.team_id, survey.survey_id)
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
            n_rows,
            result.appended,
            result.skipped,
            registered_teams=list(unknown_teams),
        )
