"""Recording what EMIS did with a reserved slot, inside the caller's
transaction: link the reservation to the appointment EMIS made (booked, its
tracing task for a PCN slot, audited, the patient told), or release it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from emis_integration.client import AppointmentRecord
from hippo_pcn.audit.services import audit_record, system_actor
from tracing.services import tracing_task_open_for_booking

from ..invites import booking_message_patient
from ..models import BookedVia, Booking, BookingStatus, Slot


def _actor(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else system_actor("self-book")


def _link(
    *,
    booking: Booking,
    appointment: AppointmentRecord,
    actor: Any,
    registered_patient_id: str = "",
    replacing: Booking | None = None,
) -> None:
    """Record the EMIS appointment a reserved booking made: booked, its EMIS ids,
    for a PCN slot its tracing task, the slot gone from the free list, audited.
    Runs inside the caller's transaction."""
    practice = booking.practice
    if not appointment.registered_practice_ods:
        # The provider did not say where the patient is registered: the booking
        # practice books its own patients.
        appointment = replace(
            appointment,
            registered_practice_ods=practice.ods_code,
            registered_practice_name=practice.name,
        )
    booking.status = BookingStatus.BOOKED
    booking.emis_appointment_id = appointment.appointment_id
    booking.emis_version = appointment.version
    if booking.is_pcn:
        booking.tracing_task = tracing_task_open_for_booking(
            connection=booking.connection,
            appointment=appointment,
            actor=actor,
            registered_patient_id=registered_patient_id,
        )
    booking.save(update_fields=["status", "emis_appointment_id", "emis_version", "tracing_task"])
    Slot.objects.filter(
        connection_id=booking.connection_id, emis_slot_id=booking.emis_slot_id
    ).delete()
    audit_record(
        actor=actor,
        action="booking.created",
        target=booking,
        organisation=practice,
        details={
            "campaign_id": booking.campaign_id,
            "patient_id": booking.patient_id,
            "source": "pcn" if booking.is_pcn else "practice",
            "emis_appointment_id": booking.emis_appointment_id,
            "start": booking.start,
            "via": booking.booked_via,
            "pcn_consent": booking.pcn_consent,
            "pcn_consent_given_by": _consent_given_by(booking),
            "registered_at_provider": bool(registered_patient_id),
            "replacing": replacing.pk if replacing is not None else None,
        },
    )
    if booking.booked_via == BookedVia.STAFF:
        # Made by staff: tell the patient (a move is a change of time).
        booking_message_patient(
            booking=booking, kind="change" if replacing is not None else "confirmation"
        )


def _consent_given_by(booking: Booking) -> str | None:
    """Who agreed to the PCN seeing the record: "staff" (pcn_consent_by says who)
    or "patient" (self-booked: the patient ticked the box; there is no user)."""
    if not booking.pcn_consent:
        return None
    return "patient" if booking.booked_via == BookedVia.SELF_BOOK else "staff"


def _release(*, booking: Booking) -> None:
    """Give a reservation's slot back: delete it and restore the booking it was
    to replace (a rebook). Runs inside the caller's transaction."""
    replaced = list(
        Booking.objects.filter(replaced_by=booking, status=BookingStatus.CANCELLING).values_list(
            "pk", flat=True
        )
    )
    booking.delete()  # first: the partial unique constraints then allow the restore
    Booking.objects.filter(pk__in=replaced).update(status=BookingStatus.BOOKED, replaced_by=None)
