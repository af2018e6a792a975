"""The commit_then_fail fault knob in its "timeout" mode, over real HTTP (Django's
live server): EMIS books, then answers too late, so the client's read timeout
fires. The booking is checked straight away and linked; nothing is booked twice."""

import time

import pytest

from booking.models import Booking, BookingStatus
from emis_integration.sandbox import models as sandbox
from hippo_pcn.audit.models import AuditEntry

from .test_outcome_unknown import book, pcn_slot
from .test_selfbook import make_invite, verified_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def emis_world(live_server, pcn_a, practice_a, practice_a2):
    """As tests/conftest.py's emis_world, reached over a real socket."""
    from tests.emis_world import EmisWorld

    world = EmisWorld(base_url=live_server.url)
    world.add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    return world


@pytest.fixture
def dropped_answers(emis_world, settings):
    """The PCN's EMIS books, then sleeps past the client's read timeout."""
    settings.EMIS_READ_TIMEOUT = 0.5
    emis_world.faults(
        "U10001", commit_then_fail=True, commit_then_fail_mode="timeout", timeout_seconds=2
    )


def test_a_read_timeout_after_the_commit_is_checked_and_linked(
    mirrored, patients, practice_staff, dropped_answers
):
    started = time.monotonic()
    booking = book(mirrored, patients[0], pcn_slot(mirrored), practice_staff)
    assert time.monotonic() - started < 10

    appointment = sandbox.Appointment.objects.get(organisation__ods_code="U10001")
    assert appointment.status == sandbox.AppointmentStatus.BOOKED
    assert Booking.objects.get() == booking
    assert booking.status == BookingStatus.BOOKED
    assert booking.emis_appointment_id == str(appointment.pk)
    assert [
        e.action
        for e in AuditEntry.objects.filter(
            action__startswith="booking.", object_id=str(booking.pk)
        ).order_by("pk")
    ] == ["booking.outcome_unknown", "booking.settled", "booking.created"]
    assert AuditEntry.objects.get(action="booking.settled").details["outcome"] == "booked"
    time.sleep(2)  # let the sandbox's late answer finish before the database is flushed


def test_the_self_book_page_tells_the_patient_it_is_booked(mirrored, patients, dropped_answers):
    invite, token = make_invite(mirrored, patients[0])
    client = verified_client(token, patients[0])
    response = client.post(
        f"/book/{token}/book/",
        {"slot": pcn_slot(mirrored).pk, "consent_asked": "1", "pcn_consent": "on"},
    )
    assert response.status_code == 302
    confirmation = client.get(response.url).content.decode()
    assert "Appointment booked" in confirmation
    assert "We could not confirm with EMIS" not in confirmation
    appointment = sandbox.Appointment.objects.get(organisation__ods_code="U10001")
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.BOOKED
    assert booking.emis_appointment_id == str(appointment.pk)
    time.sleep(2)
