"""/api/v1/ routes for tracing (included by hippo_pcn.api.urls)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from .views import PollHealthView, TracingDashboardView, TracingTaskViewSet

router = SimpleRouter()
router.register("tracing-tasks", TracingTaskViewSet, basename="api-tracing-task")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("poll-health/", PollHealthView.as_view(), name="api-poll-health"),
    path("tracing-dashboard/", TracingDashboardView.as_view(), name="api-tracing-dashboard"),
]
