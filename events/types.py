"""The event catalogue: frozen, validated, past-tense facts.

Every fact sipdash knows is one of these types. They are pydantic models so a bad field is
refused with a message naming the field *before* anything is written; they are frozen because
a fact, once recorded, never changes (a correction is a new event).
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from .elements import ELEMENTS as DEFAULT_REGISTRY
from .elements import Registry

__all__ = [
    "ELEMENTS",
    "EVENT_TYPES",
    "MEASURES",
    "PROGRAMME",
    "Event",
    "EventValidationError",
    "UnknownEventType",
    "catalogue",
    "event_class",
    "parse_event",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(value: str) -> str:
    """Refuse control characters in ids and names: a ``\x1f`` or newline could blur a field
    boundary in the row hash, and nobody can read them."""
    if _CONTROL.search(value):
        raise ValueError("must be printable text: no control characters (tab, newline, …)")
    return value


Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_printable),
]
Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Text = Annotated[str, StringConstraints(max_length=20_000)]
Proportion = Annotated[float, Field(ge=0.0, le=1.0)]
Finding = Literal["yes", "no", "not_applicable"]
#: Static names of the default registry's enablers and measures (for type hints only: the
#: event classes take theirs from the registry, see :func:`catalogue`).
Element = Literal["agenda_setting", "goal_setting", "follow_up"]
Measure = Literal["agenda_setting", "goal_setting", "follow_up", "all_three"]
MilestoneKind = Literal["sip_start", "adp_training", "change_idea", "pdsa_cycle", "note"]
Contact = Literal["face_to_face", "telephone", "video"]
SurveyAnswer = Literal["yes", "no", "not_sure", "doesnt_apply", "blank"]

#: The default registry's enabler names and measure ids (events.elements is the source).
ELEMENTS: tuple[str, ...] = DEFAULT_REGISTRY.names
MEASURES: tuple[str, ...] = DEFAULT_REGISTRY.measures

#: The reserved team subject of programme-level facts (a programme review's sign-off): a team
#: can never be registered under it, so ``team-_programme`` is the programme's own stream.
PROGRAMME = "_programme"

#: The deprivation index ``ConsultationHeld.imd_quintile`` is read against (DESIGN: "Surveys,
#: training, deprivation"); shown wherever quintiles are.
IMD_VERSION = "English Indices of Deprivation 2019"

#: The earliest and latest dates a fact may carry; anything outside is a typo, not history.
EARLIEST_DATE = date(1990, 1, 1)
LATEST_DATE = date(2100, 12, 31)


class UnknownEventType(ValueError):
    """Raised for a type name that is not in the catalogue."""


class EventValidationError(ValueError):
    """A payload that does not fit its type; the message names the type and every bad field."""


def _check_date(value: date, field: str) -> date:
    if not (EARLIEST_DATE <= value <= LATEST_DATE):
        raise ValueError(f"{field} must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


class Event(BaseModel):
    """Base of every event type: a frozen payload plus the rule naming its stream."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    stream_prefix: ClassVar[str]
    stream_key: ClassVar[str]

    @property
    def stream_id(self) -> str:
        """The stream this fact belongs to, e.g. ``team-msk1``."""
        return f"{self.stream_prefix}-{getattr(self, self.stream_key)}"

    def payload(self) -> dict[str, Any]:
        """The JSON-ready payload (dates as ISO strings)."""
        return self.model_dump(mode="json")

    def natural_time(self) -> date | None:
        """When the fact happened in the world, where the payload says so."""
        for name in ("occurred_on", "documented_on", "on"):
            value = getattr(self, name, None)
            if isinstance(value, date):
                return value
        return None

    def model_post_init(self, __context: Any) -> None:
        for name, value in self.__dict__.items():
            if isinstance(value, date):
                _check_date(value, name)


# --- team stream -----------------------------------------------------------------------------


class _TeamEvent(Event):
    stream_prefix: ClassVar[str] = "team"
    stream_key: ClassVar[str] = "team_id"
    team_id: Identifier


class TeamRegistered(_TeamEvent):
    type: ClassVar[str] = "TeamRegistered"
    name: Identifier
    site: Identifier
    service: Identifier

    @field_validator("team_id")
    @classmethod
    def _not_the_programme(cls, value: str) -> str:
        if value == PROGRAMME:
            raise ValueError(f"{PROGRAMME!r} is reserved for programme-level facts")
        return value


