"""Send the tracing digest now: to one organisation's tracers, or to every owner
organisation with tasks to do."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hippo_pcn.organisations.models import Organisation
from tracing.models import TracingTask
from tracing.services import tracing_digest_send


class Command(BaseCommand):
    help = (
        "Email the tracing digest (overdue, due today, appointments in the next 24 hours "
        "not traced) to tracers now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", help="Only this owner organisation (its ODS code).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["org"]:
            ods = options["org"].strip().upper()
            owner = Organisation.objects.filter(ods_code=ods).first()
            if owner is None:
                raise CommandError(f"There is no organisation with ODS code {ods}.")
            owners = [owner]
        else:
            owners = list(
                Organisation.objects.filter(
                    pk__in=TracingTask.objects.active().values("owner_id")
                ).order_by("name")
            )
        sent = 0
        for owner in owners:
            if tracing_digest_send(owner=owner):
                sent += 1
                self.stdout.write(f"Sent the digest to {owner.name}'s tracers.")
            else:
                self.stdout.write(
                    f"{owner.name}: nothing to do, or nobody with an email address; no digest."
                )
        self.stdout.write(self.style.SUCCESS(f"{sent} digest email(s) sent."))
