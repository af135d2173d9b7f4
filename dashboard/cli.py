"""The ``sipdash`` command line: a thin shell over events/, audit/ and seed/.

Every subcommand takes ``--db URL`` (before or after the subcommand); otherwise
``SIPDASH_DATABASE_URL`` (environment, then ``.streamlit/secrets.toml``); otherwise
``sqlite:///sipdash.db`` in the working directory. Settings are read and collaborators wired
by :mod:`audit.bootstrap`, the same composition root the dashboard uses.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
LOCAL_ADDRESS = "127.0.0.1"


class CliError(Exception):
    """A failure to report as one clear line (exit 1), never a traceback."""


# --- shared helpers ----------------------------------------------------------------------------


def parse_as_of(text: str | None) -> datetime | None:
    """ISO 8601, inclusive, UTC when no zone is given; a bare date, in any of ISO 8601's
    spellings (2025-06-30, 20250630), means the end of that day. None: not given (now)."""
    if text is None:
        return None
    text = text.strip()
    if not text:  # `--as-of ""` is a mistake, not "now": say so rather than show today's figures
        raise CliError("--as-of is empty: give an ISO 8601 date or date-time, e.g. 2025-06-30")
    try:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
        if day is not None:
            return datetime.combine(day, time.max, tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--as-of {text!r} is not an ISO 8601 date or date-time (e.g. 2025-06-30 or "
            "2025-06-30T17:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@contextmanager
def progress_bar(total: int | None, desc: str, enabled: bool = True):
    """A tqdm bar on stderr (silent when not a terminal and not asked for)."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        unit="ev",
        file=sys.stderr,
        disable=not enabled or not sys.stderr.isatty(),
    )
    try:
        yield bar.update
    finally:
        bar.close()


def open_store(url_arg: str | None, *, create: bool = True, must_exist: bool = True):
    """The store and projector, wired by the one composition root (:mod:`audit.bootstrap`)."""
    wiring = bootstrap(url_arg, create=create, must_exist=must_exist)
    return wiring.store, wiring.projector


def bootstrap(url_arg: str | None, *, create: bool = True, must_exist: bool = True):
    """:func:`audit.bootstrap.bootstrap`: settings from --db, the environment, secrets.toml.

    ``must_exist``: a database that does not exist (no file; on PostgreSQL no sipdash tables)
    is an error naming it, and nothing is created; only the commands that fill a database
    (seed, import, restore) pass False."""
    from audit.bootstrap import bootstrap as _bootstrap
    from audit.bootstrap import load_settings
    from events.chain import LogKeyError
    from events.db import missing_database, url_problem

    try:
        settings = load_settings(url_arg)
    except LogKeyError as exc:
        raise CliError(str(exc)) from None
    if why := url_problem(settings.database_url):
        raise CliError(f"{why}. Check --db / SIPDASH_DATABASE_URL")
    if must_exist and (why := missing_database(settings.database_url)):
        raise CliError(
            f"{why}. Check --db / SIPDASH_DATABASE_URL; to fill a new database use "
            "`sipdash seed`, `sipdash import` or `sipdash restore`"
        )
    return _bootstrap(settings=settings, create=create)


def guard_by(value: str, option: str = "--by") -> str:
    """An author or requester name: refused if it holds an identifier, never echoed."""
    from audit.identifiers import IdentifierRefused, check_text

    try:
        check_text(option, value)
    except IdentifierRefused as exc:
        raise CliError(str(exc)) from None
    return value


# --- commands ----------------------------------------------------------------------------------


