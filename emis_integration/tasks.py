"""Onboarding follow-ups, queued through the outbox (hippo_pcn/outbox)."""

from __future__ import annotations

import smtplib

from celery import shared_task


@shared_task(
    ignore_result=True,
    soft_time_limit=30,
    time_limit=60,
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=30,
    max_retries=8,
)
def send_onboarding_live_email(request_id: int) -> None:
    """Tell an onboarding request's requesters that their PCN is live (once)."""
    from .services import onboarding_live_notify

    onboarding_live_notify(request_id=request_id)
