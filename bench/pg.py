"""A throwaway PostgreSQL server for the benchmarks, started the way the tests start one
(``tests/conftest.py``: initdb + pg_ctl under /tmp, as ``postgres`` via runuser when root),
but with the durability settings restored (fsync, full_page_writes, synchronous_commit on)
so that it compares fairly with SQLite at ``synchronous=FULL``."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]


def _conftest():
    spec = importlib.util.spec_from_file_location("sipdash_conftest", ROOT / "tests/conftest.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while defining
    spec.loader.exec_module(mod)
    return mod


class BenchPostgres:
    def __init__(self) -> None:
        self._c = _conftest()
        self.local = None
        self.admin_url: str | None = None
        self.version = ""

    def start(self) -> str | None:
        """Start the server; returns the admin URL, or None when PostgreSQL is unavailable."""
        external = os.environ.get("BENCH_DATABASE_URL")
        if external:
            self.admin_url = external.replace("postgresql://", "postgresql+psycopg://", 1)
        else:
            bindir = self._c.find_pg_bindir()
            if bindir is None:
                return None
            self.local = self._c._LocalPostgres(bindir)
            self.admin_url = self.local.start()
            # the tests run with fsync=off on the command line (which ALTER SYSTEM cannot
            # override): restart on the same port and socket with the durable defaults
            lp = self.local
            lp.stop()
            opts = f"-p {lp.port} -k {lp.sock} -c listen_addresses=127.0.0.1"
            lp._run("pg_ctl", "-D", str(lp.data), "-l", str(lp.log), "-o", opts, "-w", "start")
            lp.started = True
            lp._wait_ready(self.admin_url)
        with self._admin() as conn:
            self.version = conn.execute("SHOW server_version").fetchone()[0]
        return self.admin_url

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self._c._psycopg_conninfo(self.admin_url), autocommit=True)

    def settings(self) -> dict[str, str]:
        with self._admin() as conn:
            return {
                s: conn.execute(f"SHOW {s}").fetchone()[0]
                for s in ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
            }

    def new_database(self) -> str:
        name = f"sipdash_bench_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.local is not None:
            self.local.cleanup()
            self.local = None
