"""The support-only alert banner on every admin page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from hippo_pcn.organisations.selectors import user_is_support


def poll_alerts(request: HttpRequest) -> dict[str, Any]:
    """Support sees, on every admin page, which PCN connections the poller cannot
    read and whether the scheduler has stopped. Computed live from the last
    successful polls and the heartbeats, never from what a scheduled check
    recorded, so the web process alone shows it even when beat, the workers or
    the broker are down. Only admin pages pay the queries, only for support."""
    if not request.path.startswith("/admin/") or not user_is_support(user=request.user):
        return {}
    from hippo_pcn.health.alerts import scheduler_state

    from .selectors import poll_health

    now = timezone.now()
    return {
        "tracing_poll_alerts": [h for h in poll_health(now=now) if not h.healthy],
        "scheduler_state": scheduler_state(now=now),
    }
