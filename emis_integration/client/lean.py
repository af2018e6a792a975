"""The lean Appointment decoder: msgspec Structs over only the fields hippo-pcn
reads, decoded straight from the response bytes.

`appointment_from_dict` maps one Appointment (a booking's answer, a read, a
cancellation; already validated as FHIR) to an `AppointmentRecord`: the one
mapping from GP Connect's Appointment to what the product handles.

Unknown fields are ignored; wrong types, missing required fields and naive
date-times become `EmisRejected`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import msgspec

from emis_integration import gpconnect as gpc

from .errors import EmisRejected
from .types import AppointmentRecord


class _Identifier(msgspec.Struct, gc=False):
    system: str = ""
    value: str = ""


class _Reference(msgspec.Struct, gc=False):
    reference: str = ""
    display: str = ""


class _HumanName(msgspec.Struct, gc=False):
    use: str = ""
    family: str = ""
    given: list[str] = []


class _GeneralPractitioner(msgspec.Struct, gc=False):
    identifier: _Identifier | None = None
    display: str = ""


class _Contained(msgspec.Struct, gc=False):
    """A contained Organization (the booking organisation) or Patient."""

    resourceType: str = ""  # noqa: N815 - FHIR's spelling
    id: str = ""
    identifier: list[_Identifier] = []
    # Organization.name is text; Patient.name is a list of HumanName.
    name: str | list[_HumanName] | None = None
    birthDate: str = ""  # noqa: N815
    gender: str = ""
    generalPractitioner: list[_GeneralPractitioner] = []  # noqa: N815


class _Extension(msgspec.Struct, gc=False):
    url: str = ""
    valueReference: _Reference | None = None  # noqa: N815
    valueString: str | None = None  # noqa: N815


class _Participant(msgspec.Struct, gc=False):
    actor: _Reference | None = None


class _Meta(msgspec.Struct, gc=False):
    versionId: str = ""  # noqa: N815
    lastUpdated: datetime | None = None  # noqa: N815


class _Resource(msgspec.Struct, gc=False):
    """A Bundle entry's resource; the Appointment fields are optional here so
    that other resource types (an OperationOutcome, say) can be skipped."""

    resourceType: str  # noqa: N815
    id: str = ""
    meta: _Meta | None = None
    status: str = ""
    start: datetime | None = None
    end: datetime | None = None
    created: datetime | None = None
    contained: list[_Contained] = []
    extension: list[_Extension] = []
    slot: list[_Reference] = []
    participant: list[_Participant] = []
    description: str = ""


def _malformed(what: str) -> EmisRejected:
    return EmisRejected(f"EMIS answered with malformed FHIR: {what}.")


def _aware(value: datetime | None, what: str, *, required: bool = True) -> datetime | None:
    if value is None:
        if required:
            raise _malformed(f"{what} is missing")
        return None
    if value.tzinfo is None:
        raise _malformed(f"{what} has no time zone")
    return value


def _identifier(identifiers: list[_Identifier], system: str) -> str:
    for identifier in identifiers:
        if identifier.system == system:
            return identifier.value
    return ""


def _birth_date(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _patient_name(name: str | list[_HumanName] | None) -> tuple[str, str]:
    """(family, given) from a Patient's names, preferring the official one."""
    if not isinstance(name, list) or not name:
        return "", ""
    chosen = next((n for n in name if n.use == "official"), name[0])
    return chosen.family, " ".join(chosen.given)


def _record(resource: _Resource) -> AppointmentRecord:
    if not resource.id:
        raise _malformed("Appointment.id is missing or not text")
    if not resource.status:
        raise _malformed("Appointment.status is missing or not text")
    start = _aware(resource.start, "Appointment.start")
    end = _aware(resource.end, "Appointment.end")
    assert start is not None and end is not None
    contained = {f"#{item.id}": item for item in resource.contained if item.id}

    booking_org: _Contained | None = None
    cancellation_reason = ""
    for extension in resource.extension:
        if extension.url == gpc.EXT_BOOKING_ORGANISATION and extension.valueReference:
            booking_org = contained.get(extension.valueReference.reference)
        elif extension.url == gpc.EXT_CANCELLATION_REASON and extension.valueString:
            cancellation_reason = extension.valueString

    patient: _Contained | None = None
    provider_patient_id = site_name = practitioner = ""
    for participant in resource.participant:
        actor = participant.actor
        if actor is None:
            continue
        reference = actor.reference
        if reference.startswith("#"):
            candidate = contained.get(reference)
            if candidate is not None and candidate.resourceType == "Patient":
                patient = candidate
        elif reference.startswith("Patient/"):
            provider_patient_id = reference.split("/", 1)[1]
        elif reference.startswith("Location/"):
            site_name = actor.display
        elif reference.startswith("Practitioner/"):
            practitioner = actor.display
    if patient is None:
        patient = next((c for c in contained.values() if c.resourceType == "Patient"), None)

    family = given = nhs_number = gender = practice_ods = practice_name = ""
    birth_date = None
    if patient is not None:
        family, given = _patient_name(patient.name)
        nhs_number = _identifier(patient.identifier, gpc.NHS_NUMBER_SYSTEM)
        birth_date = _birth_date(patient.birthDate)
        gender = patient.gender
        if patient.generalPractitioner:
            gp = patient.generalPractitioner[0]
            if gp.identifier is not None and gp.identifier.system == gpc.ODS_ORGANISATION_SYSTEM:
                practice_ods = gp.identifier.value
            practice_name = gp.display

    slot_ids = tuple(
        ref.reference.split("/", 1)[1].split("/_history", 1)[0]
        for ref in resource.slot
        if ref.reference.startswith("Slot/") and len(ref.reference) > len("Slot/")
    )
    meta = resource.meta
    return AppointmentRecord(
        appointment_id=resource.id,
        version=meta.versionId if meta else "",
        status=resource.status,
        start=start,
        end=end,
        last_updated=_aware(
            meta.lastUpdated if meta else None, "Appointment.meta.lastUpdated", required=False
        ),
        created=_aware(resource.created, "Appointment.created", required=False),
        slot_ids=slot_ids,
        booking_org_ods=(
            _identifier(booking_org.identifier, gpc.ODS_ORGANISATION_SYSTEM) if booking_org else ""
        ),
        booking_org_name=(
            booking_org.name if booking_org and isinstance(booking_org.name, str) else ""
        ),
        patient_nhs_number=nhs_number,
        patient_family_name=family,
        patient_given_name=given,
        patient_birth_date=birth_date,
        patient_gender=gender,
        registered_practice_ods=practice_ods,
        registered_practice_name=practice_name,
        provider_patient_id=provider_patient_id,
        site_name=site_name,
        practitioner=practitioner,
        description=resource.description,
        cancellation_reason=cancellation_reason,
    )


def _explain(exc: msgspec.MsgspecError) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def appointment_from_dict(resource: Mapping[str, Any]) -> AppointmentRecord:
    """One Appointment (already a dict, e.g. after full FHIR validation)."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Appointment":
        raise _malformed("expected an Appointment")
    try:
        struct = msgspec.convert(resource, _Resource, strict=False)
    except msgspec.ValidationError as exc:
        raise _malformed(f"the Appointment does not decode ({_explain(exc)})") from exc
    return _record(struct)
