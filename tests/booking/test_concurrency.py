"""No double-booking under real concurrency on PostgreSQL: threads with their own
database connections race through the booking service (and the sandbox EMIS)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db.models import Value
from django.db.models.functions import Replace
from django.utils import timezone

from booking import services
from booking.models import Booking
from booking.selectors import bookings_to_settle, campaign_offerable_slots
from emis_integration.models import EmisConnection
from emis_integration.sandbox import models as sandbox
from tests.emis_world import EmisWorld, at

from .factories import PatientFactory

# Each test here opens a database connection per racing thread: one such test
# at a time across the xdist workers (the many_connections fixture).
pytestmark = [
    pytest.mark.usefixtures("many_connections"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def race_campaign(settings, pcn_a, practice_a, practice_a2, practice_admin):
    settings.EMIS_HTTP_TRANSPORT_FACTORY = "tests.emis_integration.transport.wsgi_transport"
    world = EmisWorld(base_url="http://localhost")
    world.add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    world.slots("U10001", [at(2, 9), at(2, 9, 10), at(2, 9, 20)])
    today = timezone.localdate()
    campaign = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Race",
        appointment_type="Flu",
        start_date=today,
        end_date=today + timedelta(days=7),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    patients = [PatientFactory(practice=practice_a) for _ in range(50)]
    services.campaign_add_patients(user=practice_admin, campaign=campaign, patients=patients)
    services.campaign_refresh_slots(campaign=campaign)
    return campaign, patients


def _race(jobs):
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(index, job):
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", job())
        except services.SlotTaken as exc:
            results[index] = ("taken", exc)
        except services.BookingError as exc:
            results[index] = ("refused", exc)
        except Exception as exc:  # noqa: BLE001 - any other failure is what we look for
            results[index] = ("crash", exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_fifty_patients_racing_for_one_slot_make_one_booking(race_campaign, practice_staff):
    campaign, patients = race_campaign
    slot = campaign_offerable_slots(campaign=campaign).first()
    jobs = [
        (
            lambda p=p: services.booking_create(
                campaign=campaign, patient=p, slot=slot, booked_by=practice_staff, pcn_consent=True
            )
        )
        for p in patients
    ]
    results = _race(jobs)
    outcomes = [kind for kind, _ in results]
    assert outcomes.count("ok") == 1, results
    assert outcomes.count("taken") == 49, [r for r in results if r[0] != "taken"]
    assert Booking.objects.filter(status="booked").count() == 1
    assert sandbox.Appointment.objects.filter(status="booked").count() == 1


def test_one_patient_booked_twice_at_once_gets_one_booking(race_campaign, practice_staff):
    campaign, patients = race_campaign
    slots = list(campaign_offerable_slots(campaign=campaign)[:2])
    jobs = [
        (
            lambda s=s: services.booking_create(
                campaign=campaign,
                patient=patients[0],
                slot=s,
                booked_by=practice_staff,
                pcn_consent=True,
            )
        )
        for s in slots
    ]
    results = _race(jobs)
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["ok", "refused"], results
    assert Booking.objects.filter(status="booked", patient=patients[0]).count() == 1
    assert sandbox.Appointment.objects.filter(status="booked").count() == 1


def _settle_everything() -> None:
    """Run the reconciler (EMIS healthy again) until nothing is left to settle."""
    for _ in range(10):
        if not bookings_to_settle(now=timezone.now()).exists():
            return
        services.bookings_reconcile()
    assert not bookings_to_settle(now=timezone.now()).exists()


@pytest.mark.parametrize(
    "knobs",
    [
        pytest.param({}, id="no-fault"),
        pytest.param({"commit_then_fail": True}, id="commit-then-fail"),
        pytest.param(
            {"commit_then_fail": True, "commit_then_fail_mode": "timeout", "timeout_seconds": 3},
            id="read-timeout-after-commit",
        ),
        pytest.param({"error_rate": 0.5}, id="error-rate-half"),
    ],
)
def test_fifty_patients_racing_for_one_slot_under_a_fault(
    race_campaign, practice_staff, settings, knobs, request
):
    settings.EMIS_CONNECT_TIMEOUT = 1.0
    settings.EMIS_READ_TIMEOUT = 2.0
    campaign, patients = race_campaign
    slot = campaign_offerable_slots(campaign=campaign).filter(is_pcn=True).first()
    world = EmisWorld(base_url="http://localhost")
    if knobs.get("commit_then_fail_mode") == "timeout":
        # A read timeout needs a real socket: EMIS is reached over Django's live
        # server, and its answer comes after the client has given up.
        live_server = request.getfixturevalue("live_server")
        settings.EMIS_HTTP_TRANSPORT_FACTORY = ""
        EmisConnection.objects.update(
            base_url=Replace("base_url", Value("http://localhost"), Value(live_server.url))
        )
    world.faults("U10001", **knobs)
    jobs = [
        (
            lambda p=p: services.booking_create(
                campaign=campaign, patient=p, slot=slot, booked_by=practice_staff, pcn_consent=True
            )
        )
        for p in patients
    ]
    results = _race(jobs)
    world.faults("U10001", commit_then_fail=False, error_rate=0.0)
    _settle_everything()
    if knobs.get("commit_then_fail_mode") == "timeout":
        time.sleep(knobs["timeout_seconds"])  # the late answer ends before the flush

    outcomes = [kind for kind, _ in results]
    if knobs.get("commit_then_fail_mode") == "timeout":
        # The answer was lost, but the immediate check found the appointment.
        assert outcomes.count("ok") == 1, results
    assert None not in outcomes, "an attempt did not finish in time"
    assert outcomes.count("crash") == 0, [r for r in results if r[0] == "crash"]
    assert outcomes.count("ok") <= 1, results
    assert outcomes.count("ok") + outcomes.count("taken") + outcomes.count("refused") == 50
    appointments = list(
        sandbox.Appointment.objects.filter(status="booked", slot_id=int(slot.emis_slot_id))
    )
    booked = list(Booking.objects.filter(status="booked", emis_slot_id=slot.emis_slot_id))
    assert len(appointments) <= 1, appointments
    assert len(booked) <= 1, booked
    if appointments and booked:
        assert booked[0].emis_appointment_id == str(appointments[0].pk)
    assert not Booking.objects.filter(status__in=["pending", "outcome_unknown"]).exists()
