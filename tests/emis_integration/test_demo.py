"""The demo EMIS connections: the PCNs reach the sandbox's Partner API with the
identities the sandbox holds, and a re-seed brings older connections up to date
without duplicating them."""

from datetime import timedelta
from io import StringIO

import pytest
from django.utils import timezone

from emis_integration import demo
from emis_integration.crypto import decrypt_credentials, encrypt_credentials
from emis_integration.demo_identities import (
    demo_client_secret,
    demo_partner_application_id,
    demo_partner_token,
)
from emis_integration.models import ConnectionStatus, EmisConnection
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.demo import seed_organisations_and_staff


@pytest.fixture
def seeded(db):
    seed_organisations_and_staff()
    demo.seed_demo(stdout=StringIO())


def test_demo_pcns_get_partner_api_settings_and_practices_do_not(seeded, settings):
    base = settings.EMIS_SANDBOX_BASE_URL.rstrip("/")
    for ods, status in [("U00001", ConnectionStatus.TESTING), ("U00002", ConnectionStatus.LIVE)]:
        connection = EmisConnection.objects.get(organisation__ods_code=ods)
        assert connection.status == status
        assert connection.base_url == f"{base}/{ods}/fhir"
        assert connection.partner_base_url == f"{base}/{ods}/partner"
        assert decrypt_credentials(connection.credentials_encrypted) == {
            "client_secret": demo_client_secret(ods),
            "partner_application_id": demo_partner_application_id(ods),
            "partner_token": demo_partner_token(ods),
        }
    practice = EmisConnection.objects.get(organisation__ods_code="A81001")
    assert practice.partner_base_url == ""
    assert set(decrypt_credentials(practice.credentials_encrypted)) == {"client_secret"}


def test_reseeding_gives_older_connections_the_partner_settings_once(seeded):
    # A PCN connection as an older seed left it: GP Connect only.
    EmisConnection.objects.filter(organisation__ods_code="U00002").update(
        partner_base_url="",
        credentials_encrypted=encrypt_credentials({"client_secret": demo_client_secret("U00002")}),
    )
    connections = EmisConnection.objects.count()
    out = StringIO()
    demo.seed_demo(stdout=out)
    assert "0 created, 1 given Partner API settings" in out.getvalue()
    assert EmisConnection.objects.count() == connections
    connection = EmisConnection.objects.get(organisation__ods_code="U00002")
    assert connection.partner_base_url.endswith("/U00002/partner")
    assert decrypt_credentials(connection.credentials_encrypted)["partner_token"] == (
        demo_partner_token("U00002")
    )
    assert connection.status == ConnectionStatus.LIVE
    audits = AuditEntry.objects.count()
    again = StringIO()
    demo.seed_demo(stdout=again)
    assert "0 created, 0 given Partner API settings" in again.getvalue()
    assert AuditEntry.objects.count() == audits


def test_the_live_demo_pcn_reaches_the_sandbox_partner_api(seeded, emis_in_process):
    from emis_integration.sandbox import demo as sandbox_demo
    from emis_integration.selectors import partner_client

    sandbox_demo.seed_demo(stdout=StringIO())
    connection = EmisConnection.objects.get(organisation__ods_code="U00002")
    today = timezone.localdate()
    with partner_client(connection=connection) as client:
        sessions = client.appointment_sessions(start=today, end=today + timedelta(days=14))
    assert client.calls == 1
    assert client.warnings == []
    assert sessions, "the demo sandbox seeds sessions for Hillside PCN"
