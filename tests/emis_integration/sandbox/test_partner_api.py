"""The sandbox's EMIS Partner API (docs/emis-partner-api-contract.md): the four
calls and their shapes, credentials, fault knobs and refusals."""

from __future__ import annotations

import time
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from emis_integration import gpconnect as gpc
from emis_integration.sandbox import services
from emis_integration.sandbox.models import (
    AppointmentSession,
    Gender,
    Practitioner,
    RegistrationType,
    Schedule,
    Site,
)
from emis_integration.sandbox.types import CancellationRequest

from .conftest import tomorrow_at
from .helpers import (
    booking_body,
    dumps,
    emis_date,
    error_code,
    fhir_base,
    headers,
    nhs_numbers,
    partner_base,
    partner_headers,
)

NHS = "9434765919"
SESSIONS = "appointments/GetAppointmentSessions"
SLOTS = "appointments/GetSlotsForSessionV2"
BOOKED = "appointments/GetBookedPatientsV2"
DEMOGRAPHICS = "patient/GetPatientDemographics"


def call(api, organisation, name: str, *, sent_headers=None, **params):
    query = urlencode(params)
    return api.get(
        f"{partner_base(organisation)}/{name}?{query}",
        headers=partner_headers(organisation) if sent_headers is None else sent_headers,
    )


def window(days_before: int = 1, days_after: int = 7) -> dict[str, str]:
    today = timezone.localdate()
    return {
        "startDate": emis_date(today - timedelta(days=days_before)),
        "endDate": emis_date(today + timedelta(days=days_after)),
    }


def sessions(api, organisation, **params):
    response = call(api, organisation, SESSIONS, **(params or window()))
    assert response.status_code == 200, response.content[:2000]
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    return response.json()["appointmentSession"]


def slots_of(api, organisation, session_id):
    response = call(api, organisation, SLOTS, appointmentSessionId=session_id)
    assert response.status_code == 200, response.content[:2000]
    return response.json()["slot"]


def book(api, pcn, slot, nhs: str = NHS, *, patient_reference: str = ""):
    response = api.post(
        f"{fhir_base(pcn)}/Appointment",
        data=dumps(booking_body(slot, nhs_number=nhs, patient_reference=patient_reference)),
        content_type="application/fhir+json",
        headers=headers(pcn, gpc.INTERACTION_BOOK, scope=gpc.SCOPE_PATIENT_WRITE),
    )
    assert response.status_code == 201, response.content[:2000]
    return int(response.json()["id"])


def cancel(pcn, appointment_id: int):
    from emis_integration.sandbox.models import Appointment

    appointment = Appointment.objects.get(pk=appointment_id)
    services.appointment_cancel(
        organisation=pcn,
        cancellation=CancellationRequest(
            appointment_id=appointment.pk,
            reason="Patient unwell",
            start=appointment.start,
            end=appointment.end,
            slot_references=(f"Slot/{appointment.slot_id}",),
            participant_references=appointment.participant_references(),
            booking_org_ods=appointment.booking_org_ods,
            patient_nhs_number=appointment.patient_nhs_number,
            description=appointment.description,
            comment=appointment.comment,
        ),
        expected_version=appointment.version,
    )


def counts(session: dict) -> tuple[int, int, int]:
    (slot_type,) = session["slotTypeList"]
    return slot_type["total"], slot_type["booked"], slot_type["available"]


@pytest.fixture
def clinic(schedule, make_slot):
    """Tomorrow 09:00-09:30 (three slots) and the day after at 10:00 (one slot)."""
    day1 = [make_slot(tomorrow_at(9, 10 * i)) for i in range(3)]
    day2 = [make_slot(tomorrow_at(10, days=2))]
    return day1, day2


