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
