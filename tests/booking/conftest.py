"""Booking fixtures: an active campaign at Alpha Surgery with PCN slots offered,
patients on it, and free practice and PCN slots in the sandbox, mirrored."""

from datetime import timedelta

import pytest
from django.utils import timezone

from booking import services
from tests.emis_world import at

from .factories import PatientFactory


@pytest.fixture
def patients(practice_a):
    return [PatientFactory(practice=practice_a) for _ in range(3)]


@pytest.fixture
def campaign(emis_world, practice_a, practice_admin, patients):
    today = timezone.localdate()
    made = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Winter flu clinic",
        appointment_type="Flu vaccination",
        start_date=today,
        end_date=today + timedelta(days=13),
        use_pcn_slots=True,
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    services.campaign_add_patients(user=practice_admin, campaign=made, patients=patients)
    return made


@pytest.fixture
def world_slots(emis_world):
    """Two practice slots and three PCN slots in the sandbox."""
    return {
        "practice": emis_world.slots("A10001", [at(2, 9), at(2, 11)]),
        "pcn": emis_world.slots("U10001", [at(2, 10), at(3, 9), at(3, 9, 10)]),
    }


@pytest.fixture
def mirrored(campaign, world_slots):
    results = services.campaign_refresh_slots(campaign=campaign)
    assert all(not r.error for r in results), results
    return campaign


@pytest.fixture
def many_free_days(emis_world, practice_a):
    """40 free practice flu times (10 minutes from 8:00) on each of days 1 to 12
    in the slot mirror."""
    from datetime import datetime, time

    from booking.models import Slot
    from booking.selectors import LONDON

    connection = emis_world.connections["A10001"]
    today = timezone.localdate()
    Slot.objects.bulk_create(
        [
            Slot(
                connection=connection,
                viewer=practice_a,
                emis_slot_id=f"P{day}-{i}",
                start=datetime.combine(today + timedelta(days=day), time(8, 0), tzinfo=LONDON)
                + timedelta(minutes=10 * i),
                end=datetime.combine(today + timedelta(days=day), time(8, 10), tzinfo=LONDON)
                + timedelta(minutes=10 * i),
                site_name="Alpha Surgery",
                service_type="Flu vaccination",
                delivery_channel="In-person",
                refreshed_at=timezone.now(),
            )
            for day in range(1, 13)
            for i in range(40)
        ]
    )
    return emis_world


@pytest.fixture
def book(mirrored, patients, practice_staff):
    """services.booking_create on the mirrored campaign, by practice staff, for
    the first patient unless `patient` is given: `book(slot)`, or, without a
    slot, the first PCN slot offered (`pcn=False`: the first practice slot)."""
    from booking.selectors import campaign_offerable_slots

    def book(slot=None, *, patient=None, pcn=True, pcn_consent=False):
        if slot is None:
            slot = campaign_offerable_slots(campaign=mirrored).filter(is_pcn=pcn).first()
        return services.booking_create(
            campaign=mirrored,
            patient=patients[0] if patient is None else patient,
            slot=slot,
            booked_by=practice_staff,
            pcn_consent=pcn_consent,
        )

    return book
