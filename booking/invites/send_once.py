"""Sending each message exactly once (a send record checked with Notify on redelivery)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import (
    Booking,
    Invite,
    MessageSend,
    MessageSendStatus,
)
from ..notify import (
    Backend,
    Message,
    NotifyOutcomeUnknown,
    NotifyPermanentError,
    NotifyTransientError,
    get_backend,
    message_send,
)
from .common import SEND_LEASE_SECONDS

logger = logging.getLogger(__name__)

# --- Sending each message once ------------------------------------------------------------


def _new_reference(key: str) -> str:
    """Unique to one message, and to this database (a reset demo reuses ids)."""
    return f"hippo-{key.replace(':', '-')}-{uuid.uuid4().hex[:12]}"[:80]


def _send_once(
    *,
    key: str,
    kind: str,
    invite: Invite,
    build: Callable[[str], Message],
    booking: Booking | None = None,
    number: int = 0,
    backend: Backend | None = None,
    on_sent: Callable[[str], None] | None = None,
) -> bool:
    """Send the message whose send record has this key, unless it went already.
    Returns True when it went now, False when it had gone before; raises
    NotifyPermanentError or NotifyTransientError when it did not go.

    "Sending" is committed before the notifier is called, with the message's
    reference. A redelivered task that finds "sending" (its worker died mid-send,
    or the notifier's answer was lost) asks the notifier for the reference: found,
    it is marked sent, not sent again; not found and older than SEND_LEASE_SECONDS,
    it was never sent and goes now; not found and newer, another worker may still
    be sending it, so the task retries later. Any later try asks first as well. "Sent" and `on_sent` (the caller's
    mark: the invitation sent, the reminder counted) commit in one transaction."""
    backend = backend or get_backend()
    now = timezone.now()
    record = _created_sending(
        key=key, kind=kind, invite=invite, booking=booking, number=number, now=now
    ) or _claimed_again(
        key=key,
        kind=kind,
        invite=invite,
        booking=booking,
        number=number,
        now=now,
        backend=backend,
        on_sent=on_sent,
    )
    if record is None:
        return False
    try:
        provider_id = message_send(message=build(record.reference), backend=backend)
    except NotifyOutcomeUnknown as exc:
        # Perhaps sent: stays "sending", and the next try asks the notifier first.
        MessageSend.objects.filter(pk=record.pk).update(error=exc.reason)
        raise
    except NotifyPermanentError as exc:
        _record_not_sent(record, status=MessageSendStatus.FAILED, error=exc.reason)
        raise
    except NotifyTransientError as exc:
        _record_not_sent(record, status=MessageSendStatus.PENDING, error=exc.reason)
        raise
    with transaction.atomic():
        _record_sent(record, provider_id=provider_id, on_sent=on_sent)
    return True


def _created_sending(
    *,
    key: str,
    kind: str,
    invite: Invite,
    booking: Booking | None,
    number: int,
    now: datetime,
) -> MessageSend | None:
    """A message never tried before: its send record is created already
    "sending", in one transaction (the common case: one commit, not two, before
    the notifier is called). None when a record with this key exists."""
    try:
        with transaction.atomic():
            return MessageSend.objects.create(
                key=key,
                kind=kind,
                invite=invite,
                booking=booking,
                number=number,
                reference=_new_reference(key),
                status=MessageSendStatus.SENDING,
                sending_since=now,
                attempts=1,
            )
    except IntegrityError:
        return None


def _claimed_again(
    *,
    key: str,
    kind: str,
    invite: Invite,
    booking: Booking | None,
    number: int,
    now: datetime,
    backend: Backend,
    on_sent: Callable[[str], None] | None,
) -> MessageSend | None:
    """A message tried before, or being tried: its record locked, and claimed
    "sending" again unless it went already (None: settled as sent, the notifier
    asked first) or another worker may still be sending it (raises)."""
    record, _ = MessageSend.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "invite": invite,
            "booking": booking,
            "number": number,
            "reference": _new_reference(key),
        },
    )
    with transaction.atomic():
        record = MessageSend.objects.select_for_update().get(pk=record.pk)
        if record.status == MessageSendStatus.SENT:
            return None
        if record.status == MessageSendStatus.SENDING or record.attempts:
            # Tried before (an error may have come after Notify saved it): ask first.
            provider_id = backend.lookup(record.reference)
            if provider_id is not None:
                _record_sent(record, provider_id=provider_id, on_sent=on_sent)
                logger.info("Message %s had gone: settled without sending again", record.key)
                return None
        if record.status == MessageSendStatus.SENDING:
            since = record.sending_since or now
            if since > now - timedelta(seconds=SEND_LEASE_SECONDS):
                raise NotifyOutcomeUnknown(
                    "This message is being sent by another worker; it is checked again later."
                )
        record.status = MessageSendStatus.SENDING
        record.sending_since = now
        record.attempts += 1
        record.save(update_fields=["status", "sending_since", "attempts"])
    return record


def _record_sent(
    record: MessageSend, *, provider_id: str, on_sent: Callable[[str], None] | None
) -> None:
    MessageSend.objects.filter(pk=record.pk).update(
        status=MessageSendStatus.SENT,
        provider_id=provider_id[:64],
        sent_at=timezone.now(),
        error="",
    )
    if on_sent is not None:
        on_sent(provider_id)


def _record_not_sent(record: MessageSend, *, status: str, error: str) -> None:
    MessageSend.objects.filter(pk=record.pk, status=MessageSendStatus.SENDING).update(
        status=status, sending_since=None, error=error[:300]
    )
