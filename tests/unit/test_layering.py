"""The layering, checked on the source (ast, no import, no I/O): the dashboard goes through the
audit services and queries; the core never reaches up into the dashboard.

- no module under ``dashboard/`` imports from ``events.types`` (event classes are built by the
  audit services; constants such as MEASURES come through ``audit``), nor ``NewEvent``;
- the dashboard holds no SQL: no SQLAlchemy statement builders (``text``, ``select``, ...), no
  ``execute``/``exec_driver_sql`` calls, no SQL string literals (SELECT/INSERT/UPDATE/DELETE);
- ``audit/`` and ``events/`` import nothing from ``dashboard`` or ``streamlit``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Files that still break a dashboard rule, each with who removes it and why.
KNOWN_EXCEPTIONS: dict[str, str] = {}

SQL_BUILDERS = {
    "text",
    "select",
    "insert",
    "update",
    "delete",
    "func",
    "literal_column",
    "table",
    "column",
}
EXECUTE_CALLS = {"execute", "exec_driver_sql", "executemany", "executescript"}
SQL_LITERAL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
)


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _strings(node: ast.AST) -> list[str]:
    """String constants, with the literal parts of f-strings joined (``f"SELECT {x} FROM"``)."""
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.JoinedStr):
            out.append(
                "".join(
                    v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else " x "
                    for v in n.values
                )
            )
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.append(n.value)
    return out


def dashboard_violations(source: str) -> list[str]:
    """Every dashboard rule the module's source breaks, one line each."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module == "events.types" or node.module.startswith("events.types."):
                found.append(f"line {node.lineno}: imports {sorted(names)} from events.types")
            if node.module == "events" and "NewEvent" in names:
                found.append(f"line {node.lineno}: imports NewEvent (events are built in audit)")
            if node.module.split(".")[0] == "sqlalchemy" and names & SQL_BUILDERS:
                found.append(
                    f"line {node.lineno}: imports SQL builder(s) {sorted(names & SQL_BUILDERS)} "
                    f"from {node.module}"
                )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "events.types":
                    found.append(f"line {node.lineno}: imports events.types")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in EXECUTE_CALLS
        ):
            found.append(f"line {node.lineno}: calls .{node.func.attr}() (SQL belongs in audit)")
    for text in _strings(tree):
        if SQL_LITERAL.search(text):
            found.append(f"holds a SQL string: {text[:60]!r}")
    return found


def core_violations(source: str) -> list[str]:
    """Imports of the dashboard or streamlit from a core module, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        for module in modules:
            if module.split(".")[0] in ("dashboard", "streamlit"):
                found.append(f"line {node.lineno}: imports {module}")
    return found


@pytest.mark.parametrize("path", _sources("dashboard"), ids=_rel)
def test_no_dashboard_module_builds_events_or_speaks_sql(path: Path) -> None:
    if _rel(path) in KNOWN_EXCEPTIONS:
        pytest.skip(f"known exception: {KNOWN_EXCEPTIONS[_rel(path)]}")
    assert dashboard_violations(path.read_text(encoding="utf-8")) == [], _rel(path)


@pytest.mark.parametrize("path", _sources("audit") + _sources("events"), ids=_rel)
def test_the_core_imports_nothing_from_the_dashboard_or_streamlit(path: Path) -> None:
    assert core_violations(path.read_text(encoding="utf-8")) == [], _rel(path)


# --- the checks themselves catch what they are for -------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "from events.types import MilestoneLogged\n",
        "from events.types import MEASURES\n",
        "import events.types\n",
        "from events import EventStore, NewEvent\n",
        "from sqlalchemy import text\n",
        "from sqlalchemy import func, select\n",
        "engine.connect().exec_driver_sql('x')\n",
        "conn.execute(q)\n",
        "q = 'SELECT position FROM events WHERE hash LIKE ?'\n",
        "q = f'SELECT 1 FROM {table} WHERE x = 1'\n",
        "q = 'DELETE FROM rm_teams'\n",
        "q = 'INSERT INTO events (a) VALUES (1)'\n",
        "q = 'UPDATE rm_teams SET name = 1'\n",
    ],
)
def test_the_dashboard_check_catches_events_and_sql(source: str) -> None:
    assert dashboard_violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "st.selectbox('Select a team', names)\n",
        "text = 'Select the month from the list'\n",
        "from sqlalchemy import Engine\n",
        "from sqlalchemy.exc import StatementError\n",
        "from audit.labels import MEASURES\n",
        "from events import EventStore\n",
        "msg = 'the update of the read models'\n",
    ],
)
def test_the_dashboard_check_leaves_plain_words_and_types_alone(source: str) -> None:
    assert dashboard_violations(source) == []


def test_the_core_check_catches_dashboard_and_streamlit_imports() -> None:
    assert core_violations("import streamlit as st\n")
    assert core_violations("from dashboard import data\n")
    assert core_violations("from dashboard.charts import spc_chart\n")
    assert core_violations("from .queries import teams\nimport pandas\n") == []
