"""Validated, all-or-nothing CSV imports of consultations and case-note reviews.

Every row is checked before anything is written; on any error nothing is appended and each bad
row is reported as a spreadsheet numbers it (header = row 1), with the column and what was
expected. Values are echoed to help the user, except patient identifiers, which are never shown.
Event ids are UUID v5 of the source row's key, so re-importing a file appends nothing.
An import appends; folding the new events into the read models is the caller's next step
(`Projector.catch_up`), as for every other write.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from pydantic import ValidationError

from events import AppendResult, DuplicateEventConflict, EventStore, NewEvent
from events.elements import ELEMENTS as ELEMENT_REGISTRY
from events.elements import Registry
from events.pseudonym import KeyMismatch, PatientRegistry
from events.types import (
    ELEMENTS,
    EVENT_TYPES,
    CaseNoteReviewed,
    ClinicianRegistered,
    ConsultationHeld,
    ElementNotApplicable,
    ElementRetracted,
    TeamRegistered,
    catalogue,
)

from . import identifiers, queries
from .corrections import (
    NA,
    YES,
    changed_columns,
    element_changes,
    existing_consultations,
    needs_corrections,
)
from .csv_rows import (
    MAX_ID_LENGTH,
    ConsultationRow,
    ReviewRow,
    RowContext,
    consultation_row_model,
    parse_date,
    review_row_model,
    separator_problem,
    shown,
    trusted,
    unclosed_quote,
    unclosed_quote_problem,
    validate_rows,
    yes_no,
)
from .fast_rows import (
    _MISSING,
    _QUINTILES,
    CONSULTATION_FREE_TEXT,
    _Cells,
    _plain_id,
    consultation_fast,
)
from .gc_pause import paused_collector
from .projections import Projector
from .service import check_review, reviewers_of, rounds_for
from .wording import counted

NAMESPACE = uuid.UUID("6f1c9a52-5d8e-4c61-9a53-2b7d0c3e8f10")
CONSULTATION_COLUMNS = [
    "consultation_id",
    "team",
    "clinician",
    "patient",
    "occurred_on",
    "contact",
    *ELEMENTS,
]
#: Optional consultation columns (DESIGN: CSV formats).
OPTIONAL_CONSULTATION_COLUMNS = ["imd_quintile"]
#: Optional columns a consultations file may carry (each is read, never ignored).
CONSULTATION_OPTIONAL: list[str] = OPTIONAL_CONSULTATION_COLUMNS
REVIEW_COLUMNS = ["team", "period", "consultation_id", "reviewer", *ELEMENTS]
REVIEW_OPTIONAL = ["second_review"]
MAX_BYTES = 200 * 1024 * 1024
MAX_ERRORS_SHOWN = 200
#: each enabler's "documented" event class (from the ELEMENTS registry)
_ELEMENT_EVENTS = {e.name: EVENT_TYPES[e.event_type] for e in ELEMENT_REGISTRY}


@dataclass(frozen=True)
class ElementFormats:
    """What the importers derive from a registry of enablers: the columns (one per enabler),
    the row models and the event classes. Made once per registry (:func:`formats`)."""

    registry: Registry
    consultation_columns: list[str]
    review_columns: list[str]
    consultation_row: type[Any]
    review_row: type[Any]
    #: each enabler's "documented" event class, by enabler name (classes made at run time:
    #: their fields are the registry's, so they are typed Any)
    documented: dict[str, type[Any]]
    reviewed: type[Any]
    retracted: type[Any]
    not_applicable: type[Any]


@cache
def formats(registry: Registry = ELEMENT_REGISTRY) -> ElementFormats:
    """The importers' columns, row models and event classes for ``registry`` (the default
    registry gets the module's own, so nothing changes for a three-enabler programme)."""
    if registry.is_default:
        return ElementFormats(
            registry,
            CONSULTATION_COLUMNS,
            REVIEW_COLUMNS,
            ConsultationRow,
            ReviewRow,
            _ELEMENT_EVENTS,
            CaseNoteReviewed,
            ElementRetracted,
            ElementNotApplicable,
        )
    names = list(registry.names)
    types = catalogue(registry)
    return ElementFormats(
        registry,
        [*CONSULTATION_COLUMNS[: -len(ELEMENTS)], *names],
        [*REVIEW_COLUMNS[: -len(ELEMENTS)], *names],
        consultation_row_model(names),
        review_row_model(names),
        {e.name: types[e.event_type] for e in registry},
        types["CaseNoteReviewed"],
        types["ElementRetracted"],
        types["ElementNotApplicable"],
    )


