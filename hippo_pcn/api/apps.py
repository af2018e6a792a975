from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "hippo_pcn.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        # drf-spectacular finds the token's security scheme by importing it.
        from . import schema  # noqa: F401
