import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from emis_integration import services
from emis_integration.models import ConnectionStatus as S
from emis_integration.models import EmisConnection, OnboardingRequest, OnboardingRequester
from emis_integration.selectors import pcn_connection_diagnosis
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Membership
from tests.factories import UserFactory


def _raise(user, practice, **extra):
    return services.onboarding_request_raise(
        user=user,
        practice=practice,
        contact_name=extra.pop("contact_name", "Pat Manager"),
        contact_email=extra.pop("contact_email", "pat@example.nhs.uk"),
        **extra,
    )


def test_practice_staff_raise_a_request(practice_staff, practice_a, pcn_a):
    request, created = _raise(practice_staff, practice_a, notes="Flu season")
    assert created
    assert request.pcn == pcn_a
    assert request.practice == practice_a
    assert request.requested_by == practice_staff
    assert request.status == "open"
    assert list(request.requesters.values_list("user__username", flat=True)) == ["a.practice_staff"]
    entry = AuditEntry.objects.get(action="onboarding_request.raised")
    assert entry.organisation == pcn_a
    assert entry.actor == practice_staff


def test_a_second_request_joins_the_open_one(practice_staff, practice_a, practice_a2):
    first, _ = _raise(practice_staff, practice_a)
    other = UserFactory(username="a2.staff")
    Membership.objects.create(user=other, organisation=practice_a2, role="practice_staff")
    second, created = _raise(other, practice_a2)
    assert not created
    assert second.pk == first.pk
    assert OnboardingRequest.objects.count() == 1
    assert set(first.requesters.values_list("practice__ods_code", flat=True)) == {
        "A10001",
        "A10002",
    }
    assert AuditEntry.objects.filter(action="onboarding_request.joined").count() == 1
    # asking twice changes nothing more
    _raise(other, practice_a2)
    assert OnboardingRequester.objects.count() == 2


