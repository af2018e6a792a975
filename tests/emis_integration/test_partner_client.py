"""PartnerApiClient against a real HTTP peer on 127.0.0.1 that misbehaves on
purpose: the headers and parameters it sends, every error type, retries,
timeouts, and the 90-day split."""

import time
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from emis_integration.client import (
    EmisAuthError,
    EmisRejected,
    EmisUnavailable,
    PartnerApiClient,
    PartnerEndpoint,
    PatientNotFound,
)
from emis_integration.client.transport import MAX_RETRY_SLEEP

from .fault_server import FaultServer, Reply

APPLICATION_ID = "0f3c2a9e-1234-5678-9abc-def012345678"
TOKEN = "partner-fault-test-token-0123456789"


def error_body(code, text="plain words for a person"):
    return {
        "messageId": "5c1b0c1e-0000-4000-8000-000000000000",
        "legacyOutcome": 0,
        "text": {"status": "generated", "div": f"<div>{text}</div>"},
        "issue": {
            "severity": 1,
            "code": "invalid",
            "details": {
                "text": text,
                "coding": {
                    "system": "https://emis.example/partner-api/errors",
                    "code": code,
                    "display": code.title(),
                },
            },
            "diagnostics": text,
        },
    }


SESSION = {
    "dbid": 40123,
    "name": "Flu clinic",
    "date": "01/12/2026",
    "startTime": "09:00",
    "endTime": "12:00",
    "slotLength": "10",
    "site": {"dbid": 7, "name": "Alpha Hub"},
    "holderList": [],
    "slotTypeList": [],
}


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def make_client(server_or_url, *, retries=2, read_timeout=1.0, backoff=0.01):
    base = (
        server_or_url
        if isinstance(server_or_url, str)
        else f"{server_or_url.root_url}/emis/U10001/partner/"
    )
    endpoint = PartnerEndpoint(
        base_url=base,
        application_id=APPLICATION_ID,
        token=TOKEN,
        connect_timeout=0.5,
        read_timeout=read_timeout,
    )
    return PartnerApiClient(endpoint, max_retries=retries, retry_backoff=backoff)


def query(seen):
    return {k: v[0] for k, v in parse_qs(urlsplit(seen.path).query).items()}


def test_every_request_is_a_get_with_the_partner_headers(server):
    server.queue(
        Reply(200, {"appointmentSession": [SESSION]}),
        Reply(200, {"slot": []}),
        Reply(200, {"registration": {"nhsNumber": "9434765919"}}),
        Reply(200, {"bookedList": []}),
    )
    with make_client(server) as client:
        sessions = client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 2))
        client.slots_for_session(session_id=40123, session_date=date(2026, 12, 1))
        client.patient_demographics(patient_number=5512)
        client.booked_patients(minutes_before=30, minutes_within=120)
    assert [s.id for s in sessions] == [40123]
    assert client.calls == 4
    assert [urlsplit(s.path).path for s in server.seen] == [
        "/emis/U10001/partner/api/v1/appointments/GetAppointmentSessions",
        "/emis/U10001/partner/api/v1/appointments/GetSlotsForSessionV2",
        "/emis/U10001/partner/api/v1/patient/GetPatientDemographics",
        "/emis/U10001/partner/api/v1/appointments/GetBookedPatientsV2",
    ]
    assert [query(s) for s in server.seen] == [
        {"startDate": "01/12/2026", "endDate": "02/12/2026"},
        {"appointmentSessionId": "40123"},
        {"patientNumber": "5512"},
        {"minutesBefore": "30", "minutesWithin": "120"},
    ]
    for seen in server.seen:
        headers = {k.lower(): v for k, v in seen.headers.items()}
        assert seen.method == "GET"
        assert headers["applicationid"] == APPLICATION_ID
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert headers["accept"] == "application/json"
        assert seen.body == b""


def test_windows_over_90_days_are_split_into_inclusive_windows(server):
    server.default = Reply(200, {"appointmentSession": [SESSION]})
    client = make_client(server)
    sessions = client.appointment_sessions(start=date(2026, 1, 1), end=date(2026, 7, 19))
    windows = [(query(s)["startDate"], query(s)["endDate"]) for s in server.seen]
    assert windows == [
        ("01/01/2026", "31/03/2026"),  # 90 days, both ends included
        ("01/04/2026", "29/06/2026"),
        ("30/06/2026", "19/07/2026"),
    ]
    assert client.calls == 3
    assert [s.id for s in sessions] == [40123]  # the same session listed twice is one


