"""The Partner API decoder on recorded response bodies: what the sandbox sends,
and what a real provider may send instead (the other date formats, numbers as
text, lists as null or missing, unknown fields, broken items)."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from emis_integration.client import EmisRejected
from emis_integration.client import partner_wire as wire

LONDON = ZoneInfo("Europe/London")

# As the contract shows it (docs/emis-partner-api-contract.md).
SESSIONS = b"""{"appointmentSession": [
  {"dbid": 40123, "name": "Flu clinic", "date": "01/12/2026",
   "startTime": "09:00", "endTime": "12:00", "slotLength": "10",
   "site": {"dbid": 7, "name": "Alpha Hub"},
   "holderList": [{"dbid": 12, "refID": 12, "title": "Nurse",
                   "firstNames": "Alex", "lastName": "SMITH"}],
   "slotTypeList": [{"typeID": "3", "description": "Flu vaccination",
                     "total": 18, "booked": 5, "blocked": 0, "embargoed": 0,
                     "available": 13}]}]}"""

# The same kind of session the way a .NET provider may serialise it: ISO dates
# and times with seconds, ids and counts as text, two slot types out of order,
# nulls, and fields hippo-pcn has never heard of.
SESSIONS_OTHER_FORMATS = b"""{"appointmentSession": [
  {"dbid": "40124", "name": "Asthma review", "date": "2026-07-15T00:00:00",
   "startTime": "13:30:00", "endTime": "1899-12-30T17:00:00", "slotLength": 15,
   "site": {"dbid": "8", "name": "Beta Branch", "postcode": "TT1 1AA"},
   "holderList": [{"dbid": "13", "title": null, "firstNames": "Sam", "lastName": "JONES",
                   "role": "GP"},
                  {"dbid": 14, "title": "Dr", "firstNames": "Kim", "lastName": "LEE"}],
   "slotTypeList": [{"typeID": 9, "description": "Review", "total": "4", "booked": "1",
                     "blocked": "1", "embargoed": "0", "available": "2"},
                    {"typeID": "2", "description": "Urgent", "total": 2, "booked": 2,
                     "blocked": 0, "embargoed": 0, "available": 0, "colour": "red"}],
   "sessionCategory": {"id": 1, "name": "Routine"}},
  {"dbid": 40125, "name": "Short", "date": "2026-07-16", "startTime": "2026-07-16T08:00:00+01:00",
   "endTime": "08:30", "slotLength": null, "site": null, "holderList": null,
   "slotTypeList": null},
  {"dbid": 40126, "name": "Bare", "date": "16/07/2026", "startTime": "10:00"}
], "extra": {"paging": null}}"""


def test_sessions_as_the_contract_shows_them():
    sessions, warnings = wire.appointment_sessions(SESSIONS)
    assert warnings == []
    [session] = sessions
    assert session.id == 40123
    assert session.name == "Flu clinic"
    assert session.date == date(2026, 12, 1)
    assert session.start == datetime(2026, 12, 1, 9, 0, tzinfo=LONDON)
    assert session.end == datetime(2026, 12, 1, 12, 0, tzinfo=LONDON)
    assert session.start.utcoffset().total_seconds() == 0  # GMT in December
    assert session.slot_minutes == 10
    assert (session.site_id, session.site_name) == (7, "Alpha Hub")
    assert session.holders == ("Nurse Alex SMITH",)
    assert session.booked == 5
    assert session.counts == (("3", 18, 5, 0, 0, 13),)
    assert session.slot_types == ("Flu vaccination",)


def test_sessions_in_other_formats_and_with_unknown_fields():
    sessions, warnings = wire.appointment_sessions(SESSIONS_OTHER_FORMATS)
    assert warnings == []
    review, short, bare = sessions
    assert review.id == 40124
    assert review.date == date(2026, 7, 15)
    assert review.start == datetime(2026, 7, 15, 13, 30, tzinfo=LONDON)
    assert review.start.utcoffset().total_seconds() == 3600  # BST in July
    # A time sent as a whole date-time counts for its time of day only.
    assert review.end == datetime(2026, 7, 15, 17, 0, tzinfo=LONDON)
    assert review.slot_minutes == 15
    assert (review.site_id, review.site_name) == (8, "Beta Branch")
    assert review.holders == ("Sam JONES", "Dr Kim LEE")
    # Counts in slot type order whatever order EMIS sent them in; ids as text.
    assert review.counts == (("2", 2, 2, 0, 0, 0), ("9", 4, 1, 1, 0, 2))
    assert review.slot_types == ("Urgent", "Review")
    assert review.booked == 3

    assert short.date == date(2026, 7, 16)
    assert short.start == datetime(2026, 7, 16, 8, 0, tzinfo=LONDON)
    assert short.end == datetime(2026, 7, 16, 8, 30, tzinfo=LONDON)
    assert (short.slot_minutes, short.site_id, short.site_name) == (None, None, "")
    assert (short.holders, short.counts, short.slot_types, short.booked) == ((), (), (), 0)

    assert bare.date == date(2026, 7, 16)
    assert bare.end == bare.start  # no endTime: a session of no length, not an error


@pytest.mark.parametrize(
    "body",
    [b'{"appointmentSession": []}', b'{"appointmentSession": null}', b"{}", b'{"other": 1}'],
)
def test_no_sessions_however_it_is_said(body):
    assert wire.appointment_sessions(body) == ([], [])


def test_a_broken_session_is_skipped_with_a_message_and_the_rest_kept():
    body = b"""{"appointmentSession": [
      {"name": "No id", "date": "01/12/2026", "startTime": "09:00"},
      {"dbid": "abc", "date": "01/12/2026", "startTime": "09:00"},
      {"dbid": 2, "date": "31/02/2026", "startTime": "09:00"},
      {"dbid": 3, "date": "01/12/2026", "startTime": "half past nine"},
      {"dbid": 4, "date": "01/12/2026", "startTime": "09:00", "site": "Alpha Hub"},
      17,
      {"dbid": 5, "name": "Good", "date": "01/12/2026", "startTime": "09:00", "endTime": "10:00"}
    ]}"""
    sessions, warnings = wire.appointment_sessions(body)
    assert [s.id for s in sessions] == [5]
    assert len(warnings) == 6
    assert warnings[0] == "Skipped appointment session #1: it has no dbid."
    assert warnings[1] == "Skipped appointment session #2: it has no dbid."
    assert "session 2: its date '31/02/2026' is not a date" in warnings[2]
    assert "session 3: its startTime 'half past nine' is not a time" in warnings[3]
    assert "session #5: it does not decode" in warnings[4]
    assert "session #6: it does not decode" in warnings[5]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Service Unavailable</html>",
        b"",
        b'[{"dbid": 1}]',
        b'{"appointmentSession": "none"}',
        b'{"appointmentSession": {"dbid": 1}}',
        b"null",
    ],
)
def test_a_body_of_the_wrong_shape_is_rejected(body):
    with pytest.raises(EmisRejected, match="GetAppointmentSessions"):
        wire.appointment_sessions(body)


SLOTS = b"""{"slot": [
  {"dbid": 900124, "startTime": "09:20", "slotLength": "10",
   "type": {"typeID": "3", "description": "Flu vaccination"},
   "status": "Available", "notes": "", "reason": "", "commentList": []},
  {"dbid": 900123, "refID": 900123, "startTime": "09:10", "slotLength": "10",
   "type": {"typeID": "3", "description": "Flu vaccination"},
   "status": "Booked",
   "patientList": {"patient": {"dbid": 5512, "refID": 5512, "title": "Mrs",
                               "firstNames": "Jane", "surname": "JONES",
                               "fullName": "JONES, Jane (Mrs)"}},
   "notes": "", "reason": "", "commentList": []}]}"""


def test_slots_as_the_contract_shows_them():
    slots, warnings = wire.session_slots(SLOTS, session_id=40123, session_date=date(2026, 12, 1))
    assert warnings == []
    booked, free = slots  # in time order
    assert booked.id == 900123
    assert booked.session_id == 40123
    assert booked.start == datetime(2026, 12, 1, 9, 10, tzinfo=LONDON)
    assert booked.end == datetime(2026, 12, 1, 9, 20, tzinfo=LONDON)
    assert (booked.slot_type, booked.slot_type_id, booked.status) == (
        "Flu vaccination",
        "3",
        "Booked",
    )
    assert booked.patient_number == 5512
    assert (booked.patient_family_name, booked.patient_given_names) == ("JONES", "Jane")
    assert booked.has_patient
    assert free.id == 900124
    assert free.status == "Available"
    assert free.patient_number is None
    assert (free.patient_family_name, free.patient_given_names) == ("", "")


def test_slots_in_other_shapes():
    body = b"""{"slot": [
      {"dbid": "1", "startTime": "14:00:00", "slotLength": 5, "status": "Did Not Attend",
       "patientList": [{"dbid": "77", "firstNames": "Ann", "surname": "BEE"}],
       "type": {"typeID": 4, "description": "Bloods"}, "colour": 3},
      {"dbid": 2, "startTime": "2026-12-01T14:05:00", "status": "Embargoed",
       "patientList": {}},
      {"dbid": 3, "startTime": "14:10", "slotLength": "", "status": "Blocked",
       "patientList": null, "type": null},
      {"dbid": 4, "startTime": "14:15", "status": "Booked",
       "patientList": {"patient": {"refID": 88, "surname": "CEE"}}}
    ], "unknown": true}"""
    slots, warnings = wire.session_slots(
        body, session_id=9, session_date=date(2026, 12, 1), slot_minutes=5
    )
    assert warnings == []
    first, second, third, fourth = slots
    assert first.status == "Did Not Attend"  # kept as EMIS sent it, never guessed
    assert (first.patient_number, first.patient_family_name) == (77, "BEE")
    assert (first.slot_type, first.slot_type_id) == ("Bloods", "4")
    assert second.start == datetime(2026, 12, 1, 14, 5, tzinfo=LONDON)
    # No slotLength: the session's slot length.
    assert second.end == datetime(2026, 12, 1, 14, 10, tzinfo=LONDON)
    assert second.patient_number is None
    assert third.end == datetime(2026, 12, 1, 14, 15, tzinfo=LONDON)
    assert (third.slot_type, third.patient_number) == ("", None)
    assert fourth.patient_number == 88  # refID when there is no dbid


@pytest.mark.parametrize("body", [b'{"slot": []}', b'{"slot": null}', b"{}"])
def test_no_slots_however_it_is_said(body):
    assert wire.session_slots(body, session_id=1, session_date=date(2026, 12, 1)) == ([], [])


def test_a_broken_slot_is_skipped_with_a_message_naming_no_patient():
    body = b"""{"slot": [
      {"startTime": "09:00", "patientList": {"patient": {"dbid": 1, "surname": "SECRETNAME"}}},
      {"dbid": 2, "startTime": "25:00", "patientList": {"patient": {"surname": "SECRETNAME"}}},
      {"dbid": 3, "startTime": "09:10", "patientList": "JONES"},
      {"dbid": 4, "startTime": "09:20", "slotLength": "10", "status": "Booked"}
    ]}"""
    slots, warnings = wire.session_slots(body, session_id=40, session_date=date(2026, 12, 1))
    assert [s.id for s in slots] == [4]
    assert warnings == [
        "Skipped slot #1 of session 40: it has no dbid.",
        "Skipped slot 2 of session 40: its startTime '25:00' is not a time.",
        warnings[2],
    ]
    assert warnings[2].startswith("Skipped slot #3 of session 40: it does not decode")
    assert not any("SECRETNAME" in w or "JONES" in w for w in warnings)


DEMOGRAPHICS = b"""{"patientID": "5512",
 "registration": {"dbid": "5512", "nhsNumber": "9434765919", "title": "Mrs",
                  "familyName": "JONES", "firstNames": "Jane", "callingName": "Jane",
                  "dateOfBirth": "02/04/1980", "sex": "F",
                  "homeGPCode": "A10001", "homeGP": "Alpha Surgery",
                  "organisationNACS": "U10001"}}"""


def test_demographics_as_the_contract_shows_them():
    patient, warnings = wire.patient_demographics(DEMOGRAPHICS, patient_number=5512)
    assert warnings == []
    assert patient.patient_number == 5512
    assert patient.nhs_number == "9434765919"
    assert (patient.family_name, patient.given_names) == ("JONES", "Jane")
    assert patient.birth_date == date(1980, 4, 2)
    assert patient.gender == "female"
    assert patient.registered_practice_ods == "A10001"
    assert patient.registered_practice_name == "Alpha Surgery"


@pytest.mark.parametrize(
    ("sex", "gender"), [("M", "male"), ("F", "female"), ("I", "other"), ("U", "unknown")]
)
def test_demographics_sex_codes(sex, gender):
    body = b'{"registration": {"sex": "%s"}}' % sex.encode()
    assert wire.patient_demographics(body, patient_number=1)[0].gender == gender


def test_demographics_registered_here_and_in_other_formats():
    body = b"""{"registration": {"dbid": 77, "nhsNumber": "943 476 5919",
      "familyName": "BEE", "firstNames": "Ann Marie", "dateOfBirth": "1975-11-30T00:00:00",
      "sex": null, "organisationNACS": "u10001", "address": {"postCode": "TT1 1AA"}},
      "eventList": null}"""
    patient, warnings = wire.patient_demographics(body, patient_number=77)
    assert warnings == []
    assert patient.patient_number == 77
    assert patient.nhs_number == "9434765919"  # spaces removed
    assert patient.given_names == "Ann Marie"
    assert patient.birth_date == date(1975, 11, 30)
    assert patient.gender == "unknown"
    # Registered at the organisation holding the record: no homeGPCode.
    assert (patient.registered_practice_ods, patient.registered_practice_name) == ("U10001", "")


def test_demographics_without_an_nhs_number_or_with_a_bad_one():
    missing, warnings = wire.patient_demographics(
        b'{"registration": {"familyName": "X", "dateOfBirth": ""}}', patient_number=3
    )
    assert (missing.nhs_number, missing.birth_date, warnings) == ("", None, [])
    bad, warnings = wire.patient_demographics(
        b'{"registration": {"nhsNumber": "12345"}}', patient_number=3
    )
    assert bad.nhs_number == ""
    assert warnings == ["Patient 3: EMIS sent an NHS number that is not 10 digits; it was ignored."]


@pytest.mark.parametrize("body", [b"{}", b'{"registration": null}', b"[]", b"not json"])
def test_demographics_without_a_registration_is_rejected(body):
    with pytest.raises(EmisRejected, match="GetPatientDemographics"):
        wire.patient_demographics(body, patient_number=1)


BOOKED = b"""{"time": "2026-12-01T08:55:00", "bookedList": [
  {"patient": {"dbid": "5512", "nhsNumber": "9434765919", "familyName": "JONES",
               "firstNames": "Jane", "dateOfBirth": "02/04/1980", "sex": "F"},
   "appointment": {"id": {"dbid": "900123"}, "appointmentSite": "Alpha Hub",
                   "appointmentName": "Flu clinic", "date": "01/12/2026", "time": "09:10",
                   "sessionId": 40123,
                   "slotType": {"id": "3", "description": "Flu vaccination"}},
   "alertSpecified": false},
  {"patient": null, "appointment": {"id": {"dbid": "x"}, "date": "01/12/2026", "time": "09:30"}},
  {"patient": {"dbid": 1}, "appointment": {"id": {"dbid": 5}, "date": "soon", "time": "09:30"}}
 ], "sessionHolderList": [{"dbid": 12}]}"""


def test_booked_patients():
    booked, warnings = wire.booked_patients(BOOKED)
    [one] = booked
    assert one.slot_id == 900123
    assert one.session_id == 40123
    assert one.start == datetime(2026, 12, 1, 9, 10, tzinfo=LONDON)
    assert (one.session_name, one.site_name, one.slot_type) == (
        "Flu clinic",
        "Alpha Hub",
        "Flu vaccination",
    )
    assert (one.patient_number, one.nhs_number) == (5512, "9434765919")
    assert (one.family_name, one.given_names) == ("JONES", "Jane")
    assert (one.birth_date, one.gender) == (date(1980, 4, 2), "female")
    assert warnings == [
        "Skipped booked appointment #2: it has no appointment id.",
        "Skipped booked appointment 5: its date 'soon' or time '09:30' cannot be read.",
    ]


@pytest.mark.parametrize("body", [b'{"bookedList": []}', b'{"bookedList": null}', b'{"time": ""}'])
def test_no_booked_patients(body):
    assert wire.booked_patients(body) == ([], [])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01/12/2026", date(2026, 12, 1)),
        ("1/2/2026", date(2026, 2, 1)),
        ("2026-12-01", date(2026, 12, 1)),
        ("2026-12-01T00:00:00", date(2026, 12, 1)),
        ("01/12/2026 00:00:00", date(2026, 12, 1)),
        ("", None),
        (None, None),
        ("32/01/2026", None),
        ("tomorrow", None),
    ],
)
def test_dates(value, expected):
    assert wire.parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("09:00", time(9, 0)),
        ("9:05", time(9, 5)),
        ("09:00:30", time(9, 0, 30)),
        ("09:00:30.123", time(9, 0, 30)),
        ("1899-12-30T17:45:00", time(17, 45)),
        ("2026-07-01T08:00:00Z", time(9, 0)),  # UTC, shown in UK summer time
        ("2026-07-01 08:00:00", time(8, 0)),
        ("24:00", None),
        ("9", None),
        ("", None),
        (None, None),
    ],
)
def test_times(value, expected):
    assert wire.parse_time(value) == expected


def test_error_response_in_words():
    body = b"""{"messageId": "5c1b0c1e-0000-0000-0000-000000000000", "legacyOutcome": 0,
      "text": {"status": "generated", "div": "<div>plain &amp; words</div>"},
      "issue": {"severity": 1, "code": "invalid",
                "details": {"text": "details text",
                            "coding": {"system": "https://emis.example/partner-api/errors",
                                       "code": "INVALID_PARAMETER", "display": "Invalid"}},
                "diagnostics": "startDate is not a date"}}"""
    assert wire.error_response(body) == (
        "startDate is not a date",
        "INVALID_PARAMETER",
        "startDate is not a date",
    )
    only_div = b'{"text": {"div": "<div><p>plain &amp; words</p></div>"}, "issue": [{"code": "x"}]}'
    assert wire.error_response(only_div) == ("plain & words", "x", "")
    assert wire.error_response(b"<html>Bad gateway</html>") == ("", "", "")
