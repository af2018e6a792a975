"""/api/v1/ routes for EMIS connections (included by hippo_pcn/api/urls.py)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("connections", views.ConnectionViewSet, basename="api-connection")

urlpatterns = router.urls
