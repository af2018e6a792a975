#!/usr/bin/env python
"""One ingestion poll in a fresh process, as a Celery pool process would run it
(Django set up, the collector tuned, the next page prefetched, EMIS reached
in-process), so that its peak RSS is the poller's own and not the benchmark
runner's. Prints one JSON line: created, status, elapsed_s, peak_rss_mb.

Usage: bench/poll_worker.py CONNECTION_ID (TEST_DATABASE_URL names the database)."""

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


def main(connection_id: int) -> None:
    import django

    django.setup()
    from django.conf import settings

    from emis_integration.models import EmisConnection
    from hippo_pcn.gc_tuning import tune_gc_for_worker
    from tracing.services import poll_connection

    settings.EMIS_HTTP_TRANSPORT_FACTORY = "emis_integration.inprocess.in_process_transport"
    settings.TRACING_POLL_PREFETCH = True  # as in production (the test settings turn it off)
    connection = EmisConnection.objects.select_related("organisation").get(pk=connection_id)
    tune_gc_for_worker()
    started = time.perf_counter()
    run = poll_connection(connection=connection)
    elapsed = time.perf_counter() - started
    peak = _peak_rss_mb()
    print(
        json.dumps(
            {
                "created": run.created,
                "status": run.status,
                "error": run.error,
                "elapsed_s": elapsed,
                "peak_rss_mb": peak,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