_shown = shown  # the one quoting rule (audit.csv_rows); the name other importers import


def _id_problem(where: str, column: str, value: str) -> str | None:
    """What is wrong with an id cell that the event types would refuse, or None."""
    if len(value) > MAX_ID_LENGTH:
        return f"{where}, column {column}: longer than {MAX_ID_LENGTH} characters"
    if "\n" in value or "\r" in value:
        return f"{where}, column {column}: contains a line break; expected a one-line id"
    return None


@dataclass
class ImportResult:
    """What an import did. ``appended`` includes the late documentation and the corrections,
    which are also counted on their own, so that nothing a file changed goes unmentioned."""

    kind: str
    rows: int
    appended: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    registered_teams: list[str] = field(default_factory=list)
    #: elements now yes that the log had as no (or not applicable): appended as documentation
    late_documentation: int = 0
    #: elements now no that the log had as yes (or not applicable): ``ElementRetracted``
    retracted: int = 0
    #: elements now not applicable that the log had as yes or no: ``ElementNotApplicable``
    not_applicable: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line that accounts for every kind of change (used by the CLI and the page)."""
        parts = [f"{counted(self.appended, 'event')} appended"]
        detail = []
        if self.late_documentation:
            detail.append(f"{self.late_documentation} late documentation")
        if self.retracted:
            detail.append(f"{self.retracted} retracted")
        if self.not_applicable:
            detail.append(f"{self.not_applicable} now not applicable")
        if detail:
            parts[0] += f" ({', '.join(detail)})"
        parts.append(f"{self.skipped} already present")
        return ", ".join(parts)


class ImportRefused(Exception):
    """The file was refused; ``errors`` lists every problem found. Nothing was appended."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        text = "\n".join(shown) + (f"\n… and {more} more" if more > 0 else "")
        super().__init__(text)
        self.errors = errors


_NS_BYTES = NAMESPACE.bytes
_NS_SHA1 = hashlib.sha1(_NS_BYTES)
#: the RFC 4122 variant bits applied to the hex digit of byte 8's high nibble
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def event_id(*key: str) -> str:
    """Deterministic id of an imported fact, so whoever re-imports appends nothing.

    ``uuid.uuid5(NAMESPACE, "\x1f".join(key))``, computed without building ``uuid.UUID``
    objects (an import makes one per event): the namespace is hashed once, and the version
    and variant bits are set on the hex digest."""
    sha = _NS_SHA1.copy()
    sha.update("\x1f".join(key).encode("utf-8"))
    x = sha.hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


def too_large(source: str) -> str:
    """The refusal for a file over ``MAX_BYTES`` (checked before reading it, where possible)."""
    limit = (
        f"{MAX_BYTES / (1024 * 1024):g} MB" if MAX_BYTES >= 1024 * 1024 else f"{MAX_BYTES} bytes"
    )
    return f"{source}: the file is larger than {limit}; split it into smaller files"


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _where_not_utf8(data: bytes, source: str) -> list[str]:
    """Every row (and column) holding a byte that is not UTF-8, as a spreadsheet numbers them;
    the cell itself is never shown (it may be a patient identifier)."""
    text = data.decode("utf-8-sig", errors="surrogateescape")
    fix = "is not UTF-8 text; save the file as CSV UTF-8"
    found: list[str] = []
    try:
        header: list[str] = []
        for n, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if n == 1:
                header = [h.strip() for h in cells]
            for i, cell in enumerate(cells):
                if _NOT_UTF8.search(cell):
                    name = header[i] if i < len(header) and not _NOT_UTF8.search(header[i]) else ""
                    column = name or f"{i + 1}"
                    found.append(f"{source}: row {n}, column {column}: a byte {fix}")
    except csv.Error:
        found = []
    if not found:  # not readable as CSV once decoded: name the line at least
        bad = _NOT_UTF8.search(text)
        line = text.count("\n", 0, bad.start() if bad else 0) + 1
        found.append(f"{source}: row {line}: a byte {fix}")
    return found


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise ImportRefused([too_large(source)])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(_where_not_utf8(data, source)) from None
    if not text.strip():
        raise ImportRefused([f"{source}: the file is empty; expected a header row and data rows"])
    return text


