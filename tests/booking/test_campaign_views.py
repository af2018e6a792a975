"""The campaign and booking pages: what staff see, the diagnosis notice in every
state, booking through the page, and tenancy (another practice gets 404)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking import services
from booking.models import Booking, Campaign
from booking.selectors import campaign_offerable_slots
from emis_integration import services as emis_services
from emis_integration.models import ConnectionStatus, EmisConnection
from emis_integration.sandbox import models as sandbox
from tests.emis_world import at

from .factories import PatientFactory


def test_campaign_page_shows_sources_and_slots_labelled(client_for, practice_staff, mirrored):
    page = client_for(practice_staff).get(reverse("booking:campaign_detail", args=[mirrored.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'data-source="practice"' in content
    assert 'data-source="pcn"' in content
    assert 'data-state="live"' in content


def test_create_campaign_through_the_page(client_for, practice_admin, practice_a, emis_world):
    emis_world.slots("A10001", [at(2, 9)])  # its slot type is offered as a choice
    today = timezone.localdate()
    response = client_for(practice_admin).post(
        reverse("booking:campaign_create", args=["A10001"]),
        {
            "name": "Health checks",
            "appointment_type": "NHS Health Check",
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=10)).isoformat(),
            "use_pcn_slots": "on",
            "slot_service_types": "Flu vaccination",
            "status": "active",
        },
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Health checks")
    assert campaign.use_pcn_slots and campaign.is_active
    assert campaign.slot_service_types == ["Flu vaccination"]


def test_bad_campaign_form_is_explained(client_for, practice_admin, practice_a):
    today = timezone.localdate()
    response = client_for(practice_admin).post(
        reverse("booking:campaign_create", args=["A10001"]),
        {
            "name": "",
            "appointment_type": "x",
            "start_date": today.isoformat(),
            "end_date": (today - timedelta(days=1)).isoformat(),
            "status": "active",
        },
    )
    assert response.status_code == 400
    assert b"There is a problem" in response.content
    assert not Campaign.objects.exists()


def test_book_through_the_page_and_see_it_labelled(client_for, practice_staff, mirrored, patients):
    client = client_for(practice_staff)
    url = reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk])
    page = client.get(url)
    assert page.status_code == 200
    # Day first: the days with free slots, then the first day's slots by site.
    html = page.content.decode()
    day_2, day_3 = (timezone.localdate() + timedelta(days=n) for n in (2, 3))
    assert html.count('data-testid="day-link"') == 2
    assert f"{day_2:%a} {day_2.day} {day_2:%b} <span" in html and "(3 free)" in html
    assert 'aria-current="date"' in html
    assert html.count('data-testid="slot-option"') == 3
    assert html.count('data-testid="site-heading"') == 2
    next_day = client.get(url, {"day": day_3.isoformat()}).content.decode()
    assert next_day.count('data-testid="slot-option"') == 2
    assert f'href="?day={day_2.isoformat()}" data-testid="previous-day"' in next_day
    pcn_slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    refused = client.post(url, {"slot": pcn_slot.pk})
    assert refused.status_code == 400
    assert b"agrees to be seen by the PCN" in refused.content
    response = client.post(url, {"slot": pcn_slot.pk, "pcn_consent": "on"})
    assert response.status_code == 302
    booking = Booking.objects.get()
    detail = client.get(reverse("booking:campaign_detail", args=[mirrored.pk])).content.decode()
    assert "Alpha Hub" in detail
    assert 'data-testid="tracing-state"' in detail
    assert booking.tracing_task.get_status_display() in detail


def test_slot_taken_page_offers_alternatives(client_for, practice_staff, mirrored, patients):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    sandbox.Slot.objects.filter(pk=int(slot.emis_slot_id)).update(status="busy")
    response = client_for(practice_staff).post(
        reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk]), {"slot": slot.pk}
    )
    assert response.status_code == 409
    assert b"This slot was just taken" in response.content
    assert b'data-testid="alternatives"' in response.content


def test_a_slot_of_another_campaign_is_refused(
    client_for, practice_staff, mirrored, patients, practice_b, pcn_b, other_practice_admin
):
    from tests.emis_world import EmisWorld, at

    world = EmisWorld(base_url="http://localhost").add_pcn(pcn_b, [practice_b])
    world.add_practice(practice_b)
    world.slots("B20001", [at(2, 9)])
    today = timezone.localdate()
    other = services.campaign_create(
        user=other_practice_admin,
        practice=practice_b,
        name="B",
        appointment_type="Flu",
        start_date=today,
        end_date=today + timedelta(days=7),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    services.campaign_refresh_slots(campaign=other)
    foreign = campaign_offerable_slots(campaign=other).first()
    response = client_for(practice_staff).post(
        reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk]),
        {"slot": foreign.pk, "pcn_consent": "on"},
    )
    assert response.status_code == 400
    assert b"not free for this campaign" in response.content
    assert not Booking.objects.exists()


def test_cancel_and_move_through_the_pages(client_for, practice_staff, mirrored, patients):
    client = client_for(practice_staff)
    slots = list(campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False))
    booking = services.booking_create(
        campaign=mirrored, patient=patients[0], slot=slots[0], booked_by=practice_staff
    )
    move = client.post(reverse("booking:booking_move", args=[booking.pk]), {"slot": slots[1].pk})
    assert move.status_code == 302
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    new = Booking.objects.get(status="booked")
    empty = client.post(reverse("booking:booking_cancel", args=[new.pk]), {"reason": ""})
    assert empty.status_code == 400
    done = client.post(reverse("booking:booking_cancel", args=[new.pk]), {"reason": "Unwell"})
    assert done.status_code == 302
    new.refresh_from_db()
    assert new.status == "cancelled"


def test_another_practice_gets_404_everywhere(
    client_for, other_practice_staff, mirrored, patients, practice_staff
):
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    booking = services.booking_create(
        campaign=mirrored, patient=patients[0], slot=slot, booked_by=practice_staff
    )
    client = client_for(other_practice_staff)
    for url in (
        reverse("booking:campaign_list", args=["A10001"]),
        reverse("booking:campaign_create", args=["A10001"]),
        reverse("booking:campaign_detail", args=[mirrored.pk]),
        reverse("booking:campaign_edit", args=[mirrored.pk]),
        reverse("booking:booking_new", args=[mirrored.pk, patients[1].pk]),
        reverse("booking:booking_move", args=[booking.pk]),
        reverse("booking:booking_cancel", args=[booking.pk]),
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        reverse("booking:campaign_refresh", args=[mirrored.pk]),
        reverse("booking:campaign_add_all_patients", args=[mirrored.pk]),
        reverse("booking:booking_cancel", args=[booking.pk]),
    ):
        assert client.post(url, {"reason": "x"}).status_code == 404, url
    booking.refresh_from_db()
    assert booking.status == "booked"


def test_pcn_staff_do_not_see_practice_campaigns(client_for, pcn_tracer, mirrored):
    response = client_for(pcn_tracer).get(reverse("booking:campaign_detail", args=[mirrored.pk]))
    assert response.status_code == 404


STATES = [
    "no_pcn",
    "not_connected",
    "requested",
    "in_progress",
    "testing",
    "suspended",
    "failed",
    "live_no_slots",
    "live",
]


@pytest.mark.parametrize("state", STATES)
def test_the_notice_for_every_connection_state(
    state,
    client_for,
    emis_in_process,
    pcn_a,
    practice_a,
    practice_a2,
    lone_practice,
    practice_admin,
    superuser,
):
    from hippo_pcn.organisations.models import Membership
    from tests.emis_world import EmisWorld, at

    practice = practice_a
    if state == "no_pcn":
        practice = lone_practice
        Membership.objects.create(
            user=practice_admin, organisation=lone_practice, role="practice_admin"
        )
    world = EmisWorld(base_url="http://localhost").add_practice(practice)
    if state in ("live", "live_no_slots"):
        world.add_pcn(pcn_a, [practice_a, practice_a2])
        if state == "live":
            world.slots("U10001", [at(2, 9)])
    elif state == "requested":
        emis_services.onboarding_request_raise(
            user=practice_admin, practice=practice_a, contact_name="A", contact_email="a@x.nhs.uk"
        )
    elif state == "in_progress":
        request, _ = emis_services.onboarding_request_raise(
            user=practice_admin, practice=practice_a, contact_name="A", contact_email="a@x.nhs.uk"
        )
        emis_services.onboarding_request_start(actor=superuser, request=request)
    elif state in ("testing", "suspended", "failed"):
        emis_services.connection_create(
            actor=superuser, organisation=pcn_a, status=state, reason="checks"
        )
    today = timezone.localdate()
    campaign = services.campaign_create(
        user=practice_admin,
        practice=practice,
        name="c",
        appointment_type="Flu",
        start_date=today,
        end_date=today + timedelta(days=7),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    services.campaign_add_patients(
        user=practice_admin, campaign=campaign, patients=[PatientFactory(practice=practice)]
    )
    services.campaign_refresh_slots(campaign=campaign)
    client = client_for(practice_admin)
    for url in (
        reverse("booking:campaign_detail", args=[campaign.pk]),
        reverse("booking:booking_new", args=[campaign.pk, campaign.patients.first().pk]),
    ):
        content = client.get(url).content.decode()
        assert f'data-state="{state}"' in content, (state, url)
    can_request = state in ("not_connected", "suspended", "failed")
    assert ('data-testid="request-onboarding"' in content) is can_request
    if state == "live":
        assert EmisConnection.objects.get(organisation=pcn_a).status == ConnectionStatus.LIVE


def test_campaign_list_and_forms_render(client_for, practice_admin, mirrored):
    client = client_for(practice_admin)
    chooser = client.get(reverse("booking:campaigns"))
    assert chooser.status_code == 302
    listing = client.get(chooser["Location"])
    assert listing.status_code == 200
    assert b"Winter flu clinic" in listing.content
    assert client.get(reverse("booking:campaign_create", args=["A10001"])).status_code == 200
    edit = client.get(reverse("booking:campaign_edit", args=[mirrored.pk]))
    assert edit.status_code == 200
    assert b'value="Winter flu clinic"' in edit.content


def test_invitation_settings_are_saved_from_the_form(client_for, practice_admin, mirrored):
    data = {
        "name": mirrored.name,
        "appointment_type": mirrored.appointment_type,
        "start_date": mirrored.start_date.isoformat(),
        "end_date": mirrored.end_date.isoformat(),
        "use_pcn_slots": "on",
        "slot_service_types": ["Flu vaccination"],
        "status": "active",
        "invite_channel": "email",
        "invites_per_free_slot": "2.5",
        "daily_invite_cap": "50",
        "sending_from": "10:00",
        "sending_until": "16:30",
        "chaser_count": "3",
        "chaser_interval_days": "5",
        "invite_expiry_days": "10",
    }
    response = client_for(practice_admin).post(
        reverse("booking:campaign_edit", args=[mirrored.pk]), data
    )
    assert response.status_code == 302
    mirrored.refresh_from_db()
    assert mirrored.invite_channel == "email"
    assert str(mirrored.invites_per_free_slot) == "2.5"
    assert (mirrored.daily_invite_cap, mirrored.chaser_count) == (50, 3)
    assert mirrored.sending_until.strftime("%H:%M") == "16:30"
    bad = client_for(practice_admin).post(
        reverse("booking:campaign_edit", args=[mirrored.pk]), {**data, "chaser_count": "9"}
    )
    assert bad.status_code == 400


def test_invite_selected_patients_from_the_campaign_page(
    client_for, practice_admin, mirrored, patients
):
    from booking.models import Invite

    client = client_for(practice_admin)
    page = client.get(reverse("booking:campaign_detail", args=[mirrored.pk])).content.decode()
    assert f'value="{patients[0].pk}" form="invite-selected"' in page
    response = client.post(
        reverse("booking:invite_patients", args=[mirrored.pk]), {"patient": [patients[0].pk]}
    )
    assert response.status_code == 302
    assert list(Invite.objects.values_list("patient_id", flat=True)) == [patients[0].pk]


def test_staff_booking_shows_a_row_of_days_and_one_days_slots_at_a_time(
    client_for, practice_staff, mirrored, patients, many_free_days
):
    from .picker_walk import every_shown_slot, link

    client = client_for(practice_staff)
    url = reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk])
    today = timezone.localdate()

    def get(query=""):
        response = client.get(f"{url}{query}")
        assert response.status_code == 200
        return response.content.decode()

    first = get()
    assert first.count('data-testid="day-link"') == 7  # days 1 to 7
    assert first.count('data-testid="slot-option"') == 20  # day 1: 20 of its 40
    assert "20 of 40 free slots" in first
    assert link(first, "later-times") == f"?day={(today + timedelta(days=1)).isoformat()}&at=11:20"
    assert link(first, "later-days") == f"?from={(today + timedelta(days=8)).isoformat()}"
    # Any day of a row opens with the same row, and days further on with theirs.
    day_3 = get(f"?day={(today + timedelta(days=3)).isoformat()}")
    assert day_3.count('data-testid="day-link"') == 7
    assert 'aria-current="date"' in day_3
    day_9 = get(f"?day={(today + timedelta(days=9)).isoformat()}")
    assert day_9.count('data-testid="day-link"') == 5  # days 8 to 12
    assert link(day_9, "earlier-days") == f"?from={(today + timedelta(days=1)).isoformat()}"
    # A day with nothing free says so, and shows the first day's slots.
    gone = get(f"?day={(today + timedelta(days=40)).isoformat()}")
    assert 'data-testid="day-gone"' in gone
    assert gone.count('data-testid="slot-option"') == 20
    # Every offered slot is on exactly one page.
    shown = every_shown_slot(get)
    assert sorted(shown) == sorted(
        campaign_offerable_slots(campaign=mirrored).values_list("pk", flat=True)
    )


def test_staff_slot_just_taken_shows_the_nearest_and_keeps_the_choice_safe(
    client_for, practice_staff, mirrored, patients
):
    client = client_for(practice_staff)
    url = reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk])
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    sandbox.Slot.objects.filter(pk=int(slot.emis_slot_id)).update(status="busy")
    response = client.post(url, {"slot": slot.pk})
    assert response.status_code == 409
    page = response.content.decode()
    assert 'data-testid="alternatives"' in page
    assert page.count("hippo-slot--suggested") == page.count('data-testid="slot-option"') > 0
    assert f'value="{slot.pk}"' not in page
    assert not Booking.objects.exists()
