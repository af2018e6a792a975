"""The sandbox's rows as GP Connect (FHIR STU3) JSON, shaped as
docs/emis-wire-contract.md describes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from emis_integration import gpconnect as gpc

from .errors import SPINE_DISPLAY, SandboxError
from .models import (
    Appointment,
    AppointmentStatus,
    Patient,
    Practitioner,
    RegistrationType,
    SandboxOrganisation,
    Schedule,
    Site,
    Slot,
)
from .types import SlotWindow

FHIR_VERSION = "3.0.1"
GPCONNECT_VERSION = "1.2.7"
CAPABILITY_DATE = "2026-01-01"


@lru_cache(maxsize=4096)
def _fixed_zone(zone_key: str, hour: int) -> dt_timezone:
    """The zone's offset during one UTC hour, as a fixed-offset zone (offset
    changes fall on the hour: 01:00 UTC for Europe/London)."""
    offset = datetime.fromtimestamp(hour * 3600, ZoneInfo(zone_key)).utcoffset()
    return dt_timezone(offset or timedelta(0))


def instant(value: datetime) -> str:
    """Slot and appointment times: local time (the sandbox's default zone,
    Europe/London) with its offset, to the second. Rendering a page of hundreds
    of appointments, the zone's rules are looked up once per hour of time, not
    per value (a bounded cache)."""
    zone = _fixed_zone(str(timezone.get_default_timezone()), int(value.timestamp()) // 3600)
    return value.astimezone(zone).isoformat(timespec="seconds")


def precise_instant(value: datetime) -> str:
    """meta.lastUpdated: UTC to the microsecond (the seam's cursor relies on it)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def operation_outcome(error: SandboxError) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "meta": {"profile": [gpc.PROFILE_OPERATION_OUTCOME]},
        "issue": [
            {
                "severity": "error",
                "code": error.issue_type,
                "details": {
                    "coding": [
                        {
                            "system": gpc.SPINE_ERROR_SYSTEM,
                            "code": error.code,
                            "display": SPINE_DISPLAY.get(error.code, error.code),
                        }
                    ]
                },
                "diagnostics": error.diagnostics,
            }
        ],
    }


def capability_statement(*, organisation: SandboxOrganisation, base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "version": GPCONNECT_VERSION,
        "name": "GP Connect (EMIS sandbox)",
        "status": "active",
        "date": CAPABILITY_DATE,
        "publisher": "hippo-pcn EMIS sandbox",
        "description": (
            "The bundled fake EMIS serving GP Connect Appointment Management for "
            f"{organisation.name} ({organisation.ods_code})."
        ),
        "kind": "instance",
        "software": {"name": "EMIS sandbox", "version": GPCONNECT_VERSION},
        "implementation": {
            "description": f"{organisation.name} ({organisation.ods_code})",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "acceptUnknown": "both",
        "format": [gpc.FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": "Slot",
                        "interaction": [{"code": "search-type"}],
                        "searchInclude": [
                            "Slot:schedule",
                            "Schedule:actor:Practitioner",
                            "Schedule:actor:Location",
                            "Location:managingOrganization",
                        ],
                        "searchParam": [
                            {"name": "start", "type": "date"},
                            {"name": "end", "type": "date"},
                            {"name": "status", "type": "token"},
                            {"name": "searchFilter", "type": "token"},
                        ],
                    },
                    {
                        "type": "Appointment",
                        "interaction": [
                            {"code": "read"},
                            {"code": "create"},
                            {"code": "update"},
                        ],
                    },
                    {
                        "type": "Patient",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [{"name": "identifier", "type": "token"}],
                    },
                ],
                "operation": [
                    {
                        "name": "gpc.registerpatient",
                        "definition": {"reference": "OperationDefinition/gpc.registerpatient"},
                    }
                ],
            }
        ],
    }


def organisation_resource(organisation: SandboxOrganisation) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": str(organisation.pk),
        "meta": {"profile": [gpc.PROFILE_ORGANIZATION]},
        "identifier": [{"system": gpc.ODS_ORGANISATION_SYSTEM, "value": organisation.ods_code}],
        "name": organisation.name,
        "type": [
            {"coding": [{"system": gpc.ORGANISATION_TYPE_SYSTEM, "code": organisation.org_type}]}
        ],
    }
    if organisation.phone:
        resource["telecom"] = [{"system": "phone", "value": organisation.phone, "use": "work"}]
    return resource


