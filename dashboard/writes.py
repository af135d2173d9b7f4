"""The dashboard's write seam: every change a page makes goes through here, as appended events.

Nothing is ever edited: each function appends events (with ``metadata["actor"]``, the person
from :mod:`dashboard.access`) and brings the read models up to date, so the next run of any
page, whose reads are keyed on the log's head position, shows the change at once. Failures a
user can cause come back as :class:`WriteRefused` with a message fit to show; nothing here
lets a traceback reach the page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from pydantic import ValidationError

from audit import queries
from audit.bootstrap import load_settings
from audit.exports import record_export
from audit.identifiers import IdentifierRefused, check_fields
from audit.imports import ImportRefused, ImportResult
from audit.service import AuditError, AuditService, ReviewRefused, RoundInfo
from events import EventValidationError, StoreError, VersionConflict

from . import data

RELOAD = "Reload the page (press R, or the browser's reload button) to see the latest state, then try again."


class WriteRefused(Exception):
    """A write that did not happen; the message says why and what to do."""


def _service() -> AuditService:
    store, projector = data._open(data.current_url())
    return AuditService(store, projector)


def _refused(exc: Exception) -> WriteRefused:
    if isinstance(exc, VersionConflict):
        return WriteRefused(f"Someone else changed this record a moment ago. {RELOAD}")
    if isinstance(exc, ReviewRefused):  # a rule, not a stale page: reloading will not help
        return WriteRefused(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    if isinstance(exc, IdentifierRefused):
        return WriteRefused(f"Not saved: {exc}.")
    if isinstance(exc, AuditError):
        return WriteRefused(f"{str(exc)[:1].upper()}{str(exc)[1:]}. {RELOAD}")
    if isinstance(exc, ValidationError | EventValidationError):
        return WriteRefused(f"The entry is not valid: {exc}")
    return WriteRefused(f"The change could not be saved ({type(exc).__name__}). {RELOAD}")


# ----------------------------------------------------------------------------- audit rounds


def open_round(
    team_id: str, period: str, *, sample_size: int | None, census: bool, actor: str
) -> RoundInfo:
    try:
        check_fields({"team": team_id, "period": period})
        return _service().open_round(
            team_id, period, sample_size=sample_size, census=census, actor=actor
        )
    except (
        AuditError,
        StoreError,
        ValidationError,
        EventValidationError,
        IdentifierRefused,
    ) as exc:
        raise _refused(exc) from None


def record_review(
    round_id: str,
    consultation_id: str,
    reviewer: str,
    findings: dict[str, str],
    *,
    second_review: bool,
    actor: str,
    event_id: str | None = None,
) -> None:
    try:
        check_fields({"consultation": consultation_id, "reviewer": reviewer})
        _service().record_review(
            round_id,
            consultation_id,
            reviewer,
            findings,
            second_review=second_review,
            actor=actor,
            event_id=event_id,
        )
    except (
        AuditError,
        StoreError,
        ValidationError,
        EventValidationError,
        IdentifierRefused,
    ) as exc:
        raise _refused(exc) from None


def close_round(round_id: str, *, actor: str) -> None:
    try:
        _service().close_round(round_id, actor=actor)
    except (AuditError, StoreError) as exc:
        raise _refused(exc) from None


# ---------------------------------------------------------------------------- team facts


def _team_fact(fn: Callable[..., object], *, actor: str, event_id: str | None, **fields) -> None:
    """Call a decisions-service function (which checks the entry and appends the event);
    refusals come back as :class:`WriteRefused` with the rule's own words. ``event_id``: the
    form's submission id (a submission already in the log is not saved again)."""
    from audit import decisions

    store, projector = data._open(data.current_url())
    if event_id is not None:
        if queries.event_stored(store.engine, event_id):
            return
        fields["event_id"] = event_id
    try:
        check_fields({k: v for k, v in fields.items() if k not in _NOT_TEXT})
        fn(store, actor=actor, projector=projector, **fields)
    except decisions.DecisionRefused as exc:
        raise WriteRefused(f"Not recorded: {exc}.") from None
    except (StoreError, IdentifierRefused) as exc:
        raise _refused(exc) from None


_NOT_TEXT = {"patient_ref", "head_hash", "as_of", "viewed_head", "event_id"}  # made by the app