def test_database_allows_one_open_request_per_pcn(practice_staff, practice_a, pcn_a):
    _raise(practice_staff, practice_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        OnboardingRequest.objects.create(
            pcn=pcn_a,
            requested_by=practice_staff,
            contact_name="x",
            contact_email="x@example.nhs.uk",
        )


def test_a_closed_request_allows_a_new_one(practice_staff, practice_a, superuser):
    first, _ = _raise(practice_staff, practice_a)
    services.onboarding_request_decline(actor=superuser, request=first, reason="Not this year")
    second, created = _raise(practice_staff, practice_a)
    assert created
    assert second.pk != first.pk


def test_refusals(practice_staff, practice_a, lone_practice, other_practice_staff, superuser):
    with pytest.raises(ValidationError, match="not part of a PCN"):
        _raise(practice_staff, lone_practice)
    with pytest.raises(PermissionDenied):
        _raise(other_practice_staff, practice_a)
    with pytest.raises(ValidationError) as excinfo:
        _raise(practice_staff, practice_a, contact_name=" ", contact_email="")
    assert set(excinfo.value.message_dict) == {"contact_name", "contact_email"}
    assert not OnboardingRequest.objects.exists()


def test_no_request_when_the_pcn_is_already_live(practice_staff, practice_a, pcn_a, superuser):
    services.connection_create(actor=superuser, organisation=pcn_a, status=S.LIVE)
    with pytest.raises(ValidationError, match="already live"):
        _raise(practice_staff, practice_a)


def test_support_starts_then_live_closes_the_request(practice_staff, practice_a, pcn_a, superuser):
    request, _ = _raise(practice_staff, practice_a)
    connection = services.onboarding_request_start(actor=superuser, request=request)
    request.refresh_from_db()
    assert connection.organisation == pcn_a
    assert connection.status == S.IN_PROGRESS
    assert connection.system == "emis_community"
    assert request.status == "in_progress"
    assert request.connection == connection
    assert pcn_connection_diagnosis(practice=practice_a).state == "in_progress"

    services.connection_update_config(
        actor=superuser,
        connection=connection,
        base_url="https://emis.example.nhs.uk/fhir",
        asid_to="918999198738",
        partner_base_url="https://emis.example.nhs.uk/partner",
        partner_application_id="0f3c2a9e-1111-2222-3333-444455556666",
        partner_token="partner-token-for-alpha-pcn",
    )
    services.connection_change_status(actor=superuser, connection=connection, to_status=S.TESTING)
    EmisConnection.objects.filter(pk=connection.pk).update(
        last_test_ok=True, last_test_at=timezone.now()
    )
    services.connection_change_status(actor=superuser, connection=connection, to_status=S.LIVE)
    request.refresh_from_db()
    assert request.status == "done"
    assert request.closed_at is not None
    assert pcn_connection_diagnosis(practice=practice_a).state == "live"


def test_decline_needs_a_reason(practice_staff, practice_a, superuser):
    request, _ = _raise(practice_staff, practice_a)
    with pytest.raises(ValidationError, match="Say why"):
        services.onboarding_request_decline(actor=superuser, request=request, reason=" ")
    request.refresh_from_db()
    assert request.status == "open"


@pytest.mark.parametrize(
    ("setup", "state", "can_request"),
    [
        ("none", "not_connected", True),
        ("request", "requested", False),
        ("requested_connection", "requested", True),
        ("in_progress", "in_progress", False),
        ("testing", "testing", False),
        ("suspended", "suspended", True),
        ("failed", "failed", True),
        ("live", "live", False),
    ],
)
def test_diagnosis_for_each_state(
    practice_staff, practice_a, pcn_a, superuser, setup, state, can_request
):
    if setup == "request":
        _raise(practice_staff, practice_a)
    elif setup == "in_progress":
        request, _ = _raise(practice_staff, practice_a)
        services.onboarding_request_start(actor=superuser, request=request)
    elif setup != "none":
        status = {"requested_connection": S.REQUESTED}.get(setup, setup)
        services.connection_create(
            actor=superuser, organisation=pcn_a, status=status, reason="suspended for checks"
        )
    diagnosis = pcn_connection_diagnosis(practice=practice_a)
    assert diagnosis.state == state
    assert diagnosis.can_request_onboarding is can_request
    assert diagnosis.message


def test_diagnosis_for_a_practice_without_pcn(lone_practice):
    diagnosis = pcn_connection_diagnosis(practice=lone_practice)
    assert diagnosis.state == "no_pcn"
    assert not diagnosis.can_request_onboarding
    assert "not part of a PCN" in diagnosis.message


def test_diagnosis_names_the_request_date(practice_staff, practice_a):
    request, _ = _raise(practice_staff, practice_a)
    message = pcn_connection_diagnosis(practice=practice_a).message
    local = timezone.localtime(request.created_at)
    assert f"requested on {local.day} {local:%b %Y}" in message


# --- the staff page and the one-click button ---------------------------------------


def test_page_shows_the_notice_and_the_button(client_for, practice_staff, practice_a):
    response = client_for(practice_staff).get(reverse("emis_integration:pcn_connection"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Your PCN&#x27;s EMIS Community is not connected to hippo-pcn yet" in content
    assert 'data-testid="request-onboarding"' in content


def test_one_click_request_from_the_page(client_for, practice_staff, practice_a):
    client = client_for(practice_staff)
    response = client.post(
        reverse("emis_integration:onboarding_request_create"),
        {
            "practice": practice_a.pk,
            "contact_name": "Sam Staff",
            "contact_email": "sam@example.nhs.uk",
            "next": "/emis/pcn-connection/",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "has been requested" in response.content.decode()
    request = OnboardingRequest.objects.get()
    assert request.contact_email == "sam@example.nhs.uk"
    page = client.get(reverse("emis_integration:pcn_connection")).content.decode()
    assert 'data-testid="request-onboarding"' not in page
    assert 'data-state="requested"' in page


def test_bad_request_form_is_explained_and_nothing_saved(client_for, practice_staff, practice_a):
    response = client_for(practice_staff).post(
        reverse("emis_integration:onboarding_request_create"),
        {"practice": practice_a.pk, "contact_name": "", "contact_email": "not-an-email"},
    )
    assert response.status_code == 400
    assert b"There is a problem" in response.content
    assert not OnboardingRequest.objects.exists()


def test_offsite_next_is_ignored(client_for, practice_staff, practice_a):
    response = client_for(practice_staff).post(
        reverse("emis_integration:onboarding_request_create"),
        {
            "practice": practice_a.pk,
            "contact_name": "Sam",
            "contact_email": "sam@example.nhs.uk",
            "next": "https://evil.example.com/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("emis_integration:pcn_connection")


def test_another_practice_cannot_request_for_mine(client_for, other_practice_staff, practice_a):
    response = client_for(other_practice_staff).post(
        reverse("emis_integration:onboarding_request_create"),
        {"practice": practice_a.pk, "contact_name": "Eve", "contact_email": "eve@example.nhs.uk"},
    )
    assert response.status_code == 404
    assert not OnboardingRequest.objects.exists()


def test_page_needs_a_membership(client_for, no_membership_user):
    response = client_for(no_membership_user).get(reverse("emis_integration:pcn_connection"))
    assert response.status_code == 403
