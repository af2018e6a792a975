"""Patients hear about every change staff make: a booking, each move and a
cancellation send one message each (through the outbox and the send-once
record), with the date, time, site, address and the patient's link. A campaign
can turn them off.

Real PostgreSQL and the in-process EMIS sandbox; messages go through the locmem
notifier; Celery runs eagerly, so a send task queued on commit runs when the
test's on-commit callbacks run."""

from __future__ import annotations

from datetime import time

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from booking import invites, notify, services
from booking.models import Booking, Campaign, Invite, MessageSend
from booking.selectors import LONDON, campaign_offerable_slots
from booking.tasks import send_booking_message
from booking.tokens import hash_token
from hippo_pcn.outbox.models import OutboxMessage

ALL_DAY = {"sending_from": time(0, 0), "sending_until": time(23, 59, 59, 999999)}


@pytest.fixture(autouse=True)
def outbox():
    notify.outbox.clear()
    yield notify.outbox
    notify.outbox.clear()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """commit(fn, **kw): call a service and run what it queued on commit (the
    outbox's eager send tasks), as a committed transaction would."""

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


def slots(campaign):
    found = list(campaign_offerable_slots(campaign=campaign))
    practice = [s for s in found if not s.is_pcn]
    pcn = [s for s in found if s.is_pcn]
    return practice, pcn


def token_in(body: str) -> str:
    start = body.index("/book/") + len("/book/")
    return body[start : body.index("/", start)]


def when(booking: Booking) -> str:
    local = timezone.localtime(booking.start, LONDON)
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


def test_book_move_move_again_and_cancel_send_one_message_each(
    mirrored, patients, practice_staff, commit, outbox
):
    patient = patients[0]
    practice_slots, pcn_slots = slots(mirrored)

    booked = commit(
        services.booking_create,
        campaign=mirrored,
        patient=patient,
        slot=practice_slots[0],
        booked_by=practice_staff,
    )
    assert [m.message.kind for m in outbox] == ["confirmation"]
    confirmation = outbox[-1].message
    assert confirmation.to == patient.mobile and confirmation.channel == "sms"
    assert "your Flu vaccination is booked for" in confirmation.body
    assert when(booked) in confirmation.body
    # The patient was never invited: an invitation is made for the link, which
    # opens this booking (its hash matches; no invitation is sent).
    invite = Invite.objects.get(campaign=mirrored, patient=patient)
    assert invite.booking_id == booked.pk and invite.used_at is not None
    assert hash_token(token_in(confirmation.body)) == invite.token_hash
    assert invites.invite_link(invite) in confirmation.body
    assert "To cancel or change it, use your link" in confirmation.body

    moved = commit(
        services.booking_rebook,
        booking=booked,
        slot=pcn_slots[0],
        user=practice_staff,
        pcn_consent=True,
    )
    assert [m.message.kind for m in outbox] == ["confirmation", "change"]
    change = outbox[-1].message
    assert "has moved. It is now on" in change.body
    assert when(moved) in change.body
    assert moved.site_name == "Alpha Hub" and moved.site_name in change.body
    assert moved.site_address and moved.site_address in change.body
    assert invites.invite_link(invite) in change.body
    assert change.personalisation["site_address"] == moved.site_address
    invite.refresh_from_db()
    assert invite.booking_id == moved.pk  # the link now opens the new time

    moved_again = commit(
        services.booking_rebook,
        booking=moved,
        slot=practice_slots[1],
        user=practice_staff,
    )
    assert [m.message.kind for m in outbox] == ["confirmation", "change", "change"]
    assert when(moved_again) in outbox[-1].message.body
    assert outbox[-1].message.reference != outbox[-2].message.reference

    cancelled = commit(
        services.booking_cancel,
        booking=moved_again,
        user=practice_staff,
        reason="Patient phoned to cancel",
    )
    assert cancelled.status == "cancelled"
    kinds = [m.message.kind for m in outbox]
    assert kinds == ["confirmation", "change", "change", "cancellation"]
    cancellation = outbox[-1].message
    assert "has been cancelled" in cancellation.body
    assert when(moved_again) in cancellation.body

    # One send record per change, each sent; the moves' old appointments (cancelled
    # as part of the move) sent no cancellation.
    records = MessageSend.objects.order_by("pk")
    assert [(r.key, r.status) for r in records] == [
        (f"confirmation:{booked.pk}", "sent"),
        (f"change:{moved.pk}", "sent"),
        (f"change:{moved_again.pk}", "sent"),
        (f"cancellation:{moved_again.pk}", "sent"),
    ]
    assert Invite.objects.filter(patient=patient).count() == 1


