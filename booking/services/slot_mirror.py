"""The slot mirror: EMIS's free slots per connection and booking practice, refreshed."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from emis_integration.client import (
    EmisError,
)
from emis_integration.crypto import CredentialsUnreadable
from emis_integration.models import EmisConnection, EmisSystem
from emis_integration.selectors import emis_client, live_connection_for
from emis_integration.services import connection_record_call
from hippo_pcn.organisations.models import Organisation

from ..models import (
    Campaign,
    Slot,
)
from ..selectors import (
    campaign_live_sources,
    campaign_window,
)

logger = logging.getLogger(__name__)


# --- The slot mirror ----------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    connection_id: int
    source: str
    seen: int
    removed: int
    error: str = ""


def slots_refresh(
    *, connection: EmisConnection, viewer: Organisation, start: datetime, end: datetime
) -> RefreshResult:
    """Mirror EMIS's free slots as `viewer` sees them in [start, end): add and
    update what EMIS returns, delete what it no longer returns (taken, withdrawn).
    The EMIS call happens outside any database transaction."""
    source = "PCN" if connection.system == EmisSystem.EMIS_COMMUNITY else "Practice"
    if end <= start:
        return RefreshResult(connection.pk, source, 0, 0)
    try:
        with emis_client(
            connection=connection, requesting_organisation=viewer, purpose="slot-refresh"
        ) as client:
            free = client.search_free_slots(start, end)
    except (EmisError, CredentialsUnreadable) as exc:
        if isinstance(exc, EmisError):
            connection_record_call(connection=connection, error=exc)
        logger.warning("Slot refresh of connection %s failed: %s", connection.pk, exc)
        return RefreshResult(connection.pk, source, 0, 0, error=str(exc))
    connection_record_call(connection=connection)
    now = timezone.now()
    rows = [
        Slot(
            connection=connection,
            viewer=viewer,
            emis_slot_id=s.slot_id,
            start=s.start,
            end=s.end,
            is_pcn=source == "PCN",
            site_name=s.site_name[:200],
            site_address=s.site_address[:300],
            practitioner=s.practitioner[:200],
            service_type=s.service_type[:200],
            delivery_channel=s.delivery_channel[:40],
            location_id=s.location_id[:64],
            practitioner_id=s.practitioner_id[:64],
            refreshed_at=now,
        )
        for s in free
    ]
    with transaction.atomic():
        Slot.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["connection", "viewer", "emis_slot_id"],
            update_fields=[
                "start",
                "end",
                "site_name",
                "site_address",
                "practitioner",
                "service_type",
                "delivery_channel",
                "location_id",
                "practitioner_id",
                "refreshed_at",
            ],
        )
        removed, _ = (
            Slot.objects.filter(
                connection=connection, viewer=viewer, start__gte=start, start__lt=end
            )
            .exclude(emis_slot_id__in=[s.slot_id for s in free])
            .delete()
        )
    return RefreshResult(connection.pk, source, len(rows), removed)


def campaign_refresh_slots(*, campaign: Campaign) -> list[RefreshResult]:
    start, end = campaign_window(campaign)
    return [
        slots_refresh(connection=connection, viewer=campaign.practice, start=start, end=end)
        for connection in campaign_live_sources(campaign=campaign)
    ]


PRACTICE_SLOT_LOOKAHEAD = timedelta(days=28)


def practice_refresh_slots(*, practice: Organisation) -> list[RefreshResult]:
    """Mirror the free slots of the practice's own EMIS and its PCN's (when live) for
    the next four weeks: what campaign setup needs to offer the slot types, channels,
    sites and clinicians there are, before any campaign has refreshed."""
    start = timezone.now()
    sources = [live_connection_for(organisation=practice)]
    if practice.pcn is not None:
        sources.append(live_connection_for(organisation=practice.pcn))
    return [
        slots_refresh(
            connection=connection,
            viewer=practice,
            start=start,
            end=start + PRACTICE_SLOT_LOOKAHEAD,
        )
        for connection in sources
        if connection is not None
    ]
