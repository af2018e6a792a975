"""Celery tasks for booking: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from emis_integration.client import EmisUnavailable

from .models import Campaign, CampaignStatus


@shared_task(
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
    autoretry_for=(EmisUnavailable,),
    retry_backoff=True,
    max_retries=3,
)
def refresh_campaign_slots(campaign_id: int) -> None:
    from .services import campaign_refresh_slots

    campaign = (
        Campaign.objects.select_related("practice", "practice__pcn").filter(pk=campaign_id).first()
    )
    if campaign is not None and campaign.is_active:
        campaign_refresh_slots(campaign=campaign)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def refresh_active_campaigns() -> None:
    """Beat: fan out one refresh per active campaign, each expiring before the next round."""
    expires = max(settings.SLOT_REFRESH_INTERVAL_SECONDS - 10, 10)
    active = Campaign.objects.filter(status=CampaignStatus.ACTIVE).values_list("pk", flat=True)
    for campaign_id in active:
        refresh_campaign_slots.apply_async(args=[campaign_id], expires=expires)
