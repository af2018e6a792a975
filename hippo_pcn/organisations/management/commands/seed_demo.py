from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hippo_pcn.organisations.demo import seed_organisations_and_staff


class Command(BaseCommand):
    help = (
        "Create the demo organisations, staff accounts (with known passwords) and demo data. "
        "Safe to run again: it only adds what is missing."
    )

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            raise CommandError(
                "seed_demo creates accounts with published passwords and is refused outside "
                "the demo and test settings (DEMO_MODE is off)."
            )
        logins = seed_organisations_and_staff()
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        self.stdout.write("")
        self.stdout.write("Demo logins (all share the same password):")
        width = max(len(login.username) for login in logins)
        for login in logins:
            self.stdout.write(
                f"  {login.username.ljust(width)}  {login.password}  "
                f"{login.role} · {login.organisation}"
            )
