#!/usr/bin/env python
"""The sandbox EMIS served over real HTTP for the poll benchmarks: Django's own
development server (`django.core.servers.basehttp.run`, threaded, the server
`manage.py runserver --noreload` runs) with one change: responses go out with
TCP_NODELAY. Python's http.server writes a response's headers and body in
separate sends; on a kept-alive connection Nagle's algorithm then holds the body
back until the client's delayed ACK (about 40 ms a request on Linux), which
would make the benchmark measure that stall rather than the poller or the
sandbox. Per-request log lines are turned off.

Usage: bench/sandbox_server.py PORT (TEST_DATABASE_URL names the database; add
`?conn_max_age=600` to keep each thread's database connection)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hippo_pcn.settings.test")


def main(port: int) -> None:
    import django

    django.setup()
    from django.core.servers.basehttp import WSGIRequestHandler, get_internal_wsgi_application, run

    WSGIRequestHandler.disable_nagle_algorithm = True
    logging.getLogger("django.server").setLevel(logging.ERROR)
    logging.getLogger("django.request").setLevel(logging.ERROR)
    run("127.0.0.1", port, get_internal_wsgi_application(), threading=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
