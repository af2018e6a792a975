"""The outbox itself: rows written in the caller's transaction, published on
commit or by the relay, backed off while the broker refuses, pruned when old, and
shown to support (only) in the admin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from hippo_pcn.celery import app
from hippo_pcn.health.models import Heartbeat
from hippo_pcn.outbox.models import OutboxMessage
from hippo_pcn.outbox.selectors import outbox_stats
from hippo_pcn.outbox.services import (
    outbox_enqueue,
    outbox_enqueue_many,
    outbox_prune,
    outbox_relay,
    outbox_try_publish,
)

from .conftest import celery_broker

HEARTBEAT = "hippo_pcn.health.tasks.beat_heartbeat"


def test_a_row_is_written_in_the_transaction_and_published_on_commit(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        row = outbox_enqueue(task=HEARTBEAT)
        assert row is not None
        assert OutboxMessage.objects.unpublished().count() == 1
    assert len(callbacks) == 1
    row.refresh_from_db()
    assert row.published_at is not None and row.attempts == 1 and row.last_error == ""
    assert Heartbeat.objects.exists()  # eager in tests: the task ran


def test_a_rolled_back_transaction_leaves_no_row(db, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        outbox_enqueue(task=HEARTBEAT)
        raise RuntimeError("the change failed")
    assert callbacks == []
    assert not OutboxMessage.objects.exists()


def test_a_dedupe_key_keeps_one_unpublished_row(db):
    first = outbox_enqueue(task=HEARTBEAT, dedupe_key="heartbeat")
    assert outbox_enqueue(task=HEARTBEAT, dedupe_key="heartbeat") is None
    assert OutboxMessage.objects.count() == 1
    OutboxMessage.objects.filter(pk=first.pk).update(published_at=timezone.now())
    assert outbox_enqueue(task=HEARTBEAT, dedupe_key="heartbeat") is not None


def test_refused_broker_records_the_error_and_backs_off_until_accepted(db, refused_url):
    rows = outbox_enqueue_many(task=HEARTBEAT, args_list=[[], []])
    with celery_broker(refused_url):
        started = time.monotonic()
        result = outbox_relay()
        assert time.monotonic() - started < 2
        assert (result.published, result.failed) == (0, 2)
        assert "Connection refused" in result.error or "111" in result.error
        for row in rows:
            row.refresh_from_db()
            assert row.published_at is None and row.attempts == 1
            assert row.available_at > timezone.now()
            assert row.last_error == result.error
        # Backing off: an immediate second run takes nothing.
        assert outbox_relay().failed == 0
        stats = outbox_stats()
        assert (stats.unpublished, stats.due, stats.failing) == (2, 0, 2)
        # Later, the broker still down: the second try waits twice as long.
        later = timezone.now() + timedelta(seconds=settings.OUTBOX_RETRY_BACKOFF_SECONDS + 1)
        assert outbox_relay(now=later).failed == 2
        rows[0].refresh_from_db()
        assert rows[0].attempts == 2
        assert rows[0].available_at >= later + timedelta(
            seconds=2 * settings.OUTBOX_RETRY_BACKOFF_SECONDS - 1
        )
    # The broker back (eager here): published, errors cleared.
    OutboxMessage.objects.update(available_at=timezone.now())
    assert outbox_relay().published == 2
    assert OutboxMessage.objects.unpublished().count() == 0
    assert set(OutboxMessage.objects.values_list("last_error", flat=True)) == {""}


def test_hung_broker_is_given_up_on_quickly_and_the_fast_path_pauses(db, hung_url):
    rows = outbox_enqueue_many(task=HEARTBEAT, args_list=[[], []])
    ids = [row.pk for row in rows]
    with celery_broker(hung_url):
        started = time.monotonic()
        result = outbox_try_publish(ids=ids)
        took = time.monotonic() - started
        assert result is not None and result.failed == 2
        assert took < settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS + 1
        # Paused: the next request does not wait on the hung broker at all.
        OutboxMessage.objects.update(available_at=timezone.now())
        started = time.monotonic()
        assert outbox_try_publish(ids=ids) is None
        assert time.monotonic() - started < 0.1
    assert OutboxMessage.objects.unpublished().count() == 2


def test_a_row_held_by_another_publisher_is_skipped(db):
    row = outbox_enqueue(task=HEARTBEAT)
    # Another publisher claimed it (its lease runs): not due, not taken again.
    OutboxMessage.objects.filter(pk=row.pk).update(
        available_at=timezone.now() + timedelta(seconds=60), attempts=1
    )
    assert outbox_relay().published == 0
    # The publisher died: after its lease the relay takes the row.
    assert outbox_relay(now=timezone.now() + timedelta(seconds=61)).published == 1


def test_old_published_rows_are_pruned(db):
    old, recent, waiting = outbox_enqueue_many(task=HEARTBEAT, args_list=[[], [], []])
    keep = settings.OUTBOX_KEEP_PUBLISHED_DAYS
    OutboxMessage.objects.filter(pk=old.pk).update(
        published_at=timezone.now() - timedelta(days=keep + 1)
    )
    OutboxMessage.objects.filter(pk=recent.pk).update(published_at=timezone.now())
    OutboxMessage.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(days=keep + 5),
        available_at=timezone.now() + timedelta(hours=1),
    )
    assert outbox_prune() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}


def test_relay_command_reports_what_it_did(db, capsys):
    outbox_enqueue_many(task=HEARTBEAT, args_list=[[], []])
    call_command("relay_outbox")
    assert "Published 2, not accepted 0, pruned 0; 0 unpublished left." in capsys.readouterr().out


def test_relay_runs_from_beat_and_every_queued_task_exists():
    schedule = settings.CELERY_BEAT_SCHEDULE["outbox-relay"]
    assert schedule["task"] == "hippo_pcn.outbox.tasks.relay_outbox"
    assert schedule["schedule"] == timedelta(seconds=settings.OUTBOX_RELAY_INTERVAL_SECONDS)
    app.loader.import_default_modules()
    from booking import invites

    for name in (
        schedule["task"],
        invites.SEND_INVITES_TASK,
        invites.SEND_REMINDER_TASK,
        invites.SEND_BOOKING_MESSAGE_TASK,
        "booking.tasks.refresh_campaign_slots",
    ):
        assert name in app.tasks, name


def test_a_redis_broker_gets_socket_and_connect_timeouts():
    code = (
        "import json, hippo_pcn.settings.base as s; "
        "print(json.dumps([s.CELERY_BROKER_TRANSPORT_OPTIONS, s.CELERY_TASK_PUBLISH_RETRY]))"
    )
    env = {**os.environ, "CELERY_BROKER_URL": "redis://broker.invalid:6379/0"}
    env.pop("CELERY_BROKER_SOCKET_TIMEOUT", None)
    env.pop("CELERY_BROKER_CONNECTION_TIMEOUT", None)
    found = subprocess.run(  # noqa: S603 - our own settings module
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert found.returncode == 0, found.stderr
    options, publish_retry = json.loads(found.stdout.strip().splitlines()[-1])
    assert options == {"socket_timeout": 5.0, "socket_connect_timeout": 2.0, "max_retries": 0}
    assert publish_retry is False


def test_broker_timeouts_are_bounded_by_default():
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 5
    assert settings.CELERY_TASK_PUBLISH_RETRY is False
    assert settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS < 2


# --- The admin ------------------------------------------------------------------------------


def test_support_sees_the_outbox_with_its_counts(db, client_for, support_user):
    rows = outbox_enqueue_many(task=HEARTBEAT, args_list=[[], []])
    OutboxMessage.objects.filter(pk=rows[0].pk).update(
        created_at=timezone.now() - timedelta(minutes=10), last_error="OperationalError: down"
    )
    client = client_for(support_user)
    page = client.get("/admin/outbox/outboxmessage/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "<strong>2</strong> unpublished" in text
    assert "with a broker error" in text
    assert "The oldest was written 10 minutes ago." in text
    detail = client.get(f"/admin/outbox/outboxmessage/{rows[0].pk}/change/")
    assert detail.status_code == 200
    assert "OperationalError: down" in detail.content.decode()
    assert client.get("/admin/outbox/outboxmessage/add/").status_code == 403


def test_publish_now_from_the_admin(db, client_for, support_user, refused_url):
    row = outbox_enqueue(task=HEARTBEAT)
    OutboxMessage.objects.filter(pk=row.pk).update(
        available_at=timezone.now() + timedelta(minutes=5)
    )
    client = client_for(support_user)
    form = {"action": "publish_now", "_selected_action": [row.pk]}
    with celery_broker(refused_url):
        refused = client.post("/admin/outbox/outboxmessage/", form, follow=True)
    assert "not accepted by the broker" in refused.content.decode()
    done = client.post("/admin/outbox/outboxmessage/", form, follow=True)
    assert "1 published." in done.content.decode()
    row.refresh_from_db()
    assert row.published_at is not None


def test_staff_who_are_not_support_get_a_404(db, client_for, practice_admin):
    row = outbox_enqueue(task=HEARTBEAT)
    client = client_for(practice_admin)
    assert client.get("/admin/outbox/outboxmessage/").status_code == 404
    assert client.get(f"/admin/outbox/outboxmessage/{row.pk}/change/").status_code == 404
    assert client.get("/admin/outbox/outboxmessage/999999/change/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_another_relay_is_skipped_not_waited_for():
    from django.db import connections

    row = OutboxMessage.objects.create(task=HEARTBEAT)  # committed, due
    locked, release = threading.Event(), threading.Event()

    def other_relay():
        try:
            with transaction.atomic():
                OutboxMessage.objects.select_for_update().get(pk=row.pk)
                locked.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_relay)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        assert outbox_relay().published == 0  # SKIP LOCKED: not taken, not waited for
        assert time.monotonic() - started < 2
    finally:
        release.set()
        thread.join(timeout=10)
    assert outbox_relay().published == 1
