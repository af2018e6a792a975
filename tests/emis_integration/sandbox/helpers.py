"""Building valid GP Connect requests to the sandbox: headers, the HS256 JWT,
booking bodies, and FHIR STU3 validation of what comes back."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime
from importlib import import_module
from typing import Any

import jwt

from emis_integration import gpconnect as gpc
from emis_integration.demo_identities import HIPPO_CONSUMER_ASID
from emis_integration.sandbox.models import SandboxOrganisation, Slot

FHIR = "application/fhir+json"


def fhir_base(organisation: SandboxOrganisation | str) -> str:
    ods = organisation if isinstance(organisation, str) else organisation.ods_code
    return f"/emis-sandbox/{ods}/fhir"


def claims(
    organisation: SandboxOrganisation,
    *,
    requester_ods: str = "A10001",
    scope: str = gpc.SCOPE_ORGANISATION_READ,
    iat: int | None = None,
    lifetime: int = gpc.JWT_LIFETIME_SECONDS,
) -> dict[str, Any]:
    issued = int(time.time()) if iat is None else iat
    return {
        "iss": "https://hippo-pcn.test",
        "sub": "user-1",
        "aud": f"http://testserver{fhir_base(organisation)}",
        "iat": issued,
        "exp": issued + lifetime,
        "reason_for_request": gpc.REASON_FOR_REQUEST,
        "requested_scope": scope,
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [{"system": "https://hippo-pcn.test/device", "value": "tests"}],
            "model": "tests",
            "version": "1",
        },
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [{"system": gpc.ODS_ORGANISATION_SYSTEM, "value": requester_ods}],
            "name": f"Requester {requester_ods}",
        },
        "requesting_practitioner": {
            "resourceType": "Practitioner",
            "id": "user-1",
            "identifier": [{"system": gpc.SDS_USER_SYSTEM, "value": "UNK"}],
            "name": [{"family": "Tester", "given": ["Tess"]}],
        },
    }


def token(
    organisation: SandboxOrganisation,
    *,
    secret: str | None = None,
    payload: dict[str, Any] | None = None,
    **claim_options: Any,
) -> str:
    body = payload if payload is not None else claims(organisation, **claim_options)
    return jwt.encode(body, secret or organisation.client_secret, algorithm="HS256")


def headers(
    organisation: SandboxOrganisation,
    interaction: str,
    *,
    bearer: str | None = None,
    **claim_options: Any,
) -> dict[str, str]:
    return {
        "Ssp-TraceID": str(uuid.uuid4()),
        "Ssp-From": HIPPO_CONSUMER_ASID,
        "Ssp-To": organisation.asid,
        "Ssp-InteractionID": interaction,
        "Authorization": f"Bearer {bearer or token(organisation, **claim_options)}",
        "Accept": FHIR,
    }


def utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def registered_patient(
    organisation: SandboxOrganisation | int,
    nhs_number: str = "9434765919",
    *,
    practice_ods: str = "A10001",
) -> Any:
    """The patient's registration at `organisation` (made temporary if missing):
    what a client finds or registers before booking."""
    from emis_integration.sandbox.models import Patient, RegistrationType

    organisation_id = organisation if isinstance(organisation, int) else organisation.pk
    patient, _ = Patient.objects.get_or_create(
        organisation_id=organisation_id,
        nhs_number=nhs_number,
        defaults={
            "family": "Smith",
            "given": "Jane",
            "birth_date": date(1980, 4, 2),
            "gender": "female",
            "registration_type": RegistrationType.TEMPORARY,
            "registered_practice_ods": practice_ods,
        },
    )
    return patient


def booking_body(
    slot: Slot,
    *,
    booking_ods: str = "A10001",
    booking_name: str = "Alpha Surgery",
    nhs_number: str = "9434765919",
    patient_reference: str = "",
    practice_ods: str = "A10001",
) -> dict[str, Any]:
    """A GP Connect booking of `slot`: the patient by reference (by default their
    registration there, made if missing), the slot's Location and Practitioner."""
    if not patient_reference:
        patient = registered_patient(slot.organisation_id, nhs_number, practice_ods=practice_ods)
        patient_reference = f"Patient/{patient.pk}"
    schedule = slot.schedule
    participants = [
        {"actor": {"reference": patient_reference}, "status": "accepted"},
        {"actor": {"reference": f"Location/{schedule.site_id}"}, "status": "accepted"},
    ]
    if schedule.practitioner_id:
        participants.append(
            {
                "actor": {"reference": f"Practitioner/{schedule.practitioner_id}"},
                "status": "accepted",
            }
        )
    return {
        "resourceType": "Appointment",
        "meta": {"profile": [gpc.PROFILE_APPOINTMENT]},
        "contained": [
            {
                "resourceType": "Organization",
                "id": "booking-org",
                "identifier": [{"system": gpc.ODS_ORGANISATION_SYSTEM, "value": booking_ods}],
                "name": booking_name,
                "telecom": [{"system": "phone", "value": "01632 960001", "use": "work"}],
            },
        ],
        "extension": [
            {"url": gpc.EXT_BOOKING_ORGANISATION, "valueReference": {"reference": "#booking-org"}}
        ],
        "status": "booked",
        "start": utc(slot.start),
        "end": utc(slot.end),
        "created": utc(datetime.now(UTC)),
        "slot": [{"reference": f"Slot/{slot.pk}"}],
        "description": "Flu clinic",
        "comment": "booked by tests",
        "participant": participants,
    }


