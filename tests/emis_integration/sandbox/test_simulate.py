"""manage.py simulate_emis_bookings."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from emis_integration.sandbox import selectors, services
from emis_integration.sandbox.models import (
    Appointment,
    AppointmentStatus,
    BookingCap,
    Practitioner,
    Schedule,
    Site,
    Slot,
    SlotStatus,
)

from .conftest import tomorrow_at
from .helpers import booking_request, nhs_numbers


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


def test_something_must_be_asked_for(world):
    with pytest.raises(CommandError, match="at least one of --count, --cancel or --move"):
        run("--pcn", "U10001", "--count", "0")
    with pytest.raises(CommandError, match="at least one"):
        run("--pcn", "U10001")
    with pytest.raises(CommandError, match="negative"):
        run("--pcn", "U10001", "--count", "2", "--cancel", "-1")
    assert not Appointment.objects.exists()


def test_birth_dates_are_carried(world):
    run("--pcn", "U10001", "--count", "1")
    snapshot = Appointment.objects.get().patient_snapshot
    assert date.fromisoformat(snapshot["birthDate"]) == date(1980, 4, 2)


# --- cancel and move -------------------------------------------------------------
ALLOWED = ["A10001", "A10002", "U10001"]


def booked(**filters) -> list[Appointment]:
    return list(Appointment.objects.filter(**filters).order_by("start", "id"))


def session_counts(pcn) -> dict[int, tuple[int, int, int]]:
    today = timezone.localdate()
    return {
        row.pk: (row.total, row.booked, row.available)
        for row in selectors.sessions_with_counts(
            organisation=pcn, start=today, end=today + timedelta(days=30)
        )
    }


def test_cancel(world, pcn):
    run("--pcn", "U10001", "--count", "3")
    first, second, third = booked()
    before = first.last_updated
    output = run("--pcn", "U10001", "--cancel", "1")
    first.refresh_from_db()
    assert first.status == AppointmentStatus.CANCELLED
    assert first.version == 2
    assert first.last_updated > before
    assert first.cancellation_reason
    assert Slot.objects.get(pk=first.slot_id).status == SlotStatus.FREE
    assert [a.status for a in booked(pk__in=[second.pk, third.pk])] == ["booked", "booked"]
    assert f"Cancelled appointment {first.pk}: " in output
    assert "Booked 0, cancelled 1 and moved 0 appointments at U10001." in output
    assert "Family" not in output


def test_move_prefers_another_session_of_the_same_clinic(world, pcn, make_slot):
    _, slots = world
    run("--pcn", "U10001", "--count", "2")
    first, second = booked()
    later = make_slot(tomorrow_at(11, days=3), allowed_ods=ALLOWED)
    counts_before = session_counts(pcn)
    output = run("--pcn", "U10001", "--move", "1")
    first.refresh_from_db()
    # Free slots remained in the same session, earlier; the move still left it.
    assert first.slot_id == later.pk
    assert (first.start, first.end) == (later.start, later.end)
    assert first.version == 2
    assert first.status == AppointmentStatus.BOOKED
    assert Slot.objects.get(pk=slots[0].pk).status == SlotStatus.FREE
    assert Slot.objects.get(pk=later.pk).status == SlotStatus.BUSY
    counts_after = session_counts(pcn)
    old_session, new_session = slots[0].session_id, later.session_id
    assert counts_before[old_session] == (5, 2, 3)
    assert counts_after[old_session] == (5, 1, 4)
    assert (counts_before[new_session], counts_after[new_session]) == ((1, 0, 1), (1, 1, 0))
    second.refresh_from_db()
    assert (second.slot_id, second.version) == (slots[1].pk, 1)
    assert f"Moved appointment {first.pk}: " in output
    assert " -> " in output
    assert "moved 1 appointments" in output


def test_move_to_another_clinic_updates_site_and_practitioner(world, pcn, schedule):
    run("--pcn", "U10001", "--count", "5")  # the session is full
    site = Site.objects.create(
        organisation=pcn,
        name="Northgate Clinic",
        address_line1="1 Northgate",
        city="Riverton",
        postcode="RV2 9HT",
    )
    nurse = Practitioner.objects.create(
        organisation=pcn, family="Carter", given="Helen", prefix="Mrs"
    )
    other = Schedule.objects.create(
        organisation=pcn, site=site, practitioner=nurse, service_type="Health check"
    )
    (target,) = services.slots_create(
        schedule=other,
        starts=[tomorrow_at(15)],
        minutes=20,
        allowed_ods=ALLOWED,
        allowed_org_types=[],
    )
    run("--pcn", "U10001", "--move", "1")
    moved = booked(slot=target)[0]
    assert (moved.location_display, moved.practitioner_display) == (
        "Northgate Clinic",
        "Mrs Helen CARTER",
    )
    assert moved.end - moved.start == timedelta(minutes=20)


def test_move_stays_in_the_session_when_nothing_else_is_free(world, pcn):
    _, slots = world
    run("--pcn", "U10001", "--count", "1")
    (appointment,) = booked()
    run("--pcn", "U10001", "--move", "1")
    appointment.refresh_from_db()
    assert appointment.slot_id == slots[1].pk  # the earliest free slot, same session
    assert appointment.version == 2


def test_move_only_to_slots_the_booker_may_book(world, pcn, make_slot):
    _, slots = world
    run("--pcn", "U10001", "--count", "1")
    (appointment,) = booked()
    make_slot(tomorrow_at(11, days=2), allowed_ods=["A99999"])  # another session, not theirs
    run("--pcn", "U10001", "--move", "1")
    appointment.refresh_from_db()
    assert appointment.slot.session_id == slots[0].session_id


def test_cancel_and_move_only_what_was_there_before(world, pcn, practice, make_slot):
    later = make_slot(tomorrow_at(11, days=2), allowed_ods=ALLOWED)
    earlier = services.appointment_book(
        organisation=pcn, booking=booking_request(later, nhs_numbers(1, start=999_700_000)[0])
    )
    output = run("--pcn", "U10001", "--count", "2", "--cancel", "1")
    earlier.refresh_from_db()
    assert earlier.status == AppointmentStatus.CANCELLED
    assert [a.status for a in booked(created__gt=earlier.created)] == ["booked", "booked"]
    assert "Booked 2, cancelled 1 and moved 0" in output


def test_cancellations_and_moves_take_different_appointments(world, pcn, make_slot):
    run("--pcn", "U10001", "--count", "3")
    make_slot(tomorrow_at(11, days=2), allowed_ods=ALLOWED)
    run("--pcn", "U10001", "--cancel", "1", "--move", "1")
    statuses = sorted((a.status, a.version) for a in Appointment.objects.all())
    assert statuses == [("booked", 1), ("booked", 2), ("cancelled", 2)]


def test_not_enough_appointments_changes_nothing(world, pcn):
    run("--pcn", "U10001", "--count", "2")
    with pytest.raises(CommandError, match="only 2 future booked appointments"):
        run("--pcn", "U10001", "--count", "1", "--cancel", "2", "--move", "1")
    assert Appointment.objects.count() == 2
    assert {(a.status, a.version) for a in Appointment.objects.all()} == {("booked", 1)}


def test_no_slot_to_move_to_changes_nothing(world, pcn):
    _, slots = world
    run("--pcn", "U10001", "--count", "4")
    with pytest.raises(CommandError, match="No free future slot .* to move appointment"):
        run("--pcn", "U10001", "--count", "1", "--move", "1")
    assert Appointment.objects.count() == 4
    assert {(a.status, a.version) for a in Appointment.objects.all()} == {("booked", 1)}
    assert Slot.objects.filter(status=SlotStatus.FREE).count() == 1


def test_appointments_in_the_past_are_left_alone(world, pcn):
    run("--pcn", "U10001", "--count", "1")
    past = timezone.now() - timedelta(hours=1)
    Appointment.objects.update(start=past, end=past + timedelta(minutes=10))
    with pytest.raises(CommandError, match="only 0 future booked appointments"):
        run("--pcn", "U10001", "--cancel", "1")
    assert Appointment.objects.get().status == AppointmentStatus.BOOKED


def test_a_cancelled_patient_can_be_booked_again_on_their_record(world, pcn):
    run("--pcn", "U10001", "--count", "1")
    (first,) = booked()
    run("--pcn", "U10001", "--cancel", "1")
    run("--pcn", "U10001", "--count", "1")
    again = booked(status="booked")[0]
    assert again.patient_nhs_number == first.patient_nhs_number
    assert again.patient_record_id == first.patient_record_id
    assert again.patient is None  # an appointment-only record is not referenced
