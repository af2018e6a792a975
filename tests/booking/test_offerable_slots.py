"""A campaign says which slots it may use: `campaign_offerable_slots` is the one
rule, and staff booking, self-book, the nearest free slots and the counts all
follow it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from booking import services
from booking.invites import campaign_wave_plan
from booking.models import Slot
from booking.selectors import (
    campaign_no_match_message,
    campaign_offerable_slots,
    campaign_pcn_diagnosis,
    campaign_sources,
    nearest_free_slots,
    slot_filter_choices,
)
from emis_integration.sandbox import models as sandbox
from emis_integration.sandbox import services as sandbox_services
from tests.emis_world import at

from .factories import PatientFactory
from .picker_walk import every_shown_slot
from .test_selfbook import make_invite, verified_client


def add_schedule(world, ods, service_type, channel, *, site_name=None):
    """Another schedule at `ods`'s EMIS: a service type and delivery channel."""
    first = world.schedules[ods]
    site = first.site
    if site_name is not None:
        site = sandbox.Site.objects.create(
            organisation=first.organisation,
            name=site_name,
            address_line1="3 Other Road",
            city="Testtown",
            postcode="TT1 2BB",
        )
    return sandbox.Schedule.objects.create(
        organisation=first.organisation,
        site=site,
        practitioner=first.practitioner,
        service_type=service_type,
        service_category="Other",
        delivery_channel=channel,
    )


def add_slots(world, ods, schedule, starts):
    org = schedule.organisation
    if org.kind == sandbox.OrganisationKind.PCN:
        allowed = [org.ods_code, *org.member_practices.values_list("ods_code", flat=True)]
    else:
        allowed = [org.ods_code]
    return sandbox_services.slots_create(
        schedule=schedule, starts=starts, minutes=10, allowed_ods=allowed, allowed_org_types=[]
    )


@pytest.fixture
def varied_slots(emis_world):
    """Both sources carry boosters in person and by telephone, Health Checks, flu
    and long-term condition reviews, on days 2 and 3."""
    world = emis_world
    for ods, hour in (("U10001", 9), ("A10001", 13)):
        add_slots(world, ods, world.schedules[ods], [at(2, hour), at(3, hour)])  # flu
        for minute, (service, channel) in enumerate(
            [
                ("Covid-19 vaccination", "In-person"),
                ("Covid-19 vaccination", "Telephone"),
                ("NHS Health Check", "In-person"),
                ("Long-term condition review", "Telephone"),
            ]
        ):
            schedule = add_schedule(world, ods, service, channel)
            add_slots(world, ods, schedule, [at(2, hour, 10 + 10 * minute), at(3, hour, 10)])
    # A second PCN site with boosters, for the site filter.
    hub = add_schedule(world, "U10001", "Covid-19 vaccination", "In-person", site_name="Beta Hub")
    add_slots(world, "U10001", hub, [at(2, 15), at(3, 15)])
    return world


def booster(user, practice, **fields):
    today = timezone.localdate()
    campaign = services.campaign_create(
        user=user,
        practice=practice,
        name="Covid booster",
        appointment_type="Covid-19 vaccination",
        start_date=today,
        end_date=today + timedelta(days=6),
        use_pcn_slots=True,
        status="active",
        **{
            "slot_service_types": ["Covid-19 vaccination"],
            "delivery_channels": ["In-person"],
            **fields,
        },
    )
    results = services.campaign_refresh_slots(campaign=campaign)
    assert results and all(not r.error for r in results), results
    return campaign


def fits(campaign, slot) -> bool:
    return (
        slot.service_type in campaign.slot_service_types
        and (not campaign.delivery_channels or slot.delivery_channel in campaign.delivery_channels)
        and (not campaign.slot_sites or slot.site_name in campaign.slot_sites)
    )


@pytest.fixture
def booster_campaign(varied_slots, practice_a, practice_admin):
    campaign = booster(practice_admin, practice_a)
    patients = [PatientFactory(practice=practice_a) for _ in range(2)]
    services.campaign_add_patients(user=practice_admin, campaign=campaign, patients=patients)
    return campaign


