"""/metrics: Prometheus text whose values match the database, for a token or a
scraper on this machine only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from emis_integration.models import EmisConnection
from hippo_pcn.health.models import Heartbeat
from hippo_pcn.health.services import BEAT_HEARTBEAT
from tracing.models import PollCursor, PollRun, PollRunStatus, TracingTask

from .helpers import make_task


def scrape(client: Client, **headers: str) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_metrics_match_the_database(db, live_pcn_a, settings):
    settings.TRACING_POLL_ALERT_AFTER_SECONDS = 600
    now = timezone.now()
    Heartbeat.objects.create(name=BEAT_HEARTBEAT, last_seen=now - timedelta(seconds=42))
    PollCursor.objects.create(connection=live_pcn_a, last_success_at=now - timedelta(seconds=900))
    for minutes in (5, 50, 500):
        PollRun.objects.create(
            connection=live_pcn_a,
            started_at=now - timedelta(minutes=minutes),
            status=PollRunStatus.FAILED,
            error="EMIS did not answer",
        )
    PollRun.objects.create(
        connection=live_pcn_a, started_at=now - timedelta(days=2), status=PollRunStatus.FAILED
    )
    make_task(live_pcn_a, due_in=timedelta(hours=-2), appointment_start=now + timedelta(hours=3))
    make_task(live_pcn_a, due_in=timedelta(hours=5), appointment_start=now + timedelta(hours=30))
    make_task(
        live_pcn_a,
        status="claimed",
        due_in=timedelta(hours=1),
        appointment_start=now + timedelta(hours=20),
    )
    make_task(live_pcn_a, status="traced", appointment_start=now + timedelta(hours=2))

    values = scrape(Client())
    connection = (
        ("connection", str(live_pcn_a.pk)),
        ("ods_code", "U10001"),
        ("pcn", "Alpha PCN"),
    )
    pcn = (("ods_code", "U10001"), ("pcn", "Alpha PCN"))
    assert 900 <= values[("hippo_tracing_seconds_since_last_successful_poll", connection)] < 960
    assert values[("hippo_tracing_poll_healthy", connection)] == 0
    assert values[("hippo_tracing_poll_errors_24h", connection)] == 3
    assert 42 <= values[("hippo_beat_heartbeat_age_seconds", ())] < 100
    tasks = TracingTask.objects.filter(pcn=live_pcn_a.organisation)
    assert values[("hippo_tracing_tasks_open", pcn)] == tasks.active().count() == 3
    assert values[("hippo_tracing_tasks_overdue", pcn)] == tasks.overdue().count() == 1
    assert values[("hippo_tracing_tasks_due_within_24h", pcn)] == tasks.within_24h().count() == 2

    PollCursor.objects.filter(connection=live_pcn_a).update(last_success_at=timezone.now())
    values = scrape(Client())
    assert values[("hippo_tracing_poll_healthy", connection)] == 1
    assert values[("hippo_tracing_seconds_since_last_successful_poll", connection)] < 60


@pytest.mark.parametrize(
    ("remote", "headers", "token", "allowed"),
    [
        ("127.0.0.1", {}, "", True),
        ("::1", {}, "", True),
        ("10.1.2.3", {}, "", False),
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}, "", False),
        ("10.1.2.3", {"HTTP_AUTHORIZATION": "Bearer s3cret-metrics"}, "s3cret-metrics", True),
        ("10.1.2.3", {"HTTP_AUTHORIZATION": "Bearer wrong"}, "s3cret-metrics", False),
        ("10.1.2.3", {"HTTP_AUTHORIZATION": "Bearer "}, "", False),
    ],
)
def test_only_a_token_or_this_machine_may_scrape(db, settings, remote, headers, token, allowed):
    settings.METRICS_TOKEN = token
    response = Client(REMOTE_ADDR=remote).get("/metrics", **headers)
    assert response.status_code == (200 if allowed else 404)
    if allowed:
        assert b"hippo_beat_heartbeat_age_seconds" in response.content


def test_a_connection_not_live_is_not_reported(db, live_pcn_a):
    EmisConnection.objects.filter(pk=live_pcn_a.pk).update(status="suspended")
    values = scrape(Client())
    assert not [key for key in values if key[0].startswith("hippo_tracing_poll")]