class MilestoneLogged(_TeamEvent):
    type: ClassVar[str] = "MilestoneLogged"
    on: date
    kind: MilestoneKind
    title: Annotated[str, StringConstraints(min_length=1, max_length=300)]


class _BaselineFixed(_TeamEvent):
    """Limits for ``measure`` are computed from periods up to and including ``period``."""

    type: ClassVar[str] = "BaselineFixed"


class _LimitsRecalculated(_TeamEvent):
    """New limits for ``measure`` start at ``period`` (an explicit, never automatic, decision)."""

    type: ClassVar[str] = "LimitsRecalculated"


class _TargetSet(_TeamEvent):
    """From ``from_period`` on, ``measure``'s target is ``target``."""

    type: ClassVar[str] = "TargetSet"


class CommentaryAdded(_TeamEvent):
    type: ClassVar[str] = "CommentaryAdded"
    period: Period
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    author: Identifier


class CommentaryWithdrawn(_TeamEvent):
    """A commentary taken back: ``commentary_event_id`` names the ``CommentaryAdded`` it withdraws.
    The current commentary of a team and period is the latest one not withdrawn."""

    type: ClassVar[str] = "CommentaryWithdrawn"
    period: Period
    commentary_event_id: Identifier
    withdrawn_by: Identifier
    reason: Text = ""


class ReviewSignedOff(_TeamEvent):
    """A review signed off (v2: with the head hash of the log the signer was viewing, the
    external anchor of what was signed; ``team_id`` = :data:`PROGRAMME` for a programme review).
    v1 events read with ``viewed_head`` None."""

    type: ClassVar[str] = "ReviewSignedOff"
    schema_version: ClassVar[int] = 2
    period: Period
    signed_off_by: Identifier
    viewed_head: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{12,64}$")] | None = None


# --- clinician stream ------------------------------------------------------------------------


class _ClinicianEvent(Event):
    stream_prefix: ClassVar[str] = "clinician"
    stream_key: ClassVar[str] = "clinician_id"
    clinician_id: Identifier


class ClinicianRegistered(_ClinicianEvent):
    type: ClassVar[str] = "ClinicianRegistered"
    team_id: Identifier
    role: Identifier
    display_name: str | None = None


class ClinicianTrained(_ClinicianEvent):
    type: ClassVar[str] = "ClinicianTrained"
    team_id: Identifier
    programme: Identifier = "ADP"
    on: date


# --- consultation stream ---------------------------------------------------------------------


class _ConsultationEvent(Event):
    stream_prefix: ClassVar[str] = "consultation"
    stream_key: ClassVar[str] = "consultation_id"
    consultation_id: Identifier


class ConsultationHeld(_ConsultationEvent):
    type: ClassVar[str] = "ConsultationHeld"
    team_id: Identifier
    clinician_id: Identifier
    patient_ref: Annotated[str, StringConstraints(pattern=r"^p_[0-9a-f]{16,64}$")]
    occurred_on: date
    contact: Contact
    #: National quintile of the patient's area (English Indices of Deprivation 2019; 1 = most
    #: deprived). Optional and ABSENT from the payload when not given (never ``null``), so
    #: events written before the field existed, and re-imports of files without the column,
    #: keep exactly the payload (and the event id's content) they always had.
    imd_quintile: Annotated[int, Field(ge=1, le=5, strict=True)] | None = None

    def payload(self) -> dict[str, Any]:
        data = super().payload()
        if data.get("imd_quintile") is None:
            data.pop("imd_quintile", None)
        return data


class _Documented(_ConsultationEvent):
    """The case note documents one enabler: one such type per enabler of the registry (its
    ``event_type``, e.g. ``AgendaSet``), with the date it was documented."""


class _ElementRetracted(_ConsultationEvent):
    """A correction: the case note did not, after all, document ``element``."""

    type: ClassVar[str] = "ElementRetracted"


class _ElementNotApplicable(_ConsultationEvent):
    """``element`` does not apply to this consultation (e.g. follow-up for a discharged
    patient): the note leaves that element's census denominator (and the bundle's); it never
    counts as "no". A later ``AgendaSet``/... or ``ElementRetracted`` replaces it (ADR 0007)."""

    type: ClassVar[str] = "ElementNotApplicable"


