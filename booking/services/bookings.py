"""Booking: book, cancel and move (rebook), with no double-booking.

Settling a booking whose outcome is unknown is in `settlement`, recording what
EMIS did in `booking_records`, the errors in `booking_errors`.
`_booking_outcome_unknown` is looked up in this module when a booking POST got
no answer, so patching `booking.services.bookings._booking_outcome_unknown`
(bench/run.py does, to stand for a killed process) takes effect."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from emis_integration.client import (
    AppointmentOutcomeUnknown,
    BookingOrganisation,
    EmisError,
    EmisRejected,
    EmisUnavailable,
    PatientBooking,
    PatientDetails,
    PatientIdentityMismatch,
    RegistrationRefused,
    SlotRef,
    SlotUnavailable,
    book_patient,
)
from emis_integration.crypto import CredentialsUnreadable
from emis_integration.selectors import emis_client
from emis_integration.services import connection_record_call
from hippo_pcn.audit.services import audit_record

from ..invites import booking_message_patient
from ..models import (
    ACTIVE_BOOKING_STATUSES,
    BookedVia,
    Booking,
    BookingStatus,
    Campaign,
    CampaignPatient,
    Patient,
    Slot,
)
from ..selectors import (
    bookings_to_settle,
    campaign_filter_description,
    campaign_live_sources,
    campaign_offerable_slots,
    campaign_window,
    nearest_free_slots,
)
from .booking_errors import EMIS_DOWN_MESSAGE, BookingError, SlotTaken
from .booking_records import _actor, _link, _release
from .settlement import _booking_outcome_unknown, booking_settle

logger = logging.getLogger(__name__)

ACTIVE_BOOKING = ACTIVE_BOOKING_STATUSES


def _patient_details(patient: Patient) -> PatientDetails:
    return PatientDetails(
        nhs_number=patient.nhs_number,
        family_name=patient.last_name,
        given_name=patient.first_name,
        birth_date=patient.date_of_birth,
        registered_practice_ods=patient.practice.ods_code,
        registered_practice_name=patient.practice.name,
    )


def _check_bookable(
    *, campaign: Campaign, patient: Patient, slot: Slot, pcn_consent: bool, via: str
) -> None:
    if not campaign.is_active:
        raise BookingError("This campaign is not active, so nothing can be booked in it.")
    practice = campaign.practice
    if not practice.phone.strip():
        raise BookingError(
            f"{practice.name} has no phone number: add it in the admin (Organisations → "
            f"{practice.name}). GP Connect sends it with every booking."
        )
    if (
        patient.practice_id != campaign.practice_id
        or not CampaignPatient.objects.filter(campaign=campaign, patient=patient).exists()
    ):
        raise BookingError("This patient is not on the campaign's list.")
    if slot.viewer_id != campaign.practice_id:
        raise BookingError("That slot is not one this practice can book.")
    if slot.start <= timezone.now():
        raise BookingError("That time has already passed. Choose a later one.")
    if not slot.location_id:
        raise BookingError(
            "This slot's details are out of date (no EMIS location): refresh the slots and "
            "try again."
        )
    window_start, window_end = campaign_window(campaign)
    if not (window_start <= slot.start < window_end):
        raise BookingError("That time is outside the campaign's dates.")
    if slot.connection_id not in {c.pk for c in campaign_live_sources(campaign=campaign)}:
        if slot.is_pcn:
            raise BookingError(
                "PCN slots cannot be booked now: the PCN's EMIS Community connection is not live."
            )
        raise BookingError("The practice's EMIS connection is not live, so nothing can be booked.")
    if not campaign_offerable_slots(campaign=campaign).filter(pk=slot.pk).exists():
        if not Slot.objects.filter(pk=slot.pk).exists():
            # Dropped from the mirror since the page was shown (EMIS told a booking
            # racing this one that it was taken), perhaps an instant ago: taken, not
            # "not offered".
            raise _slot_taken(campaign, slot)
        raise BookingError(
            f"That slot ({slot.service_type or 'no slot type'}, "
            f"{slot.delivery_channel or 'no channel'}) is not one this campaign offers: it "
            f"offers {campaign_filter_description(campaign=campaign)}."
        )
    if slot.is_pcn and not pcn_consent:
        if via == BookedVia.STAFF:
            raise BookingError(
                "Confirm that the patient agrees to be seen by the PCN and to their record being "
                "shared with it."
            )
        raise BookingError(
            "Tick the box to confirm you agree to be seen at this site and to the PCN's staff "
            "seeing your GP record for this appointment."
        )


def _settle_stale_reservations(*, connection_id: int, emis_slot_id: str) -> None:
    """Before reserving a slot: settle what a dead process (or a lost EMIS answer)
    left holding it, through booking_settle, never by guessing. One that EMIS
    cannot be asked about keeps the slot."""
    for unsettled in bookings_to_settle(now=timezone.now()).filter(
        connection_id=connection_id, emis_slot_id=emis_slot_id
    ):
        try:
            booking_settle(booking=unsettled)
        except (EmisError, CredentialsUnreadable) as exc:
            logger.warning("Booking %s not settled yet: %s", unsettled.pk, exc)


def _slot_taken(campaign: Campaign, slot: Slot) -> SlotTaken:
    return SlotTaken(
        "This slot was just taken. Here are the nearest free ones.",
        alternatives=nearest_free_slots(
            campaign=campaign, around=slot.start, exclude_ids={slot.pk}, limit=3
        ),
    )


def _reserve(
    *,
    campaign: Campaign,
    patient: Patient,
    slot: Slot,
    booked_by: Any,
    via: str,
    pcn_consent: bool,
    replacing: Booking | None,
) -> Booking | None:
    """Lock the slot row and hold it with a pending Booking (None = taken)."""
    with transaction.atomic():
        locked = Slot.objects.select_for_update().filter(pk=slot.pk).first()
        if locked is None:
            return None
        if (
            Booking.objects.active()
            .filter(connection_id=locked.connection_id, emis_slot_id=locked.emis_slot_id)
            .exists()
        ):
            return None
        # Serialise bookings of one patient in one campaign; a patient removed from
        # the campaign since the checks (booking.cohorts) holds no row to lock.
        if (
            CampaignPatient.objects.select_for_update()
            .filter(campaign=campaign, patient=patient)
            .first()
        ) is None:
            raise BookingError("This patient is not on the campaign's list.")
        others = Booking.objects.active().filter(campaign=campaign, patient=patient)
        if replacing is not None:
            others = others.exclude(pk=replacing.pk)
        if others.exists():
            raise BookingError(
                "This patient already has a booking in this campaign (or one is being made)."
            )
        if replacing is not None and not Booking.objects.filter(
            pk=replacing.pk, status=BookingStatus.BOOKED
        ).update(status=BookingStatus.CANCELLING):
            raise BookingError("That booking has changed meanwhile. Reload the page and try again.")
        now = timezone.now()
        is_staff = via == BookedVia.STAFF and getattr(booked_by, "is_authenticated", False)
        try:
            with transaction.atomic():
                pending = Booking.objects.create(
                    campaign=campaign,
                    patient=patient,
                    practice=campaign.practice,
                    connection_id=locked.connection_id,
                    is_pcn=locked.is_pcn,
                    emis_slot_id=locked.emis_slot_id,
                    start=locked.start,
                    end=locked.end,
                    site_name=locked.site_name,
                    site_address=locked.site_address,
                    practitioner=locked.practitioner,
                    service_type=locked.service_type,
                    status=BookingStatus.PENDING,
                    booked_via=via,
                    booked_by=booked_by if is_staff else None,
                    # Self-booked: the patient ticked it themselves (no user: the
                    # audit entry says "patient").
                    pcn_consent=bool(locked.is_pcn and pcn_consent),
                    pcn_consent_by=booked_by if (locked.is_pcn and is_staff) else None,
                    pcn_consent_at=now if (locked.is_pcn and pcn_consent) else None,
                )
        except IntegrityError:
            return None
        if replacing is not None:
            Booking.objects.filter(pk=replacing.pk).update(replaced_by=pending)
        return pending


def booking_create(
    *,
    campaign: Campaign,
    patient: Patient,
    slot: Slot,
    booked_by: Any = None,
    via: str = BookedVia.STAFF,
    pcn_consent: bool = False,
    replacing: Booking | None = None,
) -> Booking:
    """Book in EMIS, then record it. Three layers keep a slot from being booked
    twice: the slot row is locked while a pending booking reserves it, a partial
    unique constraint allows one active booking per slot (and per patient per
    campaign), and EMIS's 409 DUPLICATE_REJECTED becomes "this slot was just
    taken" with the nearest free slots. No database transaction is held open
    while EMIS is called. The EMIS steps are GP Connect's (book_patient): find
    the patient there, register them temporarily when it does not know them
    (for a PCN slot, that traces them: the task is closed as registered), book."""
    _check_bookable(campaign=campaign, patient=patient, slot=slot, pcn_consent=pcn_consent, via=via)
    _settle_stale_reservations(connection_id=slot.connection_id, emis_slot_id=slot.emis_slot_id)
    pending = _reserve(
        campaign=campaign,
        patient=patient,
        slot=slot,
        booked_by=booked_by,
        via=via,
        pcn_consent=pcn_consent,
        replacing=replacing,
    )
    if pending is None:
        raise _slot_taken(campaign, slot)
    connection = pending.connection
    practice = campaign.practice
    booked: PatientBooking | None = None
    failure: EmisError | CredentialsUnreadable | None = None
    unknown: AppointmentOutcomeUnknown | None = None
    try:
        with emis_client(
            connection=connection,
            requesting_organisation=practice,
            user=booked_by if getattr(booked_by, "is_authenticated", False) else None,
            purpose="self-book",
        ) as client:
            booked = book_patient(
                client,
                slot=SlotRef(
                    pending.emis_slot_id,
                    pending.start,
                    pending.end,
                    location_id=slot.location_id,
                    practitioner_id=slot.practitioner_id,
                ),
                patient=_patient_details(patient),
                booking_organisation=BookingOrganisation(
                    ods_code=practice.ods_code, name=practice.name, phone=practice.phone.strip()
                ),
                description=campaign.appointment_type,
                comment=f"Booked through hippo-pcn for the campaign “{campaign.name}”.",
            )
    except AppointmentOutcomeUnknown as exc:
        unknown = exc
    except (EmisError, CredentialsUnreadable) as exc:
        failure = exc
    if unknown is not None:
        return _booking_outcome_unknown(booking=pending, error=unknown, actor=_actor(booked_by))
    appointment = booked.appointment if booked is not None else None

    if appointment is None:
        with transaction.atomic():
            _release(booking=pending)
            if isinstance(failure, SlotUnavailable):
                Slot.objects.filter(pk=slot.pk).delete()  # EMIS says it is taken: drop it now
        if isinstance(failure, EmisError):
            connection_record_call(connection=connection, error=failure)
        if isinstance(failure, SlotUnavailable):
            raise _slot_taken(campaign, slot) from failure
        if isinstance(failure, EmisUnavailable):
            raise BookingError(EMIS_DOWN_MESSAGE) from failure
        if isinstance(failure, PatientIdentityMismatch):
            where = "The PCN's EMIS" if pending.is_pcn else "The practice's EMIS"
            raise BookingError(
                f"{where} holds a different date of birth for this NHS number, so it may be "
                "another person and nothing was booked. Check the patient's NHS number and "
                "date of birth."
            ) from failure
        if isinstance(failure, RegistrationRefused):
            where = "The PCN's EMIS" if pending.is_pcn else "The practice's EMIS"
            raise BookingError(
                f"{where} would not register the patient, so nothing was booked. It said: "
                f"{failure.diagnostics or failure.message}"
            ) from failure
        message = failure.message if isinstance(failure, EmisError) else str(failure)
        raise BookingError(f"EMIS refused the booking: {message}") from failure

    assert booked is not None
    with transaction.atomic():
        _link(
            booking=pending,
            appointment=appointment,
            actor=_actor(booked_by),
            registered_patient_id=booked.patient_id if booked.registered else "",
            replacing=replacing,
        )
    connection_record_call(connection=connection)
    return pending


def booking_cancel(
    *, booking: Booking, user: Any, reason: str, via: str = BookedVia.STAFF
) -> Booking:
    """Cancel in EMIS, then record it. When EMIS cannot be reached the booking
    stays as it was (with the error noted) and the user is told."""
    reason = reason.strip()
    if not reason:
        raise BookingError("Give a reason for cancelling.")
    current = Booking.objects.select_related("connection", "practice").get(pk=booking.pk)
    if current.status not in (BookingStatus.BOOKED, BookingStatus.CANCELLING):
        raise BookingError("This booking is not current, so there is nothing to cancel.")
    if current.start <= timezone.now():
        raise BookingError("This appointment has already started, so it cannot be cancelled.")
    failure: EmisError | CredentialsUnreadable | None = None
    try:
        with emis_client(
            connection=current.connection,
            requesting_organisation=current.practice,
            user=user if getattr(user, "is_authenticated", False) else None,
            purpose="self-book",
        ) as client:
            try:
                client.cancel(current.emis_appointment_id, reason)
            except EmisRejected:
                # Already cancelled in EMIS (by someone else)? Then ours is too.
                if client.get_appointment(current.emis_appointment_id).status != "cancelled":
                    raise
    except (EmisError, CredentialsUnreadable) as exc:
        failure = exc
    if failure is not None:
        Booking.objects.filter(pk=current.pk).update(cancel_error=str(failure)[:2000])
        if isinstance(failure, EmisError):
            connection_record_call(connection=current.connection, error=failure)
        if isinstance(failure, EmisUnavailable):
            raise BookingError(
                "EMIS did not answer, so the booking has not been cancelled. Please try again."
            ) from failure
        message = failure.message if isinstance(failure, EmisError) else str(failure)
        raise BookingError(f"EMIS refused the cancellation: {message}") from failure
    with transaction.atomic():
        updated = Booking.objects.filter(
            pk=current.pk, status__in=[BookingStatus.BOOKED, BookingStatus.CANCELLING]
        ).update(
            status=BookingStatus.CANCELLED,
            cancelled_at=timezone.now(),
            cancelled_by=user if getattr(user, "is_authenticated", False) else None,
            cancellation_reason=reason[:300],
            cancel_error="",
        )
        if updated:
            audit_record(
                actor=_actor(user),
                action="booking.cancelled",
                target=current,
                organisation=current.practice,
                details={
                    "reason": reason,
                    "via": via,
                    "emis_appointment_id": current.emis_appointment_id,
                },
            )
            if via == BookedVia.STAFF and current.replaced_by_id is None:
                # Cancelled by staff, not moved (a move's message is the change).
                booking_message_patient(booking=current, kind="cancellation")
    connection_record_call(connection=current.connection)
    booking.refresh_from_db()
    return booking


MOVE_REASON = "Moved to another time through hippo-pcn"


def booking_rebook(
    *,
    booking: Booking,
    slot: Slot,
    user: Any,
    via: str = BookedVia.STAFF,
    pcn_consent: bool = False,
) -> Booking:
    """Move a booking: book the new slot first, and cancel the old appointment
    only after that succeeded (GP Connect has no move). If the new booking fails
    the old one stands untouched; if cancelling the old one fails it stays marked
    "being cancelled in EMIS" with the error, for staff to finish."""
    if booking.status != BookingStatus.BOOKED:
        raise BookingError("Only a current booking can be moved.")
    new = booking_create(
        campaign=booking.campaign,
        patient=booking.patient,
        slot=slot,
        booked_by=user,
        via=via,
        pcn_consent=pcn_consent,
        replacing=booking,
    )
    booking.refresh_from_db()
    try:
        booking_cancel(booking=booking, user=user, reason=MOVE_REASON, via=via)
    except BookingError as exc:
        logger.error(
            "Booking %s was moved to %s but the old appointment is not cancelled yet: %s",
            booking.pk,
            new.pk,
            exc,
        )
    return new
