import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection as db_connection
from django.utils import timezone

from emis_integration import services
from emis_integration.crypto import decrypt_credentials
from emis_integration.models import ConnectionStatus as S
from emis_integration.models import EmisConnection
from hippo_pcn.audit.models import AuditEntry

SECRET = "very-secret-client-value-123"
APPLICATION_ID = "0f3c2a9e-aaaa-bbbb-cccc-444455556666"
TOKEN = "partner-token-very-secret-42"


@pytest.fixture
def pcn_connection(pcn_a, superuser):
    return services.connection_create(
        actor=superuser,
        organisation=pcn_a,
        base_url="https://emis.example.nhs.uk/fhir",
        asid_from="200000001234",
        asid_to="918999198738",
        client_secret=SECRET,
        partner_base_url="https://emis.example.nhs.uk/partner",
        partner_application_id=APPLICATION_ID,
        partner_token=TOKEN,
    )


def _tested(connection, ok=True):
    EmisConnection.objects.filter(pk=connection.pk).update(
        last_test_at=timezone.now(), last_test_ok=ok
    )
    connection.refresh_from_db()
    return connection


def _force(connection, status):
    EmisConnection.objects.filter(pk=connection.pk).update(status=status)
    connection.refresh_from_db()
    return connection


ALLOWED = [
    (S.REQUESTED, S.IN_PROGRESS),
    (S.REQUESTED, S.FAILED),
    (S.IN_PROGRESS, S.TESTING),
    (S.IN_PROGRESS, S.FAILED),
    (S.TESTING, S.LIVE),
    (S.TESTING, S.IN_PROGRESS),
    (S.TESTING, S.FAILED),
    (S.LIVE, S.SUSPENDED),
    (S.LIVE, S.FAILED),
    (S.SUSPENDED, S.LIVE),
    (S.SUSPENDED, S.IN_PROGRESS),
    (S.SUSPENDED, S.FAILED),
    (S.FAILED, S.IN_PROGRESS),
    (S.FAILED, S.TESTING),
]


@pytest.mark.parametrize(("from_status", "to_status"), ALLOWED)
def test_every_allowed_transition_is_made_and_audited(
    pcn_connection, superuser, from_status, to_status
):
    _tested(_force(pcn_connection, from_status))
    services.connection_change_status(
        actor=superuser, connection=pcn_connection, to_status=to_status, reason="because"
    )
    pcn_connection.refresh_from_db()
    assert pcn_connection.status == to_status
    assert pcn_connection.status_changed_by == superuser
    assert pcn_connection.status_reason == "because"
    entry = AuditEntry.objects.filter(action="emis_connection.status_changed").latest("id")
    assert entry.details == {"from": from_status, "to": to_status, "reason": "because"}
    assert entry.actor == superuser
    assert entry.organisation == pcn_connection.organisation


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (S.REQUESTED, S.LIVE),
        (S.REQUESTED, S.TESTING),
        (S.IN_PROGRESS, S.LIVE),
        (S.LIVE, S.REQUESTED),
        (S.LIVE, S.TESTING),
        (S.FAILED, S.LIVE),
        (S.SUSPENDED, S.TESTING),
        (S.LIVE, S.LIVE),
    ],
)
def test_illegal_jumps_are_refused_with_a_clear_message(
    pcn_connection, superuser, from_status, to_status
):
    _tested(_force(pcn_connection, from_status))
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        services.connection_change_status(
            actor=superuser, connection=pcn_connection, to_status=to_status, reason="x"
        )
    assert "Cannot move" in excinfo.value.messages[0]
    pcn_connection.refresh_from_db()
    assert pcn_connection.status == from_status
    assert AuditEntry.objects.count() == before


def test_live_needs_a_passed_test_newer_than_the_last_config_change(pcn_connection, superuser):
    _force(pcn_connection, S.TESTING)
    with pytest.raises(ValidationError, match="has not passed"):
        services.connection_change_status(
            actor=superuser, connection=pcn_connection, to_status=S.LIVE
        )
    _tested(pcn_connection, ok=False)
    with pytest.raises(ValidationError, match="has not passed"):
        services.connection_change_status(
            actor=superuser, connection=pcn_connection, to_status=S.LIVE
        )
    _tested(pcn_connection, ok=True)
    services.connection_update_config(
        actor=superuser, connection=pcn_connection, base_url="https://other.example.nhs.uk/fhir"
    )
    with pytest.raises(ValidationError, match="since its settings last changed"):
        services.connection_change_status(
            actor=superuser, connection=pcn_connection, to_status=S.LIVE
        )
    _tested(pcn_connection, ok=True)
    services.connection_change_status(actor=superuser, connection=pcn_connection, to_status=S.LIVE)
    assert pcn_connection.status == S.LIVE


