"""EMIS over https: certificates verified against the public CAs or the bundle in
EMIS_CA_BUNDLE, hippo-pcn's own certificate presented for mutual TLS
(EMIS_CLIENT_CERT), one TLS context per process shared by every client, and a
certificate that fails said in plain words (not "refused or not found")."""

import ssl
from datetime import date

import pytest
import trustme

from emis_integration import services
from emis_integration.checks import emis_tls_loads
from emis_integration.client import EmisUnavailable
from emis_integration.client.partner import PartnerApiClient, PartnerEndpoint
from emis_integration.client.transport import TlsConfig, tls_context
from emis_integration.models import ConnectionStatus as S
from emis_integration.models import EmisConnection
from emis_integration.selectors import emis_tls, partner_client

from .fault_server import FaultServer, Reply

TODAY = date.today()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def _https_emis(ca, *, client_certificate_required: bool):
    """An https server on 127.0.0.1 whose certificate a private CA issued; with
    `client_certificate_required`, as Spine does, it accepts only clients
    presenting a certificate that CA issued."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_certificate_required:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    server = FaultServer(tls=context)
    server.default = Reply(200, {"appointmentSession": []})
    return server


@pytest.fixture
def https_emis(ca):
    with _https_emis(ca, client_certificate_required=False) as server:
        yield server


@pytest.fixture
def mutual_tls_emis(ca):
    with _https_emis(ca, client_certificate_required=True) as server:
        yield server


@pytest.fixture
def ca_bundle(ca, tmp_path):
    path = tmp_path / "emis-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def client_cert(ca, tmp_path):
    """hippo-pcn's endpoint certificate and key, in one PEM file."""
    path = tmp_path / "hippo-pcn-endpoint.pem"
    ca.issue_cert("hippo-pcn.example.nhs.uk").private_key_and_cert_chain_pem.write_to_path(
        str(path)
    )
    return str(path)


def _client(server, **endpoint):
    return PartnerApiClient(
        PartnerEndpoint(
            base_url=f"{server.root_url}/partner", application_id="app", token="t0k", **endpoint
        ),
        max_retries=0,
    )


def test_a_certificate_from_an_untrusted_ca_is_refused_in_plain_words(https_emis):
    with _client(https_emis) as client, pytest.raises(EmisUnavailable) as caught:
        client.appointment_sessions(start=TODAY, end=TODAY)
    message = caught.value.message
    assert "could not connect to" in message.lower() and "securely" in message
    assert "certificate could not be verified" in message
    assert "EMIS_CA_BUNDLE" in message
    assert "refused or the host was not found" not in message
    assert https_emis.seen == []  # nothing reached EMIS


def test_the_ca_bundle_is_trusted_when_configured(https_emis, ca_bundle):
    with _client(https_emis, tls=TlsConfig(ca_bundle=ca_bundle)) as client:
        assert client.appointment_sessions(start=TODAY, end=TODAY) == []
    assert len(https_emis.seen) == 1


def test_plain_http_at_an_https_address_is_a_failed_handshake(ca_bundle):
    with FaultServer() as server:
        url = server.root_url.replace("http://", "https://")
        endpoint = PartnerEndpoint(base_url=url, tls=TlsConfig(ca_bundle=ca_bundle))
        client = PartnerApiClient(endpoint, max_retries=0)
        with client, pytest.raises(EmisUnavailable) as caught:
            client.appointment_sessions(start=TODAY, end=TODAY)
    assert "TLS handshake failed" in caught.value.message


def test_hippo_pcns_certificate_is_presented_when_emis_asks(
    mutual_tls_emis, ca_bundle, client_cert
):
    no_certificate = _client(mutual_tls_emis, tls=TlsConfig(ca_bundle=ca_bundle))
    with no_certificate as client, pytest.raises(EmisUnavailable) as caught:
        client.appointment_sessions(start=TODAY, end=TODAY)
    assert "asked for hippo-pcn's own certificate" in caught.value.message
    assert "EMIS_CLIENT_CERT" in caught.value.message
    assert mutual_tls_emis.seen == []

    tls = TlsConfig(ca_bundle=ca_bundle, client_cert=client_cert)
    with _client(mutual_tls_emis, tls=tls) as client:
        assert client.appointment_sessions(start=TODAY, end=TODAY) == []
    assert len(mutual_tls_emis.seen) == 1


