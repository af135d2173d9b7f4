"""Counts in messages, worded once (imported by the import paths: plain Python, so the import
commands stay free of pandas)."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None, *, grouped: bool = False) -> str:
    """``n`` and its noun, singular for one ("1 row", "2 rows"), so a message never says
    "1 rows". ``grouped``: thousands separated (the dashboard; the CLI's lines stay plain
    digits for scripts that read them)."""
    number = f"{n:,}" if grouped else str(n)
    return f"{number} {noun if n == 1 else (plural or noun + 's')}"
