"""PartnerApiClient: the EMIS Partner API (IM1), for finding the appointments
made in an EMIS organisation. GP Connect books; it has no organisation-wide
appointment list, so the poller reads sessions and slots here.

The wire format is docs/emis-partner-api-contract.md. Every call is a GET, so
every `EmisUnavailable` (timeouts, refused connections, 429, 5xx except 501) is
retried with capped backoff; nothing else is."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from . import partner_wire as wire
from .errors import EmisAuthError, EmisRejected, EmisUnavailable, PatientNotFound
from .transport import (
    TlsConfig,
    host_of,
    http_client,
    not_supported,
    parse_retry_after,
    send,
    with_retries,
)
from .types import AppointmentSession, BookedPatient, PatientDemographics, SessionSlot

logger = logging.getLogger(__name__)

# GetAppointmentSessions refuses a window of more than 90 days (both dates inclusive).
MAX_SESSION_WINDOW_DAYS = 90
SESSIONS_PATH = "/api/v1/appointments/GetAppointmentSessions"
SLOTS_PATH = "/api/v1/appointments/GetSlotsForSessionV2"
DEMOGRAPHICS_PATH = "/api/v1/patient/GetPatientDemographics"
BOOKED_PATIENTS_PATH = "/api/v1/appointments/GetBookedPatientsV2"


@dataclass(frozen=True, slots=True)
class PartnerEndpoint:
    """Where and how to reach one EMIS organisation's Partner API. Built from an
    EmisConnection; holds the decrypted application id and token only in memory
    and never prints them."""

    base_url: str
    application_id: str = ""
    token: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    tls: TlsConfig = TlsConfig()  # the CAs to trust, hippo-pcn's own certificate

    def __repr__(self) -> str:
        return (
            f"PartnerEndpoint(base_url={self.base_url!r}, application_id=***, token=***, "
            f"connect_timeout={self.connect_timeout!r}, read_timeout={self.read_timeout!r})"
        )


def emis_date(value: date) -> str:
    """EMIS's own date format, dd/mm/yyyy."""
    return value.strftime("%d/%m/%Y")


