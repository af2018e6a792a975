from django.urls import path

from . import views

app_name = "booking"

urlpatterns = [
    # --- Patients ---------------------------------------------------------------------
    path("patients/", views.patient_practice_choice, name="patients"),
    path("practices/<str:ods_code>/patients/", views.patient_list, name="patient_list"),
    # --- Patient imports --------------------------------------------------------------
    path(
        "practices/<str:ods_code>/patients/import/",
        views.patient_import_upload,
        name="patient_import_upload",
    ),
    path(
        "practices/<str:ods_code>/patients/import/template.csv",
        views.patient_import_template,
        name="patient_import_template",
    ),
    path(
        "practices/<str:ods_code>/patients/imports/<int:pk>/",
        views.patient_import_preview_page,
        name="patient_import_preview",
    ),
    path(
        "practices/<str:ods_code>/patients/imports/<int:pk>/confirm/",
        views.patient_import_confirm_view,
        name="patient_import_confirm",
    ),
    path(
        "practices/<str:ods_code>/patients/imports/<int:pk>/cancel/",
        views.patient_import_discard_view,
        name="patient_import_discard",
    ),
    path(
        "practices/<str:ods_code>/patients/imports/<int:pk>/result/",
        views.patient_import_result,
        name="patient_import_result",
    ),
]

urlpatterns += [
    # --- Campaigns --------------------------------------------------------------------
    path("campaigns/", views.campaign_practice_choice, name="campaigns"),
    path("practices/<str:ods_code>/campaigns/", views.campaign_list, name="campaign_list"),
    path("practices/<str:ods_code>/campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/refresh-slots/", views.campaign_refresh, name="campaign_refresh"),
    path(
        "campaigns/<int:pk>/add-all-patients/",
        views.campaign_add_all_patients,
        name="campaign_add_all_patients",
    ),
    # --- Booking ----------------------------------------------------------------------
    path(
        "campaigns/<int:pk>/patients/<int:patient_pk>/book/",
        views.booking_new,
        name="booking_new",
    ),
    path("bookings/<int:booking_pk>/move/", views.booking_move, name="booking_move"),
    path("bookings/<int:booking_pk>/cancel/", views.booking_cancel_view, name="booking_cancel"),
]

# --- Invitations (booking/invite_views.py): the campaign's invitations, waves now,
# reminders now, the non-responder list and call outcomes, and the demo's messages.
from . import invite_views  # noqa: E402

urlpatterns += [
    path("campaigns/<int:pk>/invites/", invite_views.invite_list, name="invite_list"),
    path(
        "campaigns/<int:pk>/invites/send-wave/",
        invite_views.invite_send_wave,
        name="invite_send_wave",
    ),
    path(
        "campaigns/<int:pk>/invites/selected/",
        invite_views.invite_patients,
        name="invite_patients",
    ),
    path(
        "campaigns/<int:pk>/invites/send-reminders/",
        invite_views.invite_send_reminders,
        name="invite_send_reminders",
    ),
    path(
        "campaigns/<int:pk>/non-responders/",
        invite_views.invite_non_responders,
        name="invite_non_responders",
    ),
    path(
        "campaigns/<int:pk>/invites/<int:invite_pk>/call-outcome/",
        invite_views.invite_call_outcome,
        name="invite_call_outcome",
    ),
    path(
        "practices/<str:ods_code>/demo-messages/",
        invite_views.demo_messages,
        name="demo_messages",
    ),
]

# --- Cohorts (booking/cohort_views.py): add patients by age, CSV or ticking, with
# the count shown first; remove a patient who has not booked.
from . import cohort_views  # noqa: E402

urlpatterns += [
    path("campaigns/<int:pk>/cohort/", cohort_views.cohort_start, name="cohort_start"),
    path("campaigns/<int:pk>/cohort/all/", cohort_views.cohort_all, name="cohort_all"),
    path("campaigns/<int:pk>/cohort/age/", cohort_views.cohort_age, name="cohort_age"),
    path("campaigns/<int:pk>/cohort/csv/", cohort_views.cohort_csv, name="cohort_csv"),
    path("campaigns/<int:pk>/cohort/pick/", cohort_views.cohort_pick, name="cohort_pick"),
    path(
        "campaigns/<int:pk>/cohort/pick/check/",
        cohort_views.cohort_pick_review,
        name="cohort_pick_review",
    ),
    path("campaigns/<int:pk>/cohort/add/", cohort_views.cohort_add, name="cohort_add"),
    path(
        "campaigns/<int:pk>/patients/<int:patient_pk>/remove/",
        cohort_views.campaign_patient_remove_view,
        name="campaign_patient_remove",
    ),
]
