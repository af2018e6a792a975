"""Invitations: waves matched to capacity, the daily cap, sending hours, expiry,
delivery statuses, booking messages, reminders, non-responders and counts.

Real PostgreSQL and the in-process EMIS sandbox; messages go through the locmem
notifier (booking.notify.outbox); Celery runs eagerly, so a send task queued on
commit runs when the test's on-commit callbacks run."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from booking import invites, notify, services
from booking.models import (
    Booking,
    BookingStatus,
    CallOutcome,
    Campaign,
    DeliveryStatus,
    Invite,
    Slot,
)
from booking.selectors import campaign_offerable_slots
from booking.tasks import send_invite_reminders, send_invite_waves, send_invites
from booking.tokens import hash_token
from hippo_pcn.audit.models import AuditEntry
from tests.emis_world import at

from .factories import PatientFactory

LONDON = ZoneInfo("Europe/London")
ALL_DAY = {"sending_from": time(0, 0), "sending_until": time(23, 59, 59, 999999)}


@pytest.fixture(autouse=True)
def outbox():
    notify.outbox.clear()
    yield notify.outbox
    notify.outbox.clear()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """commit(fn, **kw): call a service and run what it queued on commit (the
    eager send tasks), as a committed transaction would."""

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


def configure(campaign: Campaign, **fields) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    campaign.refresh_from_db()
    return campaign


def add_patients(campaign, user, count, **fields):
    made = [PatientFactory(practice=campaign.practice, **fields) for _ in range(count)]
    services.campaign_add_patients(user=user, campaign=campaign, patients=made)
    return made


def add_practice_slots(emis_world, campaign, count, *, day=2, start_hour=9):
    starts = [at(day, start_hour + i // 6, (i % 6) * 10) for i in range(count)]
    emis_world.slots("A10001", starts)
    results = services.campaign_refresh_slots(campaign=campaign)
    assert all(not r.error for r in results), results


@pytest.fixture
def big_campaign(campaign, practice_admin, emis_world):
    """The campaign open all day, 40 more patients, 10 free practice slots."""
    configure(campaign, **ALL_DAY)
    add_patients(campaign, practice_admin, 40)
    add_practice_slots(emis_world, campaign, 10)
    assert campaign_offerable_slots(campaign=campaign).count() == 10
    return campaign


def book(campaign, patient, slot, user):
    return services.booking_create(campaign=campaign, patient=patient, slot=slot, booked_by=user)


# --- Waves matched to capacity ---------------------------------------------------------------


def test_first_wave_invites_three_per_free_slot_and_sends_them(big_campaign, commit, outbox):
    result = commit(invites.campaign_send_wave, campaign=big_campaign)

    assert result.invited == 30
    assert result.plan.free_slots == 10
    assert Invite.objects.filter(campaign=big_campaign).count() == 30
    assert Invite.objects.filter(delivery_status=DeliveryStatus.SENT).count() == 30
    assert len(outbox) == 30
    assert {m.message.kind for m in outbox} == {"invite"}
    # The next wave has nothing to add: 30 invitations are open for 10 slots.
    again = commit(invites.campaign_send_wave, campaign=big_campaign)
    assert again.invited == 0
    assert again.plan.reason == invites.REASON_ENOUGH_OUT
    assert len(outbox) == 30


def test_wave_pauses_when_slots_are_booked_and_resumes_when_slots_appear(
    big_campaign, commit, emis_world, practice_admin, outbox
):
    commit(invites.campaign_send_wave, campaign=big_campaign)
    invited = list(Invite.objects.filter(campaign=big_campaign).select_related("patient"))
    for invite, slot in zip(
        invited, list(campaign_offerable_slots(campaign=big_campaign)), strict=False
    ):
        book(big_campaign, invite.patient, slot, practice_admin)
    assert campaign_offerable_slots(campaign=big_campaign).count() == 0

    paused = commit(invites.campaign_send_wave, campaign=big_campaign)
    assert paused.invited == 0
    assert (paused.plan.state, paused.plan.reason) == ("paused", "no free slots")
    state = invites.campaign_invite_state(campaign=big_campaign)
    assert state.label == "Paused: no free slots"
    assert AuditEntry.objects.filter(
        action="invites.wave_state", details__reason="no free slots"
    ).exists()

    # Ten new slots: 30 wanted, 20 still open (10 of the 30 booked) -> 10 more.
    add_practice_slots(emis_world, big_campaign, 10, day=3)
    resumed = commit(invites.campaign_send_wave, campaign=big_campaign)
    assert resumed.plan.state == "sending"
    assert resumed.invited == 10
    assert Invite.objects.filter(campaign=big_campaign).count() == 40
    # Nobody got a second invitation.
    patient_ids = list(Invite.objects.values_list("patient_id", flat=True))
    assert len(patient_ids) == len(set(patient_ids))
    assert len(outbox) == 40


def test_booked_declined_and_opted_out_patients_are_never_invited(
    big_campaign, commit, practice_admin, outbox
):
    booked_first = add_patients(big_campaign, practice_admin, 1)[0]
    opted_out = add_patients(big_campaign, practice_admin, 2, opted_out_of_messages=True)
    no_contact = add_patients(big_campaign, practice_admin, 1, mobile="", email="")[0]
    slot = campaign_offerable_slots(campaign=big_campaign).last()
    booking = book(big_campaign, booked_first, slot, practice_admin)
    # Booked by staff: the confirmation's link is an invitation of its own, made for
    # the booking (used by it); no invitation message goes.
    link_only = Invite.objects.get(patient=booked_first)
    assert link_only.booking_id == booking.pk and link_only.used_at is not None
    configure(big_campaign, invites_per_free_slot=20)  # want far more than there are patients

    commit(invites.campaign_send_wave, campaign=big_campaign)
    first = Invite.objects.filter(campaign=big_campaign).exclude(pk=link_only.pk)
    declined = first.first()
    Invite.objects.filter(pk=declined.pk).update(declined_at=timezone.now(), decline_reason="other")
    commit(invites.campaign_send_wave, campaign=big_campaign)

    invited = set(Invite.objects.exclude(pk=link_only.pk).values_list("patient_id", flat=True))
    assert booked_first.pk not in invited
    assert Invite.objects.filter(patient=booked_first).count() == 1
    assert not [
        m for m in outbox if m.message.kind == "invite" and m.message.invite_id == link_only.pk
    ]
    assert not invited & {p.pk for p in opted_out}
    assert no_contact.pk not in invited
    assert Invite.objects.filter(patient=declined.patient).count() == 1
    assert invites.campaign_invite_state(campaign=big_campaign).reason == "everyone invited"
    sent_to = [m.message.invite_id for m in outbox]
    assert sent_to.count(declined.pk) == 1


def test_daily_cap_limits_a_london_day(big_campaign, commit):
    configure(big_campaign, daily_invite_cap=7)

    first = commit(invites.campaign_send_wave, campaign=big_campaign)
    second = commit(invites.campaign_send_wave, campaign=big_campaign)

    assert first.invited == 7
    assert second.invited == 0
    assert (second.plan.state, second.plan.reason) == ("paused", "daily cap reached")
    # Tomorrow (London) the cap starts again.
    tomorrow = timezone.now() + timedelta(days=1)
    assert invites.campaign_wave_plan(campaign=big_campaign, now=tomorrow).to_invite > 0


def test_sending_hours(big_campaign, commit, outbox):
    # A window around an instant 3 hours from now, so the real time now is outside
    # it and the send task holds its messages (instants, not wall-clock sums, so
    # that a BST/GMT change in between cannot shift the window onto "now").
    inside_at = timezone.now() + timedelta(hours=3)

    def wall(at):
        return timezone.localtime(at, LONDON).time().replace(second=0, microsecond=0)

    configure(
        big_campaign,
        sending_from=wall(inside_at - timedelta(hours=1)),
        sending_until=wall(inside_at + timedelta(hours=1)),
    )
    outside = commit(invites.campaign_send_wave, campaign=big_campaign)
    assert outside.invited == 0
    assert (outside.plan.state, outside.plan.reason) == ("paused", "waiting for sending hours")
    assert "only" in outside.plan.detail

    inside = commit(invites.campaign_send_wave, campaign=big_campaign, now=inside_at)
    assert inside.invited == 30
    # The send task runs now, outside the hours: nothing goes at night.
    assert outbox == []
    assert Invite.objects.filter(delivery_status=DeliveryStatus.QUEUED).count() == 30

    configure(big_campaign, **ALL_DAY)
    ids = list(Invite.objects.values_list("pk", flat=True))
    send_invites.delay(ids)
    assert len(outbox) == 30


def test_sending_hours_can_wrap_midnight(campaign):
    configure(campaign, sending_from=time(22, 0), sending_until=time(6, 0))
    on = datetime(2026, 1, 5, 23, 30, tzinfo=LONDON)
    early = datetime(2026, 1, 6, 5, 59, tzinfo=LONDON)
    off = datetime(2026, 1, 6, 12, 0, tzinfo=LONDON)
    assert invites.in_sending_hours(campaign=campaign, now=on)
    assert invites.in_sending_hours(campaign=campaign, now=early)
    assert not invites.in_sending_hours(campaign=campaign, now=off)


def test_beat_task_runs_waves_for_active_campaigns(
    big_campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_invite_waves.delay()
    assert Invite.objects.filter(campaign=big_campaign).count() == 30


def test_draft_and_closed_campaigns_send_nothing(big_campaign, commit):
    configure(big_campaign, status="draft")
    assert commit(invites.campaign_send_wave, campaign=big_campaign).invited == 0
    assert invites.campaign_invite_state(campaign=big_campaign).reason == "campaign not active"
    configure(big_campaign, status="closed")
    assert invites.campaign_invite_state(campaign=big_campaign).state == "done"
    assert not Invite.objects.exists()


# --- Creating invitations, links and expiry -------------------------------------------------


def test_invites_create_skips_by_reason(campaign, commit, practice_admin, patients, outbox):
    configure(campaign, **ALL_DAY)
    opted = add_patients(campaign, practice_admin, 1, opted_out_of_messages=True)
    silent = add_patients(campaign, practice_admin, 1, mobile="", email="")
    email_only = add_patients(campaign, practice_admin, 1, mobile="", email="pat@example.org")
    stranger = PatientFactory(practice=campaign.practice)  # not on the campaign
    chosen = [*patients, *opted, *silent, *email_only, stranger]

    result = commit(invites.invites_create, campaign=campaign, patients=chosen, user=practice_admin)
    assert result.created == 4
    assert result.skipped == {"opted_out": 1, "no_contact": 1, "not_on_campaign": 1}

    again = commit(invites.invites_create, campaign=campaign, patients=chosen, user=practice_admin)
    assert again.created == 0
    assert again.skipped["already_invited"] == 4
    assert Invite.objects.get(patient=email_only[0]).channel == "email"
    assert {m.message.channel for m in outbox} == {"sms", "email"}
    assert AuditEntry.objects.filter(action="invites.created").count() == 2


def test_invites_create_refuses_another_practice(campaign, other_practice_staff, patients):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        invites.invites_create(campaign=campaign, patients=patients, user=other_practice_staff)
    assert not Invite.objects.exists()


def test_link_holds_a_token_only_its_hash_is_stored(campaign, commit, practice_admin, patients):
    configure(campaign, **ALL_DAY)
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    link = invites.invite_link(invite)
    assert link.startswith("http://127.0.0.1:8000/book/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 43
    assert invite.token_hash == hash_token(token)
    assert token not in {invite.token_salt, invite.token_hash}


def test_expiry_is_never_after_the_campaign_end(campaign, commit, practice_admin, patients):
    configure(campaign, **ALL_DAY, end_date=timezone.localdate() + timedelta(days=1))
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    end = datetime.combine(campaign.end_date + timedelta(days=1), time.min, tzinfo=LONDON)
    assert invite.expires_at == end

    configure(campaign, end_date=timezone.localdate() + timedelta(days=60), invite_expiry_days=7)
    before = timezone.now()
    commit(invites.invites_create, campaign=campaign, patients=patients[1:2], user=practice_admin)
    later = Invite.objects.get(patient=patients[1])
    assert before + timedelta(days=7) <= later.expires_at <= timezone.now() + timedelta(days=7)


# --- Delivery -------------------------------------------------------------------------------


def test_delivery_is_recorded_and_never_repeated(
    campaign, commit, practice_admin, patients, outbox
):
    configure(campaign, **ALL_DAY)
    commit(invites.invites_create, campaign=campaign, patients=patients, user=practice_admin)
    sent = Invite.objects.filter(campaign=campaign)
    assert all(i.delivery_status == "sent" and i.sent_at and i.delivery_attempts == 1 for i in sent)
    assert len(outbox) == 3

    send_invites.delay([i.pk for i in sent])  # a duplicate task, or a retry
    assert len(outbox) == 3
    assert set(sent.values_list("delivery_attempts", flat=True)) == {1}


def test_invite_message_text_and_no_token_in_logs(
    campaign, commit, practice_admin, patients, caplog
):
    configure(campaign, **ALL_DAY)
    caplog.set_level("DEBUG")
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    message = notify.outbox[0].message
    invite = Invite.objects.get()
    link = invites.invite_link(invite)
    assert message.to == patients[0].mobile
    assert link in message.body
    assert "Alpha Surgery: you are invited to book your Flu vaccination" in message.body
    assert "or a nearby PCN site" in message.body
    assert message.personalisation["link"] == link
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in caplog.text
    assert patients[0].mobile not in caplog.text


def test_opted_out_after_queueing_is_not_sent(campaign, practice_admin, patients, outbox):
    configure(campaign, **ALL_DAY)
    invites.invites_create(campaign=campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    type(patients[0]).objects.filter(pk=patients[0].pk).update(opted_out_of_messages=True)
    send_invites.delay([invite.pk])
    invite.refresh_from_db()
    assert invite.delivery_status == "failed"
    assert "opted out" in invite.delivery_error
    assert outbox == []


# --- Confirmation and cancellation ------------------------------------------------------------


def test_confirmation_and_cancellation_messages(mirrored, commit, practice_admin, patients, outbox):
    configure(mirrored, **ALL_DAY)
    commit(invites.invites_create, campaign=mirrored, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    pcn_slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    booking = services.booking_create(
        campaign=mirrored,
        patient=patients[0],
        slot=pcn_slot,
        booked_by=None,
        via="self_book",
        pcn_consent=True,
    )
    outbox.clear()

    commit(invites.invite_send_confirmation, invite=invite, booking=booking)
    confirmation = outbox[-1].message
    assert confirmation.kind == "confirmation"
    assert "your Flu vaccination is booked for" in confirmation.body
    local = timezone.localtime(booking.start, LONDON)
    assert f"at {local:%H:%M}" in confirmation.body
    assert booking.site_name in confirmation.body and booking.site_address in confirmation.body
    assert "Alpha Hub" in confirmation.body
    assert invites.invite_link(invite) in confirmation.body
    assert "To cancel or change it" in confirmation.body

    cancelled = services.booking_cancel(
        booking=booking, user=None, reason="Patient cancelled", via="self_book"
    )
    commit(invites.invite_send_cancellation, invite=invite, booking=cancelled)
    cancellation = outbox[-1].message
    assert cancellation.kind == "cancellation"
    assert "has been cancelled" in cancellation.body
    assert "Alpha Hub" in cancellation.body
    assert [m.message.kind for m in outbox] == ["confirmation", "cancellation"]


# --- Reminders -------------------------------------------------------------------------------


def _age(invite: Invite, days: int) -> None:
    Invite.objects.filter(pk=invite.pk).update(sent_at=timezone.now() - timedelta(days=days))


def test_reminders_follow_the_chaser_sequence_and_stop(campaign, commit, practice_admin, outbox):
    configure(campaign, **ALL_DAY, chaser_count=2, chaser_interval_days=7)
    people = add_patients(campaign, practice_admin, 4)
    commit(invites.invites_create, campaign=campaign, patients=people, user=practice_admin)
    quiet, booked, declined, opted = (Invite.objects.get(patient=p) for p in people)
    for invite in (quiet, booked, declined, opted):
        _age(invite, 8)
    Booking.objects.create(
        campaign=campaign,
        patient=booked.patient,
        practice=campaign.practice,
        connection=campaign.practice.emis_connections.first(),
        emis_slot_id="s-1",
        start=at(2, 9),
        end=at(2, 9, 10),
        status=BookingStatus.BOOKED,
        booked_via="staff",
    )
    Invite.objects.filter(pk=declined.pk).update(declined_at=timezone.now())
    type(opted.patient).objects.filter(pk=opted.patient_id).update(opted_out_of_messages=True)
    outbox.clear()

    first = commit(invites.invites_send_reminders, campaign=campaign)
    assert first.queued == 1
    assert [m.message.kind for m in outbox] == ["reminder"]
    assert outbox[0].message.invite_id == quiet.pk
    quiet.refresh_from_db()
    assert quiet.reminders_sent == 1
    # The reminder gives the link a fresh validity.
    assert quiet.expires_at > timezone.now() + timedelta(days=6)

    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 0  # too soon
    Invite.objects.filter(pk=quiet.pk).update(last_reminder_at=timezone.now() - timedelta(days=7))
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 1
    Invite.objects.filter(pk=quiet.pk).update(last_reminder_at=timezone.now() - timedelta(days=30))
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 0  # count reached
    assert [m.message.invite_id for m in outbox] == [quiet.pk, quiet.pk]


def test_reminders_stop_when_the_patient_books_by_the_link(
    campaign, commit, practice_admin, patients, outbox
):
    configure(campaign, **ALL_DAY)
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    _age(invite, 8)
    Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now())
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 0


def test_send_reminders_now_from_staff_and_the_beat_task(
    campaign, commit, practice_admin, patients, django_capture_on_commit_callbacks, outbox
):
    configure(campaign, **ALL_DAY, chaser_count=1)
    commit(invites.invites_create, campaign=campaign, patients=patients, user=practice_admin)
    outbox.clear()
    # Staff: anyone messaged at least a day ago, without waiting the full interval.
    _age(Invite.objects.get(patient=patients[0]), 2)
    now = commit(invites.invites_send_reminders, campaign=campaign, user=practice_admin)
    assert now.queued == 1
    # Beat: the interval (7 days).
    _age(Invite.objects.get(patient=patients[1]), 8)
    with django_capture_on_commit_callbacks(execute=True):
        send_invite_reminders.delay()
    assert sorted(m.message.invite_id for m in outbox) == sorted(
        Invite.objects.filter(patient__in=patients[:2]).values_list("pk", flat=True)
    )


class _FailingNotifier(notify.LocmemBackend):
    """GOV.UK Notify answering every message with `error`."""

    error: notify.NotifyError = notify.NotifyTransientError("GOV.UK Notify is unavailable.")

    def send(self, message):
        raise self.error


@pytest.fixture
def failing_notifier(settings, monkeypatch):
    """failing_notifier(error): every message fails with it, until reset to locmem."""
    from celery import current_app

    def use(error):
        monkeypatch.setattr(_FailingNotifier, "error", error)
        monkeypatch.setitem(notify._BACKENDS, "failing", _FailingNotifier)
        settings.NOTIFY_BACKEND = "failing"

    before = current_app.conf.task_eager_propagates
    current_app.conf.task_eager_propagates = False  # retried like a worker, not raised
    yield use
    current_app.conf.task_eager_propagates = before


def test_a_reminder_counts_only_once_sent_and_an_unsent_one_is_queued_again(
    campaign, commit, practice_admin, patients, outbox, settings, failing_notifier
):
    configure(campaign, **ALL_DAY, chaser_count=2)
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    _age(invite, 8)
    outbox.clear()
    failing_notifier(notify.NotifyTransientError("GOV.UK Notify is unavailable (error 503)."))
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 1
    invite.refresh_from_db()
    # Every try failed: not counted, the claim released, the reason kept for staff.
    assert (invite.reminders_sent, invite.last_reminder_at, invite.reminder_queued_at) == (
        0,
        None,
        None,
    )
    assert invite.delivery_error.startswith("Reminder 1 not sent after")
    assert outbox == []
    # The next round queues it again, and this time it goes.
    settings.NOTIFY_BACKEND = "locmem"
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 1
    invite.refresh_from_db()
    assert invite.reminders_sent == 1 and invite.last_reminder_at is not None
    assert [m.message.kind for m in outbox] == ["reminder"]


def test_a_reminder_that_cannot_go_waits_an_interval(
    campaign, commit, practice_admin, patients, outbox, settings, failing_notifier
):
    configure(campaign, **ALL_DAY, chaser_count=2, chaser_interval_days=7)
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    _age(invite, 8)
    failing_notifier(notify.NotifyPermanentError("Not a UK mobile number"))
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 1
    invite.refresh_from_db()
    assert invite.reminders_sent == 0 and invite.reminder_failed_at is not None
    assert invite.delivery_error == "Reminder 1 not sent: Not a UK mobile number"
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 0  # not again now
    Invite.objects.filter(pk=invite.pk).update(
        reminder_failed_at=timezone.now() - timedelta(days=7)
    )
    assert commit(invites.invites_send_reminders, campaign=campaign).queued == 1


def test_reminders_wait_for_sending_hours(campaign, commit, practice_admin, patients):
    configure(campaign, **ALL_DAY)
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    _age(Invite.objects.get(), 8)
    local_now = timezone.localtime(timezone.now(), LONDON)
    configure(
        campaign,
        sending_from=(local_now + timedelta(hours=2)).time().replace(second=0, microsecond=0),
        sending_until=(local_now + timedelta(hours=4)).time().replace(second=0, microsecond=0),
    )
    result = commit(invites.invites_send_reminders, campaign=campaign)
    assert result.queued == 0
    assert "only" in result.reason


# --- Non-responders and outcomes -------------------------------------------------------------


def test_non_responder_list_and_call_outcomes(campaign, commit, practice_admin, patients):
    configure(campaign, **ALL_DAY, chaser_count=2, chaser_interval_days=7)
    commit(invites.invites_create, campaign=campaign, patients=patients, user=practice_admin)
    done, pending, fresh = (Invite.objects.get(patient=p) for p in patients)
    long_ago = timezone.now() - timedelta(days=8)
    Invite.objects.filter(pk=done.pk).update(reminders_sent=2, last_reminder_at=long_ago)
    Invite.objects.filter(pk=pending.pk).update(reminders_sent=1, last_reminder_at=long_ago)
    Invite.objects.filter(pk=fresh.pk).update(reminders_sent=2, last_reminder_at=timezone.now())

    assert list(invites.non_responders(campaign=campaign)) == [done]

    invites.invite_record_call_outcome(
        invite=done, outcome=CallOutcome.NO_ANSWER, user=practice_admin
    )
    assert list(invites.non_responders(campaign=campaign)) == [done]  # still to phone
    invites.invite_record_call_outcome(
        invite=done, outcome=CallOutcome.WRONG_NUMBER, user=practice_admin
    )
    assert list(invites.non_responders(campaign=campaign)) == []
    assert list(invites.non_responders(campaign=campaign, include_called=True)) == [done]
    done.refresh_from_db()
    assert (done.call_outcome, done.call_outcome_by) == ("wrong_number", practice_admin)
    assert AuditEntry.objects.filter(action="invite.call_outcome").count() == 2

    Invite.objects.filter(pk=pending.pk).update(reminders_sent=2)
    invites.invite_record_call_outcome(
        invite=pending, outcome=CallOutcome.DECLINED, user=practice_admin
    )
    pending.refresh_from_db()
    assert pending.declined_at is not None


def test_failed_deliveries_are_on_the_non_responder_list(campaign, practice_admin, patients):
    configure(campaign, **ALL_DAY)
    invites.invites_create(campaign=campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    Invite.objects.filter(pk=invite.pk).update(
        delivery_status="failed", delivery_error="GOV.UK Notify refused the message"
    )
    assert list(invites.non_responders(campaign=campaign)) == [invite]


def test_call_outcome_must_be_known(campaign, practice_admin, patients):
    from django.core.exceptions import ValidationError

    configure(campaign, **ALL_DAY)
    invites.invites_create(campaign=campaign, patients=patients[:1], user=practice_admin)
    with pytest.raises(ValidationError):
        invites.invite_record_call_outcome(
            invite=Invite.objects.get(), outcome="shouted", user=practice_admin
        )


# --- Counts -----------------------------------------------------------------------------------


def test_counts(mirrored, commit, practice_admin, patients, django_assert_max_num_queries):
    configure(mirrored, **ALL_DAY)
    more = add_patients(mirrored, practice_admin, 3)
    everyone = [*patients, *more]
    commit(invites.invites_create, campaign=mirrored, patients=everyone, user=practice_admin)
    Invite.objects.filter(patient=more[0]).update(delivery_status="failed", delivery_error="x")
    Invite.objects.filter(patient=more[1]).update(declined_at=timezone.now())
    slots = list(campaign_offerable_slots(campaign=mirrored))
    practice_slot = next(s for s in slots if not s.is_pcn)
    pcn_slots = [s for s in slots if s.is_pcn]
    book(mirrored, patients[0], practice_slot, practice_admin)
    services.booking_create(
        campaign=mirrored,
        patient=patients[1],
        slot=pcn_slots[0],
        booked_by=None,
        via="self_book",
        pcn_consent=True,
    )
    gone = services.booking_create(
        campaign=mirrored,
        patient=patients[2],
        slot=pcn_slots[1],
        booked_by=None,
        via="self_book",
        pcn_consent=True,
    )
    services.booking_cancel(booking=gone, user=None, reason="Cannot come", via="self_book")

    with django_assert_max_num_queries(5):
        counts = invites.campaign_invite_counts(campaign=mirrored)
    assert counts.invited == 6
    assert counts.delivered == 5
    assert counts.failed == 1
    assert (counts.booked_practice, counts.booked_pcn, counts.booked) == (1, 1, 2)
    assert counts.declined == 1
    assert counts.cancelled == 1
    assert counts.not_yet_booked == 3  # the cancelled one, the failed one, one never answered
    panel = invites.campaign_invite_panel(campaign=mirrored)
    assert panel.state.state in {"sending", "paused", "done"}


def test_an_invite_another_worker_holds_is_left_alone(campaign, practice_admin, patients, outbox):
    from django.core.cache import cache

    configure(campaign, **ALL_DAY)
    invites.invites_create(campaign=campaign, patients=patients[:2], user=practice_admin)
    held, free = Invite.objects.order_by("pk")
    cache.add(f"invite-send:{held.pk}", 1, timeout=30)
    try:
        result = invites.invites_send_batch(invite_ids=[held.pk, free.pk])
    finally:
        cache.delete(f"invite-send:{held.pk}")
    held.refresh_from_db()
    assert result.sent == 1
    assert (held.delivery_status, held.delivery_attempts) == ("queued", 0)
    assert [m.message.invite_id for m in outbox] == [free.pk]


def test_wave_task_queues_again_invitations_no_task_tried(
    big_campaign, practice_admin, patients, outbox, django_capture_on_commit_callbacks
):
    from booking.tasks import send_campaign_wave

    invites.invites_create(campaign=big_campaign, patients=patients, user=practice_admin)
    Invite.objects.update(created_at=timezone.now() - timedelta(minutes=11))  # a lost task
    with django_capture_on_commit_callbacks(execute=True):
        send_campaign_wave.delay(big_campaign.pk)
    stale = Invite.objects.filter(patient__in=patients)
    assert set(stale.values_list("delivery_status", flat=True)) == {"sent"}
    assert sorted(
        m.message.invite_id for m in outbox if m.message.invite_id in {i.pk for i in stale}
    ) == sorted(i.pk for i in stale)


def test_link_end_is_said_plainly(campaign, commit, practice_admin, patients, outbox):
    configure(campaign, **ALL_DAY, end_date=timezone.localdate() + timedelta(days=1))
    commit(invites.invites_create, campaign=campaign, patients=patients[:1], user=practice_admin)
    last_day = campaign.end_date
    assert f"The link works until the end of {last_day:%A} {last_day.day} {last_day:%B}." in (
        outbox[0].message.body
    )


def test_state_changes_are_audited_once_each(big_campaign, commit, emis_world, practice_admin):
    commit(invites.campaign_send_wave, campaign=big_campaign)  # sending
    commit(invites.campaign_send_wave, campaign=big_campaign)  # still sending (enough out)
    Slot.objects.all().delete()  # every mirrored slot gone
    commit(invites.campaign_send_wave, campaign=big_campaign)  # paused: no free slots
    commit(invites.campaign_send_wave, campaign=big_campaign)  # still paused
    add_practice_slots(emis_world, big_campaign, 2, day=4)
    commit(invites.campaign_send_wave, campaign=big_campaign)  # resumed
    states = list(
        AuditEntry.objects.filter(action="invites.wave_state")
        .order_by("pk")
        .values_list("details__state", "details__reason")
    )
    assert states == [("sending", ""), ("paused", "no free slots"), ("sending", "")]


def test_a_campaign_with_no_patients_waits_for_them_rather_than_saying_done(
    mirrored, practice_admin, patients
):
    from booking.models import CampaignPatient

    CampaignPatient.objects.filter(campaign=mirrored).delete()
    plan = invites.campaign_invite_state(campaign=mirrored)
    assert (plan.state, plan.reason) == ("paused", "no patients yet")
    assert "no patients on the campaign yet" in plan.detail
    services.campaign_add_patients(user=practice_admin, campaign=mirrored, patients=patients[:2])
    from datetime import datetime, time

    from booking.selectors import LONDON

    midday = datetime.combine(timezone.localdate(), time(12), tzinfo=LONDON)
    assert invites.campaign_invite_state(campaign=mirrored, now=midday).reason == "inviting"
