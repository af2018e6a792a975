"""The sandbox's demo seeder: what it creates, and that a re-run creates nothing."""

from __future__ import annotations

import time
from io import StringIO

import nhs_number
import pytest
from django.utils import timezone

from emis_integration.demo_identities import (
    demo_client_secret,
    demo_partner_application_id,
    demo_partner_token,
    demo_provider_asid,
)
from emis_integration.sandbox import demo
from emis_integration.sandbox.models import (
    Appointment,
    AppointmentSession,
    BookingCap,
    Patient,
    Practitioner,
    SandboxOrganisation,
    Schedule,
    Site,
    Slot,
)

MODELS = [
    SandboxOrganisation,
    Site,
    Practitioner,
    Schedule,
    AppointmentSession,
    Slot,
    BookingCap,
    Patient,
    Appointment,
]
PRACTICES = ["A81001", "A81002", "A81003", "B82001", "B82002", "C83001"]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def seeded(db):
    started = time.perf_counter()
    demo.seed_demo(stdout=StringIO())
    return time.perf_counter() - started


def test_second_run_creates_nothing(seeded):
    before = counts()
    out = StringIO()
    demo.seed_demo(stdout=out)
    assert counts() == before
    assert (
        "created 0 organisations, 0 sites, 0 practitioners, 0 schedules, 0 slots" in out.getvalue()
    )


def test_volume_is_modest(seeded):
    total = Slot.objects.count()
    # Three PCNs (Brookside's small, for onboarding) and eight practices.
    assert 2000 <= total <= 7500
    assert seeded < 30


def test_every_demo_organisation_with_its_identity(seeded):
    for ods in [*PRACTICES, "U00001", "U00002"]:
        organisation = SandboxOrganisation.objects.get(ods_code=ods)
        assert organisation.asid == demo_provider_asid(ods)
        assert organisation.client_secret == demo_client_secret(ods)
        assert organisation.partner_application_id == demo_partner_application_id(ods)
        assert organisation.partner_token == demo_partner_token(ods)
    assert SandboxOrganisation.objects.get(ods_code="A81002").pcn.ods_code == "U00001"
    assert SandboxOrganisation.objects.get(ods_code="B82002").pcn.ods_code == "U00002"
    assert SandboxOrganisation.objects.get(ods_code="C83001").pcn is None


def test_practices(seeded):
    for ods in PRACTICES:
        practice = SandboxOrganisation.objects.get(ods_code=ods)
        assert practice.sites.count() == 1
        assert practice.practitioners.count() == 2
        patients = list(practice.patients.all())
        assert len(patients) == 40
        assert all(nhs_number.is_valid(p.nhs_number) for p in patients)
        assert {p.registration_type for p in patients} == {"R"}
        assert {p.registered_practice_ods for p in patients} == {ods}
        slots = practice.slots.all()
        assert slots.exists()
        assert all(s.allowed_ods == [ods] for s in slots)
        assert all(timezone.localtime(s.start).weekday() < 5 for s in slots)
        assert all((s.end - s.start).total_seconds() == 600 for s in slots)
        hours = {timezone.localtime(s.start).hour for s in slots}
        assert any(h < 12 for h in hours) and any(h >= 12 for h in hours)
    all_numbers = list(
        Patient.objects.filter(organisation__kind="practice").values_list("nhs_number", flat=True)
    )
    assert len(all_numbers) == len(set(all_numbers))


def test_pcns(seeded):
    members = {"U00001": ["A81001", "A81002", "A81003"], "U00002": ["B82001", "B82002"]}
    for ods, practices in members.items():
        pcn = SandboxOrganisation.objects.get(ods_code=ods)
        assert pcn.sites.count() == 3
        assert {p.role for p in pcn.practitioners.all()} >= {
            "Practice nurse",
            "Clinical pharmacist",
            "General practitioner",
        }
        assert {s.service_type for s in pcn.schedules.all()} == {
            "Flu vaccination",
            "NHS Health Check",
            "Long-term condition review",
            "Physiotherapy",
            "Covid-19 vaccination",
            "Medication review",
        }
        assert {s.delivery_channel for s in pcn.schedules.all()} == {
            "In-person",
            "Telephone",
            "Video",
        }
        assert {tuple(s.allowed_ods) for s in pcn.slots.all()} == {tuple(sorted(practices) + [ods])}
        caps = {c.booking_org_ods: c.max_active_bookings for c in pcn.booking_caps.all()}
        assert caps == dict.fromkeys(practices, 200)
        registered = list(pcn.patients.all())
        assert registered
        for patient in registered:
            assert patient.registration_type == "T"
            home = Patient.objects.get(
                nhs_number=patient.nhs_number,
                organisation__ods_code=patient.registered_practice_ods,
            )
            assert home.registered_practice_ods in practices
    hub = Site.objects.get(organisation__ods_code="U00001", name="Riverside Hub")
    assert (hub.address_line1, hub.address_line2, hub.city, hub.postcode) == (
        "Castle Street Health Centre",
        "12 Castle Street",
        "Riverton",
        "RV1 2AB",
    )


