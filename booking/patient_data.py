"""Patient identifiers and contact details: how they are cleaned, checked and shown.

Pure functions with no database access, shared by the Patient model (validators,
display) and the CSV import (row validation). Each `clean_*` function takes what a
person typed or a spreadsheet held and returns the stored form, or raises
`ValueError` with a plain-English message for staff.
"""

from __future__ import annotations

import re
from datetime import date

import nhs_number as nhs_number_lib
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

NAME_MAX_LENGTH = 100
EMAIL_MAX_LENGTH = 254
EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)

_NHS_NUMBER_SEPARATORS = re.compile(r"[\s-]+")
_TEN_DIGITS = re.compile(r"^[0-9]{10}$")
# What Excel does to a long number in a "General" column: 9434765919 -> 9.43E+09.
_EXCEL_SCIENTIFIC = re.compile(r"^[0-9](?:\.[0-9]+)?E\+?[0-9]+$", re.IGNORECASE)

_MOBILE_SEPARATORS = re.compile(r"[\s\-().]+")
# UK mobile numbers after the leading 0 / +44: 071-075 and 077-079 are mobiles,
# 07624 is the Isle of Man's mobile range; 070 (personal numbers) and 076
# (pagers) cannot receive text messages.
_UK_MOBILE_NATIONAL = re.compile(r"^7(?:[1-57-9][0-9]{8}|624[0-9]{6})$")
E164_UK_MOBILE = re.compile(r"^\+447[0-9]{9}$")

_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$")
_UK_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")

_WHITESPACE = re.compile(r"\s+")


def quoted(value: str, limit: int = 40) -> str:
    """A value quoted for an error message, shortened if long."""
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return f"“{value}”"


# --- NHS number ----------------------------------------------------------------------


def is_valid_nhs_number(value: str) -> bool:
    """Ten digits whose last digit is the modulus 11 check digit."""
    return bool(_TEN_DIGITS.match(value)) and nhs_number_lib.is_valid(value)


def clean_nhs_number(raw: str) -> str:
    """'943 476 5919' / '943-476-5919' / '9434765919' -> '9434765919'."""
    value = raw.strip()
    if not value:
        raise ValueError("NHS number is missing")
    if _EXCEL_SCIENTIFIC.match(value):
        raise ValueError(
            f"NHS number {quoted(value)} has been turned into a rounded number by a spreadsheet: "
            "format the column as Text and export the file again"
        )
    digits = _NHS_NUMBER_SEPARATORS.sub("", value)
    if not _TEN_DIGITS.match(digits):
        raise ValueError(f"NHS number {quoted(value)} must be 10 digits")
    if nhs_number_lib.calculate_checksum(digits[:9]) != int(digits[9]):
        raise ValueError(
            f"NHS number {quoted(value)} is not valid: the last digit (the check digit) "
            "does not match, so a digit may be mistyped"
        )
    if not nhs_number_lib.is_valid(digits):
        raise ValueError(f"NHS number {quoted(value)} is not a valid NHS number")
    return digits


def validate_nhs_number(value: str) -> None:
    """Model field validator: the stored form, 10 digits with a valid check digit."""
    if not is_valid_nhs_number(value):
        raise ValidationError(
            "Enter a valid 10-digit NHS number (the last digit is a check digit).",
            code="invalid_nhs_number",
        )


def format_nhs_number(value: str) -> str:
    """'9434765919' -> '943 476 5919' (the 3-3-4 format staff read)."""
    if _TEN_DIGITS.match(value):
        return f"{value[:3]} {value[3:6]} {value[6:]}"
    return value


# --- UK mobile -----------------------------------------------------------------------


def clean_uk_mobile(raw: str) -> str:
    """A UK mobile number in any usual form -> E.164 ('+447700900123').
    Blank stays blank: a mobile number is optional."""
    value = raw.strip()
    if not value:
        return ""
    compact = _MOBILE_SEPARATORS.sub("", value.replace("(0)", ""))
    if compact.startswith("+44"):
        national = compact[3:]
    elif compact.startswith("0044"):
        national = compact[4:]
    elif compact.startswith("44") and len(compact) == 12:
        national = compact[2:]
    elif compact.startswith("0"):
        national = compact[1:]
    else:
        national = ""
    if not _UK_MOBILE_NATIONAL.match(national):
        raise ValueError(
            f"Mobile number {quoted(value)} is not a UK mobile number: "
            "it should be 11 digits starting 07, or start +447"
        )
    return f"+44{national}"


def validate_uk_mobile(value: str) -> None:
    """Model field validator: blank, or the stored E.164 form of a UK mobile."""
    if value and not E164_UK_MOBILE.match(value):
        raise ValidationError(
            "Enter a UK mobile number, for example 07700 900123.", code="invalid_mobile"
        )


def format_uk_mobile(value: str) -> str:
    """'+447700900123' -> '07700 900123'."""
    if E164_UK_MOBILE.match(value):
        national = "0" + value[3:]
        return f"{national[:5]} {national[5:]}"
    return value


def mask_uk_mobile(value: str) -> str:
    """'+447700900123' -> '07••• •••123': enough to recognise, not to use."""
    if not E164_UK_MOBILE.match(value):
        return ""
    shown = format_uk_mobile(value)
    # Keep "07" and the last three digits; hide every other digit.
    return "".join(
        ch if (i < 2 or i >= len(shown) - 3 or not ch.isdigit()) else "•"
        for i, ch in enumerate(shown)
    )


# --- names, email, date of birth --------------------------------------------------------


def clean_name(raw: str, *, label: str) -> str:
    value = _WHITESPACE.sub(" ", raw).strip()
    if not value:
        raise ValueError(f"{label} is missing")
    if len(value) > NAME_MAX_LENGTH:
        raise ValueError(f"{label} is longer than {NAME_MAX_LENGTH} characters")
    return value


def clean_email(raw: str) -> str:
    """Blank stays blank: an email address is optional."""
    value = raw.strip()
    if not value:
        return ""
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValueError(f"Email address is longer than {EMAIL_MAX_LENGTH} characters")
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(f"Email address {quoted(value)} is not a valid email address") from None
    return value


def clean_date_of_birth(raw: str, *, today: date) -> date:
    """'YYYY-MM-DD' or 'DD/MM/YYYY', not in the future and not before 1900."""
    value = raw.strip()
    if not value:
        raise ValueError("Date of birth is missing")
    if match := _ISO_DATE.match(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _UK_DATE.match(value):
        day, month, year = (int(part) for part in match.groups())
    else:
        raise ValueError(
            f"Date of birth {quoted(value)} is not in a format we can read: "
            "use DD/MM/YYYY (for example 31/01/1980) or YYYY-MM-DD"
        )
    try:
        born = date(year, month, day)
    except ValueError:
        raise ValueError(f"Date of birth {quoted(value)} is not a real date") from None
    if born > today:
        raise ValueError(f"Date of birth {quoted(value)} is in the future")
    if born < EARLIEST_DATE_OF_BIRTH:
        raise ValueError(f"Date of birth {quoted(value)} is before 1900")
    return born