@pytest.mark.parametrize("to_status", [S.SUSPENDED, S.FAILED])
def test_suspend_and_fail_need_a_reason(pcn_connection, superuser, to_status):
    _force(pcn_connection, S.LIVE)
    with pytest.raises(ValidationError, match="say why"):
        services.connection_change_status(
            actor=superuser, connection=pcn_connection, to_status=to_status, reason="  "
        )


def test_system_must_match_the_organisation_kind(practice_a, pcn_a, superuser):
    practice_connection = services.connection_create(actor=superuser, organisation=practice_a)
    assert practice_connection.system == "emis_web"
    practice_connection.system = "emis_community"
    with pytest.raises(ValidationError) as excinfo:
        practice_connection.full_clean()
    assert "connects through EMIS Web" in str(excinfo.value)


def test_one_connection_per_organisation_and_system(pcn_connection, pcn_a, superuser):
    with pytest.raises(ValidationError):
        services.connection_create(actor=superuser, organisation=pcn_a)
    assert EmisConnection.objects.filter(organisation=pcn_a).count() == 1


def test_credentials_are_encrypted_at_rest(pcn_connection):
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials_encrypted FROM emis_integration_emisconnection WHERE id = %s",
            [pcn_connection.pk],
        )
        raw = cursor.fetchone()[0]
    for secret in (SECRET, APPLICATION_ID, TOKEN):
        assert secret not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert decrypt_credentials(raw) == {
        "client_secret": SECRET,
        "partner_application_id": APPLICATION_ID,
        "partner_token": TOKEN,
    }
    audit_text = " ".join(str(e.details) for e in AuditEntry.objects.all())
    for secret in (SECRET, APPLICATION_ID, TOKEN):
        assert secret not in audit_text


def test_replacing_credentials_is_audited_without_the_secret(pcn_connection, superuser):
    services.connection_update_config(
        actor=superuser, connection=pcn_connection, client_secret="another-secret-value-9"
    )
    entry = AuditEntry.objects.filter(action="emis_connection.config_changed").latest("id")
    assert entry.details["changed"] == ["credentials"]
    assert "another-secret-value-9" not in str(entry.details)
    pcn_connection.refresh_from_db()
    # The Partner API secrets are kept: replacing one secret never drops the others.
    assert decrypt_credentials(pcn_connection.credentials_encrypted) == {
        "client_secret": "another-secret-value-9",
        "partner_application_id": APPLICATION_ID,
        "partner_token": TOKEN,
    }


def test_rotation_reencrypts_with_the_newest_key(pcn_connection, settings):
    from cryptography.fernet import Fernet

    old_token = pcn_connection.credentials_encrypted
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, *settings.FERNET_KEYS]
    call_command("rotate_emis_credentials")
    pcn_connection.refresh_from_db()
    assert pcn_connection.credentials_encrypted != old_token
    # Readable with the new key alone: the old key can now be dropped.
    settings.FERNET_KEYS = [new_key]
    assert decrypt_credentials(pcn_connection.credentials_encrypted)["client_secret"] == SECRET
    assert AuditEntry.objects.filter(action="emis_connection.credentials_rotated").exists()


def test_rotation_without_the_old_key_changes_nothing(pcn_connection, settings):
    from cryptography.fernet import Fernet
    from django.core.management.base import CommandError

    token = pcn_connection.credentials_encrypted
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_emis_credentials")
    pcn_connection.refresh_from_db()
    assert pcn_connection.credentials_encrypted == token


def test_endpoint_repr_hides_the_secret(pcn_connection):
    from emis_integration.selectors import endpoint_for

    endpoint = endpoint_for(connection=pcn_connection)
    assert endpoint.client_secret == SECRET
    assert SECRET not in repr(endpoint)
    assert SECRET not in str(endpoint)


