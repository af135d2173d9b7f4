"""Event ids: UUID v7 (RFC 9562), so ids recorded close in time sort close together.

The log keeps a unique index on ``event_id``; random (v4) ids would write that index at a random
page per append, which at millions of events costs more than the append itself.
"""

from __future__ import annotations

import os
import time

RAND_B = (1 << 62) - 1


def uuid7_from(unix_ms: int, rand74: int) -> str:
    """A UUID v7 (RFC 9562): 48-bit Unix milliseconds, version 7, 74 random bits, variant 10."""
    n = (unix_ms << 80) | (0x7 << 76) | ((rand74 >> 62) << 64) | (0b10 << 62) | (rand74 & RAND_B)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_event_id() -> str:
    """A fresh UUID v7 from the wall clock and 74 bits from the operating system."""
    return uuid7_from(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10)) >> 6)
