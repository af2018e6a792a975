"""The bundled EMIS sandbox, mounted at /emis-sandbox/ when EMIS_SANDBOX_ENABLED:
one GP Connect FHIR base per sandbox organisation, /emis-sandbox/{ODS}/fhir."""

from django.urls import path

from . import views

app_name = "emis_sandbox"

urlpatterns = [
    path("<str:ods>/fhir/metadata", views.metadata, name="metadata"),
    path("<str:ods>/fhir/Slot", views.slots, name="slots"),
    path("<str:ods>/fhir/Appointment", views.appointments, name="appointments"),
    path(
        "<str:ods>/fhir/Appointment/<str:appointment_id>",
        views.appointment,
        name="appointment",
    ),
    path("<str:ods>/fhir/Patient", views.patients, name="patients"),
    path(
        "<str:ods>/fhir/Patient/$gpc.registerpatient",
        views.register_patient,
        name="register-patient",
    ),
    path("<str:ods>/fhir/<path:rest>", views.not_implemented, name="not-implemented"),
]
