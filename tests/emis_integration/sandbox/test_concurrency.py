"""Race safety on the real PostgreSQL: one slot, ten simultaneous bookings."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connections, transaction

from emis_integration.sandbox import services
from emis_integration.sandbox.errors import DuplicateRejected
from emis_integration.sandbox.models import Appointment, SlotStatus

from .helpers import booking_request, nhs_numbers

THREADS = 10


@pytest.mark.django_db(transaction=True)
def test_ten_threads_booking_one_slot_get_exactly_one_success(pcn, practice, slot):
    numbers = nhs_numbers(THREADS)
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            services.appointment_book(
                organisation=pcn, booking=booking_request(slot, numbers[index])
            )
            outcome = "booked"
        except DuplicateRejected:
            outcome = "duplicate"
        except Exception as exc:  # anything else is a failure of the test
            outcome = f"error: {exc!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["booked"] + ["duplicate"] * (THREADS - 1)
    assert Appointment.objects.filter(slot=slot, status="booked").count() == 1
    slot.refresh_from_db()
    assert slot.status == SlotStatus.BUSY


def test_database_allows_one_booked_appointment_per_slot(pcn, practice, slot):
    first = services.appointment_book(
        organisation=pcn, booking=booking_request(slot, nhs_numbers(1)[0])
    )
    duplicate = Appointment(
        organisation=pcn,
        slot=slot,
        status="booked",
        last_updated=first.last_updated,
        created=first.created,
        start=slot.start,
        end=slot.end,
        booking_org_ods="A10002",
        booking_org_name="Alpha Second",
        patient_nhs_number=nhs_numbers(2)[1],
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    # A cancelled appointment on the slot does not count.
    duplicate.status = "cancelled"
    duplicate.save()
