"""GPConnectClient: GP Connect Appointment Management 1.2.x over httpx."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from emis_integration import gpconnect as gpc

from . import parsing, tokens
from .errors import (
    EmisAuthError,
    EmisError,
    EmisRejected,
    EmisUnavailable,
    PatientAlreadyRegistered,
    PatientNotFound,
    SlotUnavailable,
)
from .transport import (
    TlsConfig,
    host_of,
    http_client,
    not_supported,
    parse_retry_after,
    send,
    with_retries,
)
from .types import (
    AppointmentRecord,
    BookingOrganisation,
    FreeSlot,
    PatientDetails,
    PatientRecord,
    SlotLike,
)

logger = logging.getLogger(__name__)

MAX_SLOT_WINDOW = timedelta(days=14)
UK = ZoneInfo(gpc.UK_TIME_ZONE)
# POST/PUT change things: retry them only when the request surely was not processed.
SAFE_TO_RETRY_WRITE_STATUSES = {429, 503}


@dataclass(frozen=True, slots=True)
class EmisEndpoint:
    """Where and how to reach one EMIS organisation. Built from an EmisConnection;
    holds the decrypted secret only in memory and never prints it."""

    base_url: str
    provider_ods: str
    asid_from: str
    asid_to: str
    client_secret: str = ""
    # GP Connect over Spine sends the JWT unsigned (mutual TLS authenticates);
    # True signs it with HS256 using the client secret.
    sign_jwt: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    tls: TlsConfig = TlsConfig()  # the CAs to trust, hippo-pcn's own certificate

    def __repr__(self) -> str:
        return (
            f"EmisEndpoint(base_url={self.base_url!r}, provider_ods={self.provider_ods!r}, "
            f"asid_from={self.asid_from!r}, asid_to={self.asid_to!r}, client_secret=***, "
            f"sign_jwt={self.sign_jwt!r})"
        )


def _local_instant(value: datetime) -> str:
    """UK local time with its offset (2026-12-01T09:00:00+00:00 in GMT,
    2026-07-01T09:00:00+01:00 in BST), as GP Connect wants every date-time hippo-pcn
    sends: the slot search's window, a booking's start and end."""
    if value.tzinfo is None:
        raise ValueError("EMIS date-times must be time-zone aware")
    return value.astimezone(UK).isoformat(timespec="seconds")


class GPConnectClient:
    """One client per (EMIS organisation, requester). Every request carries the
    Ssp-* headers and a fresh JWT; connect and read timeouts are always set;
    EmisUnavailable is retried with exponential backoff up to `max_retries`."""

    def __init__(
        self,
        endpoint: EmisEndpoint,
        *,
        requester: tokens.Requester,
        consumer_url: str = "https://hippo-pcn.nhs.uk",
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        self.endpoint = endpoint
        self.requester = requester
        self.consumer_url = consumer_url
        self.max_retries = max(0, max_retries)
        self.retry_backoff = max(0.0, retry_backoff)
        self.base_url = endpoint.base_url.rstrip("/")
        self._http = http_client(
            connect_timeout=endpoint.connect_timeout,
            read_timeout=endpoint.read_timeout,
            transport=transport,
            tls=endpoint.tls,
        )
        self.calls = 0  # HTTP attempts made, retries included

    # --- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GPConnectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------
    def _headers(self, interaction: str, scope: str) -> dict[str, str]:
        claims = tokens.build_claims(
            requester=self.requester,
            audience=self.base_url,
            issuer=self.consumer_url,
            scope=scope,
        )
        if self.endpoint.sign_jwt and not self.endpoint.client_secret:
            raise EmisAuthError(
                "This EMIS connection signs its JWT but has no client secret stored: "
                "store one, or stop signing (GP Connect over Spine sends it unsigned)."
            )
        bearer = tokens.encode(
            claims, secret=self.endpoint.client_secret, sign=self.endpoint.sign_jwt
        )
        return {
            "Ssp-TraceID": str(uuid.uuid4()),
            "Ssp-From": self.endpoint.asid_from,
            "Ssp-To": self.endpoint.asid_to,
            "Ssp-InteractionID": interaction,
            "Authorization": f"Bearer {bearer}",
            "Accept": gpc.FHIR_JSON,
        }

    def _request(
        self,
        method: str,
        url: str,
        *,
        interaction: str,
        scope: str,
        params: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        is_write = method in {"POST", "PUT"}

        def retryable(exc: EmisUnavailable) -> bool:
            return (
                not is_write
                or exc.status_code in SAFE_TO_RETRY_WRITE_STATUSES
                or (exc.status_code is None and exc.spine_code == "CONNECT")
            )

        return with_retries(
            lambda: self._attempt(
                method,
                url,
                interaction=interaction,
                scope=scope,
                params=params,
                body=body,
                extra_headers=extra_headers,
            ),
            max_retries=self.max_retries,
            backoff=self.retry_backoff,
            label=interaction.rsplit(":", 1)[-1],
            retryable=retryable,
        )

    def _attempt(
        self,
        method: str,
        url: str,
        *,
        interaction: str,
        scope: str,
        params: Any,
        body: dict[str, Any] | None,
        extra_headers: dict[str, str] | None,
    ) -> httpx.Response:
        headers = self._headers(interaction, scope)
        if body is not None:
            headers["Content-Type"] = f"{gpc.FHIR_JSON}; charset=utf-8"
        if extra_headers:
            headers.update(extra_headers)
        host = host_of(url)
        started = time.perf_counter()
        self.calls += 1
        response = send(
            self._http,
            method,
            url,
            connect_timeout=self.endpoint.connect_timeout,
            read_timeout=self.endpoint.read_timeout,
            params=params,
            content=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "EMIS %s %s -> %s in %.0f ms (trace %s)",
            method,
            interaction.rsplit(":", 1)[-1],
            response.status_code,
            elapsed_ms,
            headers["Ssp-TraceID"],
        )
        if response.status_code >= 400:
            self._raise_for(response, host, interaction=interaction)
        return response

    @staticmethod
    def _raise_for(response: httpx.Response, host: str, *, interaction: str = "") -> None:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        code, diagnostics = parsing.operation_outcome(payload)
        detail = (
            f" ({code}: {diagnostics})" if code and diagnostics else (f" ({code})" if code else "")
        )
        if status not in (401, 403) and (
            status == 501
            or code == gpc.ERR_NOT_IMPLEMENTED
            or "not supported" in (diagnostics or "").lower()
        ):
            # A call this provider does not offer: a fact, not an outage; never retried.
            call = ":".join(interaction.split(":")[-2:]) if interaction else "unknown"
            raise EmisRejected(
                f"{not_supported(call, host)} (HTTP {status}){detail}.",
                status_code=status,
                spine_code=code,
                diagnostics=diagnostics,
            )
        if status == 429 or status >= 500:
            raise EmisUnavailable(
                f"EMIS at {host} is unavailable (HTTP {status}){detail}.",
                status_code=status,
                spine_code=code,
                diagnostics=response.headers.get("Retry-After", "")
                if status == 429
                else diagnostics,
                retry_after=parse_retry_after(response.headers.get("Retry-After"))
                if status == 429
                else None,
            )
        if status in (401, 403):
            raise EmisAuthError(
                f"EMIS refused our credentials (HTTP {status}){detail}. Check the client "
                "secret and the ASIDs.",
                status_code=status,
                spine_code=code,
                diagnostics=diagnostics,
            )
        if status == 409 and code == gpc.ERR_DUPLICATE_REJECTED:
            raise SlotUnavailable(
                "That slot has just been taken in EMIS.",
                status_code=status,
                spine_code=code,
                diagnostics=diagnostics,
            )
        if code in (gpc.ERR_PATIENT_NOT_FOUND, "INVALID_PATIENT_DEMOGRAPHICS"):
            raise PatientNotFound(
                f"EMIS does not know this patient{detail}.",
                status_code=status,
                spine_code=code,
                diagnostics=diagnostics,
            )
        if status == 404 and not code:
            raise EmisRejected(
                f"EMIS at {host} answered 404 Not Found: the base URL is probably wrong.",
                status_code=status,
            )
        raise EmisRejected(
            f"EMIS rejected the request (HTTP {status}){detail}.",
            status_code=status,
            spine_code=code,
            diagnostics=diagnostics,
        )

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise EmisRejected(
                "EMIS answered with something that is not valid FHIR JSON.",
                status_code=response.status_code,
            ) from exc

    # --- calls -------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        response = self._request(
            "GET",
            f"{self.base_url}/metadata",
            interaction=gpc.INTERACTION_METADATA,
            scope=gpc.SCOPE_ORGANISATION_READ,
        )
        return parsing.validate_resource(self._json(response), "CapabilityStatement")

    def search_free_slots(self, start: datetime, end: datetime) -> list[FreeSlot]:
        """Free slots the requesting organisation may book, start <= slot.start and
        slot.end <= end, in time order. Windows over 14 days are split."""
        if end <= start:
            raise ValueError("The end of a slot search must be after its start.")
        found: dict[str, FreeSlot] = {}
        window_start = start
        while window_start < end:
            window_end = min(window_start + MAX_SLOT_WINDOW, end)
            for slot in self._search_window(window_start, window_end):
                if start <= slot.start and slot.end <= end:
                    found[slot.slot_id] = slot
            window_start = window_end
        return sorted(found.values(), key=lambda s: (s.start, s.slot_id))

    def _search_window(self, start: datetime, end: datetime) -> list[FreeSlot]:
        params = [
            ("start", f"ge{_local_instant(start)}"),
            ("end", f"le{_local_instant(end)}"),
            ("status", "free"),
            ("_include", "Slot:schedule"),
            ("_include:recurse", "Schedule:actor:Practitioner"),
            ("_include:recurse", "Schedule:actor:Location"),
            ("_include:recurse", "Location:managingOrganization"),
            ("searchFilter", f"{gpc.SEARCH_FILTER_ODS}|{self.requester.organisation_ods}"),
            (
                "searchFilter",
                f"{gpc.SEARCH_FILTER_ORG_TYPE}|{self.requester.organisation_type}",
            ),
        ]
        response = self._request(
            "GET",
            f"{self.base_url}/Slot",
            params=params,
            interaction=gpc.INTERACTION_SEARCH_SLOTS,
            scope=gpc.SCOPE_ORGANISATION_READ,
        )
        bundle = parsing.validate_resource(self._json(response), "Bundle")
        return parsing.free_slots_from_bundle(bundle)

    def book(
        self,
        slot: SlotLike,
        patient: PatientDetails,
        booking_organisation: BookingOrganisation,
        *,
        description: str = "",
        comment: str = "",
    ) -> AppointmentRecord:
        body = build_appointment(
            slot=slot,
            patient=patient,
            booking_organisation=booking_organisation,
            description=description,
            comment=comment,
        )
        response = self._request(
            "POST",
            f"{self.base_url}/Appointment",
            body=body,
            interaction=gpc.INTERACTION_BOOK,
            scope=gpc.SCOPE_PATIENT_WRITE,
        )
        if response.status_code != 201:
            raise EmisRejected(
                f"EMIS answered HTTP {response.status_code} to a booking instead of 201 Created."
            )
        return parsing.appointment_from_dict(
            parsing.validate_resource(self._json(response), "Appointment")
        )

    def _read(self, appointment_id: str) -> tuple[dict[str, Any], str]:
        response = self._request(
            "GET",
            f"{self.base_url}/Appointment/{_safe_id(appointment_id)}",
            interaction=gpc.INTERACTION_READ_APPOINTMENT,
            scope=gpc.SCOPE_PATIENT_READ,
        )
        resource = parsing.validate_resource(self._json(response), "Appointment")
        version = response.headers.get("ETag") or ""
        if not version:
            meta = resource.get("meta") or {}
            version = f'W/"{meta.get("versionId", "")}"'
        return resource, version

    def get_appointment(self, appointment_id: str) -> AppointmentRecord:
        resource, _ = self._read(appointment_id)
        return parsing.appointment_from_dict(resource)

    def patient_appointments(
        self, patient_id: str, *, start: datetime, end: datetime
    ) -> list[AppointmentRecord]:
        """GP Connect's Retrieve a patient's appointments: the patient's (provider
        id) appointments, booked and cancelled, starting in [start, end]. An unknown
        patient raises PatientNotFound (404 PATIENT_NOT_FOUND)."""
        if end < start:
            raise ValueError("The end of an appointment search must not be before its start.")
        response = self._request(
            "GET",
            f"{self.base_url}/Patient/{_safe_id(patient_id)}/Appointment",
            params=[("start", f"ge{_local_instant(start)}"), ("start", f"le{_local_instant(end)}")],
            interaction=gpc.INTERACTION_PATIENT_APPOINTMENTS,
            scope=gpc.SCOPE_PATIENT_READ,
        )
        bundle = parsing.validate_resource(self._json(response), "Bundle")
        return [
            parsing.appointment_from_dict(parsing.validate_resource(r, "Appointment"))
            for r in parsing.bundle_resources(bundle)
            if r.get("resourceType") == "Appointment"
        ]

    def cancel(self, appointment_id: str, reason: str) -> AppointmentRecord:
        """Read, then PUT with If-Match; GP Connect has no DELETE."""
        if not reason.strip():
            raise ValueError("A cancellation needs a reason.")
        resource, etag = self._read(appointment_id)
        resource["status"] = "cancelled"
        extensions = [
            e
            for e in resource.get("extension") or []
            if e.get("url") != gpc.EXT_CANCELLATION_REASON
        ]
        extensions.append({"url": gpc.EXT_CANCELLATION_REASON, "valueString": reason.strip()})
        resource["extension"] = extensions
        response = self._request(
            "PUT",
            f"{self.base_url}/Appointment/{_safe_id(appointment_id)}",
            body=resource,
            extra_headers={"If-Match": etag},
            interaction=gpc.INTERACTION_CANCEL,
            scope=gpc.SCOPE_PATIENT_WRITE,
        )
        return parsing.appointment_from_dict(
            parsing.validate_resource(self._json(response), "Appointment")
        )

    def find_patient(self, nhs_number: str) -> PatientRecord | None:
        response = self._request(
            "GET",
            f"{self.base_url}/Patient",
            params=[("identifier", f"{gpc.NHS_NUMBER_SYSTEM}|{nhs_number}")],
            interaction=gpc.INTERACTION_SEARCH_PATIENT,
            scope=gpc.SCOPE_PATIENT_READ,
        )
        bundle = parsing.validate_resource(self._json(response), "Bundle")
        patients = [r for r in parsing.bundle_resources(bundle) if r["resourceType"] == "Patient"]
        if not patients:
            return None
        return parsing.patient_from_dict(patients[0])

    def register_patient(self, patient: PatientDetails) -> PatientRecord:
        """GP Connect $gpc.registerpatient: always a TEMPORARY registration, never
        a regular one (which could deduct the patient from their home practice)."""
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "registerPatient", "resource": build_registration_patient(patient)}
            ],
        }
        try:
            response = self._request(
                "POST",
                f"{self.base_url}/Patient/$gpc.registerpatient",
                body=body,
                interaction=gpc.INTERACTION_REGISTER_PATIENT,
                scope=gpc.SCOPE_PATIENT_WRITE,
            )
        except EmisRejected as exc:
            if exc.status_code == 409 and exc.spine_code == gpc.ERR_DUPLICATE_REJECTED:
                raise PatientAlreadyRegistered(
                    "The patient is already registered at this EMIS organisation.",
                    status_code=409,
                    spine_code=exc.spine_code,
                    diagnostics=exc.diagnostics,
                ) from exc
            raise
        except SlotUnavailable as exc:  # 409 DUPLICATE_REJECTED is mapped to slots first
            raise PatientAlreadyRegistered(
                "The patient is already registered at this EMIS organisation.",
                status_code=409,
                spine_code=exc.spine_code,
                diagnostics=exc.diagnostics,
            ) from exc
        bundle = parsing.validate_resource(self._json(response), "Bundle")
        patients = [r for r in parsing.bundle_resources(bundle) if r["resourceType"] == "Patient"]
        if not patients:
            raise EmisRejected("EMIS registered the patient but returned no Patient resource.")
        return parsing.patient_from_dict(patients[0])


def _safe_id(value: str) -> str:
    if not value or not all(c.isalnum() or c in "-." for c in value) or len(value) > 64:
        raise EmisRejected("That is not a valid EMIS appointment id.")
    return value


def build_registration_patient(patient: PatientDetails) -> dict[str, Any]:
    """The Patient for $gpc.registerpatient: only what the operation accepts (the
    NHS number, name, gender, birth date; telecom and address are optional and
    hippo-pcn holds neither). No generalPractitioner: the provider records the
    registration itself."""
    return {
        "resourceType": "Patient",
        "meta": {"profile": [gpc.PROFILE_PATIENT]},
        "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": patient.nhs_number}],
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "gender": patient.gender or "unknown",
        "birthDate": patient.birth_date.isoformat(),
    }


def build_appointment(
    *,
    slot: SlotLike,
    patient: PatientDetails,
    booking_organisation: BookingOrganisation,
    description: str = "",
    comment: str = "",
) -> dict[str, Any]:
    """The Book an appointment body (GP Connect 1.2.x): the patient by their id at
    this provider (`Patient/{id}`, from find or register: nothing is contained for
    them), the slot's Location and, when it has one, Practitioner as participants,
    and the booking organisation contained with its name and work phone. No
    organisation `type`: GP Connect allows it only when the slot search sent an
    organisation-type filter, and it adds nothing here."""
    if not patient.provider_patient_id:
        raise ValueError("A booking needs the patient's id at the provider (find or register).")
    if not slot.location_id:
        raise ValueError("A booking needs the slot's Location id (from the slot search).")
    if not booking_organisation.phone:
        raise ValueError("A booking organisation needs a phone number.")
    organisation: dict[str, Any] = {
        "resourceType": "Organization",
        "id": "booking-org",
        "meta": {"profile": [gpc.PROFILE_ORGANIZATION]},
        "identifier": [
            {"system": gpc.ODS_ORGANISATION_SYSTEM, "value": booking_organisation.ods_code}
        ],
        "name": booking_organisation.name,
        "telecom": [{"system": "phone", "value": booking_organisation.phone, "use": "work"}],
    }
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": f"Patient/{patient.provider_patient_id}"}, "status": "accepted"},
        {"actor": {"reference": f"Location/{slot.location_id}"}, "status": "accepted"},
    ]
    if slot.practitioner_id:
        participants.append(
            {"actor": {"reference": f"Practitioner/{slot.practitioner_id}"}, "status": "accepted"}
        )
    body: dict[str, Any] = {
        "resourceType": "Appointment",
        "meta": {"profile": [gpc.PROFILE_APPOINTMENT]},
        "contained": [organisation],
        "extension": [
            {"url": gpc.EXT_BOOKING_ORGANISATION, "valueReference": {"reference": "#booking-org"}}
        ],
        "status": "booked",
        "start": _local_instant(slot.start),
        "end": _local_instant(slot.end),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "slot": [{"reference": f"Slot/{slot.slot_id}"}],
        "description": (description or "Appointment booked by hippo-pcn")[:100],
        "participant": participants,
    }
    if comment:
        body["comment"] = comment[:500]
    return body


__all__ = [
    "EmisEndpoint",
    "EmisError",
    "GPConnectClient",
    "build_appointment",
    "build_registration_patient",
]