def test_the_mirror_keeps_service_type_and_channel_from_gp_connect(booster_campaign):
    seen = set(
        Slot.objects.filter(viewer=booster_campaign.practice).values_list(
            "is_pcn", "service_type", "delivery_channel"
        )
    )
    for is_pcn in (True, False):
        assert {
            (is_pcn, "Covid-19 vaccination", "In-person"),
            (is_pcn, "Covid-19 vaccination", "Telephone"),
            (is_pcn, "NHS Health Check", "In-person"),
            (is_pcn, "Long-term condition review", "Telephone"),
            (is_pcn, "Flu vaccination", "In-person"),
        } <= seen


def test_a_booster_campaign_offers_only_in_person_boosters_from_both_sources(booster_campaign):
    offered = list(campaign_offerable_slots(campaign=booster_campaign))
    assert {(s.service_type, s.delivery_channel) for s in offered} == {
        ("Covid-19 vaccination", "In-person")
    }
    assert {s.is_pcn for s in offered} == {True, False}
    everything = Slot.objects.filter(viewer=booster_campaign.practice)
    assert everything.count() > len(offered)  # the filter really leaves slots out
    assert not any(s.service_type == "NHS Health Check" for s in offered)
    assert not any(s.delivery_channel == "Telephone" for s in offered)


def test_the_counts_per_source_are_after_the_filter(booster_campaign, client_for, practice_admin):
    counts = {s.label: s.free_slots for s in campaign_sources(campaign=booster_campaign)}
    offered = campaign_offerable_slots(campaign=booster_campaign)
    assert counts == {
        "Practice": offered.filter(is_pcn=False).count(),
        "PCN": offered.filter(is_pcn=True).count(),
    }
    assert counts == {"Practice": 2, "PCN": 4}
    assert campaign_wave_plan(campaign=booster_campaign).free_slots == 6
    page = client_for(practice_admin).get(
        reverse("booking:campaign_detail", args=[booster_campaign.pk])
    )
    content = page.content.decode()
    assert re.findall(r'data-testid="free-count">(\d+)<', content) == ["2", "4"]
    assert "Covid-19 vaccination (In-person)" in content


def test_staff_booking_offers_only_matching_slots(booster_campaign, client_for, practice_admin):
    patient = booster_campaign.patients.first()
    client = client_for(practice_admin)
    url = reverse("booking:booking_new", args=[booster_campaign.pk, patient.pk])
    pages = []

    def get(query):
        pages.append(client.get(f"{url}{query}").content.decode())
        return pages[-1]

    shown = every_shown_slot(get)
    offered = set(campaign_offerable_slots(campaign=booster_campaign).values_list("pk", flat=True))
    assert shown and sorted(shown) == sorted(offered)
    assert not any("Health Check" in page for page in pages)


def test_staff_cannot_post_a_slot_the_campaign_does_not_offer(
    booster_campaign, client_for, practice_admin
):
    patient = booster_campaign.patients.first()
    telephone = Slot.objects.get(
        viewer=booster_campaign.practice,
        is_pcn=False,
        service_type="Covid-19 vaccination",
        delivery_channel="Telephone",
        start=at(2, 13, 20),
    )
    response = client_for(practice_admin).post(
        reverse("booking:booking_new", args=[booster_campaign.pk, patient.pk]),
        {"slot": telephone.pk},
    )
    assert response.status_code == 400
    assert not booster_campaign.bookings.exists()


@pytest.mark.parametrize(
    ("service", "channel"),
    [("NHS Health Check", "In-person"), ("Covid-19 vaccination", "Telephone")],
)
def test_the_booking_service_refuses_a_slot_outside_the_filter(
    booster_campaign, practice_admin, service, channel
):
    slot = Slot.objects.filter(
        viewer=booster_campaign.practice, service_type=service, delivery_channel=channel
    ).first()
    with pytest.raises(services.BookingError, match="not one this campaign offers"):
        services.booking_create(
            campaign=booster_campaign,
            patient=booster_campaign.patients.first(),
            slot=slot,
            booked_by=practice_admin,
            pcn_consent=True,
        )
    assert not booster_campaign.bookings.exists()


