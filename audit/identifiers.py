"""The one identifier guard: where an NHS number may not be, and how it is recognised.

Nothing written to the event log can ever be erased, so an NHS number typed into any field
other than ``patient`` (an id, a name, a reviewer, a team, commentary, a title, a reason, an
author) must be refused before it is written, and never echoed back. File names are never
refused (people do not choose them with care); they are stored and printed with their long
digit runs masked.

An *NHS-number-shaped run* (``../shared/DESIGN.md``, "Decisions", identifier guard) is
exactly 10 digits with at most one separator (space, no-break space, tab, ``-``, ``.``, ``/``)
between digits, standing as a word of its own: not continued by another digit (directly or
across one separator), and not joined to a letter or digit directly or through ``-``, ``.`` or
``/``. The last rule is what keeps codes such as ``C-2024-000123``, UUIDs and hex tokens out,
while ``943 476 5919``, ``943-476-5919`` or ``ref: 9434765919`` are caught. The printed 3-3-4
grouping is caught even when glued to a word (``NHS-943-476-5919``, ``ref943.476.5919``). The
known gap left (ADR 0003): ten digits without separators glued to a word, e.g.
``NHS9434765919``, read as a code.

Speed matters (imports of millions of cells): every check is one precompiled regular
expression, run once per column over the column's cells joined by newlines; only a column
with a hit is searched again row by row to name the rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "NHS_RUN",
    "SEPARATORS",
    "IdentifierRefused",
    "check_text",
    "looks_like_nhs_number",
    "mask_digit_runs",
    "mask_identifiers",
    "refuse_in_columns",
]

SEPARATORS = " \u00a0\t-./"
_SEP = "[ \u00a0\t./-]"
_JOIN = "[./-]"
_ALNUM = r"[^\W_]"

#: One NHS-number-shaped run (see the module docstring): a word of its own, or the printed
#: 3-3-4 grouping bounded only by non-digits (``NHS-943-476-5919``: no code, UUID or date is
#: grouped 3-3-4, so this closes most of the "glued to a word" gap at no false-positive cost).
NHS_RUN = re.compile(
    rf"(?<!{_ALNUM})(?<!{_ALNUM}{_JOIN})(?<!\d{_SEP})"
    rf"\d(?:{_SEP}?\d){{9}}"
    rf"(?!{_ALNUM})(?!{_SEP}\d)(?!{_JOIN}{_ALNUM})"
    rf"|(?<!\d)(?<!\d{_SEP})\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{4}}(?!\d)(?!{_SEP}\d)"
)
#: Ten or more digits with at most one separator between them: what file names have masked.
_LONG_DIGIT_RUN = re.compile(rf"\d(?:{_SEP}?\d){{9,}}")

_REASON = (
    "looks like an NHS number (not shown); patient identifiers belong only in the patient "
    "column, and nothing else written to the log can ever be erased"
)


class IdentifierRefused(ValueError):
    """A text field holds an identifier-shaped value; the message names where, never what."""


def looks_like_nhs_number(text: str) -> bool:
    """True when ``text`` contains an NHS-number-shaped run anywhere."""
    return NHS_RUN.search(text) is not None


def check_text(field: str, value: str | None) -> None:
    """Refuse an identifier-shaped value in one form field (raises :class:`IdentifierRefused`)."""
    if value and NHS_RUN.search(value):
        raise IdentifierRefused(f"{field}: {_REASON}")


def check_fields(fields: Mapping[str, object]) -> None:
    """:func:`check_text` over every string in ``fields`` (lists and tuples of strings too)."""
    for name, value in fields.items():
        if isinstance(value, str):
            check_text(name, value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, str):
                    check_text(name, item)


def refuse_in_columns(
    rows: Sequence[tuple[int, Mapping[str, str]]],
    columns: Iterable[str],
    source: str,
) -> list[str]:
    """Errors for every identifier-shaped cell of ``columns``, as ``source: row N, column C``.

    One regex search per column over all its cells (joined by newlines, which are neither
    separators nor letters, so cells cannot run into each other); rows are named only for a
    column that has a hit."""
    errors: list[str] = []
    for column in columns:
        cells = [row.get(column, "") for _, row in rows]
        if not NHS_RUN.search("\n".join(cells)):
            continue
        for (n, _), cell in zip(rows, cells, strict=True):
            if cell and NHS_RUN.search(cell):
                errors.append(f"{source}: row {n}, column {column}: {_REASON}")
    errors.sort(key=_row_of)
    return errors


def _row_of(message: str) -> int:
    match = re.search(r": row (\d+)", message)
    return int(match.group(1)) if match else 0


def mask_digit_runs(name: str) -> str:
    """A file name fit to store and print: every run of 10 or more digits (single separators
    allowed) has its digits replaced by ``#``. Dates and times (``20251128_103000``) stay."""
    return _LONG_DIGIT_RUN.sub(lambda m: re.sub(r"\d", "#", m.group(0)), name)


def mask_identifiers(text: str, mask: str = "(hidden)") -> str:
    """``text`` with every NHS-number-shaped run, and every long digit run, replaced."""
    text = NHS_RUN.sub(mask, text)
    return _LONG_DIGIT_RUN.sub(mask, text)
