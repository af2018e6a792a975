"""hippo-pcn's EMIS certificate (EMIS_CLIENT_CERT): its expiry reported on
/healthz and /metrics, support emailed once as it nears expiry and once when it
has expired, both cleared by a renewed certificate, which the TLS set-up uses
without a restart."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from django.core import mail
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from emis_integration.certificates import (
    EXPIRED_ALERT,
    EXPIRING_ALERT,
    client_certificate_alert_check,
    client_certificate_state,
)
from emis_integration.client.transport import TlsConfig, tls_context
from hippo_pcn.health.models import HealthAlert

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HEALTHZ_TOKEN = "monitor-token-for-the-certificate-check"


@pytest.fixture
def ca():
    return trustme.CA()


@pytest.fixture
def certificate(ca, tmp_path, settings):
    """Writes hippo-pcn's certificate, expiring at `not_after`, where
    EMIS_CLIENT_CERT points; returns its path."""
    path = tmp_path / "hippo-pcn-endpoint.pem"
    settings.EMIS_CLIENT_CERT = str(path)
    settings.EMIS_CLIENT_CERT_WARN_DAYS = 30

    def write(not_after: datetime) -> str:
        issued = ca.issue_cert(
            "hippo-pcn.example.nhs.uk",
            common_name="hippo-pcn.example.nhs.uk",
            not_before=NOW - timedelta(days=365),
            not_after=not_after,
        )
        issued.private_key_and_cert_chain_pem.write_to_path(str(path))
        return str(path)

    return write


@pytest.fixture
def support_with_email(support_user):
    support_user.email = "support@example.nhs.uk"
    support_user.save()
    return support_user


def _healthz(client, settings):
    settings.HEALTHZ_TOKEN = HEALTHZ_TOKEN
    return client.get(reverse("healthz"), HTTP_AUTHORIZATION=f"Bearer {HEALTHZ_TOKEN}")


def test_without_a_client_certificate_nothing_is_reported(db, client, settings):
    settings.EMIS_CLIENT_CERT = ""
    assert client_certificate_state().configured is False
    assert client_certificate_alert_check(now=NOW, runner="beat") is None
    check = _healthz(client, settings).json()["checks"]["emis_client_certificate"]
    assert check == {"ok": True, "configured": False}


def test_expiry_on_healthz_and_metrics(db, client, settings, certificate):
    not_after = datetime.now(UTC) + timedelta(days=90)
    certificate(not_after)
    response = _healthz(client, settings)
    check = response.json()["checks"]["emis_client_certificate"]
    assert check["ok"] is True and check["expiring"] is False
    assert 89 < check["days_left"] <= 90
    assert "hippo-pcn.example.nhs.uk" in check["subject"]

    metrics = client.get("/metrics").content.decode()
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
    }
    expiry = values["hippo_emis_client_certificate_expiry_timestamp_seconds"]
    assert expiry == pytest.approx(not_after.replace(microsecond=0).timestamp())


def test_the_days_left_are_said_as_the_check_rounds_them(db, certificate):
    certificate(NOW + timedelta(days=19, hours=23))
    state = client_certificate_state(now=NOW)
    assert "in 20 days" in state.summary
    certificate(NOW + timedelta(hours=5))
    assert "in less than a day" in client_certificate_state(now=NOW).summary
    certificate(NOW + timedelta(days=1, hours=2))
    assert "in 1 day." in client_certificate_state(now=NOW).summary


def test_an_expired_certificate_fails_healthz(db, client, settings, certificate):
    certificate(datetime.now(UTC) - timedelta(hours=1))
    response = _healthz(client, settings)
    assert response.status_code == 503
    check = response.json()["checks"]["emis_client_certificate"]
    assert check["ok"] is False
    assert "expired on" in check["summary"]


def test_support_is_told_once_before_expiry_once_at_it_and_both_clear(
    db, certificate, support_with_email
):
    certificate(NOW + timedelta(days=20))
    assert client_certificate_alert_check(now=NOW, runner="beat") is True
    assert client_certificate_alert_check(now=NOW, runner="worker") is None  # told once
    (expiring,) = mail.outbox
    assert expiring.subject == "hippo-pcn: the EMIS certificate expires soon"
    assert "in 20 days" in expiring.body
    assert expiring.to == ["support@example.nhs.uk"]

    later = NOW + timedelta(days=21)
    assert client_certificate_alert_check(now=later, runner="beat") is True
    assert client_certificate_alert_check(now=later, runner="command") is None
    assert mail.outbox[1].subject == "hippo-pcn: the EMIS certificate has expired"
    assert "EMIS refuses every call" in mail.outbox[1].body

    certificate(NOW + timedelta(days=400))  # renewed
    assert client_certificate_alert_check(now=later, runner="beat") is False
    assert not HealthAlert.objects.filter(
        name__in=[EXPIRING_ALERT, EXPIRED_ALERT], raised_at__isnull=False
    ).exists()
    assert len(mail.outbox) == 2


def test_an_unreadable_certificate_is_an_alert_and_a_failing_check(
    db, client, settings, tmp_path, support_with_email
):
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate")
    settings.EMIS_CLIENT_CERT = str(broken)
    assert client_certificate_alert_check(now=NOW, runner="beat") is True
    assert "cannot be read as a PEM certificate" in mail.outbox[0].body
    assert _healthz(client, settings).status_code == 503


def test_a_renewed_certificate_is_used_without_a_restart(certificate):
    path = certificate(NOW + timedelta(days=20))
    tls = TlsConfig(client_cert=path)
    before = tls_context(tls)
    assert tls_context(tls) is before  # loaded once while the file is unchanged
    certificate(NOW + timedelta(days=400))
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert tls_context(tls) is not before


def test_support_sees_a_banner_on_admin_pages_others_do_not(
    client_for, support_user, pcn_admin, certificate
):
    certificate(datetime.now(UTC) + timedelta(days=10))
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert 'data-testid="emis-certificate-alert"' in page
    assert "EMIS certificate expiring:" in page
    assert "in 10 days" in page
    assert 'data-testid="emis-certificate-alert"' not in (
        client_for(pcn_admin).get(reverse("admin:index")).content.decode()
    )

    certificate(datetime.now(UTC) + timedelta(days=400))  # renewed: gone at once
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert 'data-testid="emis-certificate-alert"' not in page


def test_no_banner_without_a_client_certificate(client_for, support_user, settings):
    settings.EMIS_CLIENT_CERT = ""
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert 'data-testid="emis-certificate-alert"' not in page


def test_the_banner_says_an_expired_certificate_is_not_usable(
    client_for, support_user, certificate
):
    certificate(datetime.now(UTC) - timedelta(days=1))
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert "EMIS certificate not usable:" in page
    assert "Until a renewed one is installed in EMIS_CLIENT_CERT" in page
    assert "before then" not in page