# --- GetAppointmentSessions -----------------------------------------------------------
def test_sessions_list_every_field(api, pcn, practice, schedule, clinic):
    day1, day2 = clinic
    book(api, pcn, day1[1])
    found = sessions(api, pcn)
    assert [s["dbid"] for s in found] == [day1[0].session_id, day2[0].session_id]
    practitioner = schedule.practitioner
    assert found[0] == {
        "dbid": day1[0].session_id,
        "name": "Flu vaccination",
        "date": emis_date(timezone.localdate() + timedelta(days=1)),
        "startTime": "09:00",
        "endTime": "09:30",
        "slotLength": "10",
        "site": {"dbid": schedule.site_id, "name": "Riverside Hub"},
        "holderList": [
            {
                "dbid": practitioner.pk,
                "refID": practitioner.pk,
                "title": "Dr",
                "firstNames": "Asha",
                "lastName": "PATEL",
            }
        ],
        "slotTypeList": [
            {
                "typeID": str(schedule.pk),
                "description": "Flu vaccination",
                "total": 3,
                "booked": 1,
                "blocked": 0,
                "embargoed": 0,
                "available": 2,
            }
        ],
    }
    assert (found[1]["startTime"], found[1]["endTime"]) == ("10:00", "10:10")
    assert counts(found[1]) == (1, 0, 1)


def test_counts_follow_booking_and_cancelling(api, pcn, practice, clinic):
    day1, day2 = clinic
    assert [counts(s) for s in sessions(api, pcn)] == [(3, 0, 3), (1, 0, 1)]
    first = book(api, pcn, day1[0], NHS)
    book(api, pcn, day2[0], nhs_numbers(1)[0])
    assert [counts(s) for s in sessions(api, pcn)] == [(3, 1, 2), (1, 1, 0)]
    cancel(pcn, first)
    assert [counts(s) for s in sessions(api, pcn)] == [(3, 0, 3), (1, 1, 0)]


def test_a_started_slot_is_not_available(api, pcn, make_slot):
    make_slot(timezone.now() - timedelta(hours=2))
    make_slot(tomorrow_at(11))
    found = sessions(api, pcn, **window(days_before=2))
    totals = [sum(values) for values in zip(*(counts(s) for s in found), strict=True)]
    assert totals == [2, 0, 1]


@pytest.mark.parametrize(
    "as_text",
    [
        lambda day: day.strftime("%d/%m/%Y"),
        lambda day: day.isoformat(),
        lambda day: f"{day.isoformat()}T00:00:00",
    ],
    ids=["dd/mm/yyyy", "yyyy-mm-dd", "yyyy-mm-ddThh:mm:ss"],
)
def test_date_formats(api, pcn, clinic, as_text):
    day1, _ = clinic
    tomorrow = timezone.localdate() + timedelta(days=1)
    found = sessions(api, pcn, startDate=as_text(tomorrow), endDate=as_text(tomorrow))
    assert [s["dbid"] for s in found] == [day1[0].session_id]


def test_dates_are_inclusive_and_bound_the_list(api, pcn, clinic):
    _, day2 = clinic
    day_after = timezone.localdate() + timedelta(days=2)
    later = sessions(api, pcn, startDate=emis_date(day_after), endDate=emis_date(day_after))
    assert [s["dbid"] for s in later] == [day2[0].session_id]


def test_no_sessions_is_an_empty_list(api, pcn):
    assert sessions(api, pcn) == []


def test_ninety_days_is_the_longest_window(api, pcn, clinic):
    today = timezone.localdate()
    ok = call(
        api,
        pcn,
        SESSIONS,
        startDate=emis_date(today),
        endDate=emis_date(today + timedelta(days=90)),
    )
    assert ok.status_code == 200
    assert len(ok.json()["appointmentSession"]) == 2
    refused = call(
        api,
        pcn,
        SESSIONS,
        startDate=emis_date(today),
        endDate=emis_date(today + timedelta(days=91)),
    )
    assert refused.status_code == 400
    assert error_code(refused) == "INVALID_PARAMETER"
    assert "90 days" in refused.json()["issue"]["diagnostics"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"startDate": "01/12/2026"},
        {"endDate": "01/12/2026"},
        {"startDate": "31/02/2026", "endDate": "01/03/2026"},
        {"startDate": "2026-13-01", "endDate": "2026-12-01"},
        {"startDate": "tomorrow", "endDate": "01/12/2026"},
        {"startDate": "02/12/2026", "endDate": "01/12/2026"},
        {"startDate": "", "endDate": "01/12/2026"},
    ],
)
def test_bad_session_dates_are_400(api, pcn, params):
    response = call(api, pcn, SESSIONS, **params)
    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"


