"""Alerts that do not depend on the part that failed: the scheduler alert and the
poll-health alert are raised once by whichever of beat, a worker or the cron
command sees the problem first, and the banner and /healthz show the state live
from the heartbeats and last polls, with no check run at all."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from emis_integration.models import EmisConnection
from hippo_pcn.health.alerts import (
    BEAT_PROCESS,
    BEAT_STARTED,
    SCHEDULER_ALERT,
    WORKER_PROCESS,
    health_alerts_run,
    scheduler_state,
    start_alert_thread,
)
from hippo_pcn.health.models import HealthAlert, Heartbeat
from hippo_pcn.health.services import BEAT_HEARTBEAT
from tracing.models import PollCursor


def beats(**ages_s):
    """Set heartbeat ages in seconds: task=, beat=, worker=, started= (beat's start;
    None: no row)."""
    names = {
        "task": BEAT_HEARTBEAT,
        "beat": BEAT_PROCESS,
        "worker": WORKER_PROCESS,
        "started": BEAT_STARTED,
    }
    now = timezone.now()
    for key, name in names.items():
        age = ages_s.get(key)
        Heartbeat.objects.filter(name=name).delete()
        if age is not None:
            Heartbeat.objects.create(name=name, last_seen=now - timedelta(seconds=age))


@pytest.fixture
def support_with_email(support_user):
    support_user.email = "support@example.nhs.uk"
    support_user.save()
    return support_user


@pytest.mark.parametrize(
    ("ages", "ok", "words"),
    [
        ({}, True, "has not started yet"),
        ({"task": 10, "beat": 10, "worker": 10}, True, "are running"),
        ({"task": 600, "beat": 5}, False, "no worker is running, or the broker is down"),
        ({"task": 600, "worker": 5}, False, "Celery beat is not running"),
        ({"task": 600, "beat": 600, "worker": 600}, False, "Neither Celery beat nor any worker"),
        ({"beat": 5}, False, "have not run yet"),
        # Just started (within the 120 s grace): its first round has not come yet.
        ({"beat": 5, "started": 20}, True, "has just started"),
        ({"task": 900, "beat": 5, "worker": 5, "started": 20}, True, "has just started"),
        # The grace is over and still nothing ran: stopped.
        ({"beat": 5, "started": 400}, False, "have not run yet"),
    ],
)
def test_the_scheduler_state_says_which_part_stopped(db, settings, ages, ok, words):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 180
    settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS = 120
    beats(**ages)
    state = scheduler_state()
    assert state.ok is ok
    assert words in state.summary


def test_whichever_runner_comes_first_sends_the_one_email(db, settings, support_with_email):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 180
    beats(task=600, worker=5)  # beat stopped; the worker still runs its check
    health_alerts_run(runner="worker")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "hippo-pcn: scheduled work has stopped"
    assert "Celery beat is not running" in mail.outbox[0].body
    assert "Noticed by the worker" in mail.outbox[0].body
    # The same check by the worker a minute later, by cron, and as a task: no more.
    health_alerts_run(runner="worker")
    health_alerts_run(runner="check_poll_health command")
    assert len(mail.outbox) == 1
    alert = HealthAlert.objects.get(name=SCHEDULER_ALERT)
    assert alert.raised_by == "worker" and alert.raised_at is not None
    # Recovery clears it; a later stop is a new alert.
    beats(task=5, worker=5)
    health_alerts_run(runner="worker")
    assert HealthAlert.objects.get(name=SCHEDULER_ALERT).raised_at is None
    beats(task=600, beat=5)
    health_alerts_run(runner="beat")
    assert len(mail.outbox) == 2
    assert "no worker is running, or the broker is down" in mail.outbox[1].body


def test_two_runners_at_the_same_moment_send_one_email(
    transactional_db, settings, support_with_email
):
    from django.db import connection

    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 180
    beats(task=600, beat=5, worker=5)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(runner: str) -> None:
        try:
            barrier.wait()
            health_alerts_run(runner=runner)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(name,))
        for name in ("beat", "worker", "check_poll_health command", "scheduled task")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(mail.outbox) == 1


def test_the_cron_command_alerts_and_exits_non_zero_when_unhealthy(
    db, settings, support_with_email
):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 180
    beats(task=600, beat=600, worker=600)  # everything stopped: only cron is left
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("check_poll_health", stdout=out, stderr=err)
    assert stopped.value.code == 1
    assert "Neither Celery beat nor any worker is running" in err.getvalue()
    assert len(mail.outbox) == 1
    assert "Noticed by the check_poll_health command" in mail.outbox[0].body
    beats(task=5, beat=5, worker=5)
    out = io.StringIO()
    call_command("check_poll_health", stdout=out, stderr=io.StringIO())  # exits 0
    assert "Celery beat and the workers are running." in out.getvalue()
    assert HealthAlert.objects.get(name=SCHEDULER_ALERT).raised_at is None


def test_the_banner_and_healthz_show_a_stopped_scheduler_with_no_check_run(
    db, settings, client_for, support_user, pcn_tracer
):
    """Beat stopped: nothing has run the alert check, yet the web process alone
    shows support the banner on every admin page, and /healthz fails."""
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 180
    beats(task=600, worker=5)
    assert not HealthAlert.objects.filter(raised_at__isnull=False).exists()
    for url in (reverse("admin:index"), reverse("admin:tracing_tracingtask_changelist")):
        page = client_for(support_user).get(url).content.decode()
        assert 'data-testid="scheduler-alert"' in page, url
        assert "Celery beat is not running" in page
    tracer_page = client_for(pcn_tracer).get(reverse("admin:index")).content.decode()
    assert "scheduler-alert" not in tracer_page
    assert client_for(support_user).get(reverse("healthz")).status_code == 503
    beats(task=5, beat=5, worker=5)
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert "scheduler-alert" not in page


def test_the_poll_banner_is_live_from_the_last_successful_poll(
    db, settings, client_for, support_user, live_pcn_a
):
    """No check has marked the alert raised: the banner still shows a connection
    whose last successful poll is older than the limit, and goes when it polls."""
    settings.TRACING_POLL_ALERT_AFTER_SECONDS = 600
    beats(task=5, beat=5, worker=5)
    then = timezone.now() - timedelta(seconds=900)
    EmisConnection.objects.filter(pk=live_pcn_a.pk).update(status_changed_at=then, created_at=then)
    PollCursor.objects.update_or_create(
        connection=live_pcn_a, defaults={"last_success_at": then, "alert_raised_at": None}
    )
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert 'data-testid="poll-alert"' in page
    assert "Alpha PCN" in page
    cursors = reverse("admin:tracing_pollcursor_changelist")
    assert "Not polling" in client_for(support_user).get(cursors).content.decode()
    PollCursor.objects.filter(connection=live_pcn_a).update(last_success_at=timezone.now())
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert 'data-testid="poll-alert"' not in page
    assert "Not polling" not in client_for(support_user).get(cursors).content.decode()


def test_the_thread_in_beat_or_a_worker_beats_and_checks(
    transactional_db, settings, support_with_email
):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 180
    settings.HEALTH_HEARTBEAT_INTERVAL_SECONDS = 0.05
    settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS = 0
    beats(task=600)  # the beat task has not run for ten minutes
    stop = threading.Event()
    thread = start_alert_thread(runner="worker", stop=stop)
    try:
        for _ in range(100):
            if HealthAlert.objects.filter(name=SCHEDULER_ALERT, raised_at__isnull=False).exists():
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert Heartbeat.objects.filter(name=WORKER_PROCESS).exists()
    assert HealthAlert.objects.get(name=SCHEDULER_ALERT).raised_by == "worker"
    assert len(mail.outbox) == 1


def test_a_runner_just_started_waits_before_raising(transactional_db, settings, support_with_email):
    """A worker that has just started (after a restart, an old heartbeat is left;
    or beat is starting too) does not cry wolf within the startup grace."""
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 180
    settings.HEALTH_HEARTBEAT_INTERVAL_SECONDS = 0.05
    settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS = 60
    beats(task=600)
    stop = threading.Event()
    thread = start_alert_thread(runner="worker", stop=stop)
    try:
        for _ in range(20):  # about 20 checks
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert Heartbeat.objects.filter(name=WORKER_PROCESS).exists()  # it did run
    assert not HealthAlert.objects.filter(raised_at__isnull=False).exists()
    assert mail.outbox == []
