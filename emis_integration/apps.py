from django.apps import AppConfig


class EmisIntegrationConfig(AppConfig):
    name = "emis_integration"
    verbose_name = "EMIS integration"
