import pytest
from django.urls import reverse
from django.utils import timezone

from emis_integration import services
from emis_integration.models import ConnectionStatus as S
from emis_integration.models import EmisConnection, OnboardingRequest

SECRET = "top-secret-client-credential-42"
APPLICATION_ID = "5d1e0c3b-aaaa-bbbb-cccc-0123456789ab"
TOKEN = "partner-token-never-shown-77"


@pytest.fixture
def connections(practice_a, pcn_a, practice_b, superuser):
    return {
        "practice_a": services.connection_create(
            actor=superuser,
            organisation=practice_a,
            base_url="https://a.example.nhs.uk/fhir",
            asid_to="918999198001",
            client_secret=SECRET,
            status=S.LIVE,
        ),
        "pcn_a": services.connection_create(
            actor=superuser,
            organisation=pcn_a,
            base_url="https://pcn.example.nhs.uk/fhir",
            asid_to="918999198002",
            client_secret=SECRET,
            status=S.TESTING,
        ),
        "practice_b": services.connection_create(
            actor=superuser,
            organisation=practice_b,
            base_url="https://b.example.nhs.uk/fhir",
            asid_to="918999198003",
            client_secret=SECRET,
            status=S.LIVE,
        ),
    }


@pytest.fixture
def onboarding(practice_staff, practice_a):
    request, _ = services.onboarding_request_raise(
        user=practice_staff,
        practice=practice_a,
        contact_name="Sam",
        contact_email="sam@example.nhs.uk",
    )
    return request


def _changelist_rows(response):
    return list(response.context["cl"].result_list)


def test_support_sees_all_connections(client_for, support_user, connections):
    response = client_for(support_user).get(
        reverse("admin:emis_integration_emisconnection_changelist")
    )
    assert response.status_code == 200
    assert set(_changelist_rows(response)) == set(connections.values())


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("practice_staff", {"practice_a"}),
        ("practice_admin", {"practice_a"}),
        ("pcn_tracer", {"practice_a", "pcn_a"}),
        ("other_practice_staff", {"practice_b"}),
    ],
)
def test_users_see_only_their_organisations_connections(
    request, client_for, connections, role, visible
):
    client = client_for(request.getfixturevalue(role))
    response = client.get(reverse("admin:emis_integration_emisconnection_changelist"))
    assert {c.organisation.ods_code for c in _changelist_rows(response)} == {
        connections[key].organisation.ods_code for key in visible
    }
    for key, connection in connections.items():
        url = reverse("admin:emis_integration_emisconnection_change", args=[connection.pk])
        assert client.get(url).status_code == (200 if key in visible else 404)


def test_credentials_are_never_rendered(client_for, support_user, practice_staff, connections):
    for user in (support_user, practice_staff):
        client = client_for(user)
        for url in (
            reverse("admin:emis_integration_emisconnection_changelist"),
            reverse(
                "admin:emis_integration_emisconnection_change", args=[connections["practice_a"].pk]
            ),
        ):
            content = client.get(url).content.decode()
            assert SECRET not in content
            assert connections["practice_a"].credentials_encrypted not in content
    support_page = (
        client_for(support_user)
        .get(
            reverse(
                "admin:emis_integration_emisconnection_change", args=[connections["practice_a"].pk]
            )
        )
        .content.decode()
    )
    assert "Stored, encrypted" in support_page
    assert 'type="password"' in support_page
    staff_page = (
        client_for(practice_staff)
        .get(
            reverse(
                "admin:emis_integration_emisconnection_change", args=[connections["practice_a"].pk]
            )
        )
        .content.decode()
    )
    assert 'name="client_secret"' not in staff_page


def test_connections_are_read_only_for_practice_and_pcn_users(client_for, pcn_admin, connections):
    client = client_for(pcn_admin)
    url = reverse("admin:emis_integration_emisconnection_change", args=[connections["pcn_a"].pk])
    assert client.post(url, {"base_url": "https://evil.example.com"}).status_code == 403
    response = client.post(
        reverse("admin:emis_integration_emisconnection_changelist"),
        {"action": "mark_live", "_selected_action": [connections["pcn_a"].pk]},
    )
    connections["pcn_a"].refresh_from_db()
    assert connections["pcn_a"].status == S.TESTING
    assert response.status_code in (200, 302)


