"""Bad input against a real database and the real CLI: named refusals, never partial appends.

Fuzzed CSV imports (consultations and reviews) run against SQLite and PostgreSQL: each file is
either imported whole or refused whole, with every problem naming its row (as a spreadsheet
numbers it) and column — never a traceback, never a partial append. ``sipdash spc`` is fuzzed
through ``main``: exit 0 with the contract's output, or exit 1 with one clear message.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audit.imports
from audit.imports import CONSULTATION_COLUMNS, Importer, ImportRefused, ImportResult
from audit.projections import Projector
from audit.service import AuditService
from dashboard.cli import main
from events import EventStore, NewEvent
from events.pseudonym import PatientRegistry
from events.types import TeamRegistered

KEY = "reliability-bad-input-key-0123456789abcdef0123"
HEADER = ",".join(CONSULTATION_COLUMNS)
REVIEW_HEADER = "team,period,consultation_id,reviewer,agenda_setting,goal_setting,follow_up"
#: every refusal line names the file and then a row, or says what is wrong with the whole file
REFUSAL_LINE = re.compile(r"^[\w.]+\.csv: (row \d+(, column \w+)?[:,] |the file )")
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def store(db_url: str) -> EventStore:
    s = EventStore(db_url)
    Projector(s).ensure_schema()
    s.append(
        [
            NewEvent(TeamRegistered(team_id=t, name=t.upper(), site="North", service="COPD"))
            for t in ("msk1", "copd1")
        ]
    )
    yield s
    s.dispose()


@pytest.fixture
def importer(store: EventStore) -> Importer:
    registry = PatientRegistry(store.engine, KEY)
    registry.ensure_schema()
    return Importer(store, registry, demo_key=False, projector=Projector(store))


def _csv(header: str, rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    out.write(header + "\n")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _attempt(store: EventStore, run) -> ImportResult | ImportRefused:
    """Run an import; check the all-or-nothing promise whichever way it goes."""
    before = store.head().position
    try:
        result = run()
    except ImportRefused as exc:
        assert exc.errors
        for line in exc.errors:
            assert REFUSAL_LINE.match(line), f"a refusal that names no row: {line!r}"
        assert store.head().position == before, "a refused import appended something"
        return exc
    assert store.head().position == before + result.appended
    return result


garbage = st.one_of(
    st.text(max_size=15),
    st.sampled_from(["", " ", "x" * 121, "a\nb", "\x00", "😀", "=1+1", "NULL", "'; DROP TABLE"]),
)
consultation_cells = st.tuples(
    st.one_of(st.from_regex(r"c-[0-9]{1,3}", fullmatch=True), garbage),
    st.one_of(st.sampled_from(["msk1", "COPD1", "copd1", "MSK1", "nope"]), garbage),
    st.one_of(st.sampled_from(["K1", "K2"]), garbage),
    st.one_of(
        st.sampled_from(["943 476 5919", "9434765919", "9434765918", "LOCAL-1", "L2"]), garbage
    ),
    st.one_of(
        st.sampled_from(
            ["2024-03-04", "1900-01-01", "2200-01-01", "1989-12-31", "2024-02-30", "2024-3-4"]
        ),
        garbage,
    ),
    st.one_of(st.sampled_from(["video", "telephone", "face-to-face", "Face to face"]), garbage),
    *[st.one_of(st.sampled_from(["yes", "no", "Y", "0", "n/a"]), garbage)] * 3,
).map(list)


valid_consultation = st.builds(
    lambda i, team, day, flags: [
        f"c-{i}",
        team,
        "K1",
        f"L{i % 7}",
        f"2024-03-{day:02d}",
        "video",
        *flags,
    ],
    st.integers(0, 400),
    st.sampled_from(["msk1", "copd1", "MSK1"]),
    st.integers(1, 28),
    st.lists(st.sampled_from(["yes", "no"]), min_size=3, max_size=3),
)


@FUZZ
@given(rows=st.lists(valid_consultation | consultation_cells, min_size=1, max_size=8))
def test_fuzzed_consultation_files_are_imported_whole_or_refused_whole_naming_rows(
    store: EventStore, importer: Importer, rows: list[list[str]]
) -> None:
    outcome = _attempt(store, lambda: importer.import_consultations(_csv(HEADER, rows)))
    if isinstance(outcome, ImportRefused):
        for nhs in ("943 476 5919", "9434765919", "9434765918"):
            assert nhs not in str(outcome)
    else:
        assert store.verify().ok


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_as_a_consultation_file_are_refused_naming_the_problem(
    store: EventStore, importer: Importer, data: bytes
) -> None:
    _attempt(store, lambda: importer.import_consultations(data, source="random.csv"))


@pytest.fixture
def open_round(store: EventStore, importer: Importer) -> tuple[str, ...]:
    rows = [
        [f"c{i}", "msk1", "K1", f"L{i}", f"2024-03-{1 + i:02d}", "video", "yes", "no", "yes"]
        for i in range(12)
    ]
    importer.import_consultations(_csv(HEADER, rows))
    return (
        AuditService(store, projector=Projector(store))
        .open_round("msk1", "2024-03", sample_size=6)
        .sampled
    )


@FUZZ
@given(data=st.data())
def test_fuzzed_review_files_are_imported_whole_or_refused_whole_naming_rows(
    store: EventStore, importer: Importer, open_round: tuple[str, ...], data: st.DataObject
) -> None:
    review_cells = st.tuples(
        st.one_of(st.sampled_from(["msk1", "MSK1", "copd1"]), garbage),
        st.one_of(st.sampled_from(["2024-03", "2024-04", "2024-3", "1900-01"]), garbage),
        st.one_of(st.sampled_from((*open_round, "c11", "zz")), garbage),
        st.one_of(st.sampled_from(["rev-a", "rev-b"]), garbage),
        *[st.one_of(st.sampled_from(["yes", "no", "na", "N/A"]), garbage)] * 3,
    ).map(list)
    rows = data.draw(st.lists(review_cells, min_size=1, max_size=6))
    _attempt(store, lambda: importer.import_reviews(_csv(REVIEW_HEADER, rows)))


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"occurred_on": "1900-01-01"}, "row 2, column occurred_on: 1900-01-01 is outside"),
        ({"occurred_on": "2200-01-01"}, "row 2, column occurred_on: 2200-01-01 is outside"),
        ({"consultation_id": "c" * 500}, "row 2, column consultation_id: longer than 120"),
        ({"clinician": "K" * 121}, "row 2, column clinician: longer than 120"),
        ({"consultation_id": "c\n1"}, "row 2, column consultation_id: contains a line break"),
        ({"patient": "x" * 200_000}, "row 2: not readable as CSV (a cell is longer than"),
        ({"contact": "943 476 5919"}, "row 2, column contact: expected one of"),
        ({"agenda_setting": "9434765919"}, "row 2, column agenda_setting: expected yes or no"),
    ],
)
def test_absurd_consultation_cells_are_refused_naming_row_and_column(
    store: EventStore, importer: Importer, cells: dict[str, str], expected: str
) -> None:
    row = dict(
        zip(
            CONSULTATION_COLUMNS,
            ["c1", "msk1", "K1", "L1", "2024-03-04", "video", "yes", "no", "yes"],
            strict=True,
        )
    )
    row.update(cells)
    outcome = _attempt(
        store, lambda: importer.import_consultations(_csv(HEADER, [list(row.values())]))
    )
    assert isinstance(outcome, ImportRefused)
    assert expected in str(outcome)
    assert "943 476 5919" not in str(outcome) and "9434765919" not in str(outcome)


def test_a_long_team_name_is_refused_before_registering_it(
    store: EventStore, importer: Importer
) -> None:
    rows = [["c1", "T" * 130, "K1", "L1", "2024-03-04", "video", "yes", "no", "yes"]]
    outcome = _attempt(
        store, lambda: importer.import_consultations(_csv(HEADER, rows), register_teams=True)
    )
    assert isinstance(outcome, ImportRefused)
    assert "row 2, column team: longer than 120" in str(outcome)


def test_an_oversized_file_is_refused_before_it_is_read_and_nothing_is_appended(
    store: EventStore, db_url: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("SIPDASH_PSEUDONYM_KEY", KEY)
    monkeypatch.setattr(audit.imports, "MAX_BYTES", 2_000)
    rows = [
        [f"c{i}", "msk1", "K1", f"L{i}", "2024-03-04", "video", "yes", "no", "yes"]
        for i in range(100)
    ]
    path = tmp_path / "big.csv"
    path.write_bytes(_csv(HEADER, rows))
    before = store.head().position
    assert main(["import", "consultations", str(path), "--db", db_url, "-q"]) == 1
    err = capsys.readouterr().err
    assert "larger than" in err and "nothing was appended" in err
    assert store.head().position == before
    importer = Importer(store, PatientRegistry(store.engine, KEY), projector=Projector(store))
    with pytest.raises(ImportRefused, match="larger than"):
        importer.import_consultations(_csv(HEADER, rows))
    assert store.head().position == before


# --------------------------------------------------------------------------- sipdash spc


spc_cells = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "0", "1e308", "-1e308", "1e-320", "abc", "5", "20", "0.5"]),
    st.text(max_size=6),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    chart=st.sampled_from(["xmr", "p", "run"]),
    rows=st.lists(st.tuples(st.text(max_size=5), spc_cells, spc_cells), max_size=30),
    options=st.lists(
        st.sampled_from(
            [
                ["--format", "json"],
                ["--baseline", "3"],
                ["--baseline", "0"],
                ["--baseline", "-2"],
                ["--target", "0.8"],
                ["--target", "1e308"],
                ["--target", "nan"],
                ["--improvement", "down"],
                ["--improvement", "neither"],
                ["--recalculate-at", "P5"],
                ["--recalculate-at", "nowhere"],
                ["--shift", "8"],
            ]
        ),
        max_size=3,
    ),
)
def test_sipdash_spc_on_fuzzed_files_exits_0_with_the_contract_or_1_with_a_message(
    tmp_path: Path, capsys, chart: str, rows: list[tuple], options: list[list[str]]
) -> None:
    header = "period,value" if chart != "p" else "period,numerator,denominator"
    body = header + "\n"
    for i, (label, a, b) in enumerate(rows):
        cells = [label or f"P{i}", a] if chart != "p" else [label or f"P{i}", a, b]
        body += ",".join(c.replace(",", ";").replace("\n", " ") for c in cells) + "\n"
    path = tmp_path / "series.csv"
    path.write_text(body, encoding="utf-8")
    argv = ["spc", str(path), "--chart", chart, *[o for opt in options for o in opt]]
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in (0, 1)
    if code == 1:
        assert err.startswith("sipdash: error: "), err
        assert "unexpected error" not in err, err
        return
    if "json" in argv:
        doc = json.loads(out)
        assert len(doc["points"]) == len(rows)
    else:
        assert len(list(csv.DictReader(io.StringIO(out)))) == len(rows)


@pytest.mark.parametrize(
    ("body", "args", "expected"),
    [
        ("period,numerator,denominator\nM1,5,20\nM2,-1,20\n", ["--chart", "p"], "row 3"),
        ("period,numerator,denominator\nM1,5,0\n", ["--chart", "p"], "row 2, column denominator"),
        ("period,value\nM1,1\nM2,x\n", [], "row 3, column value"),
        ("period,value\n" + "".join(f"M{i},{i}\n" for i in range(20)), ["--baseline", "0"], "1"),
        ("period,value\nM1,1\n", ["--recalculate-at", "M9"], "M9"),
        (
            "period,value\n" + "".join(f"M{i},1e308\n" for i in range(20)),
            [],
            "row 2, column value: larger than 10^15",
        ),
    ],
)
def test_sipdash_spc_refuses_absurd_input_with_one_clear_line(
    tmp_path: Path, capsys, body: str, args: list[str], expected: str
) -> None:
    path = tmp_path / "s.csv"
    path.write_text(body, encoding="utf-8")
    capsys.readouterr()
    code = main(["spc", str(path), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 1
    assert err.startswith("sipdash: error: ") and expected in err, err
    assert "unexpected error" not in err