def test_redelivered_tasks_send_nothing_twice(mirrored, patients, practice_staff, commit, outbox):
    practice_slots, _ = slots(mirrored)
    booked = commit(
        services.booking_create,
        campaign=mirrored,
        patient=patients[0],
        slot=practice_slots[0],
        booked_by=practice_staff,
    )
    assert len(outbox) == 1
    row = OutboxMessage.objects.get(task=invites.SEND_BOOKING_MESSAGE_TASK)
    assert row.args == [Invite.objects.get().pk, booked.pk, "confirmation"]
    # The task delivered again (acks_late, a relay publishing twice): sent once.
    send_booking_message.apply(args=row.args)
    send_booking_message.apply(args=row.args)
    assert len(outbox) == 1
    assert MessageSend.objects.get().attempts == 1


def test_the_campaign_can_turn_them_off(mirrored, patients, practice_staff, commit, outbox):
    Campaign.objects.filter(pk=mirrored.pk).update(message_patients_on_staff_changes=False)
    mirrored.refresh_from_db()
    practice_slots, _ = slots(mirrored)
    booked = commit(
        services.booking_create,
        campaign=mirrored,
        patient=patients[0],
        slot=practice_slots[0],
        booked_by=practice_staff,
    )
    moved = commit(
        services.booking_rebook, booking=booked, slot=practice_slots[1], user=practice_staff
    )
    commit(services.booking_cancel, booking=moved, user=practice_staff, reason="No longer needed")
    assert outbox == []
    assert not OutboxMessage.objects.filter(task=invites.SEND_BOOKING_MESSAGE_TASK).exists()
    assert not MessageSend.objects.exists()
    assert not Invite.objects.exists()


def test_no_mobile_or_email_no_message(mirrored, patients, practice_staff, commit, outbox):
    type(patients[0]).objects.filter(pk=patients[0].pk).update(mobile="", email="")
    patients[0].refresh_from_db()
    practice_slots, _ = slots(mirrored)
    booked = commit(
        services.booking_create,
        campaign=mirrored,
        patient=patients[0],
        slot=practice_slots[0],
        booked_by=practice_staff,
    )
    assert outbox == []
    assert "no mobile number or email address" in invites.booking_staff_message_note(booking=booked)


def test_an_invited_patient_gets_their_own_link_and_channel(
    mirrored, patients, practice_admin, practice_staff, commit, outbox
):
    Campaign.objects.filter(pk=mirrored.pk).update(**ALL_DAY)
    mirrored.refresh_from_db()
    commit(invites.invites_create, campaign=mirrored, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    assert [m.message.kind for m in outbox] == ["invite"]
    practice_slots, _ = slots(mirrored)
    booked = commit(
        services.booking_create,
        campaign=mirrored,
        patient=patients[0],
        slot=practice_slots[0],
        booked_by=practice_staff,
    )
    assert [m.message.kind for m in outbox] == ["invite", "confirmation"]
    assert invites.invite_link(invite) in outbox[-1].message.body
    assert Invite.objects.get().pk == invite.pk  # no second invitation
    invite.refresh_from_db()
    assert invite.booking_id == booked.pk


def test_self_book_changes_are_not_sent_twice(mirrored, patients, commit, outbox):
    """The self-book pages queue their own messages; the staff path adds none."""
    practice_slots, _ = slots(mirrored)
    commit(
        services.booking_create,
        campaign=mirrored,
        patient=patients[0],
        slot=practice_slots[0],
        via="self_book",
    )
    assert outbox == []


def test_staff_pages_say_what_will_be_sent(
    client_for, mirrored, patients, practice_staff, django_capture_on_commit_callbacks, outbox
):
    client: Client = client_for(practice_staff)
    practice_slots, _ = slots(mirrored)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk]),
            {"slot": practice_slots[0].pk},
            follow=True,
        )
    page = response.content.decode()
    assert "We will send the patient a text message with the details." in page
    assert "was sent" not in page and "has been sent" not in page
    booking = Booking.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("booking:booking_move", args=[booking.pk]),
            {"slot": practice_slots[1].pk},
            follow=True,
        )
    assert "We will send the patient a text message with the details." in response.content.decode()
    moved = Booking.objects.get(status="booked")

    Campaign.objects.filter(pk=mirrored.pk).update(message_patients_on_staff_changes=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("booking:booking_cancel", args=[moved.pk]),
            {"reason": "Patient phoned"},
            follow=True,
        )
    assert (
        "This campaign sends patients no message when staff book, move or cancel."
        in response.content.decode()
    )
    assert [m.message.kind for m in outbox] == ["confirmation", "change"]


def test_the_campaign_form_shows_the_switch(client_for, practice_admin, mirrored):
    page = (
        client_for(practice_admin)
        .get(reverse("booking:campaign_edit", args=[mirrored.pk]))
        .content.decode()
    )
    assert "Message patients when staff book, move or cancel" in page
    assert (
        'id="id_message_patients_on_staff_changes" name="message_patients_on_staff_changes" '
        'type="checkbox" value="on" checked>'
    ) in page
