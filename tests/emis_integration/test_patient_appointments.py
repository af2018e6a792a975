"""Retrieve a patient's appointments and the commit_then_fail fault knob, over the
bundled sandbox through the real client."""

from datetime import timedelta

import pytest
from django.utils import timezone

from emis_integration.client import EmisUnavailable, PatientNotFound, book_patient
from emis_integration.sandbox import models as sandbox
from emis_integration.sandbox.services import organisation_set_faults
from emis_integration.selectors import emis_client
from tests.emis_integration.test_client_sandbox import ORG, PATIENT, window
from tests.emis_world import at


@pytest.fixture
def pcn_client(emis_world, practice_a):
    with emis_client(
        connection=emis_world.connections["U10001"], requesting_organisation=practice_a
    ) as client:
        yield client


@pytest.fixture
def pcn_slots(emis_world):
    return emis_world.slots("U10001", [at(2, 9), at(2, 9, 10), at(5, 14)])


def book(client, slot):
    return book_patient(client, slot=slot, patient=PATIENT, booking_organisation=ORG)


def test_a_patients_appointments_booked_and_cancelled_in_the_window(pcn_client, pcn_slots):
    free = pcn_client.search_free_slots(*window())
    first = book(pcn_client, free[0])
    second = book(pcn_client, free[1]).appointment
    later = book(pcn_client, free[2]).appointment
    pcn_client.cancel(second.appointment_id, "Patient asked to cancel")

    found = pcn_client.patient_appointments(first.patient_id, start=at(2, 0), end=at(2, 23, 59))
    assert [(a.appointment_id, a.status) for a in found] == [
        (first.appointment.appointment_id, "booked"),
        (second.appointment_id, "cancelled"),
    ]
    assert found[0].slot_ids == (free[0].slot_id,)
    assert later.appointment_id not in {a.appointment_id for a in found}


def test_a_patient_with_no_appointments_is_an_empty_list(pcn_client):
    registered = pcn_client.register_patient(PATIENT)
    now = timezone.now()
    assert (
        pcn_client.patient_appointments(
            registered.patient_id, start=now, end=now + timedelta(days=1)
        )
        == []
    )


def test_an_unknown_patient_is_patient_not_found(pcn_client):
    now = timezone.now()
    with pytest.raises(PatientNotFound) as excinfo:
        pcn_client.patient_appointments("999999", start=now, end=now + timedelta(days=1))
    assert (excinfo.value.status_code, excinfo.value.spine_code) == (404, "PATIENT_NOT_FOUND")


def test_commit_then_fail_books_once_answers_504_and_is_not_retried(
    emis_world, pcn_client, pcn_slots
):
    organisation = sandbox.SandboxOrganisation.objects.get(ods_code="U10001")
    organisation_set_faults(organisation=organisation, commit_then_fail=True)
    free = pcn_client.search_free_slots(*window())
    calls_before = pcn_client.calls
    with pytest.raises(EmisUnavailable) as excinfo:
        book(pcn_client, free[0])
    assert excinfo.value.status_code == 504
    assert pcn_client.calls - calls_before == 3  # find, register, one POST (no retry)
    booked = sandbox.Appointment.objects.get(organisation=organisation)
    assert booked.status == "booked"
    assert booked.slot_id == pcn_slots[0].pk

    record = pcn_client.find_patient(PATIENT.nhs_number)
    assert record is not None
    found = pcn_client.patient_appointments(record.patient_id, start=at(2, 0), end=at(2, 23))
    assert [a.appointment_id for a in found] == [str(booked.pk)]
