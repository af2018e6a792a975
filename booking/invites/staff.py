"""Non-responders, call outcomes, and the counts and pages staff see."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Q, QuerySet
from django.utils import timezone

from hippo_pcn.audit.services import audit_record
from hippo_pcn.organisations.models import Organisation

from ..models import (
    Booking,
    BookingStatus,
    CallOutcome,
    Campaign,
    DeliveryStatus,
    Invite,
)
from ..notify import (
    demo_messages_for_practice,
)
from ..tokens import token_for_salt
from .common import SETTLED_OUTCOMES, _now
from .eligibility import _booked
from .reminders import _last_message_at
from .sending import _ensure_may_invite
from .waves import WavePlan, campaign_invite_state, campaign_state_since

logger = logging.getLogger(__name__)

# --- Non-responders and call outcomes -------------------------------------------------------------


def non_responders(
    *, campaign: Campaign, now: datetime | None = None, include_called: bool = False
) -> QuerySet[Invite]:
    """Patients to phone: every reminder sent and the interval since the last one
    passed with no answer, or the invitation could not be delivered at all. By
    default, those already phoned with a final outcome are left out; "no answer"
    stays on the list."""
    now = _now(now)
    interval = timedelta(days=campaign.chaser_interval_days)
    base = Invite.objects.filter(campaign=campaign, used_at__isnull=True, declined_at__isnull=True)
    booked = _booked(campaign, "patient_id")
    chased_out = Q(
        delivery_status=DeliveryStatus.SENT,
        reminders_sent__gte=campaign.chaser_count,
        last_message_at__lte=now - interval,
    )
    undeliverable = Q(delivery_status=DeliveryStatus.FAILED)
    found = (
        base.annotate(last_message_at=_last_message_at())
        .filter(chased_out | undeliverable)
        .exclude(Exists(booked))
        .select_related("patient", "call_outcome_by")
        .order_by("patient__last_name", "patient__first_name", "pk")
    )
    if not include_called:
        found = found.exclude(call_outcome__in=SETTLED_OUTCOMES)
    return found


@transaction.atomic
def invite_record_call_outcome(*, invite: Invite, outcome: str, user: Any) -> Invite:
    """Record what happened when staff phoned a non-responder. "Declined" also
    marks the invitation declined, so nothing more is sent."""
    _ensure_may_invite(campaign=invite.campaign, user=user)
    if outcome not in CallOutcome.values:
        raise ValidationError({"outcome": "Choose what happened on the call."})
    now = timezone.now()
    fields: dict[str, Any] = {
        "call_outcome": outcome,
        "call_outcome_by": user,
        "call_outcome_at": now,
    }
    Invite.objects.filter(pk=invite.pk).update(**fields)
    if outcome == CallOutcome.DECLINED:
        Invite.objects.filter(pk=invite.pk, declined_at__isnull=True).update(declined_at=now)
    invite.refresh_from_db()
    audit_record(
        actor=user,
        action="invite.call_outcome",
        target=invite,
        organisation=invite.campaign.practice,
        details={"outcome": outcome, "patient_id": invite.patient_id},
    )
    return invite


# --- Counts and pages for staff -----------------------------------------------------------------


@dataclass(frozen=True)
class InviteCounts:
    invited: int
    queued: int
    delivered: int
    failed: int
    booked_practice: int
    booked_pcn: int
    declined: int
    cancelled: int
    not_yet_booked: int
    non_responders: int

    @property
    def booked(self) -> int:
        return self.booked_practice + self.booked_pcn


def campaign_invite_counts(*, campaign: Campaign, now: datetime | None = None) -> InviteCounts:
    """The campaign's figures for staff (four queries)."""
    invites = Invite.objects.filter(campaign=campaign).aggregate(
        invited=Count("pk"),
        queued=Count("pk", filter=Q(delivery_status=DeliveryStatus.QUEUED)),
        delivered=Count("pk", filter=Q(delivery_status=DeliveryStatus.SENT)),
        failed=Count("pk", filter=Q(delivery_status=DeliveryStatus.FAILED)),
        declined=Count("pk", filter=Q(declined_at__isnull=False)),
    )
    bookings = Booking.objects.filter(campaign=campaign).aggregate(
        practice=Count("pk", filter=Q(status=BookingStatus.BOOKED, is_pcn=False)),
        pcn=Count("pk", filter=Q(status=BookingStatus.BOOKED, is_pcn=True)),
        # A rebooking cancels the old appointment: that is a move, not a cancellation.
        cancelled=Count("pk", filter=Q(status=BookingStatus.CANCELLED, replaced_by__isnull=True)),
    )
    not_yet = (
        Invite.objects.filter(campaign=campaign, declined_at__isnull=True)
        .exclude(call_outcome__in=SETTLED_OUTCOMES)
        .exclude(Exists(_booked(campaign, "patient_id")))
        .count()
    )
    return InviteCounts(
        invited=invites["invited"],
        queued=invites["queued"],
        delivered=invites["delivered"],
        failed=invites["failed"],
        booked_practice=bookings["practice"],
        booked_pcn=bookings["pcn"],
        declined=invites["declined"],
        cancelled=bookings["cancelled"],
        not_yet_booked=not_yet,
        non_responders=non_responders(campaign=campaign, now=now).count(),
    )


@dataclass(frozen=True)
class InvitePanel:
    """What the campaign page's Invitations panel shows."""

    campaign: Campaign
    counts: InviteCounts
    state: WavePlan
    demo_messages: bool
    # Since when the campaign has been in `state` (recorded by the waves), if known.
    state_since: datetime | None = None


def campaign_invite_panel(*, campaign: Campaign) -> InvitePanel:
    state = campaign_invite_state(campaign=campaign)
    return InvitePanel(
        campaign=campaign,
        counts=campaign_invite_counts(campaign=campaign),
        state=state,
        demo_messages=bool(settings.DEMO_MODE),
        state_since=campaign_state_since(campaign=campaign, plan=state),
    )


INVITE_FILTERS = {
    "": Q(),
    "queued": Q(delivery_status=DeliveryStatus.QUEUED),
    "sent": Q(delivery_status=DeliveryStatus.SENT),
    "failed": Q(delivery_status=DeliveryStatus.FAILED),
    "declined": Q(declined_at__isnull=False),
    "booked": Q(used_at__isnull=False),
}


def invites_for_campaign(*, campaign: Campaign, status: str = "") -> QuerySet[Invite]:
    """A campaign's invitations, newest first, with their patients (no tokens)."""
    return (
        Invite.objects.filter(campaign=campaign)
        .filter(INVITE_FILTERS.get(status, Q()))
        .select_related("patient", "booking")
        .defer("token_salt", "token_hash")
        .order_by("-created_at", "-pk")
    )


def demo_messages_with_recipients(*, practice: Organisation) -> list[dict[str, Any]]:
    """The demo's messages of one practice (newest first), each with the patient
    and campaign it went to, so the demo's user knows whose date of birth opens
    its link. The message file outlives a reset demo database, so a message is
    matched to its invitation only when it carries that invitation's own link."""
    items = demo_messages_for_practice(practice_id=practice.pk)
    found = Invite.objects.filter(campaign__practice=practice).select_related("patient", "campaign")
    invites = found.in_bulk(
        [item["invite_id"] for item in items if isinstance(item.get("invite_id"), int)]
    )
    for item in items:
        invite = invites.get(item.get("invite_id"))  # type: ignore[arg-type]
        if invite is not None and token_for_salt(invite.token_salt) in str(item.get("body")):
            item["patient"] = invite.patient
            item["campaign"] = invite.campaign.name
    return items