def test_resume_needs_a_new_test_only_if_settings_changed_while_suspended(
    pcn_connection, superuser
):
    _force(pcn_connection, S.LIVE)
    services.connection_change_status(
        actor=superuser, connection=pcn_connection, to_status=S.SUSPENDED, reason="pause"
    )
    services.connection_change_status(actor=superuser, connection=pcn_connection, to_status=S.LIVE)
    assert pcn_connection.status == S.LIVE
    services.connection_change_status(
        actor=superuser, connection=pcn_connection, to_status=S.SUSPENDED, reason="pause"
    )
    services.connection_update_config(
        actor=superuser, connection=pcn_connection, asid_to="918999198999"
    )
    with pytest.raises(ValidationError, match="since its settings last changed"):
        services.connection_change_status(
            actor=superuser, connection=pcn_connection, to_status=S.LIVE
        )


# --- the Partner API settings ---------------------------------------------------------


@pytest.fixture
def bare_pcn_connection(pcn_a, superuser):
    """A PCN connection with GP Connect set up but no Partner API settings yet."""
    return services.connection_create(
        actor=superuser,
        organisation=pcn_a,
        base_url="https://emis.example.nhs.uk/fhir",
        asid_to="918999198738",
        client_secret=SECRET,
        status=S.TESTING,
    )


def test_partner_secrets_merge_with_the_client_secret(bare_pcn_connection, superuser):
    before = bare_pcn_connection.config_changed_at
    services.connection_update_config(
        actor=superuser, connection=bare_pcn_connection, partner_token=TOKEN
    )
    bare_pcn_connection.refresh_from_db()
    assert decrypt_credentials(bare_pcn_connection.credentials_encrypted) == {
        "client_secret": SECRET,
        "partner_token": TOKEN,
    }
    assert bare_pcn_connection.config_changed_at > before
    services.connection_update_config(
        actor=superuser,
        connection=bare_pcn_connection,
        partner_application_id=APPLICATION_ID,
        partner_base_url="https://emis.example.nhs.uk/partner",
    )
    bare_pcn_connection.refresh_from_db()
    assert bare_pcn_connection.partner_base_url == "https://emis.example.nhs.uk/partner"
    assert decrypt_credentials(bare_pcn_connection.credentials_encrypted) == {
        "client_secret": SECRET,
        "partner_application_id": APPLICATION_ID,
        "partner_token": TOKEN,
    }
    changes = [
        e.details["changed"]
        for e in AuditEntry.objects.filter(action="emis_connection.config_changed").order_by("id")
    ]
    assert changes == [["partner_token"], ["partner_base_url", "partner_application_id"]]
    audit_text = " ".join(str(e.details) for e in AuditEntry.objects.all())
    assert TOKEN not in audit_text
    assert APPLICATION_ID not in audit_text


def test_entering_the_same_secrets_again_is_no_change(pcn_connection, superuser):
    before = pcn_connection.config_changed_at
    audits = AuditEntry.objects.count()
    services.connection_update_config(
        actor=superuser,
        connection=pcn_connection,
        client_secret=SECRET,
        partner_application_id=APPLICATION_ID,
        partner_token=TOKEN,
        partner_base_url="https://emis.example.nhs.uk/partner",
    )
    pcn_connection.refresh_from_db()
    assert pcn_connection.config_changed_at == before
    assert AuditEntry.objects.count() == audits


def test_a_pcn_goes_live_only_with_its_partner_api_settings(bare_pcn_connection, superuser):
    _tested(bare_pcn_connection)
    with pytest.raises(ValidationError) as excinfo:
        services.connection_change_status(
            actor=superuser, connection=bare_pcn_connection, to_status=S.LIVE
        )
    message = excinfo.value.messages[0]
    assert "needs its EMIS Partner API settings" in message
    assert "Partner API base URL, Partner API application id and Partner API token" in message
    services.connection_update_config(
        actor=superuser,
        connection=bare_pcn_connection,
        partner_base_url="https://emis.example.nhs.uk/partner",
        partner_application_id=APPLICATION_ID,
    )
    _tested(bare_pcn_connection)
    with pytest.raises(ValidationError, match="Partner API token is not set"):
        services.connection_change_status(
            actor=superuser, connection=bare_pcn_connection, to_status=S.LIVE
        )
    # Adding the token is a settings change: the earlier test no longer counts.
    services.connection_update_config(
        actor=superuser, connection=bare_pcn_connection, partner_token=TOKEN
    )
    with pytest.raises(ValidationError, match="since its settings last changed"):
        services.connection_change_status(
            actor=superuser, connection=bare_pcn_connection, to_status=S.LIVE
        )
    _tested(bare_pcn_connection)
    services.connection_change_status(
        actor=superuser, connection=bare_pcn_connection, to_status=S.LIVE
    )
    assert bare_pcn_connection.status == S.LIVE
    assert bare_pcn_connection.status_reason == ""


