"""Reminders (chasers) to patients who have not answered."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from hippo_pcn.audit.services import audit_record
from hippo_pcn.outbox.services import outbox_enqueue_many

from ..models import (
    Campaign,
    CampaignPatient,
    DeliveryStatus,
    Invite,
)
from ..notify import (
    NotifyPermanentError,
    NotifyTransientError,
)
from .common import (
    REMINDER_ACTOR,
    REMINDER_CLAIM_STALE_AFTER,
    SEND_REMINDER_TASK,
    SETTLED_OUTCOMES,
    _now,
)
from .eligibility import _booked, invite_expiry
from .messages import _channel_now, _message
from .send_once import _send_once
from .sending import (
    _booked_patients,
    _ensure_may_invite,
    _mark,
    _not_sendable_reason,
    in_sending_hours,
)
from .waves import _hours_text

logger = logging.getLogger(__name__)

# --- Reminders (chasers) ----------------------------------------------------------------------


def _last_message_at() -> Any:
    from django.db.models.functions import Coalesce

    return Coalesce("last_reminder_at", "sent_at")


def _awaiting_answer(campaign: Campaign) -> QuerySet[Invite]:
    """Sent invitations with no answer: not booked (by link, by staff or by
    phone), not declined, the patient not opted out and still on the campaign's
    list (a patient removed from it is reminded of nothing)."""
    booked = _booked(campaign, "patient_id")
    on_list = CampaignPatient.objects.filter(campaign=campaign, patient_id=OuterRef("patient_id"))
    return (
        Invite.objects.filter(
            Exists(on_list),
            campaign=campaign,
            delivery_status=DeliveryStatus.SENT,
            used_at__isnull=True,
            declined_at__isnull=True,
            patient__opted_out_of_messages=False,
        )
        .exclude(call_outcome__in=SETTLED_OUTCOMES)
        .exclude(Exists(booked))
        .annotate(last_message_at=_last_message_at())
    )


def invites_due_reminder(
    *, campaign: Campaign, now: datetime | None = None, min_gap: timedelta | None = None
) -> QuerySet[Invite]:
    """Invitations due a reminder: no answer, fewer reminders sent than the
    campaign's chaser count, the last message at least `min_gap` ago (the
    campaign's interval by default), no reminder queued and not settled yet, and
    no reminder failed for good within that gap."""
    now = _now(now)
    gap = min_gap if min_gap is not None else timedelta(days=campaign.chaser_interval_days)
    return _awaiting_answer(campaign).filter(
        Q(last_message_at__lte=now - gap),
        Q(reminder_queued_at__isnull=True)
        | Q(reminder_queued_at__lt=now - REMINDER_CLAIM_STALE_AFTER),
        Q(reminder_failed_at__isnull=True) | Q(reminder_failed_at__lte=now - gap),
        reminders_sent__lt=campaign.chaser_count,
    )


@dataclass(frozen=True)
class ReminderResult:
    queued: int
    reason: str = ""


@transaction.atomic
def invites_send_reminders(
    *,
    campaign: Campaign,
    now: datetime | None = None,
    user: Any = None,
    min_gap: timedelta | None = None,
) -> ReminderResult:
    """Queue the reminders that are due (beat), or, from staff ("Send reminders
    now"), reminders to everyone not answered whose last message is at least
    INVITE_MANUAL_REMINDER_MIN_GAP_HOURS old. Each reminder is claimed once
    (compare-and-swap on `reminder_queued_at`) and its send task written to the
    outbox in the same transaction; it extends the link's expiry (never past the
    campaign's end) and is sent inside sending hours only. It counts as sent
    (`reminders_sent`, `last_reminder_at`) only when the send task has sent it."""
    now = _now(now)
    if user is not None:
        _ensure_may_invite(campaign=campaign, user=user)
        if min_gap is None:
            min_gap = timedelta(hours=settings.INVITE_MANUAL_REMINDER_MIN_GAP_HOURS)
    if not campaign.is_active:
        return ReminderResult(0, "The campaign is not active.")
    if now >= campaign.full_window()[1]:
        return ReminderResult(0, "The campaign is over.")
    if campaign.chaser_count == 0:
        return ReminderResult(0, "This campaign sends no reminders.")
    if not in_sending_hours(campaign=campaign, now=now):
        return ReminderResult(
            0, f"Reminders are sent between {_hours_text(campaign)} only. Try again then."
        )
    expires_at = invite_expiry(campaign=campaign, now=now)
    claimed: list[list[int]] = []
    due = invites_due_reminder(campaign=campaign, now=now, min_gap=min_gap).values_list(
        "pk", "reminders_sent", "reminder_queued_at"
    )
    for invite_id, number, queued_at in due:
        if Invite.objects.filter(
            pk=invite_id, reminders_sent=number, reminder_queued_at=queued_at
        ).update(reminder_queued_at=now, expires_at=expires_at):
            claimed.append([invite_id, number + 1])
    if claimed:
        outbox_enqueue_many(task=SEND_REMINDER_TASK, args_list=claimed)
        audit_record(
            actor=user if user is not None else REMINDER_ACTOR,
            action="invites.reminders_queued",
            target=campaign,
            organisation=campaign.practice,
            details={"queued": len(claimed)},
        )
    return ReminderResult(len(claimed), "" if claimed else "No patient is due a reminder.")


def reminder_send(
    *, invite_id: int, number: int, attempt: int = 1, final_attempt: bool = True
) -> bool:
    """Send reminder `number` of an invitation (the task's body), once. Skipped when
    it was sent already, or the patient answered or opted out meanwhile (the claim
    is released). Sent: it counts in `reminders_sent` and `last_reminder_at`, in the
    transaction that marks its send record sent. Transient failures propagate for
    the task to retry, until the final attempt, which releases the claim: the next
    round queues it again. A permanent failure (a bad number) is recorded, and the
    next try waits the campaign's interval."""
    invite = (
        Invite.objects.select_related("campaign", "campaign__practice", "patient")
        .filter(pk=invite_id)
        .first()
    )
    if invite is None or invite.reminders_sent >= number:
        return False
    if invite.reminders_sent != number - 1 or _not_sendable_reason(
        invite, _booked_patients([invite])
    ):
        _mark(invite.pk, reminder_queued_at=None)
        return False

    def sent(provider_id: str) -> None:
        Invite.objects.filter(pk=invite.pk, reminders_sent=number - 1).update(
            reminders_sent=number,
            last_reminder_at=timezone.now(),
            reminder_queued_at=None,
            reminder_failed_at=None,
        )

    channel = _channel_now(invite)
    try:
        _send_once(
            key=f"reminder:{invite.pk}:{number}",
            kind="reminder",
            invite=invite,
            number=number,
            build=lambda reference: _message(
                invite=invite, kind="reminder", channel=channel, reference=reference
            ),
            on_sent=sent,
        )
    except NotifyPermanentError as exc:
        _mark(
            invite.pk,
            delivery_error=f"Reminder {number} not sent: {exc.reason}"[:300],
            reminder_queued_at=None,
            reminder_failed_at=timezone.now(),
        )
        logger.warning("Reminder %s of invite %s not sent: %s", number, invite.pk, exc.reason)
        return False
    except NotifyTransientError as exc:
        if not final_attempt:
            raise
        _mark(
            invite.pk,
            delivery_error=f"Reminder {number} not sent after {attempt} tries: {exc.reason}"[:300],
            reminder_queued_at=None,
        )
        logger.warning("Reminder %s of invite %s not sent: %s", number, invite.pk, exc.reason)
        return False
    return True
