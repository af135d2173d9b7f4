"""The identifier guard, NHS-number normalisation, export neutralisation and the masked import
preview: pure functions, test vectors from the design and NHS Digital's published examples."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from audit.bootstrap import load_settings
from audit.exports import neutralise, neutralise_frame
from audit.identifiers import (
    IdentifierRefused,
    check_text,
    looks_like_nhs_number,
    mask_digit_runs,
    refuse_in_columns,
)
from dashboard.preview import HIDDEN, masked_preview
from events.pseudonym import (
    DEMO_KEY,
    PseudonymError,
    generate_key,
    key_check,
    legacy_forms,
    nhs_number_is_valid,
    normalise_identifier,
)

NHS = "9434765919"  # NHS Digital's example number (valid by modulus 11)
SEPARATORS = [" ", "\u00a0", "\t", "-", ".", "/"]


def grouped(digits: str, sep: str) -> str:
    return f"{digits[:3]}{sep}{digits[3:6]}{sep}{digits[6:]}"


# ----------------------------------------------------------------------------- the guard


@pytest.mark.parametrize("sep", SEPARATORS)
def test_an_nhs_number_grouped_by_any_separator_is_identifier_shaped(sep: str) -> None:
    assert looks_like_nhs_number(grouped(NHS, sep))
    assert looks_like_nhs_number(f"seen {grouped(NHS, sep)} today")
    assert looks_like_nhs_number(f"ref:{grouped(NHS, sep)};")


@pytest.mark.parametrize(
    "text",
    [
        NHS,
        "9434765918",  # an invalid check digit is still identifier-shaped
        "patient_9434765919",
        "[943-476-5919]",
        "94 34 76 59 19",
        "9-4-3-4-7-6-5-9-1-9",
        "943 476 5919\n",
        "Commentary: called 943.476.5919 back",
    ],
)
def test_identifier_shaped_runs_are_found_in_free_text(text: str) -> None:
    assert looks_like_nhs_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "C-2024-000123",
        "consultations_20251128_103000.csv",
        str(uuid.UUID("12345678-1234-5678-1234-567812345678")),
        "550e8400-e29b-41d4-a716-446655440000",
        "p_0123456789abcdef0123456789abcdef",
        "12345678901",  # 11 digits
        "943 476 5919 12",  # a longer run: 12 digits
        "943  476 5919",  # two separators in a row break the run
        "123456789",
        "2024-03-01",
        "1234567890.5",
        "",
    ],
)
def test_the_designs_false_positives_are_not_identifier_shaped(text: str) -> None:
    assert not looks_like_nhs_number(text)


@pytest.mark.parametrize(
    "text", ["NHS-943-476-5919", "NHS943 476 5919", "ref943.476.5919", "x/943/476/5919/y"]
)
def test_the_printed_3_3_4_grouping_is_caught_even_when_glued_to_a_word(text: str) -> None:
    assert looks_like_nhs_number(text)


def test_random_uuids_and_tokens_are_never_refused() -> None:
    assert not any(looks_like_nhs_number(str(uuid.uuid4())) for _ in range(5000))
    assert not any(looks_like_nhs_number(uuid.uuid4().hex) for _ in range(5000))


def test_a_refused_field_is_named_and_its_value_never_echoed() -> None:
    with pytest.raises(IdentifierRefused) as caught:
        check_text("reviewer", f"Dr {grouped(NHS, '-')}")
    message = str(caught.value)
    assert message.startswith("reviewer: looks like an NHS number (not shown)")
    assert "943" not in message and "5919" not in message


def test_the_column_guard_names_every_row_and_column_and_no_value() -> None:
    rows = [
        (2, {"consultation_id": "c1", "clinician": "K1", "team": "msk"}),
        (3, {"consultation_id": grouped(NHS, "."), "clinician": "K1", "team": "msk"}),
        (5, {"consultation_id": "c3", "clinician": NHS, "team": grouped(NHS, "/")}),
    ]
    errors = refuse_in_columns(rows, ["consultation_id", "clinician", "team"], "f.csv")
    assert [e.split(": looks")[0] for e in errors] == [
        "f.csv: row 3, column consultation_id",
        "f.csv: row 5, column clinician",
        "f.csv: row 5, column team",
    ]
    assert not any("943" in e for e in errors)


def test_file_names_keep_dates_but_lose_long_digit_runs() -> None:
    assert mask_digit_runs("consultations_20251128_103000.csv") == (
        "consultations_20251128_103000.csv"
    )
    assert mask_digit_runs(f"clinic {grouped(NHS, ' ')}.csv") == "clinic ### ### ####.csv"
    assert mask_digit_runs(f"NHS-{grouped(NHS, '-')}.csv") == "NHS-###-###-####.csv"
    assert mask_digit_runs("C-2024-000123.csv") == "C-####-######.csv"


# ------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "number",
    ["9434765919", "9434765870", "9000000009", "9000000017", "4010232137", "9449306753"],
)
def test_published_valid_nhs_numbers_pass_the_modulus_11_check(number: str) -> None:
    assert nhs_number_is_valid(number)


@pytest.mark.parametrize("number", ["9434765918", "1234567890", "9000000001"])
def test_numbers_with_a_wrong_or_impossible_check_digit_fail(number: str) -> None:
    assert not nhs_number_is_valid(number)


@pytest.mark.parametrize("sep", SEPARATORS)
def test_every_separator_form_normalises_to_one_nhs_identity(sep: str) -> None:
    assert normalise_identifier(grouped(NHS, sep)) == (f"nhs:{NHS}", True)
    assert normalise_identifier(f"  {grouped(NHS, sep)} ") == (f"nhs:{NHS}", True)


@pytest.mark.parametrize("sep", SEPARATORS)
def test_a_formatted_number_with_a_bad_check_digit_is_refused_without_echo(sep: str) -> None:
    with pytest.raises(PseudonymError) as caught:
        normalise_identifier(grouped("9434765918", sep))
    assert "check digit" in str(caught.value) and "943" not in str(caught.value)


def test_local_ids_stay_local_and_legacy_forms_cover_the_old_local_layouts() -> None:
    assert normalise_identifier("HOSP-7") == ("local:HOSP-7", False)
    assert normalise_identifier("C-2024-000123") == ("local:C-2024-000123", False)
    assert f"local:{grouped(NHS, '-')}" in legacy_forms(f"nhs:{NHS}")
    assert f"local:{grouped(NHS, '.')}" in legacy_forms(f"nhs:{NHS}")
    assert legacy_forms("local:HOSP-7") == []


def test_generated_keys_have_at_least_128_bits_and_check_values_tell_keys_apart() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50 and all(len(k) >= 43 for k in keys)  # 32 bytes, base64url
    assert key_check("a") != key_check("b") and len(key_check(DEMO_KEY)) == 32
    assert key_check("a") == key_check("a")


# ---------------------------------------------------------------------------- exports


@pytest.mark.parametrize(
    "cell", ["=1+1", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)", "\t=1", "\r=1"]
)
def test_formula_leading_text_gets_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", [-0.25, 3, "-0.25", "+3", "1e-3", "msk", "", None])
def test_numbers_and_plain_text_are_left_alone(cell: object) -> None:
    assert neutralise(cell) == cell


def test_a_frame_is_neutralised_column_by_column_and_numbers_stay_numbers() -> None:
    df = pd.DataFrame(
        {"team": ['=HYPERLINK("x")', "msk"], "value": [-0.5, 0.25], "=h": ["-1", "@x"]}
    )
    out = neutralise_frame(df)
    assert out["team"].tolist() == ['\'=HYPERLINK("x")', "msk"]
    assert out["value"].tolist() == [-0.5, 0.25] and out["value"].dtype == float
    assert list(out.columns) == ["team", "value", "'=h"]
    assert out["'=h"].tolist() == ["-1", "'@x"]
    assert df["team"].iloc[0].startswith("=")  # the caller's frame is not changed


# ---------------------------------------------------------------------------- preview


def test_the_preview_hides_the_patient_column_however_it_is_named_and_any_identifier() -> None:
    content = (
        "\ufeffconsultation_id, Patient ,team,patient,notes\n"
        f"c1,{NHS},msk,{grouped(NHS, '.')},called {grouped(NHS, '-')} back\n"
        f"{grouped(NHS, chr(160))},HOSP-1,msk,HOSP-1,ok\n"
    ).encode()
    preview = masked_preview(content)
    assert preview is not None
    assert list(preview.columns) == ["consultation_id", "Patient", "team", "patient", "notes"]
    assert set(preview["Patient"]) == {HIDDEN} and set(preview["patient"]) == {HIDDEN}
    assert preview["notes"].tolist() == [f"called {HIDDEN} back", "ok"]
    assert preview["consultation_id"].tolist() == ["c1", HIDDEN]
    text = preview.to_csv()
    assert all(f not in text for f in ["943", "5919"])


def test_a_duplicated_patient_column_is_hidden_both_times() -> None:
    content = f"patient,team,patient\n{NHS},msk,{NHS}\n".encode()
    preview = masked_preview(content)
    assert preview is not None
    assert list(preview.columns) == ["patient", "team", "patient (2)"]
    assert preview.iloc[0].tolist() == [HIDDEN, "msk", HIDDEN]


# ----------------------------------------------------------------------------- settings


def test_settings_come_from_the_argument_then_the_environment_then_secrets() -> None:
    env = {"SIPDASH_PSEUDONYM_KEY": "from-env", "SIPDASH_DATABASE_URL": "sqlite:///env.db"}
    secrets = {"SIPDASH_PSEUDONYM_KEY": "from-secrets", "SIPDASH_DATABASE_URL": "postgresql://h/d"}
    s = load_settings("sqlite:///arg.db", "from-arg", env=env, secrets=secrets)
    assert (s.database_url, s.pseudonym_key, s.key_source) == (
        "sqlite:///arg.db",
        "from-arg",
        "argument",
    )
    s = load_settings(env=env, secrets=secrets)
    assert (s.database_url, s.pseudonym_key, s.key_source) == (
        "sqlite:///env.db",
        "from-env",
        "environment",
    )
    s = load_settings(env={}, secrets=secrets)
    assert (s.database_url, s.pseudonym_key, s.key_source) == (
        "postgresql+psycopg://h/d",
        "from-secrets",
        "secrets",
    )
    s = load_settings(env={}, secrets={})
    assert (s.database_url, s.key_is_demo, s.key_source) == ("sqlite:///sipdash.db", True, "demo")
