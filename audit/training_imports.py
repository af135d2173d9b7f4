"""``sipdash import training FILE.csv``: who was trained (ADP), and when.

Columns ``clinician,team,programme,trained_on``. Every row is checked before anything is
written (all or nothing); errors name the row as a spreadsheet numbers it, the column and what
was expected, as the consultations import does. A row is keyed by (clinician, programme): its
event id is UUID v5 of that key, so a re-import appends nothing, and a different date for a
training already recorded is refused (a training record is a fact, not something edited).
An unknown clinician, a clinician of another team and a date in the future are refused.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from pydantic import ValidationError

from events import DuplicateEventConflict, EventStore, NewEvent
from events.types import ClinicianTrained

from . import queries
from .csv_rows import RowContext, TrainingRow, separator_problem, validate_rows
from .identifiers import mask_digit_runs
from .imports import (
    ImportRefused,
    ImportResult,
    _by_row,
    _decode,
    _shown,
    event_id,
)
from .projections import Projector

TRAINING_COLUMNS = ["clinician", "team", "programme", "trained_on"]
_GUARD_MESSAGE = (
    "holds a value shaped like an NHS number (not shown); patient identifiers never belong in "
    "a training record"
)


@dataclass(frozen=True)
class _Row:
    n: int
    clinician: str
    team_id: str
    programme: str
    on: date


def training_event_id(clinician: str, programme: str) -> str:
    """The id of a clinician's training in a programme: the same whoever records it."""
    return event_id("training", clinician, programme.upper())


class TrainingImporter:
    """Validates training rows against the registered teams and clinicians, then appends."""

    def __init__(
        self,
        store: EventStore,
        *,
        projector: Projector,
        actor: str = "sipdash import",
        today: date | None = None,
    ) -> None:
        self.store = store
        self.projector = projector
        self.actor = actor
        self.today = today or date.today()

    def _known(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        by_key = queries.team_lookup(self.store.engine)
        teams = queries.teams(self.store.engine)
        names = {t.team_id: t.name for t in teams.itertuples()}
        clinicians = queries.clinician_teams(self.store.engine)
        return by_key, names, clinicians

    def _context(self, known: tuple) -> RowContext:
        by_key, names, clinicians = known
        return RowContext(today=self.today, teams=by_key, team_names=names, clinicians=clinicians)

    def _validate(
        self, rows: list[tuple[int, dict[str, str]]], source: str, known: tuple
    ) -> tuple[list[str], list[_Row]]:
        """Every row through :class:`audit.csv_rows.TrainingRow` once (the shared row loop):
        (every problem, the good rows)."""
        checked = validate_rows(
            TrainingRow,
            rows,
            source,
            context=self._context(known),
            guard_message=_GUARD_MESSAGE,
            guard_stops_row=True,
            check=TrainingRow.clinician_problem,
        )
        good = [_Row(n, r.clinician, r.team, r.programme, r.trained_on) for n, r in checked.rows]
        return checked.errors, good

    def _append(self, rows: list[_Row], source: str) -> tuple[int, int]:
        events, origin = [], {}
        for r in rows:
            eid = training_event_id(r.clinician, r.programme)
            origin[eid] = r
            try:
                ev = ClinicianTrained(
                    clinician_id=r.clinician, team_id=r.team_id, programme=r.programme, on=r.on
                )
            except ValidationError as exc:  # a safety net: _check should catch it
                fields = ", ".join(str(e["loc"][0]) for e in exc.errors(include_input=False))
                raise ImportRefused([f"{source}: row {r.n}: not accepted ({fields})"]) from None
            events.append(NewEvent(ev, event_id=eid))
        try:
            result = self.store.append_many(
                events,
                atomic=True,
                metadata={"actor": self.actor, "source": f"import:{source}"},
            )
        except DuplicateEventConflict as exc:
            first = origin.get(exc.event_id)
            what = f"row {first.n}, column trained_on" if first else "a row"
            raise ImportRefused(
                [
                    f"{source}: {what}: this clinician's training in "
                    f"{first.programme if first else 'this programme'} was recorded before with another "
                    "date, team or spelling; a training record is not edited"
                ]
            ) from None
        self.projector.catch_up()
        return result.appended, result.skipped

    def import_training(self, data: bytes, *, source: str = "training.csv") -> ImportResult:
        """Validate every row, then append all of them in one transaction (or none)."""
        source = mask_digit_runs(source)  # a file name is never refused, never shown raw
        self.projector.catch_up()
        text = _decode(data, source)
        reader = csv.reader(io.StringIO(text, newline=""))
        errors: list[str] = []
        try:
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in TRAINING_COLUMNS if c not in header]
            unknown = [c for c in header if c not in TRAINING_COLUMNS]
            doubled = sorted({c for c in header if header.count(c) > 1})
            if missing or unknown or doubled:
                hint = separator_problem(source, header)
                if hint:
                    raise ImportRefused([hint])
                parts = []
                if missing:
                    parts.append(f"missing column(s) {', '.join(missing)}")
                if unknown:
                    parts.append(f"unknown column(s) {', '.join(_shown(c) for c in unknown)}")
                if doubled:
                    parts.append(f"column(s) given twice: {', '.join(doubled)}")
                raise ImportRefused(
                    [f"{source}: row 1: {'; '.join(parts)}; expected {','.join(TRAINING_COLUMNS)}"]
                )
            rows: list[tuple[int, dict[str, str]]] = []
            for n, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    errors.append(f"{source}: row {n}: more cells than the header has columns")
                    continue
                row = dict.fromkeys(header, "")
                row.update(zip(header, (c.strip() for c in cells), strict=False))
                rows.append((n, row))
            n_rows = len(rows) + len(errors)
            problems, good = self._validate(rows, source, self._known())
            errors.extend(problems)
            parsed: list[_Row] = []
            seen: dict[tuple[str, str], _Row] = {}
            for parsed_row in good:
                key = (parsed_row.clinician, parsed_row.programme.upper())
                first = seen.get(key)
                if first is not None:
                    if (first.on, first.team_id) != (parsed_row.on, parsed_row.team_id):
                        errors.append(
                            f"{source}: row {parsed_row.n}, column trained_on: "
                            f"{_shown(parsed_row.clinician)} is already trained in "
                            f"{parsed_row.programme} in row {first.n} with another date"
                        )
                    continue
                seen[key] = parsed_row
                parsed.append(parsed_row)
        except csv.Error as exc:
            raise ImportRefused([f"{source}: not readable as CSV ({exc})"]) from None
        if errors:
            raise ImportRefused(_by_row(errors))
        if not parsed:
            raise ImportRefused([f"{source}: the file has a header but no data rows"])
        appended, skipped = self._append(parsed, source)
        return ImportResult("training", n_rows, appended, skipped)

    def record(
        self, clinician: str, team: str, programme: str, on: date, *, source: str = "form"
    ) -> ImportResult:
        """One training, as the milestones page's form records it: the same checks and the
        same id as a file row, so a form entry and a later file agree (or are refused)."""
        self.projector.catch_up()
        row = {
            "clinician": clinician.strip(),
            "team": team.strip(),
            "programme": programme.strip(),
            "trained_on": on.isoformat() if isinstance(on, date) else str(on),
        }
        problems, parsed = self._validate([(1, row)], source, self._known())
        if problems:  # a form has no rows: "form, column team: ..." as the page shows it
            raise ImportRefused(
                [p.replace(f"{source}: row 1, ", f"{source}, ", 1) for p in problems]
            )
        appended, skipped = self._append(parsed, source)
        return ImportResult("training", 1, appended, skipped)