def decide(kind: str, *, actor: str, event_id: str | None = None, **fields) -> None:
    """A baseline, recalculation, target or SPC-settings decision through
    ``audit.decisions`` (which enforces the partition rule); refusals come back as
    :class:`WriteRefused` with the rule's own words. ``event_id``: the form's submission id
    (a submission already in the log is not decided again)."""
    from audit import decisions

    fn = {
        "baseline": decisions.fix_baseline,
        "recalculate": decisions.recalculate_limits,
        "target": decisions.set_target,
        "settings": decisions.change_spc_settings,
    }[kind]
    _team_fact(fn, actor=actor, event_id=event_id, **fields)


def log_milestone(
    team_id: str, on: date, kind: str, title: str, *, actor: str, event_id: str | None = None
) -> None:
    """A milestone (``audit.decisions.log_milestone``)."""
    from audit import decisions

    _team_fact(
        decisions.log_milestone,
        actor=actor,
        event_id=event_id,
        team_id=team_id,
        on=on,
        kind=kind,
        title=title,
    )


def add_commentary(
    team_id: str, period: str, text: str, author: str, *, actor: str, event_id: str | None = None
) -> None:
    """A commentary on a team's month (``audit.decisions.add_commentary``)."""
    from audit import decisions

    _team_fact(
        decisions.add_commentary,
        actor=actor,
        event_id=event_id,
        team_id=team_id,
        period=period,
        text=text,
        author=author,
    )


def withdraw_commentary(
    team_id: str, commentary_event_id: str, withdrawn_by: str, *, actor: str
) -> None:
    """Withdraw a commentary, once however often asked (``audit.decisions``)."""
    from audit import decisions

    _team_fact(
        decisions.withdraw_commentary,
        actor=actor,
        event_id=None,
        team_id=team_id,
        commentary_event_id=commentary_event_id,
        withdrawn_by=withdrawn_by,
    )


def sign_off(
    team_id: str,
    period: str,
    signed_off_by: str,
    *,
    viewed_head: str | None,
    actor: str,
    event_id: str | None = None,
) -> None:
    """A sign-off recording the head the signer was viewing (``audit.decisions.sign_off``)."""
    from audit import decisions

    _team_fact(
        decisions.sign_off,
        actor=actor,
        event_id=event_id,
        team_id=team_id,
        period=period,
        signed_off_by=signed_off_by,
        viewed_head=viewed_head,
    )


def record_table_export(name: str, *, actor: str) -> None:
    """A table download, recorded as an export (``audit.exports.record_export``)."""
    store = data.store()
    record_export(
        store, "table", name, actor=actor, head_hash=store.head().hash or None, source="dashboard"
    )


def build_pack(as_of: datetime | None, *, actor: str):
    """The review pack as of ``as_of``, rendered (HTML and PDF), then its export recorded as
    an event: a pack that fails to render records nothing."""
    from .pack import build_pack as _build
    from .pack import record_pack_export

    store = data.store()
    pack = _build(store, as_of=as_of, actor=actor, record=False)
    _ = pack.html, pack.pdf  # rendered once (cached on the pack) before the record
    record_pack_export(store, pack, actor=actor)
    return pack


# ------------------------------------------------------------------------------- imports


def key_status() -> tuple[str, bool]:
    """(pseudonym key, whether it is the demo key), in the one precedence shared with the CLI:
    the environment, then ``.streamlit/secrets.toml``, then the demo key."""
    settings = load_settings()
    return settings.pseudonym_key, settings.key_is_demo


def run_import(
    kind: str,
    content: bytes,
    *,
    source: str,
    actor: str,
    register_teams: bool = False,
    corrections: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a consultations, reviews or surveys CSV, all or nothing.

    Raises :class:`ImportRefused` (``.errors``: every problem, by row and column) when the file
    is refused; nothing was appended then."""
    wiring = data.wiring()
    wiring.registry.ensure_schema()
    importer = wiring.importer(actor=actor)
    if kind not in ("consultations", "reviews", "surveys"):
        raise ValueError(f"unknown import kind {kind!r}")
    try:
        if kind == "surveys":
            result = wiring.survey_importer(actor=actor).import_surveys(
                content, source=source, register_teams=register_teams, progress=progress
            )
        elif kind == "consultations":
            result = importer.import_consultations(
                content,
                source=source,
                register_teams=register_teams,
                corrections=corrections,
                progress=progress,
            )
        else:
            result = importer.import_reviews(content, source=source, progress=progress)
    except StoreError as exc:
        raise _refused(exc) from None
    wiring.projector.catch_up()
    return result


__all__ = [
    "ImportRefused",
    "WriteRefused",
    "add_commentary",
    "build_pack",
    "close_round",
    "decide",
    "key_status",
    "log_milestone",
    "open_round",
    "record_review",
    "record_table_export",
    "run_import",
    "sign_off",
    "withdraw_commentary",
]
