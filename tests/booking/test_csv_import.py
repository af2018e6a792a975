"""The CSV parser and the patient field rules, without the database."""

from __future__ import annotations

import os
from datetime import date

import pytest

from booking.csv_import import (
    ENCODING_CP1252,
    ENCODING_UTF8,
    ENCODING_UTF8_BOM,
    PatientFileError,
    normalise_heading,
    parse_patient_csv,
)
from booking.patient_data import (
    clean_date_of_birth,
    clean_nhs_number,
    clean_uk_mobile,
    format_nhs_number,
    mask_uk_mobile,
)

from .factories import HEADER, csv_bytes, invalid_check_digit, nhs_number, patient_row

TODAY = date(2026, 11, 25)


def parse(data: bytes, max_rows: int = 100_000):
    return parse_patient_csv(data, today=TODAY, max_rows=max_rows)


def file_error(data: bytes, **kwargs) -> str:
    with pytest.raises(PatientFileError) as caught:
        parse(data, **kwargs)
    return caught.value.message


def only_error(parsed) -> tuple[int, list[str]]:
    assert len(parsed.errors) == 1, parsed.errors
    return parsed.errors[0].row, parsed.errors[0].messages


# --- a good file ----------------------------------------------------------------------


def test_valid_rows_are_cleaned():
    data = csv_bytes(
        [
            [
                format_nhs_number(nhs_number(1)),
                "  Ada ",
                "Lovelace",
                "10/12/1985",
                "07700-900 123",
                "ada@example.com",
            ],
            [nhs_number(2), "Alan", "Turing", "1954-06-07", "+44 7700 900456", ""],
            [nhs_number(3), "Grace", "Hopper", "01/01/1950", "", ""],
        ]
    )
    parsed = parse(data)
    assert parsed.errors == []
    assert parsed.encoding == ENCODING_UTF8
    assert parsed.row_count == 3
    assert parsed.optional_columns == ["mobile", "email"]
    assert parsed.rows[0] == {
        "row": 2,
        "nhs_number": nhs_number(1),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": "1985-12-10",
        "mobile": "+447700900123",
        "email": "ada@example.com",
    }
    assert parsed.rows[1]["date_of_birth"] == "1954-06-07"
    assert parsed.rows[1]["mobile"] == "+447700900456"
    assert parsed.rows[2]["mobile"] == ""


def test_headings_ignore_case_spaces_order_and_accept_common_names():
    header = ["Email Address", "Surname", " NHS Number ", "DOB", "Forename", "Mobile-Number"]
    parsed = parse(
        csv_bytes(
            [["a@example.com", "Smith", nhs_number(1), "02/03/1990", "Jo", "07700900123"]],
            header=header,
        )
    )
    assert parsed.errors == []
    assert parsed.rows[0]["last_name"] == "Smith"
    assert parsed.rows[0]["first_name"] == "Jo"
    assert parsed.rows[0]["email"] == "a@example.com"
    assert normalise_heading("NHS_NUMBER") == "nhs_number"
    assert normalise_heading("date of birth") == "date_of_birth"


def test_unknown_columns_are_ignored_with_their_names():
    header = [*HEADER, "Postcode", "Usual GP"]
    parsed = parse(csv_bytes([[*patient_row(1), "AB1 2CD", "Dr Who"]], header=header))
    assert parsed.errors == []
    assert parsed.ignored_columns == ["Postcode", "Usual GP"]
    assert "postcode" not in parsed.rows[0]


def test_optional_columns_may_be_absent():
    header = ["nhs_number", "first_name", "last_name", "date_of_birth"]
    parsed = parse(csv_bytes([patient_row(1)[:4]], header=header))
    assert parsed.errors == []
    assert parsed.optional_columns == []


def test_blank_lines_and_trailing_empty_rows_are_skipped_but_row_numbers_kept():
    data = csv_bytes([patient_row(1), ["", "", "", "", "", ""], patient_row(2, first_name="")])
    data += b"\r\n,,,,,\r\n"
    parsed = parse(data)
    assert parsed.row_count == 2
    assert only_error(parsed) == (4, ["First name is missing"])


# --- encodings ----------------------------------------------------------------------------


def test_utf8_with_bom():
    data = b"\xef\xbb\xbf" + csv_bytes([patient_row(1, first_name="Zoë")])
    parsed = parse(data)
    assert parsed.encoding == ENCODING_UTF8_BOM
    assert parsed.errors == []
    assert parsed.rows[0]["first_name"] == "Zoë"


