from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "hippo_pcn.organisations"
    label = "organisations"
    verbose_name = "Organisations and roles"