def location_resource(site: Site) -> dict[str, Any]:
    address: dict[str, Any] = {"line": site.address_lines, "city": site.city}
    if site.district:
        address["district"] = site.district
    address["postalCode"] = site.postcode
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": str(site.pk),
        "name": site.name,
        "address": address,
        "managingOrganization": {"reference": f"Organization/{site.organisation_id}"},
    }
    if site.phone:
        resource["telecom"] = [{"system": "phone", "value": site.phone, "use": "work"}]
    return resource


def practitioner_resource(practitioner: Practitioner) -> dict[str, Any]:
    name: dict[str, Any] = {"use": "usual", "family": practitioner.family}
    if practitioner.given:
        name["given"] = [practitioner.given]
    if practitioner.prefix:
        name["prefix"] = [practitioner.prefix]
    return {
        "resourceType": "Practitioner",
        "id": str(practitioner.pk),
        "name": [name],
        "gender": practitioner.gender,
    }


def schedule_resource(schedule: Schedule, window: SlotWindow) -> dict[str, Any]:
    actors = [{"reference": f"Location/{schedule.site_id}"}]
    if schedule.practitioner_id:
        actors.append({"reference": f"Practitioner/{schedule.practitioner_id}"})
    resource: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": str(schedule.pk),
        "actor": actors,
        "serviceType": [{"text": schedule.service_type}],
        "planningHorizon": {"start": instant(window.start), "end": instant(window.end)},
    }
    if schedule.service_category:
        resource["serviceCategory"] = {"text": schedule.service_category}
    if schedule.practitioner_id and schedule.practitioner and schedule.practitioner.role:
        resource["extension"] = [
            {
                "url": gpc.EXT_PRACTITIONER_ROLE,
                "valueCodeableConcept": {"text": schedule.practitioner.role},
            }
        ]
    return resource


def slot_resource(slot: Slot) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": str(slot.pk),
        "meta": {"profile": [gpc.PROFILE_SLOT]},
        "extension": [
            {"url": gpc.EXT_DELIVERY_CHANNEL, "valueCode": slot.schedule.delivery_channel}
        ],
        "serviceType": [{"text": slot.schedule.service_type}],
        "schedule": {"reference": f"Schedule/{slot.schedule_id}"},
        "status": slot.status,
        "start": instant(slot.start),
        "end": instant(slot.end),
    }


def _entry(base_url: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def searchset(
    entries: list[dict[str, Any]], *, self_url: str, next_url: str = ""
) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def slot_bundle(
    slots: list[Slot],
    *,
    window: SlotWindow,
    organisation: SandboxOrganisation,
    base_url: str,
    self_url: str,
) -> dict[str, Any]:
    """Slots (match) followed by each included Schedule, Practitioner, Location
    and Organization once (include)."""
    entries = [_entry(base_url, slot_resource(slot), "match") for slot in slots]
    schedules: dict[int, Schedule] = {}
    practitioners: dict[int, Practitioner] = {}
    sites: dict[int, Site] = {}
    for slot in slots:
        schedule = slot.schedule
        schedules.setdefault(schedule.pk, schedule)
        if window.include_practitioners and schedule.practitioner is not None:
            practitioners.setdefault(schedule.practitioner.pk, schedule.practitioner)
        if window.include_locations:
            sites.setdefault(schedule.site.pk, schedule.site)
    entries += [
        _entry(base_url, schedule_resource(s, window), "include") for s in schedules.values()
    ]
    entries += [
        _entry(base_url, practitioner_resource(p), "include") for p in practitioners.values()
    ]
    entries += [_entry(base_url, location_resource(s), "include") for s in sites.values()]
    if window.include_organisations and sites:
        entries.append(_entry(base_url, organisation_resource(organisation), "include"))
    return searchset(entries, self_url=self_url)


def _contained_patient(appointment: Appointment) -> dict[str, Any]:
    snapshot = appointment.patient_snapshot or {}
    name: dict[str, Any] = {"use": "official", "family": snapshot.get("family") or ""}
    if snapshot.get("given"):
        name["given"] = [snapshot["given"]]
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "patient",
        "meta": {"profile": [gpc.PROFILE_PATIENT]},
        "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": appointment.patient_nhs_number}],
        "name": [name],
        "gender": snapshot.get("gender") or "unknown",
    }
    if snapshot.get("birthDate"):
        patient["birthDate"] = snapshot["birthDate"]
    if snapshot.get("registeredPracticeOds"):
        patient["generalPractitioner"] = [
            {
                "identifier": {
                    "system": gpc.ODS_ORGANISATION_SYSTEM,
                    "value": snapshot["registeredPracticeOds"],
                },
                "display": snapshot.get("registeredPracticeName")
                or snapshot["registeredPracticeOds"],
            }
        ]
    return patient


