"""With beat stopped, and separately with the worker (and the broker) stopped,
the part still running tells support: a real Celery worker, or a real beat,
runs as its own process and raises the scheduler alert once, by email, within
2 x interval + 60 s, while the web process shows the banner and /healthz fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from hippo_pcn.health.alerts import SCHEDULER_ALERT
from hippo_pcn.health.models import HealthAlert, Heartbeat
from hippo_pcn.health.services import BEAT_HEARTBEAT

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 1  # HEALTH_HEARTBEAT_INTERVAL_SECONDS for the processes under test
DEADLINE = 2 * INTERVAL + 60


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hippo_pcn.settings.test",
        "TEST_DATABASE_URL": (
            "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**db_connection.settings_dict)
        ),
        "HEALTH_HEARTBEAT_INTERVAL_SECONDS": str(INTERVAL),
        "HEALTH_BEAT_MAX_AGE_SECONDS": "3",
        # The processes under test have been "running" long enough to raise.
        "HEALTH_BEAT_STARTUP_GRACE_SECONDS": "0",
        "TEST_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "TEST_EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }


def _celery(args: list[str], tmp_path: Path, broker: str = "") -> subprocess.Popen[str]:
    options = ["--broker", broker] if broker else []
    return subprocess.Popen(  # noqa: S603 - our own Celery app
        [sys.executable, "-m", "celery", "-A", "hippo_pcn", *options, *args],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_alert(process: subprocess.Popen[str]) -> HealthAlert:
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE:
        alert = HealthAlert.objects.filter(name=SCHEDULER_ALERT, raised_at__isnull=False).first()
        if alert is not None:
            return alert
        if process.poll() is not None:
            pytest.fail(f"the process stopped: {process.stderr.read()[-3000:]}")  # type: ignore[union-attr]
        time.sleep(0.2)
    pytest.fail("no alert within 2 x interval + 60 s")


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _emails(tmp_path: Path) -> list[str]:
    folder = tmp_path / "mail"
    return [p.read_text() for p in sorted(folder.glob("*.log"))] if folder.exists() else []


@pytest.fixture
def scheduler_stopped_ten_minutes_ago(transactional_db, support_user):
    support_user.email = "support@example.nhs.uk"
    support_user.save()
    Heartbeat.objects.create(name=BEAT_HEARTBEAT, last_seen=timezone.now() - timedelta(minutes=10))


def test_beat_stopped_the_worker_tells_support_once(
    scheduler_stopped_ten_minutes_ago, tmp_path, client_for, support_user, settings
):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 3
    worker = _celery(
        [
            "worker",
            "--pool=solo",
            "--queues",
            f"hippo-alert-test-{uuid.uuid4().hex}",  # consume nothing of anyone else's
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
        ],
        tmp_path,
    )
    try:
        alert = _wait_for_alert(worker)
        assert alert.raised_by == "worker"
        assert "Celery beat is not running" in alert.detail
        # The web process alone shows it, and /healthz fails.
        page = client_for(support_user).get(reverse("admin:index")).content.decode()
        assert "Celery beat is not running" in page
        assert client_for(support_user).get(reverse("healthz")).status_code == 503
        time.sleep(3 * INTERVAL)  # the worker checks again, three times: no new email
    finally:
        _stop(worker)
    emails = _emails(tmp_path)
    assert len(emails) == 1, emails
    assert "Subject: hippo-pcn: scheduled work has stopped" in emails[0]
    assert "support@example.nhs.uk" in emails[0]


def test_worker_and_broker_stopped_beat_tells_support_once(
    scheduler_stopped_ten_minutes_ago, tmp_path, settings
):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 3
    beat = _celery(
        [
            "beat",
            "--scheduler",
            "celery.beat:PersistentScheduler",
            "--schedule",
            str(tmp_path / "beat-schedule"),
            "--loglevel=WARNING",
        ],
        tmp_path,
        broker="redis://127.0.0.1:1/0",  # nothing listens there: the broker is down
    )
    try:
        alert = _wait_for_alert(beat)
        assert alert.raised_by == "beat"
        assert "no worker is running, or the broker is down" in alert.detail
        time.sleep(3 * INTERVAL)
    finally:
        _stop(beat)
    emails = _emails(tmp_path)
    assert len(emails) == 1, emails
    assert "no worker is running, or the broker is down" in emails[0]
