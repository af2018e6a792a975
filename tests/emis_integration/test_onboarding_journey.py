"""The onboarding journey a practice can follow: support's reason for a failed or
suspended connection shown to the practices, a second practice joining the open
request, the requesters emailed once when the PCN goes live, the PCN's campaigns
refreshed at once, and the demo seed that makes it all reachable (on any PORT)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from booking.models import Campaign, CampaignStatus
from emis_integration import services
from emis_integration.demo import seed_demo as seed_emis_connections
from emis_integration.models import (
    ConnectionStatus,
    EmisConnection,
    OnboardingRequest,
    OnboardingStatus,
)
from emis_integration.selectors import pcn_connection_diagnosis, reason_for_practices
from emis_integration.tasks import send_onboarding_live_email
from hippo_pcn.organisations.demo import seed_organisations_and_staff
from hippo_pcn.organisations.models import Membership, Organisation
from hippo_pcn.outbox.models import OutboxMessage
from tests.emis_world import EmisWorld
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
REFRESH_TASK = "booking.tasks.refresh_campaign_slots"


@pytest.fixture
def second_practice_staff(practice_a2):
    user = UserFactory(username="a2.staff", email="a2.staff@example.nhs.uk")
    Membership.objects.create(user=user, organisation=practice_a2, role="practice_staff")
    return user


def _raise(user, practice, email):
    return services.onboarding_request_raise(
        user=user, practice=practice, contact_name="Pat Manager", contact_email=email
    )


def _testing_connection(pcn, members) -> EmisConnection:
    """The PCN's EMIS Community in testing, with all its settings and a passed test."""
    world = EmisWorld(base_url="http://localhost").add_pcn(
        pcn, members, status=ConnectionStatus.TESTING
    )
    connection = world.connections[pcn.ods_code]
    EmisConnection.objects.filter(pk=connection.pk).update(
        last_test_ok=True, last_test_at=timezone.now() + timedelta(seconds=1)
    )
    connection.refresh_from_db()
    return connection


def _campaign(practice, *, status=CampaignStatus.ACTIVE, use_pcn_slots=True, name="Flu"):
    today = timezone.localdate()
    return Campaign.objects.create(
        practice=practice,
        created_by=UserFactory(),
        name=name,
        appointment_type="Flu vaccination",
        start_date=today,
        end_date=today + timedelta(days=27),
        use_pcn_slots=use_pcn_slots,
        status=status,
    )


# --- support's reason, shown to the practices ----------------------------------------


@pytest.mark.parametrize(
    ("to_status", "reason"),
    [
        (ConnectionStatus.FAILED, "EMIS has not sent the PCN's Partner API token yet."),
        (ConnectionStatus.SUSPENDED, "EMIS Community is down for maintenance until Monday."),
    ],
)
def test_practices_see_supports_reason(
    client_for, practice_staff, practice_a, practice_a2, pcn_a, support_user, to_status, reason
):
    connection = _testing_connection(pcn_a, [practice_a, practice_a2])
    if to_status == ConnectionStatus.SUSPENDED:
        services.connection_change_status(
            actor=support_user, connection=connection, to_status=ConnectionStatus.LIVE
        )
    services.connection_change_status(
        actor=support_user, connection=connection, to_status=to_status, reason=reason
    )
    diagnosis = pcn_connection_diagnosis(practice=practice_a)
    assert diagnosis.state == to_status
    assert diagnosis.support_reason == reason

    page = client_for(practice_staff).get(reverse("emis_integration:pcn_connection"))
    html = page.content.decode()
    assert "Reason given by the support team:" in html
    assert reason.replace("'", "&#x27;") in html


def test_the_reason_leaves_out_addresses_and_codes():
    said = (
        "EMIS refused http://emis.example/fhir for ASID 918273645512 "
        "(token demo-papi-0123456789abcdef); we have asked them."
    )
    assert reason_for_practices("See (https://emis.example/t/1), then ask.") == (
        "See ((address not shown)), then ask."
    )
    shown = reason_for_practices(said)
    assert "http" not in shown and "918273645512" not in shown and "0123456789" not in shown
    assert shown.startswith("EMIS refused (address not shown) for ASID (code not shown)")
    assert shown.endswith("we have asked them.")


def test_no_reason_shown_for_other_states(practice_a, practice_a2, pcn_a):
    connection = _testing_connection(pcn_a, [practice_a, practice_a2])
    EmisConnection.objects.filter(pk=connection.pk).update(status_reason="Internal note #12")
    assert pcn_connection_diagnosis(practice=practice_a).support_reason == ""


