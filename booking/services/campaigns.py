"""Campaigns: create, change, add patients, and queue their slot refreshes."""

import logging
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from hippo_pcn.audit.services import audit_record
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.outbox.services import outbox_enqueue

from ..models import (
    Campaign,
    CampaignPatient,
    CampaignStatus,
    Patient,
)
from .imports import UPSERT_BATCH_SIZE, _ensure_may_manage_patients

logger = logging.getLogger(__name__)


# --- Campaigns ----------------------------------------------------------------------------

MAX_CAMPAIGN_DAYS = 366


def _campaign_validate_window(start_date: date, end_date: date) -> None:
    if end_date < start_date:
        raise ValidationError({"end_date": "The last day must be on or after the first day."})
    if (end_date - start_date).days > MAX_CAMPAIGN_DAYS:
        raise ValidationError(
            {"end_date": f"A campaign can run for at most {MAX_CAMPAIGN_DAYS} days."}
        )


NO_SLOT_TYPES_MESSAGE = (
    "Choose at least one slot type before making the campaign active: without one it "
    "offers no slots."
)
SLOT_FILTER_FIELDS = ("slot_service_types", "delivery_channels", "slot_sites", "slot_clinicians")


def _clean_slot_filter(values: Iterable[str] | None) -> list[str]:
    """A filter list as stored: stripped, without blanks or repeats, in order."""
    return list(dict.fromkeys(v.strip() for v in values or [] if v and v.strip()))


def _campaign_validate_slot_filter(campaign: Campaign) -> None:
    if campaign.is_active and not campaign.slot_service_types:
        raise ValidationError({"slot_service_types": NO_SLOT_TYPES_MESSAGE})


def campaign_slots_refresh_queue(*, campaign: Campaign) -> None:
    """Refresh an active campaign's slots after the commit, through the outbox (at
    most one refresh waiting per campaign): a broker outage delays it, never loses
    it, and never reaches the user."""
    if campaign.is_active:
        outbox_enqueue(
            task="booking.tasks.refresh_campaign_slots",
            args=[campaign.pk],
            dedupe_key=f"refresh-campaign-slots:{campaign.pk}",
        )


def pcn_campaigns_slots_refresh_queue(*, pcn: Any) -> None:
    """A PCN has just gone live: refresh the slots of every active campaign of its
    member practices that offers PCN slots now, rather than at the next beat round."""
    campaigns = Campaign.objects.filter(
        practice__pcn=pcn, status=CampaignStatus.ACTIVE, use_pcn_slots=True
    ).order_by("pk")
    for campaign in campaigns:
        campaign_slots_refresh_queue(campaign=campaign)


@transaction.atomic
def campaign_create(
    *,
    user: Any,
    practice: Organisation,
    name: str,
    appointment_type: str,
    start_date: date,
    end_date: date,
    use_pcn_slots: bool = True,
    status: str = CampaignStatus.DRAFT,
    slot_service_types: Iterable[str] = (),
    delivery_channels: Iterable[str] = (),
    slot_sites: Iterable[str] = (),
    slot_clinicians: Iterable[str] = (),
    **invite_settings: Any,
) -> Campaign:
    unknown = set(invite_settings) - INVITE_SETTINGS
    if unknown:
        raise ValueError(f"Unknown campaign settings: {', '.join(sorted(unknown))}.")
    _ensure_may_manage_patients(practice=practice, user=user)
    _campaign_validate_window(start_date, end_date)
    campaign = Campaign(
        practice=practice,
        name=name.strip(),
        appointment_type=appointment_type.strip(),
        start_date=start_date,
        end_date=end_date,
        use_pcn_slots=use_pcn_slots,
        status=status,
        slot_service_types=_clean_slot_filter(slot_service_types),
        delivery_channels=_clean_slot_filter(delivery_channels),
        slot_sites=_clean_slot_filter(slot_sites),
        slot_clinicians=_clean_slot_filter(slot_clinicians),
        created_by=user,
        **invite_settings,
    )
    _campaign_validate_slot_filter(campaign)
    campaign.full_clean()
    campaign.save()
    audit_record(
        actor=user,
        action="campaign.created",
        target=campaign,
        organisation=practice,
        details={
            "name": campaign.name,
            "status": status,
            "use_pcn_slots": use_pcn_slots,
            **{key: getattr(campaign, key) for key in SLOT_FILTER_FIELDS},
        },
    )
    campaign_slots_refresh_queue(campaign=campaign)
    return campaign


CAMPAIGN_FIELDS = frozenset(
    {
        "name",
        "appointment_type",
        "start_date",
        "end_date",
        "use_pcn_slots",
        "status",
        *SLOT_FILTER_FIELDS,
        "invite_channel",
        "invites_per_free_slot",
        "daily_invite_cap",
        "sending_from",
        "sending_until",
        "chaser_count",
        "chaser_interval_days",
        "invite_expiry_days",
        "message_patients_on_staff_changes",
    }
)
INVITE_SETTINGS = CAMPAIGN_FIELDS - {
    "name",
    "appointment_type",
    "start_date",
    "end_date",
    "use_pcn_slots",
    "status",
    *SLOT_FILTER_FIELDS,
}


@transaction.atomic
def campaign_update(*, user: Any, campaign: Campaign, **fields: Any) -> Campaign:
    unknown = set(fields) - CAMPAIGN_FIELDS
    if unknown:
        raise ValueError(f"Cannot update {', '.join(sorted(unknown))} on a campaign.")
    _ensure_may_manage_patients(practice=campaign.practice, user=user)
    before = {key: getattr(campaign, key) for key in fields}
    for key, value in fields.items():
        if key in SLOT_FILTER_FIELDS:
            value = _clean_slot_filter(value)
        setattr(campaign, key, value.strip() if isinstance(value, str) else value)
    _campaign_validate_window(campaign.start_date, campaign.end_date)
    _campaign_validate_slot_filter(campaign)
    campaign.full_clean()
    campaign.save()
    changes = {
        key: [before[key], getattr(campaign, key)]
        for key in fields
        if before[key] != getattr(campaign, key)
    }
    if changes:
        audit_record(
            actor=user,
            action="campaign.updated",
            target=campaign,
            organisation=campaign.practice,
            details={"changes": changes},
        )
    campaign_slots_refresh_queue(campaign=campaign)
    return campaign


@transaction.atomic
def campaign_add_patients(*, user: Any, campaign: Campaign, patients: Iterable[Patient]) -> int:
    """Add patients of the campaign's practice; returns how many were new."""
    _ensure_may_manage_patients(practice=campaign.practice, user=user)
    ids = {p.pk for p in patients if p.practice_id == campaign.practice_id}
    existing = set(
        CampaignPatient.objects.filter(campaign=campaign, patient_id__in=ids).values_list(
            "patient_id", flat=True
        )
    )
    new = [CampaignPatient(campaign=campaign, patient_id=pid) for pid in sorted(ids - existing)]
    CampaignPatient.objects.bulk_create(new, batch_size=UPSERT_BATCH_SIZE, ignore_conflicts=True)
    if new:
        audit_record(
            actor=user,
            action="campaign.patients_added",
            target=campaign,
            organisation=campaign.practice,
            details={"added": len(new)},
        )
    return len(new)