# --- audit stream ----------------------------------------------------------------------------


class _AuditEvent(Event):
    stream_prefix: ClassVar[str] = "audit"
    stream_key: ClassVar[str] = "round_id"
    round_id: Identifier


class AuditRoundOpened(_AuditEvent):
    type: ClassVar[str] = "AuditRoundOpened"
    team_id: Identifier
    period: Period
    method: Literal["sample", "census"]
    sample_size: Annotated[int, Field(ge=0, le=100_000)]
    sampling_seed: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    sampled: tuple[Identifier, ...]
    second_review_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1


class _CaseNoteReviewed(_AuditEvent):
    """One reviewer's findings for one sampled note, one field per enabler (v2:
    yes/no/not_applicable)."""

    type: ClassVar[str] = "CaseNoteReviewed"
    schema_version: ClassVar[int] = 2


class AuditRoundClosed(_AuditEvent):
    type: ClassVar[str] = "AuditRoundClosed"


# --- survey stream ---------------------------------------------------------------------------


class _PatientSurveyReturned(Event):
    """One anonymous patient survey: the patient's own view of each enabler (one answer field
    per enabler of the registry).

    Keyed by (team, survey_id): survey numbers are only unique within a team's batch of forms,
    so the stream is ``survey-<team>-<survey_id>``. There is deliberately no patient field at
    all; ``confidence`` (0-10, confidence to manage one's own health) is absent when blank.
    """

    type: ClassVar[str] = "PatientSurveyReturned"
    stream_prefix: ClassVar[str] = "survey"
    stream_key: ClassVar[str] = "survey_id"
    # the fields every registry shares; the answers (one per enabler) and ``confidence``
    # follow them, added by :func:`catalogue` (same field order, so the same payload bytes)
    survey_id: Identifier
    team_id: Identifier
    returned_on: date

    @property
    def stream_id(self) -> str:
        return f"survey-{self.team_id}-{self.survey_id}"

    def payload(self) -> dict[str, Any]:
        """As the base, but a blank confidence is absent rather than ``null``. Built from the
        fields directly (text, one date, a whole number: exactly ``model_dump(mode="json")``,
        ``tests/unit/test_fast_rows.py``), a survey import's one event per row."""
        data = {k: v.isoformat() if type(v) is date else v for k, v in self.__dict__.items()}
        if data.get("confidence") is None:
            data.pop("confidence", None)
        return data

    def natural_time(self) -> date | None:
        return self.returned_on


# --- governance stream -----------------------------------------------------------------------


class _GovernanceEvent(Event):
    stream_prefix: ClassVar[str] = "governance"
    stream_key: ClassVar[str] = "subject"
    subject: Identifier


class PatientForgotten(_GovernanceEvent):
    """A patient's pseudonym mapping was erased; the event carries the token, never the id."""

    type: ClassVar[str] = "PatientForgotten"
    patient_ref: Annotated[str, StringConstraints(pattern=r"^p_[0-9a-f]{16,64}$")]
    requested_by: Identifier


class ExportRecorded(_GovernanceEvent):
    """Someone took data out of sipdash (a review pack or a table download)."""

    type: ClassVar[str] = "ExportRecorded"
    what: Identifier
    as_of: str | None = None
    head_hash: str | None = None


# --- programme stream ------------------------------------------------------------------------


class SpcSettingsChanged(Event):
    """The programme's SPC settings from now on: a decision recorded like any other, so an
    as-of view (and a pack rebuilt from an old head) reproduces the rules it was judged by."""

    type: ClassVar[str] = "SpcSettingsChanged"
    stream_prefix: ClassVar[str] = "programme"
    stream_key: ClassVar[str] = "programme_id"
    programme_id: Identifier = "sip"
    shift_points: Annotated[int, Field(ge=6, le=8)] = 6
    trend_points: Annotated[int, Field(ge=6, le=8)] = 6
    minimum_points: Annotated[int, Field(ge=2, le=60)] = 13
    small_sample: Annotated[int, Field(ge=1, le=10_000)] = 10
    kappa_minimum_pairs: Annotated[int, Field(ge=2, le=10_000)] = 20
    norm_window: Annotated[int, Field(ge=1, le=60)] = 6
    two_of_three_counts_beyond_3sigma: bool = False
    reason: Text = ""