def test_slot_type_filter(api, pcn, schedule, make_slot, clinic):
    other = Schedule.objects.create(
        organisation=pcn,
        site=schedule.site,
        practitioner=None,
        service_type="Physiotherapy",
    )
    physio = make_slot(tomorrow_at(14), in_schedule=other)
    everything = sessions(api, pcn)
    assert len(everything) == 3
    only_physio = sessions(api, pcn, slotType=str(other.pk), **window())
    assert [s["dbid"] for s in only_physio] == [physio.session_id]
    assert only_physio[0]["holderList"] == []
    assert only_physio[0]["slotTypeList"][0]["description"] == "Physiotherapy"
    assert sessions(api, pcn, slotType="999999", **window()) == []
    assert sessions(api, pcn, slotType="flu", **window()) == []


def test_sessions_of_another_organisation_are_not_listed(api, pcn, practice, clinic):
    assert sessions(api, practice) == []


def test_listing_1200_sessions_takes_two_queries(api, pcn, schedule, django_assert_max_num_queries):
    """Twenty schedules over sixty days: 1,200 sessions of three slots."""
    site, practitioner = schedule.site, schedule.practitioner
    today = timezone.localdate()
    for number in range(20):
        clinic = Schedule.objects.create(
            organisation=pcn, site=site, practitioner=practitioner, service_type=f"Clinic {number}"
        )
        services.slots_create(
            schedule=clinic,
            starts=[tomorrow_at(9, 10 * i, days=day) for day in range(1, 61) for i in range(3)],
            minutes=10,
            allowed_ods=[],
            allowed_org_types=[],
        )
    end = emis_date(today + timedelta(days=61))
    with django_assert_max_num_queries(2):
        response = call(api, pcn, SESSIONS, startDate=emis_date(today), endDate=end)
    listed = response.json()["appointmentSession"]
    assert len(listed) == 1200
    assert {counts(s) for s in listed} == {(3, 0, 3)}


# --- GetSlotsForSessionV2 --------------------------------------------------------------
def test_slots_of_a_session(api, pcn, practice, schedule, clinic):
    day1, _ = clinic
    appointment_id = book(api, pcn, day1[1])
    record = pcn.patients.get(nhs_number=NHS)
    assert record.registration_type == RegistrationType.TEMPORARY  # registered before booking
    flu = {"typeID": str(schedule.pk), "description": "Flu vaccination"}
    assert slots_of(api, pcn, day1[0].session_id) == [
        {
            "dbid": day1[0].pk,
            "refID": day1[0].pk,
            "startTime": "09:00",
            "slotLength": "10",
            "type": flu,
            "status": "Available",
            "notes": "",
            "reason": "",
            "commentList": [],
        },
        {
            "dbid": day1[1].pk,
            "refID": day1[1].pk,
            "startTime": "09:10",
            "slotLength": "10",
            "type": flu,
            "status": "Booked",
            "patientList": {
                "patient": {
                    "dbid": record.pk,
                    "refID": record.pk,
                    "title": "",
                    "firstNames": "Jane",
                    "surname": "SMITH",
                    "fullName": "SMITH, Jane",
                }
            },
            "notes": "",
            "reason": "",
            "commentList": [],
        },
        {
            "dbid": day1[2].pk,
            "refID": day1[2].pk,
            "startTime": "09:20",
            "slotLength": "10",
            "type": flu,
            "status": "Available",
            "notes": "",
            "reason": "",
            "commentList": [],
        },
    ]
    assert appointment_id


def test_a_cancelled_slot_is_available_again(api, pcn, practice, clinic):
    day1, _ = clinic
    cancel(pcn, book(api, pcn, day1[0]))
    first = slots_of(api, pcn, day1[0].session_id)[0]
    assert first["status"] == "Available"
    assert "patientList" not in first


