from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hippo_pcn.organisations.demo import seed_organisations_and_staff


def _app_demo_seeders():
    """Each app may ship a `demo` module with `seed_demo(*, stdout)`; they run in
    INSTALLED_APPS order after the organisations and staff exist. Organisations
    import no app: the apps plug themselves in."""
    for config in apps.get_app_configs():
        if config.name == "hippo_pcn.organisations":
            continue
        module_name = f"{config.name}.demo"
        if find_spec(module_name) is None:
            continue
        seeder = getattr(import_module(module_name), "seed_demo", None)
        if callable(seeder):
            yield config.label, seeder


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
        for label, seeder in _app_demo_seeders():
            self.stdout.write(f"Seeding demo data for {label}...")
            seeder(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        self.stdout.write("")
        self.stdout.write("Demo logins (all share the same password):")
        width = max(len(login.username) for login in logins)
        for login in logins:
            self.stdout.write(
                f"  {login.username.ljust(width)}  {login.password}  "
                f"{login.role} · {login.organisation}"
            )
