"""Booking a patient the way GP Connect defines it, in one place: find the
patient at the provider (the slot's EMIS), register them temporarily when it
does not know them, then book with `Patient/{id}`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import (
    AppointmentOutcomeUnknown,
    EmisRejected,
    EmisUnavailable,
    PatientAlreadyRegistered,
    PatientIdentityMismatch,
    PatientNotFound,
    RegistrationRefused,
    may_have_reached_emis,
)
from .types import AppointmentRecord, BookingOrganisation, PatientDetails, SlotLike

if TYPE_CHECKING:
    from . import EmisClient


@dataclass(frozen=True, slots=True)
class PatientBooking:
    appointment: AppointmentRecord
    patient_id: str  # the patient's id at the provider
    registered: bool  # True when booking registered them there (temporarily)


def book_patient(
    client: EmisClient,
    *,
    slot: SlotLike,
    patient: PatientDetails,
    booking_organisation: BookingOrganisation,
    description: str = "",
    comment: str = "",
) -> PatientBooking:
    """Find → (register) → book. A found record with another date of birth raises
    PatientIdentityMismatch and nothing is booked. A refused registration raises RegistrationRefused
    naming the provider's reason, and nothing is booked; a booking POST that failed
    after it may have reached EMIS raises AppointmentOutcomeUnknown (EMIS may have
    made the appointment: ask it); EMIS errors of the other steps propagate as they
    are (SlotUnavailable, EmisUnavailable, ...)."""
    registered = False
    record = client.find_patient(patient.nhs_number)
    if record is None:
        try:
            record = client.register_patient(patient)
            registered = True
        except PatientAlreadyRegistered:
            # Registered meanwhile (or held in a way find does not return): look again.
            record = client.find_patient(patient.nhs_number)
            if record is None:
                raise RegistrationRefused(
                    "The provider says the patient is already registered there but does "
                    "not find them."
                ) from None
        except (EmisRejected, PatientNotFound) as exc:
            reason = exc.diagnostics or exc.message
            raise RegistrationRefused(
                f"The provider refused to register the patient: {reason}",
                status_code=exc.status_code,
                spine_code=exc.spine_code,
                diagnostics=exc.diagnostics,
            ) from exc
    if record.birth_date is not None and record.birth_date != patient.birth_date:
        # The same NHS number with another date of birth: perhaps another person (a
        # mistyped number). Booking them would open the wrong record at the PCN.
        raise PatientIdentityMismatch(
            "The provider holds a different date of birth for this NHS number."
        )
    try:
        appointment = client.book(
            slot,
            replace(patient, provider_patient_id=record.patient_id),
            booking_organisation,
            description=description,
            comment=comment,
        )
    except EmisUnavailable as exc:
        if not may_have_reached_emis(exc):
            raise
        raise AppointmentOutcomeUnknown(
            exc, patient_id=record.patient_id, registered=registered
        ) from exc
    return PatientBooking(
        appointment=appointment, patient_id=record.patient_id, registered=registered
    )
