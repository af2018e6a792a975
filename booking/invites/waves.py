"""Invitation waves matched to the free slots, and the campaign's sending state."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.db.models import Exists, QuerySet
from django.utils import timezone

from hippo_pcn.audit.services import audit_record

from ..models import (
    Campaign,
    CampaignPatient,
    CampaignStatus,
    Invite,
    SendingState,
)
from ..selectors import campaign_offerable_slots
from .common import OPEN_DELIVERY, SETTLED_OUTCOMES, WAVE_ACTOR, _now
from .eligibility import _booked, eligible_patients
from .sending import _ensure_may_invite, _insert_invites, _lock_campaign, in_sending_hours

logger = logging.getLogger(__name__)

# --- Waves matched to capacity ----------------------------------------------------------------

STATE_SENDING = SendingState.SENDING.value
STATE_PAUSED = SendingState.PAUSED.value
STATE_DONE = SendingState.DONE.value
# The audit action of each change of state: the history behind Campaign.sending_state.
WAVE_STATE_ACTION = "invites.wave_state"

REASON_NOT_ACTIVE = "campaign not active"
REASON_ENDED = "campaign over"
REASON_EVERYONE_INVITED = "everyone invited"
REASON_NO_PATIENTS = "no patients yet"
REASON_NO_SLOTS = "no free slots"
REASON_HOURS = "waiting for sending hours"
REASON_CAP = "daily cap reached"
REASON_ENOUGH_OUT = "enough invitations out"
REASON_INVITING = "inviting"


@dataclass(frozen=True)
class WavePlan:
    """What a wave would do now, and why. `to_invite` is how many patients it
    invites (0 when paused)."""

    state: str
    reason: str
    detail: str
    free_slots: int = 0
    open_invites: int = 0
    invited_today: int = 0
    eligible: int = 0
    to_invite: int = 0

    @property
    def label(self) -> str:
        if self.state == STATE_PAUSED:
            return f"Paused: {self.reason}"
        if self.state == STATE_DONE:
            return f"Done: {self.reason}"
        return "Sending"


def open_invites(*, campaign: Campaign, now: datetime | None = None) -> QuerySet[Invite]:
    """Invitations still waiting for an answer: queued or sent, not used to book,
    not declined, not expired, the patient not booked some other way."""
    booked = _booked(campaign, "patient_id")
    return (
        Invite.objects.filter(
            campaign=campaign,
            delivery_status__in=OPEN_DELIVERY,
            used_at__isnull=True,
            declined_at__isnull=True,
            expires_at__gt=_now(now),
        )
        .exclude(call_outcome__in=SETTLED_OUTCOMES)
        .exclude(Exists(booked))
    )


def _local_midnight(now: datetime) -> datetime:
    """The start of `now`'s local (Europe/London) day: when the daily cap starts again."""
    return timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))


def _hours_text(campaign: Campaign) -> str:
    """ "09:00 and 19:00": what follows "between" in the messages below."""
    return f"{campaign.sending_from:%H:%M} and {campaign.sending_until:%H:%M}"


def campaign_wave_plan(*, campaign: Campaign, now: datetime | None = None) -> WavePlan:
    """The campaign's sending state and what its next wave would send."""
    now = _now(now)
    if campaign.status == CampaignStatus.CLOSED:
        return WavePlan(STATE_DONE, REASON_ENDED, "The campaign is closed.")
    _, end = campaign.full_window()
    if now >= end:
        return WavePlan(STATE_DONE, REASON_ENDED, "The campaign's last day has passed.")
    if not campaign.is_active:
        return WavePlan(
            STATE_PAUSED,
            REASON_NOT_ACTIVE,
            "The campaign is a draft: make it active to send invitations.",
        )
    eligible = eligible_patients(campaign=campaign).count()
    if eligible == 0 and not CampaignPatient.objects.filter(campaign=campaign).exists():
        return WavePlan(
            STATE_PAUSED,
            REASON_NO_PATIENTS,
            "There are no patients on the campaign yet. Add patients and invitations go "
            "out to them.",
        )
    if eligible == 0:
        return WavePlan(
            STATE_DONE,
            REASON_EVERYONE_INVITED,
            "Every patient on the campaign who can be invited has been. Reminders carry on.",
        )
    free = campaign_offerable_slots(campaign=campaign).count()
    if free == 0:
        return WavePlan(
            STATE_PAUSED,
            REASON_NO_SLOTS,
            "There are no free slots to book, so no more invitations are sent. Sending "
            "resumes by itself when slots appear.",
            eligible=eligible,
        )
    open_count = open_invites(campaign=campaign, now=now).count()
    invited_today = Invite.objects.filter(
        campaign=campaign, created_at__gte=_local_midnight(now)
    ).count()
    wanted = math.ceil(free * campaign.invites_per_free_slot) - open_count
    counts = {
        "free_slots": free,
        "open_invites": open_count,
        "invited_today": invited_today,
        "eligible": eligible,
    }
    if not in_sending_hours(campaign=campaign, now=now):
        return WavePlan(
            STATE_PAUSED,
            REASON_HOURS,
            f"Invitations are sent between {_hours_text(campaign)} only; they go out "
            "automatically from then.",
            **counts,
        )
    left_today = campaign.daily_invite_cap - invited_today
    if left_today <= 0:
        return WavePlan(
            STATE_PAUSED,
            REASON_CAP,
            f"{invited_today} invitations went today, the most allowed per day "
            f"({campaign.daily_invite_cap}). More go tomorrow.",
            **counts,
        )
    if wanted <= 0:
        return WavePlan(
            STATE_SENDING,
            REASON_ENOUGH_OUT,
            f"{open_count} invitations are waiting for an answer for {free} free slots. "
            "More go as patients book, decline or their links expire.",
            **counts,
        )
    to_invite = min(wanted, left_today, eligible)
    return WavePlan(
        STATE_SENDING,
        REASON_INVITING,
        f"{free} free slots: up to {to_invite} more invitations can go now.",
        to_invite=to_invite,
        **counts,
    )


