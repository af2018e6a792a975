from django.apps import AppConfig


class EmisIntegrationConfig(AppConfig):
    name = "emis_integration"
    verbose_name = "EMIS integration"

    def ready(self) -> None:
        # The project learns about EMIS's certificate through its registries.
        from hippo_pcn.health.alerts import register_alert_check
        from hippo_pcn.health.checks import register_check
        from hippo_pcn.health.metrics import register_metrics

        from . import checks  # noqa: F401 - registers the system checks
        from .certificates import (
            client_certificate_alert_check,
            client_certificate_health,
            client_certificate_metrics,
        )

        register_check("emis_client_certificate", client_certificate_health)
        register_metrics(client_certificate_metrics)
        register_alert_check(client_certificate_alert_check)
