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

from tracing.models import TracingPolicy, TracingTask
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
