from django.urls import path

from . import views

app_name = "emis_integration"

urlpatterns = [
    path("pcn-connection/", views.pcn_connection, name="pcn_connection"),
    path("onboarding-requests/", views.onboarding_request_create, name="onboarding_request_create"),
]