def test_support_edits_endpoint_and_replaces_the_secret(client_for, support_user, connections):
    connection = connections["pcn_a"]
    url = reverse("admin:emis_integration_emisconnection_change", args=[connection.pk])
    response = client_for(support_user).post(
        url,
        {
            "base_url": "https://new.example.nhs.uk/fhir",
            "provider_ods_code": "U10001",
            "asid_from": "200000001234",
            "asid_to": "918999198002",
            "client_secret": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    assert connection.base_url == "https://new.example.nhs.uk/fhir"
    from emis_integration.crypto import decrypt_credentials

    assert decrypt_credentials(connection.credentials_encrypted) == {"client_secret": SECRET}


def test_support_creates_a_connection_with_a_mismatched_kind_refused(
    client_for, support_user, pcn_b
):
    response = client_for(support_user).post(
        reverse("admin:emis_integration_emisconnection_add"),
        {
            "organisation": pcn_b.pk,
            "base_url": "https://x.example.nhs.uk/fhir",
            "provider_ods_code": "",
            "asid_from": "",
            "asid_to": "123",
            "client_secret": "s3cret",
        },
    )
    assert response.status_code == 200
    assert "An ASID is 12 digits" in str(response.context["adminform"].form.errors)
    assert not EmisConnection.objects.filter(organisation=pcn_b).exists()


def test_mark_live_action_refuses_without_a_test_then_succeeds(
    client_for, support_user, connections
):
    connection = connections["pcn_a"]
    client = client_for(support_user)
    url = reverse("admin:emis_integration_emisconnection_changelist")
    response = client.post(
        url, {"action": "mark_live", "_selected_action": [connection.pk]}, follow=True
    )
    assert "needs its EMIS Partner API settings" in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == S.TESTING
    _set_partner_settings(client, connection)
    response = client.post(
        url, {"action": "mark_live", "_selected_action": [connection.pk]}, follow=True
    )
    assert "has not passed “Test connection”" in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == S.TESTING
    EmisConnection.objects.filter(pk=connection.pk).update(
        last_test_ok=True, last_test_at=timezone.now()
    )
    response = client.post(
        url, {"action": "mark_live", "_selected_action": [connection.pk]}, follow=True
    )
    connection.refresh_from_db()
    assert connection.status == S.LIVE


def test_suspend_asks_for_a_reason_then_resume(client_for, support_user, connections):
    connection = connections["practice_a"]
    client = client_for(support_user)
    url = reverse("admin:emis_integration_emisconnection_changelist")
    form_page = client.post(url, {"action": "suspend", "_selected_action": [connection.pk]})
    assert form_page.status_code == 200
    assert b"Reason" in form_page.content
    connection.refresh_from_db()
    assert connection.status == S.LIVE
    empty = client.post(
        url, {"action": "suspend", "_selected_action": [connection.pk], "apply": "1", "reason": ""}
    )
    assert empty.status_code == 200
    connection.refresh_from_db()
    assert connection.status == S.LIVE
    client.post(
        url,
        {
            "action": "suspend",
            "_selected_action": [connection.pk],
            "apply": "1",
            "reason": "Practice asked us to pause",
        },
    )
    connection.refresh_from_db()
    assert connection.status == S.SUSPENDED
    assert connection.status_reason == "Practice asked us to pause"
    client.post(url, {"action": "resume", "_selected_action": [connection.pk]})
    connection.refresh_from_db()
    assert connection.status == S.LIVE


def test_onboarding_requests_are_scoped(
    client_for,
    onboarding,
    support_user,
    practice_staff,
    other_practice_staff,
    pcn_tracer,
    other_pcn_tracer,
):
    url = reverse("admin:emis_integration_onboardingrequest_change", args=[onboarding.pk])
    changelist = reverse("admin:emis_integration_onboardingrequest_changelist")
    for user in (support_user, practice_staff, pcn_tracer):
        client = client_for(user)
        assert client.get(url).status_code == 200
        assert onboarding in _changelist_rows(client.get(changelist))
    for user in (other_practice_staff, other_pcn_tracer):
        client = client_for(user)
        assert client.get(url).status_code == 404
        assert _changelist_rows(client.get(changelist)) == []


def test_support_starts_and_declines_onboarding_in_admin(
    client_for, support_user, onboarding, pcn_a
):
    client = client_for(support_user)
    url = reverse("admin:emis_integration_onboardingrequest_changelist")
    response = client.post(
        url, {"action": "start_onboarding", "_selected_action": [onboarding.pk]}, follow=True
    )
    assert "onboarding started" in response.content.decode()
    onboarding.refresh_from_db()
    assert onboarding.status == "in_progress"
    assert onboarding.connection.organisation == pcn_a
    client.post(
        url,
        {
            "action": "decline",
            "_selected_action": [onboarding.pk],
            "apply": "1",
            "reason": "Duplicate of a paper request",
        },
    )
    onboarding.refresh_from_db()
    assert onboarding.status == "declined"
    assert OnboardingRequest.objects.count() == 1


def test_non_support_has_no_actions(client_for, practice_admin, onboarding):
    response = client_for(practice_admin).get(
        reverse("admin:emis_integration_onboardingrequest_changelist")
    )
    assert response.status_code == 200
    assert b"start_onboarding" not in response.content


def test_support_raises_a_request_for_a_pcn_in_admin(client_for, support_user, pcn_b):
    client = client_for(support_user)
    url = reverse("admin:emis_integration_onboardingrequest_add")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "pcn": pcn_b.pk,
            "contact_name": "Dana PCN",
            "contact_email": "dana@example.nhs.uk",
            "contact_phone": "",
            "notes": "Phoned support",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    request = OnboardingRequest.objects.get(pcn=pcn_b)
    assert request.requested_by == support_user
    assert request.practice is None
    assert request.requesters.count() == 1


def test_practice_users_cannot_raise_requests_in_admin(client_for, practice_admin):
    url = reverse("admin:emis_integration_onboardingrequest_add")
    assert client_for(practice_admin).get(url).status_code == 403


# --- the Partner API part of a PCN connection -------------------------------------------


def _set_partner_settings(client, connection, **overrides):
    url = reverse("admin:emis_integration_emisconnection_change", args=[connection.pk])
    data = {
        "base_url": connection.base_url,
        "provider_ods_code": connection.provider_ods_code,
        "asid_from": connection.asid_from,
        "asid_to": connection.asid_to,
        "client_secret": "",
        "partner_base_url": "https://pcn.example.nhs.uk/partner",
        "partner_application_id": APPLICATION_ID,
        "partner_token": TOKEN,
        **overrides,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    return connection


def test_pcn_change_form_groups_the_partner_api_settings(client_for, support_user, connections):
    client = client_for(support_user)
    pcn_page = client.get(
        reverse("admin:emis_integration_emisconnection_change", args=[connections["pcn_a"].pk])
    ).content.decode()
    assert "Partner API (finding appointments)" in pcn_page
    assert 'name="partner_base_url"' in pcn_page
    assert 'name="partner_application_id"' in pcn_page
    assert 'name="partner_token"' in pcn_page
    assert "The EMIS Partner API base, e.g. https://emis.example.nhs.uk/partner" in pcn_page
    practice_page = client.get(
        reverse("admin:emis_integration_emisconnection_change", args=[connections["practice_a"].pk])
    ).content.decode()
    assert "Partner API (finding appointments)" not in practice_page
    assert 'name="partner_token"' not in practice_page


def test_support_sets_the_partner_api_settings_write_only(client_for, support_user, connections):
    from emis_integration.crypto import decrypt_credentials

    client = client_for(support_user)
    connection = _set_partner_settings(client, connections["pcn_a"])
    assert connection.partner_base_url == "https://pcn.example.nhs.uk/partner"
    assert decrypt_credentials(connection.credentials_encrypted) == {
        "client_secret": SECRET,
        "partner_application_id": APPLICATION_ID,
        "partner_token": TOKEN,
    }
    page = client.get(
        reverse("admin:emis_integration_emisconnection_change", args=[connection.pk])
    ).content.decode()
    assert TOKEN not in page
    assert APPLICATION_ID not in page
    assert "Partner API token" in page  # named among the stored credentials
    # Blank secrets keep the stored ones.
    connection = _set_partner_settings(
        client, connection, partner_application_id="", partner_token=""
    )
    assert decrypt_credentials(connection.credentials_encrypted)["partner_token"] == TOKEN


def test_saving_a_practice_connection_leaves_partner_settings_alone(
    client_for, support_user, connections
):
    connection = connections["practice_a"]
    EmisConnection.objects.filter(pk=connection.pk).update(
        partner_base_url="https://a.example.nhs.uk/partner"
    )
    url = reverse("admin:emis_integration_emisconnection_change", args=[connection.pk])
    response = client_for(support_user).post(
        url,
        {
            "base_url": "https://a2.example.nhs.uk/fhir",
            "provider_ods_code": "A10001",
            "asid_from": "",
            "asid_to": "918999198001",
            "client_secret": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    assert connection.base_url == "https://a2.example.nhs.uk/fhir"
    assert connection.partner_base_url == "https://a.example.nhs.uk/partner"


def test_support_creates_a_pcn_connection_with_partner_settings(client_for, support_user, pcn_b):
    from emis_integration.crypto import decrypt_credentials

    client = client_for(support_user)
    add = reverse("admin:emis_integration_emisconnection_add")
    assert "Partner API (finding appointments)" in client.get(add).content.decode()
    response = client.post(
        add,
        {
            "organisation": pcn_b.pk,
            "base_url": "https://b.example.nhs.uk/fhir",
            "provider_ods_code": "",
            "asid_from": "",
            "asid_to": "918999198004",
            "client_secret": "s3cret",
            "partner_base_url": "b.example.nhs.uk/partner",
            "partner_application_id": APPLICATION_ID,
            "partner_token": TOKEN,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection = EmisConnection.objects.get(organisation=pcn_b)
    assert connection.partner_base_url == "https://b.example.nhs.uk/partner"
    assert decrypt_credentials(connection.credentials_encrypted) == {
        "client_secret": "s3cret",
        "partner_application_id": APPLICATION_ID,
        "partner_token": TOKEN,
    }


def test_support_switches_jwt_signing_in_the_change_form(client_for, support_user, connections):
    connection = connections["pcn_a"]
    url = reverse("admin:emis_integration_emisconnection_change", args=[connection.pk])
    client = client_for(support_user)
    page = client.get(url)
    assert "sign_jwt" in page.content.decode()
    assert "unsigned" in page.content.decode()  # the help text says what the spec does
    data = {
        "base_url": connection.base_url,
        "provider_ods_code": connection.provider_ods_code,
        "asid_from": connection.asid_from,
        "asid_to": connection.asid_to,
        "client_secret": "",
        "sign_jwt": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    assert connection.sign_jwt is True
    data.pop("sign_jwt")  # an unticked box
    assert client.post(url, data).status_code == 302
    connection.refresh_from_db()
    assert connection.sign_jwt is False


def test_support_creates_a_signing_connection(client_for, support_user, pcn_b):
    response = client_for(support_user).post(
        reverse("admin:emis_integration_emisconnection_add"),
        {
            "organisation": pcn_b.pk,
            "base_url": "https://x.example.nhs.uk/fhir",
            "provider_ods_code": "",
            "asid_from": "",
            "asid_to": "918999198009",
            "client_secret": "s3cret",
            "sign_jwt": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert EmisConnection.objects.get(organisation=pcn_b).sign_jwt is True


def test_endpoint_urls_are_shown_as_text_not_links(client_for, practice_staff, connections):
    """An API's base URL is no page to open (GET on it is a 404 at EMIS): staff
    who may only read a connection see it as text, with no link to follow."""
    connection = connections["practice_a"]
    page = (
        client_for(practice_staff)
        .get(reverse("admin:emis_integration_emisconnection_change", args=[connection.pk]))
        .content.decode()
    )
    assert "https://a.example.nhs.uk/fhir" in page
    assert 'href="https://a.example.nhs.uk/fhir"' not in page
