"""Celery tasks for tracing: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from emis_integration.client import EmisUnavailable
from emis_integration.models import EmisConnection, EmisSystem


@shared_task(
    ignore_result=True,
    autoretry_for=(EmisUnavailable,),
    retry_backoff=True,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=settings.TRACING_POLL_SOFT_TIME_LIMIT_SECONDS,
    time_limit=settings.TRACING_POLL_TIME_LIMIT_SECONDS,
)
def poll_pcn_connection(connection_id: int) -> None:
    """Poll one live PCN connection; only `EmisUnavailable` is retried. The poll
    is `poll_connection` (tracing/poller/poll.py); what it does with each change
    found in EMIS, a new appointment's task included, is `poll_changes_store`
    (tracing/poller/changes.py)."""
    from .poller import poll_connection

    connection = (
        EmisConnection.objects.select_related("organisation").filter(pk=connection_id).first()
    )
    if connection is None or not connection.is_live:
        return
    if connection.system != EmisSystem.EMIS_COMMUNITY:
        return  # a practice's own EMIS never makes tracing tasks
    poll_connection(connection=connection)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def poll_all_pcn_connections() -> None:
    """Beat: one poll per live PCN connection, each expiring before the next round."""
    from .selectors import live_pcn_connection_ids

    expires = max(settings.TRACING_POLL_INTERVAL_SECONDS - 10, 10)
    for connection_id in live_pcn_connection_ids():
        poll_pcn_connection.apply_async(args=[connection_id], expires=expires)


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=55)
def check_poll_health() -> None:
    """Beat, every minute: alert support about a stopped scheduler and PCN
    connections the poller cannot read, once, and clear the alerts when they
    recover. Beat and the workers also run this in threads of their own, and
    cron can run `manage.py check_poll_health`: see hippo_pcn/health/alerts.py."""
    from hippo_pcn.health.alerts import health_alerts_run

    health_alerts_run(runner="scheduled task")


@shared_task(ignore_result=True, soft_time_limit=600, time_limit=660)
def auto_verify_due_tasks() -> None:
    """Beat: ask each PCN's EMIS whether patients of soon-due tasks are already
    registered there."""
    from .services import tracing_tasks_auto_verify

    tracing_tasks_auto_verify()


@shared_task(ignore_result=True, soft_time_limit=300, time_limit=330)
def send_tracing_digests() -> None:
    """Beat, hourly: the digest email for each owner whose batch time it is
    (practice-led practices: when they have new tasks)."""
    from .services import tracing_digests_send

    tracing_digests_send()
