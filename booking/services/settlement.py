"""Settling bookings whose outcome in EMIS is unknown: a booking POST that got
no answer (OUTCOME_UNKNOWN) is asked about at once, and the reconciler settles
what is left (and PENDING ones a dead process left) later. Never guesses: EMIS
is asked for the patient's appointments on the slot's day."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from emis_integration.client import AppointmentOutcomeUnknown, AppointmentRecord, EmisError
from emis_integration.crypto import CredentialsUnreadable
from emis_integration.selectors import emis_client
from emis_integration.services import connection_record_call
from hippo_pcn.audit.services import audit_record, system_actor

from ..models import UNSETTLED_BOOKING_STATUSES, Booking, BookingStatus
from ..selectors import bookings_to_settle
from .booking_errors import (
    EMIS_DOWN_MESSAGE,
    OUTCOME_UNKNOWN_MESSAGE,
    BookingError,
    BookingOutcomeUnknown,
)
from .booking_records import _link, _release

logger = logging.getLogger(__name__)


# What booking_settle did:
SETTLED_BOOKED = "booked"  # EMIS has the appointment: the booking is linked to it
SETTLED_RELEASED = "released"  # EMIS has none: the reservation is released
ALREADY_SETTLED = "already settled"  # settled meanwhile (or never unsettled)


def _uk_day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    day = timezone.localtime(moment).date()
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))
    return start, end - timedelta(seconds=1)


def _appointment_in_slot(
    appointments: list[AppointmentRecord], booking: Booking
) -> AppointmentRecord | None:
    for appointment in appointments:
        if appointment.is_cancelled or appointment.status != "booked":
            continue
        if booking.emis_slot_id in appointment.slot_ids or (
            not appointment.slot_ids and appointment.start == booking.start
        ):
            return appointment
    return None


def booking_settle(
    *,
    booking: Booking,
    actor: Any = None,
    patient_id: str = "",
    registered: bool = False,
) -> str:
    """Settle a booking whose outcome in EMIS is not known (OUTCOME_UNKNOWN, or a
    PENDING one a dead process left): ask EMIS for the patient's appointments on
    the slot's day; one booked in the slot → the booking is linked to it
    (booked, tracing task as when booking succeeds); none → the reservation is
    released. Never guesses: when EMIS cannot be asked, EmisError (or
    CredentialsUnreadable) propagates and the booking stays as it was.
    `patient_id`/`registered`: the patient's provider id when already known and
    whether booking registered them there. Returns SETTLED_BOOKED,
    SETTLED_RELEASED or ALREADY_SETTLED; audited as booking.settled."""
    actor = actor if actor is not None else system_actor("reconciler")
    if booking.status not in UNSETTLED_BOOKING_STATUSES:
        return ALREADY_SETTLED
    connection = booking.connection
    try:
        with emis_client(connection=connection, requesting_organisation=booking.practice) as client:
            if not patient_id:
                record = client.find_patient(booking.patient.nhs_number)
                patient_id = record.patient_id if record is not None else ""
            found = None
            if patient_id:
                start, end = _uk_day_bounds(booking.start)
                found = _appointment_in_slot(
                    client.patient_appointments(patient_id, start=start, end=end), booking
                )
    except EmisError as exc:
        connection_record_call(connection=connection, error=exc)
        raise
    with transaction.atomic():
        locked = (
            Booking.objects.select_for_update()
            .filter(pk=booking.pk, status__in=UNSETTLED_BOOKING_STATUSES)
            .first()
        )
        if locked is None:
            return ALREADY_SETTLED
        was = locked.status
        outcome = SETTLED_BOOKED if found is not None else SETTLED_RELEASED
        audit_record(
            actor=actor,
            action="booking.settled",
            target=locked,
            organisation=locked.practice,
            details={
                "outcome": outcome,
                "was": was,
                "emis_appointment_id": found.appointment_id if found is not None else "",
                "emis_slot_id": locked.emis_slot_id,
            },
        )
        if found is not None:
            _link(
                booking=locked,
                appointment=found,
                actor=actor,
                registered_patient_id=patient_id if registered else "",
                replacing=Booking.objects.filter(replaced_by=locked).first(),
            )
        else:
            _release(booking=locked)
    connection_record_call(connection=connection)
    if found is not None:
        booking.refresh_from_db()
    return outcome


def bookings_reconcile(*, limit: int = 50) -> dict[str, int]:
    """The reconciler: settle the unsettled bookings (bookings_to_settle), oldest
    first, at most `limit` a run. One EMIS cannot be asked about is logged,
    counted as "unreachable" and left for the next run."""
    counts: dict[str, int] = {}
    for booking in bookings_to_settle(now=timezone.now())[:limit]:
        try:
            outcome = booking_settle(booking=booking)
        except (EmisError, CredentialsUnreadable) as exc:
            logger.warning("Booking %s not settled yet: %s", booking.pk, exc)
            outcome = "unreachable"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _booking_outcome_unknown(
    *, booking: Booking, error: AppointmentOutcomeUnknown, actor: Any
) -> Booking:
    """The booking POST failed after it may have reached EMIS: keep the slot
    reserved (OUTCOME_UNKNOWN, audited), then ask EMIS at once. Booked → the
    linked booking; none → "nothing was booked" (now known); EMIS cannot be
    asked → BookingOutcomeUnknown, the reconciler settles it later."""
    connection_record_call(connection=booking.connection, error=error)
    with transaction.atomic():
        Booking.objects.filter(pk=booking.pk, status=BookingStatus.PENDING).update(
            status=BookingStatus.OUTCOME_UNKNOWN
        )
        booking.status = BookingStatus.OUTCOME_UNKNOWN
        audit_record(
            actor=actor,
            action="booking.outcome_unknown",
            target=booking,
            organisation=booking.practice,
            details={
                "emis_slot_id": booking.emis_slot_id,
                "status_code": error.status_code,
                "error": error.spine_code or error.message[:200],
            },
        )
    logger.warning(
        "Booking %s: EMIS may have booked slot %s but did not answer (%s); checking",
        booking.pk,
        booking.emis_slot_id,
        error.status_code or error.spine_code,
    )
    try:
        outcome = booking_settle(
            booking=booking,
            actor=actor,
            patient_id=error.patient_id,
            registered=error.registered,
        )
    except (EmisError, CredentialsUnreadable) as exc:
        raise BookingOutcomeUnknown(OUTCOME_UNKNOWN_MESSAGE) from exc
    if outcome == SETTLED_BOOKED:
        return booking
    if outcome == ALREADY_SETTLED:  # settled meanwhile by the reconciler
        linked = Booking.objects.filter(pk=booking.pk, status=BookingStatus.BOOKED).first()
        if linked is not None:
            return linked
    raise BookingError(EMIS_DOWN_MESSAGE) from error
