"""From GP Connect FHIR STU3 JSON to typed records.

Two levels of checking: `validate_resource` runs the full fhir.resources STU3
model (used where speed does not matter: booking, reading one appointment,
patients, test connection); the `*_from_dict` mappers are lean and used alone
on the hot polling path. Anything malformed becomes `EmisRejected`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from importlib import import_module
from typing import Any

from pydantic import ValidationError

from emis_integration import gpconnect as gpc

from .errors import EmisRejected
from .lean import appointment_from_dict
from .types import FreeSlot, PatientRecord

__all__ = ["appointment_from_dict"]  # Appointments are mapped by the lean decoder

_MODEL_MODULES = {
    "Bundle": "bundle",
    "Appointment": "appointment",
    "Patient": "patient",
    "CapabilityStatement": "capabilitystatement",
    "OperationOutcome": "operationoutcome",
}


def _malformed(what: str) -> EmisRejected:
    return EmisRejected(f"EMIS answered with malformed FHIR: {what}.")


def validate_resource(data: Any, expected: str) -> dict[str, Any]:
    """Check `data` is a valid STU3 resource of type `expected`; return it."""
    if not isinstance(data, dict):
        raise _malformed(f"expected a {expected} resource, got {type(data).__name__}")
    actual = data.get("resourceType")
    if actual != expected:
        raise _malformed(f"expected a {expected} resource, got {actual or 'no resourceType'}")
    module = import_module(f"fhir.resources.STU3.{_MODEL_MODULES[expected]}")
    model = getattr(module, expected)
    try:
        model.model_validate(data)
    except (ValidationError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise _malformed(f"the {expected} does not validate ({first})") from exc
    return data


def _str(value: Any, what: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _malformed(f"{what} is missing or not text")
    return value


def parse_instant(value: Any, what: str, *, required: bool = True) -> datetime | None:
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str):
        raise _malformed(f"{what} is missing")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _malformed(f"{what} is not a date-time ({value[:40]!r})") from exc
    if parsed.tzinfo is None:
        raise _malformed(f"{what} has no time zone")
    return parsed


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _reference_id(reference: Any, resource_type: str) -> str:
    if not isinstance(reference, Mapping):
        return ""
    ref = reference.get("reference")
    if isinstance(ref, str) and ref.startswith(f"{resource_type}/"):
        return ref.split("/", 1)[1].split("/_history", 1)[0]
    return ""


def human_name(names: Any) -> tuple[str, str, str]:
    """(family, given, prefix) from a FHIR HumanName list, preferring 'official'."""
    if not isinstance(names, list) or not names:
        return "", "", ""
    chosen = next(
        (n for n in names if isinstance(n, Mapping) and n.get("use") == "official"), names[0]
    )
    if not isinstance(chosen, Mapping):
        return "", "", ""
    family = chosen.get("family") or ""
    given = " ".join(g for g in chosen.get("given") or [] if isinstance(g, str))
    prefix = " ".join(p for p in chosen.get("prefix") or [] if isinstance(p, str))
    return str(family), given, prefix


def display_name(names: Any) -> str:
    family, given, prefix = human_name(names)
    return " ".join(part for part in (prefix, given, family) if part)


def address_text(address: Any) -> str:
    if isinstance(address, list):
        address = address[0] if address else None
    if not isinstance(address, Mapping):
        return ""
    if isinstance(address.get("text"), str) and address["text"]:
        return address["text"]
    parts = [line for line in address.get("line") or [] if isinstance(line, str)]
    parts += [
        address[k]
        for k in ("city", "district", "postalCode")
        if isinstance(address.get(k), str) and address[k]
    ]
    return ", ".join(parts)


def identifier_value(identifiers: Any, system: str) -> str:
    if isinstance(identifiers, Mapping):
        identifiers = [identifiers]
    if not isinstance(identifiers, list):
        return ""
    for identifier in identifiers:
        if isinstance(identifier, Mapping) and identifier.get("system") == system:
            value = identifier.get("value")
            return value if isinstance(value, str) else ""
    return ""


def extension_value(extensions: Any, url: str, key: str) -> Any:
    if not isinstance(extensions, list):
        return None
    for extension in extensions:
        if isinstance(extension, Mapping) and extension.get("url") == url:
            return extension.get(key)
    return None


def bundle_resources(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    if bundle.get("resourceType") != "Bundle":
        raise _malformed(f"expected a Bundle, got {bundle.get('resourceType') or 'nothing'}")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise _malformed("Bundle.entry is not a list")
    resources = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, dict) or "resourceType" not in resource:
            raise _malformed("a Bundle entry has no resource")
        resources.append(resource)
    return resources


def next_link(bundle: Mapping[str, Any]) -> str:
    for link in bundle.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else ""
    return ""


# GP Connect's DeliveryChannel code system; providers have sent other spellings
# ("In-Person"), so codes are matched without regard to case.
DELIVERY_CHANNELS = {"in-person": "In-person", "telephone": "Telephone", "video": "Video"}


def delivery_channel(slot: Mapping[str, Any], schedule: Mapping[str, Any]) -> str:
    """The Slot's DeliveryChannel extension code (the Schedule's when the Slot has
    none), spelt as GP Connect's code system spells it; "" when neither says."""
    for resource in (slot, schedule):
        code = extension_value(resource.get("extension"), gpc.EXT_DELIVERY_CHANNEL, "valueCode")
        if isinstance(code, str) and code.strip():
            return DELIVERY_CHANNELS.get(code.strip().casefold(), code.strip())
    return ""


