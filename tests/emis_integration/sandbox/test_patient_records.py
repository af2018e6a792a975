"""Every booked appointment is held by a patient record of the organisation:
through GP Connect the referenced Patient (always); booked by EMIS staff, the
existing record or a new appointment-only record, which GP Connect's Find a
patient does not return (nor accepts as a reference) and registering upgrades."""

from __future__ import annotations

import pytest

from emis_integration import gpconnect as gpc
from emis_integration.sandbox import services
from emis_integration.sandbox.errors import InvalidResource
from emis_integration.sandbox.models import Appointment, Patient, RegistrationType

from .conftest import tomorrow_at
from .helpers import booking_body, booking_request, dumps, fhir_base, headers, nhs_numbers
from .test_patients import find, patient_resource, register, registration_type

NHS = "9434765919"
IDENTIFIER = f"{gpc.NHS_NUMBER_SYSTEM}|{NHS}"


def book_direct(pcn, slot):
    """Booked by EMIS staff, as the simulation does: no GP Connect reference."""
    appointment = services.appointment_book(organisation=pcn, booking=booking_request(slot, NHS))
    return appointment


def book(api, pcn, slot, *, patient_reference: str = ""):
    response = api.post(
        f"{fhir_base(pcn)}/Appointment",
        data=dumps(booking_body(slot, patient_reference=patient_reference)),
        content_type="application/fhir+json",
        headers=headers(pcn, gpc.INTERACTION_BOOK, scope=gpc.SCOPE_PATIENT_WRITE),
    )
    assert response.status_code == 201, response.content[:2000]
    return response.json(), Appointment.objects.get(pk=int(response.json()["id"]))


def patient_actor(resource: dict) -> str:
    return next(
        p["actor"]["reference"]
        for p in resource["participant"]
        if p["actor"]["reference"].startswith(("#", "Patient/"))
    )


def test_booking_an_unregistered_patient_makes_an_appointment_only_record(pcn, slot):
    appointment = book_direct(pcn, slot)
    record = appointment.patient_record
    assert record is not None
    assert (record.organisation, record.nhs_number, record.registration_type) == (
        pcn,
        NHS,
        RegistrationType.APPOINTMENT_ONLY,
    )
    assert (record.family, record.given, str(record.birth_date), record.gender) == (
        "Smith",
        "Jane",
        "1980-04-02",
        "female",
    )
    assert record.registered_practice_ods == "A10001"
    assert appointment.patient is None
    assert appointment.patient_reference == "#patient"


def test_gp_connect_cannot_reference_an_appointment_only_record(api, pcn, make_slot):
    record = book_direct(pcn, make_slot(tomorrow_at(9))).patient_record
    response = api.post(
        f"{fhir_base(pcn)}/Appointment",
        data=dumps(
            booking_body(make_slot(tomorrow_at(10)), patient_reference=f"Patient/{record.pk}")
        ),
        content_type="application/fhir+json",
        headers=headers(pcn, gpc.INTERACTION_BOOK, scope=gpc.SCOPE_PATIENT_WRITE),
    )
    assert response.status_code == 422
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == (
        gpc.ERR_REFERENCE_NOT_FOUND
    )


def test_a_second_booking_reuses_the_record(pcn, make_slot):
    first = book_direct(pcn, make_slot(tomorrow_at(9)))
    second = book_direct(pcn, make_slot(tomorrow_at(10)))
    assert first.patient_record_id == second.patient_record_id
    assert Patient.objects.filter(organisation=pcn).count() == 1


def test_a_referenced_patient_holds_the_appointment(api, pcn, slot, make_patient):
    registered = make_patient(pcn, NHS, RegistrationType.TEMPORARY)
    resource, appointment = book(api, pcn, slot, patient_reference=f"Patient/{registered.pk}")
    assert appointment.patient_record == registered == appointment.patient
    assert patient_actor(resource) == f"Patient/{registered.pk}"


def test_an_existing_registration_holds_a_staff_booking(pcn, slot, make_patient):
    registered = make_patient(pcn, NHS, RegistrationType.TEMPORARY)
    appointment = book_direct(pcn, slot)
    assert appointment.patient_record == registered
    assert appointment.patient is None


def test_a_refused_booking_makes_no_record(pcn, practice, make_slot):
    restricted = make_slot(allowed_ods=["A10002"])
    with pytest.raises(InvalidResource):
        services.appointment_book(organisation=pcn, booking=booking_request(restricted, NHS))
    assert not Patient.objects.exists()


def test_find_a_patient_does_not_return_appointment_only_records(api, pcn, slot):
    book_direct(pcn, slot)
    response = find(api, pcn, IDENTIFIER)
    assert response.status_code == 200
    assert "entry" not in response.json()


def test_registering_upgrades_an_appointment_only_record(api, pcn, slot):
    appointment = book_direct(pcn, slot)
    record = appointment.patient_record
    response = register(
        api,
        pcn,
        patient_resource(name=[{"use": "official", "family": "Smith-Jones", "given": ["Jane"]}]),
    )
    assert response.status_code == 200, response.json()
    (entry,) = response.json()["entry"]
    assert entry["resource"]["id"] == str(record.pk)
    assert registration_type(entry["resource"]) == gpc.REGISTRATION_TYPE_TEMPORARY
    record.refresh_from_db()
    assert (record.registration_type, record.family) == (RegistrationType.TEMPORARY, "Smith-Jones")
    assert Patient.objects.filter(organisation=pcn).count() == 1
    found = find(api, pcn, IDENTIFIER).json()["entry"][0]["resource"]
    assert found["id"] == str(record.pk)
    # Registered now: a second registration is a duplicate.
    assert register(api, pcn, patient_resource()).status_code == 409


def test_simulated_bookings_have_records_too(pcn, practice, make_slot, make_patient):
    numbers = nhs_numbers(2)
    make_patient(practice, numbers[0])
    at_pcn = make_patient(practice, numbers[1])
    registered = make_patient(pcn, at_pcn.nhs_number, RegistrationType.TEMPORARY)
    for i in range(2):
        make_slot(tomorrow_at(9, 10 * i), allowed_ods=["A10001"])
    services.bookings_simulate(pcn=pcn, count=2)
    records = {a.patient_nhs_number: a.patient_record for a in Appointment.objects.all()}
    assert records[numbers[1]] == registered
    assert records[numbers[0]].registration_type == RegistrationType.APPOINTMENT_ONLY
