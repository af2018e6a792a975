#!/usr/bin/env python
"""One poll in a fresh process, as a Celery pool process would run it (Django
set up, the collector tuned, the production defaults for EMIS timeouts and
fetch threads), reaching the sandbox EMIS over real HTTP at the connection's
Partner API base URL (served by another process), so that its time and peak
RSS are the poller's own and not the benchmark runner's. Prints one JSON line:
the PollRun's figures, elapsed_s and peak_rss_mb.

With --in-process the sandbox answers inside this process instead (the
in-process WSGI transport, emis_integration.inprocess: no sockets), for the
figure the benchmark keeps beside the HTTP one.

Usage: bench/poll_worker.py CONNECTION_ID [--in-process] (TEST_DATABASE_URL
names the database)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hippo_pcn.settings.test")


def _peak_rss_mb() -> float:
    """This program's peak resident set size. VmHWM belongs to the process's
    own memory map, which exec starts afresh; getrusage's ru_maxrss would also
    count the (large) benchmark runner this process was forked from."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def production_poll_settings(*, in_process: bool = False) -> None:
    """The test settings read one session at a time, with short EMIS timeouts
    (their in-process sandbox shares the test's transaction); a worker uses the
    production defaults of hippo_pcn.settings.base."""
    from django.conf import settings

    from hippo_pcn.settings import base

    settings.EMIS_HTTP_TRANSPORT_FACTORY = (
        "emis_integration.inprocess.in_process_transport" if in_process else ""  # real HTTP
    )
    for name in (
        "TRACING_POLL_FETCH_CONCURRENCY",
        "EMIS_CONNECT_TIMEOUT",
        "EMIS_READ_TIMEOUT",
        "EMIS_MAX_RETRIES",
        "EMIS_RETRY_BACKOFF",
    ):
        setattr(settings, name, getattr(base, name))


def main(connection_id: int, *, in_process: bool = False) -> None:
    import django

    django.setup()
    from emis_integration.models import EmisConnection
    from hippo_pcn.gc_tuning import tune_gc_for_worker
    from tracing.poller import poll_connection

    production_poll_settings(in_process=in_process)
    connection = EmisConnection.objects.select_related("organisation").get(pk=connection_id)
    tune_gc_for_worker()
    started = time.perf_counter()
    run = poll_connection(connection=connection)
    elapsed = time.perf_counter() - started
    peak = _peak_rss_mb()
    print(
        json.dumps(
            {
                "status": run.status,
                "error": run.error,
                "full_sweep": run.full_sweep,
                "emis_calls": run.emis_calls,
                "sessions_listed": run.sessions_listed,
                "sessions_fetched": run.sessions_fetched,
                "appointments_seen": run.appointments_seen,
                "created": run.created,
                "cancelled": run.cancelled,
                "moved": run.moved,
                "updated": run.updated,
                "warnings": run.warnings.count("\n") + 1 if run.warnings else 0,
                "elapsed_s": elapsed,
                "peak_rss_mb": peak,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), in_process="--in-process" in sys.argv[2:])
