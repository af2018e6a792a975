"""Demo data for the bundled EMIS sandbox: an EMIS organisation for every demo
practice and PCN (with Partner API credentials), with sites, practitioners, six
weeks of weekday slots in daily sessions, registered patients and booking caps. Idempotent: a second run adds only what
is missing (new days of slots as time moves on)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import TextIO

import nhs_number
from django.db import transaction
from django.utils import timezone

from emis_integration.demo_identities import (
    demo_client_secret,
    demo_partner_application_id,
    demo_partner_token,
    demo_provider_asid,
)
from hippo_pcn.organisations.demo import PCNS, PRACTICES

from .models import (
    BookingCap,
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
from .services import slots_create

WEEKS_OF_SLOTS = 6
SLOT_MINUTES = 10
PATIENTS_PER_PRACTICE = 40
PCN_PATIENTS_PER_PRACTICE = 3
PCN_CAP_PER_PRACTICE = 200


@dataclass(frozen=True)
class SiteSpec:
    name: str
    line1: str
    line2: str
    city: str
    postcode: str


@dataclass(frozen=True)
class PractitionerSpec:
    prefix: str
    given: str
    family: str
    gender: str
    role: str


@dataclass(frozen=True)
class ScheduleSpec:
    service_type: str
    service_category: str
    practitioner: int  # index into the organisation's practitioners
    site: int  # index into the organisation's sites
    session_start: time
    session_minutes: int
    delivery_channel: str = DeliveryChannel.IN_PERSON


PRACTICE_SITES = {
    "A81001": SiteSpec("Riverside Surgery", "1 Riverside Walk", "", "Riverton", "RV1 4AA"),
    "A81002": SiteSpec("Millbrook Medical Centre", "Millbrook Road", "", "Riverton", "RV3 7BD"),
    "A81003": SiteSpec("Castle Street Practice", "40 Castle Street", "", "Riverton", "RV1 2AD"),
    "B82001": SiteSpec("Hillside Health Centre", "2 Hill Rise", "", "Hillbury", "HB2 5LQ"),
    "B82002": SiteSpec("Orchard Lane Surgery", "17 Orchard Lane", "", "Hillbury", "HB4 1EX"),
    "C83001": SiteSpec("Fenwick Road Surgery", "88 Fenwick Road", "", "Fenwick", "FN1 3RS"),
    "D84001": SiteSpec("Brookside Surgery", "9 Brook Street", "", "Brookford", "BK1 2QT"),
    "D84002": SiteSpec("Weir Lane Practice", "30 Weir Lane", "", "Brookford", "BK3 6WL"),
}
PCN_SITES = {
    "U00001": [
        SiteSpec(
            "Riverside Hub",
            "Castle Street Health Centre",
            "12 Castle Street",
            "Riverton",
            "RV1 2AB",
        ),
        SiteSpec(
            "Millbrook Clinic", "Millbrook Community Centre", "5 Mill Lane", "Riverton", "RV3 7BA"
        ),
        SiteSpec("Northgate Clinic", "Northgate Parade", "21 Northgate", "Riverton", "RV2 9HT"),
    ],
    "U00002": [
        SiteSpec("Hillside Hub", "Hillside Health Centre", "2 Hill Rise", "Hillbury", "HB2 5LQ"),
        SiteSpec(
            "Orchard Community Clinic",
            "Orchard Lane Community Centre",
            "3 Orchard Lane",
            "Hillbury",
            "HB4 1EZ",
        ),
        SiteSpec(
            "Westfield Physio Unit",
            "Westfield Leisure Centre",
            "Westfield Road",
            "Hillbury",
            "HB6 3PW",
        ),
    ],
    # Brookside PCN is not connected in the demo, but its EMIS Community exists
    # (as EMIS would have it) for support to connect during onboarding.
    "U00003": [
        SiteSpec(
            "Brookside Hub", "Brookside Health Centre", "9 Brook Street", "Brookford", "BK1 2QT"
        ),
    ],
}
# Brookside PCN's smaller EMIS Community: one site, two sessions a day.
PCN_SCHEDULE_INDEXES = {"U00003": [0, 1]}
# Practices' NHS numbers, phones and practitioners hang on their index: it starts
# after the first two PCNs whatever PCNs are added, so a reseed keeps them.
FIRST_PRACTICE_INDEX = 2
PCN_PRACTITIONERS = [
    PractitionerSpec("Mrs", "Helen", "Carter", Gender.FEMALE, "Practice nurse"),
    PractitionerSpec("Ms", "Priya", "Sharma", Gender.FEMALE, "Healthcare assistant"),
    PractitionerSpec("Mr", "Daniel", "Okafor", Gender.MALE, "Clinical pharmacist"),
    PractitionerSpec("Dr", "Asha", "Patel", Gender.FEMALE, "General practitioner"),
    PractitionerSpec("Mr", "Tom", "Fletcher", Gender.MALE, "First contact physiotherapist"),
]
PCN_SCHEDULES = [
    ScheduleSpec("Flu vaccination", "Vaccinations", 0, 0, time(9, 0), 60),
    ScheduleSpec("NHS Health Check", "Health checks", 1, 1, time(10, 0), 60),
    ScheduleSpec(
        "Long-term condition review",
        "Long-term conditions",
        2,
        2,
        time(14, 0),
        60,
        DeliveryChannel.TELEPHONE,
    ),
    ScheduleSpec("Long-term condition review", "Long-term conditions", 3, 0, time(15, 0), 60),
    ScheduleSpec("Physiotherapy", "Musculoskeletal", 4, 2, time(14, 0), 60),
    ScheduleSpec("Covid-19 vaccination", "Vaccinations", 0, 1, time(11, 0), 20),
    ScheduleSpec("Medication review", "Pharmacy", 2, 1, time(16, 0), 10, DeliveryChannel.VIDEO),
]
PRACTICE_PRACTITIONER_POOL = [
    PractitionerSpec("Dr", "James", "Wilson", Gender.MALE, "General practitioner"),
    PractitionerSpec("Mrs", "Sarah", "Hughes", Gender.FEMALE, "Practice nurse"),
    PractitionerSpec("Dr", "Fatima", "Begum", Gender.FEMALE, "General practitioner"),
    PractitionerSpec("Mr", "Owen", "Price", Gender.MALE, "Practice nurse"),
    PractitionerSpec("Dr", "Rachel", "Green", Gender.FEMALE, "General practitioner"),
    PractitionerSpec("Ms", "Chloe", "Evans", Gender.FEMALE, "Practice nurse"),
    PractitionerSpec("Dr", "Mark", "Thompson", Gender.MALE, "General practitioner"),
    PractitionerSpec("Mrs", "Grace", "Lewis", Gender.FEMALE, "Practice nurse"),
    PractitionerSpec("Dr", "Imran", "Hussain", Gender.MALE, "General practitioner"),
    PractitionerSpec("Mrs", "Emma", "Roberts", Gender.FEMALE, "Practice nurse"),
    PractitionerSpec("Dr", "Claire", "Morgan", Gender.FEMALE, "General practitioner"),
    PractitionerSpec("Mr", "Luke", "Bennett", Gender.MALE, "Practice nurse"),
]
PRACTICE_SCHEDULES = [
    ScheduleSpec("GP appointment", "General practice", 0, 0, time(9, 0), 60),
    ScheduleSpec("Practice nurse appointment", "Nursing", 1, 0, time(14, 0), 60),
    ScheduleSpec("Flu vaccination", "Vaccinations", 1, 0, time(11, 0), 10),
    ScheduleSpec("Covid-19 vaccination", "Vaccinations", 1, 0, time(11, 30), 10),
]
FEMALE_NAMES = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Emily", "Ella", "Lily",
    "Margaret", "Susan", "Patricia", "Joan", "Aisha", "Zara", "Hannah", "Lucy", "Eleanor", "Ruby",
]  # fmt: skip
MALE_NAMES = [
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Charlie", "Thomas", "Alfie",
    "David", "John", "Peter", "Michael", "Mohammed", "Ravi", "William", "James", "Samuel", "Joseph",
]  # fmt: skip
SURNAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Patel", "Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell",
    "Rose", "Davis", "Rodriguez", "Cox", "Alexander", "Campbell", "Kelly", "Murphy", "Begum",
]  # fmt: skip


def _nhs_numbers(block: int, count: int) -> list[str]:
    """`count` valid NHS numbers from the 999 (test) range, deterministic per
    block: sequential 9-digit stems with their mod-11 check digit, skipping the
    stems whose check digit would be 10."""
    numbers: list[str] = []
    stem = 999_000_000 + block * 1000
    while len(numbers) < count:
        digits = str(stem)
        check = nhs_number.calculate_checksum(digits)
        stem += 1
        if check is None or check == 10:
            continue
        candidate = f"{digits}{check}"
        if nhs_number.is_valid(candidate):
            numbers.append(candidate)
    return numbers


def _pcn_index(position: int) -> int:
    """The first two PCNs keep the indexes they always had; later ones come after
    every practice (their phone numbers must not collide)."""
    return position if position < FIRST_PRACTICE_INDEX else 50 + position


def _phone(seed: int) -> str:
    # Ofcom's range reserved for drama: never a real number.
    return f"01632 960{seed % 1000:03d}"


def _weekdays(today: date) -> list[date]:
    days = (today + timedelta(days=offset) for offset in range(WEEKS_OF_SLOTS * 7))
    return [day for day in days if day.weekday() < 5]


class _Counts:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + amount

    def summary(self) -> str:
        names = (
            "organisations",
            "sites",
            "practitioners",
            "schedules",
            "slots",
            "patients",
            "caps",
        )
        return ", ".join(f"{self.values.get(name, 0)} {name}" for name in names)


def _organisation(
    ods: str, name: str, kind: str, pcn: SandboxOrganisation | None, index: int, counts: _Counts
) -> SandboxOrganisation:
    organisation, created = SandboxOrganisation.objects.get_or_create(
        ods_code=ods,
        defaults={
            "name": name,
            "kind": kind,
            "pcn": pcn,
            "asid": demo_provider_asid(ods),
            "client_secret": demo_client_secret(ods),
            "partner_application_id": demo_partner_application_id(ods),
            "partner_token": demo_partner_token(ods),
            "phone": _phone(100 + index),
        },
    )
    if created:
        counts.add("organisations")
    elif not organisation.partner_application_id and not organisation.partner_token:
        # Seeded before the sandbox served the Partner API.
        organisation.partner_application_id = demo_partner_application_id(ods)
        organisation.partner_token = demo_partner_token(ods)
        organisation.save(update_fields=["partner_application_id", "partner_token"])
    return organisation


def _site(organisation: SandboxOrganisation, spec: SiteSpec, counts: _Counts) -> Site:
    site, created = Site.objects.get_or_create(
        organisation=organisation,
        name=spec.name,
        defaults={
            "address_line1": spec.line1,
            "address_line2": spec.line2,
            "city": spec.city,
            "postcode": spec.postcode,
            "phone": organisation.phone,
        },
    )
    if created:
        counts.add("sites")
    return site


def _practitioner(
    organisation: SandboxOrganisation, spec: PractitionerSpec, counts: _Counts
) -> Practitioner:
    practitioner, created = Practitioner.objects.get_or_create(
        organisation=organisation,
        family=spec.family,
        given=spec.given,
        defaults={"prefix": spec.prefix, "gender": spec.gender, "role": spec.role},
    )
    if created:
        counts.add("practitioners")
    return practitioner


def _schedules(
    organisation: SandboxOrganisation,
    specs: list[ScheduleSpec],
    sites: list[Site],
    practitioners: list[Practitioner],
    allowed_ods: list[str],
    days: list[date],
    counts: _Counts,
) -> None:
    for spec in specs:
        schedule, created = Schedule.objects.get_or_create(
            organisation=organisation,
            site=sites[spec.site],
            practitioner=practitioners[spec.practitioner],
            service_type=spec.service_type,
            defaults={
                "service_category": spec.service_category,
                "delivery_channel": spec.delivery_channel,
            },
        )
        if created:
            counts.add("schedules")
        first = timezone.make_aware(datetime.combine(days[0], time.min))
        have = {
            timezone.localtime(start).date()
            for start in Slot.objects.filter(schedule=schedule, start__gte=first).values_list(
                "start", flat=True
            )
        }
        starts = [
            timezone.make_aware(datetime.combine(day, spec.session_start))
            + timedelta(minutes=offset)
            for day in days
            if day not in have
            for offset in range(0, spec.session_minutes, SLOT_MINUTES)
        ]
        new_slots = slots_create(
            schedule=schedule,
            starts=starts,
            minutes=SLOT_MINUTES,
            allowed_ods=list(allowed_ods),
            allowed_org_types=[],
        )
        counts.add("slots", len(new_slots))


def _practice_patients(practice: SandboxOrganisation, block: int, counts: _Counts) -> list[Patient]:
    rng = random.Random(f"emis-sandbox-demo:{practice.ods_code}")  # noqa: S311 - demo names
    numbers = _nhs_numbers(block, PATIENTS_PER_PRACTICE)
    existing = set(
        Patient.objects.filter(organisation=practice, nhs_number__in=numbers).values_list(
            "nhs_number", flat=True
        )
    )
    new_patients = []
    for number in numbers:
        female = rng.random() < 0.5
        given = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        family = rng.choice(SURNAMES)
        birth_date = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 65 * 365))
        if number in existing:
            continue
        new_patients.append(
            Patient(
                organisation=practice,
                nhs_number=number,
                family=family,
                given=given,
                birth_date=birth_date,
                gender=Gender.FEMALE if female else Gender.MALE,
                registration_type=RegistrationType.REGULAR,
                registered_practice_ods=practice.ods_code,
            )
        )
    Patient.objects.bulk_create(new_patients)
    counts.add("patients", len(new_patients))
    return list(
        Patient.objects.filter(organisation=practice, nhs_number__in=numbers).order_by("nhs_number")
    )


def _pcn_patients(
    pcn: SandboxOrganisation, practice_patients: list[Patient], counts: _Counts
) -> None:
    """A few of the practice's patients already hold a temporary registration at the PCN."""
    chosen = practice_patients[:PCN_PATIENTS_PER_PRACTICE]
    existing = set(
        Patient.objects.filter(
            organisation=pcn, nhs_number__in=[p.nhs_number for p in chosen]
        ).values_list("nhs_number", flat=True)
    )
    new_patients = [
        Patient(
            organisation=pcn,
            nhs_number=p.nhs_number,
            family=p.family,
            given=p.given,
            birth_date=p.birth_date,
            gender=p.gender,
            registration_type=RegistrationType.TEMPORARY,
            registered_practice_ods=p.registered_practice_ods,
        )
        for p in chosen
        if p.nhs_number not in existing
    ]
    Patient.objects.bulk_create(new_patients)
    counts.add("patients", len(new_patients))


