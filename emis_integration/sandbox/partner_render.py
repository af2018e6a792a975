"""The sandbox's rows as EMIS Partner API JSON, in the shapes (field names and
nesting) of EMIS's public OpenAPI description, as docs/emis-partner-api-contract.md
describes: AppointmentSessionList, SlotListStruct, MedicalRecordType,
BookedPatientsV2 and ErrorResponse."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from html import escape
from typing import Any

from django.utils import timezone

from .errors import SandboxError
from .models import Appointment, Gender, Patient, Practitioner, SandboxOrganisation
from .types import SessionRow, SessionSlotRow

ERROR_SYSTEM = "https://emis.example/partner-api/errors"
# HTTP status → (coding.code, coding.display) of an ErrorResponse.
ERROR_CODES = {
    400: ("INVALID_PARAMETER", "Invalid parameter"),
    401: ("UNAUTHORISED", "Authentication token not valid"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Media type not valid for URL"),
    500: ("INTERNAL_ERROR", "Internal error"),
}
SEVERITY_ERROR = 1
STATUS_BOOKED = "Booked"
STATUS_AVAILABLE = "Available"
SEX: dict[str, str] = {
    Gender.MALE: "M",
    Gender.FEMALE: "F",
    Gender.OTHER: "I",
    Gender.UNKNOWN: "U",
}


def emis_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def emis_time(value: time) -> str:
    return value.strftime("%H:%M")


def _local(value: datetime) -> datetime:
    return timezone.localtime(value, timezone.get_default_timezone())


def _minutes(start: datetime, end: datetime) -> str:
    return str(round((end - start).total_seconds() / 60))


def error_response(error: SandboxError) -> dict[str, Any]:
    """ErrorResponse: a fresh messageId; the words for a person in text.div,
    issue.details.text and issue.diagnostics."""
    code, display = ERROR_CODES.get(error.status, ERROR_CODES[500])
    words = error.diagnostics
    return {
        "messageId": str(uuid.uuid4()),
        "legacyOutcome": 0,
        "text": {"status": "generated", "div": f"<div>{escape(words)}</div>"},
        "issue": {
            "severity": SEVERITY_ERROR,
            "code": error.issue_type,
            "details": {
                "text": words,
                "coding": {"system": ERROR_SYSTEM, "code": code, "display": display},
            },
            "diagnostics": words,
        },
    }


# --- GetAppointmentSessions -------------------------------------------------------
def _holder(row: SessionRow) -> dict[str, Any]:
    return {
        "dbid": row.holder_id,
        "refID": row.holder_id,
        "title": row.holder_prefix or "",
        "firstNames": row.holder_given or "",
        "lastName": (row.holder_family or "").upper(),
    }


def appointment_session(row: SessionRow) -> dict[str, Any]:
    return {
        "dbid": row.pk,
        "name": row.name,
        "date": emis_date(row.date),
        "startTime": emis_time(row.start_time),
        "endTime": emis_time(row.end_time),
        "slotLength": str(row.slot_minutes),
        "site": {"dbid": row.site_id, "name": row.site_name},
        "holderList": [_holder(row)] if row.holder_id is not None else [],
        "slotTypeList": [
            {
                "typeID": str(row.schedule_id),
                "description": row.service_type,
                "total": row.total,
                "booked": row.booked,
                "blocked": 0,
                "embargoed": 0,
                "available": row.available,
            }
        ],
    }


def appointment_session_list(rows: list[SessionRow]) -> dict[str, Any]:
    return {"appointmentSession": [appointment_session(row) for row in rows]}


# --- GetSlotsForSessionV2 ---------------------------------------------------------
def full_name(family: str, given: str) -> str:
    """EMIS style: "JONES, Jane" (EMIS adds " (Mrs)" when it holds a title)."""
    surname = family.upper()
    return f"{surname}, {given}" if given else surname


def _slot_patient(row: SessionSlotRow) -> dict[str, Any]:
    if row.patient_record_id is not None:
        family, given = row.patient_family or "", row.patient_given or ""
        patient: dict[str, Any] = {"dbid": row.patient_record_id, "refID": row.patient_record_id}
    else:
        # An appointment written around the services, without a record: its snapshot.
        snapshot = row.patient_snapshot or {}
        family, given = str(snapshot.get("family", "")), str(snapshot.get("given", ""))
        patient = {}
    patient.update(
        {
            "title": "",
            "firstNames": given,
            "surname": family.upper(),
            "fullName": full_name(family, given),
        }
    )
    return patient


def slot(row: SessionSlotRow) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "dbid": row.pk,
        "refID": row.pk,
        "startTime": emis_time(_local(row.start).time()),
        "slotLength": _minutes(row.start, row.end),
        "type": {"typeID": str(row.schedule_id), "description": row.service_type},
        "status": STATUS_BOOKED if row.is_booked else STATUS_AVAILABLE,
    }
    if row.is_booked:
        rendered["patientList"] = {"patient": _slot_patient(row)}
    rendered.update({"notes": "", "reason": "", "commentList": []})
    return rendered


def slot_list(rows: list[SessionSlotRow]) -> dict[str, Any]:
    return {"slot": [slot(row) for row in rows]}


# --- GetPatientDemographics and GetBookedPatientsV2 --------------------------------
def registration(
    patient: Patient, *, organisation: SandboxOrganisation, practice_name: str
) -> dict[str, Any]:
    """RegistrationType: the demographics EMIS holds in the patient's record at
    `organisation`. homeGPCode/homeGP: their registered practice (its ODS code
    and name)."""
    return {
        "dbid": str(patient.pk),
        "refID": str(patient.pk),
        "nhsNumber": patient.nhs_number,
        "title": "",
        "familyName": patient.family.upper(),
        "firstNames": patient.given,
        "callingName": patient.given,
        "dateOfBirth": emis_date(patient.birth_date),
        "sex": SEX.get(patient.gender, "U"),
        "homeGPCode": patient.registered_practice_ods,
        "homeGP": practice_name,
        "organisationNACS": organisation.ods_code,
    }


def medical_record(
    patient: Patient, *, organisation: SandboxOrganisation, practice_name: str
) -> dict[str, Any]:
    """MedicalRecordType with only the registration filled in."""
    return {
        "patientID": str(patient.pk),
        "registration": registration(
            patient, organisation=organisation, practice_name=practice_name
        ),
    }


def _snapshot_registration(
    appointment: Appointment, *, organisation: SandboxOrganisation
) -> dict[str, Any]:
    """An appointment written around the services, without a record: its snapshot."""
    snapshot = appointment.patient_snapshot or {}
    birth_date = str(snapshot.get("birthDate", ""))
    try:
        date_of_birth = emis_date(date.fromisoformat(birth_date))
    except ValueError:
        date_of_birth = ""
    given = str(snapshot.get("given", ""))
    return {
        "nhsNumber": appointment.patient_nhs_number,
        "title": "",
        "familyName": str(snapshot.get("family", "")).upper(),
        "firstNames": given,
        "callingName": given,
        "dateOfBirth": date_of_birth,
        "sex": SEX.get(str(snapshot.get("gender", "")), "U"),
        "homeGPCode": str(snapshot.get("registeredPracticeOds", "")),
        "homeGP": str(snapshot.get("registeredPracticeName", "")),
        "organisationNACS": organisation.ods_code,
    }


def _holder_of(appointment: Appointment) -> Practitioner | None:
    session = appointment.slot.session
    return session.holder if session is not None else appointment.slot.schedule.practitioner


def _booked(
    appointment: Appointment, *, organisation: SandboxOrganisation, practice_names: dict[str, str]
) -> dict[str, Any]:
    record = appointment.patient_record
    if record is not None:
        patient = registration(
            record,
            organisation=organisation,
            practice_name=practice_names.get(
                record.registered_practice_ods, record.registered_practice_ods
            ),
        )
    else:
        patient = _snapshot_registration(appointment, organisation=organisation)
    slot_row = appointment.slot
    session = slot_row.session
    schedule = slot_row.schedule
    holder = _holder_of(appointment)
    rendered: dict[str, Any] = {
        "id": {"dbid": str(slot_row.pk)},
        "appointmentSite": session.site.name if session is not None else schedule.site.name,
        "appointmentName": session.name if session is not None else schedule.service_type,
        "date": emis_date(_local(appointment.start).date()),
        "time": emis_time(_local(appointment.start).time()),
    }
    if holder is not None:
        rendered["sessionHolder"] = {"dbid": str(holder.pk)}
    if session is not None:
        rendered["sessionId"] = session.pk
    rendered["slotType"] = {"id": str(schedule.pk), "description": schedule.service_type}
    return {"patient": patient, "appointment": rendered}


def _session_holder(holder: Practitioner) -> dict[str, Any]:
    return {
        "dbid": str(holder.pk),
        "refID": str(holder.pk),
        "title": holder.prefix,
        "firstNames": holder.given,
        "lastName": holder.family.upper(),
    }


def booked_patients(
    appointments: list[Appointment],
    *,
    organisation: SandboxOrganisation,
    practice_names: dict[str, str],
    now: datetime,
) -> dict[str, Any]:
    """BookedPatientsV2: `time` is the query time (UK local, ISO 8601 to the
    second); each holder of a listed appointment's session once."""
    holders: dict[int, Practitioner] = {}
    for appointment in appointments:
        holder = _holder_of(appointment)
        if holder is not None:
            holders.setdefault(holder.pk, holder)
    return {
        "time": _local(now).replace(tzinfo=None).isoformat(timespec="seconds"),
        "bookedList": [
            _booked(a, organisation=organisation, practice_names=practice_names)
            for a in appointments
        ],
        "sessionHolderList": [_session_holder(h) for h in holders.values()],
    }
