"""The EMIS Partner API's JSON, decoded with msgspec Structs straight from the
response bytes, and mapped to the records in `types.py`.

Written for what a real provider sends, not only for what the sandbox sends
(docs/emis-partner-api-contract.md): unknown fields are ignored; optional
fields may be missing or null; dates come as `dd/mm/yyyy`, `yyyy-mm-dd` or
`yyyy-mm-ddThh:mm:ss`; times as `HH:MM`, `HH:MM:SS` or a whole date-time (only
its time of day counts: the date is the session's); numbers as numbers or as
text; an empty list as `[]`, `null` or no key at all.

Each session, slot or booked appointment is decoded on its own (the list holds
`msgspec.Raw` items), so one malformed item is skipped with a message (by id,
never with patient details) instead of failing the call. A body that is not
JSON, or not an object of the expected shape, is `EmisRejected`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from html import unescape
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from .errors import EmisRejected
from .types import (
    AppointmentSession,
    BookedPatient,
    PatientDemographics,
    SessionSlot,
    SlotTypeCount,
)

# The Partner API speaks UK local time on the wire (dates `dd/mm/yyyy`, times without
# an offset), whatever this deployment's TIME_ZONE: the one place that names the zone
# itself rather than reading local time through django.utils.timezone.
LONDON = ZoneInfo("Europe/London")

Number = int | float | str | None


# --- wire structs (EMIS's names) --------------------------------------------------------
class _Site(msgspec.Struct, gc=False):
    dbid: Number = None
    name: str | None = None


class _Holder(msgspec.Struct, gc=False):
    dbid: Number = None
    title: str | None = None
    firstNames: str | None = None  # noqa: N815 - EMIS's spelling
    lastName: str | None = None  # noqa: N815


class _SlotTypeCount(msgspec.Struct, gc=False):
    typeID: Number = None  # noqa: N815
    description: str | None = None
    total: Number = None
    booked: Number = None
    blocked: Number = None
    embargoed: Number = None
    available: Number = None


class _Session(msgspec.Struct, gc=False):
    dbid: Number = None
    name: str | None = None
    date: str | None = None
    startTime: str | None = None  # noqa: N815
    endTime: str | None = None  # noqa: N815
    slotLength: Number = None  # noqa: N815
    site: _Site | None = None
    holderList: list[_Holder] | None = None  # noqa: N815
    slotTypeList: list[_SlotTypeCount] | None = None  # noqa: N815


class _SessionList(msgspec.Struct, gc=False):
    appointmentSession: list[msgspec.Raw] | None = None  # noqa: N815


class _SlotType(msgspec.Struct, gc=False):
    typeID: Number = None  # noqa: N815
    description: str | None = None


class _SlotPatient(msgspec.Struct, gc=False):
    dbid: Number = None
    refID: Number = None  # noqa: N815
    firstNames: str | None = None  # noqa: N815
    surname: str | None = None


class _SlotPatientList(msgspec.Struct, gc=False):
    patient: _SlotPatient | None = None


class _Slot(msgspec.Struct, gc=False):
    dbid: Number = None
    startTime: str | None = None  # noqa: N815
    slotLength: Number = None  # noqa: N815
    type: _SlotType | None = None
    status: str | None = None
    # An object holding `patient` (the spec); some send a list, or {} / null when free.
    patientList: _SlotPatientList | list[_SlotPatient] | None = None  # noqa: N815


class _SlotList(msgspec.Struct, gc=False):
    slot: list[msgspec.Raw] | None = None


class _Registration(msgspec.Struct, gc=False):
    dbid: Number = None
    refID: Number = None  # noqa: N815
    nhsNumber: Number = None  # noqa: N815
    familyName: str | None = None  # noqa: N815
    firstNames: str | None = None  # noqa: N815
    dateOfBirth: str | None = None  # noqa: N815
    sex: str | None = None
    homeGPCode: str | None = None  # noqa: N815
    homeGP: str | None = None  # noqa: N815
    organisationNACS: str | None = None  # noqa: N815


class _MedicalRecord(msgspec.Struct, gc=False):
    patientID: Number = None  # noqa: N815
    registration: _Registration | None = None


class _Ident(msgspec.Struct, gc=False):
    dbid: Number = None
    refID: Number = None  # noqa: N815


class _BookedSlotType(msgspec.Struct, gc=False):
    id: Number = None
    description: str | None = None
    display: str | None = None


class _BookedAppointment(msgspec.Struct, gc=False):
    id: _Ident | None = None
    appointmentSite: str | None = None  # noqa: N815
    appointmentName: str | None = None  # noqa: N815
    date: str | None = None
    time: str | None = None
    sessionId: Number = None  # noqa: N815
    slotType: _BookedSlotType | None = None  # noqa: N815


class _Booked(msgspec.Struct, gc=False):
    patient: _Registration | None = None
    appointment: _BookedAppointment | None = None


class _BookedPatients(msgspec.Struct, gc=False):
    bookedList: list[msgspec.Raw] | None = None  # noqa: N815


class _Coding(msgspec.Struct, gc=False):
    code: str | None = None
    display: str | None = None


class _Details(msgspec.Struct, gc=False):
    text: str | None = None
    coding: _Coding | list[_Coding] | None = None


class _Issue(msgspec.Struct, gc=False):
    code: str | None = None
    details: _Details | None = None
    diagnostics: str | None = None


class _Text(msgspec.Struct, gc=False):
    div: str | None = None


class _ErrorResponse(msgspec.Struct, gc=False):
    text: _Text | None = None
    issue: _Issue | list[_Issue] | None = None


S = TypeVar("S", bound=msgspec.Struct)

_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    struct: msgspec.json.Decoder(struct)
    for struct in (
        _Session,
        _SessionList,
        _Slot,
        _SlotList,
        _MedicalRecord,
        _Booked,
        _BookedPatients,
        _ErrorResponse,
    )
}


# --- values -------------------------------------------------------------------------------
def _text(value: str | None) -> str:
    return (value or "").strip()


def _int(value: Number) -> int | None:
    """An id or count sent as a number or as text; None when absent or not whole."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = value.strip()
    return int(text) if text.isdigit() else None


