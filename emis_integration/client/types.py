"""Typed records the client returns and takes. Plain frozen dataclasses: the
rest of the product never handles raw FHIR."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


class SlotLike(Protocol):
    @property
    def slot_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def location_id(self) -> str: ...
    @property
    def practitioner_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SlotRef:
    """A slot to book: its id, times, and the ids of its Location and (when the
    schedule has one) Practitioner at the provider, which the booking names."""

    slot_id: str
    start: datetime
    end: datetime
    location_id: str = ""
    practitioner_id: str = ""


@dataclass(frozen=True, slots=True)
class FreeSlot:
    slot_id: str
    start: datetime
    end: datetime
    site_name: str = ""
    site_address: str = ""
    practitioner: str = ""
    service_type: str = ""
    delivery_channel: str = ""
    schedule_id: str = ""
    location_id: str = ""
    organisation_ods: str = ""
    practitioner_id: str = ""


@dataclass(frozen=True, slots=True)
class PatientDetails:
    """A patient as hippo-pcn knows them, to book or register at an EMIS."""

    nhs_number: str
    family_name: str
    given_name: str
    birth_date: date
    gender: str = "unknown"
    registered_practice_ods: str = ""
    registered_practice_name: str = ""
    # The patient's logical id at this EMIS, when known (from find_patient).
    provider_patient_id: str = ""


@dataclass(frozen=True, slots=True)
class BookingOrganisation:
    ods_code: str
    name: str
    phone: str = ""
    org_type: str = "gp-practice"


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A patient as an EMIS holds them."""

    patient_id: str
    nhs_number: str
    family_name: str = ""
    given_name: str = ""
    birth_date: date | None = None
    gender: str = ""
    registration_type: str = ""


@dataclass(frozen=True, slots=True)
class AppointmentRecord:
    appointment_id: str
    version: str
    status: str
    start: datetime
    end: datetime
    last_updated: datetime | None = None
    created: datetime | None = None
    slot_ids: tuple[str, ...] = field(default_factory=tuple)
    booking_org_ods: str = ""
    booking_org_name: str = ""
    patient_nhs_number: str = ""
    patient_family_name: str = ""
    patient_given_name: str = ""
    patient_birth_date: date | None = None
    patient_gender: str = ""
    registered_practice_ods: str = ""
    registered_practice_name: str = ""
    provider_patient_id: str = ""
    site_name: str = ""
    practitioner: str = ""
    description: str = ""
    cancellation_reason: str = ""

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"


# --- the EMIS Partner API (finding appointments) --------------------------------------
# (typeID, total, booked, blocked, embargoed, available) for one slot type of a session.
SlotTypeCount = tuple[str, int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class AppointmentSession:
    """One appointment session (GetAppointmentSessions): a holder's block of slots
    at a site on one day. `counts` is in a stable order (by slot type id): when it
    has not changed since the last poll, the session's slots need not be fetched."""

    id: int
    name: str
    date: date
    start: datetime  # aware, Europe/London
    end: datetime
    slot_minutes: int | None = None
    site_id: int | None = None
    site_name: str = ""
    holders: tuple[str, ...] = ()
    booked: int = 0
    counts: tuple[SlotTypeCount, ...] = ()
    slot_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionSlot:
    """One slot of a session (GetSlotsForSessionV2), with its patient when booked.
    `status` is EMIS's text as sent ("Booked", "Available", "Arrived", ...); the
    slot `id` is the id GP Connect uses for the same slot."""

    id: int
    session_id: int
    start: datetime  # aware, Europe/London
    end: datetime
    slot_type: str = ""
    slot_type_id: str = ""
    status: str = ""
    patient_number: int | None = None
    patient_family_name: str = ""
    patient_given_names: str = ""

    @property
    def has_patient(self) -> bool:
        return self.patient_number is not None


@dataclass(frozen=True, slots=True)
class PatientDemographics:
    """A patient's registration at one EMIS organisation (GetPatientDemographics)."""

    patient_number: int
    nhs_number: str = ""  # 10 digits, or "" when EMIS holds none
    family_name: str = ""
    given_names: str = ""
    birth_date: date | None = None
    gender: str = "unknown"  # male | female | other | unknown
    registered_practice_ods: str = ""
    registered_practice_name: str = ""


@dataclass(frozen=True, slots=True)
class BookedPatient:
    """One booked appointment with its patient (GetBookedPatientsV2)."""

    slot_id: int
    session_id: int | None
    start: datetime  # aware, Europe/London
    session_name: str = ""
    site_name: str = ""
    slot_type: str = ""
    patient_number: int | None = None
    nhs_number: str = ""
    family_name: str = ""
    given_names: str = ""
    birth_date: date | None = None
    gender: str = "unknown"