def test_a_window_of_exactly_90_days_is_one_call(server):
    server.default = Reply(200, {"appointmentSession": []})
    client = make_client(server)
    assert client.appointment_sessions(start=date(2026, 1, 1), end=date(2026, 3, 31)) == []
    assert client.calls == 1
    with pytest.raises(ValueError, match="must not be before"):
        client.appointment_sessions(start=date(2026, 1, 2), end=date(2026, 1, 1))
    assert client.calls == 1


def test_slots_take_the_listed_sessions_slot_length(server):
    server.queue(
        Reply(200, {"appointmentSession": [SESSION]}),
        Reply(200, {"slot": [{"dbid": 1, "startTime": "09:00", "status": "Available"}]}),
    )
    client = make_client(server)
    [session] = client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 1))
    [slot] = client.slots_for_session(session_id=session.id, session_date=session.date)
    assert slot.end - slot.start == timedelta(minutes=10)


def test_malformed_items_become_warnings_not_failures(server):
    server.default = Reply(
        200, {"appointmentSession": [{"name": "no id"}, SESSION, {"dbid": 2, "date": "x"}]}
    )
    client = make_client(server)
    sessions = client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 1))
    assert [s.id for s in sessions] == [40123]
    assert len(client.warnings) == 2
    assert "no dbid" in client.warnings[0]
    assert "session 2" in client.warnings[1]


@pytest.mark.parametrize(
    ("status", "body", "error", "code", "words"),
    [
        (400, error_body("INVALID_PARAMETER", "endDate is before startDate"), EmisRejected,
         "INVALID_PARAMETER", "endDate is before startDate"),
        (401, error_body("UNAUTHORISED", "The token is not valid"), EmisAuthError,
         "UNAUTHORISED", "application id or token"),
        (403, "", EmisAuthError, "", "application id or token"),
        (404, error_body("NOT_FOUND", "There is no EMIS organisation"), EmisRejected,
         "NOT_FOUND", "There is no EMIS organisation"),
        (404, "<html>Not found</html>", EmisRejected, "", "base URL is probably wrong"),
        (415, error_body("UNSUPPORTED_MEDIA_TYPE", "json only"), EmisRejected,
         "UNSUPPORTED_MEDIA_TYPE", "json only"),
        (501, error_body("NOT_IMPLEMENTED", "not here"), EmisRejected, "NOT_IMPLEMENTED",
         "EMIS does not support this call (GetAppointmentSessions)"),
        (501, "", EmisRejected, "", "EMIS does not support this call (GetAppointmentSessions)"),
    ],
)  # fmt: skip
def test_errors_are_typed_in_words_and_not_retried(server, status, body, error, code, words):
    server.default = Reply(status, body)
    client = make_client(server, retries=3)
    with pytest.raises(error) as excinfo:
        client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 2))
    assert type(excinfo.value) is error
    assert client.calls == 1
    assert excinfo.value.status_code == status
    assert excinfo.value.spine_code == code
    assert words in str(excinfo.value)
    assert TOKEN not in str(excinfo.value)
    assert APPLICATION_ID not in str(excinfo.value)


def test_an_unknown_patient_is_patient_not_found(server):
    server.default = Reply(404, error_body("NOT_FOUND", "There is no patient 77 at U10001."))
    client = make_client(server)
    with pytest.raises(PatientNotFound) as excinfo:
        client.patient_demographics(patient_number=77)
    assert excinfo.value.status_code == 404
    assert "There is no patient 77" in excinfo.value.diagnostics
    assert client.calls == 1


def test_a_404_page_on_demographics_is_a_wrong_base_url_not_a_missing_patient(server):
    server.default = Reply(404, "<html>Not found</html>")
    with pytest.raises(EmisRejected, match="base URL is probably wrong") as excinfo:
        make_client(server).patient_demographics(patient_number=77)
    assert not isinstance(excinfo.value, PatientNotFound)


def test_500_is_retried_then_unavailable(server):
    server.default = Reply(500, error_body("INTERNAL_ERROR", "database on fire"))
    client = make_client(server, retries=2)
    with pytest.raises(EmisUnavailable, match="HTTP 500") as excinfo:
        client.slots_for_session(session_id=1, session_date=date(2026, 12, 1))
    assert client.calls == 3
    assert len(server.seen) == 3
    assert excinfo.value.spine_code == "INTERNAL_ERROR"
    assert excinfo.value.diagnostics == "database on fire"


