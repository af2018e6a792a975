from django.apps import AppConfig


class TracingConfig(AppConfig):
    name = "tracing"
    verbose_name = "Tracing"

    def ready(self) -> None:
        # Beat, the workers and `manage.py check_poll_health` run the poll-health
        # alert with the scheduler's (hippo_pcn/health/alerts.py).
        # The project learns about tracing through these registries, never by
        # importing it: the admin index's panels, /healthz, the alerts, /metrics.
        from hippo_pcn.admin_site import register_index_panel
        from hippo_pcn.health.alerts import register_alert_check
        from hippo_pcn.health.checks import register_check
        from hippo_pcn.health.metrics import register_metrics

        from .admin import tracing_index_panels
        from .metrics import tracing_metrics
        from .selectors import poll_health_summary
        from .services.alerts import poll_health_check

        register_index_panel(tracing_index_panels)
        register_check("tracing_poll", poll_health_summary)
        register_alert_check(poll_health_check)
        register_metrics(tracing_metrics)
