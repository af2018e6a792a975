"""Invitation sending benchmark: 5,000 invitations created, queued on commit and
sent end to end through the send task (Celery eager, batches of
INVITE_SEND_BATCH_SIZE) and the file notifier backend (the demo's), against the
local PostgreSQL.

`run(record)` is called by bench/run.py with its `record(key, value, target, how,
label)`; `python bench/invites_bench.py` runs it alone (in bench/run.py's
database, hippo_pcn_bench) and prints the figure."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import time as clock
from datetime import timedelta
from pathlib import Path

INVITES = 5_000
RUNS = 3

Record = Callable[[str, Sequence[float], str, str, str], None]


def _setup():  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from booking import services
    from booking.models import Campaign, Patient
    from hippo_pcn.audit.services import system_actor
    from hippo_pcn.organisations import services as org_services
    from hippo_pcn.organisations.models import Membership
    from tests.booking.factories import nhs_number

    call_command("flush", interactive=False, verbosity=0)
    actor = system_actor("bench")
    practice = org_services.organisation_create(
        actor=actor, kind="practice", ods_code="B90001", name="Bench Surgery", phone="01632 960900"
    )
    user = get_user_model().objects.create_user("bench.admin")
    Membership.objects.create(user=user, organisation=practice, role="practice_admin")
    today = timezone.localdate()
    campaign = services.campaign_create(
        user=user,
        practice=practice,
        name="Bench invitations",
        appointment_type="Flu vaccination",
        start_date=today,
        end_date=today + timedelta(days=14),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        sending_from=clock(0, 0), sending_until=clock(23, 59, 59, 999999)
    )
    campaign.refresh_from_db()
    patients = Patient.objects.bulk_create(
        [
            Patient(
                practice=practice,
                nhs_number=nhs_number(i),
                first_name="Bench",
                last_name=f"Patient{i:05d}",
                date_of_birth=today - timedelta(days=365 * 40 + i),
                mobile="+447700900456",
            )
            for i in range(INVITES)
        ],
        batch_size=1000,
    )
    services.campaign_add_patients(user=user, campaign=campaign, patients=patients)
    return campaign, user


def run(record: Record) -> None:
    from django.conf import settings

    from booking import invites
    from booking.models import DeliveryStatus, Invite

    rates = []
    backend_before = settings.NOTIFY_BACKEND
    path_before = settings.NOTIFY_FILE_PATH
    try:
        for _ in range(RUNS):
            campaign, user = _setup()
            with tempfile.TemporaryDirectory() as folder:
                settings.NOTIFY_BACKEND = "file"
                settings.NOTIFY_FILE_PATH = str(Path(folder) / "messages.jsonl")
                patients = campaign.patients.all()
                started = time.perf_counter()
                # Committed by the service; its on-commit hook runs the eager send tasks.
                result = invites.invites_create(campaign=campaign, patients=patients, user=user)
                elapsed = time.perf_counter() - started
                with Path(settings.NOTIFY_FILE_PATH).open() as lines:
                    written = sum(1 for _ in lines)
            sent = Invite.objects.filter(delivery_status=DeliveryStatus.SENT).count()
            if not (result.created == sent == written == INVITES):
                raise RuntimeError(
                    f"Expected {INVITES} invitations sent, got {result.created} created, "
                    f"{sent} sent, {written} written."
                )
            rates.append(INVITES / elapsed)
    finally:
        settings.NOTIFY_BACKEND = backend_before
        settings.NOTIFY_FILE_PATH = path_before
    record(
        "invites_sent_per_s",
        rates,
        "5,000 in under a minute",
        f"invites_create of {INVITES:,} patients, queued on commit and sent through the send "
        f"task (Celery eager, batches of {settings.INVITE_SEND_BATCH_SIZE}) and the file "
        "backend",
        "Invitations queued and sent (invites/s)",
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run as harness  # sets up Django on the bench database
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(harness.record)
    for row in harness.ROWS:
        print(" | ".join(row))
