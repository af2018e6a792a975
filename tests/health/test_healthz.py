from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from emis_integration.models import EmisConnection
from hippo_pcn.health import checks
from hippo_pcn.health.models import Heartbeat
from hippo_pcn.health.services import BEAT_HEARTBEAT
from hippo_pcn.health.tasks import beat_heartbeat

pytestmark = pytest.mark.django_db

HEALTHZ_TOKEN = "monitor-token-3b9f0c2e7a41d586"


@pytest.fixture
def monitor(client, settings):
    """A monitor presenting HEALTHZ_TOKEN: it sees the checks' details."""
    settings.HEALTHZ_TOKEN = HEALTHZ_TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {HEALTHZ_TOKEN}"
    return client


def test_healthy_when_database_redis_and_beat_are_fresh(monitor):
    client = monitor
    beat_heartbeat.delay()  # eager in tests: runs the real task
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["celery_beat"]["state"] == "fresh"
    assert response["Cache-Control"].startswith("max-age=0")


def test_stale_beat_heartbeat_is_503(monitor, settings):
    client = monitor
    Heartbeat.objects.create(
        name=BEAT_HEARTBEAT,
        last_seen=timezone.now() - timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS + 30),
    )
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    beat = response.json()["checks"]["celery_beat"]
    assert beat["ok"] is False
    assert beat["state"] == "stale"


def test_missing_heartbeat_is_starting_then_never_seen(monitor, settings, monkeypatch):
    client = monitor
    # As if this process had just started (a long suite run may be past the grace).
    monkeypatch.setattr(checks, "_PROCESS_STARTED", checks.time.monotonic())
    response = client.get(reverse("healthz"))
    assert response.json()["checks"]["celery_beat"]["state"] == "starting"
    settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS = 0
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["celery_beat"]["state"] == "never_seen"


def test_unreachable_redis_is_503(monitor, settings):
    client = monitor
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


# --- who sees the details -------------------------------------------------------------


@pytest.fixture
def unpolled_live_connection(pcn_a, superuser):
    """A live PCN connection never polled: the poll check names it and its ODS code."""
    from emis_integration import services as emis_services

    connection = emis_services.connection_create(actor=superuser, organisation=pcn_a, status="live")
    a_day_ago = timezone.now() - timedelta(days=1)
    EmisConnection.objects.filter(pk=connection.pk).update(
        created_at=a_day_ago, status_changed_at=a_day_ago
    )
    return connection


def _stale(body):
    return body["checks"]["tracing_poll"]["stale_connections"][0]


def test_anonymous_callers_get_the_status_only(client, settings):
    settings.HEALTHZ_TOKEN = HEALTHZ_TOKEN
    beat_heartbeat.delay()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_anonymous_callers_never_see_ods_codes_or_connection_ids(client, unpolled_live_connection):
    response = client.get(reverse("healthz"))
    assert response.status_code == 503  # the only live connection is not polled
    assert response.json() == {"status": "fail"}
    assert b"U10001" not in response.content


def test_anonymous_callers_get_the_failing_status_and_code(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"status": "fail"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token",
        f"Bearer {HEALTHZ_TOKEN}x",
        f"Basic {HEALTHZ_TOKEN}",
        HEALTHZ_TOKEN,
        "Bearer ",
    ],
)
def test_a_wrong_token_gets_the_status_only(client, settings, authorization):
    settings.HEALTHZ_TOKEN = HEALTHZ_TOKEN
    response = client.get(reverse("healthz"), HTTP_AUTHORIZATION=authorization)
    assert set(response.json()) == {"status"}


def test_no_token_is_accepted_when_none_is_configured(client, settings):
    settings.HEALTHZ_TOKEN = ""
    response = client.get(reverse("healthz"), HTTP_AUTHORIZATION="Bearer ")
    assert set(response.json()) == {"status"}


def test_the_configured_token_gets_the_details(monitor, unpolled_live_connection):
    body = monitor.get(reverse("healthz")).json()
    assert _stale(body)["ods_code"] == "U10001"
    assert _stale(body)["connection"] == unpolled_live_connection.pk
    assert body["checks"]["database"]["ok"] is True


def test_support_users_get_the_details(client_for, support_user, unpolled_live_connection):
    body = client_for(support_user).get(reverse("healthz")).json()
    assert _stale(body)["ods_code"] == "U10001"


def test_other_staff_get_the_status_only(client_for, practice_staff, unpolled_live_connection):
    response = client_for(practice_staff).get(reverse("healthz"))
    assert set(response.json()) == {"status"}
    assert b"U10001" not in response.content
