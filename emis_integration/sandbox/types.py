"""Plain values passed from the HTTP layer (parsed FHIR) to the sandbox's
services and selectors, so those never see JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Requester:
    """Who is asking, from the JWT's requesting_organization."""

    ods_code: str
    name: str
    scope: str


@dataclass(frozen=True, slots=True)
class SlotWindow:
    """A slot search: slots with start >= `start` and end <= `end`."""

    start: datetime
    end: datetime
    org_type_filter: str
    include_practitioners: bool
    include_locations: bool
    include_organisations: bool


@dataclass(frozen=True, slots=True)
class BookingOrganisation:
    ods_code: str
    name: str
    phone: str = ""
    org_type: str = ""


@dataclass(frozen=True, slots=True)
class PatientDemographics:
    nhs_number: str
    family: str
    given: str
    birth_date: date
    gender: str
    registered_practice_ods: str = ""
    registered_practice_name: str = ""


@dataclass(frozen=True, slots=True)
class BookingRequest:
    slot_id: int
    start: datetime
    end: datetime
    booking_organisation: BookingOrganisation
    patient: PatientDemographics
    patient_id: int | None = None  # the patient's record here, when referenced as Patient/{id}
    description: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class CancellationRequest:
    """A cancel PUT: the appointment as the client read it, with a reason. Every
    field but the reason must equal the stored appointment."""

    appointment_id: int
    reason: str
    start: datetime | None
    end: datetime | None
    slot_references: tuple[str, ...]
    participant_references: frozenset[str]
    booking_org_ods: str
    patient_nhs_number: str
    description: str
    comment: str


@dataclass(frozen=True, slots=True)
class AppointmentCursor:
    """Keyset position in the (last_updated, id) ordering."""

    last_updated: datetime
    appointment_id: int


@dataclass(frozen=True, slots=True)
class AppointmentRow:
    """An appointment as a listing page reads it: plain column values (no model
    instance, no slot or schedule rows), with the same attributes the FHIR
    renderer reads from an Appointment."""

    pk: int
    status: str
    version: int
    last_updated: datetime
    created: datetime
    start: datetime
    end: datetime
    booking_org_ods: str
    booking_org_name: str
    booking_org_phone: str
    booking_org_type: str
    patient_nhs_number: str
    patient_snapshot: dict[str, Any]
    patient_id: int | None
    description: str
    comment: str
    cancellation_reason: str
    location_display: str
    practitioner_display: str
    slot_id: int
    site_id: int
    practitioner_id: int | None

    # The column names, in order, that build a row (see selectors).
    COLUMNS = (
        "pk",
        "status",
        "version",
        "last_updated",
        "created",
        "start",
        "end",
        "booking_org_ods",
        "booking_org_name",
        "booking_org_phone",
        "booking_org_type",
        "patient_nhs_number",
        "patient_snapshot",
        "patient_id",
        "description",
        "comment",
        "cancellation_reason",
        "location_display",
        "practitioner_display",
        "slot_id",
        "slot__schedule__site_id",
        "slot__schedule__practitioner_id",
    )

    @property
    def patient_reference(self) -> str:
        return f"Patient/{self.patient_id}" if self.patient_id else "#patient"

    @property
    def location_reference(self) -> str:
        return f"Location/{self.site_id}"

    @property
    def practitioner_reference(self) -> str:
        return f"Practitioner/{self.practitioner_id}" if self.practitioner_id else ""
