"""The client's error typing, retries, timeouts and headers, against a real
HTTP peer on 127.0.0.1 that misbehaves on purpose."""

import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import jwt
import pytest

from emis_integration import gpconnect as gpc
from emis_integration.client import (
    BookingOrganisation,
    EmisAuthError,
    EmisEndpoint,
    EmisRejected,
    EmisUnavailable,
    GPConnectClient,
    PatientAlreadyRegistered,
    PatientDetails,
    SlotRef,
    SlotUnavailable,
    system_requester,
)

from .fault_server import FaultServer, Reply

SECRET = "fault-test-secret-0123456789abcdef0123"


def outcome(code, diagnostics="something", status_text="error"):
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "details": {"coding": [{"system": gpc.SPINE_ERROR_SYSTEM, "code": code}]},
                "diagnostics": diagnostics,
            }
        ],
    }


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def make_client(
    base_url, *, retries=2, read_timeout=1.0, secret=SECRET, sign=False, org_type="gp-practice"
):
    endpoint = EmisEndpoint(
        base_url=base_url,
        provider_ods="U10001",
        asid_from="200000001234",
        asid_to="918999198738",
        client_secret=secret,
        sign_jwt=sign,
        connect_timeout=0.5,
        read_timeout=read_timeout,
    )
    requester = system_requester(
        organisation_ods="A10001", organisation_name="Alpha", organisation_type=org_type, name="t"
    )
    return GPConnectClient(endpoint, requester=requester, max_retries=retries, retry_backoff=0.01)


NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SLOT = SlotRef("42", NOW, NOW + timedelta(minutes=10), location_id="3", practitioner_id="5")
PATIENT = PatientDetails(
    "9434765919", "Smith", "Jane", date(1980, 4, 2), "female", "A10001", provider_patient_id="7"
)
ORG = BookingOrganisation("A10001", "Alpha Surgery", "01234 567890")


def test_5xx_on_a_read_is_retried_then_raised(server):
    client = make_client(server.base_url, retries=2)
    with pytest.raises(EmisUnavailable, match="HTTP 500"):
        client.find_patient("9434765919")
    assert client.calls == 3
    assert len(server.seen) == 3


def test_5xx_recovers_within_the_retries(server):
    server.queue(
        Reply(502, outcome("INTERNAL_SERVER_ERROR")),
        Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}),
    )
    client = make_client(server.base_url)
    assert client.find_patient("9434765919") is None
    assert client.calls == 2


def test_500_on_a_booking_is_not_retried(server):
    client = make_client(server.base_url, retries=3)
    with pytest.raises(EmisUnavailable):
        client.book(SLOT, PATIENT, ORG)
    assert client.calls == 1  # the booking may have happened: never post it twice


def test_503_and_429_on_a_booking_are_retried(server):
    server.queue(Reply(503, outcome("INTERNAL_SERVER_ERROR")), Reply(429, "", {"Retry-After": "0"}))
    client = make_client(server.base_url, retries=2)
    with pytest.raises(EmisUnavailable):
        client.book(SLOT, PATIENT, ORG)
    assert client.calls == 3


@pytest.mark.parametrize(
    ("status", "body", "error", "spine"),
    [
        (400, outcome("BAD_REQUEST"), EmisRejected, "BAD_REQUEST"),
        (422, outcome("INVALID_PARAMETER"), EmisRejected, "INVALID_PARAMETER"),
        (401, outcome("ACCESS DENIED"), EmisAuthError, "ACCESS DENIED"),
        (403, outcome("ACCESS DENIED"), EmisAuthError, "ACCESS DENIED"),
        (404, "<html>Not found</html>", EmisRejected, ""),
    ],
)
def test_4xx_are_typed_and_not_retried(server, status, body, error, spine):
    server.default = Reply(status, body)
    client = make_client(server.base_url)
    with pytest.raises(error) as excinfo:
        client.search_free_slots(NOW, NOW + timedelta(days=1))
    assert client.calls == 1
    assert excinfo.value.spine_code == spine
    assert excinfo.value.status_code == status
    assert SECRET not in str(excinfo.value)


def test_duplicate_booking_is_slot_unavailable(server):
    server.default = Reply(409, outcome("DUPLICATE_REJECTED", "Slot already booked"))
    client = make_client(server.base_url)
    with pytest.raises(SlotUnavailable, match="just been taken"):
        client.book(SLOT, PATIENT, ORG)
    assert client.calls == 1


def test_duplicate_registration_is_already_registered(server):
    server.default = Reply(409, outcome("DUPLICATE_REJECTED"))
    with pytest.raises(PatientAlreadyRegistered):
        make_client(server.base_url).register_patient(PATIENT)


