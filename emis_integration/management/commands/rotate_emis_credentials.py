from django.core.management.base import BaseCommand, CommandError

from emis_integration.crypto import CredentialsUnreadable
from emis_integration.services import credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored EMIS credential with the newest key in FERNET_KEYS "
        "(the first one). Run it after putting a new key first; then the old key can go."
    )

    def handle(self, *args, **options):
        try:
            rotated = credentials_rotate()
        except CredentialsUnreadable as exc:
            raise CommandError(
                f"{exc} Nothing was changed: keep every old key in FERNET_KEYS until rotation "
                "has run."
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {rotated} connection(s) with the newest key.")
        )
