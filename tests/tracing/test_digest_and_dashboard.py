"""The digest email and the dashboard, each scoped to its organisation."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from tracing.models import DigestSent, TracingPolicy, TracingTask
from tracing.services import tracing_digests_send

from .helpers import make_task

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def tracers(pcn_tracer, other_pcn_tracer, practice_staff):
    for user, email in (
        (pcn_tracer, "a.tracer@example.nhs.uk"),
        (other_pcn_tracer, "b.tracer@example.nhs.uk"),
        (practice_staff, "a.practice@example.nhs.uk"),
    ):
        user.email = email
        user.save()


def test_digest_command_sends_one_email_per_owner_with_counts_and_link(
    tracers, live_pcn_a, live_pcn_b
):
    now = timezone.now()
    make_task(live_pcn_a, due_in=timedelta(hours=-2), patient_family_name="Overdue")
    make_task(live_pcn_a, appointment_start=now + timedelta(hours=3), due_in=timedelta(hours=1))
    make_task(live_pcn_a, status="traced")
    make_task(live_pcn_b, due_in=timedelta(hours=-1))
    out = StringIO()
    call_command("tracing_digest", "--org", "U10001", stdout=out)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["a.tracer@example.nhs.uk"]
    assert "Overdue: 1" in message.body
    assert "next 24 hours not traced yet: 1" in message.body
    assert f"?owner={live_pcn_a.organisation.pk}" in message.body
    assert "Overdue" not in message.subject or "1 overdue" in message.subject
    # Tenancy: PCN B's tracers get nothing about PCN A, and vice versa.
    call_command("tracing_digest", stdout=StringIO())
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert "Beta PCN" in by_recipient["b.tracer@example.nhs.uk"].body
    assert "Alpha" not in by_recipient["b.tracer@example.nhs.uk"].body
    with pytest.raises(CommandError, match="no organisation with ODS code ZZZ"):
        call_command("tracing_digest", "--org", "zzz")


def test_beat_digest_goes_out_at_the_batch_time_only(tracers, live_pcn_a, pcn_a):
    TracingPolicy.objects.create(pcn=pcn_a, batch_time=time(8, 0))
    wednesday_8 = datetime(2026, 11, 25, 8, 0, tzinfo=LONDON)
    make_task(
        live_pcn_a,
        due_at=wednesday_8 - timedelta(hours=1),
        appointment_start=wednesday_8 + timedelta(days=2),
    )
    assert tracing_digests_send(now=wednesday_8 + timedelta(hours=1)) == 0
    assert tracing_digests_send(now=wednesday_8) == 1
    assert tracing_digests_send(now=datetime(2026, 11, 28, 8, 0, tzinfo=LONDON)) == 0  # Saturday
    assert len(mail.outbox) == 1


def test_scheduled_digest_goes_out_once_an_hour_however_often_it_runs(tracers, live_pcn_a, pcn_a):
    """Two beats (or a redelivered task) in the same hour: one email, one mark."""
    TracingPolicy.objects.create(pcn=pcn_a, batch_time=time(8, 0))
    wednesday_8 = datetime(2026, 11, 25, 8, 0, tzinfo=LONDON)
    make_task(
        live_pcn_a,
        due_at=wednesday_8 - timedelta(hours=1),
        appointment_start=wednesday_8 + timedelta(days=2),
    )
    assert tracing_digests_send(now=wednesday_8) == 1
    assert tracing_digests_send(now=wednesday_8 + timedelta(minutes=1)) == 0
    assert len(mail.outbox) == 1
    assert DigestSent.objects.filter(owner=pcn_a).count() == 1
    # The next week's batch is a new hour: it goes out, and marks two days old go.
    assert tracing_digests_send(now=wednesday_8 + timedelta(days=7)) == 1
    assert list(DigestSent.objects.values_list("hour", flat=True)) == [
        wednesday_8 + timedelta(days=7)
    ]


def test_a_failed_digest_send_leaves_no_mark_and_is_sent_next_run(
    tracers, live_pcn_a, pcn_a, monkeypatch
):
    import smtplib

    TracingPolicy.objects.create(pcn=pcn_a, batch_time=time(8, 0))
    wednesday_8 = datetime(2026, 11, 25, 8, 0, tzinfo=LONDON)
    make_task(
        live_pcn_a,
        due_at=wednesday_8 - timedelta(hours=1),
        appointment_start=wednesday_8 + timedelta(days=2),
    )

    def mail_server_down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    with monkeypatch.context() as patched:
        patched.setattr("django.core.mail.send_mail", mail_server_down)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            tracing_digests_send(now=wednesday_8)
    assert not DigestSent.objects.exists()
    assert tracing_digests_send(now=wednesday_8 + timedelta(minutes=2)) == 1
    assert len(mail.outbox) == 1


def test_practice_led_digest_is_hourly_and_only_with_new_tasks(
    tracers, live_pcn_a, pcn_a, practice_a
):
    TracingPolicy.objects.create(pcn=pcn_a, mode="practice_led")
    make_task(live_pcn_a, owner=practice_a, due_in=timedelta(days=1))
    make_task(live_pcn_a, owner=practice_a, due_in=timedelta(days=1))
    assert tracing_digests_send(now=timezone.now() + timedelta(minutes=5)) == 1
    assert mail.outbox[0].to == ["a.practice@example.nhs.uk"]  # one email for two bookings
    # Reported whatever the tasks' due times (they fall due tomorrow here).
    assert "New bookings to trace in the last hour: 2" in mail.outbox[0].body
    TracingTask.objects.update(created_at=timezone.now() - timedelta(hours=2))
    assert tracing_digests_send(now=timezone.now()) == 0


def test_dashboard_shows_own_pcn_only(
    client_for, pcn_tracer, other_pcn_tracer, live_pcn_a, live_pcn_b
):
    now = timezone.now()
    make_task(live_pcn_a, due_in=timedelta(hours=-1))
    make_task(live_pcn_a)
    traced = make_task(
        live_pcn_a,
        status="traced",
        appointment_start=now - timedelta(days=1),
        done_at=now - timedelta(days=2),
    )
    TracingTask.objects.filter(pk=traced.pk).update(created_at=now - timedelta(days=2, hours=6))
    make_task(live_pcn_b)
    response = client_for(pcn_tracer).get(reverse("admin:tracing_dashboard"))
    assert response.status_code == 200
    panels = response.context["panels"]
    assert [p.pcn.ods_code for p in panels] == ["U10001"]
    panel = panels[0]
    assert (panel.open, panel.overdue) == (2, 1)
    assert panel.before_appointment_rate == 100.0
    assert panel.median_hours_to_trace == 6.0
    body = response.content.decode()
    assert "<svg" in body and "Beta PCN" not in body
    other = client_for(other_pcn_tracer).get(reverse("admin:tracing_dashboard"))
    assert [p.pcn.ods_code for p in other.context["panels"]] == ["U20002"]
    assert "Alpha PCN" not in other.content.decode()


def test_dashboard_chart_has_axes_values_and_text_for_screen_readers(
    client_for, pcn_tracer, live_pcn_a
):
    now = timezone.now()
    for _ in range(3):
        make_task(live_pcn_a)
    make_task(live_pcn_a, status="traced", done_at=now)
    response = client_for(pcn_tracer).get(reverse("admin:tracing_dashboard"))
    body = response.content.decode()
    (panel,) = response.context["panels"]
    today = panel.days[-1]
    assert (today.found, today.traced) == (4, 1)
    # A value axis from 0 to the tallest bar (rounded up to an even number).
    assert [t["value"] for t in panel.chart["ticks"]] == [0, 2, 4]
    for value in (0, 2, 4):
        assert f'data-tick="{value}">{value}</text>' in body
    assert body.count('class="hippo-chart__axis"') == 2
    assert "Day of the month" in body
    # Each bar's value printed above it.
    assert 'class="hippo-chart__value"' in body
    assert ">4</text>" in body and ">1</text>" in body
    # Screen readers get the figures as a table, not the picture.
    assert 'aria-hidden="true" focusable="false"' in body
    assert '<table class="hippo-visually-hidden"' in body
    assert (
        f'<th scope="row">{today.day:%A} {today.day.day} {today.day:%B}</th><td>4</td><td>1</td>'
        in body
    )
    # No inline style or colour (the CSP forbids style attributes).
    svg = body[body.index("<svg") : body.index("</svg>")]
    assert "style=" not in svg and "fill=" not in svg


def test_dashboard_median_counts_from_the_booking_where_known(
    client_for, pcn_tracer, live_pcn_a, practice_a, practice_staff
):
    from booking.models import Booking, BookingStatus, Campaign
    from tests.booking.factories import PatientFactory

    now = timezone.now()
    found = make_task(live_pcn_a, status="traced", done_at=now - timedelta(hours=1))
    TracingTask.objects.filter(pk=found.pk).update(created_at=now - timedelta(hours=3))
    booked = make_task(live_pcn_a, status="traced", done_at=now - timedelta(hours=1))
    TracingTask.objects.filter(pk=booked.pk).update(created_at=now - timedelta(hours=5))
    campaign = Campaign.objects.create(
        practice=practice_a,
        name="Covid booster",
        appointment_type="Covid booster",
        start_date=timezone.localdate(),
        end_date=timezone.localdate() + timedelta(days=30),
        created_by=practice_staff,
    )
    booking = Booking.objects.create(
        campaign=campaign,
        patient=PatientFactory(practice=practice_a),
        practice=practice_a,
        connection=live_pcn_a,
        is_pcn=True,
        emis_slot_id="s-1",
        start=booked.appointment_start,
        end=booked.appointment_end,
        status=BookingStatus.BOOKED,
        booked_via="staff",
        tracing_task=booked,
    )
    # Booked a day before the poller found it: the median counts from the booking.
    Booking.objects.filter(pk=booking.pk).update(booked_at=now - timedelta(hours=25))
    response = client_for(pcn_tracer).get(reverse("admin:tracing_dashboard"))
    (panel,) = response.context["panels"]
    assert (panel.median_from_booking, panel.median_from_found) == (1, 1)
    assert panel.median_hours_to_trace == 13.0  # the middle of 2 h (found) and 24 h (booked)
    body = response.content.decode()
    assert "Median time from booking to trace (from when it was found in EMIS for 1" in body
    Booking.objects.filter(pk=booking.pk).delete()
    (panel,) = client_for(pcn_tracer).get(reverse("admin:tracing_dashboard")).context["panels"]
    assert panel.median_hours_to_trace == 3.0
    assert panel.median_label == "Median time from finding the booking in EMIS to trace"


def test_each_dashboard_figure_links_to_a_worklist_showing_that_many(
    client_for, support_user, live_pcn_a, live_pcn_b
):
    """Support sees every PCN: each panel's "Open" and "Overdue" figures link to the
    worklist filtered to that PCN, which lists exactly that many tasks."""
    import re

    for connection, overdue, later in ((live_pcn_a, 2, 1), (live_pcn_b, 1, 3)):
        for _ in range(overdue):
            make_task(connection, due_in=timedelta(hours=-1))
        for _ in range(later):
            make_task(connection, due_in=timedelta(days=2))
    client = client_for(support_user)
    body = client.get(reverse("admin:tracing_dashboard")).content.decode()
    figures = re.findall(
        r'data-figure="(open|overdue)"><a href="([^"]+)">(\d+)</a>', body.replace("&amp;", "&")
    )
    assert len(figures) == 4, figures
    for _, href, shown in figures:
        page = client.get(href)
        assert page.status_code == 200
        rows = page.content.decode().count('class="action-select"')
        assert rows == int(shown), (href, rows, shown)
