"""Settings for the processes the benchmarks start (bench/processes.py): the
app and the sandbox EMIS under gunicorn, and the Celery worker. The test
settings (PostgreSQL and Redis on this machine, the bundled sandbox) with what
production does differently where it changes a measurement:

- staff pages ask for the second factor (STAFF_MFA_REQUIRED);
- EMIS calls use the production timeouts, retries and fetch threads;
- each server thread or worker keeps its database connection between requests;
- tasks go through the broker to a worker, on production's queues (the test
  settings put every task on one), unless BENCH_CELERY_EAGER=1 (the app server
  sets it: its one booking's patient message is sent in the request, so no
  message waits in a queue no worker reads).

The database is TEST_DATABASE_URL and Redis TEST_REDIS_URL, as for the tests."""

import os

from hippo_pcn.settings import base
from hippo_pcn.settings.test import *  # noqa: F403
from hippo_pcn.settings.test import DATABASES

STAFF_MFA_REQUIRED = True

EMIS_CONNECT_TIMEOUT = base.EMIS_CONNECT_TIMEOUT
EMIS_READ_TIMEOUT = base.EMIS_READ_TIMEOUT
EMIS_MAX_RETRIES = base.EMIS_MAX_RETRIES
EMIS_RETRY_BACKOFF = base.EMIS_RETRY_BACKOFF
EMIS_HTTP_TRANSPORT_FACTORY = ""
TRACING_POLL_FETCH_CONCURRENCY = base.TRACING_POLL_FETCH_CONCURRENCY

DATABASES["default"]["CONN_MAX_AGE"] = 600

CELERY_TASK_ALWAYS_EAGER = os.environ.get("BENCH_CELERY_EAGER", "") == "1"
CELERY_TASK_ROUTES = getattr(base, "CELERY_TASK_ROUTES", {})
