"""The sandbox's seed hook: the demo reaches the test EMIS through
emis_integration.demo_emis, which the sandbox fills when its app is ready, and
no demo seeder imports the sandbox."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings

from emis_integration.demo_emis import DemoEmisError, demo_emis
from emis_integration.sandbox.models import (
    Appointment,
    AppointmentStatus,
    Patient,
    RegistrationType,
    Slot,
    SlotStatus,
)
from emis_integration.sandbox.seed import SandboxDemoEmis

from .test_simulate import world  # noqa: F401  (fixture)

ROOT = Path(settings.BASE_DIR)
DEMO_SEEDERS = [
    "tracing/demo.py",
    "booking/demo.py",
    "emis_integration/demo.py",
    "hippo_pcn/organisations/demo.py",
]


def test_the_sandbox_registers_itself_as_the_demo_emis():
    assert isinstance(demo_emis(), SandboxDemoEmis)


@pytest.mark.parametrize("path", DEMO_SEEDERS)
def test_no_demo_seeder_imports_the_sandbox(path):
    tree = ast.parse((ROOT / path).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert not {name for name in imported if "sandbox" in name}


def test_booking_appointments_through_the_hook(world, pcn):  # noqa: F811
    demo_emis().book_appointments(pcn_ods=pcn.ods_code, count=2)
    assert (
        Appointment.objects.filter(organisation=pcn, status=AppointmentStatus.BOOKED).count() == 2
    )


def test_what_the_sandbox_refuses_reaches_the_demo_as_a_demo_emis_error(practice):
    with pytest.raises(DemoEmisError, match="not a PCN"):
        demo_emis().book_appointments(pcn_ods=practice.ods_code, count=1)


def test_registering_a_patient_at_the_pcn_is_temporary_and_done_once(pcn):
    emis = demo_emis()
    for family in ("Hughes", "Someone else"):
        emis.register_patient(
            organisation_ods=pcn.ods_code,
            nhs_number="9434765919",
            family=family,
            given="Priya",
            birth_date=date(1980, 4, 2),
            registered_practice_ods="A10001",
        )
    record = Patient.objects.get(organisation=pcn, nhs_number="9434765919")
    assert (record.family, record.registration_type) == ("Hughes", RegistrationType.TEMPORARY)


def test_cancelling_in_emis_frees_the_slot(world, pcn):  # noqa: F811
    emis = demo_emis()
    emis.book_appointments(pcn_ods=pcn.ods_code, count=1)
    appointment = Appointment.objects.get(organisation=pcn)
    version = appointment.version
    assert emis.cancel_appointment(
        organisation_ods=pcn.ods_code, patient_number=appointment.patient_record_id
    )
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.version == version + 1
    assert Slot.objects.get(pk=appointment.slot_id).status == SlotStatus.FREE
    # Nothing left to cancel for that patient.
    assert not emis.cancel_appointment(
        organisation_ods=pcn.ods_code, patient_number=appointment.patient_record_id
    )
