"""What the invitation modules share: actors, task names and limits. Local times
(Europe/London, settings.TIME_ZONE) come from django.utils.timezone."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from hippo_pcn.audit.services import system_actor

from ..models import (
    ACTIVE_BOOKING_STATUSES,
    CallOutcome,
    DeliveryStatus,
)

logger = logging.getLogger(__name__)

WAVE_ACTOR = system_actor("invite waves")
REMINDER_ACTOR = system_actor("invite reminders")
# The statuses of an active booking, under the name these modules have used; the
# rule itself is Booking.objects.active() (booking.models.bookings).
ACTIVE_BOOKING = ACTIVE_BOOKING_STATUSES
OPEN_DELIVERY = (DeliveryStatus.QUEUED, DeliveryStatus.SENT)
# Call outcomes that settle an invitation: nobody needs to chase or phone again.
SETTLED_OUTCOMES = (CallOutcome.BOOKED_BY_PHONE, CallOutcome.DECLINED, CallOutcome.WRONG_NUMBER)
# A send task holds an invite this long while it talks to the notifier. A message
# found "sending" for longer than this, and unknown to the notifier, was never sent.
SEND_LEASE_SECONDS = 120
# A queued reminder not settled after this long (its task lost) may be queued again.
REMINDER_CLAIM_STALE_AFTER = timedelta(days=1)
# The Celery tasks behind the outbox (booking/tasks.py).
SEND_INVITES_TASK = "booking.tasks.send_invites"
SEND_REMINDER_TASK = "booking.tasks.send_reminder"
SEND_BOOKING_MESSAGE_TASK = "booking.tasks.send_booking_message"
# Queued invitations no task has tried after this long are queued again by the wave.
STALE_QUEUED_AFTER = timedelta(minutes=10)
INSERT_BATCH_SIZE = 1_000


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _batch_size() -> int:
    return max(int(settings.INVITE_SEND_BATCH_SIZE), 1)
