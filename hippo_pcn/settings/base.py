"""Settings shared by every environment.

Anything that differs between environments is read from the environment through
django-environ; the environment-specific modules (local, test, production) only
choose defaults and tighten what must be tight.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# Demo mode allows seed_demo (known passwords) to run. Never on in production.
DEMO_MODE = False

INSTALLED_APPS = [
    "hippo_pcn.apps.HippoAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "django_celery_beat",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "hippo_pcn.accounts",
    "hippo_pcn.organisations",
    "hippo_pcn.audit",
    "hippo_pcn.health",
    "hippo_pcn.outbox",
    "hippo_pcn.api",
    "emis_integration",
    # "emis_integration.sandbox" (the bundled fake EMIS) is added by local.py and test.py
    # only: never in production.
    "booking",
    "tracing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Second factor (hippo_pcn.accounts): who has given it, then a redirect to give it.
    "django_otp.middleware.OTPMiddleware",
    "hippo_pcn.accounts.middleware.SecondFactorRequiredMiddleware",
    # /api/: audit entries say "via API", no caching, control characters a 400 problem.
    "hippo_pcn.api.middleware.ApiChannelMiddleware",
    # A control character (NUL...) in the path, the query string or a urlencoded form
    # is a 400 (templates/400.html), never a 500 from the database.
    "hippo_pcn.middleware.RejectControlCharactersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-axes turns a locked-out sign-in into the lockout page: keep it last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hippo_pcn.urls"
WSGI_APPLICATION = "hippo_pcn.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hippo_pcn.organisations.context_processors.staff_navigation",
                "tracing.context_processors.poll_alerts",  # tracing: support poll alert banner
                "emis_integration.context_processors.certificate_alert",  # its support banner
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is optional for the embedded demo; when REDIS_URL is set it is the cache
# (and /healthz checks it).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "hippo",
            # A down or hung Redis must not hang a request (the rate limits and the
            # sign-in lockout read the cache on every public page and sign-in).
            "OPTIONS": {
                "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=1.0),
                "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=1.0),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Staff sign-in (hippo_pcn.accounts) -----------------------------------------------
# django-axes first: it refuses a locked-out username and address before any password
# is checked; ModelBackend then signs people in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout: this many wrong passwords in a row for one username from one client address
# pause sign-in for that pair for the cool-off (each further try restarts it). Support
# unlocks from the admin (Axes > Access attempts, or the user list's "Unlock sign-in").
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "hippo_pcn.client_ip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "hippo_pcn.accounts.views.lockout"
AXES_HTTP_RESPONSE_CODE = 429
# Registered on hippo-pcn's admin site, for support only, by hippo_pcn/accounts/admin.py.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# Second factor (django-otp): an authenticator app (TOTP) plus one-time recovery codes.
# When required, every account must set one up at its next sign-in and give a code at
# each sign-in; staff pages and the admin redirect until it is given. Off for the demo
# and the tests, on in production. Someone who has set one up is always asked for it.
STAFF_MFA_REQUIRED = env.bool("STAFF_MFA_REQUIRED", default=False)
OTP_TOTP_ISSUER = "hippo-pcn"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Browser policy. Content-Security-Policy (django-csp): every script and style comes
# from our own static files: no inline script, style element, style attribute or
# event-handler attribute (tests/e2e fail on any violation). Permissions-Policy
# (django-permissions-policy): no page may use the camera, microphone, location,
# payments, USB and the like.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# --- The API (/api/, hippo_pcn/api; docs/adr/0006-api-tokens-and-errors.md) ---------------
# API tokens first: a request without credentials gets 401 with WWW-Authenticate: Bearer.
# The session (the browser, the docs page) needs the CSRF token for writes.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hippo_pcn.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["hippo_pcn.api.permissions.IsStaffMember"],
    "DEFAULT_PAGINATION_CLASS": "hippo_pcn.api.pagination.CursorPage",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "hippo_pcn.api.throttles.ApiTokenRateThrottle",
        "hippo_pcn.api.throttles.ApiUserRateThrottle",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["hippo_pcn.api.parsers.CleanJSONParser"],
    "EXCEPTION_HANDLER": "hippo_pcn.api.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Requests a minute (or "/s", "/hour", "/day"), counted in the cache (Redis in
# production): per API token, and per user (a user's tokens and session together;
# callers not signed in are counted by their address).
API_THROTTLE_RATES = {
    "api_token": env.str("API_THROTTLE_RATE_PER_TOKEN", default="600/min"),
    "api_user": env.str("API_THROTTLE_RATE_PER_USER", default="1200/min"),
}
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "hippo-pcn API",
    "DESCRIPTION": (
        "Tracing tasks, bookings, campaigns, poll health and the tracing dashboard for "
        "PCN and practice integrations. Authenticate with a personal API token (make one "
        "on your Sign-in security page; `Authorization: Bearer hpcn_...`): it sees "
        "exactly what its user sees. Errors are RFC 9457 problem details "
        "(`application/problem+json`); lists use cursor pagination (`next`, `previous`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "displayOperationId": False},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "hippo_pcn.api.schema.problem_responses_hook",
    ],
    # One name per choice set, where several fields share a name ("status", "source").
    "ENUM_NAME_OVERRIDES": {
        "TracingTaskStatusEnum": "tracing.models.TaskStatus",
        "TracingTaskSourceEnum": "tracing.models.TaskSource",
        "CannotTraceReasonEnum": "tracing.models.CannotTraceReason",
        "BookingStatusEnum": "booking.models.BookingStatus",
        "CampaignStatusEnum": "booking.models.CampaignStatus",
        "SlotSourceEnum": "booking.api.enums.SlotSource",
        "OrganisationKindEnum": "hippo_pcn.organisations.roles.OrganisationKind",
        "ConnectionStatusEnum": "emis_integration.models.ConnectionStatus",
    },
}
# --- end API -------------------------------------------------------------------------------

# Celery: the demo uses a filesystem broker under ./var so nothing else is needed;
# set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to use Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _control_dir = VAR_DIR / "celery" / "control"
    for _folder in (_queue_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
# A broker that is down or hung must never hold anything up for long: bounded connect
# and socket timeouts, and no publish retries (work that must survive an outage goes
# through the transactional outbox, hippo_pcn/outbox, which retries on its own).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_SOCKET_TIMEOUT = env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=5.0)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "sentinel://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
        "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
        "max_retries": 0,
    }
# Redis Sentinel: CELERY_BROKER_URL lists the sentinels
# ("sentinel://:pw@10.0.0.1:26379;sentinel://:pw@10.0.0.2:26379;...") and kombu asks them
# for the primary of the group named here; a password on the sentinels themselves goes
# in CELERY_BROKER_SENTINEL_PASSWORD.
if CELERY_BROKER_URL.startswith("sentinel://"):
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = env.str(
        "CELERY_BROKER_SENTINEL_MASTER", default="mymaster"
    )
    _sentinel_password = env.str("CELERY_BROKER_SENTINEL_PASSWORD", default="")
    if _sentinel_password:
        CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"] = {"password": _sentinel_password}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Beat schedules are defined here, in code; the database scheduler copies them
# into django-celery-beat's tables so support can see and pause them in admin.
HEALTH_HEARTBEAT_INTERVAL_SECONDS = env.int("HEALTH_HEARTBEAT_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "health-beat-heartbeat": {
        "task": "hippo_pcn.health.tasks.beat_heartbeat",
        "schedule": timedelta(seconds=HEALTH_HEARTBEAT_INTERVAL_SECONDS),
        "options": {"expires": max(HEALTH_HEARTBEAT_INTERVAL_SECONDS - 5, 5)},
    },
}

# Free slots are mirrored from EMIS every few minutes for active campaigns: stale
# slots are what makes patients pick times that are gone.
SLOT_REFRESH_INTERVAL_SECONDS = env.int("SLOT_REFRESH_INTERVAL_SECONDS", default=180)
CELERY_BEAT_SCHEDULE["booking-refresh-active-campaign-slots"] = {
    "task": "booking.tasks.refresh_active_campaigns",
    "schedule": timedelta(seconds=SLOT_REFRESH_INTERVAL_SECONDS),
    "options": {"expires": max(SLOT_REFRESH_INTERVAL_SECONDS - 10, 10)},
}

# Bookings whose outcome in EMIS is not known (a lost answer, a process that died
# mid-booking) are settled by asking EMIS: never guessed.
BOOKING_RECONCILE_INTERVAL_SECONDS = env.int("BOOKING_RECONCILE_INTERVAL_SECONDS", default=120)
CELERY_BEAT_SCHEDULE["booking-reconcile-emis-bookings"] = {
    "task": "booking.tasks.reconcile_emis_bookings",
    "schedule": timedelta(seconds=BOOKING_RECONCILE_INTERVAL_SECONDS),
    "options": {"expires": max(BOOKING_RECONCILE_INTERVAL_SECONDS - 10, 10)},
}

# /healthz: how old the last beat heartbeat may be before beat counts as down,
# and how long after start-up a missing heartbeat is still only "starting".
HEALTH_BEAT_MAX_AGE_SECONDS = env.int(
    "HEALTH_BEAT_MAX_AGE_SECONDS", default=3 * HEALTH_HEARTBEAT_INTERVAL_SECONDS
)
HEALTH_BEAT_STARTUP_GRACE_SECONDS = env.int("HEALTH_BEAT_STARTUP_GRACE_SECONDS", default=180)
# /healthz answers anonymous callers with its status only; the checks' details (ODS
# codes, connection ids, latencies) go to support users and to callers presenting
# "Authorization: Bearer <HEALTHZ_TOKEN>" (a monitor). Empty: no token is accepted.
HEALTHZ_TOKEN = env.str("HEALTHZ_TOKEN", default="")
# /metrics (Prometheus): "Authorization: Bearer <METRICS_TOKEN>", or a scraper on this
# machine reaching it directly (loopback, no proxy). Empty: loopback only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "redact_tokens": {"()": "hippo_pcn.logging.RedactTokensFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # No handlers of its own: Django's defaults (an unfiltered console when DEBUG,
        # mail_admins) are dropped and its records go to the root's redacting handler.
        "django": {"level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request URL at INFO; patient searches carry NHS numbers in
        # the query string, so only its warnings are kept. The client logs its own
        # calls without patient data.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Request logs name the URL: through the redacting handler only.
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="hippo-pcn <no-reply@hippo-pcn.nhs.uk>")

SUPPORT_GROUP_NAME = "support"

# --- EMIS -------------------------------------------------------------------------
# The bundled EMIS sandbox (GP Connect endpoints under /emis-sandbox/<ODS>/fhir/) is the
# default EMIS for the demo and the tests. Production turns it off.
EMIS_SANDBOX_ENABLED = env.bool("EMIS_SANDBOX_ENABLED", default=True)
# Fernet keys that encrypt EMIS credentials at rest: comma-separated, newest first.
# Encryption uses the first; decryption tries each (rotation: put a new key first,
# run `manage.py rotate_emis_credentials`, then drop the old key).
FERNET_KEYS = env.list("FERNET_KEYS", default=[])
# hippo-pcn's ASID as a GP Connect consumer, and the URL it names itself by in JWTs.
EMIS_CONSUMER_ASID = env.str("EMIS_CONSUMER_ASID", default="200000001234")
EMIS_CONSUMER_URL = env.str("EMIS_CONSUMER_URL", default="https://hippo-pcn.nhs.uk")
# HTTP timeouts (seconds) and retries for calls to EMIS.
EMIS_CONNECT_TIMEOUT = env.float("EMIS_CONNECT_TIMEOUT", default=5.0)
EMIS_READ_TIMEOUT = env.float("EMIS_READ_TIMEOUT", default=10.0)
EMIS_MAX_RETRIES = env.int("EMIS_MAX_RETRIES", default=2)
EMIS_RETRY_BACKOFF = env.float("EMIS_RETRY_BACKOFF", default=0.5)
# The CAs to trust for EMIS's certificates: a PEM file (the NHS's root and issuing CAs
# when EMIS is reached through Spine or HSCN), or "" for the public CAs (certifi).
EMIS_CA_BUNDLE = env.str("EMIS_CA_BUNDLE", default="")
# hippo-pcn's own endpoint certificate and key (PEM files; the key may be in the
# certificate's file), for EMIS reached by mutual TLS (GP Connect over Spine).
EMIS_CLIENT_CERT = env.str("EMIS_CLIENT_CERT", default="")
EMIS_CLIENT_KEY = env.str("EMIS_CLIENT_KEY", default="")
EMIS_CLIENT_KEY_PASSWORD = env.str("EMIS_CLIENT_KEY_PASSWORD", default="")  # if encrypted
# Support is emailed (once) this many days before that certificate expires.
EMIS_CLIENT_CERT_WARN_DAYS = env.int("EMIS_CLIENT_CERT_WARN_DAYS", default=30)
for _name, _what in (
    (
        "EMIS_CA_BUNDLE",
        "a PEM file of the CAs to trust for EMIS, or leave it unset for the public CAs",
    ),
    ("EMIS_CLIENT_CERT", "hippo-pcn's endpoint certificate (PEM), or leave it unset"),
    ("EMIS_CLIENT_KEY", "the PEM file of that certificate's private key, or leave it unset"),
):
    _path = globals()[_name]
    if _path and not Path(_path).is_file():
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"{_name} names {_path!r}, which is not a file: set it to {_what}."
        )
if EMIS_CLIENT_KEY and not EMIS_CLIENT_CERT:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "EMIS_CLIENT_KEY is set without EMIS_CLIENT_CERT: set the certificate too, or neither."
    )
# A dotted path to a callable returning an httpx transport, or "" for real HTTP.
EMIS_HTTP_TRANSPORT_FACTORY = env.str("EMIS_HTTP_TRANSPORT_FACTORY", default="")
# Where the demo's connections point: the sandbox on this same server. No default
# here (production has no sandbox): local.py derives it from PORT, test.py sets it.
EMIS_SANDBOX_BASE_URL = env.str("EMIS_SANDBOX_BASE_URL", default="")

# --- Patient CSV import (booking) -----------------------------------------------------
# The largest patient CSV file a practice may upload. A bigger upload is stopped while it
# arrives (booking.forms.UploadSizeLimitHandler) and refused from its size before a byte
# of it is parsed.
PATIENT_IMPORT_MAX_BYTES = env.int("PATIENT_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
# The most patient rows one file may hold (a large practice has about 60,000 patients).
PATIENT_IMPORT_MAX_ROWS = env.int("PATIENT_IMPORT_MAX_ROWS", default=100_000)
# Uploads up to this size are held in memory; bigger ones are streamed to a temporary
# file in 64 KB chunks (Django's default, stated here because the import relies on it).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Invitations and self-booking ------------------------------------------------------
# The key invitation link tokens are derived from (booking/tokens.py). Defaults to a
# key derived from SECRET_KEY; set it to rotate links independently.
INVITE_TOKEN_KEY = env.str("INVITE_TOKEN_KEY", default="")
# The public URL patients open (links in messages are built on it). No default here:
# production requires an https:// one, local.py derives the demo's from PORT.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")
# How many reverse proxies we run in front of the app, each appending the address it
# received the request from to X-Forwarded-For. 0: the header is ignored and
# REMOTE_ADDR is the client. N: the client is the N-th address from the right
# (hippo_pcn.client_ip.client_ip, used by the rate limits and by django-axes).
_proxy_count = env.str("TRUSTED_PROXY_COUNT", default="0")
if not _proxy_count.isdigit():
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "TRUSTED_PROXY_COUNT must be set to a whole number: the reverse proxies in front "
        f"of the app that append to X-Forwarded-For (got {_proxy_count!r})."
    )
TRUSTED_PROXY_COUNT = int(_proxy_count)
# Rate limits on the public self-book pages (django-ratelimit, counted in the cache:
# Redis in production, so every web process shares them), each per window of
# SELFBOOK_RATE_WINDOW_SECONDS. Why these numbers: see booking/selfbook_views.py.
#   PER_IP: requests of any kind from one client address (client_ip above);
#   PER_TOKEN: page views (GET) of one link; POSTS_PER_TOKEN: forms sent on one link.
SELFBOOK_RATE_LIMIT_PER_IP = env.int("SELFBOOK_RATE_LIMIT_PER_IP", default=300)
SELFBOOK_RATE_LIMIT_PER_TOKEN = env.int("SELFBOOK_RATE_LIMIT_PER_TOKEN", default=120)
SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN = env.int("SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN", default=20)
SELFBOOK_RATE_WINDOW_SECONDS = env.int("SELFBOOK_RATE_WINDOW_SECONDS", default=600)
RATELIMIT_USE_CACHE = "default"
# key="ip" in django-ratelimit means the trusted client address (IPv6 by its /64).
RATELIMIT_IP_META_KEY = "hippo_pcn.client_ip.client_ip"
SELFBOOK_DOB_MAX_FAILURES = 5

# --- Tracing (tracing app, issue 7) ------------------------------------------------------
from celery.schedules import crontab  # noqa: E402

# The poller reads every live PCN EMIS Community connection this often (the demo shortens
# it with TRACING_POLL_INTERVAL_SECONDS=30). Messages expire before the next fan-out.
TRACING_POLL_INTERVAL_SECONDS = env.int("TRACING_POLL_INTERVAL_SECONDS", default=300)
# Each poll lists the PCN's appointment sessions from today to this many days ahead
# (the Partner API allows at most 90 days a call).
TRACING_POLL_WINDOW_DAYS = env.int("TRACING_POLL_WINDOW_DAYS", default=42)
# Every session's slots are read again this often, to catch changes that leave a
# session's counts level (a move within a session, one patient swapped for another).
TRACING_POLL_FULL_SWEEP_SECONDS = env.int("TRACING_POLL_FULL_SWEEP_SECONDS", default=3600)
# Sessions (and patients' demographics) read from EMIS at once by one poll, in threads.
TRACING_POLL_FETCH_CONCURRENCY = env.int("TRACING_POLL_FETCH_CONCURRENCY", default=4)
# At most this many GetPatientDemographics calls a poll; the rest wait for the next one
# with "NHS number not yet known".
TRACING_POLL_DEMOGRAPHICS_PER_POLL = env.int("TRACING_POLL_DEMOGRAPHICS_PER_POLL", default=2000)
# Cached demographics older than this are looked up again when the patient books anew.
TRACING_POLL_DEMOGRAPHICS_MAX_AGE_DAYS = env.int(
    "TRACING_POLL_DEMOGRAPHICS_MAX_AGE_DAYS", default=7
)
TRACING_POLL_SOFT_TIME_LIMIT_SECONDS = env.int("TRACING_POLL_SOFT_TIME_LIMIT_SECONDS", default=240)
TRACING_POLL_TIME_LIMIT_SECONDS = env.int("TRACING_POLL_TIME_LIMIT_SECONDS", default=270)
# The longest one page of a poll (one EMIS call) may take. A poll renews its lease on
# the connection after every page, and the lease holds for two pages' time: a poll
# whose process died is taken over by the next one within that, not minutes later.
TRACING_POLL_PAGE_SECONDS = env.float(
    "TRACING_POLL_PAGE_SECONDS", default=EMIS_CONNECT_TIMEOUT + EMIS_READ_TIMEOUT
)
# Support is alerted when a live PCN connection has had no successful poll this long.
TRACING_POLL_ALERT_AFTER_SECONDS = env.int(
    "TRACING_POLL_ALERT_AFTER_SECONDS", default=2 * TRACING_POLL_INTERVAL_SECONDS
)
# Auto-verify asks the PCN's EMIS about tasks due within this many hours.
TRACING_VERIFY_INTERVAL_SECONDS = env.int("TRACING_VERIFY_INTERVAL_SECONDS", default=900)
TRACING_VERIFY_AHEAD_HOURS = env.int("TRACING_VERIFY_AHEAD_HOURS", default=48)
TRACING_VERIFY_BATCH_SIZE = env.int("TRACING_VERIFY_BATCH_SIZE", default=200)
CELERY_BEAT_SCHEDULE["tracing-poll-all-pcn-connections"] = {
    "task": "tracing.tasks.poll_all_pcn_connections",
    "schedule": timedelta(seconds=TRACING_POLL_INTERVAL_SECONDS),
    "options": {"expires": max(TRACING_POLL_INTERVAL_SECONDS - 10, 10)},
}
CELERY_BEAT_SCHEDULE["tracing-check-poll-health"] = {
    "task": "tracing.tasks.check_poll_health",
    "schedule": timedelta(seconds=60),
    "options": {"expires": 50},
}
CELERY_BEAT_SCHEDULE["tracing-auto-verify"] = {
    "task": "tracing.tasks.auto_verify_due_tasks",
    "schedule": timedelta(seconds=TRACING_VERIFY_INTERVAL_SECONDS),
    "options": {"expires": max(TRACING_VERIFY_INTERVAL_SECONDS - 30, 30)},
}
CELERY_BEAT_SCHEDULE["tracing-digest-hourly"] = {
    "task": "tracing.tasks.send_tracing_digests",
    "schedule": crontab(minute=0),
    "options": {"expires": 3000},
}
# --- end tracing -------------------------------------------------------------------------

# --- Invitations: messages, waves and reminders (booking/notify.py, booking/invites/) ---
# Which notifier sends texts and emails: "file" (the demo: var/messages.jsonl and a staff
# page), "locmem" (tests) or "notify" (GOV.UK Notify). Unset: "file" in demo mode,
# GOV.UK Notify everywhere else.
NOTIFY_BACKEND = env.str("NOTIFY_BACKEND", default="")
NOTIFY_FILE_PATH = env.str("NOTIFY_FILE_PATH", default=str(VAR_DIR / "messages.jsonl"))
NOTIFY_API_KEY = env.str("NOTIFY_API_KEY", default="")
NOTIFY_BASE_URL = env.str("NOTIFY_BASE_URL", default="https://api.notifications.service.gov.uk")
NOTIFY_TIMEOUT_SECONDS = env.float("NOTIFY_TIMEOUT_SECONDS", default=10.0)
# GOV.UK Notify template ids, one per message kind and channel.
NOTIFY_TEMPLATES = {
    f"{_kind}_{_channel}": env.str(
        f"NOTIFY_TEMPLATE_{_kind.upper()}_{_channel.upper()}", default=""
    )
    for _kind in ("invite", "reminder", "confirmation", "change", "cancellation")
    for _channel in ("sms", "email")
}
# Invitations are sent in batches of this many per task; transient failures (Notify down,
# busy or slow) are retried this many times with exponential backoff, then marked failed.
INVITE_SEND_BATCH_SIZE = env.int("INVITE_SEND_BATCH_SIZE", default=100)
INVITE_SEND_MAX_RETRIES = env.int("INVITE_SEND_MAX_RETRIES", default=4)
INVITE_SEND_RETRY_BACKOFF_MAX_SECONDS = env.int(
    "INVITE_SEND_RETRY_BACKOFF_MAX_SECONDS", default=600
)
# Beat: invitation waves (matched to free slots) and reminders for active campaigns.
INVITE_WAVE_INTERVAL_SECONDS = env.int("INVITE_WAVE_INTERVAL_SECONDS", default=180)
INVITE_REMINDER_INTERVAL_SECONDS = env.int("INVITE_REMINDER_INTERVAL_SECONDS", default=900)
# "Send reminders now" never reminds a patient messaged less than this many hours ago.
INVITE_MANUAL_REMINDER_MIN_GAP_HOURS = env.int("INVITE_MANUAL_REMINDER_MIN_GAP_HOURS", default=24)
CELERY_BEAT_SCHEDULE["booking-invite-waves"] = {
    "task": "booking.tasks.send_invite_waves",
    "schedule": timedelta(seconds=INVITE_WAVE_INTERVAL_SECONDS),
    "options": {"expires": max(INVITE_WAVE_INTERVAL_SECONDS - 10, 10)},
}
CELERY_BEAT_SCHEDULE["booking-invite-reminders"] = {
    "task": "booking.tasks.send_invite_reminders",
    "schedule": timedelta(seconds=INVITE_REMINDER_INTERVAL_SECONDS),
    "options": {"expires": max(INVITE_REMINDER_INTERVAL_SECONDS - 30, 30)},
}
# --- end invitations ---------------------------------------------------------------------

# --- Transactional outbox (hippo_pcn/outbox) ---------------------------------------------
# Patient messages, reminders and slot refreshes are written as outbox rows in the same
# transaction as the change that calls for them. On commit the web process tries to
# publish them at once, waiting at most OUTBOX_PUBLISH_TIMEOUT_SECONDS for the broker
# (and not trying again for OUTBOX_FAST_PATH_PAUSE_SECONDS after a failure); the relay
# (beat every OUTBOX_RELAY_INTERVAL_SECONDS, or `manage.py relay_outbox` from cron)
# publishes the rest, backing off while the broker is down. Published rows are kept
# OUTBOX_KEEP_PUBLISHED_DAYS days.
OUTBOX_PUBLISH_TIMEOUT_SECONDS = env.float("OUTBOX_PUBLISH_TIMEOUT_SECONDS", default=0.5)
OUTBOX_FAST_PATH_PAUSE_SECONDS = env.int("OUTBOX_FAST_PATH_PAUSE_SECONDS", default=30)
OUTBOX_RELAY_PUBLISH_TIMEOUT_SECONDS = env.float(
    "OUTBOX_RELAY_PUBLISH_TIMEOUT_SECONDS", default=3.0
)
OUTBOX_RELAY_INTERVAL_SECONDS = env.int("OUTBOX_RELAY_INTERVAL_SECONDS", default=30)
OUTBOX_RELAY_BATCH_SIZE = env.int("OUTBOX_RELAY_BATCH_SIZE", default=200)
OUTBOX_PUBLISH_LEASE_SECONDS = env.int("OUTBOX_PUBLISH_LEASE_SECONDS", default=60)
OUTBOX_RETRY_BACKOFF_SECONDS = env.int("OUTBOX_RETRY_BACKOFF_SECONDS", default=5)
OUTBOX_RETRY_BACKOFF_MAX_SECONDS = env.int("OUTBOX_RETRY_BACKOFF_MAX_SECONDS", default=300)
OUTBOX_KEEP_PUBLISHED_DAYS = env.int("OUTBOX_KEEP_PUBLISHED_DAYS", default=7)
CELERY_BEAT_SCHEDULE["outbox-relay"] = {
    "task": "hippo_pcn.outbox.tasks.relay_outbox",
    "schedule": timedelta(seconds=OUTBOX_RELAY_INTERVAL_SECONDS),
    "options": {"expires": max(OUTBOX_RELAY_INTERVAL_SECONDS - 5, 5)},
}
# --- end outbox ----------------------------------------------------------------------------

# --- Celery queues -------------------------------------------------------------------------
# Three queues, so each kind of work has its own workers and one cannot starve another
# (Procfile.production runs one or more workers per queue; the demo's one worker takes
# all three):
#   poll: the tracing poller (beat's fan-out and one poll per PCN connection) and the
#         work that reconciles hippo-pcn with EMIS: settling bookings of unknown outcome
#         and auto-verifying soon-due tracing tasks. Long, EMIS-bound tasks.
#   messages: what is sent to patients: invitations (waves), reminders, booking
#         confirmations, changes and cancellations, and the outbox relay that publishes
#         them. Short tasks that must not wait behind a slow poll.
#   default: everything else (slot refreshes, health, digests, onboarding emails).
# Every task is named here (tests/test_celery_queues.py checks that none is missing),
# so a new task is placed on purpose.
CELERY_TASK_DEFAULT_QUEUE = "default"
# Each queue has its own direct exchange and routing key (as Celery makes for a queue it
# creates): a bare Queue(name) would be bound to the default exchange's routing key, and
# a direct exchange would then copy every message into all three queues.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("default", "poll", "messages")
]
_TASK_QUEUES = {
    "poll": [
        "tracing.tasks.poll_all_pcn_connections",
        "tracing.tasks.poll_pcn_connection",
        "booking.tasks.reconcile_emis_bookings",
        "tracing.tasks.auto_verify_due_tasks",
    ],
    "messages": [
        "booking.tasks.send_invites",
        "booking.tasks.send_reminder",
        "booking.tasks.send_booking_message",
        "booking.tasks.send_campaign_wave",
        "booking.tasks.send_invite_waves",
        "booking.tasks.send_campaign_reminders",
        "booking.tasks.send_invite_reminders",
        "hippo_pcn.outbox.tasks.relay_outbox",
    ],
    "default": [
        "booking.tasks.refresh_campaign_slots",
        "booking.tasks.refresh_active_campaigns",
        "tracing.tasks.check_poll_health",
        "tracing.tasks.send_tracing_digests",
        "emis_integration.tasks.send_onboarding_live_email",
        "hippo_pcn.health.tasks.beat_heartbeat",
    ],
}
CELERY_TASK_ROUTES = {
    task: {"queue": queue} for queue, tasks in _TASK_QUEUES.items() for task in tasks
}
# --- end Celery queues ---------------------------------------------------------------------
