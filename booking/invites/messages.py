"""Invitation links and the texts of every message to a patient."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ..models import (
    Booking,
    Invite,
    InviteChannel,
    Patient,
)
from ..notify import (
    Message,
)
from ..tokens import token_for_salt

logger = logging.getLogger(__name__)

# --- Links and message texts ------------------------------------------------------------------


def invite_link(invite: Invite) -> str:
    """The patient's link: PUBLIC_BASE_URL/book/<token>/. The token is re-derived
    from the stored salt; it is never stored or logged."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/book/{token_for_salt(invite.token_salt)}/"


def _day(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%A} {local.day} {local:%B}"


def _until(moment: datetime) -> str:
    """When a link stops working: "the end of Tuesday 2 December" at midnight,
    else "15:30 on Tuesday 2 December"."""
    local = timezone.localtime(moment)
    if local.time() == time.min:
        return f"the end of {_day(local - timedelta(days=1))}"
    return f"{local:%H:%M} on {_day(local)}"


def _when(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{_day(local)} at {local:%H:%M}"


def _where(booking: Booking) -> tuple[str, str]:
    name = booking.site_name or booking.campaign.practice.name
    return name, booking.site_address


def _message(
    *,
    invite: Invite,
    kind: str,
    channel: str,
    booking: Booking | None = None,
    reference: str = "",
) -> Message:
    """The text of one message, in plain English. The personalisation fields are
    what GOV.UK Notify's templates use (see booking/notify.py)."""
    campaign = invite.campaign
    practice = campaign.practice.name
    what = campaign.appointment_type
    link = invite_link(invite)
    fields = {"practice_name": practice, "appointment_type": what, "link": link}
    if kind == "invite":
        fields["expires"] = _until(invite.expires_at)
        subject = f"Book your {what} with {practice}"
        pcn_note = (
            " or a nearby PCN site" if campaign.use_pcn_slots and campaign.practice.pcn_id else ""
        )
        body = (
            f"{practice}: you are invited to book your {what}. Choose a time at your "
            f"practice{pcn_note} here: {link}\n"
            f"The link works until {fields['expires']}. If you do not want an appointment, "
            "you can tell us on the same page."
        )
    elif kind == "reminder":
        fields["expires"] = _until(invite.expires_at)
        subject = f"Reminder: book your {what} with {practice}"
        body = (
            f"{practice}: a reminder that you can still book your {what}. Choose a time "
            f"here: {link}\n"
            f"The link works until {fields['expires']}. If you do not want an appointment, "
            "you can tell us on the same page."
        )
    else:
        if booking is None:
            raise ValueError(f"A {kind} message needs the booking.")
        site_name, site_address = _where(booking)
        place = f"{site_name}, {site_address}" if site_address else site_name
        fields.update(when=_when(booking.start), site_name=site_name, site_address=site_address)
        if kind == "confirmation":
            subject = f"Your {what} is booked"
            body = (
                f"{practice}: your {what} is booked for {fields['when']} at {place}.\n"
                f"To cancel or change it, use your link: {link}"
            )
        elif kind == "change":
            subject = f"Your {what} has moved to a new time"
            body = (
                f"{practice}: your {what} has moved. It is now on {fields['when']} at "
                f"{place}. Your earlier time is cancelled.\n"
                f"To cancel or change it, use your link: {link}"
            )
        else:
            subject = f"Your {what} has been cancelled"
            body = (
                f"{practice}: your {what} on {fields['when']} at {place} has been "
                "cancelled. If you still need an appointment, contact your practice."
            )
    return Message(
        kind=kind,
        channel=channel,
        to=_address(invite.patient, channel),
        subject=subject,
        body=body,
        personalisation=fields,
        practice_id=campaign.practice_id,
        invite_id=invite.pk,
        reference=reference or f"invite-{invite.pk}-{kind}",
    )


def _address(patient: Patient, channel: str) -> str:
    return patient.mobile if channel == InviteChannel.SMS else patient.email


def _channel_for(patient: Patient | Mapping[str, Any], preferred: str) -> str | None:
    """The campaign's channel, or the other one when the patient lacks it."""
    if isinstance(patient, Patient):
        mobile, email = patient.mobile, patient.email
    else:
        mobile, email = patient["mobile"], patient["email"]
    available = {InviteChannel.SMS: bool(mobile), InviteChannel.EMAIL: bool(email)}
    if available.get(InviteChannel(preferred)):
        return preferred
    for channel, ok in available.items():
        if ok:
            return channel.value
    return None


def _channel_now(invite: Invite) -> str:
    """For later messages: the invite's channel, or the other one if the patient's
    details changed since."""
    return _channel_for(invite.patient, invite.channel) or invite.channel