def _csv_cells(
    data: bytes, source: str
) -> tuple[list[str], dict[str, int], list[list[str]]] | None:
    """A fast path's view of a CSV file: its stripped header, each column's index and the raw
    data rows; None when it does not read as CSV or has no data rows (the checked way then
    words what is wrong)."""
    reader = csv.reader(io.StringIO(_decode(data, source), newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
        records = list(reader)
    except csv.Error:
        return None
    if not records:
        return None
    return header, {c: i for i, c in enumerate(header)}, records


def _header_problems(
    source: str, header: list[str], required: list[str], optional: list[str]
) -> list[str]:
    """Missing, unknown and repeated columns: a column the import would not read is refused,
    never ignored, and a repeated one would leave which cell counts to chance."""
    hint = separator_problem(source, header)
    problems = [hint] if hint else []
    missing = [c for c in required if c not in header]
    if missing:
        problems.append(
            f"{source}: row 1: missing column(s) {', '.join(missing)}; expected {', '.join(required)}"
        )
    allowed = set(required) | set(optional)
    unknown = [h for h in header if h not in allowed]
    if unknown:
        names = ", ".join(_shown(h) for h in dict.fromkeys(unknown))
        extra = f" (optional: {', '.join(optional)})" if optional else ""
        problems.append(
            f"{source}: row 1: unknown column(s) {names}; expected {', '.join(required)}{extra}"
        )
    for name in dict.fromkeys(h for h in header if header.count(h) > 1 and h in allowed):
        at = [str(i + 1) for i, h in enumerate(header) if h == name]
        problems.append(
            f"{source}: row 1: column {name} appears more than once (columns {', '.join(at)}); "
            "keep one"
        )
    return problems


def _rows(
    data: bytes, source: str, required: list[str], optional: list[str] | None = None
) -> CsvRows:
    """``(spreadsheet row number, {column: stripped cell})`` for every non-blank data row.

    Rows are numbered as a spreadsheet shows the file: one row per CSV record (a quoted cell
    may span lines), blank lines included, the header being row 1."""
    text = _decode(data, source)
    reader = csv.reader(io.StringIO(text, newline=""))
    reading = 1  # the row a CSV syntax error would be in
    rows = CsvRows()
    ragged = rows.problems
    last: tuple[int, list[str]] | None = None
    try:
        header = [h.strip() for h in next(reader, [])]
        problems = _header_problems(source, header, required, optional or [])
        if problems:
            raise ImportRefused(problems)
        reading = 2
        width = len(header)
        for n, cells in enumerate(reader, start=2):
            reading = n + 1
            last = (n, cells)
            if len(cells) > width:  # said, and the rest of the file still checked
                ragged.append(f"{source}: row {n}: more cells than the header has columns")
                continue
            stripped = [c.strip() for c in cells]
            if not any(stripped):
                continue
            if len(stripped) < width:  # short rows: the missing cells are empty
                stripped += [""] * (width - len(stripped))
            rows.append((n, dict(zip(header, stripped, strict=True))))
        if last and any("\n" in c or "\r" in c for c in last[1]) and unclosed_quote(text):
            rows[:] = [row for row in rows if row[0] != last[0]]  # not a row: said instead
            ragged.append(unclosed_quote_problem(source, last[0]))
    except csv.Error as exc:
        what = str(exc)
        if "field larger than field limit" in what:
            what = f"a cell is longer than {csv.field_size_limit()} characters"
        raise ImportRefused([f"{source}: row {reading}: not readable as CSV ({what})"]) from None
    if not rows:
        raise ImportRefused(ragged or [f"{source}: the file has a header but no data rows"])
    return rows


class CsvRows(list):
    """A file's data rows, ``(row number, {column: cell})``, and ``problems``: the rows that
    are not rows of the table at all (more cells than the header), each said once and left
    out, so the checks of every other row still run and the file's refusal lists them all."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []


def _refused_row(source: str, n: int, exc: ValidationError) -> str:
    """A row the event types refuse, naming the fields but never echoing the values."""
    fields = ", ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        for err in exc.errors(include_input=False)
    )
    return f"{source}: row {n}: not accepted ({fields})"


def _yes_no(value: str, allow_na: bool) -> str | None:
    return yes_no(value, allow_na)


def _date(value: str) -> date | None:
    return parse_date(value)


class Importer:
    """Turns CSV files into events through the store's bulk path, one transaction per file."""

    def __init__(
        self,
        store: EventStore,
        registry: PatientRegistry,
        *,
        projector: Projector,
        demo_key: bool = False,
        actor: str = "sipdash import",
        today: date | None = None,
        elements: Registry | None = None,
    ) -> None:
        """``projector``: the wired one (:func:`audit.bootstrap.bootstrap`), never a hidden
        default, so an importer folds into the read models the rest of the run reads.
        ``elements``: the programme's enablers (the columns read, the events made); by default
        the projector's, so an importer never writes enablers its read models lack."""
        self.store = store
        self.registry = registry
        self.demo_key = demo_key
        self.projector = projector
        self.elements = elements or self.projector.registry
        if self.projector.registry != self.elements:
            raise ValueError("the importer's enablers differ from its projector's")
        self.formats = formats(self.elements)
        self.actor = actor
        self.today = today or date.today()

    def _team_lookup(self) -> dict[str, str]:
        return queries.team_lookup(self.store.engine)

    # -- consultations --

    @paused_collector
    def import_consultations(
        self,
        data: bytes,
        *,
        source: str = "consultations.csv",
        register_teams: bool = False,
        corrections: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """Validate every row, then append all events in one transaction (or none).

        A consultation already in the log is compared with the row: late documentation is
        appended; a yes taken back (or a change to or from not applicable) is refused unless
        ``corrections``; a change to any other column is always refused (module
        :mod:`audit.corrections`)."""
        source = identifiers.mask_digit_runs(source)
        self._check_key(source)
        self.projector.catch_up()
        teams = self._team_lookup()
        fast = self._fast_consultations(data, source, teams, register_teams)
        if fast is None:
            fast = self._checked_consultations(data, source, teams, register_teams)
        n_rows, parsed, unknown_teams = fast
        return self._append_consultations(
            parsed, unknown_teams, source, n_rows, progress, corrections
        )

    def _fast_consultations(
        self, data: bytes, source: str, teams: dict[str, str], register_teams: bool
    ) -> tuple[int, list[tuple], dict[str, int]] | None:
        """The rows of a file whose every row the fast checks accept (the common case), read
        straight from the CSV cells; None when anything is unusual (a header problem, a blank
        or short row, a spelling the fast checks leave to the model, a repeated consultation,
        an identifier-shaped id, team or clinician), and the file then goes the checked way,
        which words every refusal. Accepts only what that way accepts, with the same values
        (:mod:`audit.fast_rows`)."""
        fmt = self.formats
        read = _csv_cells(data, source)
        if read is None:
            return None
        header, at, records = read
        if _header_problems(source, header, fmt.consultation_columns, CONSULTATION_OPTIONAL):
            return None
        width = len(header)
        i_id, i_team, i_clin = at["consultation_id"], at["team"], at["clinician"]
        i_patient, i_date, i_contact = at["patient"], at["occurred_on"], at["contact"]
        i_imd = at.get("imd_quintile")
        elements = [(e, at[e]) for e in fmt.registry.names]
        context = RowContext(
            today=self.today, teams=teams, register_teams=register_teams, demo_key=self.demo_key
        )
        memo = _Cells(context)
        unknown: dict[str, int] = {}
        seen: set[str] = set()
        free: list[str] = []
        parsed: list[tuple] = []
        for n, raw in enumerate(records, start=2):
            if len(raw) != width:
                return None
            cells = [c.strip() for c in raw]
            cid, team_cell, clinician = cells[i_id], cells[i_team], cells[i_clin]
            team = memo.team(team_cell)
            who = memo.patient(cells[i_patient])
            occurred = memo.date(cells[i_date])
            contact = memo.contact(cells[i_contact])
            imd = _QUINTILES.get(cells[i_imd], _MISSING) if i_imd is not None else None
            if (
                team is None
                or who is None
                or occurred is None
                or contact is None
                or imd is _MISSING
                or not (_plain_id(cid) and _plain_id(clinician))
                or cid in seen
            ):
                return None
            findings = {}
            for element, i in elements:
                found = memo.finding(cells[i])
                if found is None:
                    return None
                findings[element] = found
            seen.add(cid)
            if team[1]:
                unknown.setdefault(team[0], n)
            free += (cid, team_cell, clinician)
            parsed.append(
                (n, cid, team[0], clinician, who.canonical, occurred, contact, findings, imd)
            )
        # the closed cells accepted above cannot hold an identifier; the patient is a patient
        if identifiers.looks_like_nhs_number("\n".join(free)):
            return None
        return len(records), parsed, unknown

    def _checked_consultations(
        self, data: bytes, source: str, teams: dict[str, str], register_teams: bool
    ) -> tuple[int, list[tuple], dict[str, int]]:
        """Every row through the row checks (fast where they can, the model otherwise),
        every problem of the file collected and refused together."""
        fmt = self.formats
        rows = _rows(data, source, fmt.consultation_columns, CONSULTATION_OPTIONAL)
        context = RowContext(
            today=self.today,
            teams=teams,
            register_teams=register_teams,
            demo_key=self.demo_key,
        )
        checked = validate_rows(
            fmt.consultation_row,
            rows,
            source,
            context=context,
            guard_skip=("patient",),
            fast=consultation_fast(fmt.consultation_row, fmt.registry.names, context),
            free_text=CONSULTATION_FREE_TEXT,
        )
        errors = [*rows.problems, *checked.errors]
        unknown_teams = context.unknown_teams
        seen: dict[str, tuple[int, tuple]] = {}
        parsed = []
        for n, row in checked.rows:
            cid = row.consultation_id
            findings = {e: getattr(row, e) for e in fmt.registry.names}
            canonical = row.patient.canonical
            content = (
                row.team,
                row.clinician,
                canonical,
                row.occurred_on,
                row.contact,
                tuple(findings.values()),
                row.imd_quintile,
            )
            if cid in seen:
                first_row, first_content = seen[cid]
                if first_content != content:
                    errors.append(
                        f"{source}: row {n}, column consultation_id: {_shown(cid)} already "
                        f"appears in row {first_row} with different content"
                    )
                continue
            seen[cid] = (n, content)
            parsed.append(
                (
                    n,
                    cid,
                    row.team,
                    row.clinician,
                    canonical,
                    row.occurred_on,
                    row.contact,
                    findings,
                    row.imd_quintile,
                )
            )
        if errors:
            raise ImportRefused(_by_row(errors))
        return len(rows), parsed, unknown_teams

    def _changes_to_existing(
        self, parsed: list, hashes: dict[str, str], conn, source: str, corrections: bool
    ) -> tuple[dict[str, list[tuple[str, str, str]]], dict[str, int], list[str]]:
        """For consultations already in the log: the element changes each row makes, the
        stream version of every one (what its corrections follow), and every refusal (named by
        row and column)."""
        existing = existing_consultations(self.store, [p[1] for p in parsed], self.elements)
        if not existing:
            return {}, {}, []
        ours = [p for p in parsed if p[1] in existing]
        known = self.registry.tokens_for([hashes[p[4]] for p in ours], conn, create=False)
        changes: dict[str, list[tuple[str, str, str]]] = {}
        versions: dict[str, int] = {}
        errors: list[str] = []
        for n, cid, team_id, clinician, canonical, occurred, contact, findings, imd in ours:
            where = f"{source}: row {n}"
            was = existing[cid]
            for column in changed_columns(
                was,
                team_id=team_id,
                clinician_id=clinician,
                patient_ref=known.get(hashes[canonical]),
                occurred_on=occurred.isoformat(),
                contact=contact,
                imd_quintile=imd,
            ):
                errors.append(
                    f"{where}, column {column}: consultation {_shown(cid)} is already in the log "
                    f"with a different {column}; a consultation's team, clinician, patient, date, "
                    "contact and IMD quintile cannot be changed by a re-import"
                )
            moved = element_changes(was, findings)
            for element, before, now in moved:
                if needs_corrections(before, now) and not corrections:
                    errors.append(
                        f"{where}, column {element}: now {_SAID[now]} but the log has "
                        f"{_SAID[before]} for {_shown(cid)}; this is a correction: import with "
                        "--corrections (on the import page: tick 'apply corrections') to record it"
                    )
            versions[cid] = was.version
            if moved:
                changes[cid] = moved
        return changes, versions, errors

    def _check_key(self, source: str, *, record: bool = False) -> NewEvent | None:
        """Refuse a pseudonym key other than the database's; with ``record``, the event that
        records this key's check value if none is yet (the first write that uses a key)."""
        try:
            if record:
                return self.registry.key_event(self.store)
            self.registry.check_key(self.store)
        except KeyMismatch as exc:
            raise ImportRefused([f"{source}: {exc}"]) from None
        return None

    def _append_consultations(  # noqa: C901 - the next to split (ADR 0006)
        self, parsed, unknown_teams, source, n_rows, progress, corrections=False
    ) -> ImportResult:
        registry = self.registry
        registry.ensure_schema()
        key_event = self._check_key(source, record=True)
        # each patient hashed once (a patient has many consultations in a file)
        hashes = registry.hashes_for(list(dict.fromkeys(p[4] for p in parsed)))
        with registry.transaction() as conn:
            gone = registry.forgotten(list(hashes.values()), conn)
            if gone:
                bad = [
                    f"{source}: row {p[0]}, column patient: this patient asked to be forgotten; "
                    "their records cannot be imported again: delete this row from the file (an "
                    "extract made before the request still holds it) and import the rest"
                    for p in parsed
                    if hashes[p[4]] in gone
                ]
                raise ImportRefused(bad)
            changes, versions, refusals = self._changes_to_existing(
                parsed, hashes, conn, source, corrections
            )
            if refusals:
                raise ImportRefused(refusals)
            tokens = registry.tokens_for(list(hashes.values()), conn, create=True)
        known_clinicians = set(queries_clinicians(self.store))
        in_log = set(versions)
        fmt = self.formats
        events: list[NewEvent] = []
        origin: dict[str, int] = {}
        counts = {"late": 0, "retracted": 0, "na": 0, "unchanged": 0}
        midnight: dict[date, datetime] = {}
        n = 0
        try:
            for team, first_row in unknown_teams.items():
                n = first_row
                ev = TeamRegistered(team_id=team, name=team, site="unknown", service="unknown")
                events.append(NewEvent(ev, event_id=event_id("team", team)))
            for n, cid, team_id, clinician, canonical, occurred, contact, findings, imd in parsed:
                if clinician not in known_clinicians:
                    known_clinicians.add(clinician)
                    eid = event_id("clinician", clinician)
                    origin[eid] = n
                    events.append(
                        NewEvent(
                            ClinicianRegistered(
                                clinician_id=clinician, team_id=team_id, role="clinician"
                            ),
                            event_id=eid,
                        )
                    )
                # built from a validated row (audit.csv_rows accepts what the event type
                # accepts) and a token the registry issued: not validated a second time
                held = trusted(
                    ConsultationHeld,
                    consultation_id=cid,
                    team_id=team_id,
                    clinician_id=clinician,
                    patient_ref=tokens[hashes[canonical]],
                    occurred_on=occurred,
                    contact=contact,
                    imd_quintile=imd,
                )
                eid = event_id("consultation", cid, "ConsultationHeld")
                origin[eid] = n
                # the event's natural time, given rather than looked up per event
                at = midnight.get(occurred) or midnight.setdefault(occurred, _midnight(occurred))
                events.append(NewEvent(held, occurred_at=at, event_id=eid))
                if cid in changes or cid in in_log:
                    moved = changes.get(cid, [])
                    counts["unchanged"] += sum(
                        1
                        for e, v in findings.items()
                        if v != "no" and e not in {m[0] for m in moved}
                    )
                    version = versions.get(cid, 0)
                    for k, (element, _before, now) in enumerate(moved):
                        after = f"after-v{version + k}"
                        eid = event_id("consultation", cid, element, now, after)
                        origin[eid] = n
                        events.append(
                            NewEvent(_state_event(fmt, cid, element, now, occurred), event_id=eid)
                        )
                        counts["late" if now == YES else "na" if now == NA else "retracted"] += 1
                    continue
                for element, value in findings.items():
                    if value == "yes":
                        cls = fmt.documented[element]
                        eid = event_id("consultation", cid, cls.type)
                        origin[eid] = n
                        events.append(
                            NewEvent(
                                trusted(cls, consultation_id=cid, documented_on=occurred),
                                occurred_at=at,
                                event_id=eid,
                            )
                        )
                    elif value == NA:
                        eid = event_id("consultation", cid, "ElementNotApplicable", element)
                        origin[eid] = n
                        events.append(
                            NewEvent(
                                trusted(
                                    fmt.not_applicable,
                                    consultation_id=cid,
                                    element=element,
                                    reason="",
                                ),
                                event_id=eid,
                            )
                        )
        except ValidationError as exc:  # a safety net: the row checks above should catch it
            raise ImportRefused([_refused_row(source, n, exc)]) from None
        if key_event is not None:
            events.append(key_event)
        try:
            try:
                result = self._append_all(events, source, progress)
            except DuplicateEventConflict as exc:
                if key_event is None or exc.event_id != key_event.event_id:
                    raise
                # another import recorded this key's check a moment ago (nothing of this one
                # was appended): confirm it is the same key, then append without it
                self._check_key(source)
                result = self._append_all(events[:-1], source, progress)
        except DuplicateEventConflict as exc:
            row = origin.get(exc.event_id)
            raise ImportRefused(
                [
                    f"{source}: row {row}, column consultation_id: this consultation was imported "
                    "before with different content; a correction must be a new event, not an edit"
                ]
            ) from None
        return ImportResult(
            "consultations",
            n_rows,
            result.appended,
            result.skipped + counts["unchanged"],
            registered_teams=list(unknown_teams),
            late_documentation=counts["late"],
            retracted=counts["retracted"],
            not_applicable=counts["na"],
        )

    def _append_all(self, events: list[NewEvent], source: str, progress) -> AppendResult:
        return self.store.append_many(
            events,
            atomic=True,
            batch_size=10_000,
            metadata={"actor": self.actor, "source": f"import:{source}"},
            progress=progress,
        )

    # -- reviews --

    @paused_collector
    def import_reviews(
        self,
        data: bytes,
        *,
        source: str = "reviews.csv",
        progress: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """Validate every row (the review rules of :func:`audit.service.check_review` included,
        earlier rows of the file counting as reviews already made), then append all or none."""
        source = identifiers.mask_digit_runs(source)
        self.projector.catch_up()
        fmt = self.formats
        rows = _rows(data, source, fmt.review_columns, REVIEW_OPTIONAL)
        context = RowContext(today=self.today, teams=self._team_lookup())
        checked = validate_rows(fmt.review_row, rows, source, context=context)
        open_rounds: dict[tuple[str, str], list] = {}
        for r in rounds_for(self.store.engine):
            if r.closed_at is None:
                open_rounds.setdefault((r.team_id, r.period), []).append(r)
        errors: list[str] = [*rows.problems, *checked.errors]
        events: list[NewEvent] = []
        origin: dict[str, int] = {}
        seen: dict[str, tuple[int, tuple[str, ...]]] = {}
        reviewers: dict[str, dict[tuple[str, bool], set[str]]] = {}
        for n, valid in checked.rows:
            where = f"{source}: row {n}"
            team_id, period = valid.team, valid.period
            row = {"consultation_id": valid.consultation_id, "reviewer": valid.reviewer}
            findings = {e: getattr(valid, e) for e in fmt.registry.names}
            candidates = [
                r
                for r in open_rounds.get((team_id, period), [])
                if row["consultation_id"] in r.sampled
            ]
            if not candidates:
                errors.append(
                    f"{where}, column consultation_id: {_shown(row['consultation_id'])} is not "
                    f"in an open audit round of {team_id} for {period}"
                )
                continue
            round_ = candidates[-1]
            is_second = valid.second_review
            key = (round_.round_id, row["consultation_id"], row["reviewer"], str(is_second))
            eid = event_id("review", *key)
            content = tuple(findings.values())
            if eid in seen:
                first_row, first_content = seen[eid]
                if first_content != content:
                    errors.append(
                        f"{where}, column consultation_id: the same review of "
                        f"{_shown(row['consultation_id'])} by {_shown(row['reviewer'])} is in row "
                        f"{first_row} with different findings; keep one of rows {first_row} and {n}"
                    )
                continue
            if round_.round_id not in reviewers:
                reviewers[round_.round_id] = reviewers_of(self.store.engine, round_.round_id)
            known = reviewers[round_.round_id]
            rule = check_review(round_, row["consultation_id"], row["reviewer"], is_second, known)
            if rule and not self._stored(eid):
                column = "reviewer" if "someone other than" in rule else "second_review"
                if "not in the sample" in rule:
                    column = "consultation_id"
                errors.append(f"{where}, column {column}: {rule}")
                continue
            known.setdefault((row["consultation_id"], is_second), set()).add(row["reviewer"])
            seen[eid] = (n, content)
            origin[eid] = n
            try:
                review = fmt.reviewed(
                    round_id=round_.round_id,
                    consultation_id=row["consultation_id"],
                    reviewer_id=row["reviewer"],
                    second_review=is_second,
                    **findings,
                )
            except ValidationError as exc:  # the round's own id: the row model checked the rest
                errors.append(_refused_row(source, n, exc))
                continue
            events.append(NewEvent(review, event_id=eid))
        if errors:
            raise ImportRefused(_by_row(errors))
        try:
            result = self.store.append_many(
                events,
                atomic=True,
                metadata={"actor": self.actor, "source": f"import:{source}"},
                progress=progress,
            )
        except DuplicateEventConflict as exc:
            raise ImportRefused(
                [
                    f"{source}: row {origin.get(exc.event_id)}: this review was imported before with "
                    "different findings; a correction must be a new review"
                ]
            ) from None
        return ImportResult("reviews", len(rows), result.appended, result.skipped)

    def _stored(self, eid: str) -> bool:
        """Whether the event is in the log already (a re-import of an accepted review)."""
        return queries.event_stored(self.store.engine, eid)


_SAID = {"yes": "yes", "no": "no", "not_applicable": "na"}


def _state_event(fmt: ElementFormats, cid: str, element: str, now: str, occurred: date):
    """The event that puts ``element`` of ``cid`` into state ``now``."""
    if now == YES:
        # a class made from the registry: its fields are known at run time only
        return fmt.documented[element].model_validate(
            {"consultation_id": cid, "documented_on": occurred}
        )
    if now == NA:
        return fmt.not_applicable(consultation_id=cid, element=element, reason="import")
    return fmt.retracted(consultation_id=cid, element=element, reason="corrected by import")


def _midnight(day: date) -> datetime:
    """``day`` as the store stores a date's time (midnight UTC), made once per date."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _guard(rows: list[tuple[int, dict[str, str]]], source: str, skip: str = "") -> list[str]:
    """The identifier guard over every column but ``skip`` (one regex pass per column)."""
    columns = [c for c in (rows[0][1] if rows else {}) if c != skip]
    return identifiers.refuse_in_columns(rows, columns, source)


def _by_row(errors: list[str]) -> list[str]:
    """Errors in row order (stable: a row's own problems keep their order)."""

    def row(message: str) -> int:
        found = re.search(r": row (\d+)", message)
        return int(found.group(1)) if found else 0

    return sorted(errors, key=row)


def queries_clinicians(store: EventStore) -> list[str]:
    """The registered clinicians' ids (``audit.queries.clinician_teams``)."""
    return list(queries.clinician_teams(store.engine))
