"""GPConnectClient against the bundled sandbox over HTTP: every call and every
error type."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from emis_integration.client import (
    BookingOrganisation,
    EmisAuthError,
    EmisRejected,
    EmisUnavailable,
    PatientAlreadyRegistered,
    PatientDetails,
    RegistrationRefused,
    SlotRef,
    SlotUnavailable,
    book_patient,
)
from emis_integration.selectors import emis_client
from tests.emis_world import at

PATIENT = PatientDetails(
    "9434765919", "Smith", "Jane", date(1980, 4, 2), "female", "A10001", "Alpha Surgery"
)
ORG = BookingOrganisation("A10001", "Alpha Surgery", "01632 960001")


@pytest.fixture
def pcn_client(emis_world, practice_a):
    with emis_client(
        connection=emis_world.connections["U10001"], requesting_organisation=practice_a
    ) as client:
        yield client


@pytest.fixture
def pcn_slots(emis_world):
    return emis_world.slots("U10001", [at(2, 9), at(2, 9, 10), at(3, 14)])


def window():
    now = timezone.now()
    return now, now + timedelta(days=7)


def test_metadata(pcn_client):
    assert pcn_client.metadata()["fhirVersion"].startswith("3.0")


def test_slot_search_returns_typed_free_slots_with_site_and_practitioner(pcn_client, pcn_slots):
    slots = pcn_client.search_free_slots(*window())
    assert [s.slot_id for s in slots] == [str(s.pk) for s in pcn_slots]
    first = slots[0]
    assert first.site_name == "Alpha Hub"
    assert "1 High Street" in first.site_address
    assert "Nurse" in first.practitioner
    assert first.service_type == "Flu vaccination"
    assert first.delivery_channel == "In-person"
    assert first.organisation_ods == "U10001"
    assert first.start == pcn_slots[0].start


def test_slot_search_only_shows_what_the_requester_may_book(emis_world, pcn_slots, practice_b):
    with emis_client(
        connection=emis_world.connections["U10001"], requesting_organisation=practice_b
    ) as client:
        assert client.search_free_slots(*window()) == []


def book(client, slot, patient=PATIENT, **kwargs):
    """GP Connect's booking flow: find, register when unknown, book."""
    return book_patient(client, slot=slot, patient=patient, booking_organisation=ORG, **kwargs)


def test_book_read_cancel_and_list(pcn_client, pcn_slots, emis_world):
    emis_world.register("A10001", PATIENT)  # at home: the PCN's EMIS learns it (as from PDS)
    free = pcn_client.search_free_slots(*window())
    assert free[0].location_id
    assert free[0].practitioner_id
    result = book(pcn_client, free[0], description="Flu clinic")
    assert result.registered  # unknown at the PCN: registered temporarily first
    booked = result.appointment
    assert booked.provider_patient_id == result.patient_id
    assert booked.status == "booked"
    assert booked.version == "1"
    assert booked.slot_ids == (free[0].slot_id,)
    assert booked.patient_nhs_number == "9434765919"
    assert booked.registered_practice_ods == "A10001"
    assert booked.booking_org_ods == "A10001"
    assert booked.site_name == "Alpha Hub"
    assert free[0].slot_id not in {s.slot_id for s in pcn_client.search_free_slots(*window())}

    with pytest.raises(SlotUnavailable):
        book(pcn_client, free[0])

    read = pcn_client.get_appointment(booked.appointment_id)
    assert read.appointment_id == booked.appointment_id
    assert read.patient_family_name == "Smith"

    cancelled = pcn_client.cancel(booked.appointment_id, "Patient asked to cancel")
    assert cancelled.status == "cancelled"
    assert cancelled.cancellation_reason == "Patient asked to cancel"
    assert int(cancelled.version) > int(booked.version)
    assert free[0].slot_id in {s.slot_id for s in pcn_client.search_free_slots(*window())}

    again = book(pcn_client, free[1])
    assert (again.registered, again.patient_id) == (False, result.patient_id)  # found now
    second = again.appointment
    assert second.appointment_id != booked.appointment_id
    assert pcn_client.get_appointment(booked.appointment_id).is_cancelled


def test_cancelling_twice_is_rejected(pcn_client, pcn_slots):
    booked = book(pcn_client, pcn_client.search_free_slots(*window())[0]).appointment
    pcn_client.cancel(booked.appointment_id, "first")
    with pytest.raises(EmisRejected) as excinfo:
        pcn_client.cancel(booked.appointment_id, "again")
    assert excinfo.value.spine_code == "INVALID_RESOURCE"


