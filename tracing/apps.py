from django.apps import AppConfig


class TracingConfig(AppConfig):
    name = "tracing"
    verbose_name = "Tracing"

    def ready(self) -> None:
        # Beat, the workers and `manage.py check_poll_health` run the poll-health
        # alert with the scheduler's (hippo_pcn/health/alerts.py).
        from hippo_pcn.health.alerts import register_alert_check
        from hippo_pcn.health.metrics import register_metrics

        from .metrics import tracing_metrics
        from .services.alerts import poll_health_check

        register_alert_check(poll_health_check)
        register_metrics(tracing_metrics)
