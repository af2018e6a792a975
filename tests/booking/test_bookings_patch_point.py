"""booking/services is a package of sub-domain modules; the name bench/run.py
patches to stand for a process killed mid-booking,
booking.services.bookings._booking_outcome_unknown, is still where
booking_create looks it up (ADR 0007, issue 16)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from booking import services
from booking.models import Booking, BookingStatus
from booking.selectors import PENDING_TTL, campaign_offerable_slots
from booking.services import bookings, settlement


class Killed(Exception):
    pass


def test_patching_the_lost_answer_path_on_the_bookings_module_takes_effect(
    mirrored, patients, practice_staff, emis_world, monkeypatch, book
):
    assert services._booking_outcome_unknown is settlement._booking_outcome_unknown
    emis_world.faults("U10001", commit_then_fail=True)  # EMIS books, the answer is lost

    def killed(**kwargs):
        raise Killed

    monkeypatch.setattr(bookings, "_booking_outcome_unknown", killed)
    slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=True).first()
    with pytest.raises(Killed):
        book(slot, pcn_consent=True)
    # Left as a dead process leaves it; the reconciler settles it once it is stale.
    left = Booking.objects.get()
    assert left.status == BookingStatus.PENDING
    monkeypatch.setattr(bookings, "_booking_outcome_unknown", settlement._booking_outcome_unknown)
    Booking.objects.filter(pk=left.pk).update(
        booked_at=timezone.now() - PENDING_TTL - timedelta(seconds=1)
    )
    assert services.bookings_reconcile() == {services.SETTLED_BOOKED: 1}
    left.refresh_from_db()
    assert left.status == BookingStatus.BOOKED
    assert left.emis_appointment_id
