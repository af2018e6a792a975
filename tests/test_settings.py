"""Production settings pass `check --deploy` and refuse to start without secrets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import trustme
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parent.parent


# Settings the production module reads; none may leak in from the test run's environment.
PRODUCTION_NAMES = (
    "DJANGO_",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "FERNET_KEYS",
    "NOTIFY_",
    "PUBLIC_BASE_URL",
    "REDIS_URL",
    "INVITE_TOKEN_KEY",
    "HEALTHZ_TOKEN",
    "EMIS_SANDBOX_ENABLED",
    "CELERY_",
    "TRUSTED_PROXY_COUNT",
    "EMIS_CA_BUNDLE",
    "EMIS_CLIENT_",
)


def _run(args, extra_env, settings_module="hippo_pcn.settings.production"):
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRODUCTION_NAMES)}
    env.update(extra_env)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
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
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "INVITE_TOKEN_KEY": "invite-token-key-for-the-production-check-5f1e9a",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
    "TRUSTED_PROXY_COUNT": "1",
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


def _without(name):
    return {key: value for key, value in PRODUCTION_ENV.items() if key != name}


def test_production_refuses_to_start_without_an_invite_token_key():
    result = _run(["check"], _without("INVITE_TOKEN_KEY"))
    assert result.returncode != 0
    assert "INVITE_TOKEN_KEY must be set" in result.stderr
    result = _run(["check"], {**PRODUCTION_ENV, "INVITE_TOKEN_KEY": "k" * 31})
    assert result.returncode != 0
    assert "INVITE_TOKEN_KEY must be set" in result.stderr
    assert "k" * 31 not in result.stderr


def test_production_refuses_to_start_without_redis():
    result = _run(["check"], _without("REDIS_URL"))
    assert result.returncode != 0
    assert "REDIS_URL must be set" in result.stderr
    result = _run(["check"], {**PRODUCTION_ENV, "REDIS_URL": "locmem://"})
    assert result.returncode != 0
    assert "REDIS_URL must be set" in result.stderr


def test_production_refuses_to_start_without_a_shared_broker():
    result = _run(["check"], _without("CELERY_BROKER_URL"))
    assert result.returncode != 0
    assert "CELERY_BROKER_URL must be set" in result.stderr
    result = _run(["check"], {**PRODUCTION_ENV, "CELERY_BROKER_URL": "filesystem://"})
    assert result.returncode != 0
    assert "CELERY_BROKER_URL must be set" in result.stderr


def test_production_refuses_to_start_without_a_stated_proxy_count():
    result = _run(["check"], _without("TRUSTED_PROXY_COUNT"))
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be set" in result.stderr
    result = _run(["check"], {**PRODUCTION_ENV, "TRUSTED_PROXY_COUNT": "one"})
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be set to a whole number" in result.stderr


def test_an_emis_ca_bundle_that_is_not_a_file_stops_start_up(tmp_path):
    result = _run(["check"], {**PRODUCTION_ENV, "EMIS_CA_BUNDLE": str(tmp_path / "nhs-ca.pem")})
    assert result.returncode != 0
    assert "EMIS_CA_BUNDLE names" in result.stderr
    assert "which is not a file" in result.stderr
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    result = _run(["check"], {**PRODUCTION_ENV, "EMIS_CA_BUNDLE": str(bundle)})
    assert result.returncode == 0, result.stderr


def test_a_client_key_needs_its_certificate(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("not read at start-up")
    result = _run(["check"], {**PRODUCTION_ENV, "EMIS_CLIENT_KEY": str(key)})
    assert result.returncode != 0
    assert "EMIS_CLIENT_KEY is set without EMIS_CLIENT_CERT" in result.stderr
    result = _run(["check"], {**PRODUCTION_ENV, "EMIS_CLIENT_CERT": str(tmp_path / "none.pem")})
    assert result.returncode != 0
    assert "EMIS_CLIENT_CERT names" in result.stderr


# What the settings module installs: apps, admin models, migrations and URLs.
INSPECT = """
import json
from django.conf import settings
from django.contrib import admin
from django.db.migrations.loader import MigrationLoader
from django.urls import Resolver404, resolve

def resolves(path):
    try:
        resolve(path)
    except Resolver404:
        return False
    return True

print(json.dumps({
    "apps": settings.INSTALLED_APPS,
    "admin": sorted({model._meta.app_label for model in admin.site._registry}),
    "migrations": sorted({app for app, _ in MigrationLoader(None).graph.nodes}),
    "sandbox_url": resolves("/emis-sandbox/U10001/fhir/metadata"),
    "cache": settings.CACHES["default"]["BACKEND"],
}))
"""


def _inspect(settings_module, env):
    result = _run(["shell", "-c", INSPECT], env, settings_module)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_has_no_sandbox_app_admin_migration_or_url():
    seen = _inspect("hippo_pcn.settings.production", PRODUCTION_ENV)
    assert not [app for app in seen["apps"] if "sandbox" in app]
    assert "emis_sandbox" not in seen["admin"]
    assert "emis_sandbox" not in seen["migrations"]
    assert seen["sandbox_url"] is False
    # the rest of the product is there
    assert {"emis_integration", "booking", "tracing"} <= set(seen["migrations"])
    assert seen["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_production_keeps_the_sandbox_off_even_when_asked():
    seen = _inspect(
        "hippo_pcn.settings.production", {**PRODUCTION_ENV, "EMIS_SANDBOX_ENABLED": "1"}
    )
    assert not [app for app in seen["apps"] if "sandbox" in app]
    assert seen["sandbox_url"] is False


def test_the_demo_has_the_sandbox():
    seen = _inspect("hippo_pcn.settings.local", {})
    apps = seen["apps"]
    assert apps.index("emis_integration.sandbox") == apps.index("emis_integration") + 1
    assert "emis_sandbox" in seen["admin"]
    assert seen["sandbox_url"] is True


def test_the_tests_have_the_sandbox(settings):
    assert "emis_integration.sandbox" in settings.INSTALLED_APPS


def test_no_product_migration_depends_on_the_sandbox():
    graph = MigrationLoader(None).graph
    checked = 0
    for key, node in graph.node_map.items():
        if key[0] == "emis_sandbox":
            continue
        checked += 1
        for parent in node.parents:
            assert parent.key[0] != "emis_sandbox", (key, parent.key)
    assert checked > 10


def test_product_code_does_not_import_the_sandbox_at_module_level():
    """Outside the sandbox itself, only demo seeding may import it (lazily, in demo mode)."""
    offenders = []
    for path in ROOT.glob("**/*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "node_modules/", "tests/", "bench/")):
            continue
        if relative.startswith("emis_integration/sandbox/") or relative.endswith("/demo.py"):
            continue
        for line in path.read_text().splitlines():
            if line.startswith(("import ", "from ")) and "emis_integration.sandbox" in line:
                offenders.append(relative)
    assert offenders == []


def test_production_collectstatic_builds_the_manifest(tmp_path):
    """Production serves hashed, compressed static files (WhiteNoise's manifest
    storage): every file the pages reference, and every url() and import inside them,
    must resolve, or collectstatic stops and the release cannot be built."""
    result = _run(["collectstatic", "--noinput"], {**PRODUCTION_ENV, "STATIC_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    for name in ("vendor/nhsuk/nhsuk-frontend.min.css", "css/app.css", "js/nhsuk-init.js"):
        assert name in manifest["paths"]
        assert (tmp_path / manifest["paths"][name]).exists()
