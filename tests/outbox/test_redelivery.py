"""A worker killed mid-send, and the same task delivered again (acks_late): no
message is ever sent twice, and none is lost.

The tasks come from the outbox through the real Redis. The "kill" is a notifier
that dies (a BaseException no handler catches, as a SIGKILL would leave things)
either after GOV.UK Notify accepted the message or before it had it."""

from __future__ import annotations

from datetime import time as clock_time
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from booking import invites, notify
from booking.models import Campaign, DeliveryStatus, Invite, MessageSend
from booking.selectors import campaign_offerable_slots
from booking.services import booking_create
from booking.tokens import new_token_fields
from hippo_pcn.celery import app
from hippo_pcn.outbox.models import OutboxMessage
from hippo_pcn.outbox.services import outbox_relay

from .conftest import run

ALL_DAY = {"sending_from": clock_time(0, 0), "sending_until": clock_time(23, 59, 59, 999999)}


class WorkerKilled(BaseException):
    """The worker process died here."""


class AcceptedThenKilled(notify.LocmemBackend):
    def send(self, message):
        super().send(message)  # Notify has it...
        raise WorkerKilled  # ...and the worker dies before recording it.


class KilledBeforeSending(notify.LocmemBackend):
    def send(self, message):
        raise WorkerKilled


@pytest.fixture
def notifier(settings, monkeypatch):
    """notifier(cls): the notifier the next sends go through."""

    def use(backend):
        monkeypatch.setitem(notify._BACKENDS, "test", backend)
        settings.NOTIFY_BACKEND = "test"

    return use


@pytest.fixture
def worker_retries():
    """A retried task runs again at once, as a worker would run it later."""
    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


@pytest.fixture
def active(mirrored):
    Campaign.objects.filter(pk=mirrored.pk).update(**ALL_DAY)
    mirrored.refresh_from_db()
    return mirrored


def delivered(real_broker, task):
    """Relay the outbox to Redis and take the one message for `task` off the queue."""
    with real_broker.up():
        assert outbox_relay().failed == 0
        taken = [item for item in real_broker.take() if item.task == task]
    assert len(taken) == 1
    return taken[0]


