"""Demo patients, campaigns and bookings (run by `seed_demo` after the demo
organisations, EMIS connections and sandbox exist).

* Every demo practice gets 30 patients with valid NHS numbers (999 test range).
* Hillside Health Centre (B82001, Hillside PCN live) runs an active "Winter flu
  clinic" offering practice and PCN "Flu vaccination" slots seen in person, with a few bookings made through the
  real booking service (and so the sandbox EMIS), one of them into a PCN slot.
* Riverside Surgery (A81001, Riverside PCN still in testing) runs "NHS Health
  Checks" (in-person "NHS Health Check" slots), so its pages show why PCN slots are
  missing.

The web server is not running yet while seeding, so EMIS is reached in-process
(the same HTTP requests, without a socket). Idempotent."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from nhs_number import calculate_checksum

from hippo_pcn.organisations.models import Organisation

from . import services
from .models import Booking, Campaign, Patient
from .selectors import campaign_offerable_slots

FIRST_NAMES = [
    "Olivia",
    "George",
    "Amelia",
    "Harry",
    "Isla",
    "Noah",
    "Ava",
    "Leo",
    "Mia",
    "Arthur",
    "Ivy",
    "Oscar",
    "Grace",
    "Muhammad",
    "Freya",
    "Jack",
    "Lily",
    "Alfie",
    "Sophia",
    "Theo",
    "Rosie",
    "Charlie",
    "Evie",
    "Archie",
    "Poppy",
    "Henry",
    "Ella",
    "Thomas",
    "Ruby",
    "Jacob",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Thomas",
    "Clarke",
    "Jackson",
    "Wood",
    "Harris",
    "Edwards",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Hughes",
]
PRACTICES = ["A81001", "A81002", "A81003", "B82001", "B82002", "C83001"]
PATIENTS_PER_PRACTICE = 30


def _nhs_numbers(block: int, count: int) -> list[str]:
    numbers: list[str] = []
    stem = 999_700_000 + block * 1_000
    while len(numbers) < count:
        check = calculate_checksum(str(stem))
        if check is not None and check < 10:
            numbers.append(f"{stem}{check}")
        stem += 1
    return numbers


def _patients(practice: Organisation, block: int) -> int:
    existing = set(Patient.objects.filter(practice=practice).values_list("nhs_number", flat=True))
    new = []
    for i, nhs in enumerate(_nhs_numbers(block, PATIENTS_PER_PRACTICE)):
        if nhs in existing:
            continue
        new.append(
            Patient(
                practice=practice,
                nhs_number=nhs,
                first_name=FIRST_NAMES[(i + block) % len(FIRST_NAMES)],
                last_name=LAST_NAMES[(i * 7 + block) % len(LAST_NAMES)],
                date_of_birth=date(1940 + (i * 3) % 60, 1 + i % 12, 1 + (i * 5) % 28),
                mobile=f"+4477009{block:02d}{i:03d}",
                email="",
            )
        )
    Patient.objects.bulk_create(new)
    return len(new)


def _campaign(
    practice: Organisation,
    user,
    name: str,
    appointment_type: str,
    *,
    slot_service_types: list[str],
    delivery_channels: list[str],
) -> Campaign:
    existing = Campaign.objects.filter(practice=practice, name=name).first()
    if existing is not None:
        if (
            existing.slot_service_types != slot_service_types
            or existing.delivery_channels != delivery_channels
        ):
            # Seeded before campaigns had slot filters: give it the one that fits its name.
            services.campaign_update(
                user=user,
                campaign=existing,
                slot_service_types=slot_service_types,
                delivery_channels=delivery_channels,
            )
        return existing
    today = timezone.localdate()
    campaign = services.campaign_create(
        user=user,
        practice=practice,
        name=name,
        appointment_type=appointment_type,
        start_date=today,
        end_date=today + timedelta(days=27),
        use_pcn_slots=True,
        status="active",
        slot_service_types=slot_service_types,
        delivery_channels=delivery_channels,
        # The demo sends its (file-backend) messages at any hour.
        sending_from=time(0, 0),
        sending_until=time(23, 59),
    )
    services.campaign_add_patients(
        user=user, campaign=campaign, patients=Patient.objects.filter(practice=practice)
    )
    return campaign


def _book_some(campaign: Campaign, user, stdout: TextIO) -> None:
    if Booking.objects.filter(campaign=campaign).exists():
        return
    services.campaign_refresh_slots(campaign=campaign)
    slots = campaign_offerable_slots(campaign=campaign)
    patients = list(campaign.patients.order_by("last_name", "pk")[:3])
    choices = [
        slots.filter(is_pcn=False).first(),
        slots.filter(is_pcn=True).first(),
        slots.filter(is_pcn=False)[3:4].first(),
    ]
    for patient, slot in zip(patients, choices, strict=False):
        if slot is None:
            continue
        try:
            services.booking_create(
                campaign=campaign, patient=patient, slot=slot, booked_by=user, pcn_consent=True
            )
        except services.BookingError as exc:
            stdout.write(f"  could not book a demo patient: {exc.message}")


def seed_demo(*, stdout: TextIO) -> None:
    User = get_user_model()
    made = 0
    for block, ods in enumerate(PRACTICES):
        practice = Organisation.objects.filter(ods_code=ods).first()
        if practice is not None:
            made += _patients(practice, block)
    previous = settings.EMIS_HTTP_TRANSPORT_FACTORY
    settings.EMIS_HTTP_TRANSPORT_FACTORY = "emis_integration.inprocess.in_process_transport"
    try:
        hillside = Organisation.objects.get(ods_code="B82001")
        admin = User.objects.get(username="b82001.admin")
        flu = _campaign(
            hillside,
            admin,
            "Winter flu clinic",
            "Flu vaccination",
            slot_service_types=["Flu vaccination"],
            delivery_channels=["In-person"],
        )
        _book_some(flu, admin, stdout)
        riverside = Organisation.objects.get(ods_code="A81001")
        checks = _campaign(
            riverside,
            User.objects.get(username="a81001.admin"),
            "NHS Health Checks",
            "NHS Health Check",
            slot_service_types=["NHS Health Check", "Practice nurse appointment"],
            delivery_channels=["In-person"],
        )
        services.campaign_refresh_slots(campaign=checks)
    finally:
        settings.EMIS_HTTP_TRANSPORT_FACTORY = previous
    stdout.write(
        f"  Patients: {made} created; campaigns at B82001 (practice + PCN slots, with "
        "bookings) and A81001 (its PCN is still being tested)"
    )