def test_self_book_offers_only_matching_slots(booster_campaign):
    patient = booster_campaign.patients.first()
    invite, token = make_invite(booster_campaign, patient)
    client = verified_client(token, patient)
    shown = set(
        every_shown_slot(lambda query: client.get(f"/book/{token}/{query}").content.decode())
    )
    offered = set(campaign_offerable_slots(campaign=booster_campaign).values_list("pk", flat=True))
    assert shown and shown <= offered
    for slot in Slot.objects.filter(pk__in=shown):
        assert fits(booster_campaign, slot), slot
    health_check = Slot.objects.filter(
        viewer=booster_campaign.practice, service_type="NHS Health Check"
    ).first()
    client.post(f"/book/{token}/book/", {"slot": health_check.pk, "pcn_consent": "on"})
    assert not booster_campaign.bookings.exists()


def test_the_nearest_free_slots_follow_the_filter(booster_campaign):
    for slot in nearest_free_slots(
        campaign=booster_campaign, around=at(2, 13), exclude_ids=set(), limit=10
    ):
        assert fits(booster_campaign, slot)


def test_sites_narrow_the_filter(varied_slots, practice_a, practice_admin):
    campaign = booster(practice_admin, practice_a, slot_sites=["Beta Hub"])
    offered = list(campaign_offerable_slots(campaign=campaign))
    assert len(offered) == 2
    assert {(s.site_name, s.is_pcn) for s in offered} == {("Beta Hub", True)}


def test_no_channel_chosen_means_any_channel(varied_slots, practice_a, practice_admin):
    campaign = booster(practice_admin, practice_a, delivery_channels=[])
    channels = set(
        campaign_offerable_slots(campaign=campaign).values_list("delivery_channel", flat=True)
    )
    assert channels == {"In-person", "Telephone"}


def test_a_campaign_without_slot_types_offers_nothing_and_cannot_go_active(
    varied_slots, practice_a, practice_admin
):
    today = timezone.localdate()
    draft = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Undecided",
        appointment_type="Covid-19 vaccination",
        start_date=today,
        end_date=today + timedelta(days=6),
    )
    services.practice_refresh_slots(practice=practice_a)
    assert Slot.objects.filter(viewer=practice_a).exists()
    assert not campaign_offerable_slots(campaign=draft).exists()
    assert "Choose the slot types" in campaign_no_match_message(campaign=draft)
    with pytest.raises(ValidationError) as raised:
        services.campaign_update(user=practice_admin, campaign=draft, status="active")
    assert "slot_service_types" in raised.value.message_dict
    with pytest.raises(ValidationError):
        services.campaign_create(
            user=practice_admin,
            practice=practice_a,
            name="Active at once",
            appointment_type="x",
            start_date=today,
            end_date=today,
            status="active",
        )
    draft.refresh_from_db()
    assert draft.status == "draft"


def form_data(**overrides):
    today = timezone.localdate()
    return {
        "name": "Covid booster",
        "appointment_type": "Covid-19 vaccination",
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=6)).isoformat(),
        "use_pcn_slots": "on",
        "status": "active",
        **overrides,
    }


def test_the_form_offers_the_types_seen_and_refuses_active_without_one(
    varied_slots, practice_a, practice_admin, client_for
):
    client = client_for(practice_admin)
    url = reverse("booking:campaign_create", args=[practice_a.ods_code])
    page = client.get(url).content.decode()  # nothing mirrored yet: EMIS is read
    for service in ("Covid-19 vaccination", "NHS Health Check", "Long-term condition review"):
        assert f'name="slot_service_types" type="checkbox" value="{service}"' in page
    for channel in ("In-person", "Telephone", "Video"):
        assert f'name="delivery_channels" type="checkbox" value="{channel}"' in page
    assert 'name="slot_sites" type="checkbox" value="Beta Hub"' in page
    refused = client.post(url, form_data())
    assert refused.status_code == 400
    assert "Choose at least one slot type before making the campaign active" in (
        refused.content.decode()
    )
    assert not practice_a.campaigns.exists()
    made = client.post(
        url,
        form_data(slot_service_types=["Covid-19 vaccination"], delivery_channels=["In-person"]),
    )
    assert made.status_code == 302
    campaign = practice_a.campaigns.get()
    assert (campaign.slot_service_types, campaign.delivery_channels) == (
        ["Covid-19 vaccination"],
        ["In-person"],
    )
    invented = client.post(url, form_data(name="x", slot_service_types=["Made up"]))
    assert invented.status_code == 400