def test_5xx_recovers_within_the_retries(server):
    server.queue(Reply(503, ""), Reply(502, "<html>bad gateway</html>"), Reply(200, {"slot": []}))
    client = make_client(server, retries=2)
    assert client.slots_for_session(session_id=1, session_date=date(2026, 12, 1)) == []
    assert client.calls == 3


def test_429_honours_retry_after(server):
    server.queue(Reply(429, "", {"Retry-After": "1"}), Reply(200, {"appointmentSession": []}))
    client = make_client(server, retries=1, backoff=0.0)
    started = time.monotonic()
    assert client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 1)) == []
    assert time.monotonic() - started >= 0.9  # waited as asked, not the 0 s backoff
    assert client.calls == 2


def test_429_retry_after_is_capped_and_then_unavailable(server, monkeypatch):
    slept = []
    monkeypatch.setattr("emis_integration.client.transport.time.sleep", slept.append)
    server.default = Reply(429, "", {"Retry-After": "3600"})
    client = make_client(server, retries=2)
    with pytest.raises(EmisUnavailable) as excinfo:
        client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 1))
    assert excinfo.value.status_code == 429
    assert excinfo.value.retry_after == 3600
    assert slept == [MAX_RETRY_SLEEP, MAX_RETRY_SLEEP]
    assert client.calls == 3


def test_read_timeout_is_unavailable_and_retried(server):
    server.default = Reply(200, {"appointmentSession": []}, delay=0.6)
    client = make_client(server, retries=1, read_timeout=0.2)
    with pytest.raises(EmisUnavailable, match="did not answer within 0.2 seconds"):
        client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 1))
    assert client.calls == 2


def test_refused_connection_is_unavailable_and_retried():
    client = make_client("http://127.0.0.1:1/partner", retries=2)
    with pytest.raises(EmisUnavailable, match="refused") as excinfo:
        client.patient_demographics(patient_number=1)
    assert excinfo.value.spine_code == "CONNECT"
    assert client.calls == 3


@pytest.mark.parametrize(
    ("body", "call"),
    [
        ("<html>this is not JSON</html>", "sessions"),
        ([{"dbid": 1}], "sessions"),
        ({"slot": "none"}, "slots"),
        ("{truncated", "demographics"),
        ({"registration": None}, "demographics"),
        ("", "booked"),
    ],
)
def test_bodies_that_are_not_partner_json_are_rejected_not_retried(server, body, call):
    server.default = Reply(200, body)
    client = make_client(server, retries=2)
    calls = {
        "sessions": lambda: client.appointment_sessions(
            start=date(2026, 12, 1), end=date(2026, 12, 1)
        ),
        "slots": lambda: client.slots_for_session(session_id=1, session_date=date(2026, 12, 1)),
        "demographics": lambda: client.patient_demographics(patient_number=1),
        "booked": lambda: client.booked_patients(minutes_before=0, minutes_within=60),
    }
    with pytest.raises(EmisRejected, match="EMIS Partner API answered"):
        calls[call]()
    assert client.calls == 1


def test_no_content_is_no_sessions(server):
    server.default = Reply(204, "")
    client = make_client(server)
    assert client.appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 1)) == []
    assert client.slots_for_session(session_id=1, session_date=date(2026, 12, 1)) == []


def test_endpoint_repr_hides_the_secrets():
    endpoint = PartnerEndpoint("https://emis.example/partner", APPLICATION_ID, TOKEN)
    assert "https://emis.example/partner" in repr(endpoint)
    assert APPLICATION_ID not in repr(endpoint)
    assert TOKEN not in repr(endpoint)
    assert TOKEN not in str(endpoint)


def test_secrets_never_reach_the_logs(server, caplog):
    caplog.set_level("DEBUG")
    server.queue(Reply(401, error_body("UNAUTHORISED", "no")))
    with pytest.raises(EmisAuthError):
        make_client(server).appointment_sessions(start=date(2026, 12, 1), end=date(2026, 12, 1))
    assert TOKEN not in caplog.text
    assert APPLICATION_ID not in caplog.text
    assert "GetAppointmentSessions -> 401" in caplog.text
