"""From request parameters and FHIR JSON bodies to the sandbox's plain request
values (types.py). Every problem raises a SandboxError with precise diagnostics."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import nhs_number
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from emis_integration import gpconnect as gpc

from .errors import (
    BadRequest,
    ConstraintViolation,
    InvalidNhsNumber,
    InvalidParameter,
    InvalidResource,
    SandboxError,
)
from .models import Gender
from .types import (
    BookingOrganisation,
    BookingRequest,
    CancellationRequest,
    PatientDemographics,
    SlotWindow,
)

MAX_SLOT_WINDOW = timedelta(days=14)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_DESCRIPTION = 100
MAX_COMMENT = 500
MAX_REASON = 500

DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
INSTANT_PATTERN = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
SEARCH_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
SLOT_REFERENCE = re.compile(r"Slot/([0-9]{1,18})")
PATIENT_REFERENCE = re.compile(r"Patient/([0-9]{1,18})")
LOCATION_REFERENCE = re.compile(r"Location/([0-9]{1,18})")
PRACTITIONER_REFERENCE = re.compile(r"Practitioner/([0-9]{1,18})")
GENDERS = frozenset(Gender.values)


# --- scalars -----------------------------------------------------------------------
def parse_instant(value: Any) -> datetime | None:
    """A FHIR instant with a time zone (a space where '+' was meant is tolerated:
    an unencoded '+' in a query string arrives as a space)."""
    if not isinstance(value, str):
        return None
    value = value.strip().replace(" ", "+")
    if not INSTANT_PATTERN.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        parsed.astimezone(UTC)  # out of range once normalised (e.g. year 9999 at -12:00)
    except (ValueError, OverflowError):
        return None
    return parsed


def parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def valid_nhs_number(value: str) -> bool:
    return len(value) == 10 and value.isdigit() and nhs_number.is_valid(value)


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _single(query: QueryDict, name: str) -> str:
    values = query.getlist(name)
    if not values:
        raise BadRequest(f"The {name} parameter is required.")
    if len(values) > 1:
        raise InvalidParameter(f"The {name} parameter may be given only once.")
    return values[0]


def _prefixed(value: str, name: str, prefix: str, example: str) -> str:
    head = value[:2]
    if head != prefix:
        if head in SEARCH_PREFIXES:
            raise InvalidParameter(
                f"{name} must use the {prefix!r} prefix, not {head!r} (e.g. {name}={example})."
            )
        raise InvalidParameter(
            f"{name} must start with the {prefix!r} prefix (e.g. {name}={example})."
        )
    return value[2:]


# --- slot search ------------------------------------------------------------------------
def _search_bound(value: str, name: str, *, end_of_day: bool) -> tuple[datetime, datetime]:
    """(the bound slots are filtered by, the nominal instant the window length
    is measured with) for a date or an instant."""
    instant = parse_instant(value)
    if instant is not None:
        return instant, instant
    day = parse_date(value)
    if day is None:
        raise InvalidParameter(
            f"{name} must be a date (YYYY-MM-DD) or an instant with a time zone, not "
            f"{value[:40]!r}."
        )
    try:
        midnight = _local_midnight(day)
        return (_local_midnight(day + timedelta(days=1)) if end_of_day else midnight), midnight
    except OverflowError:
        raise InvalidParameter(f"{name} {value[:40]!r} is out of range.") from None


def parse_slot_search(query: QueryDict) -> SlotWindow:
    raw_start = _single(query, "start")
    raw_end = _single(query, "end")
    status = _single(query, "status")
    if status != "free":
        raise InvalidParameter(f"status must be 'free' (was {status[:20]!r}).")

    start_value = _prefixed(raw_start, "start", "ge", "ge2026-11-25")
    end_value = _prefixed(raw_end, "end", "le", "le2026-12-02")

    start, _ = _search_bound(start_value, "start", end_of_day=False)
    # A date end ("le2026-12-02") includes the whole of that day.
    end, nominal_end = _search_bound(end_value, "end", end_of_day=True)
    if nominal_end < start:
        raise InvalidParameter("end is before start.")
    if nominal_end - start > MAX_SLOT_WINDOW:
        raise InvalidParameter(
            f"The search window is longer than {MAX_SLOT_WINDOW.days} days; search in "
            "windows of at most two weeks."
        )

    org_type = ""
    for token in query.getlist("searchFilter"):
        system, _, code = token.partition("|")
        if system == gpc.SEARCH_FILTER_ORG_TYPE and code:
            org_type = code
    includes = set(query.getlist("_include:recurse"))
    include_locations = "Schedule:actor:Location" in includes
    return SlotWindow(
        start=start,
        end=end,
        org_type_filter=org_type,
        include_practitioners="Schedule:actor:Practitioner" in includes,
        include_locations=include_locations,
        include_organisations=include_locations and "Location:managingOrganization" in includes,
    )


# --- a patient's appointments ------------------------------------------------------------
def parse_patient_appointment_search(query: QueryDict) -> tuple[datetime | None, datetime | None]:
    """Retrieve a patient's appointments: optional start=ge{date or instant} and
    start=le{...} (a date bound covers that whole local day)."""
    lower: datetime | None = None
    upper: datetime | None = None
    for value in query.getlist("start"):
        prefix = value[:2]
        if prefix == "ge" and lower is None:
            lower = _search_bound(value[2:], "start", end_of_day=False)[0]
        elif prefix == "le" and upper is None:
            upper = _search_bound(value[2:], "start", end_of_day=True)[0]
        else:
            raise InvalidParameter(
                "start must be given at most twice, once with 'ge' and once with 'le' "
                "(e.g. start=ge2026-12-01&start=le2026-12-07)."
            )
    if lower is not None and upper is not None and upper < lower:
        raise InvalidParameter("The start=le bound is before the start=ge bound.")
    return lower, upper


# --- appointment list (the seam) -----------------------------------------------------
def parse_nhs_identifier(query: QueryDict) -> str:
    values = query.getlist("identifier")
    if not values:
        raise BadRequest(
            f"The identifier parameter is required: identifier={gpc.NHS_NUMBER_SYSTEM}|{{NHS number}}."
        )
    if len(values) > 1:
        raise BadRequest("The identifier parameter may be given only once.")
    system, separator, value = values[0].partition("|")
    if not separator or system != gpc.NHS_NUMBER_SYSTEM:
        raise BadRequest(
            f"The identifier must use the NHS number system: {gpc.NHS_NUMBER_SYSTEM}|{{NHS number}}."
        )
    value = value.strip()
    if not valid_nhs_number(value):
        raise InvalidNhsNumber(f"{value[:20]!r} is not a valid NHS number.")
    return value


def _json_body(request: HttpRequest, expected: str) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"")
    except (ValueError, RecursionError):
        raise InvalidResource(
            f"The request body is not JSON (expected a FHIR {expected})."
        ) from None
    if not isinstance(data, dict) or data.get("resourceType") != expected:
        raise InvalidResource(f"The request body is not a FHIR {expected} resource.")
    return data


def _identifier(identifiers: Any, system: str) -> str:
    if isinstance(identifiers, list):
        for identifier in identifiers:
            if isinstance(identifier, Mapping) and identifier.get("system") == system:
                value = identifier.get("value")
                return value.strip() if isinstance(value, str) else ""
    return ""


def _text(value: Any, what: str, *, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidResource(f"{what} must be text.")
    if len(value) > max_length:
        raise InvalidResource(f"{what} is longer than {max_length} characters.")
    return value


def _patient_demographics(
    patient: Mapping[str, Any], what: str, *, invalid_nhs: type[SandboxError]
) -> PatientDemographics:
    nhs = _identifier(patient.get("identifier"), gpc.NHS_NUMBER_SYSTEM)
    if not nhs:
        raise InvalidResource(f"{what} has no NHS number identifier ({gpc.NHS_NUMBER_SYSTEM}).")
    if not valid_nhs_number(nhs):
        raise invalid_nhs(f"{what}'s NHS number {nhs[:20]!r} is not valid.")
    names = patient.get("name")
    name: Mapping[str, Any] = {}
    if isinstance(names, list):
        official = [n for n in names if isinstance(n, Mapping) and n.get("use") == "official"]
        candidates = official or [n for n in names if isinstance(n, Mapping)]
        name = candidates[0] if candidates else {}
    family = name.get("family")
    if not isinstance(family, str) or not family.strip():
        raise InvalidResource(f"{what} has no family name.")
    given_names = name.get("given") or []
    if not isinstance(given_names, list) or not all(isinstance(g, str) for g in given_names):
        raise InvalidResource(f"{what}'s given names must be a list of text.")
    birth_date = parse_date(patient.get("birthDate"))
    if birth_date is None:
        raise InvalidResource(f"{what} has no valid birthDate (YYYY-MM-DD).")
    if birth_date > timezone.localdate():
        raise InvalidResource(f"{what}'s birthDate is in the future.")
    gender = patient.get("gender")
    if gender not in GENDERS:
        raise InvalidResource(f"{what}'s gender must be one of {', '.join(sorted(GENDERS))}.")
    practice_ods = practice_name = ""
    practitioners = patient.get("generalPractitioner")
    if isinstance(practitioners, list) and practitioners:
        first = practitioners[0]
        if isinstance(first, Mapping):
            identifier = first.get("identifier")
            if (
                isinstance(identifier, Mapping)
                and identifier.get("system") == gpc.ODS_ORGANISATION_SYSTEM
            ):
                practice_ods = str(identifier.get("value") or "").strip().upper()
            display = first.get("display")
            practice_name = display.strip() if isinstance(display, str) else ""
    return PatientDemographics(
        nhs_number=nhs,
        family=family.strip()[:100],
        given=" ".join(g.strip() for g in given_names if g.strip())[:100],
        birth_date=birth_date,
        gender=str(gender),
        registered_practice_ods=practice_ods[:10],
        registered_practice_name=practice_name[:200],
    )


def _contained(resource: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    contained = resource.get("contained") or []
    if not isinstance(contained, list):
        raise InvalidResource("Appointment.contained must be a list of resources.")
    return {
        f"#{item['id']}": item
        for item in contained
        if isinstance(item, Mapping) and isinstance(item.get("id"), str)
    }


def _extension(extensions: Any, url: str) -> Mapping[str, Any] | None:
    if isinstance(extensions, list):
        for extension in extensions:
            if isinstance(extension, Mapping) and extension.get("url") == url:
                return extension
    return None


def _booking_organisation(resource: Mapping[str, Any]) -> BookingOrganisation:
    extension = _extension(resource.get("extension"), gpc.EXT_BOOKING_ORGANISATION)
    if extension is None:
        raise InvalidResource(
            f"The appointment has no booking organisation extension ({gpc.EXT_BOOKING_ORGANISATION})."
        )
    reference = extension.get("valueReference")
    ref = reference.get("reference") if isinstance(reference, Mapping) else None
    organisation = _contained(resource).get(ref) if isinstance(ref, str) else None
    if organisation is None or organisation.get("resourceType") != "Organization":
        raise InvalidResource(
            "The booking organisation extension must reference a contained Organization "
            '(e.g. {"reference": "#booking-org"}).'
        )
    ods_code = _identifier(organisation.get("identifier"), gpc.ODS_ORGANISATION_SYSTEM).upper()
    if not ods_code or len(ods_code) > 10:
        raise InvalidResource(
            f"The booking Organization has no ODS code identifier ({gpc.ODS_ORGANISATION_SYSTEM})."
        )
    name = organisation.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidResource("The booking Organization has no name.")
    phone = ""
    telecoms = organisation.get("telecom")
    if isinstance(telecoms, list):
        for telecom in telecoms:
            if isinstance(telecom, Mapping) and telecom.get("system") == "phone":
                phone = str(telecom.get("value") or "").strip()
                break
    if not phone:
        raise InvalidResource(
            "The booking Organization has no telecom: GP Connect requires its phone number "
            '({"system": "phone", "value": "...", "use": "work"}).'
        )
    if organisation.get("type") is not None:
        raise InvalidResource(
            "The booking Organization must not carry a type: GP Connect allows it only when "
            "the slot search sent an organisation-type searchFilter."
        )
    return BookingOrganisation(ods_code=ods_code, name=name.strip()[:200], phone=phone[:30])


def _actor_references(resource: Mapping[str, Any]) -> list[str]:
    participants = resource.get("participant")
    if not isinstance(participants, list):
        return []
    references = []
    for participant in participants:
        actor = participant.get("actor") if isinstance(participant, Mapping) else None
        reference = actor.get("reference") if isinstance(actor, Mapping) else None
        if isinstance(reference, str):
            references.append(reference)
    return references


def _slot_references(resource: Mapping[str, Any]) -> list[str]:
    slots = resource.get("slot")
    if not isinstance(slots, list):
        return []
    return [
        str(slot.get("reference"))
        for slot in slots
        if isinstance(slot, Mapping) and isinstance(slot.get("reference"), str)
    ]


def parse_booking(request: HttpRequest) -> BookingRequest:
    resource = _json_body(request, "Appointment")
    if resource.get("id") is not None:
        raise InvalidResource("A new appointment must not carry an id.")
    if resource.get("status") != "booked":
        raise InvalidResource(
            f"A new appointment's status must be 'booked' (was {resource.get('status')!r})."
        )
    slots = _slot_references(resource)
    if len(slots) != 1:
        raise InvalidResource("The appointment must reference exactly one slot (Slot/{id}).")
    slot_match = SLOT_REFERENCE.fullmatch(slots[0])
    if slot_match is None:
        raise InvalidResource(f"{slots[0][:60]!r} is not a Slot reference (Slot/{{id}}).")
    start, end = parse_instant(resource.get("start")), parse_instant(resource.get("end"))
    if start is None or end is None:
        raise InvalidResource("The appointment's start and end must be instants with a time zone.")
    booking_organisation = _booking_organisation(resource)

    contained = _contained(resource)
    if any(c.get("resourceType") == "Patient" for c in contained.values()):
        raise InvalidResource(
            "The appointment must not contain a Patient: reference the patient's record at "
            "this organisation as Patient/{id} (find or register them first)."
        )
    patient_ids: list[int] = []
    location_ids: list[int] = []
    practitioner_ids: list[int] = []
    for reference in _actor_references(resource):
        kind = reference.split("/", 1)[0]
        if reference.startswith("#") or kind == "Patient":
            match = PATIENT_REFERENCE.fullmatch(reference)
            if match is None:
                raise InvalidResource(
                    f"{reference[:60]!r} is not a valid patient participant: reference the "
                    "patient's record as Patient/{id} (find or register them first)."
                )
            patient_ids.append(int(match.group(1)))
        elif kind == "Location":
            match = LOCATION_REFERENCE.fullmatch(reference)
            if match is None:
                raise InvalidResource(f"{reference[:60]!r} is not a valid Location reference.")
            location_ids.append(int(match.group(1)))
        elif kind == "Practitioner":
            match = PRACTITIONER_REFERENCE.fullmatch(reference)
            if match is None:
                raise InvalidResource(f"{reference[:60]!r} is not a valid Practitioner reference.")
            practitioner_ids.append(int(match.group(1)))
    if len(patient_ids) != 1:
        raise InvalidResource(
            'The appointment must have exactly one patient participant ({"reference": '
            '"Patient/{id}"}).'
        )
    if len(location_ids) != 1:
        raise InvalidResource(
            'The appointment must have exactly one Location participant ({"reference": '
            '"Location/{id}"}, the slot\'s location).'
        )
    if len(practitioner_ids) > 1:
        raise InvalidResource("The appointment may have at most one Practitioner participant.")
    return BookingRequest(
        slot_id=int(slot_match.group(1)),
        start=start,
        end=end,
        booking_organisation=booking_organisation,
        patient_id=patient_ids[0],
        location_id=location_ids[0],
        practitioner_id=practitioner_ids[0] if practitioner_ids else None,
        description=_text(resource.get("description"), "description", max_length=MAX_DESCRIPTION),
        comment=_text(resource.get("comment"), "comment", max_length=MAX_COMMENT),
    )


def parse_if_match(request: HttpRequest) -> int:
    raw = (request.headers.get("If-Match") or "").strip()
    if not raw:
        raise BadRequest('The If-Match header is required: If-Match: W/"{versionId}".')
    value = raw[2:] if raw.startswith("W/") else raw
    value = value.strip().strip('"')
    if not value.isdigit():
        raise ConstraintViolation(
            f"If-Match {raw[:40]!r} does not match the appointment's current version."
        )
    return int(value)


def parse_cancellation(request: HttpRequest, *, appointment_id: int) -> CancellationRequest:
    resource = _json_body(request, "Appointment")
    body_id = resource.get("id")
    if body_id is not None and str(body_id) != str(appointment_id):
        raise InvalidResource(
            f"The appointment's id ({str(body_id)[:20]!r}) does not match the URL ({appointment_id})."
        )
    if resource.get("status") != "cancelled":
        raise InvalidResource(
            f"A cancellation must set status to 'cancelled' (was {resource.get('status')!r})."
        )
    extension = _extension(resource.get("extension"), gpc.EXT_CANCELLATION_REASON)
    reason = extension.get("valueString") if extension is not None else None
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidResource(
            f"A cancellation needs a reason in the cancellation-reason extension ({gpc.EXT_CANCELLATION_REASON})."
        )
    if len(reason.strip()) > MAX_REASON:
        raise InvalidResource(f"The cancellation reason is longer than {MAX_REASON} characters.")
    contained = _contained(resource)
    booking_ods = ""
    booking = _extension(resource.get("extension"), gpc.EXT_BOOKING_ORGANISATION)
    if booking is not None and isinstance(booking.get("valueReference"), Mapping):
        organisation = contained.get(str(booking["valueReference"].get("reference")), {})
        booking_ods = _identifier(
            organisation.get("identifier"), gpc.ODS_ORGANISATION_SYSTEM
        ).upper()
    patients = [c for c in contained.values() if c.get("resourceType") == "Patient"]
    patient_nhs = (
        _identifier(patients[0].get("identifier"), gpc.NHS_NUMBER_SYSTEM) if patients else ""
    )
    description = resource.get("description")
    comment = resource.get("comment")
    return CancellationRequest(
        appointment_id=appointment_id,
        reason=reason.strip(),
        start=parse_instant(resource.get("start")),
        end=parse_instant(resource.get("end")),
        slot_references=tuple(_slot_references(resource)),
        participant_references=frozenset(_actor_references(resource)),
        booking_org_ods=booking_ods,
        patient_nhs_number=patient_nhs,
        description=description if isinstance(description, str) else "",
        comment=comment if isinstance(comment, str) else "",
    )


def parse_registration(request: HttpRequest) -> PatientDemographics:
    parameters = _json_body(request, "Parameters")
    entries = parameters.get("parameter")
    matching = [
        entry
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, Mapping) and entry.get("name") == "registerPatient"
    ]
    if len(matching) != 1:
        raise InvalidResource(
            "The Parameters must contain exactly one 'registerPatient' parameter."
        )
    patient = matching[0].get("resource")
    if not isinstance(patient, Mapping) or patient.get("resourceType") != "Patient":
        raise InvalidResource("The 'registerPatient' parameter must carry a Patient resource.")
    forbidden = sorted(set(patient) - gpc.REGISTER_PATIENT_ALLOWED_ELEMENTS)
    if forbidden:
        raise InvalidResource(
            f"The Patient to register must not carry {', '.join(forbidden)[:200]}: "
            "$gpc.registerpatient accepts only the NHS number identifier, name, gender, "
            "birthDate, telecom and address."
        )
    if _extension(patient.get("extension"), gpc.EXT_REGISTRATION_DETAILS) is not None:
        raise InvalidResource(
            "The Patient to register must not carry the registration details extension; "
            "the provider sets it."
        )
    return _patient_demographics(patient, "The Patient to register", invalid_nhs=InvalidNhsNumber)
