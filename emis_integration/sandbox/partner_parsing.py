"""From Partner API query parameters to plain values (types.py). Every problem
raises BadRequest (400) with diagnostics naming the parameter
(docs/emis-partner-api-contract.md, "Calls")."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.http import QueryDict

from .errors import BadRequest
from .types import BookedWindow, SessionWindow

MAX_SESSION_WINDOW = timedelta(days=90)
MAX_MINUTES_BEFORE = 60
MAX_MINUTES_WITHIN = 43_200  # 30 days
MAX_ID_DIGITS = 18

EMIS_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
ISO_DATE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
)
INTEGER = re.compile(r"[0-9]{1,18}")


def _single(query: QueryDict, name: str) -> str:
    values = query.getlist(name)
    if not values or not values[0].strip():
        raise BadRequest(f"The {name} parameter is required.")
    if len(values) > 1:
        raise BadRequest(f"The {name} parameter may be given only once.")
    return values[0].strip()


def parse_emis_date(value: str) -> date | None:
    """`dd/mm/yyyy` (what the spec says), `yyyy-mm-dd` or `yyyy-mm-ddThh:mm[:ss]`
    (the spec types the parameters date-time); the time of day is ignored."""
    try:
        if match := EMIS_DATE.fullmatch(value):
            return date(int(match[3]), int(match[2]), int(match[1]))
        if match := ISO_DATE.fullmatch(value):
            return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return None


def _date(query: QueryDict, name: str) -> date:
    value = _single(query, name)
    parsed = parse_emis_date(value)
    if parsed is None:
        raise BadRequest(
            f"{name} must be a date as dd/mm/yyyy (e.g. 01/12/2026), not {value[:40]!r}."
        )
    return parsed


def parse_session_window(query: QueryDict) -> SessionWindow:
    """GetAppointmentSessions: startDate and endDate (inclusive), endDate at most
    90 days after startDate; an optional slotType."""
    start = _date(query, "startDate")
    end = _date(query, "endDate")
    if end < start:
        raise BadRequest(f"endDate ({end:%d/%m/%Y}) is before startDate ({start:%d/%m/%Y}).")
    if end - start > MAX_SESSION_WINDOW:
        raise BadRequest(
            f"The window from {start:%d/%m/%Y} to {end:%d/%m/%Y} is {(end - start).days} days; "
            f"the maximum window to retrieve sessions is {MAX_SESSION_WINDOW.days} days."
        )
    slot_types = query.getlist("slotType")
    if len(slot_types) > 1:
        raise BadRequest("The slotType parameter may be given only once.")
    return SessionWindow(start=start, end=end, slot_type=(slot_types or [""])[0].strip())


def _integer(query: QueryDict, name: str) -> int:
    value = _single(query, name)
    if not INTEGER.fullmatch(value):
        raise BadRequest(f"{name} must be a whole number, not {value[:40]!r}.")
    return int(value)


def parse_session_id(query: QueryDict) -> int:
    return _integer(query, "appointmentSessionId")


def parse_patient_number(query: QueryDict) -> int:
    return _integer(query, "patientNumber")


def _bounded(query: QueryDict, name: str, maximum: int) -> int:
    value = _single(query, name)
    if not re.fullmatch(r"-?[0-9]{1,9}", value):
        raise BadRequest(f"{name} must be a whole number of minutes, not {value[:40]!r}.")
    minutes = int(value)
    if not 0 <= minutes <= maximum:
        raise BadRequest(f"{name} must be from 0 to {maximum} minutes, not {minutes}.")
    return minutes


def parse_booked_window(query: QueryDict) -> BookedWindow:
    return BookedWindow(
        minutes_before=_bounded(query, "minutesBefore", MAX_MINUTES_BEFORE),
        minutes_within=_bounded(query, "minutesWithin", MAX_MINUTES_WITHIN),
    )
