"""Poll health: support is alerted once when a live PCN connection is not being
polled, and the alert clears when polling recovers."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from emis_integration.models import EmisConnection
from tracing.models import PollCursor
from tracing.poller import poll_connection
from tracing.services import poll_health_check
from tracing.tasks import check_poll_health

from .helpers import simulate


def _age_connection(connection, seconds):
    """Make the connection look live (and unpolled) for `seconds`."""
    then = timezone.now() - timedelta(seconds=seconds)
    EmisConnection.objects.filter(pk=connection.pk).update(status_changed_at=then, created_at=then)
    PollCursor.objects.filter(connection=connection).update(last_success_at=then)


def test_alert_raised_after_twice_the_interval_once_and_cleared_after_success(
    pcn_connection, pcn_world, support_user, client_for, settings, caplog
):
    settings.TRACING_POLL_ALERT_AFTER_SECONDS = 600
    support_user.email = "support@example.nhs.uk"
    support_user.save()
    simulate(2)
    poll_connection(connection=pcn_connection)
    assert poll_health_check().raised == []
    _age_connection(pcn_connection, 599)
    assert poll_health_check().raised == []
    _age_connection(pcn_connection, 601)
    with caplog.at_level(logging.ERROR, logger="tracing.services"):
        result = poll_health_check()
    assert result.raised == [pcn_connection.pk]
    assert any(
        r.levelno == logging.ERROR and "no successful poll" in r.getMessage()
        for r in caplog.records
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["support@example.nhs.uk"]
    assert "Alpha PCN" in mail.outbox[0].subject
    # Every minute the check runs again: still one email, not one per minute.
    for _ in range(3):
        check_poll_health()
    assert len(mail.outbox) == 1
    # Support sees a banner on every admin page; a tracer does not.
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert "Tracing poller alert" in page
    # /healthz includes it (one stale connection of one: the poller looks down).
    health = client_for(support_user).get(reverse("healthz")).json()
    assert (
        health["checks"]["tracing_poll"]["stale_connections"][0]["connection"] == pcn_connection.pk
    )
    # Polling recovers: the alert clears.
    poll_connection(connection=pcn_connection)
    assert poll_health_check().cleared == [pcn_connection.pk]
    assert PollCursor.objects.get(connection=pcn_connection).alert_raised_at is None
    page = client_for(support_user).get(reverse("admin:index")).content.decode()
    assert "Tracing poller alert" not in page
    assert client_for(support_user).get(reverse("healthz")).json()["checks"]["tracing_poll"]["ok"]


def test_tracers_never_see_the_support_banner(pcn_connection, pcn_tracer, client_for, settings):
    settings.TRACING_POLL_ALERT_AFTER_SECONDS = 60
    _age_connection(pcn_connection, 3600)
    poll_health_check()
    page = client_for(pcn_tracer).get(reverse("admin:index")).content.decode()
    assert "Tracing poller alert" not in page


def test_failed_polls_show_last_error_in_admin(pcn_connection, pcn_world, support_user, client_for):
    pcn_world.faults("U10001", reject_auth=True)
    poll_connection(connection=pcn_connection)
    page = client_for(support_user).get(reverse("admin:tracing_pollcursor_changelist"))
    cursor = PollCursor.objects.get(connection=pcn_connection)
    assert cursor.last_error
    assert cursor.last_error[:40] in page.content.decode()
    runs = client_for(support_user).get(reverse("admin:tracing_pollrun_changelist"))
    assert "failed" in runs.content.decode().lower()


def test_an_alert_for_a_connection_no_longer_live_is_cleared(pcn_connection, settings):
    settings.TRACING_POLL_ALERT_AFTER_SECONDS = 60
    _age_connection(pcn_connection, 3600)
    assert poll_health_check().raised == [pcn_connection.pk]
    EmisConnection.objects.filter(pk=pcn_connection.pk).update(status="suspended")
    assert poll_health_check().cleared == [pcn_connection.pk]


def test_the_worklist_shows_the_pcns_poll_health(
    pcn_connection, pcn_tracer, other_pcn_tracer, client_for
):
    poll_connection(connection=pcn_connection)
    page = client_for(pcn_tracer).get(reverse("admin:tracing_tracingtask_changelist"))
    assert "Alpha PCN EMIS: last successful poll" in page.content.decode()
    other = client_for(other_pcn_tracer).get(reverse("admin:tracing_tracingtask_changelist"))
    assert "Alpha PCN" not in other.content.decode()
