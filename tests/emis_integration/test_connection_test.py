"""“Test connection”: a real round trip, with a plain-words reason on failure,
stored on the connection, and never live on a failure."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from emis_integration import services
from emis_integration.models import ConnectionStatus as S
from emis_integration.models import EmisConnection
from hippo_pcn.audit.models import AuditEntry

from .fault_server import FaultServer, Reply


@pytest.fixture
def testing_pcn(emis_world, superuser):
    connection = emis_world.connections["U10001"]
    EmisConnection.objects.filter(pk=connection.pk).update(status=S.TESTING)
    connection.refresh_from_db()
    # Within the next 24 hours whatever the time of day, and so today or tomorrow.
    soon = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    emis_world.slots("U10001", [soon])
    return connection


def test_a_passing_test_is_stored_and_allows_live(testing_pcn, superuser):
    result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert result.ok, result.message
    testing_pcn.refresh_from_db()
    assert testing_pcn.last_test_ok is True
    assert testing_pcn.last_test_latency_ms == result.latency_ms
    assert testing_pcn.last_success_at is not None
    assert "capability statement" in testing_pcn.last_test_message
    assert "The Partner API answered" in testing_pcn.last_test_message
    services.connection_change_status(actor=superuser, connection=testing_pcn, to_status=S.LIVE)
    assert testing_pcn.status == S.LIVE
    entry = AuditEntry.objects.filter(action="emis_connection.tested").latest("id")
    assert entry.details["ok"] is True


@pytest.mark.parametrize(
    ("knobs", "expected"),
    [
        ({"error_rate": 1.0}, "EMIS did not answer usefully"),
        ({"reject_auth": True}, "EMIS refused hippo-pcn's credentials"),
    ],
)
def test_a_failing_test_says_why_and_never_goes_live(
    emis_world, testing_pcn, superuser, knobs, expected
):
    emis_world.faults("U10001", **knobs)
    result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert not result.ok
    assert expected in result.message
    testing_pcn.refresh_from_db()
    assert testing_pcn.last_test_ok is False
    assert testing_pcn.last_error == result.message
    with pytest.raises(ValidationError, match="has not passed"):
        services.connection_change_status(actor=superuser, connection=testing_pcn, to_status=S.LIVE)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://localhost/emis-sandbox/Z99999/fhir", "ORGANISATION_NOT_FOUND"),
        ("http://localhost/not-emis/fhir", "the base URL is probably wrong"),
    ],
)
def test_wrong_base_url_is_explained(testing_pcn, superuser, base_url, expected):
    services.connection_update_config(actor=superuser, connection=testing_pcn, base_url=base_url)
    result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert not result.ok
    assert expected in result.message


def test_refused_connection_and_garbage_are_explained(testing_pcn, superuser, settings):
    settings.EMIS_HTTP_TRANSPORT_FACTORY = ""  # real sockets from here on
    services.connection_update_config(
        actor=superuser, connection=testing_pcn, base_url="http://127.0.0.1:1/fhir"
    )
    refused = services.connection_test(actor=superuser, connection=testing_pcn)
    assert not refused.ok
    assert "connection was refused" in refused.message
    with FaultServer() as server:
        server.default = Reply(200, "<html>this is not FHIR</html>")
        services.connection_update_config(
            actor=superuser, connection=testing_pcn, base_url=server.base_url
        )
        garbage = services.connection_test(actor=superuser, connection=testing_pcn)
    assert not garbage.ok
    assert "not valid FHIR JSON" in garbage.message
    testing_pcn.refresh_from_db()
    assert testing_pcn.status == S.TESTING


def test_credentials_never_reach_messages_or_logs(testing_pcn, superuser, caplog, emis_world):
    from emis_integration.crypto import decrypt_credentials

    secret = decrypt_credentials(testing_pcn.credentials_encrypted)["client_secret"]
    emis_world.faults("U10001", reject_auth=True)
    caplog.set_level("DEBUG")
    result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert secret not in result.message
    assert secret not in caplog.text
    assert "Bearer" not in caplog.text


def test_admin_action_runs_the_test_and_shows_the_result(client_for, support_user, testing_pcn):
    response = client_for(support_user).post(
        reverse("admin:emis_integration_emisconnection_changelist"),
        {"action": "test_connection", "_selected_action": [testing_pcn.pk]},
        follow=True,
    )
    assert "test passed" in response.content.decode()
    testing_pcn.refresh_from_db()
    assert testing_pcn.last_test_ok is True


# --- both interfaces: GP Connect and, for a PCN, the Partner API -------------------------


def test_a_pcn_test_reports_what_each_interface_found(testing_pcn, superuser):
    result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert result.ok, result.message
    assert result.free_slots == 1
    assert result.sessions == 1  # the session holding the fixture's slot
    assert result.message.startswith(
        "GP Connect answered: EMIS gave its capability statement and a slot search "
        "(1 free slot(s) in the next 24 hours). "
        "The Partner API answered: 1 appointment session(s) today and tomorrow. Took "
    )
    testing_pcn.refresh_from_db()
    assert testing_pcn.last_test_message == result.message


def test_a_refused_partner_token_fails_the_test_and_says_which_part(testing_pcn, superuser):
    services.connection_update_config(
        actor=superuser, connection=testing_pcn, partner_token="an-old-partner-token"
    )
    result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert not result.ok
    assert result.message.startswith("GP Connect answered")
    assert "The Partner API refused hippo-pcn's application id or token (HTTP 401)" in (
        result.message
    )
    assert "an-old-partner-token" not in result.message
    assert result.free_slots == 1
    assert result.sessions is None
    testing_pcn.refresh_from_db()
    assert testing_pcn.last_test_ok is False
    assert testing_pcn.last_error == result.message
    with pytest.raises(ValidationError, match="has not passed"):
        services.connection_change_status(actor=superuser, connection=testing_pcn, to_status=S.LIVE)


def test_a_pcn_without_partner_settings_fails_the_test(emis_world, superuser, pcn_b):
    connection = services.connection_create(
        actor=superuser,
        organisation=pcn_b,
        base_url=emis_world.connections["U10001"].base_url,
        asid_to="918999198738",
        status=S.TESTING,
    )
    result = services.connection_test(actor=superuser, connection=connection)
    assert not result.ok
    assert result.sessions is None
    assert (
        "The Partner API is not set up: Partner API base URL, Partner API application id and "
        "Partner API token are missing."
    ) in result.message


def test_a_wrong_partner_base_url_is_explained(testing_pcn, superuser):
    services.connection_update_config(
        actor=superuser,
        connection=testing_pcn,
        partner_base_url="http://localhost/not-emis/partner",
    )
    result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert not result.ok
    assert "GP Connect answered" in result.message
    assert "the Partner API base URL is probably wrong" in result.message


def test_an_unavailable_partner_api_is_explained(testing_pcn, superuser, settings):
    settings.EMIS_HTTP_TRANSPORT_FACTORY = ""  # real sockets from here on
    with FaultServer() as server:
        server.default = Reply(503, "")
        services.connection_update_config(
            actor=superuser, connection=testing_pcn, partner_base_url=f"{server.root_url}/partner"
        )
        services.connection_update_config(
            actor=superuser, connection=testing_pcn, base_url=f"{server.root_url}/fhir"
        )
        result = services.connection_test(actor=superuser, connection=testing_pcn)
    assert not result.ok
    assert "GP Connect failed: EMIS did not answer usefully" in result.message
    assert "The Partner API did not answer usefully" in result.message
    assert "HTTP 503" in result.message


def test_a_practice_test_does_not_call_the_partner_api(emis_world, superuser):
    practice = emis_world.connections["A10001"]
    result = services.connection_test(actor=superuser, connection=practice)
    assert result.ok, result.message
    assert result.sessions is None
    assert "Partner API" not in result.message
