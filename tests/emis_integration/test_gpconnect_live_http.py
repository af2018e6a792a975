"""GPConnectClient against the sandbox served over real HTTP (a socket, Django's
live server): slot searches in GMT and in BST with both search filters, slots
restricted by organisation type, the unsigned and the signed JWT, registration
and a call the provider does not support."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, time
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import pytest

from emis_integration import gpconnect as gpc
from emis_integration import services as emis_services
from emis_integration.client import EmisAuthError, EmisRejected, PatientDetails
from emis_integration.client.types import BookingOrganisation
from emis_integration.sandbox import services as sandbox_services
from emis_integration.sandbox.models import Patient, RegistrationType
from emis_integration.selectors import emis_client
from hippo_pcn.audit.services import system_actor
from tests.emis_world import EmisWorld

UK = ZoneInfo("Europe/London")
ACTOR = system_actor("tests")
PATIENT = PatientDetails(
    "9434765919", "Smith", "Jane", date(1980, 4, 2), "female", "A10001", "Alpha Surgery"
)


SENT: list[httpx.Request] = []


class RecordingTransport(httpx.HTTPTransport):
    """A real socket transport that keeps every request it sends."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        SENT.append(request)
        return super().handle_request(request)


def recording_transport() -> httpx.BaseTransport:
    return RecordingTransport()


@pytest.fixture
def world(live_server, pcn_a, practice_a, practice_a2):
    return EmisWorld(base_url=live_server.url).add_pcn(pcn_a, [practice_a, practice_a2])


@pytest.fixture
def connection(world):
    return world.connections["U10001"]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UK)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("day", "offset"),
    [(date(2026, 12, 15), "+00:00"), (date(2027, 7, 1), "+01:00")],
    ids=["GMT", "BST"],
)
def test_slot_search_in_uk_local_time_over_a_socket(
    world, connection, practice_a, day, offset, settings
):
    settings.EMIS_HTTP_TRANSPORT_FACTORY = f"{__name__}.recording_transport"
    SENT.clear()
    inside = world.slots("U10001", [local(day, 9), local(day, 9, 10)])
    world.slots("U10001", [local(day, 8, 50), local(day, 9, 20)])  # just outside
    assert local(day, 9).isoformat().endswith(offset)
    with emis_client(connection=connection, requesting_organisation=practice_a) as client:
        found = client.search_free_slots(local(day, 9), local(day, 9, 20))
        assert [s.slot_id for s in found] == [str(s.pk) for s in inside]
        assert [s.start for s in found] == [local(day, 9), local(day, 9, 10)]
        assert client.calls == 1
    (request,) = SENT
    query = parse_qs(request.url.query.decode())
    assert query["start"] == [f"ge{day.isoformat()}T09:00:00{offset}"]
    assert query["end"] == [f"le{day.isoformat()}T09:20:00{offset}"]
    assert query["searchFilter"] == [
        f"{gpc.ODS_ORGANISATION_SYSTEM}|A10001",
        f"{gpc.ORGANISATION_TYPE_SYSTEM}|{gpc.ORG_TYPE_GP_PRACTICE}",
    ]


@pytest.mark.django_db(transaction=True)
def test_slots_restricted_by_organisation_type_over_a_socket(world, connection, pcn_a, practice_a):
    day = date(2026, 12, 16)
    schedule = world.schedules["U10001"]
    (practices,) = sandbox_services.slots_create(
        schedule=schedule,
        starts=[local(day, 9)],
        minutes=10,
        allowed_ods=[],
        allowed_org_types=[gpc.ORG_TYPE_GP_PRACTICE],
    )
    (pcns,) = sandbox_services.slots_create(
        schedule=schedule,
        starts=[local(day, 10)],
        minutes=10,
        allowed_ods=[],
        allowed_org_types=[gpc.ORG_TYPE_PCN],
    )
    window = (local(day, 8), local(day, 12))
    with emis_client(connection=connection, requesting_organisation=practice_a) as client:
        assert [s.slot_id for s in client.search_free_slots(*window)] == [str(practices.pk)]
    with emis_client(connection=connection, requesting_organisation=pcn_a) as client:
        assert [s.slot_id for s in client.search_free_slots(*window)] == [str(pcns.pk)]


@pytest.mark.django_db(transaction=True)
def test_unsigned_and_signed_jwts_over_a_socket(connection):
    assert connection.sign_jwt is False  # the GP Connect form: unsigned
    with emis_client(connection=connection) as client:
        assert client.metadata()["fhirVersion"].startswith("3.0")

    emis_services.connection_update_config(actor=ACTOR, connection=connection, sign_jwt=True)
    connection.refresh_from_db()
    with emis_client(connection=connection) as client:
        assert client.metadata()["fhirVersion"].startswith("3.0")

    emis_services.connection_update_config(
        actor=ACTOR, connection=connection, client_secret="not-the-right-secret-0123456789ab"
    )
    connection.refresh_from_db()
    with emis_client(connection=connection) as client:
        with pytest.raises(EmisAuthError):
            client.metadata()
        assert client.calls == 1


