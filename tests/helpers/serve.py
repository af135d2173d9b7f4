"""``sipdash serve`` for the browser tests: started in its own process group on a free port,
waited for, and stopped with its Streamlit child."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sipdash_command() -> list[str]:
    """The installed ``sipdash`` script, or the CLI module run by this interpreter."""
    exe = Path(sys.executable).with_name("sipdash")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dashboard.cli"]


def stop(proc: subprocess.Popen) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL if it does not go."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def serve(db: Path, log: Path, command: list[str] | None = None) -> Iterator[str]:
    """``sipdash serve`` on the SQLite file ``db`` (output to ``log``); yields its base URL once
    healthy and stops it afterwards (a fixture's body: ``yield from serve(...)``). Up to three
    ports are tried: a "free" port can be taken before Streamlit binds it."""
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *(command or sipdash_command()),
                    "serve",
                    "--port",
                    str(port),
                    "--address",
                    "127.0.0.1",
                    "--db",
                    f"sqlite:///{db}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            last_error = log.read_text(errors="replace")
            stop(proc)
            continue
        try:
            yield base
        finally:
            stop(proc)
        return
    pytest.fail(f"sipdash serve did not come up:\n{last_error}")


def settle(page: Page) -> None:
    """Wait until the script run has finished (the 'running' indicator is gone)."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_timeout(500)  # a rerun's status widget can take a moment to appear
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )
    page.wait_for_timeout(800)  # charts finish drawing after the run
