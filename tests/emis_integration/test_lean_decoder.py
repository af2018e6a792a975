"""The lean msgspec mapping of GP Connect Appointments (a booking's answer, a
read, a cancellation): every field mapped, the same records as the fully
validated FHIR path, and malformed resources rejected with a clear reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from emis_integration import gpconnect as gpc
from emis_integration.client import EmisRejected, book_patient
from emis_integration.client.lean import appointment_from_dict
from emis_integration.selectors import emis_client
from tests.emis_world import at

from .test_client_sandbox import ORG, PATIENT

START = "2026-12-01T09:00:00+00:00"


def appointment(**overrides):
    resource = {
        "resourceType": "Appointment",
        "id": "42",
        "meta": {"versionId": "3", "lastUpdated": "2026-11-25T04:00:00.123456+00:00"},
        "contained": [
            {
                "resourceType": "Organization",
                "id": "booking-org",
                "identifier": [{"system": gpc.ODS_ORGANISATION_SYSTEM, "value": "A10001"}],
                "name": "Alpha Surgery",
            },
            {
                "resourceType": "Patient",
                "id": "patient",
                "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": "9434765919"}],
                "name": [
                    {"use": "usual", "family": "Nickname"},
                    {"use": "official", "family": "Smith", "given": ["Jane", "Ann"]},
                ],
                "birthDate": "1980-04-02",
                "gender": "female",
                "generalPractitioner": [
                    {
                        "identifier": {"system": gpc.ODS_ORGANISATION_SYSTEM, "value": "A10001"},
                        "display": "Alpha Surgery",
                    }
                ],
            },
        ],
        "extension": [
            {
                "url": gpc.EXT_BOOKING_ORGANISATION,
                "valueReference": {"reference": "#booking-org"},
            }
        ],
        "status": "booked",
        "start": START,
        "end": "2026-12-01T09:10:00+00:00",
        "slot": [{"reference": "Slot/7"}],
        "participant": [
            {"actor": {"reference": "#patient"}, "status": "accepted"},
            {"actor": {"reference": "Location/3", "display": "Alpha Hub"}, "status": "accepted"},
            {"actor": {"reference": "Practitioner/9", "display": "Nurse Alex"}},
        ],
        "description": "Flu vaccination",
    }
    resource.update(overrides)
    return resource


def test_every_field_is_mapped():
    record = appointment_from_dict(appointment())
    assert record.appointment_id == "42" and record.version == "3"
    assert record.status == "booked" and not record.is_cancelled
    assert record.start == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert record.last_updated == datetime(2026, 11, 25, 4, 0, 0, 123456, tzinfo=UTC)
    assert record.slot_ids == ("7",)
    assert (record.booking_org_ods, record.booking_org_name) == ("A10001", "Alpha Surgery")
    assert record.patient_nhs_number == "9434765919"
    assert (record.patient_family_name, record.patient_given_name) == ("Smith", "Jane Ann")
    assert record.patient_birth_date == date(1980, 4, 2)
    assert record.registered_practice_ods == "A10001"
    assert (record.site_name, record.practitioner) == ("Alpha Hub", "Nurse Alex")
    assert record.description == "Flu vaccination"


def test_a_cancellation_reason_is_read():
    cancelled = appointment(
        status="cancelled",
        extension=[
            *appointment()["extension"],
            {"url": gpc.EXT_CANCELLATION_REASON, "valueString": "Patient unwell"},
        ],
    )
    record = appointment_from_dict(cancelled)
    assert (record.status, record.cancellation_reason) == ("cancelled", "Patient unwell")
    assert record.is_cancelled


def test_a_patient_without_nhs_number_or_practice_is_not_a_crash():
    record = appointment_from_dict(appointment(contained=[], extension=[], participant=[]))
    assert record.patient_nhs_number == "" and record.registered_practice_ods == ""
    assert record.booking_org_ods == ""


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ({"resourceType": "Patient"}, "expected an Appointment"),
        ([1, 2, 3], "expected an Appointment"),
        (appointment(start="2026-12-01T09:00:00"), "Appointment.start has no time zone"),
        (appointment(start=None), "Appointment.start is missing"),
        (appointment(start="next Tuesday"), "does not decode"),
        (appointment(id=""), "Appointment.id is missing"),
        (appointment(participant="everyone"), "does not decode"),
        (appointment(slot="Slot/1"), "does not decode"),
    ],
)
def test_malformed_appointments_are_rejected_with_the_reason(resource, reason):
    with pytest.raises(EmisRejected, match=reason):
        appointment_from_dict(resource)


def test_sandbox_answers_map_to_what_full_fhir_validation_reads(emis_world, practice_a):
    emis_world.slots("U10001", [at(2, 9), at(2, 9, 10), at(3, 14)])
    with emis_client(
        connection=emis_world.connections["U10001"], requesting_organisation=practice_a
    ) as client:
        booked = [
            book_patient(client, slot=slot, patient=PATIENT, booking_organisation=ORG).appointment
            for slot in client.search_free_slots(timezone.now(), timezone.now() + timedelta(days=7))
        ]
        cancelled = client.cancel(booked[-1].appointment_id, "Patient asked to cancel")
        assert len(booked) == 3 and cancelled.is_cancelled
        for record in [*booked[:-1], cancelled]:
            # get_appointment validates the whole resource with fhir.resources first.
            assert client.get_appointment(record.appointment_id) == record
