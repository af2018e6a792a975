from datetime import date, timedelta

import pytest
from django.utils import timezone

from emis_integration import services as emis_services
from emis_integration.client import AppointmentRecord
from emis_integration.models import ConnectionStatus
from hippo_pcn.audit.models import AuditEntry
from tracing.models import TracingPolicy, TracingTask
from tracing.services import tracing_task_open_for_booking


@pytest.fixture
def pcn_live(pcn_a, superuser):
    return emis_services.connection_create(
        actor=superuser, organisation=pcn_a, status=ConnectionStatus.LIVE
    )


def appointment(appointment_id="A1", *, start=None, booking="A10001", registered="A10001"):
    start = start or timezone.now() + timedelta(days=5)
    return AppointmentRecord(
        appointment_id=appointment_id,
        version="1",
        status="booked",
        start=start,
        end=start + timedelta(minutes=10),
        booking_org_ods=booking,
        patient_nhs_number="9434765919",
        patient_family_name="Smith",
        patient_given_name="Jane",
        patient_birth_date=date(1980, 4, 2),
        registered_practice_ods=registered,
        site_name="Alpha Hub",
    )


def test_a_pcn_booking_opens_one_task_owned_by_the_pcn_by_default(
    pcn_live, practice_a, practice_staff
):
    task = tracing_task_open_for_booking(
        connection=pcn_live, appointment=appointment(), actor=practice_staff
    )
    assert task.source == "booked_via_app"
    assert task.status == "open"
    assert task.owner == pcn_live.organisation
    assert task.registered_practice == practice_a
    assert task.due_at <= task.appointment_start
    again = tracing_task_open_for_booking(
        connection=pcn_live, appointment=appointment(), actor=practice_staff
    )
    assert again.pk == task.pk
    assert TracingTask.objects.count() == 1
    assert AuditEntry.objects.filter(action="tracing_task.created").count() == 1


def test_practice_led_policy_gives_the_task_to_the_booking_practice(
    pcn_live, pcn_a, practice_a, practice_staff
):
    TracingPolicy.objects.create(pcn=pcn_a, mode="practice_led")
    task = tracing_task_open_for_booking(
        connection=pcn_live, appointment=appointment(), actor=practice_staff
    )
    assert task.owner == practice_a


def test_practice_led_falls_back_to_the_pcn_for_outsiders(
    pcn_live, pcn_a, practice_b, practice_staff
):
    TracingPolicy.objects.create(pcn=pcn_a, mode="practice_led")
    task = tracing_task_open_for_booking(
        connection=pcn_live,
        appointment=appointment(booking="B20001", registered="B20001"),
        actor=practice_staff,
    )
    assert task.owner == pcn_a


def test_practice_connections_never_open_tasks(practice_a, superuser, practice_staff):
    practice_connection = emis_services.connection_create(
        actor=superuser, organisation=practice_a, status=ConnectionStatus.LIVE
    )
    with pytest.raises(ValueError, match="PCN"):
        tracing_task_open_for_booking(
            connection=practice_connection, appointment=appointment(), actor=practice_staff
        )
    assert not TracingTask.objects.exists()


def test_no_nhs_number_is_a_flag_not_a_crash(pcn_live, practice_staff):
    record = appointment()
    record = AppointmentRecord(
        **{**{f: getattr(record, f) for f in record.__slots__}, "patient_nhs_number": ""}
    )
    task = tracing_task_open_for_booking(
        connection=pcn_live, appointment=record, actor=practice_staff
    )
    assert not task.has_nhs_number
