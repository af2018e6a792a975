"""The sandbox's EMIS Partner API endpoints (docs/emis-partner-api-contract.md),
under /emis-sandbox/{ODS}/partner/api/v1/. Thin: the gateway applies the fault
knobs and checks the credentials, partner_parsing turns the query into plain
values, selectors read, partner_render shapes the JSON. Every failure is an
ErrorResponse."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import gateway, partner_parsing, partner_render, selectors
from .errors import (
    AccessDenied,
    InternalServerError,
    MethodNotAllowed,
    NoRecordFound,
    OrganisationNotFound,
    SandboxError,
    UnsupportedMediaType,
)
from .models import SandboxOrganisation

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json; charset=utf-8"
ACCEPTABLE = ("application/json", "application/*", "*/*")


def json_response(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    return gateway.json_response(body, content_type=CONTENT_TYPE, status=status, headers=headers)


def error_response(error: SandboxError) -> HttpResponse:
    headers = {}
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.allowed)
    if isinstance(error, AccessDenied):
        headers["WWW-Authenticate"] = 'Bearer realm="EMIS Partner API"'
    return json_response(partner_render.error_response(error), status=error.status, headers=headers)


def _organisation(ods: str) -> SandboxOrganisation:
    organisation = selectors.organisation_by_ods(ods_code=ods)
    if organisation is None:
        raise OrganisationNotFound(f"There is no EMIS organisation {ods[:20]!r} in the sandbox.")
    return organisation


def _check_accept(request: HttpRequest) -> None:
    accept = (request.headers.get("Accept") or "").lower()
    if accept and not any(kind in accept for kind in ACCEPTABLE):
        raise UnsupportedMediaType(
            f"The sandbox answers application/json only, not {accept[:60]!r}."
        )


Handler = Callable[[HttpRequest, SandboxOrganisation], HttpResponse]


def partner_endpoint(handler: Handler) -> Callable[..., HttpResponse]:
    """Wrap a GET handler `(request, organisation)`: resolve the organisation
    (404), apply its fault knobs, allow GET only (405), check Accept (415) and
    the credentials (401), then turn any SandboxError into an ErrorResponse."""

    @csrf_exempt
    @wraps(handler)
    def view(request: HttpRequest, ods: str) -> HttpResponse:
        try:
            organisation = _organisation(ods)
            gateway.apply_faults(organisation)
            if request.method != "GET":
                raise MethodNotAllowed(
                    f"{request.method} is not supported: the Partner API calls here are GETs.",
                    allowed=["GET"],
                )
            _check_accept(request)
            gateway.authenticate_partner(request, organisation=organisation)
            return handler(request, organisation)
        except SandboxError as error:
            return error_response(error)
        except Exception:
            logger.exception(
                "EMIS sandbox: unexpected error on %s %s", request.method, request.path
            )
            return error_response(
                InternalServerError("Unexpected error in the EMIS sandbox; see its log.")
            )

    return view


@partner_endpoint
def appointment_sessions(request: HttpRequest, organisation: SandboxOrganisation) -> HttpResponse:
    window = partner_parsing.parse_session_window(request.GET)
    rows = selectors.sessions_with_counts(
        organisation=organisation, start=window.start, end=window.end, slot_type=window.slot_type
    )
    return json_response(partner_render.appointment_session_list(rows))


@partner_endpoint
def slots_for_session(request: HttpRequest, organisation: SandboxOrganisation) -> HttpResponse:
    session_id = partner_parsing.parse_session_id(request.GET)
    session = selectors.session_at(organisation=organisation, session_id=session_id)
    if session is None:
        raise NoRecordFound(
            f"There is no appointment session {session_id} at {organisation.ods_code}."
        )
    return json_response(partner_render.slot_list(selectors.session_slots(session=session)))


def _practice_names(ods_codes: set[str]) -> dict[str, str]:
    return selectors.organisation_names(ods_codes={code for code in ods_codes if code})


@partner_endpoint
def patient_demographics(request: HttpRequest, organisation: SandboxOrganisation) -> HttpResponse:
    patient_id = partner_parsing.parse_patient_number(request.GET)
    patient = selectors.patient_record_at(organisation=organisation, patient_id=patient_id)
    if patient is None:
        raise NoRecordFound(f"There is no patient {patient_id} at {organisation.ods_code}.")
    practice = patient.registered_practice_ods
    return json_response(
        partner_render.medical_record(
            patient,
            organisation=organisation,
            practice_name=_practice_names({practice}).get(practice, practice),
        )
    )


@partner_endpoint
def booked_patients(request: HttpRequest, organisation: SandboxOrganisation) -> HttpResponse:
    window = partner_parsing.parse_booked_window(request.GET)
    now = timezone.now()
    start, end = window.bounds(now)
    appointments = selectors.booked_appointments_between(
        organisation=organisation, start=start, end=end
    )
    practice_names = _practice_names(
        {a.patient_record.registered_practice_ods for a in appointments if a.patient_record}
    )
    return json_response(
        partner_render.booked_patients(
            appointments, organisation=organisation, practice_names=practice_names, now=now
        )
    )


@csrf_exempt
def not_found(request: HttpRequest, ods: str, rest: str) -> HttpResponse:
    """Anything else under an organisation's Partner API base."""
    try:
        _organisation(ods)
    except SandboxError as error:
        return error_response(error)
    return error_response(
        NoRecordFound(
            f"{request.method} /{rest[:100]} is not a Partner API call the sandbox serves."
        )
    )