def test_booking_with_times_that_do_not_match_the_slot_is_rejected(pcn_client, pcn_slots):
    slot = pcn_slots[0]
    wrong = SlotRef(
        str(slot.pk),
        slot.start + timedelta(minutes=5),
        slot.end,
        location_id=str(slot.schedule.site_id),
    )
    with pytest.raises(EmisRejected) as excinfo:
        book(pcn_client, wrong)
    assert excinfo.value.spine_code == "INVALID_RESOURCE"
    assert pcn_client.calls == 3  # find, register, book (not retried)


def test_a_refused_registration_books_nothing_and_says_why(pcn_client, pcn_slots):
    nameless = PatientDetails("9434765919", "", "Jane", date(1980, 4, 2), "female")
    free = pcn_client.search_free_slots(*window())
    with pytest.raises(RegistrationRefused) as excinfo:
        book(pcn_client, free[0], nameless)
    assert "family name" in excinfo.value.message
    assert excinfo.value.spine_code == "INVALID_RESOURCE"
    assert free[0].slot_id in {s.slot_id for s in pcn_client.search_free_slots(*window())}


def test_the_sandbox_refuses_an_unknown_patient_reference(pcn_client, pcn_slots):
    from dataclasses import replace

    free = pcn_client.search_free_slots(*window())
    with pytest.raises(EmisRejected) as excinfo:
        pcn_client.book(free[0], replace(PATIENT, provider_patient_id="999999"), ORG)
    assert (excinfo.value.status_code, excinfo.value.spine_code) == (422, "REFERENCE_NOT_FOUND")


def test_unknown_appointment_is_rejected(pcn_client):
    with pytest.raises(EmisRejected) as excinfo:
        pcn_client.get_appointment("999999")
    assert excinfo.value.status_code == 404


def test_find_and_register_patient(pcn_client):
    assert pcn_client.find_patient("9434765919") is None
    registered = pcn_client.register_patient(PATIENT)
    assert registered.nhs_number == "9434765919"
    assert registered.registration_type == "T"
    found = pcn_client.find_patient("9434765919")
    assert found is not None
    assert found.patient_id == registered.patient_id
    with pytest.raises(PatientAlreadyRegistered):
        pcn_client.register_patient(PATIENT)


def test_invalid_nhs_number_is_rejected(pcn_client):
    with pytest.raises(EmisRejected) as excinfo:
        pcn_client.find_patient("1234567890")
    assert excinfo.value.spine_code == "INVALID_NHS_NUMBER"
    assert pcn_client.calls == 1


def test_5xx_is_retried_then_raised(emis_world, pcn_client):
    emis_world.faults("U10001", error_rate=1.0)
    with pytest.raises(EmisUnavailable):
        pcn_client.find_patient("9434765919")
    assert pcn_client.calls == 3  # 1 + EMIS_MAX_RETRIES (2)


def test_rejected_auth_is_not_retried(emis_world, pcn_client):
    emis_world.faults("U10001", reject_auth=True)
    with pytest.raises(EmisAuthError):
        pcn_client.search_free_slots(*window())
    assert pcn_client.calls == 1


def test_wrong_secret_is_an_auth_error_when_signing(emis_world, practice_a, superuser):
    from emis_integration import services

    connection = emis_world.connections["U10001"]
    services.connection_update_config(
        actor=superuser,
        connection=connection,
        client_secret="not-the-right-secret-0123456789ab",
        sign_jwt=True,
    )
    with (
        emis_client(connection=connection, requesting_organisation=practice_a) as client,
        pytest.raises(EmisAuthError),
    ):
        client.metadata()


def test_long_searches_are_split_into_14_day_calls(pcn_client, emis_world):
    emis_world.slots("U10001", [at(2, 9), at(20, 9), at(33, 9)])
    now = timezone.now()
    slots = pcn_client.search_free_slots(now, now + timedelta(days=35))
    assert len(slots) == 3
    assert pcn_client.calls == 3


@pytest.mark.django_db(transaction=True)
def test_timeouts_over_real_http_are_unavailable_and_retried(
    live_server, pcn_a, practice_a, practice_a2, settings
):
    from tests.emis_world import EmisWorld

    settings.EMIS_READ_TIMEOUT = 0.5
    world = EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])
    world.faults("U10001", force_timeout=True, timeout_seconds=2)
    with (
        emis_client(
            connection=world.connections["U10001"], requesting_organisation=practice_a
        ) as client,
        pytest.raises(EmisUnavailable, match="did not answer within"),
    ):
        client.find_patient("9434765919")
    assert client.calls == 3
