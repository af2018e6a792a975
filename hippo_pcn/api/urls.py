"""/api/: the OpenAPI schema, its docs (Swagger UI from local static files), and
version 1 of the API, gathered from each app's api package."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from .views import ApiDocsView, MeView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "v1/",
        include(
            [
                path("", include("tracing.api.urls")),
                path("", include("booking.api.urls")),
                path("", include("emis_integration.api.urls")),
                path("me/", MeView.as_view(), name="api-me"),
            ]
        ),
    ),
]
