"""An EMIS world for product tests: sandbox organisations matching the test
organisations, sites, schedules and free slots, and hippo-pcn connections that
reach them over HTTP (in-process WSGI, or a live server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.utils import timezone

from emis_integration import services as emis_services
from emis_integration.demo_identities import (
    HIPPO_CONSUMER_ASID,
    demo_client_secret,
    demo_partner_application_id,
    demo_partner_token,
    demo_provider_asid,
)
from emis_integration.models import ConnectionStatus, EmisConnection
from emis_integration.sandbox import models as sandbox
from emis_integration.sandbox import services as sandbox_services
from hippo_pcn.audit.services import system_actor

ACTOR = system_actor("tests")


def sandbox_org(org, *, pcn=None) -> sandbox.SandboxOrganisation:
    kind = sandbox.OrganisationKind.PCN if org.is_pcn else sandbox.OrganisationKind.PRACTICE
    found, created = sandbox.SandboxOrganisation.objects.get_or_create(
        ods_code=org.ods_code,
        defaults={
            "name": org.name,
            "kind": kind,
            "pcn": pcn,
            "asid": demo_provider_asid(org.ods_code),
            "client_secret": demo_client_secret(org.ods_code),
            "partner_application_id": demo_partner_application_id(org.ods_code),
            "partner_token": demo_partner_token(org.ods_code),
            "phone": "01632 960100",
        },
    )
    if not created and pcn is not None and found.pcn_id != pcn.pk:
        found.pcn = pcn
        found.save(update_fields=["pcn"])
    return found


def connect(org, base_url: str, status: str = ConnectionStatus.LIVE) -> EmisConnection:
    """A connection to the sandbox organisation with the same ODS code: GP Connect
    for every organisation, and the Partner API too for a PCN."""
    existing = EmisConnection.objects.filter(organisation=org).first()
    if existing is not None:
        return existing
    sandbox_base = f"{base_url.rstrip('/')}/emis-sandbox/{org.ods_code}"
    partner = (
        {
            "partner_base_url": f"{sandbox_base}/partner",
            "partner_application_id": demo_partner_application_id(org.ods_code),
            "partner_token": demo_partner_token(org.ods_code),
        }
        if org.is_pcn
        else {}
    )
    return emis_services.connection_create(
        actor=ACTOR,
        organisation=org,
        base_url=f"{sandbox_base}/fhir",
        provider_ods_code=org.ods_code,
        asid_from=HIPPO_CONSUMER_ASID,
        asid_to=demo_provider_asid(org.ods_code),
        client_secret=demo_client_secret(org.ods_code),
        status=status,
        **partner,
    )


def at(days: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.localdate() + timedelta(days=days)
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@dataclass
class EmisWorld:
    base_url: str
    connections: dict[str, EmisConnection] = field(default_factory=dict)
    orgs: dict[str, sandbox.SandboxOrganisation] = field(default_factory=dict)
    schedules: dict[str, sandbox.Schedule] = field(default_factory=dict)

    def add_pcn(self, pcn, members, *, status: str = ConnectionStatus.LIVE, site="Alpha Hub"):
        sb_pcn = sandbox_org(pcn)
        self.orgs[pcn.ods_code] = sb_pcn
        for practice in members:
            self.orgs[practice.ods_code] = sandbox_org(practice, pcn=sb_pcn)
        self.connections[pcn.ods_code] = connect(pcn, self.base_url, status)
        self.schedules[pcn.ods_code] = self._schedule(
            sb_pcn, site, "Alpha Health Centre, 1 High Street", "Flu vaccination", "Nurse"
        )
        return self

    def add_practice(self, practice, *, status: str = ConnectionStatus.LIVE):
        self.orgs[practice.ods_code] = self.orgs.get(practice.ods_code) or sandbox_org(practice)
        self.connections[practice.ods_code] = connect(practice, self.base_url, status)
        self.schedules[practice.ods_code] = self._schedule(
            self.orgs[practice.ods_code], practice.name, "2 Surgery Lane", "Flu vaccination", "Sam"
        )
        return self

    def _schedule(self, org, site_name, address, service, family):
        site = sandbox.Site.objects.create(
            organisation=org,
            name=site_name,
            address_line1=address,
            city="Testtown",
            postcode="TT1 1AA",
        )
        practitioner = sandbox.Practitioner.objects.create(
            organisation=org, family=family, given="Alex", prefix="", gender="female", role="Nurse"
        )
        return sandbox.Schedule.objects.create(
            organisation=org,
            site=site,
            practitioner=practitioner,
            service_type=service,
            service_category="Vaccinations",
            delivery_channel="In-person",
        )

    def slots(
        self,
        ods: str,
        starts: list[datetime],
        *,
        minutes: int = 10,
        allowed_ods: list[str] | None = None,
    ) -> list[sandbox.Slot]:
        schedule = self.schedules[ods]
        org = schedule.organisation
        if allowed_ods is None:
            if org.kind == sandbox.OrganisationKind.PCN:
                allowed_ods = [
                    org.ods_code,
                    *org.member_practices.values_list("ods_code", flat=True),
                ]
            else:
                allowed_ods = [org.ods_code]
        return sandbox_services.slots_create(
            schedule=schedule,
            starts=starts,
            minutes=minutes,
            allowed_ods=allowed_ods,
            allowed_org_types=[],
        )

    def register(self, ods: str, patient, *, registration_type: str = "R") -> sandbox.Patient:
        """`patient` (PatientDetails, or booking.Patient) registered at `ods`'s EMIS."""
        nhs = patient.nhs_number
        family = getattr(patient, "family_name", None) or getattr(patient, "last_name", "")
        given = getattr(patient, "given_name", None) or getattr(patient, "first_name", "")
        birth = getattr(patient, "birth_date", None) or patient.date_of_birth
        record, _ = sandbox.Patient.objects.get_or_create(
            organisation=self.orgs[ods],
            nhs_number=nhs,
            defaults={
                "family": family,
                "given": given,
                "birth_date": birth,
                "gender": getattr(patient, "gender", "") or "unknown",
                "registration_type": registration_type,
            },
        )
        return record

    def faults(self, ods: str, **knobs) -> None:
        sandbox.SandboxOrganisation.objects.filter(ods_code=ods).update(**knobs)
