"""Celery tasks for booking: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from emis_integration.client import EmisUnavailable

from .models import Campaign, CampaignStatus


@shared_task(
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
    autoretry_for=(EmisUnavailable,),
    retry_backoff=True,
    max_retries=3,
)
def refresh_campaign_slots(campaign_id: int) -> None:
    from .services import campaign_refresh_slots

    campaign = (
        Campaign.objects.select_related("practice", "practice__pcn").filter(pk=campaign_id).first()
    )
    if campaign is not None and campaign.is_active:
        campaign_refresh_slots(campaign=campaign)
        # New free slots may resume a campaign paused for lack of them.
        send_campaign_wave.delay(campaign_id)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def refresh_active_campaigns() -> None:
    """Beat: fan out one refresh per active campaign, each expiring before the next round."""
    expires = max(settings.SLOT_REFRESH_INTERVAL_SECONDS - 10, 10)
    active = Campaign.objects.filter(status=CampaignStatus.ACTIVE).values_list("pk", flat=True)
    for campaign_id in active:
        refresh_campaign_slots.apply_async(args=[campaign_id], expires=expires)


@shared_task(ignore_result=True, soft_time_limit=100, time_limit=115)
def reconcile_emis_bookings() -> None:
    """Beat: settle bookings whose outcome in EMIS is not known (booking_settle)."""
    from .services import bookings_reconcile

    bookings_reconcile()


# --- Invitations ------------------------------------------------------------------------------
# Sending invitations, reminders and booking messages, and the beat-driven waves. Thin:
# the logic is in booking/invites/. Only transient notifier failures are retried.
# The three message tasks are queued through the outbox (hippo_pcn/outbox) and may run
# more than once (a relay publishing twice, acks_late redelivery, a worker killed
# mid-send: reject_on_worker_lost puts the message back): each message's send record
# (booking.models.MessageSend) makes sure it is sent once.

from .notify import NotifyTransientError  # noqa: E402

_SEND_RETRY = {
    "autoretry_for": (NotifyTransientError,),
    "retry_backoff": 30,
    "retry_backoff_max": settings.INVITE_SEND_RETRY_BACKOFF_MAX_SECONDS,
    "retry_jitter": True,
    "max_retries": settings.INVITE_SEND_MAX_RETRIES,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(bind=True, ignore_result=True, soft_time_limit=240, time_limit=300, **_SEND_RETRY)
def send_invites(self, invite_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Send a batch of queued invitations. Transient failures leave those
    invitations queued and retry the batch (sent ones are skipped); on the last
    try they are marked failed with the reason."""
    from .invites import invites_send_batch

    final = self.request.retries >= self.max_retries
    result = invites_send_batch(invite_ids=invite_ids, final_attempt=final)
    if result.retry:
        raise NotifyTransientError(
            f"{result.retry} invitation(s) not sent yet: {result.retry_reasons[0]}"
        )


@shared_task(bind=True, ignore_result=True, soft_time_limit=60, time_limit=90, **_SEND_RETRY)
def send_reminder(self, invite_id: int, number: int) -> None:  # type: ignore[no-untyped-def]
    """Send reminder `number` of an invitation; it counts as sent only once sent."""
    from .invites import reminder_send

    reminder_send(
        invite_id=invite_id,
        number=number,
        attempt=self.request.retries + 1,
        final_attempt=self.request.retries >= self.max_retries,
    )


@shared_task(bind=True, ignore_result=True, soft_time_limit=60, time_limit=90, **_SEND_RETRY)
def send_booking_message(self, invite_id: int, booking_id: int, kind: str, check: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Send a booking's confirmation, change of time or cancellation (kind), once;
    `check` counts the re-checks of one whose fate was not known. Queued by the
    self-book pages and by staff bookings, moves and cancellations."""
    from .invites import booking_message_send

    booking_message_send(
        invite_id=invite_id,
        booking_id=booking_id,
        kind=kind,
        final_attempt=self.request.retries >= self.max_retries,
        check=check,
    )


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=180)
def send_campaign_wave(campaign_id: int) -> None:
    from .invites import campaign_send_wave, invites_requeue_stale

    campaign = (
        Campaign.objects.select_related("practice", "practice__pcn").filter(pk=campaign_id).first()
    )
    if campaign is not None and campaign.is_active:
        campaign_send_wave(campaign=campaign)
        invites_requeue_stale(campaign=campaign)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def send_invite_waves() -> None:
    """Beat: one wave per active campaign (each follows the latest slot refresh)."""
    expires = max(settings.INVITE_WAVE_INTERVAL_SECONDS - 10, 10)
    active = Campaign.objects.filter(status=CampaignStatus.ACTIVE).values_list("pk", flat=True)
    for campaign_id in active:
        send_campaign_wave.apply_async(args=[campaign_id], expires=expires)


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=180)
def send_campaign_reminders(campaign_id: int) -> None:
    from .invites import invites_send_reminders

    campaign = (
        Campaign.objects.select_related("practice", "practice__pcn").filter(pk=campaign_id).first()
    )
    if campaign is not None and campaign.is_active:
        invites_send_reminders(campaign=campaign)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def send_invite_reminders() -> None:
    """Beat: queue the reminders due, one task per active campaign."""
    expires = max(settings.INVITE_REMINDER_INTERVAL_SECONDS - 30, 30)
    active = Campaign.objects.filter(status=CampaignStatus.ACTIVE).values_list("pk", flat=True)
    for campaign_id in active:
        send_campaign_reminders.apply_async(args=[campaign_id], expires=expires)
