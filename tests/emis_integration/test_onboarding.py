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


# --- privacy: practices sharing a PCN see the request, never each other's details ----

SECRET_CONTACT = {
    "contact_name": "Priya Confidential",
    "contact_email": "priya.confidential@alpha.example.nhs.uk",
    "contact_phone": "07700 900461",
    "notes": "Call after 3pm; door code 4417",
}


def _secret_values():
    return [*SECRET_CONTACT.values(), "a.practice_staff"]


@pytest.fixture
def second_practice_staff(practice_a2):
    user = UserFactory(username="a2.practice_staff")
    Membership.objects.create(user=user, organisation=practice_a2, role="practice_staff")
    return user


@pytest.fixture
def raised_by_a(practice_staff, practice_a):
    request, _ = services.onboarding_request_raise(
        user=practice_staff, practice=practice_a, **SECRET_CONTACT
    )
    return request


def _assert_no_secrets(content: str) -> None:
    for value in _secret_values():
        assert value not in content, value
    assert "4417" not in content


def test_another_practice_sees_the_open_request_but_not_its_contact(
    client_for, raised_by_a, second_practice_staff, practice_a2
):
    page = client_for(second_practice_staff).get(reverse("emis_integration:pcn_connection"))
    content = page.content.decode()
    assert 'data-state="requested"' in content
    local = timezone.localtime(raised_by_a.created_at)
    assert f"Onboarding was requested on {local.day} {local:%b %Y}" in content
    assert 'data-joined="no"' in content
    assert "Alpha Second Surgery has not joined this request yet" in content
    assert 'data-testid="join-onboarding"' in content
    _assert_no_secrets(content)


def test_another_practice_joins_and_still_sees_no_contact(
    client_for, raised_by_a, second_practice_staff, practice_a2
):
    client = client_for(second_practice_staff)
    response = client.post(
        reverse("emis_integration:onboarding_request_create"),
        {
            "practice": practice_a2.pk,
            "contact_name": "Sam Second",
            "contact_email": "sam.second@example.nhs.uk",
        },
        follow=True,
    )
    assert "was already requested; you have been added" in response.content.decode()
    assert OnboardingRequest.objects.count() == 1
    assert raised_by_a.requesters.filter(practice=practice_a2).exists()
    content = client.get(reverse("emis_integration:pcn_connection")).content.decode()
    assert 'data-joined="yes"' in content
    assert "Alpha Second Surgery has joined this request" in content
    assert 'data-testid="join-onboarding"' not in content
    _assert_no_secrets(content)


def test_the_raising_practice_sees_it_has_joined_but_not_the_other_practice(
    client_for, raised_by_a, practice_staff, second_practice_staff, practice_a2
):
    services.onboarding_request_raise(
        user=second_practice_staff,
        practice=practice_a2,
        contact_name="Sam Second",
        contact_email="sam.second@example.nhs.uk",
        notes="Second practice's private note",
    )
    content = client_for(practice_staff).get(reverse("emis_integration:pcn_connection"))
    text = content.content.decode()
    assert 'data-joined="yes"' in text
    assert "sam.second@example.nhs.uk" not in text
    assert "Second practice&#x27;s private note" not in text


def test_admin_changelist_hides_another_practices_contact(
    client_for, raised_by_a, second_practice_staff
):
    client = client_for(second_practice_staff)
    url = reverse("admin:emis_integration_onboardingrequest_changelist")
    response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Alpha PCN" in content
    assert "Your practice has joined" in content
    assert "Alpha Surgery" not in content  # who raised it is not shown either
    _assert_no_secrets(content)
    # Searching for the contact's name finds nothing: it is not searched for them.
    searched = client.get(url, {"q": "Priya"}).content.decode()
    assert (
        f'href="{reverse("admin:emis_integration_onboardingrequest_change", args=[raised_by_a.pk])}'
        not in searched
    )
    assert (
        f'href="{reverse("admin:emis_integration_onboardingrequest_change", args=[raised_by_a.pk])}'
        in content
    )


def test_admin_change_page_hides_another_practices_contact_and_requesters(
    client_for, raised_by_a, second_practice_staff, practice_a2
):
    services.onboarding_request_raise(
        user=second_practice_staff,
        practice=practice_a2,
        contact_name="Sam Second",
        contact_email="sam.second@example.nhs.uk",
        notes="Second practice's own note",
    )
    url = reverse("admin:emis_integration_onboardingrequest_change", args=[raised_by_a.pk])
    response = client_for(second_practice_staff).get(url)
    assert response.status_code == 200
    content = response.content.decode()
    _assert_no_secrets(content)
    # Its own part of the request is shown.
    assert "sam.second@example.nhs.uk" in content
    assert "Second practice&#x27;s own note" in content


def test_support_sees_every_contact_in_the_admin(
    client_for, raised_by_a, support_user, second_practice_staff, practice_a2
):
    services.onboarding_request_raise(
        user=second_practice_staff,
        practice=practice_a2,
        contact_name="Sam Second",
        contact_email="sam.second@example.nhs.uk",
    )
    client = client_for(support_user)
    url = reverse("admin:emis_integration_onboardingrequest_change", args=[raised_by_a.pk])
    content = client.get(url).content.decode()
    for value in SECRET_CONTACT.values():
        assert value in content, value
    assert "sam.second@example.nhs.uk" in content
    changelist = client.get(
        reverse("admin:emis_integration_onboardingrequest_changelist"), {"q": "Priya"}
    ).content.decode()
    assert "Alpha Surgery" in changelist
