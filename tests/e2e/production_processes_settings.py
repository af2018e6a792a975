"""Settings for the processes tests/e2e/test_production_processes.py starts from
Procfile.production: the test settings (the test database, Redis, the bundled EMIS
sandbox served by the web process itself), except that tasks really go through the
broker to the workers instead of running in the caller, on Redis keys of their own."""

import os

from hippo_pcn.settings.base import CELERY_TASK_ROUTES as PRODUCTION_ROUTES
from hippo_pcn.settings.test import *  # noqa: F403
from hippo_pcn.settings.test import LOGGING

# Production's routes (the test settings keep every task on the default queue).
CELERY_TASK_ROUTES = PRODUCTION_ROUTES
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
# Every broker key under this run's prefix: suites running side by side (xdist workers,
# other checkouts) share the Redis database but never each other's queues.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": os.environ["HIPPO_E2E_BROKER_PREFIX"],
    "socket_timeout": 5.0,
    "socket_connect_timeout": 2.0,
}

# The web process is the EMIS sandbox too, and builds patients' links on its address.
PUBLIC_BASE_URL = os.environ["HIPPO_E2E_BASE_URL"]
EMIS_SANDBOX_BASE_URL = f"{PUBLIC_BASE_URL}/emis-sandbox"
# Patient messages are written to a file the test reads (one JSON line each).
NOTIFY_BACKEND = "file"
NOTIFY_FILE_PATH = os.environ["HIPPO_E2E_MESSAGES_FILE"]
# The workers log each task they receive and finish, which the test reads.
LOGGING["root"]["level"] = "INFO"
