"""How a team, as typed in a file or on the command line, is matched to a registered team.

The design names a team by "a registered team's id or name (case-insensitive)". Spellings a
reader cannot tell apart must name one team too, or one team's notes split across several
registered teams and every figure of each is quietly wrong: the key folds case (``casefold``),
Unicode compatibility forms (NFKC: composed and decomposed accents, no-break spaces), invisible
format characters (zero-width spaces and joiners, the byte-order mark, soft hyphens) and runs
of white space. Only ``unicodedata`` and ``re``: the import path never loads more for it.
"""

from __future__ import annotations

import re
import unicodedata

#: characters that print as nothing: removed before comparing
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"\s+")


def team_key(text: str) -> str:
    """The form two spellings of one team share: ``team_key("Café  MSK") ==
    team_key("CAFE\\u0301 msk")``."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return _SPACES.sub(" ", folded).strip().casefold()
