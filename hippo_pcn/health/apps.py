from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "hippo_pcn.health"
    label = "health"
    verbose_name = "Service health"

    def ready(self) -> None:
        from . import checks

        checks.record_process_start()
