"""GPConnectClient reads payloads shaped like GP Connect 1.2.x's published example
responses (written here, not copied), served over real HTTP by FaultServer: every
field the product reads is asserted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from emis_integration import gpconnect as gpc

from .fault_server import FaultServer, Reply
from .test_client_faults import ORG, PATIENT, SLOT, make_client

FHIR_JSON = {"Content-Type": "application/fhir+json"}
ODS = gpc.ODS_ORGANISATION_SYSTEM
APPT_PROFILE = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def organization(id_: str, ods: str, name: str) -> dict:
    return {
        "resourceType": "Organization",
        "id": id_,
        "meta": {"versionId": "1", "profile": [ODS]},
        "identifier": [{"system": ODS, "value": ods}],
        "name": name,
        "telecom": [{"system": "phone", "value": "0300 303 5678", "use": "work"}],
    }


def slot_bundle() -> dict:
    def entry(resource: dict) -> dict:
        return {
            "fullUrl": f"https://provider.example/fhir/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
        }

    return {
        "resourceType": "Bundle",
        "id": "a1b2",
        "meta": {"lastUpdated": "2026-07-01T09:00:00+01:00"},
        "type": "searchset",
        "entry": [
            entry(
                {
                    "resourceType": "Slot",
                    "id": "1001",
                    "meta": {"versionId": "1"},
                    "extension": [{"url": gpc.EXT_DELIVERY_CHANNEL, "valueCode": "In-person"}],
                    "serviceType": [{"text": "Flu vaccination"}],
                    "schedule": {"reference": "Schedule/14"},
                    "status": "free",
                    "start": "2026-07-02T10:00:00+01:00",
                    "end": "2026-07-02T10:10:00+01:00",
                }
            ),
            entry(
                {
                    "resourceType": "Schedule",
                    "id": "14",
                    "meta": {"versionId": "1"},
                    "extension": [
                        {
                            "url": gpc.EXT_PRACTITIONER_ROLE,
                            "valueCodeableConcept": {"coding": [{"code": "R0260"}]},
                        }
                    ],
                    "serviceType": [{"text": "Vaccinations"}],
                    "actor": [
                        {"reference": "Practitioner/2"},
                        {"reference": "Location/17"},
                    ],
                    "planningHorizon": {
                        "start": "2026-07-02T09:00:00+01:00",
                        "end": "2026-07-02T12:00:00+01:00",
                    },
                }
            ),
            entry(
                {
                    "resourceType": "Location",
                    "id": "17",
                    "meta": {"versionId": "1"},
                    "name": "Riverside Hub",
                    "address": {
                        "line": ["1 High Street", "Riverside"],
                        "city": "Leeds",
                        "postalCode": "LS1 4HR",
                    },
                    "telecom": [{"system": "phone", "value": "0113 496 0000"}],
                    "managingOrganization": {"reference": "Organization/7"},
                }
            ),
            entry(
                {
                    "resourceType": "Practitioner",
                    "id": "2",
                    "meta": {"versionId": "1"},
                    "identifier": [{"system": gpc.SDS_USER_SYSTEM, "value": "G13579135"}],
                    "name": [
                        {
                            "use": "usual",
                            "family": "Gilbert",
                            "given": ["Nichole"],
                            "prefix": ["Dr"],
                        }
                    ],
                    "gender": "female",
                }
            ),
            entry(organization("7", "U10001", "Alpha PCN")),
        ],
    }


def appointment(*, status: str = "booked", version: str = "1", extra_ext=()) -> dict:
    return {
        "resourceType": "Appointment",
        "id": "148",
        "meta": {
            "versionId": version,
            "lastUpdated": "2026-07-01T09:15:00+01:00",
            "profile": [APPT_PROFILE],
        },
        "contained": [
            {
                **organization("1", "A10001", "Alpha Surgery"),
                "meta": {"profile": [ODS]},
            }
        ],
        "extension": [
            {"url": gpc.EXT_BOOKING_ORGANISATION, "valueReference": {"reference": "#1"}},
            *extra_ext,
        ],
        "status": status,
        "description": "Flu vaccination",
        "start": "2026-07-02T10:00:00+01:00",
        "end": "2026-07-02T10:10:00+01:00",
        "slot": [{"reference": "Slot/1001"}],
        "created": "2026-07-01T09:15:00+01:00",
        "participant": [
            {"actor": {"reference": "Patient/2"}, "status": "accepted"},
            {
                "actor": {"reference": "Location/17", "display": "Riverside Hub"},
                "status": "accepted",
            },
            {
                "actor": {"reference": "Practitioner/2", "display": "Dr Nichole Gilbert"},
                "status": "accepted",
            },
        ],
    }


CANCELLED = appointment(
    status="cancelled",
    version="2",
    extra_ext=[{"url": gpc.EXT_CANCELLATION_REASON, "valueString": "Patient unwell"}],
)


def patient_bundle() -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "2",
                    "meta": {"versionId": "1"},
                    "extension": [
                        {
                            "url": gpc.EXT_REGISTRATION_DETAILS,
                            "extension": [
                                {
                                    "url": "registrationPeriod",
                                    "valuePeriod": {"start": "2026-07-01T09:00:00+01:00"},
                                },
                                {
                                    "url": gpc.EXT_REGISTRATION_TYPE,
                                    "valueCodeableConcept": {
                                        "coding": [
                                            {
                                                "system": gpc.REGISTRATION_TYPE_SYSTEM,
                                                "code": "T",
                                                "display": "Temporary",
                                            }
                                        ]
                                    },
                                },
                            ],
                        }
                    ],
                    "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": "9434765919"}],
                    "active": True,
                    "name": [{"use": "official", "family": "Smith", "given": ["Jane"]}],
                    "gender": "female",
                    "birthDate": "1980-04-02",
                }
            }
        ],
    }


def reply(body: dict, status: int = 200, **headers: str) -> Reply:
    return Reply(status=status, body=body, headers={**FHIR_JSON, **headers})


def test_slot_search_searchset(server):
    server.queue(reply(slot_bundle()))
    client = make_client(server.base_url)
    [slot] = client.search_free_slots(
        datetime(2026, 7, 2, 8, tzinfo=UTC), datetime(2026, 7, 2, 12, tzinfo=UTC)
    )
    assert slot.slot_id == "1001"
    assert slot.start == datetime(2026, 7, 2, 9, tzinfo=UTC)
    assert slot.end == datetime(2026, 7, 2, 9, 10, tzinfo=UTC)
    assert slot.site_name == "Riverside Hub"
    assert "1 High Street" in slot.site_address and "LS1 4HR" in slot.site_address
    assert "Gilbert" in slot.practitioner and "Nichole" in slot.practitioner
    assert slot.service_type == "Flu vaccination"
    assert slot.delivery_channel == "In-person"
    assert (slot.schedule_id, slot.location_id, slot.practitioner_id) == ("14", "17", "2")
    assert slot.organisation_ods == "U10001"


def assert_appointment(record, *, status: str, version: str) -> None:
    assert record.appointment_id == "148"
    assert record.version == version
    assert record.status == status
    assert record.start == datetime(2026, 7, 2, 9, tzinfo=UTC)
    assert record.end == datetime(2026, 7, 2, 9, 10, tzinfo=UTC)
    assert record.last_updated == datetime(2026, 7, 1, 8, 15, tzinfo=UTC)
    assert record.created == datetime(2026, 7, 1, 8, 15, tzinfo=UTC)
    assert record.slot_ids == ("1001",)
    assert (record.booking_org_ods, record.booking_org_name) == ("A10001", "Alpha Surgery")
    assert record.provider_patient_id == "2"
    assert record.site_name == "Riverside Hub"
    assert record.practitioner == "Dr Nichole Gilbert"
    assert record.description == "Flu vaccination"


def test_booked_appointment_201(server):
    server.queue(reply(appointment(), 201, ETag='W/"1"', Location="Appointment/148"))
    record = make_client(server.base_url).book(SLOT, PATIENT, ORG)
    assert_appointment(record, status="booked", version="1")
    assert record.cancellation_reason == ""
    assert not record.is_cancelled


def test_cancelled_appointment(server):
    server.queue(reply(appointment(), ETag='W/"1"'), reply(CANCELLED, ETag='W/"2"'))
    record = make_client(server.base_url).cancel("148", "Patient unwell")
    assert_appointment(record, status="cancelled", version="2")
    assert record.cancellation_reason == "Patient unwell"
    assert record.is_cancelled


def test_registered_patient_bundle(server):
    server.queue(reply(patient_bundle()))
    record = make_client(server.base_url).register_patient(PATIENT)
    assert record.patient_id == "2"
    assert record.nhs_number == "9434765919"
    assert (record.family_name, record.given_name) == ("Smith", "Jane")
    assert record.birth_date == date(1980, 4, 2)
    assert record.gender == "female"
    assert record.registration_type == "T"


def test_patient_appointments_searchset(server):
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"fullUrl": "https://provider.example/fhir/Appointment/148", "resource": CANCELLED},
            {
                "fullUrl": "https://provider.example/fhir/Location/17",
                "resource": slot_bundle()["entry"][2]["resource"],
            },
        ],
    }
    server.queue(reply(bundle))
    [record] = make_client(server.base_url).patient_appointments(
        "2", start=datetime(2026, 7, 1, tzinfo=UTC), end=datetime(2026, 7, 3, tzinfo=UTC)
    )
    assert_appointment(record, status="cancelled", version="2")
    assert record.cancellation_reason == "Patient unwell"
