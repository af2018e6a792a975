"""Confirmation, change and cancellation messages about a booking."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from hippo_pcn.outbox.services import outbox_enqueue

from ..models import (
    Booking,
    DeliveryStatus,
    Invite,
    InviteChannel,
)
from ..notify import (
    NotifyOutcomeUnknown,
    NotifyPermanentError,
    NotifyTransientError,
)
from ..tokens import new_token_fields
from .common import SEND_BOOKING_MESSAGE_TASK, SEND_LEASE_SECONDS
from .eligibility import invite_expiry
from .messages import _channel_for, _channel_now, _message
from .send_once import _send_once

logger = logging.getLogger(__name__)

# --- Confirmation and cancellation messages -------------------------------------------------------


def _queue_booking_message(kind: str, invite: Invite, booking: Booking) -> None:
    """Through the outbox: the message is written with the booking's change and
    goes once the broker takes it, even if it is down now."""
    outbox_enqueue(task=SEND_BOOKING_MESSAGE_TASK, args=[invite.pk, booking.pk, kind])


def invite_send_confirmation(*, invite: Invite, booking: Booking) -> None:
    """Queue the "your appointment is booked" message (what, when, where, how to
    cancel: the same link). For the public self-book pages, after a booking or a
    rebooking."""
    _queue_booking_message("confirmation", invite, booking)


def invite_send_cancellation(*, invite: Invite, booking: Booking) -> None:
    """Queue the "your appointment has been cancelled" message. For the public
    self-book pages, after a cancellation."""
    _queue_booking_message("cancellation", invite, booking)


# What staff changed, by message kind: booked ("confirmation"), moved to another time
# ("change", the new booking), cancelled ("cancellation").
STAFF_CHANGE_KINDS = ("confirmation", "change", "cancellation")


def _staff_message_channel(booking: Booking) -> str | None:
    """The channel a staff change's message goes by: the patient's invitation's
    (or the campaign's), the other one when they lack it; None when they have
    neither a mobile number nor an email address."""
    preferred = (
        Invite.objects.filter(campaign_id=booking.campaign_id, patient_id=booking.patient_id)
        .values_list("channel", flat=True)
        .first()
    )
    return _channel_for(booking.patient, preferred or booking.campaign.invite_channel)


def _invite_for_booking(*, booking: Booking, channel: str, kind: str) -> Invite:
    """The patient's invitation in the booking's campaign, whose link the message
    carries; made now when staff booked a patient who was never invited (the same
    token fields as every invitation; no invitation is sent: its link goes out in
    this message). For a booking or a move it is pointed at the new booking, so
    the link shows it and can change or cancel it."""
    now = timezone.now()
    campaign = booking.campaign
    invite, _ = Invite.objects.get_or_create(
        campaign=campaign,
        patient_id=booking.patient_id,
        defaults={
            "channel": channel,
            "delivery_status": DeliveryStatus.SENT,
            "expires_at": invite_expiry(campaign=campaign, now=now),
            "used_at": now,
            "booking": booking,
            **new_token_fields(),
        },
    )
    if kind != "cancellation" and invite.booking_id != booking.pk:
        Invite.objects.filter(pk=invite.pk).update(booking=booking, used_at=invite.used_at or now)
    return invite


def booking_message_patient(*, booking: Booking, kind: str) -> bool:
    """Staff booked, moved (`kind` "change", for the new booking) or cancelled:
    queue the patient's message through the outbox, in the caller's transaction,
    with the date, time, site, address and their link to change or cancel. Not
    when the campaign sends none (`message_patients_on_staff_changes`) or the
    patient has neither a mobile number nor an email address. Sent once per
    booking and kind (the send record's key): a move makes a new booking, so each
    move is its own message. Returns whether one was queued."""
    if kind not in STAFF_CHANGE_KINDS:
        raise ValueError(f"Unknown booking message: {kind}.")
    if not booking.campaign.message_patients_on_staff_changes:
        return False
    channel = _staff_message_channel(booking)
    if channel is None:
        return False
    invite = _invite_for_booking(booking=booking, channel=channel, kind=kind)
    _queue_booking_message(kind, invite, booking)
    return True


def booking_staff_message_note(*, booking: Booking) -> str:
    """What the staff page says after a booking, move or cancellation: what the
    patient will be sent (never that it was sent), or why nothing is."""
    if booking.replaced_by_id is not None:
        return "The patient is sent no message about it: they were told of the move."
    if not booking.campaign.message_patients_on_staff_changes:
        return "This campaign sends patients no message when staff book, move or cancel."
    channel = _staff_message_channel(booking)
    if channel is None:
        return "The patient has no mobile number or email address, so no message is sent."
    what = "a text message" if channel == InviteChannel.SMS else "an email"
    return f"We will send the patient {what} with the details."


# A booking message whose fate is still not known after the task's last try is
# checked again this many times, a send lease apart, through the outbox.
BOOKING_MESSAGE_MAX_CHECKS = 3


def booking_message_send(
    *, invite_id: int, booking_id: int, kind: str, final_attempt: bool = True, check: int = 0
) -> bool:
    """Send a confirmation, change of time or cancellation (the task's body). Transient failures
    propagate for the task to retry, until the final attempt; failures are logged
    by id. When whether it went is still not known then, the task is queued again
    (through the outbox) for after the send lease, to ask the notifier or send it;
    at most BOOKING_MESSAGE_MAX_CHECKS times. A patient who opted out still gets
    these: they are about an appointment they made."""
    invite = (
        Invite.objects.select_related("campaign", "campaign__practice", "patient")
        .filter(pk=invite_id)
        .first()
    )
    booking = Booking.objects.select_related("campaign__practice").filter(pk=booking_id).first()
    if invite is None or booking is None or booking.patient_id != invite.patient_id:
        return False
    channel = _channel_now(invite)
    try:
        _send_once(
            key=f"{kind}:{booking.pk}",
            kind=kind,
            invite=invite,
            booking=booking,
            build=lambda reference: _message(
                invite=invite, kind=kind, channel=channel, booking=booking, reference=reference
            ),
        )
    except NotifyTransientError as exc:
        if not final_attempt:
            raise
        if isinstance(exc, NotifyOutcomeUnknown) and check < BOOKING_MESSAGE_MAX_CHECKS:
            outbox_enqueue(
                task=SEND_BOOKING_MESSAGE_TASK,
                args=[invite_id, booking_id, kind],
                kwargs={"check": check + 1},
                delay=timedelta(seconds=SEND_LEASE_SECONDS + 1),
            )
            logger.warning(
                "%s for invite %s: not known yet whether sent, checked again later: %s",
                kind.capitalize(),
                invite_id,
                exc.reason,
            )
            return False
        outcome = "not known whether sent" if isinstance(exc, NotifyOutcomeUnknown) else "not sent"
        logger.warning("%s for invite %s %s: %s", kind.capitalize(), invite_id, outcome, exc.reason)
        return False
    except NotifyPermanentError as exc:
        logger.warning("%s for invite %s not sent: %s", kind.capitalize(), invite_id, exc.reason)
        return False
    return True
