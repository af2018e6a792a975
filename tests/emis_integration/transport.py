"""An httpx transport that serves requests from this Django project in-process
(WSGI), so tests reach the bundled EMIS sandbox through the real GPConnectClient
and HTTP semantics, inside the test's database transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


class InProcessApp:
    """Django's WSGI handler without the "close old database connections" hooks
    (which would close the test's own connection mid-transaction), as Django's
    test client does. The response is read and closed while they are off."""

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


def wsgi_transport() -> httpx.WSGITransport:
    return httpx.WSGITransport(app=InProcessApp())
