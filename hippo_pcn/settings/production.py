"""Production settings: everything secret or host-specific must come from the
environment, and the app refuses to start without it."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, REDIS_URL, env

DEBUG = False
DEMO_MODE = False
STAFF_MFA_REQUIRED = env.bool("STAFF_MFA_REQUIRED", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters in production."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

FERNET_KEYS = env.list("FERNET_KEYS", default=[])
if not FERNET_KEYS:
    raise ImproperlyConfigured(
        "FERNET_KEYS must be set in production: a comma-separated list of Fernet keys, "
        "newest first, that encrypt EMIS credentials at rest."
    )
try:
    from cryptography.fernet import Fernet

    for _key in FERNET_KEYS:
        Fernet(_key)
except (ValueError, TypeError) as _exc:
    raise ImproperlyConfigured(
        "FERNET_KEYS contains a value that is not a valid Fernet key "
        "(32 url-safe base64-encoded bytes, e.g. from Fernet.generate_key())."
    ) from _exc
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The bundled EMIS sandbox is never installed here (base.py leaves it out; local.py and
# test.py add it), so neither its admin, its tables nor its URLs exist in production.
EMIS_SANDBOX_ENABLED = False
if "emis_integration.sandbox" in INSTALLED_APPS:  # noqa: F405
    raise ImproperlyConfigured("The EMIS sandbox must never be installed in production.")

# Invitation links are signed with their own key: without it they would be derived
# from SECRET_KEY, so anyone holding a database copy and SECRET_KEY could rebuild them.
INVITE_TOKEN_KEY = env.str("INVITE_TOKEN_KEY", default="")
if len(INVITE_TOKEN_KEY) < 32:
    raise ImproperlyConfigured(
        "INVITE_TOKEN_KEY must be set in production to a random value of at least 32 "
        "characters: invitation links are signed with it."
    )

# The cache holds the rate-limit counters: every web process must count together,
# so production needs Redis (base.py makes REDIS_URL the cache).
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        "REDIS_URL must be set in production (redis://, rediss:// or unix://): the cache "
        "and its rate-limit counters must be shared by every process."
    )

# Celery's broker must be shared by every web, worker and beat host: the demo's
# filesystem broker is one machine's folder.
if not CELERY_BROKER_URL.startswith(
    ("redis://", "rediss://", "sentinel://", "amqp://", "amqps://")
):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must be set in production to a Redis, Redis Sentinel or RabbitMQ "
        "broker (redis://, rediss://, sentinel://, amqp:// or amqps://) that every process "
        "shares."
    )

# PostgreSQL, directly or through PgBouncer in transaction mode (README, "Deploying to
# production"). A transaction-mode pooler hands each transaction whatever server
# connection is free, so nothing may outlive a transaction: Django's server-side cursors
# (QuerySet.iterator()) are named cursors that would, so they are off unless
# DB_DISABLE_SERVER_SIDE_CURSORS=false says the app talks to PostgreSQL directly.
# Django binds parameters client-side (psycopg 3), so it prepares no statements either.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(  # noqa: F405
    "DB_DISABLE_SERVER_SIDE_CURSORS", default=True
)
# Persistent connections (DB_CONN_MAX_AGE seconds, 0 by default) are checked before a
# request reuses one, so a restarted database or pooler costs a reconnect, not an error.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool(  # noqa: F405
    "DB_CONN_HEALTH_CHECKS", default=True
)

# Behind the TLS proxy every request comes from the proxy: the client address (for
# sign-in lockouts and self-book rate limits) is read from X-Forwarded-For according to
# how many proxies append to it. No default: a wrong guess either lumps every patient
# into one address or lets clients choose their own.
# base.py reads it (a whole number, default 0); production wants it stated.
if not env.str("TRUSTED_PROXY_COUNT", default=""):
    raise ImproperlyConfigured(
        "TRUSTED_PROXY_COUNT must be set in production: the number of reverse proxies in "
        "front of the app that append to X-Forwarded-For (1 behind a single TLS proxy, "
        "0 if clients connect directly)."
    )

# Invitations go through GOV.UK Notify, with links on the public HTTPS address.
if NOTIFY_BACKEND in ("", "notify") and not NOTIFY_API_KEY:  # noqa: F405
    raise ImproperlyConfigured(
        "NOTIFY_API_KEY must be set in production (GOV.UK Notify sends the invitations), "
        "or NOTIFY_BACKEND set to another backend."
    )
if not PUBLIC_BASE_URL.startswith("https://"):  # noqa: F405
    raise ImproperlyConfigured(
        "PUBLIC_BASE_URL must be the service's public https:// address: invitation links "
        "are built on it."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING["root"]["level"] = env.str("LOG_LEVEL", default="INFO")  # noqa: F405