# --- a second practice joins from the page ------------------------------------------


def test_a_second_practice_joins_the_open_request_from_the_page(
    client_for, practice_staff, practice_a, practice_a2, second_practice_staff
):
    request, _ = _raise(practice_staff, practice_a, "first@example.nhs.uk")
    client = client_for(second_practice_staff)
    url = reverse("emis_integration:pcn_connection")
    page = client.get(url).content.decode()
    assert 'data-testid="join-onboarding"' in page
    assert f"Add {practice_a2.name} to this request" in page

    response = client.post(
        reverse("emis_integration:onboarding_request_create"),
        {
            "practice": practice_a2.pk,
            "next": url,
            "contact_name": "Alex Second",
            "contact_email": "a2.staff@example.nhs.uk",
        },
    )
    assert response.status_code == 302
    assert OnboardingRequest.objects.count() == 1
    assert set(request.requesters.values_list("practice__ods_code", flat=True)) == {
        practice_a.ods_code,
        practice_a2.ods_code,
    }
    page = client.get(url).content.decode()
    assert 'data-testid="join-onboarding"' not in page
    assert 'data-joined="yes"' in page
    assert "already requested; you have been added" in page


def test_joining_is_offered_while_support_works_on_the_connection(
    practice_staff, practice_a, practice_a2, pcn_a, support_user
):
    request, _ = _raise(practice_staff, practice_a, "first@example.nhs.uk")
    connection = services.onboarding_request_start(actor=support_user, request=request)
    services.connection_change_status(
        actor=support_user, connection=connection, to_status="failed", reason="No details yet."
    )
    diagnosis = pcn_connection_diagnosis(practice=practice_a2)
    assert diagnosis.state == "failed"
    assert diagnosis.can_join_request
    assert not pcn_connection_diagnosis(practice=practice_a).can_join_request


# --- going live: one email per requester, the PCN's campaigns refreshed ----------