@transaction.atomic
def seed_demo(*, stdout: TextIO) -> None:
    counts = _Counts()
    days = _weekdays(timezone.localdate())
    pcns = {
        ods: _organisation(ods, name, OrganisationKind.PCN, None, _pcn_index(position), counts)
        for position, (ods, name) in enumerate(PCNS)
    }
    members: dict[str, list[str]] = {ods: [] for ods in pcns}
    for index, (ods, name, pcn_ods, _phone_number) in enumerate(
        PRACTICES, start=FIRST_PRACTICE_INDEX
    ):
        practice = _organisation(
            ods, name, OrganisationKind.PRACTICE, pcns.get(pcn_ods or ""), index, counts
        )
        if pcn_ods:
            members[pcn_ods].append(ods)
        site_spec = PRACTICE_SITES.get(
            ods, SiteSpec(name, f"{index + 1} High Street", "", "Riverton", f"RV9 {index}ZZ")
        )
        site = _site(practice, site_spec, counts)
        pool_start = (2 * (index - FIRST_PRACTICE_INDEX)) % len(PRACTICE_PRACTITIONER_POOL)
        practitioners = [
            _practitioner(practice, PRACTICE_PRACTITIONER_POOL[pool_start + offset], counts)
            for offset in range(2)
        ]
        _schedules(practice, PRACTICE_SCHEDULES, [site], practitioners, [ods], days, counts)
        patients = _practice_patients(practice, block=index, counts=counts)
        if pcn_ods:
            _pcn_patients(pcns[pcn_ods], patients, counts)

    for ods, pcn in pcns.items():
        sites = [_site(pcn, spec, counts) for spec in PCN_SITES.get(ods, [])]
        if not sites:
            continue
        practitioners = [_practitioner(pcn, spec, counts) for spec in PCN_PRACTITIONERS]
        allowed = sorted(members[ods]) + [ods]
        schedules = PCN_SCHEDULES
        if ods in PCN_SCHEDULE_INDEXES:  # one site: every session there
            schedules = [replace(PCN_SCHEDULES[i], site=0) for i in PCN_SCHEDULE_INDEXES[ods]]
        _schedules(pcn, schedules, sites, practitioners, allowed, days, counts)
        for practice_ods in members[ods]:
            _, created = BookingCap.objects.get_or_create(
                organisation=pcn,
                booking_org_ods=practice_ods,
                defaults={"max_active_bookings": PCN_CAP_PER_PRACTICE},
            )
            if created:
                counts.add("caps")
    stdout.write(f"  EMIS sandbox: created {counts.summary()}")
