"""Local demo settings: SQLite and a filesystem Celery broker under ./var unless
DATABASE_URL / CELERY_BROKER_URL say otherwise."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS as BASE_INSTALLED_APPS
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
DEMO_MODE = True

# The bundled EMIS sandbox (a fake EMIS with its own admin and tables) belongs to the
# demo and the tests only; production.py never installs it. It goes right after
# emis_integration so its demo data is seeded before the apps that book through it.
_after = BASE_INSTALLED_APPS.index("emis_integration") + 1
INSTALLED_APPS = [
    *BASE_INSTALLED_APPS[:_after],
    "emis_integration.sandbox",
    *BASE_INSTALLED_APPS[_after:],
]
SECRET_KEY = env.str(
    "SECRET_KEY", default="local-demo-only-not-secret-6f0c8a2e9d1b4c7a8e3f5d2c1b0a9e8d"
)
# A fixed demo key so the demo's encrypted credentials survive restarts. Never used
# in production, which refuses to start without FERNET_KEYS.
FERNET_KEYS = env.list("FERNET_KEYS", default=["nYz7Arsi212tBrLLC_85TKWjifRtAGvMsYV_03PnC0c="])
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The demo's one port setting. `make demo` (default 8000) serves on PORT and hands it
# to every process as DEMO_PORT too, because honcho gives each process its own PORT
# (web PORT, worker PORT+100, beat PORT+200) and the worker builds patients' links
# and calls the sandbox on the web server's port.
PORT = env.int("DEMO_PORT", default=env.int("PORT", default=8000))
EMIS_SANDBOX_BASE_URL = env.str(
    "EMIS_SANDBOX_BASE_URL", default=f"http://127.0.0.1:{PORT}/emis-sandbox"
)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://127.0.0.1:{PORT}")

# SQLite is shared by the web server, the worker and beat: WAL and immediate
# transactions keep them from tripping over each other's locks.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405
    DATABASES["default"]["OPTIONS"] = {  # noqa: F405
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
