"""Book, read and cancel appointments; booking restrictions and caps."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from emis_integration import gpconnect as gpc
from emis_integration.sandbox.models import Appointment, BookingCap, SlotStatus

from .conftest import tomorrow_at
from .helpers import booking_body, dumps, fhir_base, headers, nhs_numbers, outcome_code, validate

FHIR = "application/fhir+json"


def book(api, organisation, body, requester_ods="A10001"):
    return api.post(
        f"{fhir_base(organisation)}/Appointment",
        data=body if isinstance(body, str | bytes) else dumps(body),
        content_type=FHIR,
        headers=headers(
            organisation,
            gpc.INTERACTION_BOOK,
            requester_ods=requester_ods,
            scope=gpc.SCOPE_PATIENT_WRITE,
        ),
    )


def read(api, organisation, appointment_id):
    return api.get(
        f"{fhir_base(organisation)}/Appointment/{appointment_id}",
        headers=headers(
            organisation, gpc.INTERACTION_READ_APPOINTMENT, scope=gpc.SCOPE_PATIENT_READ
        ),
    )


def cancel(api, organisation, resource, if_match: str | None):
    sent = headers(organisation, gpc.INTERACTION_CANCEL, scope=gpc.SCOPE_PATIENT_WRITE)
    if if_match is not None:
        sent["If-Match"] = if_match
    return api.put(
        f"{fhir_base(organisation)}/Appointment/{resource['id']}",
        data=dumps(resource),
        content_type=FHIR,
        headers=sent,
    )


def as_cancelled(resource, reason="Patient unwell"):
    cancelled = copy.deepcopy(resource)
    cancelled["status"] = "cancelled"
    cancelled["extension"].append({"url": gpc.EXT_CANCELLATION_REASON, "valueString": reason})
    return cancelled


# --- book -----------------------------------------------------------------------------------
def test_book_returns_the_stored_appointment(api, pcn, practice, slot):
    response = book(api, pcn, booking_body(slot))
    assert response.status_code == 201, response.json()
    appointment = response.json()
    validate(appointment, "Appointment")
    assert response["ETag"] == 'W/"1"'
    assert (
        response["Location"] == f"http://testserver{fhir_base(pcn)}/Appointment/{appointment['id']}"
    )
    assert response["Cache-Control"] == "no-store"
    assert appointment["status"] == "booked"
    assert appointment["meta"]["versionId"] == "1"
    assert appointment["minutesDuration"] == 10
    assert appointment["slot"] == [{"reference": f"Slot/{slot.pk}"}]
    assert appointment["description"] == "Flu clinic"
    contained = {c["id"]: c for c in appointment["contained"]}
    assert contained["booking-org"]["identifier"][0]["value"] == "A10001"
    patient = contained["patient"]
    assert patient["identifier"][0] == {"system": gpc.NHS_NUMBER_SYSTEM, "value": "9434765919"}
    assert patient["generalPractitioner"][0]["identifier"]["value"] == "A10001"
    actors = [p["actor"] for p in appointment["participant"]]
    assert actors[0] == {"reference": f"Patient/{Appointment.objects.get().patient_id}"}
    assert actors[1] == {
        "reference": f"Location/{slot.schedule.site_id}",
        "display": "Riverside Hub",
    }
    assert actors[2] == {
        "reference": f"Practitioner/{slot.schedule.practitioner_id}",
        "display": "Dr Asha PATEL",
    }
    slot.refresh_from_db()
    assert slot.status == SlotStatus.BUSY


def test_booked_slot_is_no_longer_free_and_second_booking_is_duplicate(api, pcn, practice, slot):
    assert book(api, pcn, booking_body(slot)).status_code == 201
    today = timezone.localdate()
    search = api.get(
        f"{fhir_base(pcn)}/Slot?start=ge{today}&end=le{today + timedelta(days=7)}&status=free",
        headers=headers(pcn, gpc.INTERACTION_SEARCH_SLOTS),
    )
    assert search.status_code == 200
    assert "entry" not in search.json()
    again = book(api, pcn, booking_body(slot, nhs_number=nhs_numbers(1)[0]))
    assert again.status_code == 409
    assert outcome_code(again) == gpc.ERR_DUPLICATE_REJECTED


def test_booking_a_registered_patient_by_reference(api, pcn, practice, slot, make_patient):
    record = make_patient(
        pcn, "9434765919", registration_type="T", registered_practice_ods="A10001"
    )
    response = book(api, pcn, booking_body(slot, patient_reference=f"Patient/{record.pk}"))
    assert response.status_code == 201
    assert response.json()["participant"][0]["actor"] == {"reference": f"Patient/{record.pk}"}
    assert Appointment.objects.get().patient == record


def test_booking_an_unknown_patient_reference_is_reference_not_found(api, pcn, practice, slot):
    response = book(api, pcn, booking_body(slot, patient_reference="Patient/999999"))
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_REFERENCE_NOT_FOUND
    assert "find the patient, or register them" in response.json()["issue"][0]["diagnostics"]
    assert not Appointment.objects.exists()


def _mutations(slot):
    def drop_extension(body):
        body["extension"] = []

    def drop_org(body):
        body["contained"] = [c for c in body["contained"] if c["resourceType"] != "Organization"]

    def drop_patient_participant(body):
        body["participant"] = []

    def contained_patient(body):
        body["contained"].append(
            {
                "resourceType": "Patient",
                "id": "patient",
                "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": "9434765919"}],
                "name": [{"use": "official", "family": "Smith", "given": ["Jane"]}],
                "birthDate": "1980-04-02",
                "gender": "female",
            }
        )

    def contained_patient_reference(body):
        contained_patient(body)
        body["participant"][0]["actor"] = {"reference": "#patient"}

    def no_location(body):
        body["participant"] = [
            p for p in body["participant"] if not p["actor"]["reference"].startswith("Location/")
        ]

    def other_location(body):
        body["participant"][1]["actor"] = {"reference": "Location/99999999"}

    def no_telecom(body):
        body["contained"][0].pop("telecom")

    def organisation_type(body):
        body["contained"][0]["type"] = [
            {"coding": [{"system": gpc.ORGANISATION_TYPE_SYSTEM, "code": "gp-practice"}]}
        ]

    def wrong_status(body):
        body["status"] = "proposed"

    def wrong_start(body):
        body["start"] = (slot.start + timedelta(minutes=5)).isoformat()

    def unknown_slot(body):
        body["slot"] = [{"reference": "Slot/99999999"}]

    def no_slot(body):
        body.pop("slot")

    def long_description(body):
        body["description"] = "x" * 101

    def not_an_appointment(body):
        body["resourceType"] = "Patient"

    return {
        "no booking extension": drop_extension,
        "no contained organisation": drop_org,
        "no patient participant": drop_patient_participant,
        "a contained patient": contained_patient,
        "a #patient reference": contained_patient_reference,
        "no location participant": no_location,
        "not the slot's location": other_location,
        "booking organisation without telecom": no_telecom,
        "booking organisation with a type": organisation_type,
        "status not booked": wrong_status,
        "start differs from slot": wrong_start,
        "unknown slot": unknown_slot,
        "no slot": no_slot,
        "description too long": long_description,
        "not an appointment": not_an_appointment,
    }


@pytest.mark.parametrize(
    "mutation",
    [
        "no booking extension",
        "no contained organisation",
        "no patient participant",
        "a contained patient",
        "a #patient reference",
        "no location participant",
        "not the slot's location",
        "booking organisation without telecom",
        "booking organisation with a type",
        "status not booked",
        "start differs from slot",
        "unknown slot",
        "no slot",
        "description too long",
        "not an appointment",
    ],
)
def test_malformed_booking_is_invalid_resource(api, pcn, practice, slot, mutation):
    body = booking_body(slot)
    _mutations(slot)[mutation](body)
    response = book(api, pcn, body)
    assert response.status_code == 422, response.json()
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE
    assert response.json()["issue"][0]["diagnostics"]
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[]", '{"resourceType": "Appointment"'])
def test_body_that_is_not_an_appointment_is_invalid_resource(api, pcn, body):
    response = book(api, pcn, body)
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE


def test_booking_a_past_slot_is_invalid(api, pcn, practice, make_slot):
    past = make_slot((timezone.now() - timedelta(hours=1)).replace(microsecond=0))
    response = book(api, pcn, booking_body(past))
    assert response.status_code == 422
    assert "past" in response.json()["issue"][0]["diagnostics"]


def test_booking_restricted_slot_by_other_organisation_is_invalid(
    api, pcn, practice, practice2, make_slot
):
    restricted = make_slot(allowed_ods=["A10001"])
    response = book(
        api, pcn, booking_body(restricted, booking_ods="A10002"), requester_ods="A10002"
    )
    assert response.status_code == 422
    assert "may not book" in response.json()["issue"][0]["diagnostics"]
    assert book(api, pcn, booking_body(restricted)).status_code == 201


def test_booking_cap(api, pcn, practice, make_slot):
    BookingCap.objects.create(organisation=pcn, booking_org_ods="A10001", max_active_bookings=2)
    numbers = nhs_numbers(3)
    for index in range(2):
        slot = make_slot(tomorrow_at(9, 10 * index))
        assert book(api, pcn, booking_body(slot, nhs_number=numbers[index])).status_code == 201
    third = make_slot(tomorrow_at(11))
    response = book(api, pcn, booking_body(third, nhs_number=numbers[2]))
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE
    assert "booking limit reached" in response.json()["issue"][0]["diagnostics"].lower()
    # Another booking organisation is not affected by A10001's cap.
    other = book(api, pcn, booking_body(third, booking_ods="A10002", nhs_number=numbers[2]))
    assert other.status_code == 201


def test_cancelled_bookings_do_not_count_towards_the_cap(api, pcn, practice, make_slot):
    BookingCap.objects.create(organisation=pcn, booking_org_ods="A10001", max_active_bookings=1)
    first = book(api, pcn, booking_body(make_slot(tomorrow_at(9)))).json()
    assert cancel(api, pcn, as_cancelled(first), 'W/"1"').status_code == 200
    second = make_slot(tomorrow_at(10))
    assert book(api, pcn, booking_body(second)).status_code == 201


# --- read ----------------------------------------------------------------------------------
def test_read_returns_the_appointment_with_etag(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    response = read(api, pcn, booked["id"])
    assert response.status_code == 200
    assert response["ETag"] == 'W/"1"'
    assert response.json() == booked
    validate(response.json(), "Appointment")


@pytest.mark.parametrize("appointment_id", ["999999", "abc", "1.5"])
def test_read_unknown_appointment_is_no_record_found(api, pcn, appointment_id):
    response = read(api, pcn, appointment_id)
    assert response.status_code == 404
    assert outcome_code(response) == gpc.ERR_NO_RECORD_FOUND


def test_appointments_of_another_organisation_are_not_found(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    assert read(api, practice, booked["id"]).status_code == 404


# --- cancel -------------------------------------------------------------------------------
def test_cancel_frees_the_slot_and_bumps_the_version(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    response = cancel(api, pcn, as_cancelled(booked, "Double booked"), 'W/"1"')
    assert response.status_code == 200, response.json()
    cancelled = response.json()
    validate(cancelled, "Appointment")
    assert response["ETag"] == 'W/"2"'
    assert cancelled["status"] == "cancelled"
    assert cancelled["meta"]["versionId"] == "2"
    assert cancelled["meta"]["lastUpdated"] > booked["meta"]["lastUpdated"]
    assert {"url": gpc.EXT_CANCELLATION_REASON, "valueString": "Double booked"} in cancelled[
        "extension"
    ]
    assert cancelled["created"] == booked["created"]
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FREE
    # The slot can be booked again.
    assert book(api, pcn, booking_body(slot)).status_code == 201


def test_stale_if_match_is_constraint_violation(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    for stale in ['W/"7"', "invalidEtag"]:
        response = cancel(api, pcn, as_cancelled(booked), stale)
        assert response.status_code == 409
        assert outcome_code(response) == gpc.ERR_FHIR_CONSTRAINT_VIOLATION
    assert Appointment.objects.get().status == "booked"


def test_missing_if_match_is_bad_request(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    response = cancel(api, pcn, as_cancelled(booked), None)
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST


def test_cancel_without_reason_is_invalid(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    body = copy.deepcopy(booked)
    body["status"] = "cancelled"
    response = cancel(api, pcn, body, 'W/"1"')
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE


@pytest.mark.parametrize("field", ["comment", "description", "start", "participant", "slot"])
def test_cancel_that_changes_anything_else_is_invalid(api, pcn, practice, slot, field):
    booked = book(api, pcn, booking_body(slot)).json()
    body = as_cancelled(booked)
    changes = {
        "comment": "RANDOM COMMENT",
        "description": "RANDOM DESCRIPTION",
        "start": (slot.start - timedelta(minutes=10)).isoformat(),
        "participant": body["participant"]
        + [{"actor": {"reference": "Practitioner/2"}, "status": "accepted"}],
        "slot": [{"reference": "Slot/1"}],
    }
    body[field] = changes[field]
    response = cancel(api, pcn, body, 'W/"1"')
    assert response.status_code == 422
    assert field in response.json()["issue"][0]["diagnostics"]


def test_cancelling_twice_is_invalid(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    cancelled = cancel(api, pcn, as_cancelled(booked), 'W/"1"').json()
    cancelled["extension"] = [
        e for e in cancelled["extension"] if e["url"] != gpc.EXT_CANCELLATION_REASON
    ]
    again = cancel(api, pcn, as_cancelled(cancelled), 'W/"2"')
    assert again.status_code == 422
    assert "already cancelled" in again.json()["issue"][0]["diagnostics"]


def test_cancelling_a_past_appointment_is_invalid(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    Appointment.objects.filter(pk=booked["id"]).update(start=timezone.now() - timedelta(minutes=5))
    response = cancel(api, pcn, as_cancelled(booked), 'W/"1"')
    assert response.status_code == 422


def test_cancel_unknown_appointment_is_no_record_found(api, pcn, practice, slot):
    booked = book(api, pcn, booking_body(slot)).json()
    body = as_cancelled(booked)
    body["id"] = "999999"
    response = cancel(api, pcn, body, 'W/"1"')
    assert response.status_code == 404


def test_booking_needs_no_csrf_token(pcn, practice, slot):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert book(strict, pcn, booking_body(slot)).status_code == 201


@pytest.mark.parametrize(
    "change",
    [
        {"contained": "nope"},
        {"contained": [1, None, {"id": 5}]},
        {"participant": {"actor": "x"}},
        {"participant": [{"actor": {"reference": 5}}]},
        {"participant": [{"actor": {"reference": "Patient/abc"}}]},
        {"extension": "x"},
        {"extension": [{"url": gpc.EXT_BOOKING_ORGANISATION, "valueReference": "#booking-org"}]},
        {"slot": "Slot/1"},
        {"slot": [{"reference": "Slot/1"}, {"reference": "Slot/2"}]},
        {"start": 12},
        {"start": "9999-12-31T23:59:59-12:00"},
        {"description": ["x"]},
        {"id": "12"},
    ],
)
def test_garbage_never_causes_a_server_error(api, pcn, practice, slot, change):
    body = booking_body(slot)
    body.update(change)
    response = book(api, pcn, body)
    assert response.status_code == 422, response.json()
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE
