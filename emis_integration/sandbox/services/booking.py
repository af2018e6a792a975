"""Booking and cancelling through GP Connect. Booking is race-safe on
PostgreSQL: the slot row is locked and a partial unique constraint allows one
booked appointment per slot."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import selectors
from ..errors import (
    ConstraintViolation,
    DuplicateRejected,
    InvalidResource,
    NoRecordFound,
    ReferenceNotFound,
)
from ..models import (
    Appointment,
    AppointmentStatus,
    BookingCap,
    Patient,
    RegistrationType,
    SandboxOrganisation,
    Slot,
    SlotStatus,
)
from ..types import BookingOrganisation, BookingRequest, CancellationRequest, PatientDemographics
from .patients import patient_record_for_booking


def _when(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")


def _restriction_text(slot: Slot) -> str:
    parts = []
    if slot.allowed_ods:
        parts.append("ODS codes " + ", ".join(slot.allowed_ods))
    if slot.allowed_org_types:
        parts.append("organisation types " + ", ".join(slot.allowed_org_types))
    return " or ".join(parts)


def _check_cap(
    *, organisation: SandboxOrganisation, booker: BookingOrganisation, now: datetime
) -> None:
    cap = (
        BookingCap.objects.select_for_update()
        .filter(organisation=organisation, booking_org_ods=booker.ods_code)
        .first()
    )
    if cap is None:
        return
    active = selectors.active_future_bookings(
        organisation=organisation, booking_org_ods=booker.ods_code, now=now
    )
    if active >= cap.max_active_bookings:
        raise InvalidResource(
            f"Booking limit reached: {booker.ods_code} already holds {active} future "
            f"bookings at {organisation.ods_code} (limit {cap.max_active_bookings})."
        )


def _referenced_patient(
    *, organisation: SandboxOrganisation, booking: BookingRequest
) -> Patient | None:
    """The Patient/{id} the booking names. GP Connect finds appointment-only
    records neither by search nor by reference: only registrations count."""
    if booking.patient_id is None:
        return None
    patient = (
        Patient.objects.filter(organisation=organisation, pk=booking.patient_id)
        .exclude(registration_type=RegistrationType.APPOINTMENT_ONLY)
        .first()
    )
    if patient is None:
        raise ReferenceNotFound(
            f"Patient/{booking.patient_id} is not registered at {organisation.ods_code}: "
            "find the patient, or register them, first."
        )
    if booking.patient is not None and patient.nhs_number != booking.patient.nhs_number:
        raise InvalidResource(
            f"Patient/{booking.patient_id} has a different NHS number from the patient given."
        )
    return patient


def _demographics_of(*, organisation: SandboxOrganisation, patient: Patient) -> PatientDemographics:
    """The booking's patient details, from their record here."""
    practice_ods = patient.registered_practice_ods
    if not practice_ods and patient.registration_type == RegistrationType.REGULAR:
        practice_ods = organisation.ods_code
    return PatientDemographics(
        nhs_number=patient.nhs_number,
        family=patient.family,
        given=patient.given,
        birth_date=patient.birth_date,
        gender=patient.gender,
        registered_practice_ods=practice_ods,
    )


def _check_participants(*, slot: Slot, booking: BookingRequest) -> None:
    schedule = slot.schedule
    if booking.location_id is not None and booking.location_id != schedule.site_id:
        raise InvalidResource(
            f"Location/{booking.location_id} is not the location of Slot/{slot.pk} "
            f"(Location/{schedule.site_id})."
        )
    if booking.practitioner_id is not None and booking.practitioner_id != schedule.practitioner_id:
        raise InvalidResource(
            f"Practitioner/{booking.practitioner_id} is not the practitioner of Slot/{slot.pk}."
        )


