from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from hippo_pcn.health import checks
from hippo_pcn.health.models import Heartbeat
from hippo_pcn.health.services import BEAT_HEARTBEAT
from hippo_pcn.health.tasks import beat_heartbeat

pytestmark = pytest.mark.django_db


def test_healthy_when_database_redis_and_beat_are_fresh(client):
    beat_heartbeat.delay()  # eager in tests: runs the real task
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["celery_beat"]["state"] == "fresh"
    assert response["Cache-Control"].startswith("max-age=0")


def test_stale_beat_heartbeat_is_503(client, settings):
    Heartbeat.objects.create(
        name=BEAT_HEARTBEAT,
        last_seen=timezone.now() - timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS + 30),
    )
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    beat = response.json()["checks"]["celery_beat"]
    assert beat["ok"] is False
    assert beat["state"] == "stale"


def test_missing_heartbeat_is_starting_then_never_seen(client, settings, monkeypatch):
    # As if this process had just started (a long suite run may be past the grace).
    monkeypatch.setattr(checks, "_PROCESS_STARTED", checks.time.monotonic())
    response = client.get(reverse("healthz"))
    assert response.json()["checks"]["celery_beat"]["state"] == "starting"
    settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS = 0
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["celery_beat"]["state"] == "never_seen"


def test_unreachable_redis_is_503(client, settings):
    beat_heartbeat.delay()
    # Nothing listens on port 1 of loopback: a real refused connection.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["redis"]["ok"] is False
    assert "redis unreachable" in body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_redis_is_not_checked_when_not_configured(db, settings):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"
    assert "redis" not in checks.run_checks()


@pytest.mark.django_db(databases=["default"])
def test_healthz_refuses_post(client):
    assert client.post(reverse("healthz")).status_code == 405


def test_heartbeat_is_scheduled_in_code_for_the_database_scheduler(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["health-beat-heartbeat"]
    assert entry["task"] == "hippo_pcn.health.tasks.beat_heartbeat"
    assert entry["options"]["expires"] < entry["schedule"].total_seconds()
    assert settings.CELERY_BEAT_SCHEDULER.startswith("django_celery_beat")
