"""Reading a practice's patient list from a CSV file. Pure Python, no database:
`parse_patient_csv` decodes the bytes, checks the heading row and validates every
row, and says in plain English what is wrong and where.

The file:
* a heading row, then one patient per row. Headings are matched ignoring case,
  spaces, hyphens and underscores, in any order; a few common alternatives are
  understood ("Surname", "Forename", "DOB", "Mobile number", "Email address").
* required columns: nhs_number, first_name, last_name, date_of_birth. Optional
  columns: mobile, email (a row may leave them blank).
* other columns (postcode, usual GP...) are ignored, with a warning that names
  them: practices export from clinical systems that add columns, and making staff
  delete them in a spreadsheet risks the spreadsheet mangling NHS numbers and dates.
* UTF-8 (with or without a byte order mark) or Windows-1252 (what Excel's plain
  "CSV" saves on Windows); the encoding used is reported.

Row numbers are the spreadsheet's: the heading row is row 1.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError

from .patient_data import (
    clean_date_of_birth,
    clean_email,
    clean_name,
    clean_nhs_number,
    clean_uk_mobile,
    format_nhs_number,
)

REQUIRED_COLUMNS = ("nhs_number", "first_name", "last_name", "date_of_birth")
OPTIONAL_COLUMNS = ("mobile", "email")
ALL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

COLUMN_ALIASES = {
    "nhs_no": "nhs_number",
    "nhs": "nhs_number",
    "forename": "first_name",
    "forenames": "first_name",
    "given_name": "first_name",
    "surname": "last_name",
    "family_name": "last_name",
    "dob": "date_of_birth",
    "birth_date": "date_of_birth",
    "mobile_number": "mobile",
    "mobile_phone": "mobile",
    "mobile_telephone": "mobile",
    "mobile_phone_number": "mobile",
    "email_address": "email",
    "e_mail": "email",
}

ENCODING_UTF8 = "UTF-8"
ENCODING_UTF8_BOM = "UTF-8 (with byte order mark)"
ENCODING_CP1252 = "Windows-1252"

_UTF8_BOM = b"\xef\xbb\xbf"
_NOT_WORD = re.compile(r"[^a-z0-9]+")
# Control characters never found in a text CSV (tab, CR and LF are fine).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

NOT_A_CSV = (
    "The selected file is not a CSV file. Save your spreadsheet as “CSV UTF-8 (comma "
    "delimited)” and upload that file."
)


class PatientFileError(ValidationError):
    """A problem with the whole file: nothing in it can be imported."""


@dataclass
class RowError:
    row: int
    messages: list[str]
    nhs_number: str = ""
    name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "nhs_number": self.nhs_number,
            "name": self.name,
            "messages": self.messages,
        }


@dataclass
class ParsedPatientFile:
    encoding: str
    optional_columns: list[str]
    ignored_columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    row_count: int = 0


def normalise_heading(heading: str) -> str:
    """' NHS Number ' / 'nhs-number' / 'NHS_NUMBER' -> 'nhs_number'."""
    key = _NOT_WORD.sub("_", heading.strip().lower()).strip("_")
    return COLUMN_ALIASES.get(key, key)


def decode_patient_file(data: bytes) -> tuple[str, str]:
    """The file's text and the name of the encoding that read it: UTF-8 (a byte
    order mark is dropped), else Windows-1252. Anything that is not text is refused."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise PatientFileError(
            "The selected file is an Excel workbook, not a CSV file. In Excel choose "
            "File > Save As, pick “CSV UTF-8 (comma delimited)”, and upload that file."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PatientFileError(
            "The selected file is saved as UTF-16 (“Unicode Text”). Save it as “CSV UTF-8 "
            "(comma delimited)” and upload it again."
        )
    if b"\x00" in data:
        raise PatientFileError(NOT_A_CSV)
    try:
        text = data.decode("utf-8-sig")
        encoding = ENCODING_UTF8_BOM if data.startswith(_UTF8_BOM) else ENCODING_UTF8
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise PatientFileError(NOT_A_CSV) from None
        encoding = ENCODING_CP1252
    # An old DOS end-of-file marker is harmless; any other control character means
    # this is not a text file.
    text = text.rstrip("\x1a")
    if _CONTROL_CHARACTERS.search(text):
        raise PatientFileError(NOT_A_CSV)
    return text, encoding


