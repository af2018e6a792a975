"""An outcome is never guessed: when EMIS may have made an appointment but its
answer was lost, the booking keeps its slot and EMIS is asked (issue 11)."""

import pytest
from django.urls import reverse

from booking import services
from booking.models import Booking, BookingStatus
from booking.selectors import campaign_offerable_slots
from emis_integration.client import EmisUnavailable
from emis_integration.client.gpconnect import GPConnectClient
from emis_integration.sandbox import models as sandbox
from hippo_pcn.audit.models import AuditEntry
from tracing.models import TracingTask
from tracing.poller import poll_connection

from .test_selfbook import make_invite, verified_client

UNKNOWN = "We could not confirm with EMIS whether the appointment was made"


def pcn_slot(campaign):
    return campaign_offerable_slots(campaign=campaign).filter(is_pcn=True).first()


def book(campaign, patient, slot, user):
    return services.booking_create(
        campaign=campaign, patient=patient, slot=slot, booked_by=user, pcn_consent=True
    )


@pytest.fixture
def lost_answers(emis_world):
    """The PCN's EMIS books, then the gateway answers 504."""
    emis_world.faults("U10001", commit_then_fail=True)


@pytest.fixture
def check_fails(monkeypatch):
    def unavailable(self, patient_id, *, start, end):
        raise EmisUnavailable("EMIS did not answer.", spine_code="TIMEOUT")

    monkeypatch.setattr(GPConnectClient, "patient_appointments", unavailable)


def test_a_lost_answer_is_checked_and_the_booking_linked(
    mirrored, patients, practice_staff, emis_world, lost_answers
):
    slot = pcn_slot(mirrored)
    booking = book(mirrored, patients[0], slot, practice_staff)

    appointment = sandbox.Appointment.objects.get(organisation__ods_code="U10001")
    assert Booking.objects.get() == booking
    assert booking.status == BookingStatus.BOOKED
    assert booking.emis_appointment_id == str(appointment.pk)
    assert booking.tracing_task is not None
    entries = AuditEntry.objects.filter(
        action__startswith="booking.", object_id=str(booking.pk)
    ).order_by("pk")
    assert [e.action for e in entries] == [
        "booking.outcome_unknown",
        "booking.settled",
        "booking.created",
    ]
    settled = AuditEntry.objects.get(action="booking.settled")
    assert settled.details["outcome"] == "booked"
    # The poller finds the appointment and knows it: no second task.
    poll_connection(connection=emis_world.connections["U10001"])
    assert TracingTask.objects.filter(emis_appointment_id=booking.emis_appointment_id).count() == 1
    assert TracingTask.objects.count() == 1


def test_a_lost_answer_with_nothing_in_emis_releases_the_slot(
    mirrored, patients, practice_staff, monkeypatch
):
    def lost(self, *args, **kwargs):
        raise EmisUnavailable("Bad gateway.", status_code=502)

    monkeypatch.setattr(GPConnectClient, "book", lost)
    with pytest.raises(services.BookingError, match="nothing was booked") as excinfo:
        book(mirrored, patients[0], pcn_slot(mirrored), practice_staff)
    assert not isinstance(excinfo.value, services.BookingOutcomeUnknown)
    assert not Booking.objects.exists()
    assert AuditEntry.objects.get(action="booking.settled").details["outcome"] == "released"


def test_a_refused_connection_is_not_checked(mirrored, patients, practice_staff, monkeypatch):
    def refused(self, *args, **kwargs):
        raise EmisUnavailable("Could not connect.", spine_code="CONNECT")

    monkeypatch.setattr(GPConnectClient, "book", refused)
    with pytest.raises(services.BookingError, match="nothing was booked"):
        book(mirrored, patients[0], pcn_slot(mirrored), practice_staff)
    assert not Booking.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="booking.").exists()


def test_when_emis_cannot_be_asked_the_booking_keeps_its_slot(
    mirrored, patients, practice_staff, lost_answers, check_fails
):
    slot = pcn_slot(mirrored)
    with pytest.raises(services.BookingOutcomeUnknown) as excinfo:
        book(mirrored, patients[0], slot, practice_staff)
    assert excinfo.value.message == services.OUTCOME_UNKNOWN_MESSAGE
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.OUTCOME_UNKNOWN
    assert not booking.emis_appointment_id
    assert sandbox.Appointment.objects.count() == 1
    # The slot stays reserved, and the patient cannot be booked twice meanwhile.
    with pytest.raises(services.BookingError):
        book(mirrored, patients[1], slot, practice_staff)
    other = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=False).first()
    with pytest.raises(services.BookingError, match="already has a booking"):
        book(mirrored, patients[0], other, practice_staff)


def test_the_staff_page_says_we_are_checking(
    client_for, practice_staff, mirrored, patients, lost_answers, check_fails
):
    response = client_for(practice_staff).post(
        reverse("booking:booking_new", args=[mirrored.pk, patients[0].pk]),
        {"slot": pcn_slot(mirrored).pk, "pcn_consent": "on"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert UNKNOWN in page
    assert "nothing was booked" not in page


def test_the_self_book_page_says_we_are_checking(mirrored, patients, lost_answers, check_fails):
    invite, token = make_invite(mirrored, patients[0])
    client = verified_client(token, patients[0])
    response = client.post(
        f"/book/{token}/book/",
        {"slot": pcn_slot(mirrored).pk, "consent_asked": "1", "pcn_consent": "on"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert UNKNOWN in page
    assert "nothing was booked" not in page
