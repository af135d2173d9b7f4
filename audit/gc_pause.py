"""The cyclic garbage collector held off while a bulk import builds its objects.

An import of 50,000 rows makes several hundred thousand small objects (row dicts, row models,
events, their payloads) that all live until the append ends. CPython's collector runs after
every 700 allocations and, as the heap grows, walks the survivors again and again: measured
on the 50,000-row files, a quarter of the import's wall time (``bench/survey_bench.py``,
docs/performance.md). Nothing an import makes needs the cycle collector (reference counting
frees it), so the collector is paused for the import and resumed after, whatever happens.

The pause is process-wide (the collector is), counted so that overlapping imports in one
process (two dashboard sessions) resume it only when the last one ends, and it never turns on
a collector that someone else had turned off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

__all__ = ["collector_paused", "paused_collector"]

_lock = threading.Lock()
_depth = 0
_resume = False

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with ``gc`` disabled; the collector's former state is restored after."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


def paused_collector(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of :func:`collector_paused`, for an import's entry point."""

    @wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with collector_paused():
            return func(*args, **kwargs)

    return run
