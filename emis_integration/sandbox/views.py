"""The sandbox's GP Connect endpoints. Thin: the gateway checks the request,
parsing turns it into plain values, services and selectors do the work, fhir
renders the answer. Every failure is an OperationOutcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from emis_integration import gpconnect as gpc

from . import fhir, gateway, parsing, selectors, services
from .errors import (
    BadRequest,
    GatewayTimeout,
    InternalServerError,
    MethodNotAllowed,
    NoRecordFound,
    NotImplementedAtServer,
    OrganisationNotFound,
    PatientNotFound,
    SandboxError,
)
from .models import MAX_TIMEOUT_SECONDS, CommitThenFailMode, SandboxOrganisation
from .types import Requester

logger = logging.getLogger(__name__)

CONTENT_TYPE = f"{gpc.FHIR_JSON}; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request to one sandbox organisation."""

    request: HttpRequest
    organisation: SandboxOrganisation
    requester: Requester

    @property
    def base_url(self) -> str:
        metadata = reverse("emis_sandbox:metadata", args=[self.organisation.ods_code])
        return self.request.build_absolute_uri(metadata).removesuffix("/metadata")

    @property
    def self_url(self) -> str:
        return self.request.build_absolute_uri()


def fhir_response(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    return gateway.json_response(body, content_type=CONTENT_TYPE, status=status, headers=headers)


def error_response(error: SandboxError) -> HttpResponse:
    headers = {}
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.allowed)
    return fhir_response(fhir.operation_outcome(error), status=error.status, headers=headers)


Handler = Callable[..., HttpResponse]


def fhir_endpoint(interactions: dict[str, str]) -> Callable[[Handler], Handler]:
    """Wrap a handler `(call, **kwargs)`: resolve the organisation (404), apply its
    fault knobs, check the method, the Ssp-* headers for `interactions[method]`
    and the JWT, then turn any SandboxError into an OperationOutcome."""

    def decorator(handler: Handler) -> Handler:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest, ods: str, **kwargs: Any) -> HttpResponse:
            try:
                organisation = selectors.organisation_by_ods(ods_code=ods)
                if organisation is None:
                    raise OrganisationNotFound(
                        f"There is no EMIS organisation {ods[:20]!r} in the sandbox."
                    )
                gateway.apply_faults(organisation)
                interaction = interactions.get(request.method or "")
                if interaction is None:
                    raise MethodNotAllowed(
                        f"{request.method} is not supported here.", allowed=sorted(interactions)
                    )
                requester = gateway.authenticate(
                    request, organisation=organisation, interaction=interaction
                )
                return handler(Call(request, organisation, requester), **kwargs)
            except SandboxError as error:
                return error_response(error)
            except RequestDataTooBig:
                return error_response(BadRequest("The request body is too large."))
            except Exception:
                logger.exception(
                    "EMIS sandbox: unexpected error on %s %s", request.method, request.path
                )
                return error_response(
                    InternalServerError("Unexpected error in the EMIS sandbox; see its log.")
                )

        return view

    return decorator


@fhir_endpoint({"GET": gpc.INTERACTION_METADATA})
def metadata(call: Call) -> HttpResponse:
    return fhir_response(
        fhir.capability_statement(organisation=call.organisation, base_url=call.base_url)
    )


@fhir_endpoint({"GET": gpc.INTERACTION_SEARCH_SLOTS})
def slots(call: Call) -> HttpResponse:
    window = parsing.parse_slot_search(call.request.GET)
    # As a provider does: the requester's type is what the request's
    # organisation-type searchFilter says, never looked up.
    found = selectors.free_slots_for_requester(
        organisation=call.organisation,
        requester_ods=call.requester.ods_code,
        requester_type=window.org_type_filter,
        start=window.start,
        end=window.end,
    )
    return fhir_response(
        fhir.slot_bundle(
            found,
            window=window,
            organisation=call.organisation,
            base_url=call.base_url,
            self_url=call.self_url,
        )
    )


@fhir_endpoint({"POST": gpc.INTERACTION_BOOK})
def appointments(call: Call) -> HttpResponse:
    """Book. GP Connect has no appointment search here: a GET is refused (405),
    as a provider refuses it."""
    return _book(call)


