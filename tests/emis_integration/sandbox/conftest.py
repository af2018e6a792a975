"""A small sandbox world: PCN U10001 with member practices A10001 and A10002,
C30001 outside any PCN (each with Partner API credentials), one PCN
site/practitioner/schedule and a slot factory (slots in their sessions)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from emis_integration.sandbox import services
from emis_integration.sandbox.models import (
    DeliveryChannel,
    Gender,
    OrganisationKind,
    Patient,
    Practitioner,
    RegistrationType,
    SandboxOrganisation,
    Schedule,
    Site,
    Slot,
)


def _org(ods: str, kind: str, asid: str, pcn: SandboxOrganisation | None = None):
    return SandboxOrganisation.objects.create(
        ods_code=ods,
        name=f"Sandbox {ods}",
        kind=kind,
        pcn=pcn,
        asid=asid,
        client_secret=f"test-secret-{ods.lower()}-0123456789abcdef0123456789",
        partner_application_id=partner_application_id(ods),
        partner_token=partner_token(ods),
        phone="01632 960100",
    )


def partner_application_id(ods: str) -> str:
    return f"app-{ods.lower()}-0f9e8d7c"


def partner_token(ods: str) -> str:
    return f"token-{ods.lower()}-4b3a29181706f5e4d3c2b1a0"


@pytest.fixture
def pcn(db):
    return _org("U10001", OrganisationKind.PCN, "900000000001")


@pytest.fixture
def practice(pcn):
    return _org("A10001", OrganisationKind.PRACTICE, "900000000002", pcn)


@pytest.fixture
def practice2(pcn):
    return _org("A10002", OrganisationKind.PRACTICE, "900000000003", pcn)


@pytest.fixture
def outsider(db):
    return _org("C30001", OrganisationKind.PRACTICE, "900000000004")


@pytest.fixture
def schedule(pcn):
    site = Site.objects.create(
        organisation=pcn,
        name="Riverside Hub",
        address_line1="Castle Street Health Centre",
        address_line2="12 Castle Street",
        city="Riverton",
        postcode="RV1 2AB",
    )
    practitioner = Practitioner.objects.create(
        organisation=pcn, family="Patel", given="Asha", prefix="Dr", gender=Gender.FEMALE, role="GP"
    )
    return Schedule.objects.create(
        organisation=pcn,
        site=site,
        practitioner=practitioner,
        service_type="Flu vaccination",
        service_category="Vaccinations",
        delivery_channel=DeliveryChannel.IN_PERSON,
    )


def tomorrow_at(hour: int, minute: int = 0, days: int = 1) -> datetime:
    day = timezone.localdate() + timedelta(days=days)
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@pytest.fixture
def make_slot(schedule):
    def make(
        start: datetime | None = None,
        *,
        minutes: int = 10,
        allowed_ods: list[str] | None = None,
        allowed_org_types: list[str] | None = None,
        in_schedule: Schedule | None = None,
    ) -> Slot:
        (slot,) = services.slots_create(
            schedule=in_schedule or schedule,
            starts=[start or tomorrow_at(10)],
            minutes=minutes,
            allowed_ods=allowed_ods or [],
            allowed_org_types=allowed_org_types or [],
        )
        return slot

    return make


@pytest.fixture
def slot(make_slot):
    return make_slot()


@pytest.fixture
def make_patient():
    def make(organisation, nhs_number: str, registration_type=RegistrationType.REGULAR, **fields):
        defaults = {
            "family": "Smith",
            "given": "Jane",
            "birth_date": datetime(1980, 4, 2).date(),
            "gender": Gender.FEMALE,
            "registered_practice_ods": organisation.ods_code,
        }
        defaults.update(fields)
        return Patient.objects.create(
            organisation=organisation,
            nhs_number=nhs_number,
            registration_type=registration_type,
            **defaults,
        )

    return make


@pytest.fixture
def api():
    return Client()
