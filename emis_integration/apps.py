from django.apps import AppConfig


class EmisIntegrationConfig(AppConfig):
    name = "emis_integration"
    verbose_name = "EMIS integration"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
