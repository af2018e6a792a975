"""Metrics in Prometheus' text format at /metrics, for an outside monitor
(Prometheus and Alertmanager): computed from the database at each scrape, so
they are true whichever process is down.

Apps add their own gauges with `register_metrics`: a function returning
prometheus_client metric families (tracing adds poll ages, poll errors and task
counts per PCN). Access: a bearer token (METRICS_TOKEN), or a scraper on this
machine (a loopback client with no proxy in between); anyone else gets 404."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from .models import Heartbeat
from .services import BEAT_HEARTBEAT

MetricsSource = Callable[[], Iterable[Metric]]
_SOURCES: list[MetricsSource] = []


def register_metrics(source: MetricsSource) -> None:
    if source not in _SOURCES:
        _SOURCES.append(source)


def core_metrics() -> Iterator[Metric]:
    now = timezone.now()
    ages = GaugeMetricFamily(
        "hippo_heartbeat_age_seconds",
        "Seconds since each heartbeat: celery-beat (beat's task, run by a worker), "
        "beat-process and worker-process (their own threads).",
        labels=["name"],
    )
    for name, last_seen in Heartbeat.objects.values_list("name", "last_seen"):
        ages.add_metric([name], (now - last_seen).total_seconds())
    yield ages
    beat = Heartbeat.objects.filter(name=BEAT_HEARTBEAT).values_list("last_seen", flat=True)
    beat_age = GaugeMetricFamily(
        "hippo_beat_heartbeat_age_seconds",
        "Seconds since beat's heartbeat task last ran on a worker (absent: never).",
    )
    if beat:
        beat_age.add_metric([], (now - beat[0]).total_seconds())
    yield beat_age


class _Sources(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from core_metrics()
        for source in _SOURCES:
            yield from source()


def metrics_text() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Sources())
    return generate_latest(registry)


def may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False  # through a proxy: never "this machine"
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        raise Http404
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