def test_going_live_emails_every_requester_exactly_once(
    django_capture_on_commit_callbacks,
    practice_staff,
    practice_a,
    practice_a2,
    pcn_a,
    second_practice_staff,
    support_user,
):
    request, _ = _raise(practice_staff, practice_a, "first@example.nhs.uk")
    _raise(second_practice_staff, practice_a2, "second@example.nhs.uk")
    connection = _testing_connection(pcn_a, [practice_a, practice_a2])
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.connection_change_status(
            actor=support_user, connection=connection, to_status=ConnectionStatus.LIVE
        )

    assert sorted(m.to[0] for m in mail.outbox) == ["first@example.nhs.uk", "second@example.nhs.uk"]
    assert all(len(m.to) == 1 for m in mail.outbox)  # nobody sees the other's address
    message = mail.outbox[0]
    assert message.subject == "Alpha PCN's slots are now in hippo-pcn"
    assert "is now live" in message.body
    assert "/emis/pcn-connection/" in message.body
    request.refresh_from_db()
    assert request.status == OnboardingStatus.DONE
    assert request.live_notified_at is not None
    row = OutboxMessage.objects.get(task="emis_integration.tasks.send_onboarding_live_email")
    assert row.args == [request.pk] and row.published_at is not None

    # Delivered again (a relay publishing twice, acks_late): nothing more is sent.
    send_onboarding_live_email(request.pk)
    assert services.onboarding_live_notify(request_id=request.pk) == 0
    assert len(mail.outbox) == 2

    # Suspended and resumed: the request was closed at the first go-live, so no email.
    services.connection_change_status(
        actor=support_user, connection=connection, to_status="suspended", reason="Maintenance."
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_change_status(
            actor=support_user, connection=connection, to_status=ConnectionStatus.LIVE
        )
    assert len(mail.outbox) == 2


def test_the_email_survives_a_broker_outage_in_the_outbox(
    practice_staff, practice_a, practice_a2, pcn_a, support_user
):
    """Without the commit (as when the broker is down) the email waits as an
    outbox row written in the go-live transaction; the relay sends it later."""
    request, _ = _raise(practice_staff, practice_a, "first@example.nhs.uk")
    connection = _testing_connection(pcn_a, [practice_a, practice_a2])
    mail.outbox.clear()
    services.connection_change_status(
        actor=support_user, connection=connection, to_status=ConnectionStatus.LIVE
    )
    row = OutboxMessage.objects.get(task="emis_integration.tasks.send_onboarding_live_email")
    assert row.published_at is None and row.args == [request.pk]
    assert mail.outbox == []


def test_going_live_queues_a_refresh_of_the_pcns_active_campaigns(
    practice_a, practice_a2, practice_b, pcn_a, support_user
):
    flu = _campaign(practice_a, name="Flu")
    checks = _campaign(practice_a2, name="Health checks")
    _campaign(practice_a, name="Draft", status=CampaignStatus.DRAFT)
    _campaign(practice_a, name="Own slots only", use_pcn_slots=False)
    _campaign(practice_b, name="Another PCN's practice")
    connection = _testing_connection(pcn_a, [practice_a, practice_a2])

    services.connection_change_status(
        actor=support_user, connection=connection, to_status=ConnectionStatus.LIVE
    )

    queued = OutboxMessage.objects.filter(task=REFRESH_TASK, published_at__isnull=True)
    assert sorted(row.args[0] for row in queued) == sorted([flu.pk, checks.pk])
    assert {row.dedupe_key for row in queued} == {
        f"refresh-campaign-slots:{flu.pk}",
        f"refresh-campaign-slots:{checks.pk}",
    }


def test_going_live_shows_the_pcns_slots_at_once(
    django_capture_on_commit_callbacks,
    emis_in_process,
    practice_a,
    practice_a2,
    pcn_a,
    support_user,
):
    """With the task run (eagerly, as a worker would at once), the campaign has
    the PCN's slots without anyone pressing Refresh."""
    from booking.models import Slot
    from tests.emis_world import at

    world = EmisWorld(base_url="http://localhost").add_pcn(
        pcn_a, [practice_a, practice_a2], status=ConnectionStatus.TESTING
    )
    world.add_practice(practice_a)
    world.slots(pcn_a.ods_code, [at(1, 9), at(1, 10)])
    connection = world.connections[pcn_a.ods_code]
    EmisConnection.objects.filter(pk=connection.pk).update(
        last_test_ok=True, last_test_at=timezone.now() + timedelta(seconds=1)
    )
    campaign = _campaign(practice_a)
    assert not Slot.objects.filter(connection=connection).exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.connection_change_status(
            actor=support_user, connection=connection, to_status=ConnectionStatus.LIVE
        )

    assert Slot.objects.filter(connection=connection).count() == 2
    assert campaign.pk in OutboxMessage.objects.filter(task=REFRESH_TASK).values_list(
        "args__0", flat=True
    )


# --- the demo seed ---------------------------------------------------------------


def test_seed_has_a_pcn_with_no_connection_whose_practices_can_request(db):
    call_command("seed_demo", stdout=StringIO())
    brookside = Organisation.objects.get(ods_code="U00003")
    assert brookside.name == "Brookside PCN"
    assert not EmisConnection.objects.filter(organisation=brookside).exists()
    practices = list(brookside.member_practices.order_by("ods_code"))
    assert [p.ods_code for p in practices] == ["D84001", "D84002"]
    for practice in practices:
        assert EmisConnection.objects.get(organisation=practice).status == ConnectionStatus.LIVE
        diagnosis = pcn_connection_diagnosis(practice=practice)
        assert diagnosis.state == "not_connected"
        assert diagnosis.can_request_onboarding
        for suffix in ("admin", "staff"):
            assert Membership.objects.filter(
                user__username=f"{practice.ods_code.lower()}.{suffix}", organisation=practice
            ).exists()
    # The other seeded states are kept.
    assert EmisConnection.objects.get(organisation__ods_code="U00001").status == "testing"
    assert EmisConnection.objects.get(organisation__ods_code="U00002").status == "live"


def test_reseeding_on_another_port_moves_the_stored_sandbox_urls(db, settings):
    seed_organisations_and_staff()
    settings.EMIS_SANDBOX_BASE_URL = "http://127.0.0.1:8000/emis-sandbox"
    seed_emis_connections(stdout=StringIO())
    elsewhere = EmisConnection.objects.get(organisation__ods_code="A81001")
    EmisConnection.objects.filter(pk=elsewhere.pk).update(base_url="https://emis.example/fhir")

    settings.EMIS_SANDBOX_BASE_URL = "http://127.0.0.1:8123/emis-sandbox"
    out = StringIO()
    seed_emis_connections(stdout=out)
    assert "0 created" in out.getvalue()
    for connection in EmisConnection.objects.exclude(pk=elsewhere.pk):
        assert connection.base_url.startswith("http://127.0.0.1:8123/emis-sandbox/")
        assert connection.base_url.endswith(f"/{connection.organisation.ods_code}/fhir")
        if connection.uses_partner_api:
            assert connection.partner_base_url == (
                f"http://127.0.0.1:8123/emis-sandbox/{connection.organisation.ods_code}/partner"
            )
    # A URL that is not the sandbox's is support's to change, not the seed's.
    elsewhere.refresh_from_db()
    assert elsewhere.base_url == "https://emis.example/fhir"
    assert EmisConnection.objects.get(organisation__ods_code="U00002").status == "live"

    again = StringIO()
    seed_emis_connections(stdout=again)
    assert "0 moved" in again.getvalue()


def test_demo_emis_details_enters_the_sandboxs_details_once_onboarding_started(db, settings):
    from django.core.management.base import CommandError

    from emis_integration.selectors import partner_settings_missing

    seed_organisations_and_staff()
    settings.EMIS_SANDBOX_BASE_URL = "http://127.0.0.1:8123/emis-sandbox"
    with pytest.raises(CommandError, match="start its onboarding request"):
        call_command("demo_emis_details", "U00003", stdout=StringIO())

    practice = Organisation.objects.get(ods_code="D84001")
    user = Membership.objects.get(organisation=practice, role="practice_admin").user
    request, _ = _raise(user, practice, "d84001.admin@demo.hippo-pcn.invalid")
    support = get_user_model().objects.get(username="support")
    connection = services.onboarding_request_start(actor=support, request=request)
    assert connection.base_url == ""

    call_command("demo_emis_details", "u00003", stdout=StringIO())
    connection.refresh_from_db()
    assert connection.base_url == "http://127.0.0.1:8123/emis-sandbox/U00003/fhir"
    assert connection.partner_base_url == "http://127.0.0.1:8123/emis-sandbox/U00003/partner"
    assert connection.asid_to and partner_settings_missing(connection=connection) == []
    assert connection.status == ConnectionStatus.IN_PROGRESS  # support still tests it


# --- one PORT setting ------------------------------------------------------------

HIDDEN = {
    "PORT",
    "DEMO_PORT",
    "EMIS_SANDBOX_BASE_URL",
    "PUBLIC_BASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run our own manage.py, script or make, with this environment on top of a
    clean one (no PORT or URLs from the caller's shell)."""
    clean = {key: value for key, value in os.environ.items() if key not in HIDDEN}
    return subprocess.run(  # noqa: S603 - our own commands
        args, env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, str(ROOT / "manage.py"), *args], **env)


PRINT_URLS = (
    "from django.conf import settings as s; print(s.PUBLIC_BASE_URL); "
    "print(s.EMIS_SANDBOX_BASE_URL)"
)


def test_port_8123_drives_the_settings_and_runserver(tmp_path):
    env = {
        "PORT": "8123",
        "DJANGO_SETTINGS_MODULE": "hippo_pcn.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
    }
    printed = _manage("shell", "--no-imports", "-c", PRINT_URLS, **env)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.split() == ["http://127.0.0.1:8123", "http://127.0.0.1:8123/emis-sandbox"]

    # The seed stores what EMIS_SANDBOX_BASE_URL says (shown in-process by
    # test_reseeding_on_another_port_moves_the_stored_sandbox_urls), so the stored
    # connections follow PORT too; a whole migrate + seed_demo here would only
    # repeat that at minutes' cost.

    # honcho gives the worker PORT+100 and beat PORT+200; `make demo` hands every
    # process the web port as DEMO_PORT, and the settings follow it.
    worker = _manage(
        "shell", "--no-imports", "-c", PRINT_URLS, **{**env, "PORT": "8223", "DEMO_PORT": "8123"}
    )
    assert worker.stdout.split()[0] == "http://127.0.0.1:8123"

    # The Procfile's web process serves on that port.
    web = next(
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    command = _run(["/bin/sh", "-c", f"echo {web}"], PORT="8223", DEMO_PORT="8123").stdout
    assert "runserver 127.0.0.1:8123 " in command
    alone = _run(["/bin/sh", "-c", f"echo {web}"], PORT="8123").stdout
    assert "runserver 127.0.0.1:8123 " in alone

    # `make demo` checks that port first, and says where it serves.
    plan = _run(["/usr/bin/make", "-n", "demo"], PORT="8123").stdout
    assert "scripts/check_port.py 8123" in plan
    assert "http://127.0.0.1:8123" in plan
    assert "8000" not in plan


def test_a_busy_port_stops_the_demo_saying_how_to_pick_another():
    script = [sys.executable, str(ROOT / "scripts" / "check_port.py")]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _run([*script, str(port)])
    assert busy.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in busy.stderr
    assert "PORT=" in busy.stderr and "make demo" in busy.stderr

    free = _run([*script, str(port)])
    assert free.returncode == 0, free.stderr
