"""The enablers: ONE registry from which everything per-enabler derives.

The programme audits how often a consultation's note documents each *enabler* (agenda setting,
goal setting, follow-up). Everything that has one thing per enabler — the "documented" event
types, the findings of a review or a survey, the read-model columns, the projector's layout,
the seed's loops, the importers' columns, the worklist form, the labels and the charts'
measure lists — is derived from a :class:`Registry`, never spelled out again. A programme that
adds a fourth enabler builds a registry with four and passes it to ``audit.bootstrap``.

The bundle measure keeps its contract id ``all_three`` (:data:`ALL`) whatever the number of
enablers: it means "every enabler in the registry documented" (the id is in stored decisions,
exports and URLs, so it is not renamed when the count changes).

This module imports nothing of sipdash: the event catalogue and the read models import it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "ALL",
    "DEFAULT_ELEMENTS",
    "ELEMENTS",
    "NA_RULES",
    "NA_WHEN_DISCHARGED",
    "NA_WHEN_JUDGED",
    "Element",
    "Registry",
]

#: The contract id of the bundle measure: every enabler of the registry documented.
ALL = "all_three"

#: ``Element.not_applicable_rule``: when an enabler is not applicable to a consultation.
NA_WHEN_JUDGED = "judged"
NA_WHEN_DISCHARGED = "discharged"
NA_RULES = {
    NA_WHEN_JUDGED: "when a reviewer (or an import's `na`) judges it does not apply",
    NA_WHEN_DISCHARGED: "when the patient was discharged (nothing to follow up), or judged so",
}

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")  # a column name; rm_element_facts.element is 20
_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]{0,39}$")  # an event type name (rm_team_facts.type is 40)


@dataclass(frozen=True)
class Element:
    """One enabler.

    ``name`` is its id everywhere (payload field, CSV column, read-model column, measure id);
    ``event_type`` the event recording that a note documents it; ``label`` and ``help`` what
    people read (``help``: the reviewer's question on the worklist); ``not_applicable_rule`` (a key of :data:`NA_RULES`) when it is not applicable
    to a consultation (it then leaves that enabler's denominator and the bundle's, never
    counting as "no"): ``judged`` by a reviewer or an import's ``na``, or also whenever the
    patient was ``discharged`` (the seed draws it so). ``question`` is the patient survey's
    wording of it (the label when empty)."""

    name: str
    event_type: str
    label: str
    help: str = ""
    not_applicable_rule: str = NA_WHEN_JUDGED
    question: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name == ALL:
            raise ValueError(
                f"enabler name {self.name!r} must be 1-20 lower-case letters, digits or _ "
                f"starting with a letter, and not {ALL!r}"
            )
        if not _TYPE.match(self.event_type):
            raise ValueError(f"event type {self.event_type!r} must be a CamelCase name")
        if self.not_applicable_rule not in NA_RULES:
            raise ValueError(
                f"not_applicable_rule {self.not_applicable_rule!r} must be one of "
                f"{', '.join(NA_RULES)}"
            )


@dataclass(frozen=True, init=False)
class Registry:
    """The enablers of a programme, in display order (at least one, names and types unique)."""

    elements: tuple[Element, ...]
    #: derived (see __post_init__)
    names: tuple[str, ...] = field(init=False)
    measures: tuple[str, ...] = field(init=False)
    element_of_type: dict[str, str] = field(init=False, compare=False, hash=False)
    index_of: dict[str, int] = field(init=False, compare=False, hash=False)

    def __init__(self, elements: Iterable[Element]) -> None:
        els = tuple(elements)
        if not els:
            raise ValueError("a registry needs at least one enabler")
        names = tuple(e.name for e in els)
        types = tuple(e.event_type for e in els)
        for what, values in (("name", names), ("event type", types)):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"enabler {what} given twice: {', '.join(twice)}")
        object.__setattr__(self, "elements", els)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "measures", (*names, ALL))
        object.__setattr__(self, "element_of_type", dict(zip(types, names, strict=True)))
        object.__setattr__(self, "index_of", {n: i for i, n in enumerate(names)})

    def __hash__(self) -> int:
        return hash(self.elements)

    def __iter__(self) -> Iterator[Element]:
        return iter(self.elements)

    def __len__(self) -> int:
        return len(self.elements)

    def __getitem__(self, name: str) -> Element:
        for element in self.elements:
            if element.name == name:
                return element
        raise KeyError(name)

    @property
    def not_applicable_when_discharged(self) -> frozenset[int]:
        """Indices of the enablers that do not apply when the patient was discharged."""
        return frozenset(
            i for i, e in enumerate(self.elements) if e.not_applicable_rule == NA_WHEN_DISCHARGED
        )

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(e.event_type for e in self.elements)

    @property
    def labels(self) -> dict[str, str]:
        """Display label of every measure id (enablers, then the bundle)."""
        bundle = "All three" if len(self) == 3 else f"All {len(self)}"
        return {**{e.name: e.label for e in self.elements}, ALL: bundle}

    @property
    def questions(self) -> dict[str, str]:
        """The patient survey's wording of each enabler (its label where none is given)."""
        return {e.name: e.question or e.label for e in self.elements}

    @property
    def is_default(self) -> bool:
        return self == ELEMENTS

    @property
    def suffix(self) -> str:
        """Empty for the default registry, else a short stable tag of its enablers: names of the
        classes and tables built for it, so two registries in one process never clash."""
        if self.is_default:
            return ""
        spec = repr(self.elements)  # every field: equal registries, and only they, share it
        return "_" + hashlib.sha256(spec.encode()).hexdigest()[:8]


DEFAULT_ELEMENTS: tuple[Element, ...] = (
    Element(
        "agenda_setting",
        "AgendaSet",
        "Agenda setting",
        "Does the note record that the patient and clinician agreed what the consultation "
        "would cover?",
        question="We talked about what mattered most to me",
    ),
    Element(
        "goal_setting",
        "GoalAgreed",
        "Goal setting",
        "Does the note record a goal the patient chose or agreed?",
        question="We agreed a goal I want to work towards",
    ),
    Element(
        "follow_up",
        "FollowUpArranged",
        "Follow-up",
        "Does the note record an arranged follow-up of that goal?",
        NA_WHEN_DISCHARGED,
        question="I know what happens next and when",
    ),
)

#: The programme's enablers (the default registry).
ELEMENTS = Registry(DEFAULT_ELEMENTS)
