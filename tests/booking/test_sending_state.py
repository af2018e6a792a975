"""The campaign's sending state is a field on Campaign: each wave that changes it
sets the field and writes its audit entry (the history) in one transaction, and
the migration that added the field filled it from each campaign's latest entry."""

from __future__ import annotations

from datetime import time
from importlib import import_module

import pytest
from django.apps import apps
from django.db import transaction
from django.urls import reverse

from booking import invites, services
from booking.models import Campaign, SendingState, Slot
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.audit.services import audit_record, system_actor
from tests.emis_world import at

from .factories import PatientFactory

WAVE_ACTOR = system_actor("invite waves")
ALL_DAY = {"sending_from": time(0, 0), "sending_until": time(23, 59, 59, 999999)}


def _stored(campaign: Campaign) -> tuple[str, str]:
    campaign.refresh_from_db()
    return campaign.sending_state, campaign.sending_reason


def _wave_entries(campaign: Campaign) -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(action=invites.WAVE_STATE_ACTION, object_id=str(campaign.pk))
        .order_by("pk")
        .values_list("details__state", "details__reason")
    )


@pytest.fixture
def open_campaign(mirrored, practice_admin):
    """The mirrored campaign (two practice and three PCN slots), open all day,
    with 20 more patients than its first wave invites."""
    Campaign.objects.filter(pk=mirrored.pk).update(**ALL_DAY)
    mirrored.refresh_from_db()
    more = [PatientFactory(practice=mirrored.practice) for _ in range(20)]
    services.campaign_add_patients(user=practice_admin, campaign=mirrored, patients=more)
    return mirrored


def test_a_new_campaign_has_no_sending_state_until_a_wave_runs(campaign):
    assert _stored(campaign) == ("", "")
    assert campaign.sending_state_since is None


def test_each_change_of_state_sets_the_field_beside_its_audit_entry(
    open_campaign, emis_world, django_capture_on_commit_callbacks
):
    def wave():
        with django_capture_on_commit_callbacks(execute=True):
            return invites.campaign_send_wave(campaign=open_campaign)

    wave()
    assert _stored(open_campaign) == (SendingState.SENDING, "")
    first_since = open_campaign.sending_state_since
    entry = AuditEntry.objects.get(action=invites.WAVE_STATE_ACTION)
    assert first_since == entry.created_at

    wave()  # still sending: no change, the time it began stays
    assert open_campaign.sending_state_since == first_since

    Slot.objects.all().delete()
    wave()
    assert _stored(open_campaign) == (SendingState.PAUSED, invites.REASON_NO_SLOTS)
    assert open_campaign.sending_state_since > first_since

    emis_world.slots("A10001", [at(4, 9), at(4, 10)])
    services.campaign_refresh_slots(campaign=open_campaign)
    wave()
    assert _stored(open_campaign) == (SendingState.SENDING, "")
    assert _wave_entries(open_campaign) == [
        ("sending", ""),
        ("paused", invites.REASON_NO_SLOTS),
        ("sending", ""),
    ]


def test_a_draft_campaign_records_why_it_is_paused(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status="draft")
    campaign.refresh_from_db()
    result = invites.campaign_send_wave(campaign=campaign)
    assert result.invited == 0
    assert _stored(campaign) == (SendingState.PAUSED, invites.REASON_NOT_ACTIVE)


def test_the_field_and_the_audit_entry_roll_back_together(open_campaign):
    with pytest.raises(RuntimeError), transaction.atomic():
        invites.campaign_send_wave(campaign=open_campaign)
        assert _stored(open_campaign) == (SendingState.SENDING, "")
        raise RuntimeError("the caller's transaction fails after the wave")
    assert _stored(open_campaign) == ("", "")
    assert _wave_entries(open_campaign) == []


def test_the_state_is_compared_with_the_field_not_the_audit_log(open_campaign):
    # The log's latest entry says "sending", the field says "paused": the field is
    # the current state, so a wave that finds the campaign sending records a change.
    _wave_entry(open_campaign, "sending", "")
    Campaign.objects.filter(pk=open_campaign.pk).update(
        sending_state=SendingState.PAUSED, sending_reason=invites.REASON_NO_SLOTS
    )
    open_campaign.refresh_from_db()
    invites.campaign_send_wave(campaign=open_campaign)
    assert _stored(open_campaign) == (SendingState.SENDING, "")
    assert _wave_entries(open_campaign) == [("sending", ""), ("sending", "")]


def test_campaign_page_shows_since_when_the_recorded_state_holds(
    open_campaign, client_for, practice_staff
):
    url = reverse("booking:campaign_detail", args=[open_campaign.pk])
    before = client_for(practice_staff).get(url).content.decode()
    assert 'data-testid="invite-state-since"' not in before  # no wave yet

    invites.campaign_send_wave(campaign=open_campaign)
    panel = invites.campaign_invite_panel(campaign=Campaign.objects.get(pk=open_campaign.pk))
    assert panel.state.state == SendingState.SENDING
    assert panel.state_since is not None
    assert panel.state_since == open_campaign.sending_state_since
    after = client_for(practice_staff).get(url).content.decode()
    assert 'data-testid="invite-state-since"' in after


# --- The migration's fill -----------------------------------------------------------------


def _wave_entry(campaign: Campaign, state: str, reason: str) -> AuditEntry:
    return audit_record(
        actor=WAVE_ACTOR,
        action="invites.wave_state",
        target=campaign,
        organisation=campaign.practice,
        details={"state": state, "reason": reason, "free_slots": 0, "open": 0},
    )


def test_the_migration_fills_the_state_from_each_campaigns_latest_entry(
    campaign, practice_a, practice_admin
):
    other = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Health checks",
        appointment_type="NHS Health Check",
        start_date=campaign.start_date,
        end_date=campaign.end_date,
    )
    never = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Shingles",
        appointment_type="Shingles vaccination",
        start_date=campaign.start_date,
        end_date=campaign.end_date,
    )
    _wave_entry(campaign, "sending", "")
    latest = _wave_entry(campaign, "paused", invites.REASON_CAP)
    done = _wave_entry(other, "done", invites.REASON_EVERYONE_INVITED)
    # Another action on the same campaign is not a state.
    audit_record(
        actor=WAVE_ACTOR,
        action="invites.created",
        target=campaign,
        organisation=campaign.practice,
        details={"created": 3, "state": "sending"},
    )
    Campaign.objects.update(sending_state="", sending_reason="", sending_state_since=None)

    migration = import_module("booking.migrations.0010_campaign_sending_state")
    migration.fill_sending_state(apps, None)

    assert _stored(campaign) == ("paused", invites.REASON_CAP)
    assert campaign.sending_state_since == latest.created_at
    assert _stored(other) == ("done", invites.REASON_EVERYONE_INVITED)
    assert other.sending_state_since == done.created_at
    assert _stored(never) == ("", "")
    assert never.sending_state_since is None