class PseudonymKeyRecorded(_GovernanceEvent):
    """The check value of the pseudonym key this database's patient tokens are made with,
    recorded by the first write that uses a key, so a different key (a typo, an unset
    variable) is refused instead of silently giving the same patient a second token. It is
    an event so that backups carry it. ``earlier_tokens``: tokens existed before the check
    was recorded (made by an older version, which kept some formatted NHS numbers as local
    ids; their tokens are looked up too)."""

    type: ClassVar[str] = "PseudonymKeyRecorded"
    check: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    earlier_tokens: bool = False


def _derive(
    base: type[Event], name: str, suffix: str, fields: dict[str, Any], **classvars: Any
) -> type[Event]:
    """A subclass of ``base`` with ``fields`` (name -> annotation, or (annotation, default)) in
    this order: how the registry-dependent types are made."""
    annotations: dict[str, Any] = {k: ClassVar[type(v)] for k, v in classvars.items()}
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name + suffix}
    namespace["__doc__"] = base.__doc__
    for field, spec in fields.items():
        if isinstance(spec, tuple):
            annotations[field], namespace[field] = spec
        else:
            annotations[field] = spec
    namespace["__annotations__"] = annotations
    namespace.update(classvars)
    return type(name + suffix, (base,), namespace)


def _literal(values: tuple[str, ...]) -> Any:
    """``Literal[values]`` for values known only at run time (a registry's names)."""
    return Literal.__getitem__(values)


def catalogue(registry: Registry = DEFAULT_REGISTRY) -> dict[str, type[Event]]:
    """Every event type for a registry of enablers, by type name, in catalogue order.

    The types with one thing per enabler (the "documented" types, the findings of a review or a
    survey, the ``element`` of a retraction, the ``measure`` of a decision) are made from the
    registry; the default registry makes exactly the classes, fields and payloads sipdash has
    always written (same names, same JSON, same hashes). Other registries' classes carry a
    suffix in their class name (never in their type name) so both can live in one process."""
    return _catalogue(registry)


@cache
def _catalogue(registry: Registry) -> dict[str, type[Event]]:
    sfx = registry.suffix
    element = _literal(registry.names)
    measure = _literal(registry.measures)
    per = registry.names
    documented = {
        e.event_type: _derive(
            _Documented, e.event_type, sfx, {"documented_on": date}, type=e.event_type
        )
        for e in registry
    }
    made = {
        "BaselineFixed": _derive(
            _BaselineFixed,
            "BaselineFixed",
            sfx,
            {"measure": measure, "period": Period, "reason": Text},
        ),
        "LimitsRecalculated": _derive(
            _LimitsRecalculated,
            "LimitsRecalculated",
            sfx,
            {"measure": measure, "period": Period, "reason": Text},
        ),
        "TargetSet": _derive(
            _TargetSet,
            "TargetSet",
            sfx,
            {"measure": measure, "target": Proportion, "from_period": Period, "reason": Text},
        ),
        "ElementRetracted": _derive(
            _ElementRetracted, "ElementRetracted", sfx, {"element": element, "reason": (Text, "")}
        ),
        "ElementNotApplicable": _derive(
            _ElementNotApplicable,
            "ElementNotApplicable",
            sfx,
            {"element": element, "reason": (Text, "")},
        ),
        "CaseNoteReviewed": _derive(
            _CaseNoteReviewed,
            "CaseNoteReviewed",
            sfx,
            {
                "consultation_id": Identifier,
                "reviewer_id": Identifier,
                **{name: Finding for name in per},
                "second_review": (bool, False),
            },
        ),
        "PatientSurveyReturned": _derive(
            _PatientSurveyReturned,
            "PatientSurveyReturned",
            sfx,
            {
                **{name: SurveyAnswer for name in per},
                "confidence": (Annotated[int, Field(ge=0, le=10)] | None, None),
            },
        ),
    }
    order: tuple[type[Event] | str, ...] = (
        TeamRegistered,
        MilestoneLogged,
        "BaselineFixed",
        "LimitsRecalculated",
        "TargetSet",
        CommentaryAdded,
        CommentaryWithdrawn,
        ReviewSignedOff,
        ClinicianRegistered,
        ClinicianTrained,
        ConsultationHeld,
        "documented",
        "ElementRetracted",
        "ElementNotApplicable",
        AuditRoundOpened,
        "CaseNoteReviewed",
        AuditRoundClosed,
        "PatientSurveyReturned",
        PatientForgotten,
        ExportRecorded,
        PseudonymKeyRecorded,
        SpcSettingsChanged,
    )
    types: dict[str, type[Event]] = {}
    for item in order:
        if item == "documented":
            types.update(documented)
        elif isinstance(item, str):
            types[item] = made[item]
        else:
            types[item.type] = item
    fixed = {item if isinstance(item, str) else item.type for item in order} - {"documented"}
    clash = sorted(set(documented) & fixed)
    if clash:
        raise ValueError(f"an enabler's event type is already an event type: {', '.join(clash)}")
    if not registry.is_default:
        for name, cls in documented.items():
            _EXTENSION_TYPES.setdefault(name, cls)
    return types