def appointment_book(
    *, organisation: SandboxOrganisation, booking: BookingRequest, now: datetime | None = None
) -> Appointment:
    """Book `booking.slot_id`. Raises DuplicateRejected when the slot is taken,
    ReferenceNotFound for a Patient/{id} not registered here and InvalidResource
    for anything else the slot or booking forbids. The appointment is held by the
    patient's record here (`patient_record`): the referenced Patient (always,
    through GP Connect), else (EMIS staff booking directly) their existing record
    or a new appointment-only one (patients.patient_record_for_booking)."""
    now = now or timezone.now()
    booker = booking.booking_organisation
    with transaction.atomic():
        slot = (
            Slot.objects.select_for_update()
            .filter(organisation=organisation, pk=booking.slot_id)
            .first()
        )
        if slot is None:
            raise InvalidResource(
                f"Slot/{booking.slot_id} does not exist at {organisation.ods_code}."
            )
        if slot.status != SlotStatus.FREE:
            raise DuplicateRejected(f"Slot/{slot.pk} is already booked.")
        if booking.start != slot.start or booking.end != slot.end:
            raise InvalidResource(
                f"The appointment's start and end ({_when(booking.start)} to "
                f"{_when(booking.end)}) do not match Slot/{slot.pk} "
                f"({_when(slot.start)} to {_when(slot.end)})."
            )
        if slot.start <= now:
            raise InvalidResource(
                f"Slot/{slot.pk} started at {_when(slot.start)}: it is in the past."
            )
        booker_type = selectors.organisation_type_for(
            ods_code=booker.ods_code, declared_type=booker.org_type
        )
        if not slot.allows(ods_code=booker.ods_code, org_type=booker_type):
            raise InvalidResource(
                f"{booker.ods_code} may not book Slot/{slot.pk}: it is reserved for "
                f"{_restriction_text(slot)}."
            )
        _check_participants(slot=slot, booking=booking)
        _check_cap(organisation=organisation, booker=booker, now=now)
        patient = _referenced_patient(organisation=organisation, booking=booking)
        if patient is not None:
            demographics = booking.patient or _demographics_of(
                organisation=organisation, patient=patient
            )
        elif booking.patient is not None:
            demographics = booking.patient
        else:
            raise InvalidResource("The appointment names no patient.")
        record = patient_record_for_booking(
            organisation=organisation, referenced=patient, demographics=demographics
        )

        practice_name = demographics.registered_practice_name
        if demographics.registered_practice_ods and not practice_name:
            practice_name = selectors.organisation_names(
                ods_codes={demographics.registered_practice_ods}
            ).get(demographics.registered_practice_ods, demographics.registered_practice_ods)
        schedule = slot.schedule
        site = schedule.site
        practitioner = schedule.practitioner
        try:
            with transaction.atomic():
                appointment = Appointment.objects.create(
                    organisation=organisation,
                    slot=slot,
                    status=AppointmentStatus.BOOKED,
                    version=1,
                    last_updated=now,
                    created=now,
                    start=slot.start,
                    end=slot.end,
                    booking_org_ods=booker.ods_code,
                    booking_org_name=booker.name,
                    booking_org_phone=booker.phone,
                    booking_org_type=booker_type,
                    patient_nhs_number=demographics.nhs_number,
                    patient_snapshot={
                        "family": demographics.family,
                        "given": demographics.given,
                        "birthDate": demographics.birth_date.isoformat(),
                        "gender": demographics.gender,
                        "registeredPracticeOds": demographics.registered_practice_ods,
                        "registeredPracticeName": practice_name,
                    },
                    patient=patient,
                    patient_record=record,
                    description=booking.description,
                    comment=booking.comment,
                    location_display=site.name,
                    practitioner_display=practitioner.display_name if practitioner else "",
                )
        except IntegrityError:
            raise DuplicateRejected(f"Slot/{slot.pk} is already booked.") from None
        Slot.objects.filter(pk=slot.pk).update(status=SlotStatus.BUSY)
    return appointment


def _cancellation_changes(appointment: Appointment, cancellation: CancellationRequest) -> list[str]:
    changes = []
    if cancellation.start != appointment.start:
        changes.append("start")
    if cancellation.end != appointment.end:
        changes.append("end")
    if cancellation.slot_references != (f"Slot/{appointment.slot_id}",):
        changes.append("slot")
    if cancellation.participant_references != appointment.participant_references():
        changes.append("participant")
    if cancellation.booking_org_ods != appointment.booking_org_ods:
        changes.append("booking organisation")
    if cancellation.patient_nhs_number != appointment.patient_nhs_number:
        changes.append("patient")
    if cancellation.description != appointment.description:
        changes.append("description")
    if cancellation.comment != appointment.comment:
        changes.append("comment")
    return changes


def appointment_cancel(
    *,
    organisation: SandboxOrganisation,
    cancellation: CancellationRequest,
    expected_version: int,
    now: datetime | None = None,
) -> Appointment:
    """Cancel an appointment at `expected_version` (If-Match) and free its slot."""
    now = now or timezone.now()
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update()
            .filter(organisation=organisation, pk=cancellation.appointment_id)
            .first()
        )
        if appointment is None:
            raise NoRecordFound(
                f"Appointment/{cancellation.appointment_id} does not exist at "
                f"{organisation.ods_code}."
            )
        if appointment.version != expected_version:
            raise ConstraintViolation(
                f"If-Match version {expected_version} is stale: Appointment/{appointment.pk} "
                f"is at version {appointment.version}. Read it again before cancelling."
            )
        if appointment.status == AppointmentStatus.CANCELLED:
            raise InvalidResource(f"Appointment/{appointment.pk} is already cancelled.")
        if appointment.start <= now:
            raise InvalidResource(
                f"Appointment/{appointment.pk} started at {_when(appointment.start)}: an "
                "appointment in the past cannot be cancelled."
            )
        changes = _cancellation_changes(appointment, cancellation)
        if changes:
            raise InvalidResource(
                "A cancellation may change only the status and the cancellation reason; "
                f"these differ from the stored appointment: {', '.join(changes)}."
            )
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancellation_reason = cancellation.reason
        appointment.version += 1
        appointment.last_updated = now
        appointment.save(update_fields=["status", "cancellation_reason", "version", "last_updated"])
        Slot.objects.filter(pk=appointment.slot_id).update(status=SlotStatus.FREE)
    return appointment
