"""Creating invitations and sending them, each once."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from hippo_pcn.audit.services import audit_record
from hippo_pcn.outbox.services import outbox_enqueue_many

from ..models import (
    Campaign,
    DeliveryStatus,
    Invite,
    MessageSend,
    MessageSendStatus,
    Patient,
)
from ..notify import (
    Backend,
    NotifyOutcomeUnknown,
    NotifyPermanentError,
    NotifyTransientError,
    get_backend,
)
from ..selectors import campaigns_for_user
from ..tokens import new_token_fields
from .common import (
    INSERT_BATCH_SIZE,
    SEND_INVITES_TASK,
    SEND_LEASE_SECONDS,
    STALE_QUEUED_AFTER,
    _batch_size,
    _now,
)
from .eligibility import SKIP_REASONS, _booked_for, _classify_for_invite, invite_expiry
from .messages import _channel_for, _message
from .send_once import _send_once

logger = logging.getLogger(__name__)

# --- Creating invitations ----------------------------------------------------------------------


@dataclass(frozen=True)
class InviteCreateResult:
    created: int
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skipped_text(self) -> str:
        return ", ".join(f"{n} {SKIP_REASONS[k]}" for k, n in sorted(self.skipped.items()) if n)


def _queue_send(invite_ids: list[int]) -> None:
    """Queue the send task in batches through the outbox: written in this
    transaction, published once it commits (or by the relay, if the broker is down)."""
    if not invite_ids:
        return
    size = _batch_size()
    batches = [invite_ids[i : i + size] for i in range(0, len(invite_ids), size)]
    outbox_enqueue_many(task=SEND_INVITES_TASK, args_list=[[batch] for batch in batches])


def _insert_invites(
    *, campaign: Campaign, rows: Iterable[Mapping[str, Any]], now: datetime
) -> list[int]:
    expires_at = invite_expiry(campaign=campaign, now=now)
    invites = []
    for row in rows:
        channel = _channel_for(row, campaign.invite_channel)
        if channel is None:
            continue
        invites.append(
            Invite(
                campaign=campaign,
                patient_id=row["pk"],
                channel=channel,
                delivery_status=DeliveryStatus.QUEUED,
                expires_at=expires_at,
                **new_token_fields(),
            )
        )
    created = Invite.objects.bulk_create(invites, batch_size=INSERT_BATCH_SIZE)
    ids = [invite.pk for invite in created]
    _queue_send(ids)
    return ids


def _lock_campaign(campaign: Campaign) -> None:
    """Serialise invitation writes per campaign (waves, staff, reminders)."""
    Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("pk").first()


def _ensure_may_invite(*, campaign: Campaign, user: Any) -> None:
    if not campaigns_for_user(user=user).filter(pk=campaign.pk).exists():
        raise ValidationError("You cannot invite patients to this campaign.")


@transaction.atomic
def invites_create(
    *, campaign: Campaign, patients: Iterable[Patient] | QuerySet[Patient], user: Any
) -> InviteCreateResult:
    """Invite the given patients of the campaign (selected ones, or all). Skips
    those already invited, booked in the campaign's dates, who declined, opted out
    or have no mobile number or email; returns how many were invited and skipped
    by reason. Sending is queued once the invitations are committed, and happens
    inside the campaign's sending hours. This does not apply the wave's capacity
    rules: staff chose these patients."""
    _ensure_may_invite(campaign=campaign, user=user)
    if not campaign.is_active:
        raise ValidationError("Only an active campaign can send invitations.")
    if isinstance(patients, QuerySet):
        patient_ids = list(patients.values_list("pk", flat=True))
    else:
        patient_ids = [p.pk for p in patients]
    _lock_campaign(campaign)
    rows, skipped = _classify_for_invite(campaign=campaign, patient_ids=patient_ids)
    created = _insert_invites(campaign=campaign, rows=rows, now=timezone.now())
    audit_record(
        actor=user,
        action="invites.created",
        target=campaign,
        organisation=campaign.practice,
        details={"created": len(created), "skipped": dict(skipped), "via": "staff"},
    )
    return InviteCreateResult(len(created), dict(skipped))


# --- Sending invitations ----------------------------------------------------------------------


def in_sending_hours(*, campaign: Campaign, now: datetime | None = None) -> bool:
    """Inside [sending_from, sending_until) in Europe/London (wrapping midnight
    when from is after until)."""
    local = timezone.localtime(_now(now)).time()
    start, end = campaign.sending_from, campaign.sending_until
    if start <= end:
        return start <= local < end
    return local >= start or local < end


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    retry: int = 0
    held: int = 0
    retry_reasons: list[str] = field(default_factory=list)


def _booked_patients(invites: list[Invite]) -> set[tuple[int, int]]:
    """(campaign id, patient id) of these invitations' patients who are already
    booked for their campaign (one query per campaign)."""
    by_campaign: dict[int, list[Invite]] = {}
    for invite in invites:
        by_campaign.setdefault(invite.campaign_id, []).append(invite)
    found: set[tuple[int, int]] = set()
    for campaign_id, group in by_campaign.items():
        patient_ids = (
            _booked_for(group[0].campaign)
            .filter(patient_id__in=[i.patient_id for i in group])
            .values_list("patient_id", flat=True)
        )
        found |= {(campaign_id, patient_id) for patient_id in patient_ids}
    return found


def _not_sendable_reason(invite: Invite, booked: set[tuple[int, int]]) -> str:
    if not invite.campaign.is_active:
        return "Not sent: the campaign is no longer active."
    if invite.patient.opted_out_of_messages:
        return "Not sent: the patient opted out of messages."
    if invite.declined_at is not None or invite.used_at is not None:
        return "Not sent: the patient has already responded."
    if (invite.campaign_id, invite.patient_id) in booked:
        return "Not sent: the patient is already booked."
    return ""


def _mark(invite_id: int, **fields: Any) -> None:
    Invite.objects.filter(pk=invite_id).update(**fields)


def invites_send_batch(*, invite_ids: list[int], final_attempt: bool = True) -> SendResult:
    """Send the still-queued invitations among `invite_ids` (the send task's
    body). Each one ends sent, failed with a reason, or (transient failure, not the
    final attempt) still queued for the task's retry. Idempotent: a sent invitation
    is never sent again, and one another worker holds (a lease in the cache) is
    left alone. Each invitation's status is committed as soon as it is known.
    Outside the campaign's sending hours invitations stay queued for the next wave."""
    result = SendResult()
    now = timezone.now()
    invites = list(
        Invite.objects.filter(pk__in=invite_ids, delivery_status=DeliveryStatus.QUEUED)
        .select_related("campaign", "campaign__practice", "patient")
        .order_by("pk")
    )
    booked = _booked_patients(invites)
    leased: list[Invite] = []
    for invite in invites:
        if not in_sending_hours(campaign=invite.campaign, now=now):
            result.held += 1
            continue
        reason = _not_sendable_reason(invite, booked)
        if reason:
            Invite.objects.filter(pk=invite.pk, delivery_status=DeliveryStatus.QUEUED).update(
                delivery_status=DeliveryStatus.FAILED, delivery_error=reason
            )
            result.failed += 1
        elif cache.add(_lease(invite.pk), 1, timeout=SEND_LEASE_SECONDS):
            leased.append(invite)
    try:
        # Under the leases, re-read: another worker may have sent some meanwhile.
        still_queued = set(
            Invite.objects.filter(
                pk__in=[i.pk for i in leased], delivery_status=DeliveryStatus.QUEUED
            ).values_list("pk", flat=True)
        )
        Invite.objects.filter(pk__in=still_queued).update(
            delivery_attempts=F("delivery_attempts") + 1
        )
        backend = get_backend() if still_queued else None  # one client for the batch
        for invite in leased:
            if invite.pk in still_queued:
                _send_one(
                    invite,
                    backend=backend,
                    tries=invite.delivery_attempts + 1,
                    final_attempt=final_attempt,
                    result=result,
                )
    finally:
        cache.delete_many([_lease(i.pk) for i in leased])
    return result