def test_every_client_of_a_process_shares_one_verifying_context(
    emis_world, ca_bundle, client_cert, settings
):
    settings.EMIS_CA_BUNDLE = ca_bundle
    settings.EMIS_CLIENT_CERT = client_cert
    assert emis_tls() == TlsConfig(ca_bundle=ca_bundle, client_cert=client_cert)
    connection = emis_world.connections["U10001"]
    first, second = partner_client(connection=connection), partner_client(connection=connection)
    try:
        assert first.endpoint.tls == second.endpoint.tls == emis_tls()
        assert tls_context() is tls_context(TlsConfig())
        assert tls_context(emis_tls()) is tls_context(emis_tls())
        assert tls_context(emis_tls()) is not tls_context()
        for context in (tls_context(), tls_context(emis_tls())):
            assert context.verify_mode == ssl.CERT_REQUIRED
            assert context.check_hostname
    finally:
        first.close()
        second.close()


def test_support_sees_the_certificate_failure_when_testing_a_connection(
    emis_world, superuser, https_emis, settings
):
    settings.EMIS_HTTP_TRANSPORT_FACTORY = ""  # real sockets from here on
    connection = emis_world.connections["U10001"]
    EmisConnection.objects.filter(pk=connection.pk).update(status=S.TESTING)
    connection.refresh_from_db()
    services.connection_update_config(
        actor=superuser, connection=connection, base_url=f"{https_emis.root_url}/fhir"
    )
    result = services.connection_test(actor=superuser, connection=connection)
    assert not result.ok
    assert "certificate could not be verified" in result.message
    connection.refresh_from_db()
    assert connection.status == S.TESTING
    assert "certificate could not be verified" in connection.last_test_message


@pytest.fixture
def encrypted_client_key(ca, tmp_path):
    """hippo-pcn's certificate in one file and its key, encrypted, in another."""
    from cryptography.hazmat.primitives import serialization

    issued = ca.issue_cert("hippo-pcn.example.nhs.uk")
    cert = tmp_path / "endpoint.crt"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    encrypted = tmp_path / "endpoint.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-passphrase-42"),
        )
    )
    return str(cert), str(encrypted)


def test_an_encrypted_key_is_unlocked_with_its_password_and_never_prompted_for(
    mutual_tls_emis, ca_bundle, encrypted_client_key
):
    cert, key = encrypted_client_key
    locked = TlsConfig(ca_bundle=ca_bundle, client_cert=cert, client_key=key)
    with pytest.raises(ssl.SSLError):  # no password: an error at once, not a prompt
        tls_context(locked)
    tls = TlsConfig(
        ca_bundle=ca_bundle, client_cert=cert, client_key=key, key_password="key-passphrase-42"
    )
    assert "key-passphrase-42" not in repr(tls)
    with _client(mutual_tls_emis, tls=tls) as client:
        assert client.appointment_sessions(start=TODAY, end=TODAY) == []


def test_the_system_check_reports_a_tls_set_up_that_cannot_load(
    settings, tmp_path, ca_bundle, encrypted_client_key
):
    assert emis_tls_loads() == []
    not_a_bundle = tmp_path / "not-a-bundle.pem"
    not_a_bundle.write_text("this is not a certificate")
    settings.EMIS_CA_BUNDLE = str(not_a_bundle)
    (error,) = emis_tls_loads()
    assert error.id == "emis_integration.E001"
    assert "cannot be loaded" in error.msg
    settings.EMIS_CA_BUNDLE = ca_bundle
    settings.EMIS_CLIENT_CERT, settings.EMIS_CLIENT_KEY = encrypted_client_key
    (error,) = emis_tls_loads()
    assert "EMIS_CLIENT_KEY_PASSWORD" in error.hint
    settings.EMIS_CLIENT_KEY_PASSWORD = "key-passphrase-42"
    assert emis_tls_loads() == []