@pytest.mark.django_db(transaction=True)
def test_registration_over_a_socket(world, connection, practice_a):
    with emis_client(connection=connection, requesting_organisation=practice_a) as client:
        record = client.register_patient(PATIENT)
        assert record.nhs_number == PATIENT.nhs_number
        assert client.find_patient(PATIENT.nhs_number) is not None
    stored = Patient.objects.get(organisation__ods_code="U10001", nhs_number=PATIENT.nhs_number)
    assert stored.registration_type == RegistrationType.TEMPORARY


@pytest.mark.django_db(transaction=True)
def test_a_call_the_provider_does_not_support_over_a_socket(connection):
    with emis_client(connection=connection) as client:
        with pytest.raises(EmisRejected, match="EMIS does not support this call") as excinfo:
            client._request(
                "GET",
                f"{client.base_url}/Practitioner",
                interaction="urn:nhs:names:services:gpconnect:fhir:rest:search:practitioner-1",
                scope=gpc.SCOPE_ORGANISATION_READ,
            )
        assert excinfo.value.status_code == 501
        assert excinfo.value.spine_code == gpc.ERR_NOT_IMPLEMENTED
        assert client.calls == 1  # never retried


def _json_body(request: httpx.Request) -> dict:
    return json.loads(request.content)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("day", "offset"),
    [(date(2026, 12, 17), "+00:00"), (date(2027, 6, 17), "+01:00")],
    ids=["GMT", "BST"],
)
def test_register_book_and_cancel_bodies_follow_the_spec_over_a_socket(
    world, connection, practice_a, day, offset, settings
):
    settings.EMIS_HTTP_TRANSPORT_FACTORY = f"{__name__}.recording_transport"
    (made,) = world.slots("U10001", [local(day, 9)])
    with emis_client(connection=connection, requesting_organisation=practice_a) as client:
        SENT.clear()
        registered = client.register_patient(PATIENT)
        (register,) = SENT
        (slot,) = client.search_free_slots(local(day, 8), local(day, 12))
        assert slot.slot_id == str(made.pk)
        SENT.clear()
        patient = replace(PATIENT, provider_patient_id=registered.patient_id)
        organisation = BookingOrganisation("A10001", "Alpha Surgery", "01234 567890")
        booked = client.book(slot, patient, organisation, description="Flu", comment="")
        (book,) = SENT
        before, etag = client._read(booked.appointment_id)
        SENT.clear()
        cancelled = client.cancel(booked.appointment_id, "Patient unwell")
        read, cancel = SENT
    assert cancelled.is_cancelled

    # Register: a Parameters with only the Patient's allowed fields.
    assert register.method == "POST"
    parameters = _json_body(register)
    assert parameters["resourceType"] == "Parameters"
    assert [p["name"] for p in parameters["parameter"]] == ["registerPatient"]
    sent_patient = parameters["parameter"][0]["resource"]
    assert set(sent_patient) <= {
        "resourceType",
        "meta",
        "identifier",
        "name",
        "gender",
        "birthDate",
        "telecom",
        "address",
    }
    assert sent_patient["identifier"] == [
        {"system": gpc.NHS_NUMBER_SYSTEM, "value": PATIENT.nhs_number}
    ]
    assert sent_patient["birthDate"] == "1980-04-02"
    assert "generalPractitioner" not in sent_patient

    # Book: references (no contained Patient), the booking organisation, no comment.
    assert book.method == "POST"
    body = _json_body(book)
    # The slot's instants, each with an explicit offset (the client writes them in
    # UTC, "+00:00", also in BST: the same instants as the slot's "+01:00").
    for name, expected in (("start", local(day, 9)), ("end", local(day, 9, 10))):
        sent = datetime.fromisoformat(body[name])
        assert sent.tzinfo is not None and body[name][-6] in "+-", body[name]
        assert sent == expected == getattr(slot, name)
    assert local(day, 9).isoformat().endswith(offset)
    assert body["slot"] == [{"reference": f"Slot/{made.pk}"}]
    references = [p["actor"]["reference"] for p in body["participant"]]
    assert references[:2] == [f"Patient/{registered.patient_id}", f"Location/{slot.location_id}"]
    assert set(references[2:]) <= {f"Practitioner/{slot.practitioner_id}"}
    contained = body.get("contained") or []
    assert not [c for c in contained if c["resourceType"] == "Patient"]
    (org,) = [c for c in contained if c["resourceType"] == "Organization"]
    assert org["name"] == "Alpha Surgery"
    assert org["telecom"] == [{"system": "phone", "value": "01234 567890", "use": "work"}]
    assert "type" not in org
    assert "comment" not in body

    # Cancel: a read, then a PUT with If-Match that changes only the status and
    # adds the cancellation reason.
    assert (read.method, cancel.method) == ("GET", "PUT")
    assert cancel.headers["If-Match"] == etag == f'W/"{booked.version}"'
    put = _json_body(cancel)
    assert put["status"] == "cancelled"
    reason = {"url": gpc.EXT_CANCELLATION_REASON, "valueString": "Patient unwell"}
    assert put["extension"] == [*before.get("extension", []), reason]
    unchanged = {k: v for k, v in put.items() if k not in ("status", "extension")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("status", "extension")}
    assert datetime.fromisoformat(put["start"]) == local(day, 9)
    assert datetime.fromisoformat(put["end"]) == local(day, 9, 10)
