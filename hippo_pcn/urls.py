from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from hippo_pcn import views
from hippo_pcn.accounts.views import StaffLoginView
from hippo_pcn.health.metrics import metrics
from hippo_pcn.health.views import healthz

urlpatterns = [
    path("", views.home, name="home"),
    # Sign-in: password (django-axes locks out repeated failures), then the second
    # factor when required or set up (hippo_pcn.accounts).
    path("accounts/login/", StaffLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("hippo_pcn.accounts.urls")),
    path("healthz", healthz, name="healthz"),
    # Prometheus metrics: METRICS_TOKEN, or a scraper on this machine (health/metrics.py).
    path("metrics", metrics, name="metrics"),
    path("emis/", include("emis_integration.urls")),
    path("booking/", include("booking.urls")),
    # Patients' self-booking pages, opened from an invitation link (no login).
    path("book/", include("booking.selfbook_urls")),
    path("admin/", admin.site.urls),
    # The REST API (schema, docs, /api/v1/) and each user's API tokens.
    path("api/", include("hippo_pcn.api.urls")),
    path("accounts/api-tokens/", include("hippo_pcn.api.token_urls")),
]

# Under /api/ Django's own 404 and 500 are problem details too (hippo_pcn.api.errors).
handler404 = "hippo_pcn.api.errors.page_not_found"
handler500 = "hippo_pcn.api.errors.server_error"

if apps.is_installed("emis_integration.sandbox") and settings.EMIS_SANDBOX_ENABLED:
    # The bundled EMIS (demo and tests only: production never installs it), reached by
    # the product only over HTTP, like a real EMIS.
    urlpatterns.append(path("emis-sandbox/", include("emis_integration.sandbox.urls")))