def test_a_registered_patient_is_listed_with_their_registration(
    api, pcn, practice, clinic, make_patient
):
    day1, _ = clinic
    registered = make_patient(pcn, NHS, RegistrationType.TEMPORARY, family="Jones", given="Ann")
    book(api, pcn, day1[0], patient_reference=f"Patient/{registered.pk}")
    patient = slots_of(api, pcn, day1[0].session_id)[0]["patientList"]["patient"]
    assert (patient["dbid"], patient["fullName"]) == (registered.pk, "JONES, Ann")


def test_slot_listing_takes_three_queries(
    api, pcn, practice, clinic, django_assert_max_num_queries
):
    day1, _ = clinic
    for slot, nhs in zip(day1, nhs_numbers(3), strict=True):
        book(api, pcn, slot, nhs)
    with django_assert_max_num_queries(3):
        listed = slots_of(api, pcn, day1[0].session_id)
    assert [s["status"] for s in listed] == ["Booked"] * 3


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", ""])
def test_a_bad_session_id_is_400(api, pcn, value):
    response = call(api, pcn, SLOTS, appointmentSessionId=value)
    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"


def test_a_missing_session_id_is_400(api, pcn):
    response = call(api, pcn, SLOTS)
    assert response.status_code == 400
    assert "appointmentSessionId" in response.json()["issue"]["diagnostics"]


def test_an_unknown_session_is_404(api, pcn):
    response = call(api, pcn, SLOTS, appointmentSessionId="424242")
    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


def test_another_organisations_session_is_404(api, pcn, practice, clinic):
    day1, _ = clinic
    response = call(api, practice, SLOTS, appointmentSessionId=str(day1[0].session_id))
    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


# --- GetPatientDemographics ------------------------------------------------------------
def test_demographics_of_an_appointment_only_record(api, pcn, practice, clinic):
    day1, _ = clinic
    book(api, pcn, day1[0])
    record = pcn.patients.get(nhs_number=NHS)
    response = call(api, pcn, DEMOGRAPHICS, patientNumber=str(record.pk))
    assert response.status_code == 200
    assert response.json() == {
        "patientID": str(record.pk),
        "registration": {
            "dbid": str(record.pk),
            "refID": str(record.pk),
            "nhsNumber": NHS,
            "title": "",
            "familyName": "SMITH",
            "firstNames": "Jane",
            "callingName": "Jane",
            "dateOfBirth": "02/04/1980",
            "sex": "F",
            "homeGPCode": "A10001",
            "homeGP": "Sandbox A10001",
            "organisationNACS": "U10001",
        },
    }


@pytest.mark.parametrize(
    ("registration_type", "gender", "sex"),
    [
        (RegistrationType.REGULAR, Gender.MALE, "M"),
        (RegistrationType.TEMPORARY, Gender.OTHER, "I"),
        (RegistrationType.APPOINTMENT_ONLY, Gender.UNKNOWN, "U"),
    ],
)
def test_demographics_of_any_registration_type(
    api, pcn, make_patient, registration_type, gender, sex
):
    patient = make_patient(
        pcn,
        NHS,
        registration_type,
        gender=gender,
        birth_date=date(2001, 12, 31),
        registered_practice_ods="Z99999",
    )
    registration = call(api, pcn, DEMOGRAPHICS, patientNumber=str(patient.pk)).json()[
        "registration"
    ]
    assert registration["sex"] == sex
    assert registration["dateOfBirth"] == "31/12/2001"
    # A practice the sandbox does not know: its ODS code stands for its name.
    assert (registration["homeGPCode"], registration["homeGP"]) == ("Z99999", "Z99999")


def test_an_unknown_patient_is_404(api, pcn):
    response = call(api, pcn, DEMOGRAPHICS, patientNumber="424242")
    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


def test_another_organisations_patient_is_404(api, pcn, practice, make_patient):
    theirs = make_patient(practice, NHS)
    response = call(api, pcn, DEMOGRAPHICS, patientNumber=str(theirs.pk))
    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"
    assert call(api, practice, DEMOGRAPHICS, patientNumber=str(theirs.pk)).status_code == 200