def test_a_practice_goes_live_without_partner_api_settings(practice_a, superuser):
    connection = services.connection_create(
        actor=superuser,
        organisation=practice_a,
        base_url="https://emis.example.nhs.uk/fhir",
        asid_to="918999198738",
        client_secret=SECRET,
        status=S.TESTING,
    )
    _tested(connection)
    services.connection_change_status(actor=superuser, connection=connection, to_status=S.LIVE)
    assert connection.status == S.LIVE
    assert connection.partner_base_url == ""


def test_changing_the_partner_base_url_needs_a_new_test_to_resume(pcn_connection, superuser):
    _force(pcn_connection, S.LIVE)
    services.connection_change_status(
        actor=superuser, connection=pcn_connection, to_status=S.SUSPENDED, reason="pause"
    )
    services.connection_update_config(
        actor=superuser,
        connection=pcn_connection,
        partner_base_url="https://other.example.nhs.uk/partner",
    )
    with pytest.raises(ValidationError, match="since its settings last changed"):
        services.connection_change_status(
            actor=superuser, connection=pcn_connection, to_status=S.LIVE
        )


def test_unreadable_credentials_are_replaced_only_all_together(pcn_connection, superuser, settings):
    from cryptography.fernet import Fernet

    settings.FERNET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ValidationError, match="cannot be decrypted"):
        services.connection_update_config(
            actor=superuser, connection=pcn_connection, partner_token="new-token"
        )
    services.connection_update_config(
        actor=superuser,
        connection=pcn_connection,
        client_secret="new-secret",
        partner_application_id="new-app",
        partner_token="new-token",
    )
    pcn_connection.refresh_from_db()
    assert decrypt_credentials(pcn_connection.credentials_encrypted) == {
        "client_secret": "new-secret",
        "partner_application_id": "new-app",
        "partner_token": "new-token",
    }


def test_partner_endpoint_holds_the_secrets_but_never_prints_them(pcn_connection):
    from emis_integration.selectors import partner_client, partner_endpoint_for

    endpoint = partner_endpoint_for(connection=pcn_connection)
    assert endpoint.base_url == "https://emis.example.nhs.uk/partner"
    assert endpoint.application_id == APPLICATION_ID
    assert endpoint.token == TOKEN
    for text in (repr(endpoint), str(endpoint)):
        assert APPLICATION_ID not in text
        assert TOKEN not in text
    with partner_client(connection=pcn_connection) as client:
        assert client.base_url == "https://emis.example.nhs.uk/partner"
        assert client.calls == 0


def test_partner_client_needs_a_partner_base_url(bare_pcn_connection):
    from emis_integration.client import EmisRejected
    from emis_integration.selectors import partner_client

    with pytest.raises(EmisRejected, match="no EMIS Partner API base URL"):
        partner_client(connection=bare_pcn_connection)


def test_the_jwt_is_unsigned_unless_the_connection_signs_it(pcn_connection, superuser):
    from emis_integration.selectors import endpoint_for

    assert pcn_connection.sign_jwt is False  # the GP Connect form over Spine
    assert endpoint_for(connection=pcn_connection).sign_jwt is False
    services.connection_update_config(actor=superuser, connection=pcn_connection, sign_jwt=True)
    pcn_connection.refresh_from_db()
    assert pcn_connection.sign_jwt is True
    assert endpoint_for(connection=pcn_connection).sign_jwt is True
    entry = AuditEntry.objects.filter(action="emis_connection.config_changed").latest("id")
    assert entry.details["changed"] == ["sign_jwt"]
    assert entry.details["sign_jwt"] is True
    # None keeps it; the same value is no change.
    before = AuditEntry.objects.count()
    services.connection_update_config(actor=superuser, connection=pcn_connection, sign_jwt=None)
    services.connection_update_config(actor=superuser, connection=pcn_connection, sign_jwt=True)
    pcn_connection.refresh_from_db()
    assert pcn_connection.sign_jwt is True
    assert AuditEntry.objects.count() == before


def test_a_connection_can_be_created_signing(practice_a, superuser):
    connection = services.connection_create(
        actor=superuser, organisation=practice_a, client_secret=SECRET, sign_jwt=True
    )
    assert connection.sign_jwt is True
    entry = AuditEntry.objects.filter(action="emis_connection.created").latest("id")
    assert entry.details["sign_jwt"] is True
