"""Sessions: slots_create puts every slot in its schedule's session of its UK
local day; slot_sessions_assign and appointment_records_assign (what migration
0003 runs) fill in sessions and patient records for older rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from emis_integration.sandbox import services
from emis_integration.sandbox.models import (
    Appointment,
    AppointmentSession,
    Patient,
    RegistrationType,
    Schedule,
    Slot,
)

from .conftest import tomorrow_at
from .helpers import booking_request, nhs_numbers


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def create(schedule, starts, minutes=10, **restrictions):
    return services.slots_create(
        schedule=schedule,
        starts=starts,
        minutes=minutes,
        allowed_ods=restrictions.get("allowed_ods", []),
        allowed_org_types=restrictions.get("allowed_org_types", []),
    )


def test_one_session_per_schedule_and_day(pcn, schedule):
    tomorrow = timezone.localdate() + timedelta(days=1)
    later = tomorrow + timedelta(days=1)
    slots = create(schedule, [local(tomorrow, 9, 10 * i) for i in range(3)] + [local(later, 14)])
    sessions = list(AppointmentSession.objects.order_by("date"))
    assert len(sessions) == 2
    first, second = sessions
    assert [s.session_id for s in slots] == [first.pk] * 3 + [second.pk]
    assert (first.date, first.start_time, first.end_time, first.slot_minutes) == (
        tomorrow,
        time(9, 0),
        time(9, 30),
        10,
    )
    assert (first.organisation, first.schedule, first.site, first.holder, first.name) == (
        pcn,
        schedule,
        schedule.site,
        schedule.practitioner,
        "Flu vaccination",
    )
    assert (second.start_time, second.end_time) == (time(14, 0), time(14, 10))


def test_more_slots_join_and_widen_the_days_session(schedule):
    tomorrow = timezone.localdate() + timedelta(days=1)
    (first,) = create(schedule, [local(tomorrow, 10)])
    earlier, later = create(schedule, [local(tomorrow, 9), local(tomorrow, 11, 50)], minutes=15)
    assert first.session_id == earlier.session_id == later.session_id
    session = AppointmentSession.objects.get()
    assert (session.start_time, session.end_time) == (time(9, 0), time(12, 5))
    assert session.slot_minutes == 10  # the day's first slots set it


def test_slots_keep_their_restrictions(schedule):
    (slot,) = create(
        schedule, [tomorrow_at(9)], allowed_ods=["A10001"], allowed_org_types=["gp-practice"]
    )
    slot.refresh_from_db()
    assert (slot.allowed_ods, slot.allowed_org_types) == (["A10001"], ["gp-practice"])
    assert slot.end - slot.start == timedelta(minutes=10)


def test_the_uk_local_day_decides_the_session(schedule):
    """00:30 BST on 1 July is 23:30 UTC on 30 June: it is a 1 July slot."""
    (slot,) = create(schedule, [local(date(2026, 7, 1), 0, 30)])
    session = AppointmentSession.objects.get(pk=slot.session_id)
    assert session.date == date(2026, 7, 1)
    assert session.start_time == time(0, 30)


def test_a_slot_past_midnight_ends_its_session_at_2359(schedule):
    (slot,) = create(schedule, [local(date(2026, 12, 1), 23, 50)], minutes=20)
    session = AppointmentSession.objects.get(pk=slot.session_id)
    assert (session.date, session.start_time, session.end_time) == (
        date(2026, 12, 1),
        time(23, 50),
        time(23, 59),
    )


def test_no_starts_no_slots(schedule):
    assert create(schedule, []) == []
    assert not AppointmentSession.objects.exists()


def test_minutes_must_be_positive(schedule):
    with pytest.raises(ValueError):
        create(schedule, [tomorrow_at(9)], minutes=0)


def test_schedules_have_their_own_sessions(pcn, schedule):
    other = Schedule.objects.create(
        organisation=pcn, site=schedule.site, practitioner=None, service_type="Physiotherapy"
    )
    (flu,) = create(schedule, [tomorrow_at(9)])
    (physio,) = create(other, [tomorrow_at(9)])
    assert flu.session_id != physio.session_id
    assert AppointmentSession.objects.get(pk=physio.session_id).holder is None


# --- what migration 0003 runs ------------------------------------------------------
def old_slot(schedule, start: datetime, minutes: int = 10) -> Slot:
    """A slot as the sandbox stored them before sessions."""
    return Slot.objects.create(
        organisation=schedule.organisation,
        schedule=schedule,
        start=start,
        end=start + timedelta(minutes=minutes),
    )


def test_slot_sessions_assign_groups_by_schedule_and_local_day(pcn, schedule):
    other = Schedule.objects.create(
        organisation=pcn, site=schedule.site, practitioner=None, service_type="Physiotherapy"
    )
    summer = date(2026, 7, 1)
    slots = [
        old_slot(schedule, local(summer, 0, 30)),  # 23:30 UTC the day before
        old_slot(schedule, local(summer, 9)),
        old_slot(schedule, local(summer + timedelta(days=1), 9)),
        old_slot(other, local(summer, 9), minutes=30),
    ]
    assert services.slot_sessions_assign() == 4
    for slot in slots:
        slot.refresh_from_db()
    assert slots[0].session_id == slots[1].session_id
    assert len({s.session_id for s in slots}) == 3
    first = AppointmentSession.objects.get(pk=slots[0].session_id)
    assert (first.date, first.start_time, first.end_time, first.slot_minutes) == (
        summer,
        time(0, 30),
        time(9, 10),
        10,
    )
    physio = AppointmentSession.objects.get(pk=slots[3].session_id)
    assert (physio.schedule, physio.name, physio.slot_minutes) == (other, "Physiotherapy", 30)
    assert services.slot_sessions_assign() == 0  # a second run finds nothing to do


def test_slot_sessions_assign_joins_and_widens_an_existing_session(schedule):
    day = timezone.localdate() + timedelta(days=1)
    (new,) = create(schedule, [local(day, 10)])
    old = old_slot(schedule, local(day, 8, 30))
    assert services.slot_sessions_assign() == 1
    old.refresh_from_db()
    assert old.session_id == new.session_id
    session = AppointmentSession.objects.get()
    assert (session.start_time, session.end_time) == (time(8, 30), time(10, 10))


def test_appointment_records_assign(pcn, practice, make_slot, make_patient):
    """Appointments booked before records existed get the record booking would
    have given them: their referenced patient, the organisation's record with
    their NHS number, or a new appointment-only record from their snapshot."""
    numbers = nhs_numbers(3)
    referenced = make_patient(pcn, numbers[0], RegistrationType.TEMPORARY)
    existing = make_patient(pcn, numbers[1], RegistrationType.REGULAR)
    appointments = []
    for i, number in enumerate(numbers):
        booking = booking_request(make_slot(tomorrow_at(9, 10 * i)), number)
        appointments.append(services.appointment_book(organisation=pcn, booking=booking))
    Appointment.objects.filter(pk=appointments[0].pk).update(patient=referenced)
    Appointment.objects.update(patient_record=None)
    Patient.objects.filter(registration_type=RegistrationType.APPOINTMENT_ONLY).delete()

    assert services.appointment_records_assign() == 3
    records = [a.patient_record for a in Appointment.objects.order_by("start")]
    assert records[:2] == [referenced, existing]
    made = records[2]
    assert made is not None
    assert (made.organisation, made.nhs_number, made.registration_type) == (
        pcn,
        numbers[2],
        RegistrationType.APPOINTMENT_ONLY,
    )
    assert (made.family, made.given, made.birth_date, made.gender) == (
        "Smith",
        "Jane",
        date(1980, 4, 2),
        "female",
    )
    assert made.registered_practice_ods == "A10001"
    assert services.appointment_records_assign() == 0


def test_migration_0003_runs_both(pcn, schedule, make_slot):
    from importlib import import_module

    from django.apps import apps

    migration = import_module(
        "emis_integration.sandbox.migrations.0003_assign_sessions_and_patient_records"
    )
    slot = old_slot(schedule, tomorrow_at(9))
    appointment = services.appointment_book(
        organisation=pcn, booking=booking_request(make_slot(tomorrow_at(10)), nhs_numbers(1)[0])
    )
    Appointment.objects.update(patient_record=None)
    migration.forwards(apps, None)
    slot.refresh_from_db()
    appointment.refresh_from_db()
    assert slot.session_id is not None
    assert appointment.patient_record is not None