def _lease(invite_id: int) -> str:
    return f"invite-send:{invite_id}"


def _send_one(
    invite: Invite,
    *,
    backend: Backend | None,
    tries: int,
    final_attempt: bool,
    result: SendResult,
) -> None:
    def sent(provider_id: str) -> None:
        _mark(
            invite.pk,
            delivery_status=DeliveryStatus.SENT,
            sent_at=timezone.now(),
            delivery_error="",
        )

    try:
        _send_once(
            key=f"invite:{invite.pk}",
            kind="invite",
            invite=invite,
            build=lambda reference: _message(
                invite=invite, kind="invite", channel=invite.channel, reference=reference
            ),
            backend=backend,
            on_sent=sent,
        )
    except NotifyPermanentError as exc:
        _mark(invite.pk, delivery_status=DeliveryStatus.FAILED, delivery_error=exc.reason)
        logger.warning("Invite %s not sent: %s", invite.pk, exc.reason)
        result.failed += 1
    except NotifyOutcomeUnknown as exc:
        if final_attempt:
            # Not known whether it went: it stays queued, and the wave's stale sweep
            # asks the notifier again (invites_requeue_stale). Never "failed" on a guess.
            _mark(invite.pk, delivery_error=f"Not known yet whether it went: {exc.reason}"[:300])
            logger.warning("Invite %s: not known whether sent: %s", invite.pk, exc.reason)
            result.held += 1
        else:
            _mark(invite.pk, delivery_error=f"Checking whether it went: {exc.reason}"[:300])
            result.retry += 1
            result.retry_reasons.append(exc.reason)
    except NotifyTransientError as exc:
        if final_attempt:
            _mark(
                invite.pk,
                delivery_status=DeliveryStatus.FAILED,
                delivery_error=f"Gave up after {tries} tries: {exc.reason}"[:300],
            )
            logger.warning("Invite %s not sent after %s tries: %s", invite.pk, tries, exc.reason)
            result.failed += 1
        else:
            _mark(invite.pk, delivery_error=f"Will try again: {exc.reason}"[:300])
            result.retry += 1
            result.retry_reasons.append(exc.reason)
    else:
        result.sent += 1


def invites_requeue_stale(*, campaign: Campaign, now: datetime | None = None) -> int:
    """Queue again invitations no task ever tried (a lost task, or held outside
    sending hours), and those whose send was left "sending" (a worker died, or
    whether it went is not known) for longer than the send lease: their task asks
    the notifier before sending. Inside sending hours only. Those being retried
    belong to their task."""
    if not in_sending_hours(campaign=campaign, now=now):
        return 0
    now = _now(now)
    left_sending = MessageSend.objects.filter(
        invite_id=OuterRef("pk"),
        kind="invite",
        status=MessageSendStatus.SENDING,
        sending_since__lt=now - timedelta(seconds=SEND_LEASE_SECONDS),
    )
    ids = list(
        Invite.objects.filter(campaign=campaign, delivery_status=DeliveryStatus.QUEUED)
        .filter(
            Q(delivery_attempts=0, created_at__lt=now - STALE_QUEUED_AFTER)
            | Q(Exists(left_sending))
        )
        .values_list("pk", flat=True)
    )
    _queue_send(ids)
    return len(ids)