def _contained_booking_organisation(appointment: Appointment) -> dict[str, Any]:
    organisation: dict[str, Any] = {
        "resourceType": "Organization",
        "id": "booking-org",
        "meta": {"profile": [gpc.PROFILE_ORGANIZATION]},
        "identifier": [
            {"system": gpc.ODS_ORGANISATION_SYSTEM, "value": appointment.booking_org_ods}
        ],
        "name": appointment.booking_org_name,
    }
    if appointment.booking_org_phone:
        organisation["telecom"] = [
            {"system": "phone", "value": appointment.booking_org_phone, "use": "work"}
        ]
    if appointment.booking_org_type:
        organisation["type"] = [
            {
                "coding": [
                    {"system": gpc.ORGANISATION_TYPE_SYSTEM, "code": appointment.booking_org_type}
                ]
            }
        ]
    return organisation


def appointment_resource(appointment: Appointment) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {"url": gpc.EXT_BOOKING_ORGANISATION, "valueReference": {"reference": "#booking-org"}}
    ]
    if appointment.status == AppointmentStatus.CANCELLED and appointment.cancellation_reason:
        extensions.append(
            {"url": gpc.EXT_CANCELLATION_REASON, "valueString": appointment.cancellation_reason}
        )
    location: dict[str, Any] = {"reference": appointment.location_reference}
    if appointment.location_display:
        location["display"] = appointment.location_display
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": appointment.patient_reference}, "status": "accepted"},
        {"actor": location, "status": "accepted"},
    ]
    if appointment.practitioner_reference:
        practitioner: dict[str, Any] = {"reference": appointment.practitioner_reference}
        if appointment.practitioner_display:
            practitioner["display"] = appointment.practitioner_display
        participants.append({"actor": practitioner, "status": "accepted"})
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(appointment.pk),
        "meta": {
            "versionId": str(appointment.version),
            "lastUpdated": precise_instant(appointment.last_updated),
            "profile": [gpc.PROFILE_APPOINTMENT],
        },
        "contained": [
            _contained_booking_organisation(appointment),
            _contained_patient(appointment),
        ],
        "extension": extensions,
        "status": appointment.status,
        "start": instant(appointment.start),
        "end": instant(appointment.end),
        "minutesDuration": max(1, int((appointment.end - appointment.start).total_seconds() // 60)),
        "created": instant(appointment.created),
        "slot": [{"reference": f"Slot/{appointment.slot_id}"}],
        "participant": participants,
    }
    if appointment.description:
        resource["description"] = appointment.description
    if appointment.comment:
        resource["comment"] = appointment.comment
    return resource


def patient_resource(patient: Patient, *, practice_name: str = "") -> dict[str, Any]:
    name: dict[str, Any] = {"use": "official", "family": patient.family}
    if patient.given:
        name["given"] = [patient.given]
    registration_type = RegistrationType(patient.registration_type)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": {"versionId": "1", "profile": [gpc.PROFILE_PATIENT]},
        "extension": [
            {
                "url": gpc.EXT_REGISTRATION_DETAILS,
                "extension": [
                    {
                        "url": "registrationPeriod",
                        "valuePeriod": {"start": instant(patient.created)},
                    },
                    {
                        "url": gpc.EXT_REGISTRATION_TYPE,
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": gpc.REGISTRATION_TYPE_SYSTEM,
                                    "code": registration_type.value,
                                    "display": registration_type.label,
                                }
                            ]
                        },
                    },
                ],
            }
        ],
        "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": patient.nhs_number}],
        "active": True,
        "name": [name],
        "gender": patient.gender,
        "birthDate": patient.birth_date.isoformat(),
    }
    if patient.registered_practice_ods:
        resource["generalPractitioner"] = [
            {
                "identifier": {
                    "system": gpc.ODS_ORGANISATION_SYSTEM,
                    "value": patient.registered_practice_ods,
                },
                "display": practice_name or patient.registered_practice_ods,
            }
        ]
    return resource


def patient_bundle(
    patients: list[Patient], *, practice_names: dict[str, str], base_url: str, self_url: str
) -> dict[str, Any]:
    entries = [
        _entry(
            base_url,
            patient_resource(p, practice_name=practice_names.get(p.registered_practice_ods, "")),
            "match",
        )
        for p in patients
    ]
    return searchset(entries, self_url=self_url)


def appointment_bundle(
    appointments: list[Appointment], *, base_url: str, self_url: str
) -> dict[str, Any]:
    entries = [_entry(base_url, appointment_resource(a), "match") for a in appointments]
    return searchset(entries, self_url=self_url)
