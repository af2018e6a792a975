"""Booking's staff pages, one module per page group. Thin: find the practice or
campaign (404 if it is not one of the user's), call one selector or service,
render.

* `patients`: choose a practice, the patient list;
* `patient_imports`: upload a CSV file, preview it, confirm or cancel, see the result;
* `campaigns`: list, create, edit, the campaign page, refresh slots, add patients;
* `bookings`: book, move (rebook), cancel;
* `common`: the user's practices and campaigns, the onboarding request form.

The invitation and cohort pages are booking/invite_views.py and
booking/cohort_views.py. Public names stay importable from here (booking/urls.py
uses `views.<name>`)."""

from .bookings import booking_cancel_view, booking_move, booking_new
from .campaigns import (
    campaign_add_all_patients,
    campaign_create,
    campaign_detail,
    campaign_edit,
    campaign_list,
    campaign_practice_choice,
    campaign_refresh,
)
from .common import _campaign_or_404, _onboarding_form, _practice_or_404, _practices
from .patient_imports import (
    ERROR_ROWS_SHOWN,
    RECENT_IMPORTS_SHOWN,
    SAMPLE_ROWS_SHOWN,
    patient_import_confirm_view,
    patient_import_discard_view,
    patient_import_preview_page,
    patient_import_result,
    patient_import_template,
    patient_import_upload,
)
from .patients import patient_list, patient_practice_choice

__all__ = [
    "ERROR_ROWS_SHOWN",
    "RECENT_IMPORTS_SHOWN",
    "SAMPLE_ROWS_SHOWN",
    "_campaign_or_404",
    "_onboarding_form",
    "_practice_or_404",
    "_practices",
    "booking_cancel_view",
    "booking_move",
    "booking_new",
    "campaign_add_all_patients",
    "campaign_create",
    "campaign_detail",
    "campaign_edit",
    "campaign_list",
    "campaign_practice_choice",
    "campaign_refresh",
    "patient_import_confirm_view",
    "patient_import_discard_view",
    "patient_import_preview_page",
    "patient_import_result",
    "patient_import_template",
    "patient_import_upload",
    "patient_list",
    "patient_practice_choice",
]
