"""The public self-booking flow behind an invitation link: find the invite from
its token, check the patient's date of birth (a second factor beside the link,
locked after too many failures), then book, cancel, move or decline through the
same booking service staff use."""

from __future__ import annotations

import hmac
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from hippo_pcn.audit.services import audit_record, system_actor

from . import services
from .invites import invite_send_cancellation, invite_send_confirmation
from .models import BookedVia, Booking, BookingStatus, DeclineReason, Invite, Slot
from .selectors import LONDON, campaign_offerable_slots
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


# --- the slot list, a range of days at a time -------------------------------------------

# A page shows the free times of up to PAGE_MAX_DAYS days that have any, and stops
# adding days once it holds PAGE_MAX_SLOTS times; a day is never split across pages.
PAGE_MAX_DAYS = 7
PAGE_MAX_SLOTS = 300

DayCounts = Sequence[tuple[date, int]]


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


@dataclass(frozen=True)
class DayPages:
    """The days a page shows, and the pages its "Earlier" and "Later" links open."""

    days: DayRange | None
    earlier: DayRange | None = None
    later: DayRange | None = None


@dataclass(frozen=True)
class SlotPage:
    """One page of a link's free times: whole days, in time order."""

    slots: list[Slot]
    days: DayRange | None
    earlier: DayRange | None
    later: DayRange | None


def _forward_end(day_counts: DayCounts, start: int) -> int:
    """The index just after the last day of the page that begins at `start`."""
    end, slots = start, 0
    while end < len(day_counts) and end - start < PAGE_MAX_DAYS:
        count = day_counts[end][1]
        if end > start and slots + count > PAGE_MAX_SLOTS:
            break
        end, slots = end + 1, slots + count
    return end


def _backward_start(day_counts: DayCounts, end: int) -> int:
    """The index of the first day of the page that ends just before `end`."""
    start, slots = end, 0
    while start > 0 and end - start < PAGE_MAX_DAYS:
        count = day_counts[start - 1][1]
        if start < end and slots + count > PAGE_MAX_SLOTS:
            break
        start, slots = start - 1, slots + count
    return start


def day_pages(
    day_counts: DayCounts, *, starting: date | None = None, keep_in_view: Sequence[date] = ()
) -> DayPages:
    """Which days with free times (in order, with their counts) a page shows.

    The page begins on the first free day on or after `starting`: the first free
    day of all when `starting` is None or no free day follows it (a date in the
    past, or after the campaign). It begins on the first of `keep_in_view` instead
    when it would not show all of them. "Later" begins the day after the page
    ends and "earlier" ends the day before it begins, so each link always moves
    on, even when days before changed since it was drawn (a day filled up, or
    today's last time passed)."""
    if not day_counts:
        return DayPages(None)
    days = [day for day, _ in day_counts]

    def page_from(anchor: date | None) -> tuple[int, int]:
        start = bisect_left(days, anchor) if anchor is not None else 0
        start = start if start < len(days) else 0
        return start, _forward_end(day_counts, start)

    def span(start: int, end: int) -> DayRange:
        return DayRange(days[start], days[end - 1])

    start, end = page_from(starting)
    if keep_in_view and not all(day in span(start, end) for day in keep_in_view):
        start, end = page_from(min(keep_in_view))
    earlier = None
    if start > 0:
        # Named by the days its link shows: a page that begins where this one's
        # earlier page begins.
        earlier_start = _backward_start(day_counts, start)
        earlier = span(earlier_start, _forward_end(day_counts, earlier_start))
    later = span(end, _forward_end(day_counts, end)) if end < len(days) else None
    return DayPages(span(start, end), earlier=earlier, later=later)


def parse_page_start(value: str | None) -> date | None:
    """The `from` query value: a date (YYYY-MM-DD), or None for anything else."""
    if not value or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def slot_page(
    *, invite: Invite, starting: date | None = None, keep_in_view: Sequence[date] = ()
) -> SlotPage:
    """The free times of the page that begins at `starting` (see `day_pages`).
    Two queries, however many slots or pages: the free times a day, then the
    page's own."""
    slots = bookable_slots(invite=invite)
    day_counts = [
        (row["day"], row["n"])
        for row in slots.order_by()
        .annotate(day=TruncDate("start", tzinfo=LONDON))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    ]
    pages = day_pages(day_counts, starting=starting, keep_in_view=keep_in_view)
    if pages.days is None:
        return SlotPage(slots=[], days=None, earlier=None, later=None)
    start = datetime.combine(pages.days.first, time.min, tzinfo=LONDON)
    end = datetime.combine(pages.days.last + timedelta(days=1), time.min, tzinfo=LONDON)
    return SlotPage(
        slots=list(slots.filter(start__gte=start, start__lt=end)),
        days=pages.days,
        earlier=pages.earlier,
        later=pages.later,
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
