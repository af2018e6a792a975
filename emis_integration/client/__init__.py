"""The EMIS seam: `EmisClient` is what the product uses; `GPConnectClient` speaks
GP Connect Appointment Management 1.2.x (FHIR STU3) over httpx, for booking;
`PartnerApiClient` speaks the EMIS Partner API (IM1), for finding appointments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from .booking import PatientBooking, book_patient
from .errors import (
    AppointmentOutcomeUnknown,
    EmisAuthError,
    EmisError,
    EmisRejected,
    EmisUnavailable,
    PatientAlreadyRegistered,
    PatientIdentityMismatch,
    PatientNotFound,
    RegistrationRefused,
    SlotUnavailable,
    may_have_reached_emis,
)
from .gpconnect import EmisEndpoint, GPConnectClient
from .partner import PartnerApiClient, PartnerEndpoint
from .tokens import Requester, system_requester
from .types import (
    AppointmentRecord,
    AppointmentSession,
    BookedPatient,
    BookingOrganisation,
    FreeSlot,
    PatientDemographics,
    PatientDetails,
    PatientRecord,
    SessionSlot,
    SlotLike,
    SlotRef,
)


class EmisClient(Protocol):
    def metadata(self) -> dict[str, Any]: ...

    def search_free_slots(self, start: datetime, end: datetime) -> list[FreeSlot]: ...

    def book(
        self,
        slot: SlotLike,
        patient: PatientDetails,
        booking_organisation: BookingOrganisation,
        *,
        description: str = "",
        comment: str = "",
    ) -> AppointmentRecord: ...

    def cancel(self, appointment_id: str, reason: str) -> AppointmentRecord: ...

    def get_appointment(self, appointment_id: str) -> AppointmentRecord: ...

    def patient_appointments(
        self, patient_id: str, *, start: datetime, end: datetime
    ) -> list[AppointmentRecord]: ...

    def find_patient(self, nhs_number: str) -> PatientRecord | None: ...

    def register_patient(self, patient: PatientDetails) -> PatientRecord: ...

    def close(self) -> None: ...


__all__ = [
    "AppointmentRecord",
    "AppointmentSession",
    "BookedPatient",
    "BookingOrganisation",
    "EmisAuthError",
    "EmisClient",
    "EmisEndpoint",
    "EmisError",
    "EmisRejected",
    "EmisUnavailable",
    "AppointmentOutcomeUnknown",
    "may_have_reached_emis",
    "FreeSlot",
    "GPConnectClient",
    "PartnerApiClient",
    "PartnerEndpoint",
    "PatientAlreadyRegistered",
    "PatientBooking",
    "PatientDemographics",
    "PatientDetails",
    "PatientNotFound",
    "PatientRecord",
    "PatientIdentityMismatch",
    "RegistrationRefused",
    "Requester",
    "SessionSlot",
    "SlotLike",
    "SlotRef",
    "SlotUnavailable",
    "book_patient",
    "system_requester",
]
