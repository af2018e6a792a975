"""Reads of the poller's health: per live PCN connection, alerts raised, and
the summary /healthz shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem

from ..models import (
    PollCursor,
)


def live_pcn_connection_ids() -> list[int]:
    return list(
        EmisConnection.objects.filter(
            system=EmisSystem.EMIS_COMMUNITY, status=ConnectionStatus.LIVE
        ).values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class PollHealth:
    connection_id: int
    organisation: str
    ods_code: str
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    healthy: bool
    alert_raised_at: datetime | None
    # What the poll's age counts from: the last successful poll, or going live.
    counted_from: datetime | None = None


def poll_health(
    *, now: datetime | None = None, pcn_ids: list[int] | None = None
) -> list[PollHealth]:
    """Every live PCN connection's poll health: unhealthy when it has had no
    successful poll for TRACING_POLL_ALERT_AFTER_SECONDS (a connection never
    polled counts from when it went live)."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.TRACING_POLL_ALERT_AFTER_SECONDS)
    connections = EmisConnection.objects.filter(
        system=EmisSystem.EMIS_COMMUNITY, status=ConnectionStatus.LIVE
    ).select_related("organisation", "poll_cursor")
    if pcn_ids is not None:
        connections = connections.filter(organisation_id__in=pcn_ids)
    result: list[PollHealth] = []
    for connection in connections.order_by("organisation__name"):
        cursor = getattr(connection, "poll_cursor", None)
        last_success = cursor.last_success_at if cursor else None
        since = last_success or connection.status_changed_at or connection.created_at
        result.append(
            PollHealth(
                connection_id=connection.pk,
                organisation=connection.organisation.name,
                ods_code=connection.organisation.ods_code,
                last_success_at=last_success,
                last_error=cursor.last_error if cursor else "",
                last_error_at=cursor.last_error_at if cursor else None,
                healthy=since >= limit,
                alert_raised_at=cursor.alert_raised_at if cursor else None,
                counted_from=since,
            )
        )
    return result


def poll_alerts_raised() -> list[PollCursor]:
    """Connections support is currently alerted about (the admin banner)."""
    return list(
        PollCursor.objects.filter(
            alert_raised_at__isnull=False,
            connection__status=ConnectionStatus.LIVE,
            connection__system=EmisSystem.EMIS_COMMUNITY,
        ).select_related("connection__organisation")
    )


def poll_health_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """For /healthz. One PCN's EMIS being down is that PCN's outage, reported but
    not failing the service; every live connection stale means the poller itself
    (worker or beat) is down, which fails the check."""
    items = poll_health(now=now)
    stale = [item for item in items if not item.healthy]
    return {
        "ok": not items or len(stale) < len(items),
        "live_connections": len(items),
        "stale_connections": [
            {
                "connection": item.connection_id,
                "ods_code": item.ods_code,
                "last_success": item.last_success_at.isoformat() if item.last_success_at else None,
            }
            for item in stale
        ],
        "alert_after_s": settings.TRACING_POLL_ALERT_AFTER_SECONDS,
    }