def free_slots_from_bundle(bundle: Mapping[str, Any]) -> list[FreeSlot]:
    """Slots joined to their Schedule, Location (site), Practitioner and the
    Location's managing Organization."""
    by_type: dict[str, dict[str, dict[str, Any]]] = {}
    slots = []
    for resource in bundle_resources(bundle):
        kind = resource["resourceType"]
        if kind == "Slot":
            slots.append(resource)
        else:
            by_type.setdefault(kind, {})[str(resource.get("id"))] = resource
    schedules = by_type.get("Schedule", {})
    locations = by_type.get("Location", {})
    practitioners = by_type.get("Practitioner", {})
    organisations = by_type.get("Organization", {})
    result = []
    for slot in slots:
        slot_id = _str(slot.get("id"), "Slot.id")
        start = parse_instant(slot.get("start"), "Slot.start")
        end = parse_instant(slot.get("end"), "Slot.end")
        assert start is not None and end is not None
        schedule_id = _reference_id(slot.get("schedule"), "Schedule")
        schedule = schedules.get(schedule_id, {})
        location: dict[str, Any] = {}
        practitioner: dict[str, Any] = {}
        location_id = practitioner_id = ""
        for actor in schedule.get("actor") or []:
            if loc_id := _reference_id(actor, "Location"):
                location_id = loc_id
                location = locations.get(loc_id, {})
            elif prac_id := _reference_id(actor, "Practitioner"):
                practitioner_id = prac_id
                practitioner = practitioners.get(prac_id, {})
        org = organisations.get(
            _reference_id(location.get("managingOrganization"), "Organization"), {}
        )
        service_types = slot.get("serviceType") or schedule.get("serviceType") or []
        service = ""
        if isinstance(service_types, list) and service_types:
            first = service_types[0]
            if isinstance(first, Mapping):
                service = str(first.get("text") or "")
        result.append(
            FreeSlot(
                slot_id=slot_id,
                start=start,
                end=end,
                site_name=str(location.get("name") or ""),
                site_address=address_text(location.get("address")),
                practitioner=display_name(practitioner.get("name")),
                service_type=service,
                delivery_channel=delivery_channel(slot, schedule),
                schedule_id=schedule_id,
                location_id=location_id,
                practitioner_id=practitioner_id,
                organisation_ods=identifier_value(
                    org.get("identifier"), gpc.ODS_ORGANISATION_SYSTEM
                ),
            )
        )
    return result


def patient_from_dict(resource: Mapping[str, Any]) -> PatientRecord:
    family, given, _ = human_name(resource.get("name"))
    registration = extension_value(
        resource.get("extension"), gpc.EXT_REGISTRATION_DETAILS, "extension"
    )
    registration_type = ""
    if isinstance(registration, list):
        coding = extension_value(registration, gpc.EXT_REGISTRATION_TYPE, "valueCodeableConcept")
        if isinstance(coding, Mapping):
            codes: Iterable[Any] = coding.get("coding") or []
            registration_type = next(
                (str(c.get("code")) for c in codes if isinstance(c, Mapping) and c.get("code")),
                "",
            )
    return PatientRecord(
        patient_id=_str(resource.get("id"), "Patient.id"),
        nhs_number=identifier_value(resource.get("identifier"), gpc.NHS_NUMBER_SYSTEM),
        family_name=family,
        given_name=given,
        birth_date=_date(resource.get("birthDate")),
        gender=str(resource.get("gender") or ""),
        registration_type=registration_type,
    )


def operation_outcome(data: Any) -> tuple[str, str]:
    """(spine code, diagnostics) from an OperationOutcome, or ("", "")."""
    if not isinstance(data, Mapping) or data.get("resourceType") != "OperationOutcome":
        return "", ""
    for issue in data.get("issue") or []:
        if not isinstance(issue, Mapping):
            continue
        code = ""
        details = issue.get("details")
        if isinstance(details, Mapping):
            for coding in details.get("coding") or []:
                if isinstance(coding, Mapping) and coding.get("code"):
                    code = str(coding["code"])
                    break
        diagnostics = issue.get("diagnostics")
        return code, diagnostics if isinstance(diagnostics, str) else ""
    return "", ""
