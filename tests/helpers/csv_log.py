"""A small log built the way a user builds one: a consultations CSV imported through the CLI
(one team, ``msk``, registered by the import). Shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

from dashboard.cli import main

HEADER = "consultation_id,team,clinician,patient,occurred_on,contact,agenda_setting,goal_setting,follow_up"


def imported_notes(url: str, folder: Path, notes: int = 12, *, agenda=lambda i: "yes") -> str:
    """``url`` with ``notes`` consultations of team msk in 2025-01 (c-0, c-1, …; agenda
    setting ``agenda(i)``), imported from a CSV written into ``folder``; returns ``url``."""
    rows = [
        f"c-{i},msk,K01,L{i},2025-01-{10 + i:02d},face_to_face,{agenda(i)},no,yes"
        for i in range(notes)
    ]
    csv = folder / "notes.csv"
    csv.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    code = main(["import", "consultations", str(csv), "--register-teams", "--db", url, "-q"])
    assert code == 0, f"the import of {csv} failed"
    return url
