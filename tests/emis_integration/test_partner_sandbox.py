"""PartnerApiClient against the bundled sandbox over HTTP (in-process): the
sessions, slots, patients and booked appointments a booking made through GP
Connect leaves there, and every error type the sandbox can produce."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from emis_integration import services
from emis_integration.client import (
    BookingOrganisation,
    EmisAuthError,
    EmisRejected,
    EmisUnavailable,
    PatientDetails,
    PatientNotFound,
    book_patient,
)
from emis_integration.selectors import emis_client, partner_client
from tests.emis_world import at

PATIENT = PatientDetails(
    "9434765919", "Smith", "Jane", date(1980, 4, 2), "female", "A10001", "Alpha Surgery"
)
ORG = BookingOrganisation("A10001", "Alpha Surgery", "01632 960001")


@pytest.fixture
def connection(emis_world):
    return emis_world.connections["U10001"]


@pytest.fixture
def partner(connection):
    with partner_client(connection=connection) as client:
        yield client


@pytest.fixture
def pcn_slots(emis_world):
    return emis_world.slots("U10001", [at(1, 9), at(1, 9, 10), at(2, 14)])


@pytest.fixture
def booking(emis_world, practice_a, pcn_slots):
    """Jane Smith (registered at Alpha Surgery) booked into tomorrow's 09:10 slot
    through GP Connect."""
    emis_world.register("A10001", PATIENT)
    with emis_client(
        connection=emis_world.connections["U10001"], requesting_organisation=practice_a
    ) as gp_connect:
        slot = next(
            s
            for s in gp_connect.search_free_slots(
                timezone.now(), timezone.now() + timedelta(days=3)
            )
            if s.start == at(1, 9, 10)
        )
        return book_patient(
            gp_connect,
            slot=slot,
            patient=PATIENT,
            booking_organisation=ORG,
            description="Flu clinic",
        ).appointment


def today():
    return timezone.localdate()


def test_sessions_with_their_counts(partner, pcn_slots):
    sessions = partner.appointment_sessions(start=today(), end=today() + timedelta(days=3))
    assert [s.date for s in sessions] == [today() + timedelta(days=1), today() + timedelta(days=2)]
    tomorrow, after = sessions
    assert tomorrow.start <= at(1, 9)
    assert tomorrow.end >= at(1, 9, 20)
    assert tomorrow.start.tzinfo is not None
    assert tomorrow.site_name == "Alpha Hub"
    assert tomorrow.slot_minutes == 10
    assert [c[1:] for c in tomorrow.counts] == [(2, 0, 0, 0, 2)]
    assert tomorrow.slot_types == ("Flu vaccination",)
    assert tomorrow.booked == 0
    assert len(tomorrow.holders) == 1
    assert [c[1] for c in after.counts] == [1]
    assert partner.calls == 1
    assert partner.warnings == []


def test_a_gp_connect_booking_shows_in_the_partner_api(partner, booking, pcn_slots):
    [session, _] = partner.appointment_sessions(start=today(), end=today() + timedelta(days=2))
    assert session.booked == 1
    assert [c[2] for c in session.counts] == [1]
    slots = partner.slots_for_session(session_id=session.id, session_date=session.date)
    assert [s.start for s in slots] == [at(1, 9), at(1, 9, 10)]
    free, booked = slots
    assert free.status == "Available"
    assert free.patient_number is None
    assert booked.status == "Booked"
    # The slot id is the one GP Connect books by.
    assert (str(booked.id),) == booking.slot_ids
    assert booked.session_id == session.id
    assert booked.end == at(1, 9, 20)
    assert booked.slot_type == "Flu vaccination"
    assert booked.patient_family_name.upper() == "SMITH"
    assert booked.patient_given_names == "Jane"
    assert booked.patient_number is not None

    patient = partner.patient_demographics(patient_number=booked.patient_number)
    assert patient.nhs_number == "9434765919"
    assert patient.family_name.upper() == "SMITH"
    assert patient.birth_date == date(1980, 4, 2)
    assert patient.gender == "female"
    assert patient.registered_practice_ods == "A10001"
    assert patient.registered_practice_name == "Alpha Surgery"

    booked_patients = partner.booked_patients(minutes_before=0, minutes_within=3 * 24 * 60)
    assert [(b.slot_id, b.session_id, b.start) for b in booked_patients] == [
        (booked.id, session.id, at(1, 9, 10))
    ]
    assert booked_patients[0].nhs_number == "9434765919"
    assert partner.warnings == []


def test_windows_over_90_days_are_split(partner, emis_world):
    emis_world.slots("U10001", [at(2, 9), at(100, 9)])
    sessions = partner.appointment_sessions(start=today(), end=today() + timedelta(days=120))
    assert [s.date for s in sessions] == [
        today() + timedelta(days=2),
        today() + timedelta(days=100),
    ]
    assert partner.calls == 2


def test_an_unknown_patient_is_patient_not_found(partner):
    with pytest.raises(PatientNotFound):
        partner.patient_demographics(patient_number=987654)
    assert partner.calls == 1


def test_an_unknown_session_is_rejected(partner):
    with pytest.raises(EmisRejected) as excinfo:
        partner.slots_for_session(session_id=987654, session_date=today())
    assert excinfo.value.status_code == 404
    assert partner.calls == 1


def test_5xx_is_retried_then_unavailable(emis_world, partner):
    emis_world.faults("U10001", error_rate=1.0)
    with pytest.raises(EmisUnavailable):
        partner.appointment_sessions(start=today(), end=today())
    assert partner.calls == 3  # 1 + EMIS_MAX_RETRIES (2)


def test_rejected_auth_is_not_retried(emis_world, partner):
    emis_world.faults("U10001", reject_auth=True)
    with pytest.raises(EmisAuthError, match="application id or token"):
        partner.appointment_sessions(start=today(), end=today())
    assert partner.calls == 1


@pytest.mark.parametrize("secret", ["partner_token", "partner_application_id"])
def test_a_wrong_token_or_application_id_is_an_auth_error(connection, superuser, secret):
    services.connection_update_config(
        actor=superuser, connection=connection, **{secret: "not-the-right-value"}
    )
    with (
        partner_client(connection=connection) as client,
        pytest.raises(EmisAuthError) as excinfo,
    ):
        client.appointment_sessions(start=today(), end=today())
    assert excinfo.value.status_code == 401
    assert "not-the-right-value" not in str(excinfo.value)