def test_windows_1252_with_accents_and_pound_sign():
    data = csv_bytes([patient_row(1, first_name="Renée", last_name="O’Brien £")], encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    parsed = parse(data)
    assert parsed.encoding == ENCODING_CP1252
    assert parsed.rows[0]["first_name"] == "Renée"
    assert parsed.rows[0]["last_name"] == "O’Brien £"


# --- file-level errors ----------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", b"\r\n,,,\r\n"])
def test_empty_file(data):
    assert file_error(data) == "The selected file is empty."


def test_header_only():
    assert "has column headings but no patients" in file_error(csv_bytes([]))


def test_wrong_headings_name_what_is_missing():
    message = file_error(
        csv_bytes([["1", "2", "3"]], header=["NHS", "Name", "Birthday"])  # NHS is an alias
    )
    assert message.startswith("The first row of the file must be the column headings")
    assert "missing first_name, last_name, date_of_birth" in message
    assert "“Birthday”" in message


def test_no_heading_row_at_all():
    message = file_error(csv_bytes([patient_row(2)], header=patient_row(1)))
    assert "missing nhs_number, first_name, last_name, date_of_birth" in message


def test_semicolon_separated_file_gets_a_hint():
    data = b"nhs_number;first_name;last_name;date_of_birth\r\n9990000018;A;B;01/01/1980\r\n"
    assert "separated by commas" in file_error(data)


def test_a_column_twice():
    header = ["nhs_number", "first_name", "last_name", "Surname", "date_of_birth"]
    message = file_error(csv_bytes([["1", "a", "b", "c", "d"]], header=header))
    assert "The column last_name appears twice" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (os.urandom(4096), "is not a CSV file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "is not a CSV file"),
        (b"PK\x03\x04" + os.urandom(500), "is an Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(500), "is an Excel workbook"),
        ("nhs_number,first_name\r\n".encode("utf-16"), "UTF-16"),
        (b"nhs_number,first_name\x07,last_name\r\n", "is not a CSV file"),
    ],
)
def test_binary_garbage_is_refused(data, expected):
    assert expected in file_error(data)


def test_too_many_rows():
    data = csv_bytes([patient_row(n) for n in range(1, 6)])
    assert "more than 4 patients" in file_error(data, max_rows=4)


def test_unreadable_csv():
    data = csv_bytes([]) + b'"' + b"x" * 200_000 + b"\r\n"
    assert "could not be read as CSV" in file_error(data)


# --- row errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "NHS number is missing"),
        ("12345", "NHS number “12345” must be 10 digits"),
        ("999000001X", "must be 10 digits"),
        (invalid_check_digit(nhs_number(1)), "the check digit) does not match"),
        ("9.99E+09", "turned into a rounded number by a spreadsheet"),
    ],
)
def test_invalid_nhs_numbers(value, message):
    row = patient_row(1)
    row[0] = value
    parsed = parse(csv_bytes([row]))
    number, messages = only_error(parsed)
    assert number == 2
    assert any(message in m for m in messages), messages
    assert parsed.errors[0].nhs_number == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Date of birth is missing"),
        ("31/02/1980", "Date of birth “31/02/1980” is not a real date"),
        ("1980/01/31", "is not in a format we can read"),
        ("01-31-80", "is not in a format we can read"),
        ("01/01/2090", "is in the future"),
        ("26/11/2026", "is in the future"),
        ("31/12/1899", "is before 1900"),
    ],
)
def test_bad_dates(value, message):
    parsed = parse(csv_bytes([patient_row(1, date_of_birth=value)]))
    assert any(message in m for m in only_error(parsed)[1])


@pytest.mark.parametrize("value", ["25/11/2026", "01/01/1900", "1900-01-01", "5/6/2001"])
def test_edge_dates_are_fine(value):
    assert parse(csv_bytes([patient_row(1, date_of_birth=value)])).errors == []


@pytest.mark.parametrize(
    "value", ["01632 960123", "0770090012", "12345", "07600 900123", "+33612345678"]
)
def test_bad_mobiles(value):
    parsed = parse(csv_bytes([patient_row(1, mobile=value)]))
    assert "is not a UK mobile number" in only_error(parsed)[1][0]


def test_bad_email_and_missing_names_are_all_reported_on_the_row():
    row = patient_row(1, first_name=" ", last_name="", email="not-an-email")
    number, messages = only_error(parse(csv_bytes([row])))
    assert number == 2
    assert messages == [
        "First name is missing",
        "Last name is missing",
        "Email address “not-an-email” is not a valid email address",
    ]


def test_too_many_values_on_a_row():
    parsed = parse(csv_bytes([[*patient_row(1), "extra"]]))
    assert "more values than there are column headings" in only_error(parsed)[1][0]


def test_duplicates_in_the_file_are_errors_on_the_later_rows():
    rows = [patient_row(1), patient_row(2), patient_row(1, first_name="Again"), patient_row(1)]
    parsed = parse(csv_bytes(rows))
    assert [row["row"] for row in parsed.rows] == [2, 3]
    assert [error.row for error in parsed.errors] == [4, 5]
    shown = format_nhs_number(nhs_number(1))
    for error in parsed.errors:
        assert error.messages == [
            f"NHS number {shown} is also on row 2: this row is a duplicate of row 2"
        ]


def test_duplicate_written_differently_is_still_a_duplicate():
    rows = [patient_row(1), [format_nhs_number(nhs_number(1)), *patient_row(1)[1:]]]
    parsed = parse(csv_bytes(rows))
    assert only_error(parsed)[0] == 3


# --- field rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "07700900123",
        "07700 900123",
        "+447700900123",
        "447700900123",
        "+44 (0)7700 900123",
        "0044 7700 900123",
        "07700-900-123",
    ],
)
def test_mobile_forms_normalise_to_e164(raw):
    assert clean_uk_mobile(raw) == "+447700900123"


def test_nhs_number_forms():
    number = nhs_number(7)
    spaced = format_nhs_number(number)
    assert spaced == f"{number[:3]} {number[3:6]} {number[6:]}"
    assert clean_nhs_number(spaced) == number
    assert clean_nhs_number(spaced.replace(" ", "-")) == number
    # A real, published example: 943 476 5919.
    assert clean_nhs_number("943 476 5919") == "9434765919"


def test_mobile_mask_shows_only_the_last_three_digits():
    assert mask_uk_mobile("+447700900123") == "07••• •••123"
    assert mask_uk_mobile("") == ""


def test_date_of_birth_accepts_both_formats():
    assert clean_date_of_birth("2001-02-03", today=TODAY) == date(2001, 2, 3)
    assert clean_date_of_birth("03/02/2001", today=TODAY) == date(2001, 2, 3)
