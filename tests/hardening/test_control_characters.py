"""NUL and other control characters in a search or a form are a 400 (the NHS-styled
error page), never a 500 from the database; tab, CR and LF are ordinary text."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from booking import services as booking_services
from booking.models import PatientImport
from emis_integration.models import OnboardingRequest
from hippo_pcn.middleware import has_control_characters
from tests.booking.factories import PatientFactory, csv_bytes, csv_upload, patient_row

URLENCODED = "application/x-www-form-urlencoded"
BAD = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]
FINE = ["\t", "\r", "\n", "Renée", "O'Brien", "北京", "—", "\u00a0"]


@pytest.mark.parametrize("character", BAD)
def test_control_characters_are_recognised(character):
    assert has_control_characters(f"abc{character}def")


@pytest.mark.parametrize("text", FINE)
def test_ordinary_text_is_not(text):
    assert not has_control_characters(text)


def _assert_bad_request_page(response):
    assert response.status_code == 400
    content = response.content.decode()
    assert "There is a problem with your request" in content
    assert "nhsuk-header" in content  # the service's own page, not a bare error
    assert "<style" not in content and " style=" not in content  # CSP: no inline style


@pytest.fixture
def campaign(practice_a, practice_admin):
    today = timezone.localdate()
    made = booking_services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Winter flu clinic",
        appointment_type="Flu vaccination",
        start_date=today,
        end_date=today + timedelta(days=14),
    )
    booking_services.campaign_add_patients(
        user=practice_admin, campaign=made, patients=[PatientFactory(practice=practice_a)]
    )
    return made


@pytest.mark.parametrize("query", ["%00", "flu%00", "%1B%5B2J", "x%7F"])
def test_a_control_character_in_a_campaign_search_is_a_400(
    client_for, practice_admin, campaign, query
):
    client = client_for(practice_admin)
    detail = reverse("booking:campaign_detail", args=[campaign.pk])
    _assert_bad_request_page(client.get(f"{detail}?q={query}"))
    patients = reverse("booking:patient_list", args=[campaign.practice.ods_code])
    _assert_bad_request_page(client.get(f"{patients}?q={query}"))
    # The page itself still works.
    assert client.get(f"{detail}?q=flu").status_code == 200


def test_a_control_character_in_a_parameter_name_is_a_400(client_for, practice_admin, campaign):
    detail = reverse("booking:campaign_detail", args=[campaign.pk])
    _assert_bad_request_page(client_for(practice_admin).get(f"{detail}?q%00=flu"))


@pytest.mark.parametrize(
    ("user", "changelist"),
    [
        ("practice_staff", "admin:organisations_organisation_changelist"),
        ("support_user", "admin:emis_integration_onboardingrequest_changelist"),
        ("support_user", "admin:auth_user_changelist"),
        ("support_user", "admin:emis_sandbox_patient_changelist"),
    ],
)
def test_a_control_character_in_an_admin_search_is_a_400(request, client_for, user, changelist):
    client = client_for(request.getfixturevalue(user))
    url = reverse(changelist)
    _assert_bad_request_page(client.get(f"{url}?q=%00"))
    assert client.get(f"{url}?q=alpha").status_code == 200


def test_anonymous_pages_too(client, db):
    _assert_bad_request_page(client.get(reverse("login") + "?next=/%00"))


def test_a_posted_form_with_nul_is_a_400_and_saves_nothing(client_for, practice_staff, practice_a):
    fields = {
        "practice": practice_a.pk,
        "contact_name": "Pat\x00 Manager",
        "contact_email": "pat@example.nhs.uk",
    }
    client = client_for(practice_staff)
    url = reverse("emis_integration:onboarding_request_create")
    # As a browser sends a form: urlencoded.
    response = client.post(url, urlencode(fields), content_type=URLENCODED)
    _assert_bad_request_page(response)
    # Multipart is left to the form, whose fields refuse NUL: a form error, not a 500.
    response = client.post(url, fields)
    assert response.status_code == 400
    assert "There is a problem" in response.content.decode()
    assert not OnboardingRequest.objects.exists()


def test_tabs_and_new_lines_in_a_posted_form_are_kept(client_for, practice_staff, practice_a):
    fields = {
        "practice": practice_a.pk,
        "contact_name": "Pat\tManager",
        "contact_email": "pat@example.nhs.uk",
        "notes": "line one\r\nline two",
    }
    response = client_for(practice_staff).post(
        reverse("emis_integration:onboarding_request_create"),
        urlencode(fields),
        content_type=URLENCODED,
    )
    assert response.status_code == 302
    assert OnboardingRequest.objects.get().notes == "line one\r\nline two"


def test_a_multipart_csv_upload_still_works(client_for, practice_staff, practice_a):
    response = client_for(practice_staff).post(
        reverse("booking:patient_import_upload", args=[practice_a.ods_code]),
        {"file": csv_upload(csv_bytes([patient_row(1), patient_row(2)]))},
    )
    assert response.status_code == 302, response.content[:500]
    patient_import = PatientImport.objects.get()
    assert response["Location"] == reverse(
        "booking:patient_import_preview", args=[practice_a.ods_code, patient_import.pk]
    )
