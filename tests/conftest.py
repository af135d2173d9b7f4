"""Shared fixtures for every test folder (unit/, integration/, e2e/).

Real infrastructure, no mocks (see docs/adr/0002-real-databases-and-browser-in-tests.md):

- ``pg_server``   a throwaway PostgreSQL server started with initdb/pg_ctl for the session
                  (or the server named by ``TEST_DATABASE_URL``).
- ``db_url``      a fresh, empty database URL, parametrized over SQLite and PostgreSQL, so a
                  test taking it runs once per backend (the store contract suite).
- ``sqlite_url``  a fresh SQLite file URL only.
- ``chromium_path`` / ``chromium_launch_kwargs``  Debian's /usr/bin/chromium for Playwright
                  (``playwright install`` is never used: there is no internet on CI).

When PostgreSQL or chromium is missing the tests that need it are skipped with a reason,
except under ``CI=true``, where a missing dependency is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.helpers.serve import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PG_USER = "postgres"

# Stops the server if pytest dies without tearing down (SIGKILL, SIGTERM, crash): it polls its
# parent (pytest) and, once reparented, runs the stop command and removes the directory.
_WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, base, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.getppid() == parent:
    time.sleep(0.5)
subprocess.run(cmd, cwd=base, capture_output=True, timeout=60)
shutil.rmtree(base, ignore_errors=True)
"""


def _in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _unavailable(reason: str) -> None:
    """Skip locally; fail on CI, where every dependency must be provisioned."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: missing dependencies are failures)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_major(bindir: Path) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [str(bindir / "initdb"), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    m = re.search(r"(\d+)(?:\.(\d+))?", out)
    return tuple(int(g) for g in m.groups() if g is not None) if m else ()


def find_pg_bindir() -> Path | None:
    """Directory holding initdb and pg_ctl: the highest version found on PATH or under
    /usr/lib/postgresql/*/bin."""
    candidates: set[Path] = set()
    on_path = shutil.which("initdb")
    if on_path:
        candidates.add(Path(on_path).resolve().parent)
    for found in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        candidates.add(Path(found).resolve().parent)
    usable = [d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()]
    versioned = [(v, d) for d in usable if (v := _pg_major(d))]
    if not versioned:
        return None
    return max(versioned)[1]


def _psycopg_conninfo(sqlalchemy_url: str) -> str:
    """SQLAlchemy URL (``postgresql+psycopg://...``) -> libpq URI for psycopg."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


@dataclass
class PgServer:
    """A PostgreSQL server for the test session."""

    admin_url: str  # SQLAlchemy URL of the maintenance database, e.g. .../postgres
    created: list[str] = field(default_factory=list)

    def connect_admin(self) -> psycopg.Connection:
        return psycopg.connect(_psycopg_conninfo(self.admin_url), autocommit=True)

    def new_database(self, prefix: str = "sipdash_test") -> str:
        """Create a uniquely named empty database; return its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        with self.connect_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return (
            make_url(self.admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )

    def drop_created(self) -> None:
        with contextlib.suppress(psycopg.Error), self.connect_admin() as conn:
            for name in self.created:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


class _LocalPostgres:
    """initdb + pg_ctl in a private directory under /tmp, run as ``postgres`` when root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="sipdash-pg-", dir="/tmp"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.log = self.base / "server.log"
        self.port: int | None = None
        self.started = False
        self.watchdog: subprocess.Popen | None = None

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        return cmd

    def _run(self, *args: str, check: bool = True, timeout: float = 120):
        cmd = self._cmd(*args)
        # cwd: the postgres user must be able to enter it (root's cwd may be /root, 0700).
        return subprocess.run(
            cmd,
            cwd=self.base,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def start(self) -> str:
        self.sock.mkdir()
        if self.as_root:
            pw = pwd.getpwnam(PG_USER)
            for p in (self.base, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        res = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            PG_USER,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")

        last_error = ""
        for _attempt in range(3):  # a "free" port can be taken before the server binds it
            self.port = free_port()
            opts = (
                f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            res = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if res.returncode == 0:
                self.started = True
                break
            last_error = f"{res.stdout}\n{res.stderr}\n{self._log_tail()}"
            self.stop()
        else:
            raise RuntimeError(f"pg_ctl start failed:\n{last_error}")

        self.watchdog = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(os.getpid()),
                str(self.base),
                *self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # survives a Ctrl-C sent to pytest's process group
        )
        url = f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/postgres"
        self._wait_ready(url)
        return url

    def _wait_ready(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(_psycopg_conninfo(url), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL not accepting connections: {exc}\n{self._log_tail()}"
                    ) from exc
                time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            return "server log:\n" + "\n".join(self.log.read_text().splitlines()[-30:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        self.started = False

    def cleanup(self) -> None:
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session.

    ``TEST_DATABASE_URL`` (an admin URL, e.g. ``postgresql://postgres@host:5432/postgres``)
    selects an existing server; otherwise one is started from the local binaries.
    """
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        admin = make_url(external).set(drivername="postgresql+psycopg")
        server = PgServer(admin_url=admin.render_as_string(hide_password=False))
        try:
            yield server
        finally:
            server.drop_created()
        return

    bindir = find_pg_bindir()
    if bindir is None:
        _unavailable(
            "PostgreSQL binaries (initdb, pg_ctl) not found on PATH or under "
            "/usr/lib/postgresql/*/bin; install the 'postgresql' package or set "
            "TEST_DATABASE_URL"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            _unavailable(
                f"running as root but there is no '{PG_USER}' user to run PostgreSQL as "
                "(PostgreSQL refuses to run as root)"
            )
        if shutil.which("runuser") is None:
            _unavailable("running as root but 'runuser' is not available")

    local = _LocalPostgres(bindir)
    try:
        url = local.start()
        yield PgServer(admin_url=url)
    finally:
        local.cleanup()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite database file URL."""
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL; tests taking it run once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.new_database()


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium binary, for Playwright's ``executable_path``."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(
            f"{CHROMIUM} not found; install Debian's 'chromium' package "
            "('playwright install' cannot work without internet)"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium_launch_kwargs(chromium_path: str) -> dict:
    """Keyword arguments for ``playwright.chromium.launch(**kwargs)``."""
    return {"executable_path": chromium_path, "headless": True, "args": list(CHROMIUM_ARGS)}


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """Streamlit's script runner (AppTest) installs the app as ``sys.modules["__main__"]`` and
    leaves it there; a later ``multiprocessing`` spawn would then re-run the app in every child.
    Put the real ``__main__`` back after each test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


# --------------------------------------------------------------------------- legacy events


@pytest.fixture
def case_note_reviewed_v1() -> type:
    """``CaseNoteReviewed`` as written before "not applicable" existed (schema version 1)."""
    from typing import ClassVar

    from events.types import Event

    class CaseNoteReviewedV1(Event):
        type: ClassVar[str] = "CaseNoteReviewed"
        schema_version: ClassVar[int] = 1
        stream_prefix: ClassVar[str] = "audit"
        stream_key: ClassVar[str] = "round_id"
        round_id: str
        consultation_id: str
        reviewer_id: str
        agenda_setting: bool
        goal_setting: bool
        follow_up: bool

    return CaseNoteReviewedV1