@pytest.mark.parametrize(
    "body",
    [
        "{not json at all",
        {"resourceType": "Patient", "id": "1"},
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": "Slot", "id": "1"}}],
        },
        [1, 2, 3],
    ],
)
def test_garbage_or_wrong_resources_are_rejected_never_unhandled(server, body):
    server.default = Reply(200, body)
    client = make_client(server.base_url)
    with pytest.raises(EmisRejected, match="not valid FHIR JSON|malformed FHIR"):
        client.search_free_slots(NOW, NOW + timedelta(days=1))


def test_read_timeout_is_unavailable_and_retried_for_reads(server):
    server.default = Reply(200, {}, delay=0.6)
    client = make_client(server.base_url, retries=1, read_timeout=0.2)
    with pytest.raises(EmisUnavailable, match="did not answer within"):
        client.find_patient("9434765919")
    assert client.calls == 2


def test_read_timeout_on_a_booking_is_not_retried(server):
    server.default = Reply(201, {}, delay=0.6)
    client = make_client(server.base_url, retries=2, read_timeout=0.2)
    with pytest.raises(EmisUnavailable):
        client.book(SLOT, PATIENT, ORG)
    assert client.calls == 1


def test_refused_connection_is_unavailable_and_retried():
    client = make_client("http://127.0.0.1:1/fhir", retries=2)
    with pytest.raises(EmisUnavailable, match="refused"):
        client.book(SLOT, PATIENT, ORG)
    assert client.calls == 3  # nothing reached EMIS, so a write may be retried


def test_every_request_carries_gp_connect_headers_and_jwt(server):
    server.queue(
        Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}),
        Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}),
    )
    client = make_client(server.base_url)
    client.find_patient("9434765919")
    client.search_free_slots(NOW, NOW + timedelta(days=1))
    assert len(server.seen) == 2
    trace_ids = set()
    for seen, interaction in zip(
        server.seen, [gpc.INTERACTION_SEARCH_PATIENT, gpc.INTERACTION_SEARCH_SLOTS], strict=True
    ):
        headers = {k.lower(): v for k, v in seen.headers.items()}
        assert headers["ssp-from"] == "200000001234"
        assert headers["ssp-to"] == "918999198738"
        assert headers["ssp-interactionid"] == interaction
        trace_ids.add(headers["ssp-traceid"])
        token = headers["authorization"].removeprefix("Bearer ")
        # GP Connect over Spine: unsigned, alg none and an empty signature.
        assert jwt.get_unverified_header(token)["alg"] == "none"
        assert token.count(".") == 2 and token.endswith(".")
        claims = jwt.decode(
            token, options={"verify_signature": False, "verify_exp": True, "verify_iat": True}
        )
        assert claims["aud"] == server.base_url
        assert claims["exp"] - claims["iat"] == 300
        assert claims["reason_for_request"] == "directcare"
        assert claims["iss"]
        assert claims["sub"] == "system-t"
        assert claims["requesting_organization"]["identifier"][0]["value"] == "A10001"
        assert claims["requesting_device"]["resourceType"] == "Device"
        assert claims["requesting_practitioner"]["resourceType"] == "Practitioner"
        assert claims["requested_scope"] in {gpc.SCOPE_PATIENT_READ, gpc.SCOPE_ORGANISATION_READ}
    assert len(trace_ids) == 2
    assert "/fhir/Slot?" in server.seen[1].path
    assert "status=free" in server.seen[1].path
    assert "_include=Slot%3Aschedule" in server.seen[1].path


def test_ranges_over_14_days_are_split(server):
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    server.default = Reply(200, empty)
    client = make_client(server.base_url)
    client.search_free_slots(NOW, NOW + timedelta(days=30))
    assert len(server.seen) == 3


def test_a_signing_connection_signs_the_jwt_with_hs256(server):
    server.queue(Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}))
    make_client(server.base_url, sign=True).find_patient("9434765919")
    token = server.seen[0].headers["Authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=server.base_url)
    assert claims["exp"] - claims["iat"] == 300


def test_signing_without_a_secret_is_an_auth_error_before_any_call(server):
    client = make_client(server.base_url, sign=True, secret="")
    with pytest.raises(EmisAuthError, match="no client secret"):
        client.find_patient("9434765919")
    assert server.seen == []


def test_unsigned_needs_no_secret(server):
    server.queue(Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []}))
    assert make_client(server.base_url, secret="").find_patient("9434765919") is None


def _query(seen):
    return parse_qs(urlsplit(seen.path).query)


@pytest.mark.parametrize("org_type", ["gp-practice", "pcn"])
def test_slot_search_sends_both_search_filters(server, org_type):
    server.default = Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []})
    make_client(server.base_url, org_type=org_type).search_free_slots(NOW, NOW + timedelta(days=1))
    assert _query(server.seen[0])["searchFilter"] == [
        f"{gpc.ODS_ORGANISATION_SYSTEM}|A10001",
        f"{gpc.ORGANISATION_TYPE_SYSTEM}|{org_type}",
    ]