class PartnerApiClient:
    """One client per EMIS organisation. Every request carries `applicationId` and
    the bearer token; connect and read timeouts are always set. `calls` counts
    HTTP attempts (retries included); `warnings` collects a message for every
    session, slot or booking that was skipped because it could not be read."""

    def __init__(
        self,
        endpoint: PartnerEndpoint,
        *,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        self.endpoint = endpoint
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
        self.warnings: list[str] = []
        self._lock = threading.Lock()  # the poller reads sessions from several threads
        # Slot lengths of the sessions listed so far: the default for their slots.
        self._slot_minutes: dict[int, int | None] = {}

    # --- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PartnerApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------
    def _get(self, path: str, params: list[tuple[str, str]], *, operation: str) -> httpx.Response:
        return with_retries(
            lambda: self._attempt(path, params, operation=operation),
            max_retries=self.max_retries,
            backoff=self.retry_backoff,
            label=operation,
        )

    def _attempt(
        self, path: str, params: list[tuple[str, str]], *, operation: str
    ) -> httpx.Response:
        url = f"{self.base_url}{path}"
        headers = {
            "applicationId": self.endpoint.application_id,
            "Authorization": f"Bearer {self.endpoint.token}",
            "Accept": "application/json",
        }
        started = time.perf_counter()
        with self._lock:
            self.calls += 1
        response = send(
            self._http,
            "GET",
            url,
            connect_timeout=self.endpoint.connect_timeout,
            read_timeout=self.endpoint.read_timeout,
            params=params,
            headers=headers,
        )
        logger.info(
            "EMIS Partner API %s -> %s in %.0f ms",
            operation,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        if response.status_code >= 400:
            self._raise_for(response, host_of(url), operation=operation)
        return response

    @staticmethod
    def _raise_for(response: httpx.Response, host: str, *, operation: str) -> None:
        status = response.status_code
        message, code, diagnostics = wire.error_response(response.content)

        def said(what: str) -> str:
            """`what (HTTP 400, CODE): EMIS's words.`"""
            why = f"HTTP {status}, {code}" if code else f"HTTP {status}"
            if not message:
                return f"{what} ({why})."
            return f"{what} ({why}): {message}" + ("" if message.endswith(".") else ".")

        kwargs: dict[str, Any] = {
            "status_code": status,
            "spine_code": code,
            "diagnostics": diagnostics,
        }
        if status in (401, 403):
            raise EmisAuthError(
                said(f"The EMIS Partner API at {host} refused hippo-pcn's application id or token"),
                **kwargs,
            )
        if status == 501:
            raise EmisRejected(
                said(not_supported(operation, f"the Partner API at {host}")), **kwargs
            )
        if status == 429 or status >= 500:
            raise EmisUnavailable(
                said(f"The EMIS Partner API at {host} is unavailable"),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                **kwargs,
            )
        if status == 404:
            if not message and not code:
                raise EmisRejected(
                    f"The EMIS Partner API at {host} answered 404 Not Found to {operation}: "
                    "the Partner API base URL is probably wrong.",
                    **kwargs,
                )
            if operation == "GetPatientDemographics":
                raise PatientNotFound(said("EMIS does not know this patient"), **kwargs)
        raise EmisRejected(said(f"The EMIS Partner API rejected {operation}"), **kwargs)

    def _note(self, warnings: list[str]) -> None:
        for warning in warnings:
            logger.warning("EMIS Partner API at %s: %s", host_of(self.base_url), warning)
        with self._lock:
            self.warnings.extend(warnings)

    # --- calls -------------------------------------------------------------------
    def appointment_sessions(self, *, start: date, end: date) -> list[AppointmentSession]:
        """The sessions from `start` to `end`, both dates included, in time order.
        Windows over 90 days are split into several calls."""
        if end < start:
            raise ValueError("The end of a session search must not be before its start.")
        found: dict[int, AppointmentSession] = {}
        window_start = start
        while window_start <= end:
            window_end = min(window_start + timedelta(days=MAX_SESSION_WINDOW_DAYS - 1), end)
            response = self._get(
                SESSIONS_PATH,
                [("startDate", emis_date(window_start)), ("endDate", emis_date(window_end))],
                operation="GetAppointmentSessions",
            )
            sessions, warnings = (
                ([], [])
                if response.status_code == 204
                else wire.appointment_sessions(response.content)
            )
            self._note(warnings)
            for session in sessions:
                found[session.id] = session
                self._slot_minutes[session.id] = session.slot_minutes
            window_start = window_end + timedelta(days=1)
        return sorted(found.values(), key=lambda s: (s.start, s.id))

    def slots_for_session(
        self, *, session_id: int, session_date: date, slot_minutes: int | None = None
    ) -> list[SessionSlot]:
        """A session's slots, with the patient of each booked one, in time order.
        A slot carries only a time: its date is the session's (`session_date`), and
        its length, when it does not say, is the session's (`slot_minutes`, by
        default the one listed by `appointment_sessions` on this client)."""
        response = self._get(
            SLOTS_PATH,
            [("appointmentSessionId", str(int(session_id)))],
            operation="GetSlotsForSessionV2",
        )
        if response.status_code == 204:
            return []
        slots, warnings = wire.session_slots(
            response.content,
            session_id=session_id,
            session_date=session_date,
            slot_minutes=slot_minutes or self._slot_minutes.get(session_id),
        )
        self._note(warnings)
        return slots

    def patient_demographics(self, *, patient_number: int) -> PatientDemographics:
        """A patient's registration (NHS number, name, birth date, registered
        practice) from the patient number a booked slot carries. Unknown patient:
        `PatientNotFound`."""
        response = self._get(
            DEMOGRAPHICS_PATH,
            [("patientNumber", str(int(patient_number)))],
            operation="GetPatientDemographics",
        )
        patient, warnings = wire.patient_demographics(
            response.content, patient_number=patient_number
        )
        self._note(warnings)
        return patient

    def booked_patients(self, *, minutes_before: int, minutes_within: int) -> list[BookedPatient]:
        """Appointments booked from `minutes_before` ago (0-60) to `minutes_within`
        from now (0-43,200). EMIS warns this call loads the clinical system: it is
        not for polling."""
        response = self._get(
            BOOKED_PATIENTS_PATH,
            [
                ("minutesBefore", str(int(minutes_before))),
                ("minutesWithin", str(int(minutes_within))),
            ],
            operation="GetBookedPatientsV2",
        )
        if response.status_code == 204:
            return []
        booked, warnings = wire.booked_patients(response.content)
        self._note(warnings)
        return booked


__all__ = [
    "AppointmentSession",
    "BookedPatient",
    "PartnerApiClient",
    "PartnerEndpoint",
    "PatientDemographics",
    "SessionSlot",
]