def test_confirmation_killed_after_notify_accepted_is_not_sent_again(
    active, patients, practice_admin, real_broker, notifier, messages_sent
):
    invites.invites_create(campaign=active, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    slot = campaign_offerable_slots(campaign=active).filter(is_pcn=False).first()
    booking = booking_create(campaign=active, patient=patients[0], slot=slot, via="self_book")
    invites.invite_send_confirmation(invite=invite, booking=booking)
    message = delivered(real_broker, invites.SEND_BOOKING_MESSAGE_TASK)

    notifier(AcceptedThenKilled)
    with pytest.raises(WorkerKilled):
        run(message)
    record = MessageSend.objects.get(key=f"confirmation:{booking.pk}")
    assert record.status == "sending"  # committed before Notify was called
    assert len(messages_sent) == 1

    notifier(notify.LocmemBackend)
    run(message)  # redelivered: Notify is asked, and has it
    run(message)  # and again
    assert [m.message.kind for m in messages_sent] == ["confirmation"]
    record.refresh_from_db()
    assert record.status == "sent"
    assert record.provider_id == messages_sent[0].provider_id
    assert messages_sent[0].message.reference == record.reference


def test_reminder_killed_after_notify_accepted_counts_once_sent(
    active, patients, real_broker, notifier, messages_sent
):
    invite = Invite.objects.create(
        campaign=active,
        patient=patients[0],
        channel="sms",
        delivery_status=DeliveryStatus.SENT,
        sent_at=timezone.now() - timedelta(days=8),
        expires_at=timezone.now() + timedelta(days=1),
        **new_token_fields(),
    )
    assert invites.invites_send_reminders(campaign=active).queued == 1
    message = delivered(real_broker, invites.SEND_REMINDER_TASK)

    notifier(AcceptedThenKilled)
    with pytest.raises(WorkerKilled):
        run(message)
    invite.refresh_from_db()
    assert invite.reminders_sent == 0  # not counted: not known to be sent
    assert invite.reminder_queued_at is not None  # still claimed: not queued twice
    assert invites.invites_send_reminders(campaign=active).queued == 0

    notifier(notify.LocmemBackend)
    run(message)
    run(message)
    assert [m.message.kind for m in messages_sent] == ["reminder"]
    invite.refresh_from_db()
    assert invite.reminders_sent == 1 and invite.reminder_queued_at is None
    assert invite.last_reminder_at is not None


def test_invitation_killed_before_notify_had_it_goes_once_after_the_lease(
    active, patients, practice_admin, real_broker, notifier, messages_sent, worker_retries
):
    invites.invites_create(campaign=active, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    message = delivered(real_broker, invites.SEND_INVITES_TASK)

    notifier(KilledBeforeSending)
    with pytest.raises(WorkerKilled):
        run(message)
    notifier(notify.LocmemBackend)
    # Redelivered at once: another worker may still be sending it, so nothing is
    # sent, and the invitation is not called failed on a guess.
    run(message)
    invite.refresh_from_db()
    assert messages_sent == []
    assert invite.delivery_status == DeliveryStatus.QUEUED
    assert invite.delivery_error.startswith("Not known yet whether it went")

    # After the lease, the wave's sweep queues it again; Notify never had it: it goes.
    lease = timedelta(seconds=invites.SEND_LEASE_SECONDS + 1)
    MessageSend.objects.update(sending_since=F("sending_since") - lease)
    assert invites.invites_requeue_stale(campaign=active) == 1
    with real_broker.up():
        assert outbox_relay().published == 1
        ran = real_broker.work()
    assert [item.task for item in ran] == [invites.SEND_INVITES_TASK]
    run(ran[0])  # redelivered once more: nothing new
    assert [m.message.kind for m in messages_sent] == ["invite"]
    invite.refresh_from_db()
    assert invite.delivery_status == DeliveryStatus.SENT and invite.delivery_error == ""


def test_confirmation_whose_fate_is_unknown_is_checked_again_after_the_lease(
    active, patients, practice_admin, real_broker, notifier, messages_sent, worker_retries
):
    invites.invites_create(campaign=active, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    slot = campaign_offerable_slots(campaign=active).filter(is_pcn=False).first()
    booking = booking_create(campaign=active, patient=patients[0], slot=slot, via="self_book")
    invites.invite_send_cancellation(invite=invite, booking=booking)
    message = delivered(real_broker, invites.SEND_BOOKING_MESSAGE_TASK)

    notifier(KilledBeforeSending)
    with pytest.raises(WorkerKilled):
        run(message)
    notifier(notify.LocmemBackend)
    run(message)  # redelivered at once, retried until its last try: still not known
    assert messages_sent == []
    again = OutboxMessage.objects.unpublished().get(task=invites.SEND_BOOKING_MESSAGE_TASK)
    assert again.kwargs == {"check": 1}
    assert again.available_at > timezone.now() + timedelta(seconds=invites.SEND_LEASE_SECONDS)

    # After the lease: Notify never had it, so it goes, once.
    lease = timedelta(seconds=invites.SEND_LEASE_SECONDS + 1)
    MessageSend.objects.update(sending_since=F("sending_since") - lease)
    with real_broker.up():
        assert outbox_relay(now=timezone.now() + lease).published == 1
        ran = real_broker.work()
    assert [item.kwargs for item in ran] == [{"check": 1}]
    assert [m.message.kind for m in messages_sent] == ["cancellation"]


class ChecksTheClaim(notify.LocmemBackend):
    """Notes, as the notifier is called, what the message's send record says."""

    seen: list[tuple[str, int, str]] = []

    def send(self, message):
        record = MessageSend.objects.get(reference=message.reference)
        ChecksTheClaim.seen.append((record.status, record.attempts, record.reference))
        return super().send(message)


def test_a_first_send_is_claimed_by_its_insert_and_a_redelivery_locks_the_record(
    active, patients, practice_admin, real_broker, notifier, messages_sent, worker_retries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ChecksTheClaim.seen = []
    invites.invites_create(campaign=active, patients=patients[:1], user=practice_admin)
    message = delivered(real_broker, invites.SEND_INVITES_TASK)
    notifier(KilledBeforeSending)
    with CaptureQueriesContext(connection) as first, pytest.raises(WorkerKilled):
        run(message)
    # A message never tried: created already "sending", attempt 1, before the
    # notifier is called; no read of the record, no row lock.
    record = MessageSend.objects.get()
    assert (record.status, record.attempts) == ("sending", 1)
    assert not [q for q in first.captured_queries if "FOR UPDATE" in q["sql"]]

    # Redelivered after the lease: the record is locked, checked and claimed again.
    MessageSend.objects.update(
        sending_since=F("sending_since") - timedelta(seconds=invites.SEND_LEASE_SECONDS + 1)
    )
    notifier(ChecksTheClaim)
    with CaptureQueriesContext(connection) as again:
        run(message)
    assert [q for q in again.captured_queries if "FOR UPDATE" in q["sql"]]
    assert ChecksTheClaim.seen == [("sending", 2, record.reference)]
    assert [m.message.kind for m in messages_sent] == ["invite"]