def test_the_edit_form_keeps_and_shows_the_chosen_filter(
    booster_campaign, client_for, practice_admin
):
    page = (
        client_for(practice_admin)
        .get(reverse("booking:campaign_edit", args=[booster_campaign.pk]))
        .content.decode()
    )
    assert 'type="checkbox" value="Covid-19 vaccination" checked' in page
    assert 'type="checkbox" value="In-person" checked' in page
    assert 'type="checkbox" value="Telephone">' in page
    choices = slot_filter_choices(practice=booster_campaign.practice, campaign=booster_campaign)
    assert "Flu vaccination" in choices.service_types


def test_a_filter_that_matches_nothing_says_so_by_name(
    varied_slots, practice_a, practice_admin, client_for
):
    campaign = booster(practice_admin, practice_a, slot_service_types=["Physiotherapy"])
    services.campaign_add_patients(
        user=practice_admin, campaign=campaign, patients=[PatientFactory(practice=practice_a)]
    )
    assert Slot.objects.filter(viewer=practice_a).exists()
    message = campaign_no_match_message(campaign=campaign)
    assert message == "No slots match this campaign's slot types: Physiotherapy (In-person)."
    diagnosis = campaign_pcn_diagnosis(campaign=campaign)
    assert diagnosis.state == "live_no_matching_slots"
    client = client_for(practice_admin)
    detail = client.get(reverse("booking:campaign_detail", args=[campaign.pk])).content.decode()
    assert "No slots match this campaign&#x27;s slot types: Physiotherapy" in detail
    assert "No free PCN slots" not in detail
    booking_page = client.get(
        reverse("booking:booking_new", args=[campaign.pk, campaign.patients.first().pk])
    ).content.decode()
    assert "No slots match this campaign&#x27;s slot types: Physiotherapy" in booking_page


def test_no_slots_at_all_is_not_called_a_mismatch(emis_world, practice_a, practice_admin):
    campaign = booster(practice_admin, practice_a)
    assert not Slot.objects.filter(viewer=practice_a).exists()
    assert campaign_no_match_message(campaign=campaign) == ""
    assert campaign_pcn_diagnosis(campaign=campaign).state == "live_no_slots"


def test_the_client_reads_service_type_and_channel_from_slot_or_schedule():
    from emis_integration import gpconnect as gpc
    from emis_integration.client.parsing import free_slots_from_bundle

    def channel(code):
        return [{"url": gpc.EXT_DELIVERY_CHANNEL, "valueCode": code}]

    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "Slot",
                    "id": "1",
                    "extension": channel("Telephone"),
                    "serviceType": [{"text": "Long-term condition review"}],
                    "schedule": {"reference": "Schedule/9"},
                    "start": "2026-07-02T09:00:00+00:00",
                    "end": "2026-07-02T09:10:00+00:00",
                }
            },
            {
                "resource": {
                    "resourceType": "Slot",
                    "id": "2",
                    "schedule": {"reference": "Schedule/9"},
                    "start": "2026-07-02T09:10:00+00:00",
                    "end": "2026-07-02T09:20:00+00:00",
                }
            },
            {
                "resource": {
                    "resourceType": "Schedule",
                    "id": "9",
                    "extension": channel("In-Person"),
                    "serviceType": [{"text": "Covid-19 vaccination"}],
                    "actor": [{"reference": "Location/5"}],
                }
            },
        ],
    }
    first, second = free_slots_from_bundle(bundle)
    assert (first.service_type, first.delivery_channel) == (
        "Long-term condition review",
        "Telephone",
    )
    assert (second.service_type, second.delivery_channel) == ("Covid-19 vaccination", "In-person")
