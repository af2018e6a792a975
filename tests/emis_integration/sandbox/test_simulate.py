"""manage.py simulate_emis_bookings."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from emis_integration.sandbox.models import Appointment, BookingCap, SlotStatus

from .conftest import tomorrow_at
from .helpers import nhs_numbers


@pytest.fixture
def world(pcn, practice, practice2, make_slot, make_patient):
    numbers = nhs_numbers(6)
    patients = [make_patient(practice, n, family=f"Family{i}") for i, n in enumerate(numbers[:3])]
    patients += [
        make_patient(practice2, n, family=f"Family{i + 3}") for i, n in enumerate(numbers[3:])
    ]
    allowed = ["A10001", "A10002", "U10001"]
    slots = [make_slot(tomorrow_at(9, 10 * i), allowed_ods=allowed) for i in range(5)]
    return patients, slots


def run(*args: str) -> str:
    out = StringIO()
    call_command("simulate_emis_bookings", *args, stdout=out)
    return out.getvalue()


def test_books_distinct_patients_into_distinct_slots(world, pcn):
    patients, slots = world
    output = run("--pcn", "U10001", "--count", "4")
    booked = list(Appointment.objects.filter(organisation=pcn))
    assert len(booked) == 4
    assert len({a.slot_id for a in booked}) == 4
    assert len({a.patient_nhs_number for a in booked}) == 4
    assert {a.booking_org_ods for a in booked} == {"A10001", "A10002"}  # round-robin
    by_nhs = {p.nhs_number: p for p in patients}
    for appointment in booked:
        home = by_nhs[appointment.patient_nhs_number]
        assert appointment.booking_org_ods == home.organisation.ods_code
        assert appointment.patient_snapshot["registeredPracticeOds"] == home.organisation.ods_code
        assert appointment.patient_snapshot["registeredPracticeName"] == home.organisation.name
        assert appointment.status == "booked"
    assert all(
        s.status == SlotStatus.BUSY for s in type(slots[0]).objects.filter(appointments__in=booked)
    )
    lines = [line for line in output.splitlines() if line.startswith("Appointment ")]
    assert len(lines) == 4
    assert "Riverside Hub" in lines[0]
    assert not any(f"Family{i}" in output for i in range(6))


def test_booking_org_option(world, pcn):
    run("--pcn", "U10001", "--count", "2", "--booking-org", "U10001")
    assert set(Appointment.objects.values_list("booking_org_ods", flat=True)) == {"U10001"}


def test_patient_registered_at_the_pcn_is_booked_by_reference(world, pcn, make_patient):
    patients, _ = world
    at_pcn = make_patient(pcn, patients[0].nhs_number, registration_type="T")
    run("--pcn", "U10001", "--count", "1")
    assert Appointment.objects.get().patient == at_pcn


def test_second_run_books_other_patients(world, pcn):
    run("--pcn", "U10001", "--count", "2")
    run("--pcn", "U10001", "--count", "2")
    assert Appointment.objects.values("patient_nhs_number").distinct().count() == 4


def test_unknown_pcn(world):
    with pytest.raises(CommandError, match="no PCN ZZ999"):
        run("--pcn", "ZZ999", "--count", "1")
    with pytest.raises(CommandError, match="no PCN A10001"):
        run("--pcn", "A10001", "--count", "1")


def test_unknown_booking_org(world):
    with pytest.raises(CommandError, match="X99999"):
        run("--pcn", "U10001", "--count", "1", "--booking-org", "X99999")


def test_too_few_slots_books_nothing(world):
    with pytest.raises(CommandError, match="only 5 free future slots"):
        run("--pcn", "U10001", "--count", "6")
    assert not Appointment.objects.exists()


def test_too_few_patients_books_nothing(world, make_slot):
    for i in range(5):
        make_slot(tomorrow_at(14, 10 * i))
    with pytest.raises(CommandError, match="only 6 patients"):
        run("--pcn", "U10001", "--count", "7")
    assert not Appointment.objects.exists()


def test_refusal_midway_books_nothing(world, pcn):
    BookingCap.objects.create(organisation=pcn, booking_org_ods="A10001", max_active_bookings=1)
    with pytest.raises(CommandError, match="Booking limit reached"):
        run("--pcn", "U10001", "--count", "4")
    assert not Appointment.objects.exists()


def test_count_must_be_positive(world):
    with pytest.raises(CommandError):
        run("--pcn", "U10001", "--count", "0")


def test_birth_dates_are_carried(world):
    run("--pcn", "U10001", "--count", "1")
    snapshot = Appointment.objects.get().patient_snapshot
    assert date.fromisoformat(snapshot["birthDate"]) == date(1980, 4, 2)
