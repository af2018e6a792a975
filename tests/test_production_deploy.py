"""What the deploy section of the README promises of the settings: PgBouncer-safe
database settings, a Redis Sentinel broker, and gunicorn configured from the
environment."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

from tests.test_settings import PRODUCTION_ENV, _run

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "hippo_pcn" / "gunicorn_conf.py"

_PRINT_SETTINGS = (
    "import json; from django.conf import settings; db = settings.DATABASES['default']; "
    "print(json.dumps({'cursors_off': db['DISABLE_SERVER_SIDE_CURSORS'], "
    "'health_checks': db['CONN_HEALTH_CHECKS'], 'conn_max_age': db['CONN_MAX_AGE'], "
    "'broker': settings.CELERY_BROKER_TRANSPORT_OPTIONS}))"
)


def _production_settings(extra: dict[str, str]) -> dict:
    result = _run(["shell", "-c", _PRINT_SETTINGS], {**PRODUCTION_ENV, **extra})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_database_settings_are_safe_behind_pgbouncer_by_default():
    found = _production_settings({})
    assert found["cursors_off"] is True  # no named cursor outlives a transaction
    assert found["health_checks"] is True
    assert found["conn_max_age"] == 0
    # Talking to PostgreSQL directly, server-side cursors may come back on.
    direct = _production_settings(
        {"DB_DISABLE_SERVER_SIDE_CURSORS": "false", "DB_CONN_MAX_AGE": "60"}
    )
    assert direct["cursors_off"] is False
    assert direct["conn_max_age"] == 60


def test_a_redis_sentinel_broker_names_its_primary_group():
    found = _production_settings(
        {
            "CELERY_BROKER_URL": (
                "sentinel://:pw@10.0.0.1:26379/0;sentinel://:pw@10.0.0.2:26379/0"
            ),
            "CELERY_BROKER_SENTINEL_MASTER": "hippo-broker",
            "CELERY_BROKER_SENTINEL_PASSWORD": "sentinel-secret",
        }
    )
    broker = found["broker"]
    assert broker["master_name"] == "hippo-broker"
    assert broker["sentinel_kwargs"] == {"password": "sentinel-secret"}
    # The same bounded timeouts as a plain Redis broker.
    assert broker["socket_timeout"] == 5.0
    assert broker["socket_connect_timeout"] == 2.0
    assert broker["max_retries"] == 0


def test_gunicorn_takes_its_settings_from_the_environment(monkeypatch):
    for name in ("GUNICORN_BIND", "GUNICORN_CONTROL_SOCKET", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "45")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert conf["bind"] == ["0.0.0.0:8123"]
    assert conf["workers"] == 3
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] == 4
    assert conf["timeout"] == 45
    assert conf["forwarded_allow_ips"] == "10.0.0.5"
    assert conf["control_socket_disable"] is True
    # Access log on stdout, every gunicorn log line through the token-redacting filter.
    handlers = conf["logconfig_dict"]["handlers"]
    assert handlers["access_console"]["stream"] == "ext://sys.stdout"
    assert all(h["filters"] == ["redact_tokens"] for h in handlers.values())
    assert "%(U)s" in conf["access_log_format"]  # the path without its query string
    assert "%(r)s" not in conf["access_log_format"] and "%(f)s" not in conf["access_log_format"]

    monkeypatch.setenv("GUNICORN_BIND", "unix:/run/hippo/web.sock")
    monkeypatch.delenv("WEB_CONCURRENCY")
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert conf["bind"] == ["unix:/run/hippo/web.sock"]
    assert conf["workers"] >= 3  # 2 x CPUs + 1