@pytest.mark.parametrize("params", [{}, {"patientNumber": "x12"}, {"patientNumber": "9" * 19}])
def test_a_bad_patient_number_is_400(api, pcn, params):
    response = call(api, pcn, DEMOGRAPHICS, **params)
    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"


# --- GetBookedPatientsV2 ---------------------------------------------------------------
def test_booked_patients(api, pcn, practice, schedule, clinic):
    day1, day2 = clinic
    book(api, pcn, day1[2])
    book(api, pcn, day2[0], nhs_numbers(1)[0])
    record = pcn.patients.get(nhs_number=NHS)
    practitioner = schedule.practitioner
    response = call(api, pcn, BOOKED, minutesBefore="60", minutesWithin="43200")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"time", "bookedList", "sessionHolderList"}
    assert len(body["bookedList"]) == 2
    first = body["bookedList"][0]
    assert first["patient"]["dbid"] == str(record.pk)
    assert first["patient"]["organisationNACS"] == "U10001"
    assert first["appointment"] == {
        "id": {"dbid": str(day1[2].pk)},
        "appointmentSite": "Riverside Hub",
        "appointmentName": "Flu vaccination",
        "date": emis_date(timezone.localdate() + timedelta(days=1)),
        "time": "09:20",
        "sessionHolder": {"dbid": str(practitioner.pk)},
        "sessionId": day1[2].session_id,
        "slotType": {"id": str(schedule.pk), "description": "Flu vaccination"},
    }
    assert body["sessionHolderList"] == [
        {
            "dbid": str(practitioner.pk),
            "refID": str(practitioner.pk),
            "title": "Dr",
            "firstNames": "Asha",
            "lastName": "PATEL",
        }
    ]


def test_booked_patients_window(api, pcn, practice, clinic):
    day1, _ = clinic
    book(api, pcn, day1[0])
    nothing = call(api, pcn, BOOKED, minutesBefore="0", minutesWithin="0").json()
    assert (nothing["bookedList"], nothing["sessionHolderList"]) == ([], [])


@pytest.mark.parametrize(
    "params",
    [
        {"minutesBefore": "61", "minutesWithin": "10"},
        {"minutesBefore": "-1", "minutesWithin": "10"},
        {"minutesBefore": "0", "minutesWithin": "43201"},
        {"minutesBefore": "0", "minutesWithin": "ten"},
        {"minutesBefore": "0"},
        {"minutesWithin": "10"},
    ],
)
def test_booked_patients_limits(api, pcn, params):
    response = call(api, pcn, BOOKED, **params)
    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"


# --- every request: credentials, methods, fault knobs ---------------------------------
CALLS = [
    (SESSIONS, window),
    (SLOTS, lambda: {"appointmentSessionId": "1"}),
    (BOOKED, lambda: {"minutesBefore": "0", "minutesWithin": "60"}),
    (DEMOGRAPHICS, lambda: {"patientNumber": "1"}),
]


@pytest.mark.parametrize(("name", "params"), CALLS, ids=[name for name, _ in CALLS])
@pytest.mark.parametrize(
    "change",
    [
        {"applicationId": None},
        {"applicationId": "someone-elses-app"},
        {"Authorization": None},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ],
)
def test_bad_credentials_are_401(api, pcn, name, params, change):
    sent = partner_headers(pcn)
    for header, value in change.items():
        if value is None:
            del sent[header]
        else:
            sent[header] = value
    response = call(api, pcn, name, sent_headers=sent, **params())
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORISED"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_another_organisations_credentials_are_401(api, pcn, practice):
    response = call(api, pcn, SESSIONS, sent_headers=partner_headers(practice), **window())
    assert response.status_code == 401


def test_partner_api_off_without_credentials(api, pcn):
    pcn.partner_application_id = pcn.partner_token = ""
    pcn.save()
    response = call(api, pcn, SESSIONS, sent_headers=partner_headers(pcn), **window())
    assert response.status_code == 401
    assert "not enabled" in response.json()["issue"]["diagnostics"]


