"""The reconciler settles bookings whose outcome in EMIS is not known: a process
that died mid-booking, or a lost answer EMIS could not be asked about."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from booking import services
from booking.models import Booking, BookingStatus
from booking.selectors import campaign_offerable_slots
from booking.tasks import reconcile_emis_bookings
from emis_integration.client.gpconnect import GPConnectClient
from emis_integration.sandbox import models as sandbox
from hippo_pcn.audit.models import AuditEntry
from tracing.models import TracingTask

GPC_BOOK = GPConnectClient.book


class Killed(BaseException):
    """The worker died: nothing after this line of booking_create runs."""


def killed_mid_booking(monkeypatch, book, *, after_emis: bool) -> Booking:
    def emis_book(self, *args, **kwargs):
        if after_emis:
            GPC_BOOK(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(GPConnectClient, "book", emis_book)
    with pytest.raises(Killed):
        book(pcn_consent=True)
    monkeypatch.setattr(GPConnectClient, "book", GPC_BOOK)
    return Booking.objects.get(status=BookingStatus.PENDING)


def age(booking, minutes=10):
    Booking.objects.filter(pk=booking.pk).update(
        booked_at=timezone.now() - timedelta(minutes=minutes)
    )


def reconcile() -> str:
    out = StringIO()
    call_command("reconcile_emis_bookings", stdout=out)
    return out.getvalue()


def test_a_pending_booking_emis_made_is_linked(
    monkeypatch, mirrored, patients, practice_staff, book
):
    booking = killed_mid_booking(monkeypatch, book, after_emis=True)
    age(booking)
    assert "1 booked" in reconcile()
    booking.refresh_from_db()
    appointment = sandbox.Appointment.objects.get()
    assert booking.status == BookingStatus.BOOKED
    assert booking.emis_appointment_id == str(appointment.pk)
    assert TracingTask.objects.get() == booking.tracing_task
    settled = AuditEntry.objects.get(action="booking.settled")
    assert settled.actor_label == "system: reconciler"
    assert settled.details["outcome"] == "booked"
    assert settled.details["was"] == "pending"
    assert "nothing to settle" in reconcile()


def test_a_pending_booking_emis_never_made_is_released(
    monkeypatch, mirrored, patients, practice_staff, book
):
    booking = killed_mid_booking(monkeypatch, book, after_emis=False)
    age(booking)
    assert "1 released" in reconcile()
    assert not Booking.objects.exists()
    assert not sandbox.Appointment.objects.exists()
    assert AuditEntry.objects.get(action="booking.settled").details["outcome"] == "released"


def test_a_fresh_pending_booking_is_left_to_its_process(
    monkeypatch, mirrored, patients, practice_staff, book
):
    killed_mid_booking(monkeypatch, book, after_emis=True)
    assert "nothing to settle" in reconcile()
    assert Booking.objects.get().status == BookingStatus.PENDING


def test_an_outcome_unknown_booking_is_settled_by_the_beat_task(
    monkeypatch, mirrored, patients, practice_staff, emis_world, book
):
    from emis_integration.client import EmisUnavailable

    emis_world.faults("U10001", commit_then_fail=True)
    real = GPConnectClient.patient_appointments

    def unavailable(self, patient_id, *, start, end):
        raise EmisUnavailable("EMIS did not answer.", spine_code="TIMEOUT")

    monkeypatch.setattr(GPConnectClient, "patient_appointments", unavailable)
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    with pytest.raises(services.BookingOutcomeUnknown):
        book(slot, pcn_consent=True)
    reconcile_emis_bookings()  # EMIS still cannot be asked: it stays
    assert Booking.objects.get().status == BookingStatus.OUTCOME_UNKNOWN
    monkeypatch.setattr(GPConnectClient, "patient_appointments", real)
    reconcile_emis_bookings()
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.BOOKED
    assert booking.emis_appointment_id == str(sandbox.Appointment.objects.get().pk)


def test_the_stale_reservation_cleaner_settles_instead_of_deleting(
    monkeypatch, mirrored, patients, practice_staff, book
):
    stale = killed_mid_booking(monkeypatch, book, after_emis=True)
    age(stale)
    slot = (
        campaign_offerable_slots(campaign=mirrored).filter(emis_slot_id=stale.emis_slot_id).first()
    )
    with pytest.raises(services.SlotTaken):
        book(slot, patient=patients[1], pcn_consent=True)
    stale.refresh_from_db()
    assert stale.status == BookingStatus.BOOKED
    assert sandbox.Appointment.objects.count() == 1
    assert Booking.objects.count() == 1


def test_the_reconciler_runs_every_two_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["booking-reconcile-emis-bookings"]
    assert entry["task"] == "booking.tasks.reconcile_emis_bookings"
    assert entry["schedule"] == timedelta(minutes=2)
