"""Production settings: everything secret or host-specific must come from the
environment, and the app refuses to start without it."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = False
DEMO_MODE = False

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

EMIS_SANDBOX_ENABLED = env.bool("EMIS_SANDBOX_ENABLED", default=False)

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
