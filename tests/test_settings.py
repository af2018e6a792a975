"""Production settings pass `check --deploy` and refuse to start without secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(args, extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY"))}
    env.update(extra_env)
    env["DJANGO_SETTINGS_MODULE"] = "hippo_pcn.settings.production"
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "SECRET_KEY": "p" * 20 + "-production-like-secret-key-for-the-check-0123456789",
    "ALLOWED_HOSTS": "hippo-pcn.example.nhs.uk",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "FERNET_KEYS": "98M3RTh8Nf6PmwGQ6nbxXC9P2y75WwkluEDgq96J37o=",
    "NOTIFY_API_KEY": "test_key-00000000-0000-0000-0000-000000000000-00000000-0000-0000-0000-000000000000",
    "PUBLIC_BASE_URL": "https://hippo-pcn.example.nhs.uk",
}


def test_check_deploy_reports_no_warnings():
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = dict(PRODUCTION_ENV)
    env["SECRET_KEY"] = ""
    result = _run(["check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_fernet_keys():
    env = dict(PRODUCTION_ENV)
    env["FERNET_KEYS"] = ""
    result = _run(["check"], env)
    assert result.returncode != 0
    assert "FERNET_KEYS must be set" in result.stderr


def test_production_refuses_a_malformed_fernet_key():
    env = dict(PRODUCTION_ENV)
    env["FERNET_KEYS"] = "not-a-key"
    result = _run(["check"], env)
    assert result.returncode != 0
    assert "FERNET_KEYS contains a value that is not a valid Fernet key" in result.stderr
    assert "not-a-key" not in result.stderr


def test_production_has_no_sandbox_by_default():
    result = _run(
        ["shell", "-c", "from django.conf import settings; print(settings.EMIS_SANDBOX_ENABLED)"],
        PRODUCTION_ENV,
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_production_refuses_to_start_without_notify_or_an_https_public_url():
    env = dict(PRODUCTION_ENV)
    env["NOTIFY_API_KEY"] = ""
    result = _run(["check"], env)
    assert result.returncode != 0
    assert "NOTIFY_API_KEY must be set" in result.stderr
    env = dict(PRODUCTION_ENV)
    env["PUBLIC_BASE_URL"] = "http://hippo-pcn.example.nhs.uk"
    result = _run(["check"], env)
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL must be" in result.stderr