def campaign_invite_state(*, campaign: Campaign, now: datetime | None = None) -> WavePlan:
    """Sending / paused (why) / done, for staff pages."""
    return campaign_wave_plan(campaign=campaign, now=now)


def _as_recorded(plan: WavePlan) -> tuple[str, str]:
    """(state, reason) as Campaign.sending_state/sending_reason hold them: no reason
    while sending (why it sends, "inviting" or "enough out", is not a change)."""
    return plan.state, "" if plan.state == STATE_SENDING else plan.reason


def campaign_state_since(*, campaign: Campaign, plan: WavePlan) -> datetime | None:
    """Since when the campaign has been in the plan's state, as the last wave
    recorded it on the campaign; None when the recorded state is another (the
    next wave records the change) or no wave has run yet."""
    if (campaign.sending_state, campaign.sending_reason) != _as_recorded(plan):
        return None
    return campaign.sending_state_since


@dataclass(frozen=True)
class WaveResult:
    plan: WavePlan
    invited: int


def _record_state(*, campaign: Campaign, plan: WavePlan, actor: Any) -> None:
    """Record each change of the campaign's sending state (paused and why, resumed,
    done) on the campaign, with an audit entry for the history, in the caller's
    transaction and under its lock on the campaign. While sending, waves that find
    enough invitations out are not a change."""
    stored = (
        Campaign.objects.filter(pk=campaign.pk)
        .values_list("sending_state", "sending_reason")
        .first()
    )
    state, reason = _as_recorded(plan)
    if stored == (state, reason):
        return
    entry = audit_record(
        actor=actor,
        action=WAVE_STATE_ACTION,
        target=campaign,
        organisation=campaign.practice,
        details={
            "state": state,
            "reason": reason,
            "free_slots": plan.free_slots,
            "open": plan.open_invites,
        },
    )
    fields = {
        "sending_state": state,
        "sending_reason": reason,
        "sending_state_since": entry.created_at,
    }
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    for name, value in fields.items():
        setattr(campaign, name, value)


@transaction.atomic
def campaign_send_wave(
    *, campaign: Campaign, now: datetime | None = None, user: Any = None
) -> WaveResult:
    """Invite the next patients, as many as the free slots call for (free slots
    across the campaign's live sources × invites per free slot, less the
    invitations still open), at most the daily cap, inside sending hours only.
    Records (audits) when the campaign pauses or resumes and why. Run by beat for
    every active campaign, and by staff ("Invite all eligible patients")."""
    now = _now(now)
    if user is not None:
        _ensure_may_invite(campaign=campaign, user=user)
    actor = user if user is not None else WAVE_ACTOR
    _lock_campaign(campaign)
    plan = campaign_wave_plan(campaign=campaign, now=now)
    _record_state(campaign=campaign, plan=plan, actor=actor)
    if plan.to_invite <= 0:
        return WaveResult(plan, 0)
    rows = list(
        eligible_patients(campaign=campaign).values("pk", "mobile", "email")[: plan.to_invite]
    )
    created = _insert_invites(campaign=campaign, rows=rows, now=now)
    audit_record(
        actor=actor,
        action="invites.created",
        target=campaign,
        organisation=campaign.practice,
        details={
            "created": len(created),
            "via": "wave",
            "free_slots": plan.free_slots,
            "open_before": plan.open_invites,
        },
    )
    logger.info(
        "Campaign %s wave: %s invited (%s free slots, %s open)",
        campaign.pk,
        len(created),
        plan.free_slots,
        plan.open_invites,
    )
    return WaveResult(plan, len(created))
