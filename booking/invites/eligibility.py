"""Who may be invited to a campaign, and why others are skipped."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from ..models import (
    Booking,
    Campaign,
    CampaignPatient,
    Invite,
    Patient,
)
from .common import _now

logger = logging.getLogger(__name__)

# --- Who may be invited ------------------------------------------------------------------------


def campaign_full_window(campaign: Campaign) -> tuple[datetime, datetime]:
    """[first day 00:00, day after the last day 00:00) in Europe/London: the
    name callers have used for Campaign.full_window."""
    return campaign.full_window()


def invite_expiry(*, campaign: Campaign, now: datetime | None = None) -> datetime:
    """now + the campaign's link validity, never after the end of its last day."""
    _, end = campaign.full_window()
    return min(_now(now) + timedelta(days=campaign.invite_expiry_days), end)


def _booked_for(campaign: Campaign) -> QuerySet[Booking]:
    """Active bookings that count as "already booked" for this campaign: in it,
    or in its dates at the practice."""
    start, end = campaign.full_window()
    return Booking.objects.active().filter(
        Q(campaign=campaign) | Q(practice_id=campaign.practice_id, start__gte=start, start__lt=end)
    )


def _booked(campaign: Campaign, patient_ref: str = "pk") -> QuerySet[Booking]:
    """_booked_for(campaign) of the patient OuterRef(patient_ref)."""
    return _booked_for(campaign).filter(patient_id=OuterRef(patient_ref))


def eligible_patients(*, campaign: Campaign) -> QuerySet[Patient]:
    """The campaign's patients who may be invited now, longest on the list first:
    not invited in this campaign yet, not booked in its dates, not opted out of
    messages, with a mobile number or email address."""
    return (
        Patient.objects.filter(
            practice_id=campaign.practice_id,
            opted_out_of_messages=False,
        )
        .annotate(
            on_campaign=Exists(
                CampaignPatient.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))
            ),
            invited=Exists(Invite.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))),
            booked=Exists(_booked(campaign)),
        )
        .filter(on_campaign=True, invited=False, booked=False)
        .exclude(mobile="", email="")
        .order_by("pk")
    )


SKIP_REASONS = {
    "not_on_campaign": "not on the campaign's list",
    "booked": "already booked",
    "declined": "declined",
    "already_invited": "already invited",
    "opted_out": "opted out of messages",
    "no_contact": "no mobile number or email address",
}


def _classify_for_invite(
    *, campaign: Campaign, patient_ids: list[int]
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Split patients into those to invite and the skipped, counted by reason."""
    rows = (
        Patient.objects.filter(pk__in=patient_ids)
        .annotate(
            on_campaign=Exists(
                CampaignPatient.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))
            ),
            invited=Exists(Invite.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))),
            declined=Exists(
                Invite.objects.filter(
                    campaign=campaign, patient_id=OuterRef("pk"), declined_at__isnull=False
                )
            ),
            booked=Exists(_booked(campaign)),
        )
        .values(
            "pk",
            "practice_id",
            "mobile",
            "email",
            "opted_out_of_messages",
            "on_campaign",
            "invited",
            "declined",
            "booked",
        )
        .order_by("pk")
    )
    to_invite: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for row in rows:
        if row["practice_id"] != campaign.practice_id or not row["on_campaign"]:
            skipped["not_on_campaign"] += 1
        elif row["booked"]:
            skipped["booked"] += 1
        elif row["declined"]:
            skipped["declined"] += 1
        elif row["invited"]:
            skipped["already_invited"] += 1
        elif row["opted_out_of_messages"]:
            skipped["opted_out"] += 1
        elif not (row["mobile"] or row["email"]):
            skipped["no_contact"] += 1
        else:
            to_invite.append(row)
    return to_invite, skipped
