"""The bundled EMIS sandbox, mounted at /emis-sandbox/ when EMIS_SANDBOX_ENABLED:
per sandbox organisation, a GP Connect FHIR base, /emis-sandbox/{ODS}/fhir, and an
EMIS Partner API base, /emis-sandbox/{ODS}/partner."""

from django.urls import path

from . import partner_views, views

PARTNER_API = "<str:ods>/partner/api/v1"

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
        "<str:ods>/fhir/Patient/<str:patient_id>/Appointment",
        views.patient_appointments,
        name="patient-appointments",
    ),
    path(
        "<str:ods>/fhir/Patient/$gpc.registerpatient",
        views.register_patient,
        name="register-patient",
    ),
    path("<str:ods>/fhir/<path:rest>", views.not_implemented, name="not-implemented"),
    path(
        f"{PARTNER_API}/appointments/GetAppointmentSessions",
        partner_views.appointment_sessions,
        name="partner-appointment-sessions",
    ),
    path(
        f"{PARTNER_API}/appointments/GetSlotsForSessionV2",
        partner_views.slots_for_session,
        name="partner-slots-for-session",
    ),
    path(
        f"{PARTNER_API}/appointments/GetBookedPatientsV2",
        partner_views.booked_patients,
        name="partner-booked-patients",
    ),
    path(
        f"{PARTNER_API}/patient/GetPatientDemographics",
        partner_views.patient_demographics,
        name="partner-patient-demographics",
    ),
    path("<str:ods>/partner/<path:rest>", partner_views.not_found, name="partner-not-found"),
]
