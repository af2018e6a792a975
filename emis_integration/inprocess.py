"""An httpx transport that sends EMIS requests to this same Django project
in-process (WSGI): real HTTP requests and responses, no sockets. Used when the
bundled sandbox must answer while no web server runs yet (seed_demo) and by the
tests. Django's "close old database connections" hooks are switched off for
the inner request, as Django's own test client does, so the caller's database
connection (and transaction) survives."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


class InProcessApp:
    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = request_started.disconnect(close_old_connections)
        finished = request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            close = getattr(response, "close", None)
            if close is not None:
                close()
        finally:
            if started:
                request_started.connect(close_old_connections)
            if finished:
                request_finished.connect(close_old_connections)
        return [body]


def in_process_transport() -> httpx.WSGITransport:
    return httpx.WSGITransport(app=InProcessApp())
