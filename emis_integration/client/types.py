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


@dataclass(frozen=True, slots=True)
class SlotRef:
    slot_id: str
    start: datetime
    end: datetime


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
