"""Book patients into a PCN's sandbox slots as staff would inside EMIS itself,
outside hippo-pcn: the bookings the poller has to discover and get traced."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from emis_integration.sandbox import selectors, services
from emis_integration.sandbox.models import OrganisationKind


class Command(BaseCommand):
    help = (
        "Book N distinct patients of a PCN's member practices into N free future PCN slots "
        "directly in the EMIS sandbox (as if booked in EMIS itself). All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pcn", required=True, help="The PCN's ODS code, e.g. U00001.")
        parser.add_argument("--count", required=True, type=int, help="How many bookings.")
        parser.add_argument(
            "--booking-org",
            default="",
            help="ODS code of the booking organisation (default: each patient's own practice).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        pcn_ods = options["pcn"].strip().upper()
        count = options["count"]
        if count < 1:
            raise CommandError("--count must be at least 1.")
        pcn = selectors.organisation_by_ods(ods_code=pcn_ods)
        if pcn is None or pcn.kind != OrganisationKind.PCN:
            raise CommandError(f"There is no PCN {pcn_ods} in the EMIS sandbox.")
        booking_org = None
        if options["booking_org"]:
            booking_ods = options["booking_org"].strip().upper()
            booking_org = selectors.organisation_by_ods(ods_code=booking_ods)
            if booking_org is None:
                raise CommandError(
                    f"There is no organisation {booking_ods} in the EMIS sandbox to book as."
                )
        try:
            appointments = services.bookings_simulate(pcn=pcn, count=count, booking_org=booking_org)
        except services.SimulationError as exc:
            raise CommandError(str(exc)) from exc
        for appointment in appointments:
            start = timezone.localtime(appointment.start).strftime("%a %d %b %Y %H:%M")
            self.stdout.write(
                f"Appointment {appointment.pk}: {start} at {appointment.location_display} "
                f"(booked by {appointment.booking_org_ods})"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Booked {len(appointments)} appointments at {pcn.ods_code}.")
        )
