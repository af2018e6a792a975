from celery import shared_task

from .services import heartbeat_touch


@shared_task(ignore_result=True, soft_time_limit=10, time_limit=20)
def beat_heartbeat() -> None:
    """Scheduled by beat every HEALTH_HEARTBEAT_INTERVAL_SECONDS; /healthz reads it."""
    heartbeat_touch()