def test_every_slot_is_in_its_days_session(seeded):
    assert not Slot.objects.filter(session__isnull=True).exists()
    for session in AppointmentSession.objects.filter(organisation__ods_code="U00001")[:50]:
        slots = list(session.slots.all())
        assert slots
        assert {timezone.localtime(s.start).date() for s in slots} == {session.date}
        assert {s.schedule_id for s in slots} == {session.schedule_id}
        assert session.start_time == min(timezone.localtime(s.start).time() for s in slots)
        assert session.end_time == max(timezone.localtime(s.end).time() for s in slots)
        assert (session.site_id, session.holder_id) == (
            session.schedule.site_id,
            session.schedule.practitioner_id,
        )


def test_an_older_seed_gets_partner_credentials(seeded):
    SandboxOrganisation.objects.update(partner_application_id="", partner_token="")
    demo.seed_demo(stdout=StringIO())
    pcn = SandboxOrganisation.objects.get(ods_code="U00001")
    assert (pcn.partner_application_id, pcn.partner_token) == (
        demo_partner_application_id("U00001"),
        demo_partner_token("U00001"),
    )


def test_rerun_adds_only_missing_days(seeded):
    schedule = Schedule.objects.filter(organisation__ods_code="U00001").first()
    slots = Slot.objects.filter(schedule=schedule).order_by("start")
    last_day = timezone.localtime(slots.last().start).date()
    removed = [s for s in slots if timezone.localtime(s.start).date() == last_day]
    Slot.objects.filter(pk__in=[s.pk for s in removed]).delete()
    before = Slot.objects.count()
    demo.seed_demo(stdout=StringIO())
    assert Slot.objects.count() == before + len(removed)


def test_seeded_sandbox_serves_the_demo_pcn(seeded, client):
    from emis_integration import gpconnect as gpc

    from .helpers import headers

    pcn = SandboxOrganisation.objects.get(ods_code="U00001")
    today = timezone.localdate()
    response = client.get(
        f"/emis-sandbox/U00001/fhir/Slot?start=ge{today}&end=le{today + timezone.timedelta(days=13)}&status=free",
        headers=headers(pcn, gpc.INTERACTION_SEARCH_SLOTS, requester_ods="A81002"),
    )
    assert response.status_code == 200
    assert response.json().get("entry")
    outsider = client.get(
        f"/emis-sandbox/U00001/fhir/Slot?start=ge{today}&end=le{today + timezone.timedelta(days=13)}&status=free",
        headers=headers(pcn, gpc.INTERACTION_SEARCH_SLOTS, requester_ods="C83001"),
    )
    assert "entry" not in outsider.json()


def test_seeded_sandbox_serves_the_partner_api(seeded, client):
    from .helpers import emis_date, partner_base, partner_headers

    pcn = SandboxOrganisation.objects.get(ods_code="U00001")
    today = timezone.localdate()
    response = client.get(
        f"{partner_base(pcn)}/appointments/GetAppointmentSessions?startDate={emis_date(today)}"
        f"&endDate={emis_date(today + timezone.timedelta(days=13))}",
        headers=partner_headers(pcn),
    )
    assert response.status_code == 200
    listed = response.json()["appointmentSession"]
    assert len(listed) >= 5 * 9  # five clinics, every weekday
    assert {s["site"]["name"] for s in listed} == {
        "Riverside Hub",
        "Millbrook Clinic",
        "Northgate Clinic",
    }
