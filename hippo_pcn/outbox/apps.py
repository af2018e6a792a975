from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "hippo_pcn.outbox"
    label = "outbox"
    verbose_name = "Outbox (queued work)"
    default_auto_field = "django.db.models.BigAutoField"
