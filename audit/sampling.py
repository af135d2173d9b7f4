"""Reproducible case-note sampling for audit rounds.

Rank a team-month's consultations by a keyed hash of (sampling seed, consultation id) and take
the lowest ``n``. The rank of a note never depends on the other notes, so a later round with
the same seed draws the same notes plus any late note that ranks in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

DEFAULT_SAMPLE_SIZE = 20
DEFAULT_SECOND_REVIEW_SHARE = 0.10


def rank_key(sampling_seed: str, consultation_id: str) -> str:
    """The keyed hash that orders notes for sampling (HMAC-SHA256, hex)."""
    return hmac.new(
        sampling_seed.encode("utf-8"), consultation_id.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def draw_sample(consultation_ids: Iterable[str], n: int | None, sampling_seed: str) -> list[str]:
    """The ``n`` lowest-ranked ids (all of them, ranked, when ``n`` is None: a census)."""
    ranked = sorted(set(consultation_ids), key=lambda cid: rank_key(sampling_seed, cid))
    return ranked if n is None else ranked[:n]


def second_review_ids(sample: list[str], share: float, sampling_seed: str) -> list[str]:
    """Which sampled notes get a blind second review: the first ``round(share·n)`` (halves up,
    at least one) ranked by a second key, so 10% of a 21-note sample is 2 notes, not 3."""
    if share <= 0 or not sample:
        return []
    k = max(1, round(share * len(sample) + 1e-9))
    return sorted(sample, key=lambda cid: rank_key(sampling_seed + ":second", cid))[:k]