def _book(call: Call) -> HttpResponse:
    booking = parsing.parse_booking(call.request)
    appointment = services.appointment_book(organisation=call.organisation, booking=booking)
    if call.organisation.commit_then_fail:
        if call.organisation.commit_then_fail_mode == CommitThenFailMode.TIMEOUT:
            # The appointment is committed (appointment_book's own transaction):
            # the answer comes too late for the client, which has given up.
            time.sleep(float(min(max(call.organisation.timeout_seconds, 1), MAX_TIMEOUT_SECONDS)))
            return fhir_response(
                fhir.appointment_resource(appointment),
                status=201,
                headers={"ETag": f'W/"{appointment.version}"'},
            )
        raise GatewayTimeout(
            f"Simulated gateway timeout: {call.organisation.ods_code} booked Appointment/"
            f"{appointment.pk} but the answer was lost (the sandbox's commit_then_fail "
            "fault knob)."
        )
    return fhir_response(
        fhir.appointment_resource(appointment),
        status=201,
        headers={
            "ETag": f'W/"{appointment.version}"',
            "Location": f"{call.base_url}/Appointment/{appointment.pk}",
        },
    )


def _appointment_id(value: str, organisation: SandboxOrganisation) -> int:
    if not value.isdigit() or len(value) > 18:
        raise NoRecordFound(f"Appointment/{value[:40]} does not exist at {organisation.ods_code}.")
    return int(value)


@fhir_endpoint({"GET": gpc.INTERACTION_READ_APPOINTMENT, "PUT": gpc.INTERACTION_CANCEL})
def appointment(call: Call, appointment_id: str) -> HttpResponse:
    pk = _appointment_id(appointment_id, call.organisation)
    if call.request.method == "PUT":
        expected_version = parsing.parse_if_match(call.request)
        cancellation = parsing.parse_cancellation(call.request, appointment_id=pk)
        services.appointment_cancel(
            organisation=call.organisation,
            cancellation=cancellation,
            expected_version=expected_version,
        )
    found = selectors.appointment_for_read(organisation=call.organisation, appointment_id=pk)
    if found is None:
        raise NoRecordFound(f"Appointment/{pk} does not exist at {call.organisation.ods_code}.")
    return fhir_response(fhir.appointment_resource(found), headers={"ETag": f'W/"{found.version}"'})


def _practice_names(ods_codes: set[str]) -> dict[str, str]:
    return selectors.organisation_names(ods_codes={code for code in ods_codes if code})


@fhir_endpoint({"GET": gpc.INTERACTION_SEARCH_PATIENT})
def patients(call: Call) -> HttpResponse:
    nhs_number = parsing.parse_nhs_identifier(call.request.GET)
    patient = selectors.patient_by_nhs_number(organisation=call.organisation, nhs_number=nhs_number)
    found = [patient] if patient is not None else []
    return fhir_response(
        fhir.patient_bundle(
            found,
            practice_names=_practice_names({p.registered_practice_ods for p in found}),
            base_url=call.base_url,
            self_url=call.self_url,
        )
    )


@fhir_endpoint({"GET": gpc.INTERACTION_PATIENT_APPOINTMENTS})
def patient_appointments(call: Call, patient_id: str) -> HttpResponse:
    """Retrieve a patient's appointments, booked and cancelled. An unknown
    logical id is 404 PATIENT_NOT_FOUND, as GP Connect specifies."""
    start, end = parsing.parse_patient_appointment_search(call.request.GET)
    patient = (
        selectors.patient_record_at(organisation=call.organisation, patient_id=int(patient_id))
        if patient_id.isdigit() and len(patient_id) <= 18
        else None
    )
    if patient is None:
        raise PatientNotFound(
            f"Patient/{patient_id[:40]} does not exist at {call.organisation.ods_code}."
        )
    found = selectors.patient_appointments(patient=patient, start=start, end=end)
    return fhir_response(
        fhir.appointment_bundle(found, base_url=call.base_url, self_url=call.self_url)
    )


@fhir_endpoint({"POST": gpc.INTERACTION_REGISTER_PATIENT})
def register_patient(call: Call) -> HttpResponse:
    demographics = parsing.parse_registration(call.request)
    patient = services.patient_register(organisation=call.organisation, demographics=demographics)
    return fhir_response(
        fhir.patient_bundle(
            [patient],
            practice_names=_practice_names({patient.registered_practice_ods}),
            base_url=call.base_url,
            self_url=call.self_url,
        )
    )


@csrf_exempt
def not_implemented(request: HttpRequest, ods: str, rest: str) -> HttpResponse:
    """Anything else under an organisation's FHIR base."""
    if selectors.organisation_by_ods(ods_code=ods) is None:
        return error_response(
            OrganisationNotFound(f"There is no EMIS organisation {ods[:20]!r} in the sandbox.")
        )
    return error_response(
        NotImplementedAtServer(f"{request.method} /{rest[:100]} is not implemented by the sandbox.")
    )
