"""An httpx transport that serves requests from this Django project in-process
(WSGI), so tests reach the bundled EMIS sandbox through the real GPConnectClient
and HTTP semantics, inside the test's database transaction."""

import httpx
from django.core.handlers.wsgi import WSGIHandler


def wsgi_transport() -> httpx.WSGITransport:
    return httpx.WSGITransport(app=WSGIHandler())
