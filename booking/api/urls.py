"""/api/v1/ routes for bookings and campaigns (included by hippo_pcn/api/urls.py)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("bookings", views.BookingViewSet, basename="api-booking")
router.register("campaigns", views.CampaignViewSet, basename="api-campaign")

urlpatterns = [
    path(
        "campaigns/<int:pk>/slots/",
        views.CampaignSlotList.as_view(),
        name="api-campaign-slots",
    ),
    *router.urls,
]
