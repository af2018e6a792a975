"""hippo-pcn's own EMIS certificate (EMIS_CLIENT_CERT, for mutual TLS): when it
expires, EMIS refuses every call, so every booking and every poll fails. Support
hears of it before then: /healthz reports it (failing once it has expired),
/metrics exports its expiry for Prometheus, and the scheduler's alert checks
email support once when it is within EMIS_CLIENT_CERT_WARN_DAYS of expiring and
once more if it expires; both clear when a renewed certificate is in place."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from hippo_pcn.health.alerts import alert_clear, alert_raise, support_emails

logger = logging.getLogger(__name__)

EXPIRING_ALERT = "emis-client-certificate-expiring"
EXPIRED_ALERT = "emis-client-certificate-expired"


@dataclass(frozen=True)
class CertificateState:
    configured: bool
    readable: bool = True
    subject: str = ""
    not_after: datetime | None = None
    days_left: float | None = None
    summary: str = ""

    @property
    def expired(self) -> bool:
        return self.days_left is not None and self.days_left <= 0

    @property
    def expiring(self) -> bool:
        return self.days_left is not None and self.days_left < settings.EMIS_CLIENT_CERT_WARN_DAYS

    @property
    def usable(self) -> bool:
        """EMIS can still accept it (or none is configured)."""
        return not self.configured or (self.readable and not self.expired)

    @property
    def needs_attention(self) -> bool:
        """Support must act: expiring, expired or unreadable."""
        return self.configured and (not self.readable or self.expiring)


def client_certificate_state(*, now: datetime | None = None) -> CertificateState:
    """The certificate in EMIS_CLIENT_CERT (the first in the file: the
    endpoint's own, before any chain), read afresh: a renewed file counts at
    once, without a restart of this check's process."""
    path = settings.EMIS_CLIENT_CERT
    if not path:
        return CertificateState(configured=False, summary="No client certificate configured.")
    now = now or timezone.now()
    try:
        certificate = x509.load_pem_x509_certificates(Path(path).read_bytes())[0]
    except (OSError, ValueError, IndexError) as exc:
        return CertificateState(
            configured=True,
            readable=False,
            summary=f"EMIS_CLIENT_CERT ({path}) cannot be read as a PEM certificate: {exc}",
        )
    not_after = certificate.not_valid_after_utc
    days_left = (not_after - now).total_seconds() / 86_400
    subject = certificate.subject.rfc4514_string()
    when = f"{timezone.localtime(not_after):%d %b %Y %H:%M}"
    if days_left <= 0:
        summary = (
            f"hippo-pcn's EMIS certificate ({subject}) expired on {when}: EMIS refuses "
            "every call until a renewed one is installed in EMIS_CLIENT_CERT."
        )
    else:
        days = round(days_left)
        left = "less than a day" if days < 1 else f"{days} day{'s' if days != 1 else ''}"
        summary = f"hippo-pcn's EMIS certificate ({subject}) expires on {when}, in {left}."
    return CertificateState(
        configured=True, subject=subject, not_after=not_after, days_left=days_left, summary=summary
    )


def client_certificate_health() -> dict[str, Any]:
    """For /healthz: failing once the certificate has expired (or cannot be
    read), when no call to EMIS can succeed; a warning while it is expiring."""
    state = client_certificate_state()
    if not state.configured:
        return {"ok": True, "configured": False}
    return {
        "ok": state.usable,
        "configured": True,
        "subject": state.subject,
        "expires_at": state.not_after.isoformat() if state.not_after else None,
        "days_left": round(state.days_left, 1) if state.days_left is not None else None,
        "expiring": state.expiring,
        "summary": state.summary,
    }


def client_certificate_metrics() -> Iterator[Metric]:
    expiry = GaugeMetricFamily(
        "hippo_emis_client_certificate_expiry_timestamp_seconds",
        "When hippo-pcn's EMIS client certificate (EMIS_CLIENT_CERT) expires, as a Unix "
        "time (absent: none configured, or it cannot be read).",
    )
    state = client_certificate_state()
    if state.not_after is not None:
        expiry.add_metric([], state.not_after.timestamp())
    yield expiry


def client_certificate_alert_check(*, now: datetime, runner: str) -> bool | None:
    """Raise (True) or clear (False) the certificate alerts; None when unchanged.
    Run with the scheduler's alert checks (hippo_pcn/health/alerts.py), so the
    first of beat, a worker or the cron command to see it sends the one email."""
    state = client_certificate_state(now=now)
    if not state.needs_attention:
        cleared = [alert_clear(name=EXPIRING_ALERT), alert_clear(name=EXPIRED_ALERT)]
        if any(cleared):
            logger.warning("EMIS client certificate alert cleared: %s", state.summary)
            return False
        return None
    name = EXPIRING_ALERT if state.usable else EXPIRED_ALERT
    if not alert_raise(name=name, detail=state.summary, runner=runner, now=now):
        return None
    logger.error("EMIS client certificate (seen by the %s): %s", runner, state.summary)
    recipients = support_emails()
    if recipients:
        subject = (
            "hippo-pcn: the EMIS certificate has expired"
            if name == EXPIRED_ALERT
            else "hippo-pcn: the EMIS certificate expires soon"
        )
        send_mail(
            subject=subject,
            message=(
                f"{state.summary}\n\n"
                "Without a valid certificate EMIS refuses hippo-pcn's calls: no booking "
                "into EMIS and no polling for the tracing worklist. Renew it, install it "
                "in EMIS_CLIENT_CERT (and EMIS_CLIENT_KEY): each process uses it from its "
                f"next call to EMIS. Noticed by the {runner}. This alert is sent once; it clears "
                "by itself when a renewed certificate is in place."
            ),
            from_email=None,
            recipient_list=recipients,
        )
    return True
