"""Demo only: enter the bundled EMIS sandbox's details on a PCN's connection, as
support does when EMIS sends them during onboarding."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from emis_integration.demo import demo_connection_fill
from emis_integration.models import EmisConnection


class Command(BaseCommand):
    help = (
        "Demo only: enter the EMIS sandbox's details (FHIR and Partner API URLs, ASIDs, "
        "secrets) on an organisation's connection, as EMIS would send them to support."
    )

    def add_arguments(self, parser):
        parser.add_argument("ods_code", help="the organisation's ODS code, e.g. U00003")

    def handle(self, *args, ods_code: str, **options):
        if not settings.DEMO_MODE:
            raise CommandError("demo_emis_details is for the demo only (DEMO_MODE is off).")
        try:
            connection = demo_connection_fill(ods_code=ods_code)
        except EmisConnection.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{connection} now has the EMIS sandbox's details ({connection.base_url}). "
                "Test the connection in the admin before marking it live."
            )
        )
