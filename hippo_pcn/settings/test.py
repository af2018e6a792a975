"""Test settings: the real PostgreSQL and Redis running on the machine."""

import os

from .base import *  # noqa: F403
from .base import INSTALLED_APPS as BASE_INSTALLED_APPS
from .base import env

DEBUG = False
DEMO_MODE = True
# Tests that need the second factor turn it on with the `settings` fixture.
STAFF_MFA_REQUIRED = False

# The bundled EMIS sandbox: the tests' EMIS (never installed in production).
_after = BASE_INSTALLED_APPS.index("emis_integration") + 1
INSTALLED_APPS = [
    *BASE_INSTALLED_APPS[:_after],
    "emis_integration.sandbox",
    *BASE_INSTALLED_APPS[_after:],
]

SECRET_KEY = "test-only-secret-key-9c1d7e2b4a6f8c0e3d5b7a9f1e2c4d6b8a0c2e4f"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

DATABASES = {
    "default": env.db("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/hippo_pcn"),
}

# pytest-xdist workers share one Redis: give each its own key prefix.
# TEST_REDIS_PREFIX keeps suites run side by side on one machine apart too.
_worker = os.environ.get("TEST_REDIS_PREFIX", "") + os.environ.get("PYTEST_XDIST_WORKER", "main")
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/1")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"hippo-test-{_worker}",
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# One queue in tests: tasks run eagerly, or from the default queue by the outbox tests'
# in-process worker (tests/outbox/conftest.py). The production routes (base.py) are
# checked by tests/test_celery_queues.py and run by real per-queue workers in
# tests/e2e/test_production_processes.py.
CELERY_TASK_ROUTES = {}

FERNET_KEYS = ["98M3RTh8Nf6PmwGQ6nbxXC9P2y75WwkluEDgq96J37o="]
EMIS_RETRY_BACKOFF = 0.01
EMIS_CONNECT_TIMEOUT = 2.0
EMIS_READ_TIMEOUT = 3.0

# Links in messages and the demo seed's sandbox URLs (no server listens there in tests).
PUBLIC_BASE_URL = "http://127.0.0.1:8000"
EMIS_SANDBOX_BASE_URL = "http://127.0.0.1:8000/emis-sandbox"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In memory; a test that runs Celery beat or a worker as a real process points them
# at a directory instead (one file per email) to count what they sent.
EMAIL_BACKEND = env.str(
    "TEST_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend"
)
EMAIL_FILE_PATH = env.str("TEST_EMAIL_FILE_PATH", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Rate-limit counters live in the shared Redis and outlive a test; tests that check
# the limits lower them explicitly.
SELFBOOK_RATE_LIMIT_PER_IP = 100_000
SELFBOOK_RATE_LIMIT_PER_TOKEN = 1_000
SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN = 1_000

# API throttles: counted in the shared Redis; tests that check them lower these.
API_THROTTLE_RATES = {"api_token": "100000/min", "api_user": "100000/min"}

# Invitations: messages go to booking.notify.outbox (see tests/booking/test_invite*.py).
NOTIFY_BACKEND = "locmem"

# Tests reach the sandbox EMIS in-process and inside each test's transaction, which
# a fetching thread (its own database connection) could not see: one poll reads its
# sessions one after another here.
TRACING_POLL_FETCH_CONCURRENCY = 1
