"""gunicorn's settings for the web process (Procfile.production):

    gunicorn hippo_pcn.wsgi:application --config hippo_pcn/gunicorn_conf.py

Everything comes from the environment, with defaults for one host behind a TLS proxy.
Django's own settings still come from DJANGO_SETTINGS_MODULE (hippo_pcn.settings.production).

gunicorn reads this file as a script of setting names (docs.gunicorn.org, "Settings").
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Where to listen: GUNICORN_BIND (e.g. "unix:/run/hippo/web.sock"), or 0.0.0.0 on PORT.
bind = [os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 8000)}"]

# Worker processes (WEB_CONCURRENCY, gunicorn's own name for it), each with a few threads.
# Threads suit this app: a booking waits on EMIS (GP Connect) for up to
# EMIS_CONNECT_TIMEOUT + EMIS_READ_TIMEOUT a try, and a thread waiting on the network
# holds no CPU. Each thread may hold a database connection: workers x threads x hosts is
# what PostgreSQL (or PgBouncer) must accept.
workers = _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# A worker process silent this long (hung, not merely busy: with threads a slow request
# does not silence it) is killed and replaced. A request's own length is bounded by the
# EMIS client's connect and read timeouts and by PostgreSQL.
timeout = _int("GUNICORN_TIMEOUT", 60)
# On a restart or deploy (SIGTERM), requests in progress get this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Keep-alive with the proxy in front: a little longer than gunicorn's 2 s default, and
# shorter than the proxy's own idle timeout (so the proxy never reuses a closed socket).
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Each worker is replaced after about this many requests (jittered, so they do not all
# restart at once): memory a long-lived process gathers is given back. 0 turns it off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# Which addresses may set X-Forwarded-Proto (and the like) for gunicorn: the TLS proxy's.
# Django reads the scheme itself (SECURE_PROXY_SSL_HEADER) and the client address from
# X-Forwarded-For (TRUSTED_PROXY_COUNT); this only governs gunicorn's own view.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket (for `gunicornc`) only where GUNICORN_CONTROL_SOCKET gives
# it a path: its default is one path per user, which every gunicorn that user runs on
# the host would contend for.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# The workers' heartbeat files: in memory where there is /dev/shm (a container's disk
# may be slow enough to get healthy workers killed).
if os.path.isdir("/dev/shm"):  # noqa: S108 - a directory, not a temporary file name
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# Logs. The access log goes to stdout and gunicorn's own log to stderr, both through
# hippo_pcn.logging's redacting filter: an invitation link's token is in its path
# (/book/<token>/), and that must never reach a log line. The access line has the path
# without its query string (which may carry search terms) and no Referer (which may be
# a link), and the time taken in milliseconds.
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "hippo_pcn.logging.RedactTokensFilter"}},
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
        },
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "filters": ["redact_tokens"],
            "stream": "ext://sys.stderr",
        },
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "filters": ["redact_tokens"],
            "stream": "ext://sys.stderr",
        },
        "access_console": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "filters": ["redact_tokens"],
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["error_console"],
            "propagate": False,
        },
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
    },
}