def _code(value: Number) -> str:
    """A code sent as text or as a number ("3" or 3)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\b")


def parse_date(value: str | None) -> date | None:
    """`dd/mm/yyyy` (EMIS's own), `yyyy-mm-dd` or `yyyy-mm-ddThh:mm:ss` (the time, if
    any, is ignored). None when absent or not a date."""
    text = _text(value)
    if not text:
        return None
    try:
        if match := _DMY.match(text):
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_time(value: str | None) -> time | None:
    """`HH:MM`, `HH:MM:SS` (fractions ignored), or a whole date-time, of which
    only the time of day counts (in UK local time when it carries an offset)."""
    text = _text(value)
    if not text:
        return None
    if "T" in text or " " in text:
        text = text.replace(" ", "T", 1)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is not None:
            moment = moment.astimezone(LONDON)
        return moment.time().replace(microsecond=0)
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(part.split(".")[0].isdigit() for part in parts):
        return None
    try:
        return time(int(parts[0]), int(parts[1]), int(parts[2].split(".")[0]) if parts[2:] else 0)
    except ValueError:
        return None


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LONDON)


def _nhs_number(value: Number) -> str:
    """10 digits with the spaces taken out, or "" when EMIS sent none (or not one)."""
    if value is None or isinstance(value, bool):
        return ""
    text = value if isinstance(value, str) else str(int(value))
    digits = "".join(text.split())
    return digits if len(digits) == 10 and digits.isdigit() else ""


GENDERS = {"M": "male", "F": "female", "I": "other", "U": "unknown"}


def _gender(value: str | None) -> str:
    return GENDERS.get(_text(value)[:1].upper(), "unknown")


# --- documents --------------------------------------------------------------------------
def _document(content: bytes, struct: type[S], what: str) -> S:
    """The whole response body as `struct`: an object of the expected shape."""
    try:
        return _DECODERS[struct].decode(content)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise EmisRejected(
            f"The EMIS Partner API answered {what} with JSON of the wrong shape ({_explain(exc)})."
        ) from exc
    except msgspec.DecodeError as exc:
        raise EmisRejected(
            f"The EMIS Partner API answered {what} with something that is not JSON."
        ) from exc


def _item(raw: msgspec.Raw, struct: type[S]) -> S | str:
    """One list item as `struct`, or why it could not be read."""
    try:
        return _DECODERS[struct].decode(raw)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _explain(exc)


R = TypeVar("R")


def _each_item(
    raws: list[msgspec.Raw] | None,
    struct: type[S],
    read: Callable[[S, int], R | str],
    name: Callable[[int], str],
) -> tuple[list[R], list[str]]:
    """Every list item decoded as `struct` and mapped by `read(item, number)`,
    and a message for each item that does not decode or that `read` refuses
    (it returns the reason as a string): one bad item never fails the call."""
    items: list[R] = []
    warnings: list[str] = []
    for number, raw in enumerate(raws or (), start=1):
        item = _item(raw, struct)
        result = (
            read(item, number)
            if isinstance(item, struct)
            else f"Skipped {name(number)}: it does not decode ({item})."
        )
        if isinstance(result, str):
            warnings.append(result)
        else:
            items.append(result)
    return items, warnings


def _explain(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


# --- GetAppointmentSessions ---------------------------------------------------------------
def _holder_name(holder: _Holder) -> str:
    return " ".join(
        p for p in (_text(holder.title), _text(holder.firstNames), _text(holder.lastName)) if p
    )


def _session(item: _Session, number: int) -> AppointmentSession | str:
    session_id = _int(item.dbid)
    if session_id is None:
        return f"Skipped appointment session #{number}: it has no dbid."
    day = parse_date(item.date)
    if day is None:
        return f"Skipped appointment session {session_id}: its date {item.date!r} is not a date."
    start_at = parse_time(item.startTime)
    if start_at is None:
        return (
            f"Skipped appointment session {session_id}: its startTime {item.startTime!r} "
            "is not a time."
        )
    start = local(day, start_at)
    end_at = parse_time(item.endTime)
    end = local(day, end_at) if end_at is not None else start
    if end < start:  # a session that runs past midnight
        end = local(day + timedelta(days=1), end_at or start_at)
    counts: list[tuple[SlotTypeCount, str]] = []
    for entry in item.slotTypeList or ():
        counts.append(
            (
                (
                    _code(entry.typeID),
                    _int(entry.total) or 0,
                    _int(entry.booked) or 0,
                    _int(entry.blocked) or 0,
                    _int(entry.embargoed) or 0,
                    _int(entry.available) or 0,
                ),
                _text(entry.description),
            )
        )
    counts.sort()
    site = item.site
    return AppointmentSession(
        id=session_id,
        name=_text(item.name),
        date=day,
        start=start,
        end=end,
        slot_minutes=_int(item.slotLength) or None,
        site_id=_int(site.dbid) if site else None,
        site_name=_text(site.name) if site else "",
        holders=tuple(name for h in item.holderList or () if (name := _holder_name(h))),
        booked=sum(count[2] for count, _ in counts),
        counts=tuple(count for count, _ in counts),
        slot_types=tuple(description for _, description in counts if description),
    )


def appointment_sessions(content: bytes) -> tuple[list[AppointmentSession], list[str]]:
    """A GetAppointmentSessions body: the sessions that could be read, and a
    message for each one skipped."""
    document = _document(content, _SessionList, "GetAppointmentSessions")
    return _each_item(
        document.appointmentSession, _Session, _session, lambda n: f"appointment session #{n}"
    )


# --- GetSlotsForSessionV2 -----------------------------------------------------------------
def _slot_patient(value: _SlotPatientList | list[_SlotPatient] | None) -> _SlotPatient | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value.patient if value is not None else None


def _slot(
    item: _Slot, number: int, *, session_id: int, session_date: date, slot_minutes: int | None
) -> SessionSlot | str:
    slot_id = _int(item.dbid)
    where = f"of session {session_id}"
    if slot_id is None:
        return f"Skipped slot #{number} {where}: it has no dbid."
    start_at = parse_time(item.startTime)
    if start_at is None:
        return f"Skipped slot {slot_id} {where}: its startTime {item.startTime!r} is not a time."
    start = local(session_date, start_at)
    minutes = _int(item.slotLength) or slot_minutes or 0
    patient = _slot_patient(item.patientList)
    return SessionSlot(
        id=slot_id,
        session_id=session_id,
        start=start,
        end=start + timedelta(minutes=minutes),
        slot_type=_text(item.type.description) if item.type else "",
        slot_type_id=_code(item.type.typeID) if item.type else "",
        status=_text(item.status),
        patient_number=(
            (_int(patient.dbid) or _int(patient.refID)) if patient is not None else None
        ),
        patient_family_name=_text(patient.surname) if patient is not None else "",
        patient_given_names=_text(patient.firstNames) if patient is not None else "",
    )


def session_slots(
    content: bytes, *, session_id: int, session_date: date, slot_minutes: int | None = None
) -> tuple[list[SessionSlot], list[str]]:
    """A GetSlotsForSessionV2 body: the session's slots in time order, and a
    message for each one skipped."""
    document = _document(content, _SlotList, "GetSlotsForSessionV2")
    slots, warnings = _each_item(
        document.slot,
        _Slot,
        lambda item, number: _slot(
            item,
            number,
            session_id=session_id,
            session_date=session_date,
            slot_minutes=slot_minutes,
        ),
        lambda n: f"slot #{n} of session {session_id}",
    )
    slots.sort(key=lambda s: (s.start, s.id))
    return slots, warnings


# --- GetPatientDemographics ---------------------------------------------------------------
def _registered_practice(registration: _Registration) -> tuple[str, str]:
    """(ODS, name) of the patient's registered practice: homeGPCode when the
    patient is registered elsewhere, else the organisation holding the record."""
    home = _text(registration.homeGPCode).upper()
    if home:
        return home, _text(registration.homeGP)
    return _text(registration.organisationNACS).upper(), _text(registration.homeGP)


def patient_demographics(
    content: bytes, *, patient_number: int
) -> tuple[PatientDemographics, list[str]]:
    document = _document(content, _MedicalRecord, "GetPatientDemographics")
    registration = document.registration
    if registration is None:
        raise EmisRejected(
            "The EMIS Partner API answered GetPatientDemographics without the patient's "
            "registration."
        )
    warnings = []
    nhs_number = _nhs_number(registration.nhsNumber)
    if registration.nhsNumber not in (None, "") and not nhs_number:
        warnings.append(
            f"Patient {patient_number}: EMIS sent an NHS number that is not 10 digits; "
            "it was ignored."
        )
    ods, name = _registered_practice(registration)
    return (
        PatientDemographics(
            patient_number=_int(document.patientID) or _int(registration.dbid) or patient_number,
            nhs_number=nhs_number,
            family_name=_text(registration.familyName),
            given_names=_text(registration.firstNames),
            birth_date=parse_date(registration.dateOfBirth),
            gender=_gender(registration.sex),
            registered_practice_ods=ods,
            registered_practice_name=name,
        ),
        warnings,
    )


# --- GetBookedPatientsV2 ------------------------------------------------------------------
def _booked(item: _Booked, number: int) -> BookedPatient | str:
    appointment = item.appointment
    slot_id = _int(appointment.id.dbid) if appointment and appointment.id else None
    if appointment is None or slot_id is None:
        return f"Skipped booked appointment #{number}: it has no appointment id."
    day = parse_date(appointment.date)
    at = parse_time(appointment.time)
    if day is None or at is None:
        return (
            f"Skipped booked appointment {slot_id}: its date {appointment.date!r} or time "
            f"{appointment.time!r} cannot be read."
        )
    patient = item.patient or _Registration()
    slot_type = appointment.slotType
    return BookedPatient(
        slot_id=slot_id,
        session_id=_int(appointment.sessionId),
        start=local(day, at),
        session_name=_text(appointment.appointmentName),
        site_name=_text(appointment.appointmentSite),
        slot_type=(_text(slot_type.description) or _text(slot_type.display)) if slot_type else "",
        patient_number=_int(patient.dbid) or _int(patient.refID),
        nhs_number=_nhs_number(patient.nhsNumber),
        family_name=_text(patient.familyName),
        given_names=_text(patient.firstNames),
        birth_date=parse_date(patient.dateOfBirth),
        gender=_gender(patient.sex),
    )


def booked_patients(content: bytes) -> tuple[list[BookedPatient], list[str]]:
    document = _document(content, _BookedPatients, "GetBookedPatientsV2")
    booked, warnings = _each_item(
        document.bookedList, _Booked, _booked, lambda n: f"booked appointment #{n}"
    )
    booked.sort(key=lambda b: (b.start, b.slot_id))
    return booked, warnings


# --- ErrorResponse --------------------------------------------------------------------------
_TAGS = re.compile(r"<[^>]+>")


def error_response(content: bytes) -> tuple[str, str, str]:
    """(message, code, diagnostics) from an ErrorResponse body; blanks when the
    body is not one (an HTML error page, say)."""
    try:
        document = _DECODERS[_ErrorResponse].decode(content)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return "", "", ""
    issue = document.issue
    if isinstance(issue, list):
        issue = issue[0] if issue else None
    diagnostics = details_text = code = ""
    if issue is not None:
        diagnostics = _text(issue.diagnostics)
        details = issue.details
        if details is not None:
            details_text = _text(details.text)
            coding = details.coding
            if isinstance(coding, list):
                coding = coding[0] if coding else None
            code = _text(coding.code) if coding is not None else ""
        code = code or _text(issue.code)
    div = _text(unescape(_TAGS.sub(" ", document.text.div or ""))) if document.text else ""
    message = diagnostics or details_text or " ".join(div.split())
    return message[:500], code[:100], (diagnostics or details_text)[:1000]
