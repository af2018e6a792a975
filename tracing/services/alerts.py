"""Poll health: the check that raises (and clears) the alert when a PCN's
appointments have not been read for too long."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from hippo_pcn.audit.services import (
    audit_record,
    system_actor,
)
from hippo_pcn.health.alerts import support_emails

from ..models import (
    PollCursor,
)

logger = logging.getLogger(__name__)

# --- poll health -----------------------------------------------------------------------


@dataclass(frozen=True)
class HealthCheckResult:
    raised: list[int]
    cleared: list[int]


def poll_health_check(
    *, now: datetime | None = None, runner: str = "scheduled task"
) -> HealthCheckResult:
    """Raise an alert, once, for each live PCN connection with no successful poll
    for TRACING_POLL_ALERT_AFTER_SECONDS (a log line at ERROR and one email to
    support); clear it when polling recovers or the connection stops being live.
    Run by whichever of beat, a worker or `manage.py check_poll_health` comes
    first (hippo_pcn/health/alerts.py): the compare-and-swap on
    `alert_raised_at` makes the one that raises it the only one that sends."""
    from django.core.mail import send_mail

    from ..selectors import poll_health

    now = now or timezone.now()
    raised: list[int] = []
    cleared: list[int] = []
    live_ids: list[int] = []
    for health in poll_health(now=now):
        live_ids.append(health.connection_id)
        cursor, _ = PollCursor.objects.get_or_create(connection_id=health.connection_id)
        if not health.healthy:
            if (
                PollCursor.objects.filter(pk=cursor.pk, alert_raised_at__isnull=True).update(
                    alert_raised_at=now
                )
                == 1
            ):
                raised.append(health.connection_id)
                since = (
                    f"since {timezone.localtime(health.last_success_at):%d %b %Y %H:%M}"
                    if health.last_success_at
                    else "since it went live"
                )
                logger.error(
                    "Tracing poller: connection %s (%s) has had no successful poll %s. "
                    "Last error: %s (seen by the %s)",
                    health.connection_id,
                    health.ods_code,
                    since,
                    health.last_error or "none recorded",
                    runner,
                )
                audit_record(
                    actor=system_actor("poll-health"),
                    action="tracing_poll.alert_raised",
                    details={
                        "connection": health.connection_id,
                        "last_error": health.last_error,
                        "seen_by": runner,
                    },
                )
                recipients = support_emails()
                if recipients:
                    send_mail(
                        subject=f"hippo-pcn: tracing poller cannot read {health.organisation}",
                        message=(
                            f"The tracing poller has had no successful poll of "
                            f"{health.organisation} ({health.ods_code}) EMIS Community {since}.\n"
                            f"Last error: {health.last_error or 'none recorded'}.\n\n"
                            "New bookings at this PCN are not reaching the tracing worklist "
                            "until polling recovers. This alert is sent once; it clears by "
                            "itself when a poll succeeds."
                        ),
                        from_email=None,
                        recipient_list=recipients,
                    )
        elif (
            PollCursor.objects.filter(pk=cursor.pk, alert_raised_at__isnull=False).update(
                alert_raised_at=None
            )
            == 1
        ):
            cleared.append(health.connection_id)
            logger.warning(
                "Tracing poller: connection %s (%s) is polling again; alert cleared.",
                health.connection_id,
                health.ods_code,
            )
            audit_record(
                actor=system_actor("poll-health"),
                action="tracing_poll.alert_cleared",
                details={"connection": health.connection_id},
            )
    stale = PollCursor.objects.filter(alert_raised_at__isnull=False).exclude(
        connection_id__in=live_ids
    )
    cleared += list(stale.values_list("connection_id", flat=True))
    stale.update(alert_raised_at=None)
    return HealthCheckResult(raised=raised, cleared=cleared)