def _read_header(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Map each known column to its position; return the ignored headings."""
    positions: dict[str, int] = {}
    seen_as: dict[str, str] = {}
    ignored: list[str] = []
    for index, heading in enumerate(header):
        key = normalise_heading(heading)
        if not key:
            continue  # a blank heading over an empty column: Excel leaves these
        if key in ALL_COLUMNS:
            if key in positions:
                raise PatientFileError(
                    f"The column {key} appears twice (as “{seen_as[key]}” and "
                    f"“{heading.strip()}”). Remove one of them and upload the file again."
                )
            positions[key] = index
            seen_as[key] = heading.strip()
        else:
            ignored.append(heading.strip())
    missing = [column for column in REQUIRED_COLUMNS if column not in positions]
    if missing:
        found = ", ".join(f"“{h.strip()[:30]}”" for h in header[:8] if h.strip())
        hint = ""
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            hint = " The values must be separated by commas, not semicolons or tabs."
        raise PatientFileError(
            "The first row of the file must be the column headings "
            f"{', '.join(ALL_COLUMNS)}. It is missing {', '.join(missing)}"
            + (f" (the first row has {found})." if found else ".")
            + hint
        )
    return positions, ignored


def parse_patient_csv(data: bytes, *, today: date, max_rows: int) -> ParsedPatientFile:
    """Decode and validate a patient CSV file.

    Raises `PatientFileError` for a problem with the whole file. Otherwise returns
    the cleaned valid rows (each with its spreadsheet row number) and, for every
    other row, why it cannot be imported. An NHS number already used by an earlier
    row makes the later row an error."""
    if not data.strip():
        raise PatientFileError("The selected file is empty.")
    text, encoding = decode_patient_file(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header: list[str] | None = None
        header_row = 0
        for record in reader:
            header_row += 1
            if any(cell.strip() for cell in record):
                header = record
                break
        if header is None:
            raise PatientFileError("The selected file is empty.")
        positions, ignored = _read_header(header)
        parsed = ParsedPatientFile(
            encoding=encoding,
            optional_columns=[c for c in OPTIONAL_COLUMNS if c in positions],
            ignored_columns=ignored,
        )
        first_seen: dict[str, int] = {}
        width = len(header)
        for row_number, record in enumerate(reader, start=header_row + 1):
            if not any(cell.strip() for cell in record):
                continue  # blank lines, and the ",,,,," rows spreadsheets leave at the end
            parsed.row_count += 1
            if parsed.row_count > max_rows:
                raise PatientFileError(
                    f"The file has more than {max_rows:,} patients. Split it into smaller files "
                    "and upload them one at a time."
                )
            _parse_row(parsed, record, row_number, positions, width, first_seen, today)
    except csv.Error as exc:
        raise PatientFileError(
            f"The file could not be read as CSV near row {reader.line_num}: check for a stray "
            "quotation mark, then save it again as “CSV UTF-8 (comma delimited)”."
        ) from exc
    if parsed.row_count == 0:
        raise PatientFileError(
            "The file has column headings but no patients. Add one row for each patient "
            "under the headings."
        )
    return parsed


def _parse_row(
    parsed: ParsedPatientFile,
    record: list[str],
    row_number: int,
    positions: dict[str, int],
    width: int,
    first_seen: dict[str, int],
    today: date,
) -> None:
    def cell(column: str) -> str:
        index = positions.get(column)
        if index is None or index >= len(record):
            return ""
        return record[index]

    raw_nhs = cell("nhs_number").strip()
    raw_name = " ".join(p for p in (cell("first_name").strip(), cell("last_name").strip()) if p)
    messages: list[str] = []
    if any(value.strip() for value in record[width:]):
        messages.append(
            "The row has more values than there are column headings: a value containing a "
            "comma may need to be in quotation marks"
        )
    row: dict[str, Any] = {"row": row_number}
    try:
        nhs = clean_nhs_number(raw_nhs)
    except ValueError as exc:
        messages.append(str(exc))
    else:
        row["nhs_number"] = nhs
        if nhs in first_seen:
            messages.append(
                f"NHS number {format_nhs_number(nhs)} is also on row {first_seen[nhs]}: "
                f"this row is a duplicate of row {first_seen[nhs]}"
            )
        else:
            first_seen[nhs] = row_number
    for column, label in (("first_name", "First name"), ("last_name", "Last name")):
        try:
            row[column] = clean_name(cell(column), label=label)
        except ValueError as exc:
            messages.append(str(exc))
    try:
        row["date_of_birth"] = clean_date_of_birth(cell("date_of_birth"), today=today).isoformat()
    except ValueError as exc:
        messages.append(str(exc))
    try:
        row["mobile"] = clean_uk_mobile(cell("mobile"))
    except ValueError as exc:
        messages.append(str(exc))
    try:
        row["email"] = clean_email(cell("email"))
    except ValueError as exc:
        messages.append(str(exc))

    if messages:
        parsed.errors.append(
            RowError(row=row_number, messages=messages, nhs_number=raw_nhs[:20], name=raw_name[:80])
        )
    else:
        parsed.rows.append(row)
