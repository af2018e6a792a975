"""The public self-booking flow behind an invitation link: find the invite from
its token, check the patient's date of birth (a second factor beside the link,
locked after too many failures), then book, cancel, move or decline through the
same booking service staff use."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, time

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from hippo_pcn.audit.services import audit_record, system_actor

from . import services, slot_picker
from .invites import invite_send_cancellation, invite_send_confirmation
from .models import BookedVia, Booking, BookingStatus, DeclineReason, Invite, Slot
from .selectors import campaign_offerable_slots
from .tokens import hash_token, looks_like_token

ACTOR = system_actor("self-book")
# A well-formed hash that matches nothing: unknown and malformed tokens cost the
# same database look-up as real ones.
_NO_MATCH = "0" * 64


@dataclass(frozen=True)
class LinkState:
    """What an invitation link may do now. `invite` is None for every invalid
    case (unknown, tampered, expired, used): they all look the same."""

    invite: Invite | None
    booking: Booking | None = None

    @property
    def valid(self) -> bool:
        return self.invite is not None


def link_state(*, token: str) -> LinkState:
    """Resolve a link. Unknown, malformed, expired and used-up links take the same
    path (one hash, one query) and come back the same."""
    token_hash = hash_token(token) if looks_like_token(token) else _NO_MATCH
    invite = (
        Invite.objects.select_related(
            "campaign", "campaign__practice", "campaign__practice__pcn", "patient", "booking"
        )
        .filter(token_hash=token_hash)
        .first()
    )
    if invite is None or not hmac.compare_digest(invite.token_hash, token_hash):
        return LinkState(None)
    booking = invite.booking
    active = booking is not None and booking.status == BookingStatus.BOOKED
    if active:
        return LinkState(invite, booking)
    if invite.used_at is not None:
        return LinkState(None)  # booked once, since cancelled: the link is spent
    if invite.expires_at <= timezone.now() or not invite.campaign.is_active:
        return LinkState(None)
    return LinkState(invite, None)


class DobResult:
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


def dob_check(*, invite: Invite, entered: date) -> str:
    """Compare the date of birth; SELFBOOK_DOB_MAX_FAILURES failures lock the link
    for self-booking, and a locked link refuses the right date too.

    The check and the count happen under a row lock on the invite, so guesses sent
    at the same time are checked one after another against the current count:
    each counts, and none is checked once the link is locked."""
    with transaction.atomic():
        current = (
            Invite.objects.select_for_update(of=("self",))
            .select_related("patient")
            .only("pk", "dob_failures", "dob_locked_at", "patient__date_of_birth")
            .get(pk=invite.pk)
        )
        if current.dob_locked_at is not None:
            result = DobResult.LOCKED
        elif entered == current.patient.date_of_birth:
            if current.dob_failures:
                Invite.objects.filter(pk=invite.pk).update(dob_failures=0)
                current.dob_failures = 0
            result = DobResult.OK
        else:
            current.dob_failures += 1
            fields: dict[str, object] = {"dob_failures": current.dob_failures}
            result = DobResult.WRONG
            if current.dob_failures >= settings.SELFBOOK_DOB_MAX_FAILURES:
                current.dob_locked_at = timezone.now()
                fields["dob_locked_at"] = current.dob_locked_at
                result = DobResult.LOCKED
            Invite.objects.filter(pk=invite.pk).update(**fields)
            if result == DobResult.LOCKED:
                audit_record(
                    actor=ACTOR,
                    action="invite.dob_locked",
                    target=invite,
                    organisation=invite.campaign.practice,
                    details={"failures": current.dob_failures},
                )
    invite.dob_failures = current.dob_failures
    invite.dob_locked_at = current.dob_locked_at
    return result


def bookable_slots(*, invite: Invite) -> QuerySet[Slot]:
    """Every free time the link may book, in time order."""
    return campaign_offerable_slots(campaign=invite.campaign).select_related("connection")


def picker_page(
    *, invite: Invite, day: date | None, at: time | None, starting: date | None
) -> slot_picker.DaysPage | slot_picker.TimePage:
    """What the link's slot picker shows: a day's times, or the days to choose
    from (see `slot_picker.patient_picker`)."""
    return slot_picker.patient_picker(
        bookable_slots(invite=invite), day=day, at=at, starting=starting
    )


def selfbook_book(*, invite: Invite, slot: Slot, pcn_consent: bool = False) -> Booking:
    """Book through the link (once). A PCN slot needs `pcn_consent`: the patient
    ticked that they agree to be seen at the PCN's site and to its staff seeing
    their record for this appointment (kept on the booking, with no user: the
    audit entry says the patient gave it)."""
    if invite.used_at is not None or invite.booking_id is not None:
        raise services.BookingError("This link has already been used to book.")
    booking = services.booking_create(
        campaign=invite.campaign,
        patient=invite.patient,
        slot=slot,
        booked_by=None,
        via=BookedVia.SELF_BOOK,
        pcn_consent=pcn_consent,
    )
    with transaction.atomic():
        Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now(), booking=booking)
        invite.refresh_from_db()
        invite_send_confirmation(invite=invite, booking=booking)
    return booking


def selfbook_rebook(
    *, invite: Invite, booking: Booking, slot: Slot, pcn_consent: bool = False
) -> Booking:
    """Change to another time; a PCN slot needs `pcn_consent`, as when booking."""
    new = services.booking_rebook(
        booking=booking, slot=slot, user=None, via=BookedVia.SELF_BOOK, pcn_consent=pcn_consent
    )
    with transaction.atomic():
        Invite.objects.filter(pk=invite.pk).update(booking=new)
        invite.refresh_from_db()
        invite_send_confirmation(invite=invite, booking=new)
    return new


def selfbook_cancel(*, invite: Invite, booking: Booking) -> Booking:
    cancelled = services.booking_cancel(
        booking=booking,
        user=None,
        reason="Cancelled by the patient from their invitation link",
        via=BookedVia.SELF_BOOK,
    )
    invite_send_cancellation(invite=invite, booking=cancelled)
    return cancelled


@transaction.atomic
def selfbook_decline(*, invite: Invite, reason: str, note: str = "") -> None:
    if reason not in DeclineReason.values:
        raise services.BookingError("Choose a reason.")
    if reason == DeclineReason.OTHER and not note.strip():
        raise services.BookingError("Tell us a little about why, or choose another reason.")
    Invite.objects.filter(pk=invite.pk, declined_at__isnull=True).update(
        declined_at=timezone.now(), decline_reason=reason, decline_note=note.strip()[:300]
    )
    audit_record(
        actor=ACTOR,
        action="invite.declined",
        target=invite,
        organisation=invite.campaign.practice,
        details={"reason": reason},
    )
