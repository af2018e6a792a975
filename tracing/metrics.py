"""Tracing's Prometheus metrics (served by hippo_pcn/health/metrics.py):
seconds since each live PCN connection's last successful poll, its failed polls
in the last 24 hours, and each PCN's open, overdue and within-24-hours tasks, by
the same rules as the worklist (TracingTaskQuerySet)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from .models import PollRun, PollRunStatus, TracingTask, TracingTaskQuerySet
from .selectors import poll_health


def tracing_metrics() -> Iterator[Metric]:
    now = timezone.now()
    labels = ["connection", "pcn", "ods_code"]
    since = GaugeMetricFamily(
        "hippo_tracing_seconds_since_last_successful_poll",
        "Seconds since the last successful poll of each live PCN connection "
        "(never polled: since it went live).",
        labels=labels,
    )
    healthy = GaugeMetricFamily(
        "hippo_tracing_poll_healthy",
        "1 when the connection was polled within TRACING_POLL_ALERT_AFTER_SECONDS, else 0.",
        labels=labels,
    )
    errors = GaugeMetricFamily(
        "hippo_tracing_poll_errors_24h",
        "Failed polls of each live PCN connection in the last 24 hours.",
        labels=labels,
    )
    failed = dict(
        PollRun.objects.filter(
            status=PollRunStatus.FAILED, started_at__gte=now - timedelta(hours=24)
        )
        .values("connection_id")
        .annotate(n=Count("id"))
        .values_list("connection_id", "n")
    )
    for health in poll_health(now=now):
        key = [str(health.connection_id), health.organisation, health.ods_code]
        counted_from = health.counted_from or now
        since.add_metric(key, (now - counted_from).total_seconds())
        healthy.add_metric(key, 1 if health.healthy else 0)
        errors.add_metric(key, failed.get(health.connection_id, 0))
    yield since
    yield healthy
    yield errors

    rules = TracingTaskQuerySet
    rows = (
        TracingTask.objects.values("pcn_id", "pcn__name", "pcn__ods_code")
        .annotate(
            open=Count("id", filter=rules.active_q()),
            overdue=Count("id", filter=rules.overdue_q(now)),
            within_24h=Count("id", filter=rules.within_24h_q(now)),
        )
        .order_by("pcn__name")
    )
    families = {
        "open": GaugeMetricFamily(
            "hippo_tracing_tasks_open",
            "Open or claimed tracing tasks per PCN.",
            labels=["pcn", "ods_code"],
        ),
        "overdue": GaugeMetricFamily(
            "hippo_tracing_tasks_overdue",
            "Open or claimed tracing tasks past their due time, per PCN.",
            labels=["pcn", "ods_code"],
        ),
        "within_24h": GaugeMetricFamily(
            "hippo_tracing_tasks_due_within_24h",
            "Untraced tasks whose appointment starts within 24 hours, per PCN.",
            labels=["pcn", "ods_code"],
        ),
    }
    for row in rows:
        for name, family in families.items():
            family.add_metric([row["pcn__name"], row["pcn__ods_code"]], row[name])
    yield from families.values()