#: "Documented" types of registries other than the default, by name: a log written with a
#: fourth enabler still upcasts and reads in a process that built that registry.
_EXTENSION_TYPES: dict[str, type[Event]] = {}

EVENT_TYPES: dict[str, type[Event]] = catalogue()

# The default registry's classes under their own names (imports and isinstance checks).
if TYPE_CHECKING:
    # A type checker cannot see classes made at run time, so it reads these declarations of
    # the default registry's classes (tests/unit/test_event_type_declarations.py keeps them
    # equal to what catalogue() makes). Values that depend on the registry (a measure, an
    # element, one finding or answer per enabler) are typed ``str``: which strings are valid
    # is the registry's to say, and pydantic checks them when the event is made.

    class BaselineFixed(_BaselineFixed):
        measure: str
        period: str
        reason: str

    class LimitsRecalculated(_LimitsRecalculated):
        measure: str
        period: str
        reason: str

    class TargetSet(_TargetSet):
        measure: str
        target: float
        from_period: str
        reason: str

    class AgendaSet(_Documented):
        documented_on: date

    class GoalAgreed(_Documented):
        documented_on: date

    class FollowUpArranged(_Documented):
        documented_on: date

    class ElementRetracted(_ElementRetracted):
        element: str
        reason: str = ""

    class ElementNotApplicable(_ElementNotApplicable):
        element: str
        reason: str = ""

    class CaseNoteReviewed(_CaseNoteReviewed):
        consultation_id: str
        reviewer_id: str
        agenda_setting: str
        goal_setting: str
        follow_up: str
        second_review: bool = False

    class PatientSurveyReturned(_PatientSurveyReturned):
        agenda_setting: str
        goal_setting: str
        follow_up: str
        confidence: int | None = None

else:
    BaselineFixed = EVENT_TYPES["BaselineFixed"]
    LimitsRecalculated = EVENT_TYPES["LimitsRecalculated"]
    TargetSet = EVENT_TYPES["TargetSet"]
    AgendaSet = EVENT_TYPES["AgendaSet"]
    GoalAgreed = EVENT_TYPES["GoalAgreed"]
    FollowUpArranged = EVENT_TYPES["FollowUpArranged"]
    ElementRetracted = EVENT_TYPES["ElementRetracted"]
    ElementNotApplicable = EVENT_TYPES["ElementNotApplicable"]
    CaseNoteReviewed = EVENT_TYPES["CaseNoteReviewed"]
    PatientSurveyReturned = EVENT_TYPES["PatientSurveyReturned"]

#: Which element each "documented" event records (default registry).
ELEMENT_OF_TYPE: dict[str, str] = dict(DEFAULT_REGISTRY.element_of_type)


def event_class(type_name: str, registry: Registry | None = None) -> type[Event]:
    """The class for a type name (in ``registry``'s catalogue; by default the default one,
    then any other registry's "documented" types built in this process), or
    :class:`UnknownEventType`."""
    types = catalogue(registry) if registry is not None else EVENT_TYPES
    cls = types.get(type_name) or (None if registry else _EXTENSION_TYPES.get(type_name))
    if cls is None:
        raise UnknownEventType(f"unknown event type {type_name!r}")
    return cls


def parse_event(type_name: str, payload: dict[str, Any], registry: Registry | None = None) -> Event:
    """Validate ``payload`` as ``type_name``; errors name every bad field, never the values."""
    cls = event_class(type_name, registry)
    try:
        return cls.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(payload)'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise EventValidationError(f"{type_name}: {problems}") from None
