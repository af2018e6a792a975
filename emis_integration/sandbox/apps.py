from django.apps import AppConfig


class EmisSandboxConfig(AppConfig):
    name = "emis_integration.sandbox"
    label = "emis_sandbox"
    verbose_name = "EMIS sandbox"
