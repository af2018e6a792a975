"""The address of the person making a request, as far as we can trust it.

Behind a reverse proxy every request arrives from the proxy's address
(``REMOTE_ADDR``), and the real client is only named in ``X-Forwarded-For``.
That header is written by the client as much as by our proxies, so only the
entries appended by proxies we run are believed.

``settings.TRUSTED_PROXY_COUNT`` says how many proxies we run in front of the
app, each of which appends the address it received the request from:

* ``0``: no proxy; ``X-Forwarded-For`` is ignored and ``REMOTE_ADDR`` is the
  client. Anything a client puts in the header is spoofing.
* ``N > 0``: the client is the N-th address from the right of
  ``X-Forwarded-For``. Whatever stands further left was supplied by the
  client and is never used. When the header is missing or has fewer than N
  entries, the request did not come through our proxies as configured, and
  ``REMOTE_ADDR`` is used.

Used by the self-book rate limits (django-ratelimit) and by django-axes
(``AXES_CLIENT_IP_CALLABLE``), which call it with the request alone.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip

_FORWARDED_FOR = ("HTTP_X_FORWARDED_FOR",)


def client_ip(request: HttpRequest) -> str:
    """The client's IP address, or "" when the request has none at all."""
    remote_addr = str(request.META.get("REMOTE_ADDR") or "")
    trusted_proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if trusted_proxies <= 0:
        return remote_addr
    # ipware counts the proxies *listed* in the chain, not the proxies that
    # appended to it: with proxy_count=k it returns the (k+1)-th address from
    # the right and requires at least k+1 entries (strict=False allows extra
    # client-supplied entries on the left, which it never picks). So N
    # trusted proxies that each append their peer's address map to N - 1.
    ip, _routable = get_client_ip(
        request,
        proxy_order="left-most",
        proxy_count=trusted_proxies - 1,
        request_header_order=_FORWARDED_FOR,
        strict=False,
    )
    return ip or remote_addr
