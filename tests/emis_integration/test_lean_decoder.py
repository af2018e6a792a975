"""The lean msgspec decoder of the polling path: the same records as the fully
validated FHIR path, and malformed pages rejected with a clear reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from emis_integration import gpconnect as gpc
from emis_integration.client import EmisRejected, EmisUnavailable
from emis_integration.client.lean import appointment_from_dict, appointment_page
from emis_integration.selectors import emis_client
from tests.emis_world import at

from .fault_server import FaultServer, Reply
from .test_client_faults import make_client
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


def page(*resources, next_url=""):
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
        "link": [{"relation": "self", "url": "http://emis/Appointment"}],
    }
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    return json.dumps(bundle).encode()


def test_every_field_is_mapped():
    records, next_url = appointment_page(page(appointment(), next_url="http://emis/next"))
    assert next_url == "http://emis/next"
    (record,) = records
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


def test_cancellation_reason_and_other_resources_are_handled():
    cancelled = appointment(
        status="cancelled",
        extension=[
            *appointment()["extension"],
            {"url": gpc.EXT_CANCELLATION_REASON, "valueString": "Patient unwell"},
        ],
    )
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    records, next_url = appointment_page(page(cancelled, outcome))
    assert next_url == ""
    assert [(r.status, r.cancellation_reason) for r in records] == [("cancelled", "Patient unwell")]


def test_a_patient_without_nhs_number_or_practice_is_not_a_crash():
    bare = appointment(contained=[], extension=[], participant=[])
    (record,) = appointment_page(page(bare))[0]
    assert record.patient_nhs_number == "" and record.registered_practice_ods == ""
    assert record.booking_org_ods == ""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not a valid Bundle"),
        (b"[1, 2, 3]", "not a valid Bundle"),
        (json.dumps({"resourceType": "Patient"}).encode(), "expected a Bundle, got Patient"),
        (page(appointment(start="2026-12-01T09:00:00")), "Appointment.start has no time zone"),
        (page(appointment(start=None)), "Appointment.start is missing"),
        (page(appointment(start="next Tuesday")), "not a valid Bundle"),
        (page(appointment(id="")), "Appointment.id is missing"),
        (page(appointment(participant="everyone")), "not a valid Bundle"),
        (page(appointment(meta={"versionId": 3})), "not a valid Bundle"),
    ],
)
def test_malformed_pages_are_rejected_with_the_reason(body, reason):
    with pytest.raises(EmisRejected, match=reason):
        appointment_page(body)


def test_single_appointments_map_the_same_way():
    from_dict = appointment_from_dict(appointment())
    assert from_dict == appointment_page(page(appointment()))[0][0]
    with pytest.raises(EmisRejected, match="expected an Appointment"):
        appointment_from_dict({"resourceType": "Patient"})
    with pytest.raises(EmisRejected, match="does not decode"):
        appointment_from_dict(appointment(slot="Slot/1"))


def test_sandbox_pages_decode_to_what_full_fhir_validation_reads(emis_world, practice_a):
    emis_world.slots("U10001", [at(2, 9), at(2, 9, 10), at(3, 14)])
    with emis_client(
        connection=emis_world.connections["U10001"], requesting_organisation=practice_a
    ) as client:
        for slot in client.search_free_slots(timezone.now(), timezone.now() + timedelta(days=7)):
            booked = client.book(slot, PATIENT, ORG)
        client.cancel(booked.appointment_id, "Patient asked to cancel")
        records = [
            r
            for p in client.list_appointments(timezone.now() - timedelta(hours=1), page_size=2)
            for r in p
        ]
        assert len(records) == 3
        for record in records:
            # get_appointment validates the whole resource with fhir.resources first.
            assert client.get_appointment(record.appointment_id) == record


def test_a_garbage_page_is_rejected_and_not_retried():
    with FaultServer() as server:
        server.default = Reply(200, "{not json at all")
        client = make_client(server.base_url)
        with pytest.raises(EmisRejected, match="not a valid Bundle") as excinfo:
            for _ in client.list_appointments(datetime(2026, 11, 1, tzinfo=UTC)):
                pass
        assert client.calls == 1
    assert not isinstance(excinfo.value, EmisUnavailable)
