"""The support-only poll alert banner on every admin page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from hippo_pcn.organisations.selectors import user_is_support


def poll_alerts(request: HttpRequest) -> dict[str, Any]:
    """Support sees which PCN connections the poller cannot read. Only admin
    pages pay the query, only for support."""
    if not request.path.startswith("/admin/") or not user_is_support(user=request.user):
        return {}
    from .selectors import poll_alerts_raised

    return {"tracing_poll_alerts": poll_alerts_raised()}
