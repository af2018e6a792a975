"""Beat: the outbox relay (hippo_pcn/outbox/services.py)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def relay_outbox() -> None:
    from .services import outbox_relay

    outbox_relay()