@pytest.mark.parametrize(
    ("start", "sent_start", "sent_end"),
    [
        # GMT: UK local time is UTC, offset +00:00.
        (
            datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
            "ge2026-12-01T09:00:00+00:00",
            "le2026-12-02T09:00:00+00:00",
        ),
        # BST: 08:00 UTC is 09:00 in London, sent as such with +01:00.
        (
            datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
            "ge2026-07-01T09:00:00+01:00",
            "le2026-07-02T09:00:00+01:00",
        ),
        # Any zone given is sent as UK local time.
        (
            datetime(2026, 7, 1, 4, 0, tzinfo=ZoneInfo("America/New_York")),
            "ge2026-07-01T09:00:00+01:00",
            "le2026-07-02T09:00:00+01:00",
        ),
    ],
)
def test_slot_search_sends_uk_local_times_with_their_offset(server, start, sent_start, sent_end):
    server.default = Reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": []})
    make_client(server.base_url).search_free_slots(start, start + timedelta(days=1))
    query = _query(server.seen[0])
    assert query["start"] == [sent_start]
    assert query["end"] == [sent_end]
    assert "%2B" in server.seen[0].path  # an unencoded '+' would arrive as a space


def test_registration_sends_only_what_the_operation_allows(server):
    patient = {
        "resourceType": "Patient",
        "id": "9",
        "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": "9434765919"}],
        "name": [{"use": "official", "family": "Smith", "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1980-04-02",
    }
    server.queue(
        Reply(
            200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": patient}]}
        )
    )
    make_client(server.base_url).register_patient(PATIENT)
    body = json.loads(server.seen[0].body)
    (parameter,) = body["parameter"]
    assert parameter["name"] == "registerPatient"
    sent = parameter["resource"]
    assert set(sent) <= gpc.REGISTER_PATIENT_ALLOWED_ELEMENTS
    assert "generalPractitioner" not in sent
    assert sent["identifier"] == [{"system": gpc.NHS_NUMBER_SYSTEM, "value": "9434765919"}]
    assert (sent["gender"], sent["birthDate"]) == ("female", "1980-04-02")


def test_a_booking_names_the_patient_location_and_practitioner_by_reference():
    from emis_integration.client.gpconnect import build_appointment

    body = build_appointment(slot=SLOT, patient=PATIENT, booking_organisation=ORG)
    assert [p["actor"] for p in body["participant"]] == [
        {"reference": "Patient/7"},
        {"reference": "Location/3"},
        {"reference": "Practitioner/5"},
    ]
    (organisation,) = body["contained"]  # no contained Patient: the id is known
    assert organisation["name"] == "Alpha Surgery"
    assert organisation["telecom"] == [{"system": "phone", "value": "01234 567890", "use": "work"}]
    assert "type" not in organisation
    assert "comment" not in body  # omitted when empty, never ""
    without_practitioner = SlotRef("42", NOW, NOW + timedelta(minutes=10), location_id="3")
    body = build_appointment(
        slot=without_practitioner, patient=PATIENT, booking_organisation=ORG, comment="hi"
    )
    assert [p["actor"]["reference"] for p in body["participant"]] == ["Patient/7", "Location/3"]
    assert body["comment"] == "hi"


@pytest.mark.parametrize(
    ("slot", "patient", "organisation"),
    [
        (SLOT, PatientDetails("9434765919", "Smith", "Jane", date(1980, 4, 2)), ORG),
        (SlotRef("42", NOW, NOW + timedelta(minutes=10)), PATIENT, ORG),
        (SLOT, PATIENT, BookingOrganisation("A10001", "Alpha Surgery")),
    ],
    ids=["no patient id", "no location", "no phone"],
)
def test_a_booking_without_what_gp_connect_requires_is_not_sent(slot, patient, organisation):
    from emis_integration.client.gpconnect import build_appointment

    with pytest.raises(ValueError):
        build_appointment(slot=slot, patient=patient, booking_organisation=organisation)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (501, outcome(gpc.ERR_NOT_IMPLEMENTED, "Not implemented")),
        (501, ""),
        (400, outcome(gpc.ERR_NOT_IMPLEMENTED, "Slot search by type is not implemented")),
        (400, outcome(gpc.ERR_BAD_REQUEST, "This interaction is not supported")),
    ],
)
def test_not_supported_is_rejected_in_plain_words_and_never_retried(server, status, body):
    server.default = Reply(status, body)
    client = make_client(server.base_url, retries=3)
    with pytest.raises(EmisRejected, match="EMIS does not support this call") as excinfo:
        client.find_patient("9434765919")
    assert type(excinfo.value) is EmisRejected
    assert "search:patient-1" in str(excinfo.value)
    assert excinfo.value.status_code == status
    assert client.calls == 1


def test_a_refused_credential_saying_not_supported_stays_an_auth_error(server):
    server.default = Reply(401, outcome(gpc.ERR_ACCESS_DENIED, "JWT algorithm not supported"))
    client = make_client(server.base_url, retries=3)
    with pytest.raises(EmisAuthError):
        client.find_patient("9434765919")
    assert client.calls == 1
