"""Factories and helpers for booking tests: patients with valid (synthetic-range)
NHS numbers, and CSV files built from rows."""

from __future__ import annotations

import csv
import io
from datetime import date

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from nhs_number import calculate_checksum

from booking.models import Patient
from tests.factories import PracticeFactory

HEADER = ["nhs_number", "first_name", "last_name", "date_of_birth", "mobile", "email"]


def nhs_number(n: int) -> str:
    """The n-th valid NHS number in the 999 (synthetic, never issued) range."""
    base = 999_000_000 + n * 11  # stepping by 11 keeps a valid check digit common
    while True:
        digits = f"{base:09d}"
        check = calculate_checksum(digits)
        if check is not None and check < 10:
            return digits + str(check)
        base += 1


def invalid_check_digit(number: str) -> str:
    """The same NHS number with a wrong last digit."""
    return number[:9] + str((int(number[9]) + 1) % 10)


def csv_bytes(
    rows: list[list[str]],
    *,
    header: list[str] | None = None,
    encoding: str = "utf-8",
) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER if header is None else header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def csv_upload(data: bytes, name: str = "patients.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def patient_row(
    n: int,
    *,
    first_name: str = "Ada",
    last_name: str | None = None,
    date_of_birth: str = "31/01/1980",
    mobile: str = "07700 900123",
    email: str = "",
) -> list[str]:
    return [
        nhs_number(n),
        first_name,
        last_name if last_name is not None else f"Patient{n:05d}",
        date_of_birth,
        mobile,
        email,
    ]


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    practice = factory.SubFactory(PracticeFactory)
    nhs_number = factory.Sequence(lambda n: nhs_number(50_000 + n))
    first_name = factory.Faker("first_name", locale="en_GB")
    last_name = factory.Faker("last_name", locale="en_GB")
    date_of_birth = date(1970, 5, 17)
    mobile = "+447700900456"
    email = ""
