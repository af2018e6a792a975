"""PartnerApiClient against the sandbox served over real HTTP (a socket, Django's
live server): every call, and every error type a real provider's network and
server can produce."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from emis_integration import services as emis_services
from emis_integration.client import (
    EmisAuthError,
    EmisRejected,
    EmisUnavailable,
    PatientNotFound,
)
from emis_integration.sandbox.models import Appointment, AppointmentStatus
from emis_integration.selectors import partner_client
from hippo_pcn.audit.services import system_actor
from tests.emis_world import EmisWorld, at
from tests.tracing.helpers import sandbox_patients


@pytest.fixture
def world(live_server, pcn_a, practice_a, practice_a2):
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    sandbox_patients(world, "A10001", 6)
    world.slots(
        "U10001", [at(day, 10) + timedelta(minutes=10 * i) for day in (2, 3) for i in range(4)]
    )
    call_command("simulate_emis_bookings", "--pcn", "U10001", "--count", "5", stdout=StringIO())
    return world


@pytest.fixture
def connection(world):
    return world.connections["U10001"]


def window():
    today = timezone.localdate()
    return {"start": today, "end": today + timedelta(days=7)}


@pytest.mark.django_db(transaction=True)
def test_every_call_over_a_socket(connection):
    booked = {a.slot_id: a for a in Appointment.objects.filter(status=AppointmentStatus.BOOKED)}
    with partner_client(connection=connection) as client:
        sessions = client.appointment_sessions(**window())
        assert len(sessions) == 2
        assert sum(s.booked for s in sessions) == 5
        assert all(s.site_name == "Alpha Hub" and s.start.tzinfo for s in sessions)
        slots = [
            slot
            for session in sessions
            for slot in client.slots_for_session(session_id=session.id, session_date=session.date)
        ]
        assert len(slots) == 8
        taken = [slot for slot in slots if slot.patient_number is not None]
        assert {slot.id for slot in taken} == set(booked)
        for slot in taken:
            appointment = booked[slot.id]
            assert slot.start == appointment.start and slot.status == "Booked"
            assert slot.patient_number == appointment.patient_record_id
        person = client.patient_demographics(patient_number=taken[0].patient_number)
        assert person.nhs_number == booked[taken[0].id].patient_nhs_number
        assert person.registered_practice_ods == "A10001"
        upcoming = client.booked_patients(minutes_before=0, minutes_within=60 * 24 * 5)
        assert {b.slot_id for b in upcoming} == set(booked)
        assert client.calls == 1 + 2 + 1 + 1
        assert client.warnings == []


@pytest.mark.django_db(transaction=True)
def test_bad_parameters_are_rejected_and_not_retried(connection):
    with partner_client(connection=connection) as client:
        with pytest.raises(EmisRejected) as excinfo:
            client.booked_patients(minutes_before=61, minutes_within=10)
        assert excinfo.value.status_code == 400
        assert not isinstance(excinfo.value, EmisUnavailable)
        assert client.calls == 1


@pytest.mark.django_db(transaction=True)
def test_unknown_patient_and_session(connection):
    with partner_client(connection=connection) as client:
        with pytest.raises(PatientNotFound):
            client.patient_demographics(patient_number=987654321)
        with pytest.raises(EmisRejected) as excinfo:
            client.slots_for_session(session_id=987654321, session_date=timezone.localdate())
        assert excinfo.value.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_refused_credentials_are_an_auth_error_not_retried(world, connection):
    world.faults("U10001", reject_auth=True)
    with partner_client(connection=connection) as client:
        with pytest.raises(EmisAuthError):
            client.appointment_sessions(**window())
        assert client.calls == 1
    world.faults("U10001", reject_auth=False)
    emis_services.connection_update_config(
        actor=system_actor("tests"), connection=connection, partner_token="not-the-token"
    )
    with partner_client(connection=connection) as client, pytest.raises(EmisAuthError):
        client.appointment_sessions(**window())


@pytest.mark.django_db(transaction=True)
def test_server_errors_are_retried_then_unavailable(world, connection):
    world.faults("U10001", error_rate=1.0)
    with partner_client(connection=connection) as client:
        with pytest.raises(EmisUnavailable) as excinfo:
            client.appointment_sessions(**window())
        assert excinfo.value.status_code == 500
        assert client.calls == 3  # the first try and two retries


@pytest.mark.django_db(transaction=True)
def test_timeouts_are_unavailable_and_retried(world, connection, settings):
    settings.EMIS_READ_TIMEOUT = 0.5
    world.faults("U10001", force_timeout=True, timeout_seconds=2)
    with partner_client(connection=connection) as client:
        with pytest.raises(EmisUnavailable, match="did not answer within"):
            client.patient_demographics(patient_number=1)
        assert client.calls == 3


@pytest.mark.django_db(transaction=True)
def test_a_refused_connection_is_unavailable(pcn_a, practice_a, settings):
    settings.EMIS_CONNECT_TIMEOUT = 0.5
    world = EmisWorld(base_url="http://127.0.0.1:9").add_pcn(pcn_a, [practice_a])
    with partner_client(connection=world.connections["U10001"]) as client:
        with pytest.raises(EmisUnavailable, match="Could not connect"):
            client.appointment_sessions(**window())
        assert client.calls == 3