def validate(data: dict[str, Any], resource_type: str) -> Any:
    """Validate with the fhir.resources STU3 model of `resource_type`."""
    assert data["resourceType"] == resource_type, data
    module = import_module(f"fhir.resources.STU3.{resource_type.lower()}")
    return getattr(module, resource_type).model_validate(data)


def outcome_code(response: Any) -> str:
    data = response.json()
    validate(data, "OperationOutcome")
    return data["issue"][0]["details"]["coding"][0]["code"]


def dumps(body: Any) -> str:
    return json.dumps(body)


def nhs_numbers(count: int, *, start: int = 999_500_000) -> list[str]:
    """Valid (mod-11) NHS numbers from the 999 test range."""
    import nhs_number

    numbers: list[str] = []
    stem = start
    while len(numbers) < count:
        check = nhs_number.calculate_checksum(str(stem))
        if check is not None and check != 10:
            numbers.append(f"{stem}{check}")
        stem += 1
    return numbers


def booking_request(slot: Slot, nhs: str, *, booking_ods: str = "A10001"):
    """A BookingRequest for the sandbox service (bypassing HTTP)."""
    from datetime import date

    from emis_integration.sandbox.types import (
        BookingOrganisation,
        BookingRequest,
        PatientDemographics,
    )

    return BookingRequest(
        slot_id=slot.pk,
        start=slot.start,
        end=slot.end,
        booking_organisation=BookingOrganisation(ods_code=booking_ods, name="Alpha Surgery"),
        patient=PatientDemographics(
            nhs_number=nhs,
            family="Smith",
            given="Jane",
            birth_date=date(1980, 4, 2),
            gender="female",
            registered_practice_ods="A10001",
        ),
    )


# --- the Partner API -----------------------------------------------------------------
def partner_base(organisation: SandboxOrganisation | str) -> str:
    ods = organisation if isinstance(organisation, str) else organisation.ods_code
    return f"/emis-sandbox/{ods}/partner/api/v1"


def partner_headers(
    organisation: SandboxOrganisation,
    *,
    application_id: str | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """The Partner API's credentials for `organisation` (or the ones given)."""
    return {
        "applicationId": organisation.partner_application_id
        if application_id is None
        else application_id,
        "Authorization": f"Bearer {organisation.partner_token if token is None else token}",
        "Accept": "application/json",
    }


def emis_date(value: Any) -> str:
    return value.strftime("%d/%m/%Y")


def error_code(response: Any) -> str:
    """The ErrorResponse's coding code, after checking the ErrorResponse shape."""
    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = response.json()
    assert set(data) == {"messageId", "legacyOutcome", "text", "issue"}, data
    uuid.UUID(data["messageId"])
    assert data["text"]["status"] == "generated"
    assert data["text"]["div"].startswith("<div>")
    issue = data["issue"]
    assert issue["severity"] == 1
    assert issue["diagnostics"] == issue["details"]["text"]
    assert issue["details"]["coding"]["system"] == "https://emis.example/partner-api/errors"
    return issue["details"]["coding"]["code"]
