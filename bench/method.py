"""The benchmark method in one place: interleaved repetitions, medians with their spread.

The machine is shared and noisy, so a ratio is never one sample of each side: the contenders
run A B A B … (``interleave``), each figure is the median of its repetitions with min–max and
the quartiles (``spread``), and a ratio is the median of the per-repetition ratios
(``ratio``), so a load spike during one repetition falls on both sides of that repetition.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: repetitions for every ratio at 10k–1M (the design asks for at least five)
REPS = 5


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and quartiles of ``values`` (all of them kept, in run order)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values to summarise")
    q1, q3 = (
        (statistics.quantiles(vals, n=4, method="inclusive")[i] for i in (0, 2))
        if len(vals) > 1
        else (vals[0], vals[0])
    )
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "q1": q1,
        "q3": q3,
        "n": len(vals),
        "values": vals,
    }


def ratio(peer: Sequence[float], ours: Sequence[float], per: float = 1.0) -> dict[str, Any]:
    """Per-repetition ``peer / ours`` (times: above 1 means sipdash is faster) summarised.

    ``per`` rescales when the two sides did different amounts of work (events of ours / events
    of the peer), so the ratio stays one of rates.
    """
    if len(peer) != len(ours):
        raise ValueError(f"unpaired repetitions: {len(peer)} peer vs {len(ours)} ours")
    return spread([p * per / o for p, o in zip(peer, ours, strict=True)])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` took (after a collection, so garbage of the last run is not billed)."""
    gc.collect()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def interleave(
    contenders: Mapping[str, Callable[[], float]],
    reps: int = REPS,
    on_rep: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, list[float]]:
    """Run each contender once per repetition, in the given order, ``reps`` times.

    Each contender returns its own measured seconds (its set-up, such as creating tables or
    copying a database, stays outside what it returns). Order: A B C, A B C, … .
    """
    if reps < 1:
        raise ValueError("at least one repetition")
    out: dict[str, list[float]] = {name: [] for name in contenders}
    for rep in range(reps):
        this: dict[str, float] = {}
        for name, fn in contenders.items():
            gc.collect()
            this[name] = float(fn())
            out[name].append(this[name])
        if on_rep is not None:
            on_rep(rep, this)
    return out


def fmt_spread(s: Mapping[str, Any] | None, spec: str = ".2f", scale: float = 1.0) -> str:
    """``median (min–max)`` for tables; ``–`` when there is nothing."""
    if not s:
        return "–"
    med, lo, hi = (s[k] * scale for k in ("median", "min", "max"))
    return f"{format(med, spec)} ({format(lo, spec)}–{format(hi, spec)})"
