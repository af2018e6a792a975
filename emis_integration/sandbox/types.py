"""Plain values passed from the HTTP layer (parsed FHIR) to the sandbox's
services and selectors, so those never see JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
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
    """A booking. Through GP Connect the patient is always `patient_id` (their
    record here, `Patient/{id}`) and `location_id` the slot's Location; EMIS staff
    booking directly (the simulation) may give demographics instead, and get an
    appointment-only record when the patient has none here."""

    slot_id: int
    start: datetime
    end: datetime
    booking_organisation: BookingOrganisation
    patient: PatientDemographics | None = None
    patient_id: int | None = None  # the patient's record here, when referenced as Patient/{id}
    location_id: int | None = None
    practitioner_id: int | None = None
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


# --- the Partner API ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionWindow:
    """GetAppointmentSessions: sessions dated `start` to `end` (inclusive), of
    one slot type (its typeID) or of all when `slot_type` is empty."""

    start: date
    end: date
    slot_type: str


@dataclass(frozen=True, slots=True)
class BookedWindow:
    """GetBookedPatientsV2: appointments starting from `minutes_before` before
    now to `minutes_within` after it."""

    minutes_before: int
    minutes_within: int

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        return (
            now - timedelta(minutes=self.minutes_before),
            now + timedelta(minutes=self.minutes_within),
        )


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session with its slot counts, as GetAppointmentSessions lists it."""

    pk: int
    name: str
    date: date
    start_time: time
    end_time: time
    slot_minutes: int
    schedule_id: int
    service_type: str
    site_id: int
    site_name: str
    holder_id: int | None
    holder_prefix: str | None
    holder_given: str | None
    holder_family: str | None
    total: int
    booked: int
    available: int

    COLUMNS = (
        "pk",
        "name",
        "date",
        "start_time",
        "end_time",
        "slot_minutes",
        "schedule_id",
        "schedule__service_type",
        "site_id",
        "site__name",
        "holder_id",
        "holder__prefix",
        "holder__given",
        "holder__family",
    )


@dataclass(frozen=True, slots=True)
class SessionSlotRow:
    """A slot of a session with the patient record of its booked appointment."""

    pk: int
    start: datetime
    end: datetime
    schedule_id: int
    service_type: str
    appointment_id: int | None
    patient_record_id: int | None
    patient_family: str | None
    patient_given: str | None
    patient_snapshot: dict[str, Any] | None

    COLUMNS = (
        "pk",
        "start",
        "end",
        "schedule_id",
        "schedule__service_type",
        "booked_appointment__id",
        "booked_appointment__patient_record_id",
        "booked_appointment__patient_record__family",
        "booked_appointment__patient_record__given",
        "booked_appointment__patient_snapshot",
    )

    @property
    def is_booked(self) -> bool:
        return self.appointment_id is not None
