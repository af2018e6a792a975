"""Book, cancel and move appointments in a PCN's sandbox EMIS as staff would inside
EMIS itself, outside hippo-pcn: the changes the poller has to discover."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from emis_integration.sandbox import selectors, services
from emis_integration.sandbox.models import Appointment, OrganisationKind


def _when(value: datetime) -> str:
    return timezone.localtime(value).strftime("%a %d %b %Y %H:%M")


def _booked_by(appointment: Appointment) -> str:
    return f"(booked by {appointment.booking_org_ods})"


class Command(BaseCommand):
    help = (
        "Directly in the EMIS sandbox, as if done in EMIS itself: book --count distinct "
        "patients of a PCN's member practices into free future PCN slots, then cancel "
        "--cancel and move --move of the PCN's future booked appointments that were there "
        "before. All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pcn", required=True, help="The PCN's ODS code, e.g. U00001.")
        parser.add_argument("--count", type=int, default=0, help="How many bookings to make.")
        parser.add_argument(
            "--cancel", type=int, default=0, help="How many future appointments to cancel."
        )
        parser.add_argument(
            "--move",
            type=int,
            default=0,
            help="How many future appointments to move to another free slot (preferably "
            "in another session).",
        )
        parser.add_argument(
            "--booking-org",
            default="",
            help="ODS code of the booking organisation (default: each patient's own practice).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        pcn_ods = options["pcn"].strip().upper()
        count, cancel, move = options["count"], options["cancel"], options["move"]
        if min(count, cancel, move) < 0:
            raise CommandError("--count, --cancel and --move cannot be negative.")
        if count + cancel + move < 1:
            raise CommandError("Give at least one of --count, --cancel or --move (1 or more).")
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
            result = services.bookings_simulate(
                pcn=pcn, count=count, cancel=cancel, move=move, booking_org=booking_org
            )
        except services.SimulationError as exc:
            raise CommandError(str(exc)) from exc
        for appointment in result.booked:
            self.stdout.write(
                f"Appointment {appointment.pk}: {_when(appointment.start)} at "
                f"{appointment.location_display} {_booked_by(appointment)}"
            )
        for appointment in result.cancelled:
            self.stdout.write(
                f"Cancelled appointment {appointment.pk}: {_when(appointment.start)} at "
                f"{appointment.location_display} {_booked_by(appointment)}"
            )
        for moved in result.moved:
            appointment = moved.appointment
            self.stdout.write(
                f"Moved appointment {appointment.pk}: {_when(moved.from_start)} at "
                f"{moved.from_site} -> {_when(appointment.start)} at "
                f"{appointment.location_display} {_booked_by(appointment)}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Booked {len(result.booked)}, cancelled {len(result.cancelled)} and moved "
                f"{len(result.moved)} appointments at {pcn.ods_code}."
            )
        )
