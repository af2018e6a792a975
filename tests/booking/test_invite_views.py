"""Staff pages for invitations: the campaign panel, "Invite all eligible
patients", "Send reminders now", the invitation list, the non-responder list and
call outcomes, the demo's messages; and tenancy (another practice gets a 404)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking import invites, notify
from booking.models import Campaign, Invite
from booking.tokens import token_for_salt

ALL_DAY = {"sending_from": time(0, 0), "sending_until": time(23, 59, 59, 999999)}


@pytest.fixture(autouse=True)
def outbox():
    notify.outbox.clear()
    yield notify.outbox
    notify.outbox.clear()


@pytest.fixture
def open_campaign(mirrored):
    Campaign.objects.filter(pk=mirrored.pk).update(**ALL_DAY)
    mirrored.refresh_from_db()
    return mirrored


@pytest.fixture
def invited(open_campaign, practice_admin, patients, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invites.invites_create(campaign=open_campaign, patients=patients, user=practice_admin)
    return list(Invite.objects.filter(campaign=open_campaign).order_by("pk"))


def urls(campaign, invite=None):
    found = [
        ("get", reverse("booking:invite_list", args=[campaign.pk])),
        ("get", reverse("booking:invite_non_responders", args=[campaign.pk])),
        ("post", reverse("booking:invite_send_wave", args=[campaign.pk])),
        ("post", reverse("booking:invite_send_reminders", args=[campaign.pk])),
        ("post", reverse("booking:invite_patients", args=[campaign.pk])),
        ("get", reverse("booking:demo_messages", args=[campaign.practice.ods_code])),
    ]
    if invite is not None:
        found.append(
            (
                "post",
                reverse("booking:invite_call_outcome", args=[campaign.pk, invite.pk]),
            )
        )
    return found


def test_campaign_page_shows_the_invitations_panel(client_for, practice_staff, invited):
    campaign = invited[0].campaign
    page = client_for(practice_staff).get(reverse("booking:campaign_detail", args=[campaign.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="invite-panel"' in html
    assert 'data-count="invited">3' in html
    assert 'data-count="delivered">3' in html
    assert "Invite all eligible patients" in html
    assert "Send reminders now" in html
    assert reverse("booking:invite_non_responders", args=[campaign.pk]) in html
    state = invites.campaign_invite_state(campaign=campaign)
    assert state.label in html


def test_invite_all_eligible_runs_a_wave(
    client_for, practice_staff, open_campaign, django_capture_on_commit_callbacks, outbox
):
    client = client_for(practice_staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("booking:invite_send_wave", args=[open_campaign.pk]), follow=True
        )
    assert response.status_code == 200
    # 5 free slots × 3 wanted, but the campaign has 3 patients.
    assert Invite.objects.filter(campaign=open_campaign).count() == 3
    assert "3 patient(s) invited" in response.content.decode()
    assert len(outbox) == 3

    again = client.post(reverse("booking:invite_send_wave", args=[open_campaign.pk]), follow=True)
    assert "No one was invited" in again.content.decode()
    assert "Every patient on the campaign who can be invited has been" in again.content.decode()


def test_invite_all_explains_sending_hours(client_for, practice_staff, mirrored):
    local = timezone.localtime(timezone.now())
    Campaign.objects.filter(pk=mirrored.pk).update(
        sending_from=(local + timedelta(hours=2)).time().replace(second=0, microsecond=0),
        sending_until=(local + timedelta(hours=3)).time().replace(second=0, microsecond=0),
    )
    response = client_for(practice_staff).post(
        reverse("booking:invite_send_wave", args=[mirrored.pk]), follow=True
    )
    assert "No one was invited: Invitations are sent between" in response.content.decode()
    assert not Invite.objects.exists()


def test_send_reminders_now(
    client_for, practice_staff, invited, django_capture_on_commit_callbacks, outbox
):
    campaign = invited[0].campaign
    Invite.objects.filter(pk=invited[0].pk).update(sent_at=timezone.now() - timedelta(days=2))
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(practice_staff).post(
            reverse("booking:invite_send_reminders", args=[campaign.pk]), follow=True
        )
    assert "1 reminder(s) are being sent" in response.content.decode()
    assert [m.message.kind for m in outbox] == ["reminder"]


def test_invite_list_shows_delivery_and_reasons_but_no_tokens(client_for, practice_staff, invited):
    failed = invited[0]
    Invite.objects.filter(pk=failed.pk).update(
        delivery_status="failed",
        delivery_error="GOV.UK Notify refused the message: phone_number Not a UK mobile number",
    )
    campaign = failed.campaign
    client = client_for(practice_staff)
    page = client.get(reverse("booking:invite_list", args=[campaign.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Not a UK mobile number" in html
    assert html.count('data-testid="delivery"') == 3
    for invite in invited:
        assert token_for_salt(invite.token_salt) not in html
        assert invite.token_hash not in html
        assert invite.token_salt not in html
    only_failed = client.get(reverse("booking:invite_list", args=[campaign.pk]) + "?status=failed")
    assert only_failed.content.decode().count('data-testid="delivery"') == 1


def test_invite_list_paginates(client_for, practice_staff, open_campaign, practice_admin):
    from booking import services
    from tests.booking.factories import PatientFactory

    many = [PatientFactory(practice=open_campaign.practice) for _ in range(55)]
    services.campaign_add_patients(user=practice_admin, campaign=open_campaign, patients=many)
    invites.invites_create(campaign=open_campaign, patients=many, user=practice_admin)
    client = client_for(practice_staff)
    first = client.get(reverse("booking:invite_list", args=[open_campaign.pk]))
    second = client.get(reverse("booking:invite_list", args=[open_campaign.pk]) + "?page=2")
    assert first.content.decode().count('data-testid="delivery"') == 50
    assert second.content.decode().count('data-testid="delivery"') == 5
    assert "Page 2 of 2" in first.content.decode()


def test_non_responder_page_and_recording_an_outcome(client_for, practice_staff, invited):
    campaign = invited[0].campaign
    target = invited[0]
    Invite.objects.filter(pk=target.pk).update(
        reminders_sent=campaign.chaser_count,
        last_reminder_at=timezone.now() - timedelta(days=campaign.chaser_interval_days + 1),
    )
    client = client_for(practice_staff)
    page = client.get(reverse("booking:invite_non_responders", args=[campaign.pk]))
    html = page.content.decode()
    assert html.count("data-invite=") == 1
    assert f'data-invite="{target.pk}"' in html
    assert target.patient.mobile_display in html

    response = client.post(
        reverse("booking:invite_call_outcome", args=[campaign.pk, target.pk]),
        {"outcome": "booked_by_phone"},
        follow=True,
    )
    assert "Call outcome recorded: Booked by phone." in response.content.decode()
    target.refresh_from_db()
    assert target.call_outcome == "booked_by_phone"
    assert target.call_outcome_by == practice_staff
    assert "data-invite=" not in response.content.decode()

    bad = client.post(
        reverse("booking:invite_call_outcome", args=[campaign.pk, target.pk]),
        {"outcome": "nonsense"},
        follow=True,
    )
    assert "Choose what happened on the call." in bad.content.decode()


def test_demo_messages_page_shows_the_messages_with_their_links(
    settings,
    tmp_path,
    client_for,
    practice_staff,
    open_campaign,
    practice_admin,
    patients,
    django_capture_on_commit_callbacks,
):
    settings.NOTIFY_BACKEND = "file"
    settings.NOTIFY_FILE_PATH = str(tmp_path / "messages.jsonl")
    with django_capture_on_commit_callbacks(execute=True):
        invites.invites_create(campaign=open_campaign, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    page = client_for(practice_staff).get(
        reverse("booking:demo_messages", args=[open_campaign.practice.ods_code])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('data-testid="demo-message"') == 1
    assert invites.invite_link(invite) in html
    assert patients[0].mobile not in html  # the recipient is masked
    # Whose link it is, so the demo's user knows the date of birth that opens it.
    born = f"{patients[0].date_of_birth:%-d %B %Y}"
    assert f"For {patients[0].first_name} {patients[0].last_name}, born {born}" in html

    settings.DEMO_MODE = False
    hidden = client_for(practice_staff).get(
        reverse("booking:demo_messages", args=[open_campaign.practice.ods_code])
    )
    assert hidden.status_code == 404


# --- Tenancy ----------------------------------------------------------------------------------


def test_another_practice_gets_404_everywhere(client_for, other_practice_staff, invited):
    campaign = invited[0].campaign
    client = client_for(other_practice_staff)
    for method, url in urls(campaign, invited[0]):
        response = getattr(client, method)(url, {"outcome": "declined"} if method == "post" else {})
        assert response.status_code == 404, url
    invite = Invite.objects.get(pk=invited[0].pk)
    assert invite.call_outcome == ""
    assert Invite.objects.count() == 3


def test_pcn_staff_do_not_see_member_practices_invitations(client_for, pcn_tracer, invited):
    campaign = invited[0].campaign
    client = client_for(pcn_tracer)
    for method, url in urls(campaign, invited[0]):
        assert getattr(client, method)(url).status_code == 404, url


def test_support_sees_any_practice(client_for, support_user, invited):
    campaign = invited[0].campaign
    client = client_for(support_user)
    assert client.get(reverse("booking:invite_list", args=[campaign.pk])).status_code == 200
    assert (
        client.get(reverse("booking:invite_non_responders", args=[campaign.pk])).status_code == 200
    )
    demo = reverse("booking:demo_messages", args=[campaign.practice.ods_code])
    assert client.get(demo).status_code == 200


def test_invite_of_another_campaign_in_the_url_is_404(
    client_for, practice_staff, invited, practice_admin
):
    from booking import services

    today = timezone.localdate()
    other = services.campaign_create(
        user=practice_admin,
        practice=invited[0].campaign.practice,
        name="Other",
        appointment_type="Health check",
        start_date=today,
        end_date=today + timedelta(days=3),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    response = client_for(practice_staff).post(
        reverse("booking:invite_call_outcome", args=[other.pk, invited[0].pk]),
        {"outcome": "declined"},
    )
    assert response.status_code == 404


def test_pages_need_sign_in(client, invited):
    for method, url in urls(invited[0].campaign, invited[0]):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/accounts/login/" in response["Location"]


def test_booked_invites_count_on_the_panel(client_for, practice_staff, invited, practice_admin):
    from booking import services
    from booking.selectors import campaign_offerable_slots

    campaign = invited[0].campaign
    slot = campaign_offerable_slots(campaign=campaign).filter(is_pcn=True).first()
    services.booking_create(
        campaign=campaign,
        patient=invited[0].patient,
        slot=slot,
        booked_by=None,
        via="self_book",
        pcn_consent=True,
    )
    html = (
        client_for(practice_staff)
        .get(reverse("booking:campaign_detail", args=[campaign.pk]))
        .content.decode()
    )
    assert 'data-count="booked-pcn">1' in html
    assert 'data-count="not-yet-booked">2' in html


def test_invite_selected_patients(
    client_for, practice_staff, open_campaign, patients, django_capture_on_commit_callbacks, outbox
):
    from booking.models import Patient

    Patient.objects.filter(pk=patients[2].pk).update(opted_out_of_messages=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(practice_staff).post(
            reverse("booking:invite_patients", args=[open_campaign.pk]),
            {"patient": [patients[0].pk, patients[2].pk]},
            follow=True,
        )
    html = response.content.decode()
    assert "1 patient(s) invited. Not invited: 1 opted out of messages." in html
    assert list(Invite.objects.values_list("patient_id", flat=True)) == [patients[0].pk]
    assert len(outbox) == 1


def test_invite_selected_ignores_other_practices_patients(
    client_for, practice_staff, open_campaign, practice_b
):
    from tests.booking.factories import PatientFactory

    stranger = PatientFactory(practice=practice_b)
    client_for(practice_staff).post(
        reverse("booking:invite_patients", args=[open_campaign.pk]), {"patient": [stranger.pk]}
    )
    assert not Invite.objects.exists()


def test_invite_list_queries_do_not_grow_with_rows(
    client_for, practice_staff, open_campaign, practice_admin, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from booking import services
    from tests.booking.factories import PatientFactory

    client = client_for(practice_staff)
    url = reverse("booking:invite_list", args=[open_campaign.pk])
    client.get(url)  # warm the session and content types
    few = [PatientFactory(practice=open_campaign.practice) for _ in range(2)]
    services.campaign_add_patients(user=practice_admin, campaign=open_campaign, patients=few)
    invites.invites_create(campaign=open_campaign, patients=few, user=practice_admin)
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    many = [PatientFactory(practice=open_campaign.practice) for _ in range(40)]
    services.campaign_add_patients(user=practice_admin, campaign=open_campaign, patients=many)
    invites.invites_create(campaign=open_campaign, patients=many, user=practice_admin)
    with django_assert_max_num_queries(len(small)):
        client.get(url)
