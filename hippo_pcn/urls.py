from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from hippo_pcn import views
from hippo_pcn.health.views import healthz

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    path("emis/", include("emis_integration.urls")),
    path("booking/", include("booking.urls")),
    # Patients' self-booking pages, opened from an invitation link (no login).
    path("book/", include("booking.selfbook_urls")),
    path("admin/", admin.site.urls),
]

if settings.EMIS_SANDBOX_ENABLED:
    # The bundled EMIS: reached by the product only over HTTP, like a real EMIS.
    urlpatterns.append(path("emis-sandbox/", include("emis_integration.sandbox.urls")))
