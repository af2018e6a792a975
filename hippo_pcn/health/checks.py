"""The checks behind /healthz. Each returns a dict with at least `ok`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import Heartbeat
from .services import BEAT_HEARTBEAT

_PROCESS_STARTED = time.monotonic()


def record_process_start() -> None:
    global _PROCESS_STARTED
    _PROCESS_STARTED = time.monotonic()


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        return {"ok": False, "error": f"database unreachable: {type(exc).__name__}"}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def redis_url() -> str:
    """The Redis to check: REDIS_URL, or the broker when it is Redis."""
    if settings.REDIS_URL:
        return settings.REDIS_URL
    broker = settings.CELERY_BROKER_URL or ""
    return broker if broker.startswith(("redis://", "rediss://")) else ""


def check_redis() -> dict[str, Any] | None:
    url = redis_url()
    if not url:
        return None
    started = time.perf_counter()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": f"redis unreachable: {type(exc).__name__}"}
    finally:
        client.close()
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def check_beat() -> dict[str, Any]:
    max_age = settings.HEALTH_BEAT_MAX_AGE_SECONDS
    try:
        heartbeat = Heartbeat.objects.filter(name=BEAT_HEARTBEAT).first()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"cannot read heartbeat: {type(exc).__name__}"}
    if heartbeat is None:
        uptime = time.monotonic() - _PROCESS_STARTED
        starting = uptime < settings.HEALTH_BEAT_STARTUP_GRACE_SECONDS
        return {
            "ok": starting,
            "state": "starting" if starting else "never_seen",
            "last_seen": None,
            "max_age_s": max_age,
        }
    age = (timezone.now() - heartbeat.last_seen).total_seconds()
    fresh = age <= max_age
    return {
        "ok": fresh,
        "state": "fresh" if fresh else "stale",
        "last_seen": heartbeat.last_seen.isoformat(),
        "age_s": round(age, 1),
        "max_age_s": max_age,
    }


HealthCheck = Callable[[], dict[str, Any]]
_CHECKS: dict[str, HealthCheck] = {}


def register_check(name: str, check: HealthCheck) -> None:
    """Add a check to /healthz under `name` (tracing adds `tracing_poll`). A check
    returns a dict with at least `ok`; one that raises counts as failed."""
    _CHECKS[name] = check


def run_checks() -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {"database": check_database()}
    redis_result = check_redis()
    if redis_result is not None:
        checks["redis"] = redis_result
    checks["celery_beat"] = check_beat()
    for name, check in _CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure means "cannot tell"
            checks[name] = {"ok": False, "error": f"cannot check: {type(exc).__name__}"}
    return checks