def cmd_seed(args: argparse.Namespace) -> int:
    import seed

    store, projector = open_store(args.db, must_exist=False)
    head = store.head()
    if head.position:
        if args.if_empty:
            print(f"database already holds {head.position} events; not seeding")
            projector.catch_up()
            return EXIT_OK
        raise CliError(
            f"the database already holds {head.position} events; sipdash seed only writes "
            "into an empty database (use a new --db, or --if-empty to skip)"
        )
    total = seed.estimate_events(
        args.scenario,
        teams=args.teams,
        months=args.months,
        consultations=args.consultations,
    )
    with progress_bar(total, f"seeding {args.scenario}", not args.quiet) as update:
        result = seed.run_seed(
            store,
            scenario=args.scenario,
            seed=args.seed,
            teams=args.teams,
            months=args.months,
            consultations=args.consultations,
            progress=update,
        )
    with progress_bar(result.head.position, "projecting", not args.quiet) as update:
        projector.catch_up(progress=update)
    print(f"seeded {result.appended} synthetic events; head {result.head.hash}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from audit.bootstrap import load_settings
    from events.chain import LogKeyError
    from events.db import missing_database

    app = Path(__file__).with_name("app.py")
    try:
        url = load_settings(args.db).database_url
    except LogKeyError as exc:
        raise CliError(str(exc)) from None
    why = missing_database(url)
    if why:
        print(
            f"sipdash: {why}; the dashboard will start empty. Fill it with `sipdash seed` "
            "(synthetic demo data), `sipdash import consultations FILE.csv` or "
            "`sipdash restore FILE`.",
            file=sys.stderr,
        )
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{Path(url[len('sqlite:///') :]).resolve()}"  # the app may run elsewhere
    env = dict(os.environ, SIPDASH_DATABASE_URL=url)
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    cmd += ["--server.address", args.address or LOCAL_ADDRESS]
    cmd += _streamlit_config_flags()
    return run_forwarding_signals(cmd, env)


def run_forwarding_signals(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` as a child and pass SIGTERM, SIGINT and SIGHUP on to it, so stopping
    ``sipdash serve`` (a service manager, a container runtime, Ctrl-C) stops the dashboard
    instead of leaving it serving; returns the child's exit code."""
    import signal

    child = subprocess.Popen(cmd, env=env)
    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in forwarded}
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the handler forwarded it; wait for the child to stop
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_key_generate(args: argparse.Namespace) -> int:
    from events.pseudonym import KEY_ENV, generate_key

    print(generate_key())
    print(
        f"# set it as {KEY_ENV} (environment or .streamlit/secrets.toml) before the first "
        "import, keep it secret and keep it: a database is bound to the key it was built with",
        file=sys.stderr,
    )
    return EXIT_OK


def _streamlit_config_flags() -> list[str]:
    """The project's .streamlit/config.toml as flags, so the NHS theme applies from any folder."""
    import tomllib

    path = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
    if not path.exists() or Path.cwd().resolve() == path.parents[1]:
        return []  # Streamlit reads it itself from the working folder
    flags = []
    for section, values in tomllib.loads(path.read_text(encoding="utf-8")).items():
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags += [f"--{section}.{key}", text]
    return flags


def _expected_head(text: str) -> str:
    """argparse type for ``--expect-head``: a malformed hash is a usage error (exit 2)."""
    from events.chain import parse_expected_head

    try:
        return parse_expected_head(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _period(text: str) -> str:
    """argparse type for ``--period``: a month as YYYY-MM, the import files' rule (exit 2
    otherwise, nothing done)."""
    from audit.csv_rows import is_month

    value = text.strip()
    if not is_month(value):
        raise argparse.ArgumentTypeError(
            f"expected a month as YYYY-MM (e.g. 2025-06), got {text!r}"
        )
    return value


def _at_least_one(text: str) -> int:
    """argparse type for ``--sample``: a whole number of notes, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of notes, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a round samples at least 1 note, got {value}")
    return value


def _registered_team(engine: Any, text: str) -> str:
    """The registered team ``text`` names (its id or name, any case or spelling), or a
    CliError listing the registered teams."""
    from audit import queries
    from audit.team_names import team_key

    lookup = queries.team_lookup(engine)
    found = lookup.get(team_key(text))
    if found is None:
        known = ", ".join(sorted(set(lookup.values()))) or "none yet"
        raise CliError(f"no team {text!r} is registered (registered teams: {known})")
    return found


def cmd_verify(args: argparse.Namespace) -> int:
    store, projector = open_store(args.db)
    with progress_bar(store.head().position, "verifying", not args.quiet) as update:
        result = store.verify(expect_head=args.expect_head, progress=update)
    for note in result.notes:
        print(f"note: {note}")
    print(result.line())
    if not result.ok:
        return EXIT_FAIL
    return _verify_read_models(store, projector, args) if args.read_models else EXIT_OK


def _verify_read_models(store: Any, projector: Any, args: argparse.Namespace) -> int:
    """``verify --read-models``: every read model against a fresh fold of the log."""
    from audit.consistency import LogMoved, read_models_against_log

    try:
        with progress_bar(store.head().position, "folding afresh", not args.quiet) as update:
            check = read_models_against_log(store, projector, progress=update)
    except LogMoved as exc:
        raise CliError(str(exc)) from None
    for t in check.differing:
        print(
            f"read model {t.table} differs from a fresh fold of the log ({t.live_rows:,} rows "
            f"held, {t.fold_rows:,} folded)"
        )
    if check.ok:
        print(
            f"read models: ok, all {len(check.tables)} equal a fresh fold of the log's "
            f"{check.position:,} events"
        )
        return EXIT_OK
    print(
        f"read models: {len(check.differing)} of {len(check.tables)} do not say what the log "
        "says, so figures, pages and packs read from them cannot be trusted. Run `sipdash "
        "rebuild` to derive them again from the log; if it happens again, something changes "
        "the database outside sipdash"
    )
    return EXIT_FAIL


def cmd_rebuild(args: argparse.Namespace) -> int:
    store, projector = open_store(args.db)
    with progress_bar(store.head().position, "rebuilding", not args.quiet) as update:
        n = projector.rebuild(progress=update, batch_size=args.batch_size)
    print(f"rebuilt read models from {n} events")
    return EXIT_OK


def cmd_audit_run(args: argparse.Namespace) -> int:
    from audit.service import AuditError, AuditService

    store, projector = open_store(args.db)
    service = AuditService(store, projector)
    team = _registered_team(store.engine, args.team) if args.team is not None else None
    try:
        outcomes = service.run(
            args.period,
            team_id=team,
            sample_size=None if args.census else args.sample,
            census=args.census,
            new_round=args.new_round,
        )
    except AuditError as exc:
        raise CliError(str(exc)) from None
    for o in outcomes:
        if o.status == "exists":
            print(
                f"{o.team_id} {o.period}: round {o.round_id} already exists "
                f"({o.sampled} notes); use --new-round to open another"
            )
        elif o.status == "empty":
            print(f"{o.team_id} {o.period}: no consultations recorded; nothing to audit")
        else:
            print(
                f"{o.team_id} {o.period}: opened, reviewed and closed {o.round_id} ({o.sampled} notes)"
            )
    return EXIT_OK


def cmd_audit_report(args: argparse.Namespace) -> int:
    from audit.measures import audit_measures, census_measures, report_records

    store, projector = open_store(args.db)
    projector.catch_up()
    as_of = parse_as_of(args.as_of)
    elements = projector.registry  # the programme's enablers, as wired by bootstrap
    if args.source == "surveys":
        return _survey_report(store, as_of, args, elements)
    df = audit_measures(store.engine, as_of=as_of, quarterly=args.quarterly, elements=elements)
    if args.format == "json":
        sys.stdout.write(json.dumps(report_records(df), indent=2) + "\n")
        return EXIT_OK
    census = census_measures(store.engine, as_of=as_of, quarterly=args.quarterly, elements=elements)
    merged = df.merge(
        census[["team", "period", "measure", "proportion", "denominator"]].rename(
            columns={"proportion": "census_proportion", "denominator": "census_denominator"}
        ),
        on=["team", "period", "measure"],
        how="left",
    )
    if args.format == "csv":
        from audit.exports import to_csv_bytes

        sys.stdout.write(to_csv_bytes(merged).decode("utf-8"))
    elif merged.empty:
        print(_nothing_to_report(store))
    else:
        sys.stdout.write(merged.to_string(index=False) + "\n")
    return EXIT_OK


def cmd_audit_headline(args: argparse.Namespace) -> int:
    from audit.curve import culture_curve, curve_records

    store, projector = open_store(args.db)
    projector.catch_up()
    curve = culture_curve(store.engine, as_of=parse_as_of(args.as_of), elements=projector.registry)
    if args.format == "json":
        sys.stdout.write(json.dumps(curve_records(curve), indent=2) + "\n")
    elif args.format == "csv":
        curve.to_csv(sys.stdout, index=False)
    elif curve.empty:
        print("no audited months yet: nothing to count")
    else:
        sys.stdout.write(curve.to_string(index=False) + "\n")
    return EXIT_OK


def _nothing_to_report(store) -> str:
    """What an empty report means, and what to run (never a bare ``Empty DataFrame``)."""
    if store.is_empty():
        return (
            "no audit data: the database is empty. Fill it with `sipdash seed` (a demo) or "
            "`sipdash import consultations FILE.csv`, then `sipdash audit run --period YYYY-MM`."
        )
    return (
        "no reviewed case notes yet (as of the time asked for): run "
        "`sipdash audit run --period YYYY-MM` or import reviews."
    )


def _survey_report(
    store: Any, as_of: datetime | None, args: argparse.Namespace, elements: Any
) -> int:
    """``audit report --source surveys``: patient-reported measures in the same shape."""
    from audit.surveys import survey_measures, survey_report_records

    df = survey_measures(store.engine, as_of=as_of, quarterly=args.quarterly, elements=elements)
    if df.empty:
        from audit.queries import is_synthetic

        print(
            "sipdash: no patient surveys in this database"
            + (
                "; it was seeded before sipdash had surveys: reseed to see surveys"
                if is_synthetic(store.engine)
                else ""
            ),
            file=sys.stderr,
        )
    if args.format == "json":
        sys.stdout.write(json.dumps(survey_report_records(df), indent=2) + "\n")
    elif args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif not df.empty:  # empty: said on stderr above, not a bare "Empty DataFrame"
        sys.stdout.write(df.to_string(index=False) + "\n")
    return EXIT_OK


def _programme_settings(url_arg: str | None):
    """The programme's SPC settings (``audit.settings``: the decision in force in the
    database named by --db / the environment / secrets.toml), or the defaults when there is
    no such database: ``spc`` charts any file, with or without one."""
    from audit.bootstrap import load_settings
    from audit.settings import DEFAULT_SETTINGS, load_settings_from_engine
    from events.chain import LogKeyError
    from events.db import missing_database

    try:
        url = load_settings(url_arg).database_url
    except LogKeyError:
        return DEFAULT_SETTINGS
    if missing_database(url):
        return DEFAULT_SETTINGS
    from events import EventStore

    store = EventStore(url)
    try:
        return load_settings_from_engine(store.engine)
    finally:
        store.dispose()


def cmd_spc(args: argparse.Namespace) -> int:
    from audit import spc, spc_io

    try:
        spc_io.check_target(args.chart, args.target)
        series = spc_io.read_series_csv(Path(args.file), args.chart)
        common: dict[str, Any] = {"improvement": args.improvement, "target": args.target}
        # the programme's settings unless the command line says otherwise
        programme = _programme_settings(args.db)
        settings = spc.SpcSettings(
            shift_points=args.shift or programme.shift_points,
            trend_points=args.trend or programme.trend_points,
            minimum_points=programme.minimum_points,
            two_of_three_counts_beyond_3sigma=programme.two_of_three_counts_beyond_3sigma,
        )
        if args.chart == "run":
            result = spc.run_chart(*series, **common)
        elif args.chart == "p":
            result = spc.p_chart(
                *series,
                baseline=args.baseline,
                recalculate_at=args.recalculate_at,
                settings=settings,
                **common,
            )
        else:
            result = spc.xmr_chart(
                *series,
                baseline=args.baseline,
                recalculate_at=args.recalculate_at,
                settings=settings,
                **common,
            )
        out = (
            spc_io.result_to_json(result) if args.format == "json" else spc_io.result_to_csv(result)
        )
    except (spc_io.SpcInputError, ValueError) as exc:
        raise CliError(str(exc)) from None
    except ArithmeticError as exc:  # values so extreme that the limits cannot be computed
        raise CliError(f"the series cannot be charted: {exc}") from None
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from events.backup import write_backup

    path = Path(args.file)
    _writable_file(path, "backup")
    wiring = bootstrap(args.db)
    store = wiring.store
    with (
        _replaced_when_done(path) as tmp,
        tmp.open("w", encoding="utf-8") as out,
        progress_bar(store.head().position, "backing up", not args.quiet) as update,
    ):
        written = write_backup(
            store, out, progress=update, pseudonym_key=wiring.settings.pseudonym_key
        )
    # the head the backup holds (its header), not the log's head now: others may append
    print(f"backed up {written.events} events to {path}; head {written.head}")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from events.backup import BackupError, restore_backup

    wiring = bootstrap(args.db, must_exist=False)
    store, projector = wiring.store, wiring.projector
    try:
        with progress_bar(None, "restoring", not args.quiet) as update:
            done = restore_backup(
                store, Path(args.file), progress=update, pseudonym_key=wiring.settings.pseudonym_key
            )
    except (BackupError, OSError) as exc:
        raise CliError(f"restore refused: {exc}") from None
    except DBAPIError as exc:  # one transaction: the database is as empty as before
        raise CliError(
            f"restore failed, nothing was restored: the database refused a write "
            f"({type(exc.orig).__name__}); the database is still empty, so the restore can be "
            "run again once the cause is fixed"
        ) from None
    result = store.verify()
    projector.catch_up()
    for note in (*done.notes, *result.notes):
        print(f"note: {note}")
    if done.forgotten_events:
        print(
            f"re-applied {done.forgotten_events} patient erasures (PatientForgotten) from the "
            f"log: {done.erasures_reapplied} mappings the backup still held were erased"
        )
    print(f"restored {done.events} events; {result.line()}")
    return EXIT_OK if result.ok else EXIT_FAIL


def cmd_import(args: argparse.Namespace) -> int:
    from audit import imports
    from audit.identifiers import mask_digit_runs
    from audit.imports import ImportRefused
    from audit.wording import counted

    if args.kind == "training":  # no patients in it: no pseudonym key needed
        from dashboard.cli_reach import import_training

        # import fills a database that does not exist yet, like every import
        return import_training(args, partial(open_store, must_exist=False), CliError)
    wiring = bootstrap(args.db, must_exist=False)
    projector = wiring.projector
    importer = wiring.importer()
    path = Path(args.file)
    name = mask_digit_runs(path.name)  # a file name is never refused, but never printed raw
    if not path.is_file():
        raise CliError(f"no such file {mask_digit_runs(str(path))}")
    try:
        if path.stat().st_size > imports.MAX_BYTES:  # refuse before reading it into memory
            print(
                f"sipdash: import refused, nothing was appended:\n{imports.too_large(name)}",
                file=sys.stderr,
            )
            return EXIT_FAIL
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}") from None
    try:
        with progress_bar(None, f"importing {name}", not args.quiet) as update:
            if args.kind == "surveys":
                result = wiring.survey_importer().import_surveys(
                    data, source=name, register_teams=args.register_teams, progress=update
                )
            elif args.kind == "consultations":
                result = importer.import_consultations(
                    data,
                    source=name,
                    register_teams=args.register_teams,
                    corrections=args.corrections,
                    progress=update,
                )
            else:
                result = importer.import_reviews(data, source=name, progress=update)
    except ImportRefused as exc:
        print(f"sipdash: import refused, nothing was appended:\n{exc}", file=sys.stderr)
        return EXIT_FAIL
    projector.catch_up()
    extra = (
        f"; registered teams {', '.join(result.registered_teams)}"
        if result.registered_teams
        else ""
    )
    print(f"imported {counted(result.rows, 'row')} from {name}: {result.summary()}{extra}")
    return EXIT_OK


