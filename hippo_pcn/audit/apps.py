from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "hippo_pcn.audit"
    label = "audit"
    verbose_name = "Audit log"
