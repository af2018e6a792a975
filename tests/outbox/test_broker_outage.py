"""Redis refused or hung while patients and staff use the service.

Each request commits for real (transactional tests), so its on-commit fast path
really tries the broker inside the request. Every request answers within 2 s with
the truth; what it queued waits in the outbox; with the broker back, the relay
publishes it to the real Redis and a worker (in this process) runs it, and every
message goes exactly once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import time as clock_time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from booking.invites import SEND_BOOKING_MESSAGE_TASK, SEND_REMINDER_TASK
from booking.models import Booking, BookingStatus, Campaign, DeliveryStatus, Invite, Slot
from booking.selectors import campaign_offerable_slots
from booking.tokens import new_token_fields, token_for_salt
from hippo_pcn.outbox.models import OutboxMessage
from hippo_pcn.outbox.services import outbox_relay

from .conftest import celery_broker, run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("broken_broker", ["refused", "hung"], indirect=True),
]

# Not a speed target (those are in `make bench`): a request that waited on the hung
# broker (no socket timeout here) would never answer, so any bound proves it did
# not; this one leaves room for a loaded 2-core CI machine.
ANSWER_WITHIN = 5.0
ALL_DAY = {"sending_from": clock_time(0, 0), "sending_until": clock_time(23, 59, 59, 999999)}
REFRESH_TASK = "booking.tasks.refresh_campaign_slots"


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def make_invite(campaign, patient, **fields):
    invite = Invite.objects.create(
        campaign=campaign,
        patient=patient,
        channel="sms",
        expires_at=timezone.now() + timedelta(days=7),
        **new_token_fields(),
        **fields,
    )
    return invite, token_for_salt(invite.token_salt)


def waiting(task):
    """The outbox rows for `task` the broker has not taken."""
    return OutboxMessage.objects.unpublished().filter(task=task)


def deliver_when_back(real_broker):
    """The broker is back: the relay publishes everything, a worker runs it. A
    second round (the relay again, a redelivery of everything) changes nothing."""
    # The relay runs every 30 s; by a while later every back-off has run out.
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RETRY_BACKOFF_MAX_SECONDS + 1)
    with real_broker.up():
        relayed = outbox_relay(now=later)
        assert relayed.failed == 0, relayed.error
        ran = real_broker.work()
        assert outbox_relay(now=later).published == 0
        assert real_broker.work() == []
        for item in ran:  # acks_late: each message may come twice
            run(item)
    assert not OutboxMessage.objects.unpublished().exists()
    return ran


def test_patient_self_book(broken_broker, real_broker, mirrored, patients, messages_sent):
    patient = patients[0]
    invite, token = make_invite(mirrored, patient)
    client = Client()
    dob = patient.date_of_birth
    assert (
        client.post(f"/book/{token}/", {"day": dob.day, "month": dob.month, "year": dob.year})
    ).status_code == 302
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()

    with celery_broker(broken_broker):
        response, took = timed(lambda: client.post(f"/book/{token}/book/", {"slot": slot.pk}))
        assert response.status_code == 302
        page, took_page = timed(lambda: client.get(response["Location"]))
    assert took < ANSWER_WITHIN and took_page < ANSWER_WITHIN
    assert "Appointment booked" in page.content.decode()
    booking = Booking.objects.get(patient=patient)
    assert booking.status == BookingStatus.BOOKED and booking.emis_appointment_id
    row = waiting(SEND_BOOKING_MESSAGE_TASK).get()
    assert row.args == [invite.pk, booking.pk, "confirmation"]
    assert row.last_error  # the fast path tried, and recorded why it could not
    assert messages_sent == []

    ran = deliver_when_back(real_broker)
    assert [item.task for item in ran] == [SEND_BOOKING_MESSAGE_TASK]
    assert [m.message.kind for m in messages_sent] == ["confirmation"]


def test_staff_booking(
    broken_broker, real_broker, client_for, practice_staff, mirrored, patients, messages_sent
):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    client = client_for(practice_staff)
    url = reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk])
    with celery_broker(broken_broker):
        response, took = timed(lambda: client.post(url, {"slot": slot.pk}, follow=True))
    assert took < ANSWER_WITHIN
    assert response.status_code == 200
    booking = Booking.objects.get(patient=patients[0])
    assert booking.status == BookingStatus.BOOKED and booking.booked_by == practice_staff
    # The patient's confirmation waits in the outbox, and goes once the broker is back.
    waiting = OutboxMessage.objects.unpublished()
    assert [row.task for row in waiting] == [SEND_BOOKING_MESSAGE_TASK]
    ran = deliver_when_back(real_broker)
    assert [item.task for item in ran] == [SEND_BOOKING_MESSAGE_TASK]
    assert [m.message.kind for m in messages_sent] == ["confirmation"]


def test_campaign_creation(
    broken_broker, real_broker, client_for, practice_admin, world_slots, messages_sent
):
    today = timezone.localdate()
    client = client_for(practice_admin)
    form = {
        "name": "Shingles catch-up",
        "appointment_type": "Shingles vaccination",
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=10)).isoformat(),
        "use_pcn_slots": "on",
        "slot_service_types": "Flu vaccination",
        "status": "active",
    }
    with celery_broker(broken_broker):
        response, took = timed(
            lambda: client.post(reverse("booking:campaign_create", args=["A10001"]), form)
        )
    assert took < ANSWER_WITHIN
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Shingles catch-up")
    assert waiting(REFRESH_TASK).get().args == [campaign.pk]
    # The form read EMIS's slots to offer their types (nothing was mirrored yet);
    # the campaign's own refresh waits for the broker.
    assert Slot.objects.exists()

    ran = deliver_when_back(real_broker)
    runs = Counter(item.task for item in ran)
    assert runs[REFRESH_TASK] == 1
    assert runs["booking.tasks.send_campaign_wave"] == 1  # the refresh queues a wave
    assert campaign_offerable_slots(campaign=campaign).count() == 5


def test_reminder_sending(
    broken_broker, real_broker, client_for, practice_admin, mirrored, patients, messages_sent
):
    Campaign.objects.filter(pk=mirrored.pk).update(**ALL_DAY)
    invite, _ = make_invite(
        mirrored,
        patients[0],
        delivery_status=DeliveryStatus.SENT,
        sent_at=timezone.now() - timedelta(days=8),
    )
    client = client_for(practice_admin)
    url = reverse("booking:invite_send_reminders", args=[mirrored.pk])
    with celery_broker(broken_broker):
        response, took = timed(lambda: client.post(url, follow=True))
    assert took < ANSWER_WITHIN
    assert "1 reminder(s) are being sent." in response.content.decode()
    invite.refresh_from_db()
    # Queued, not yet sent: it does not count as sent.
    assert invite.reminder_queued_at is not None
    assert (invite.reminders_sent, invite.last_reminder_at) == (0, None)
    assert waiting(SEND_REMINDER_TASK).get().args == [invite.pk, 1]
    # Queued once: asking again queues nothing more.
    with celery_broker(broken_broker):
        again, took = timed(lambda: client.post(url, follow=True))
    assert took < ANSWER_WITHIN
    assert "No reminders sent" in again.content.decode()

    ran = deliver_when_back(real_broker)
    assert [item.task for item in ran] == [SEND_REMINDER_TASK]
    assert [m.message.kind for m in messages_sent] == ["reminder"]
    invite.refresh_from_db()
    assert invite.reminders_sent == 1 and invite.last_reminder_at is not None
    assert invite.reminder_queued_at is None
