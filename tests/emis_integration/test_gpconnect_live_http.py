"""GPConnectClient against the sandbox served over real HTTP (a socket, Django's
live server): slot searches in GMT and in BST with both search filters, slots
restricted by organisation type, the unsigned and the signed JWT, registration
and a call the provider does not support."""

from __future__ import annotations

from datetime import date, datetime, time
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import pytest

from emis_integration import gpconnect as gpc
from emis_integration import services as emis_services
from emis_integration.client import EmisAuthError, EmisRejected, PatientDetails
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