@pytest.mark.parametrize(("name", "params"), CALLS, ids=[name for name, _ in CALLS])
def test_reject_auth_knob_is_401(api, pcn, name, params):
    services.organisation_set_faults(organisation=pcn, reject_auth=True)
    response = call(api, pcn, name, **params())
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORISED"


@pytest.mark.parametrize(("name", "params"), CALLS, ids=[name for name, _ in CALLS])
def test_error_rate_one_is_always_500(api, pcn, name, params):
    services.organisation_set_faults(organisation=pcn, error_rate=1.0)
    response = call(api, pcn, name, **params())
    assert response.status_code == 500
    assert error_code(response) == "INTERNAL_ERROR"


def test_latency_is_added(api, pcn):
    services.organisation_set_faults(organisation=pcn, latency_ms=150)
    started = time.perf_counter()
    response = call(api, pcn, SESSIONS, **window())
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_force_timeout_sleeps_then_answers(api, pcn):
    services.organisation_set_faults(organisation=pcn, force_timeout=True, timeout_seconds=1)
    started = time.perf_counter()
    response = call(api, pcn, SESSIONS, **window())
    assert time.perf_counter() - started >= 1.0
    assert response.status_code == 200


def test_fault_knobs_apply_before_credentials(api, pcn):
    services.organisation_set_faults(organisation=pcn, error_rate=1.0)
    response = call(api, pcn, SESSIONS, sent_headers={}, **window())
    assert response.status_code == 500


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_only_get(api, pcn, method):
    response = getattr(api, method)(f"{partner_base(pcn)}/{SESSIONS}", headers=partner_headers(pcn))
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert error_code(response) == "METHOD_NOT_ALLOWED"


def test_xml_is_415(api, pcn):
    sent = partner_headers(pcn)
    sent["Accept"] = "application/xml"
    response = call(api, pcn, SESSIONS, sent_headers=sent, **window())
    assert response.status_code == 415
    assert error_code(response) == "UNSUPPORTED_MEDIA_TYPE"


def test_any_accept_is_fine(api, pcn):
    sent = partner_headers(pcn)
    del sent["Accept"]
    assert call(api, pcn, SESSIONS, sent_headers=sent, **window()).status_code == 200
    sent["Accept"] = "*/*"
    assert call(api, pcn, SESSIONS, sent_headers=sent, **window()).status_code == 200


def test_unknown_organisation_is_404(api, pcn):
    response = call(api, "ZZ999", SESSIONS, sent_headers=partner_headers(pcn), **window())
    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"
    assert "ZZ999" in response.json()["issue"]["diagnostics"]


@pytest.mark.parametrize(
    "path",
    ["api/v1/appointments/GetAppointmentConfiguration", "api/v2/whatever", "nothing"],
)
def test_other_paths_are_404(api, pcn, path):
    response = api.get(f"/emis-sandbox/{pcn.ods_code}/partner/{path}", headers=partner_headers(pcn))
    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"
    unknown = api.get(f"/emis-sandbox/ZZ999/partner/{path}")
    assert unknown.status_code == 404
    assert error_code(unknown) == "NOT_FOUND"


def test_diagnostics_are_escaped_in_the_div(api, pcn):
    response = call(api, pcn, SLOTS, appointmentSessionId="<b>1</b>")
    assert response.status_code == 400
    assert "<b>" not in response.json()["text"]["div"]
    assert "&lt;b&gt;" in response.json()["text"]["div"]


def test_sessions_are_made_with_their_slots(pcn, schedule, clinic):
    """Every slot is in its schedule's session of its day (services.slots_create)."""
    day1, day2 = clinic
    assert AppointmentSession.objects.count() == 2
    assert {s.session_id for s in day1} == {day1[0].session_id}
    assert day2[0].session_id != day1[0].session_id
    session = AppointmentSession.objects.get(pk=day1[0].session_id)
    assert (session.site, session.holder, session.name) == (
        schedule.site,
        schedule.practitioner,
        "Flu vaccination",
    )
    assert Site.objects.count() == 1
    assert Practitioner.objects.count() == 1
