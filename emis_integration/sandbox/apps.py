from django.apps import AppConfig


class EmisSandboxConfig(AppConfig):
    name = "emis_integration.sandbox"
    label = "emis_sandbox"
    verbose_name = "EMIS sandbox"

    def ready(self) -> None:
        # The demo seeds this EMIS through the hook, never by importing the sandbox.
        from emis_integration.demo_emis import register_demo_emis

        from .seed import SandboxDemoEmis

        register_demo_emis(SandboxDemoEmis())