def cmd_forget(args: argparse.Namespace) -> int:
    from audit.privacy import ForgetRefused

    guard_by(args.by)
    wiring = bootstrap(args.db)
    raw = args.patient if args.patient != "-" else sys.stdin.readline()
    try:
        result = wiring.forget_patient(raw, requested_by=args.by)
    except ForgetRefused as exc:
        raise CliError(str(exc)) from None
    if not result.had_mapping:
        print("no mapping held for that patient (never imported, or already forgotten)")
    else:
        print(
            f"forgotten: the log keeps token {', '.join(result.tokens)}, which can no longer "
            "be linked to anyone"
        )
    if not result.erased:
        print(ERASURE_PENDING)
    return EXIT_OK


ERASURE_PENDING = (
    "erasure pending: other connections (e.g. a running dashboard) still hold the database's "
    "write-ahead log, where the erased mapping's bytes remain until it is checkpointed; close "
    "them and run the same forget again to complete it"
)


@contextmanager
def _replaced_when_done(path: Path):
    """A partial file beside ``path`` to write into; it replaces ``path`` only when the block
    finishes, and is removed whatever happens, so nobody sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _writable_file(out: Path, option: str) -> None:
    """A CliError unless ``out`` can be written: its folder exists, it is not a folder, and
    (when it exists) it is writable. Checked before any work, so nothing is recorded for a
    file that could not be written."""
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise CliError(f"{option} {out}: is a folder; give a file name")
    if not folder.is_dir():
        raise CliError(f"{option} {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise CliError(f"{option} {out}: cannot write there (permission denied)")


def cmd_report(args: argparse.Namespace) -> int:
    from dashboard.pack import (
        HeadNotFound,
        NothingAudited,
        build_pack,
        record_pack_export,
        resolve_head,
    )

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".pdf"):
        raise CliError(f"--out {out}: expected a file ending in .html or .pdf")
    _writable_file(out, "--out")
    store, projector = open_store(args.db)
    projector.catch_up()
    if args.at_head and args.as_of:
        raise CliError("give --as-of or --at-head, not both")
    as_of = parse_as_of(args.as_of)
    if args.at_head:
        if not re.fullmatch(r"[0-9a-fA-F]{12,64}", args.at_head):
            print(
                f"sipdash: error: --at-head {args.at_head!r}: expected a head hash of 12 to 64 "
                "hex digits (as printed on a review pack)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        try:
            as_of = resolve_head(store, args.at_head)
        except HeadNotFound as exc:
            raise CliError(str(exc)) from None
    actor = guard_by(args.by)
    try:
        pack = build_pack(
            store, as_of=as_of, actor=actor, elements=projector.registry, record=False
        )
    except NothingAudited as exc:
        raise CliError(str(exc)) from None
    data = pack.pdf if out.suffix.lower() == ".pdf" else pack.html.encode("utf-8")
    # written beside the target first, then recorded, then renamed into place: the log never
    # holds an export that did not happen, and a reader never sees half a pack
    try:
        with _replaced_when_done(out) as partial:
            partial.write_bytes(data)
            record_pack_export(store, pack, actor=actor)
    except OSError as exc:
        raise CliError(f"--out {out}: could not write it ({exc.strerror or exc})") from None
    print(f"wrote {out} (as of {pack.as_of_text}; log head {pack.head_hash})")
    return EXIT_OK


# --- parser ------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    default = None if top else argparse.SUPPRESS
    p.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help="database URL (default: $SIPDASH_DATABASE_URL or sqlite:///sipdash.db); "
        "postgresql://user@host/db works too",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="no progress bars",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sipdash",
        description="SIP case-note audit: an append-only event log, audit measures and NHS "
        "Making Data Count SPC charts for agenda setting, goal setting and follow-up.",
    )
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str, **kw):
        p = sub.add_parser(name, help=help_, description=help_, **kw)
        _common(p)
        p.set_defaults(func=fn)
        return p

    p = add("seed", cmd_seed, "write a deterministic synthetic programme into an empty database")
    p.add_argument("--scenario", choices=["demo", "large"], default="demo")
    p.add_argument("--seed", type=int, default=42, help="same seed, same log (default 42)")
    p.add_argument("--teams", type=int, help="number of teams (large scenario)")
    p.add_argument("--months", type=int, help="number of months (large scenario)")
    p.add_argument("--consultations", type=int, help="total consultations (large scenario)")
    p.add_argument("--if-empty", action="store_true", help="do nothing if the database has events")

    p = add("serve", cmd_serve, "run the dashboard")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument(
        "--address",
        default=LOCAL_ADDRESS,
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for a container "
        "or a remote demo, with sign-in configured for anything shared)",
    )

    p = add("verify", cmd_verify, "check the hash chain of the whole log")
    p.add_argument(
        "--expect-head",
        metavar="HASH",
        type=_expected_head,
        help="a head hash published earlier that must still be on the chain: the full hash "
        "or a prefix of at least 12 hex digits, any case",
    )
    p.add_argument(
        "--read-models",
        action="store_true",
        help="also fold the whole log afresh (into a temporary SQLite file) and check that "
        "every read model the figures are read from equals it: catches read-model rows "
        "edited outside sipdash, which the chain cannot see (takes about as long as "
        "`sipdash rebuild`)",
    )

    p = add("rebuild", cmd_rebuild, "rebuild every read model from the log")
    p.add_argument(
        "--batch-size",
        type=int,
        default=50_000,
        help="events folded per transaction (default 50000; each batch commits with its "
        "checkpoint, so an interrupted rebuild resumes from the last whole batch)",
    )

    p = add("audit", lambda a: EXIT_USAGE, "run audit rounds and report measures")
    audit_sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    r = audit_sub.add_parser("run", help="open and complete (automated) audit rounds for a month")
    _common(r)
    r.set_defaults(func=cmd_audit_run)
    r.add_argument("--period", required=True, type=_period, help="the month, YYYY-MM")
    r.add_argument("--team", help="one team, by id or name, any case (default: every team)")
    g = r.add_mutually_exclusive_group()
    g.add_argument(
        "--sample", type=_at_least_one, default=20, help="notes per team-month (default 20)"
    )
    g.add_argument("--census", action="store_true", help="review every note")
    r.add_argument("--new-round", action="store_true", help="open another round even if one exists")
    r = audit_sub.add_parser("report", help="measures per team per period")
    _common(r)
    r.set_defaults(func=cmd_audit_report)
    r.add_argument("--format", choices=["table", "csv", "json"], default="table")
    r.add_argument("--as-of", help="ISO 8601 date/time, inclusive, UTC if no zone")
    r.add_argument("--quarterly", action="store_true")
    r.add_argument(
        "--source",
        choices=["case_notes", "surveys"],
        default="case_notes",
        help="case-note audit (default) or patient surveys (same JSON shape)",
    )
    r = audit_sub.add_parser(
        "headline", help="culture shift over time: k of n teams with each enabler the norm"
    )
    _common(r)
    r.set_defaults(func=cmd_audit_headline)
    r.add_argument("--format", choices=["table", "csv", "json"], default="table")
    r.add_argument("--as-of", help="ISO 8601 date/time, inclusive, UTC if no zone")

    p = add(
        "spc",
        cmd_spc,
        "SPC for any series in a CSV file (period,value or period,numerator,denominator)",
    )
    p.add_argument(
        "file",
        help="CSV with a header row: period,value (xmr, run) or period,numerator,denominator "
        "(p); rows are taken in file order; each period label once; a label shaped like a date "
        "(YYYY-MM, YYYY-MM-DD) must be a real one",
    )
    p.add_argument(
        "--chart",
        choices=["xmr", "p", "run"],
        default="xmr",
        help="xmr: mean ± 2.66 × mean moving range; p: proportions numerator/denominator; "
        "run: median and Anhøj's rules (default: xmr)",
    )
    p.add_argument(
        "--improvement",
        choices=["up", "down", "neither"],
        default="up",
        help="which direction is better (default: up)",
    )
    p.add_argument(
        "--target",
        type=float,
        metavar="X",
        help="target in the units of the values: for a p-chart a proportion 0–1 (0.8 = 80%%), "
        "else the values' own unit (default: none, no assurance icon)",
    )
    p.add_argument(
        "--baseline",
        type=int,
        metavar="N",
        help="limits from the first N points (a count of rows, ≥ 1), carried forward; "
        "overrides --recalculate-at as in the MDC tools (default: all points)",
    )
    p.add_argument(
        "--recalculate-at",
        action="append",
        default=[],
        metavar="PERIOD",
        help="a period label from the file where new limits start; repeatable (default: none)",
    )
    p.add_argument(
        "--shift",
        type=int,
        default=None,
        choices=[6, 7, 8],
        help="points in a row on one side of the centre that make a shift; when not given, "
        "the programme's SPC setting in the database, if there is one (default: 6)",
    )
    p.add_argument(
        "--trend",
        type=int,
        default=None,
        choices=[6, 7, 8],
        help="points in a row rising or falling that make a trend; when not given, the "
        "programme's SPC setting in the database, if there is one (default: 6)",
    )
    p.add_argument(
        "--format",
        choices=["csv", "json"],
        default="csv",
        help="output: one CSV row per point, or JSON with points and summary (default: csv)",
    )

    p = add("backup", cmd_backup, "write the whole log as JSON lines")
    p.add_argument("file")
    p = add("restore", cmd_restore, "load a backup into an empty database (same head hash)")
    p.add_argument("file")

    p = add(
        "import", cmd_import, "validated, all-or-nothing CSV import (re-import appends nothing)"
    )
    p.add_argument("kind", choices=["consultations", "reviews", "surveys", "training"])
    p.add_argument("file")
    p.add_argument(
        "--register-teams",
        action="store_true",
        help="register teams the file names but the log lacks",
    )
    p.add_argument(
        "--corrections",
        action="store_true",
        help="record enablers now no (or na) that the log has as yes, as corrections",
    )

    p = add("forget", cmd_forget, "erase a patient's pseudonym mapping (the log stays intact)")
    p.add_argument("patient", help="the NHS number or local id, or - to read it from stdin")
    p.add_argument("--by", required=True, help="who asked for the erasure (recorded)")

    p = add("key", lambda a: EXIT_USAGE, "pseudonym keys")
    key_sub = p.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    r = key_sub.add_parser(
        "generate",
        help="print a new random pseudonym key (256 bits) for SIPDASH_PSEUDONYM_KEY",
    )
    _common(r)
    r.set_defaults(func=cmd_key_generate)

    p = add("report", cmd_report, "write the review pack (HTML or PDF) as of a moment")
    p.add_argument("--out", required=True, metavar="FILE.html|FILE.pdf")
    p.add_argument("--as-of", help="ISO 8601 date/time, inclusive, UTC if no zone")
    p.add_argument(
        "--at-head",
        metavar="HASH",
        help="rebuild the pack from the position of a published head hash (16+ hex digits)",
    )
    p.add_argument("--by", default="sipdash report", help="who exported it (recorded)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"sipdash: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("sipdash: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one clear line, never a traceback
        from events import StoreError

        if isinstance(exc, StoreError):
            print(f"sipdash: error: {exc}", file=sys.stderr)
            return EXIT_FAIL
        if os.environ.get("SIPDASH_DEBUG"):
            raise
        print(
            f"sipdash: unexpected error ({describe_unexpected(exc)}). "
            "Set SIPDASH_DEBUG=1 for details.",
            file=sys.stderr,
        )
        return EXIT_FAIL


def describe_unexpected(exc: BaseException) -> str:
    """What went wrong, without any value: the exception class, for a database error the
    kind of statement (SQLAlchemy's message embeds the statement's parameters, e.g. keyed
    hashes and tokens, and PostgreSQL's detail quotes key values), and where it was raised.
    An unexpected error's message may hold anything, so it is never printed."""
    import traceback

    from sqlalchemy.exc import StatementError

    what = type(exc).__name__
    if isinstance(exc, StatementError):
        orig = getattr(exc, "orig", None)
        if orig is not None:
            what += f" from {type(orig).__name__}"
        verb = (exc.statement or "").split(None, 1)
        if verb:
            what += f" in a {verb[0].upper()} statement"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        what += f" at {Path(last.filename).name}:{last.lineno}"
    return what


if __name__ == "__main__":
    raise SystemExit(main())
