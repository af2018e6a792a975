"""Helpers for tracing tests: sandbox patients, bookings made "in EMIS", and
tasks as the poller would have made them."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from emis_integration.sandbox.models import Gender, Patient
from tests.emis_integration.sandbox.helpers import nhs_numbers


def sandbox_patients(world, ods: str, count: int, *, start: int = 999_500_000) -> list[Patient]:
    org = world.orgs[ods]
    return Patient.objects.bulk_create(
        [
            Patient(
                organisation=org,
                nhs_number=number,
                family=f"Family{i}",
                given="Pat",
                birth_date=date(1970, 1, 1) + timedelta(days=i),
                gender=Gender.FEMALE,
                registered_practice_ods=ods,
            )
            for i, number in enumerate(nhs_numbers(count, start=start))
        ]
    )


def simulate(count: int = 0, pcn: str = "U10001", *, cancel: int = 0, move: int = 0) -> str:
    """Bookings, cancellations and moves made directly "in EMIS"."""
    out = StringIO()
    args = ["--pcn", pcn, "--count", str(count), "--cancel", str(cancel), "--move", str(move)]
    call_command("simulate_emis_bookings", *args, stdout=out)
    return out.getvalue()


_counter = {"n": 0}


def make_task(connection, *, status="open", owner=None, due_in=timedelta(hours=20), **fields):
    """A tracing task on `connection`, as the poller would have made it."""
    from tracing.models import TracingTask

    _counter["n"] += 1
    now = timezone.now()
    start = fields.pop("appointment_start", now + timedelta(days=3))
    defaults = {
        "connection": connection,
        "emis_appointment_id": f"T{_counter['n']}",
        "pcn": connection.organisation,
        "patient_nhs_number": "9434765919",
        "patient_family_name": f"Family{_counter['n']}",
        "patient_given_name": "Jane",
        "patient_birth_date": date(1980, 4, 2),
        "registered_practice_ods": "A10001",
        "registered_practice_name": "Alpha Surgery",
        "appointment_start": start,
        "appointment_end": start + timedelta(minutes=10),
        "site_name": "Alpha Hub",
        "source": "found_by_poll",
        "owner": owner or connection.organisation,
        "due_at": now + due_in,
        "status": status,
    }
    defaults.update(fields)
    return TracingTask.objects.create(**defaults)
