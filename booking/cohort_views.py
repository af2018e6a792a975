"""Campaign cohort pages: add patients to a campaign (everyone, by age on a date,
from a CSV file of NHS numbers, or ticked on a list), always through a page that
shows the count first; and remove a patient who has not booked.

Thin: find the campaign (404 if it is not one of the user's practices'), parse,
call booking/cohorts.py, render."""

from __future__ import annotations

import os
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hippo_pcn.organisations.selectors import user_has_staff_access

from .cohorts import (
    PICK_MAX,
    AgeCriteria,
    CohortError,
    CohortPreview,
    campaign_patient_remove,
    campaign_patients_add,
    cohort_by_age,
    cohort_from_nhs_numbers_csv,
    cohort_pick_ids,
    cohort_pick_rows,
    cohort_preview,
)
from .csv_import import PatientFileError
from .forms import PatientImportForm, PatientSearchForm, UploadSizeLimitHandler
from .models import Booking, Campaign, Patient
from .selectors import PATIENTS_PER_PAGE, campaigns_for_user
from .services import (
    DEFAULT_MAX_ROWS,
    file_too_large_message,
    human_file_size,
    patient_import_max_bytes,
)

ERROR_ROWS_SHOWN = 50


class CohortAgeForm(forms.Form):
    age_from = forms.IntegerField(
        label="Lowest age",
        required=False,
        min_value=0,
        max_value=130,
        help_text="For example 65. Leave empty for no lower limit",
    )
    age_to = forms.IntegerField(
        label="Highest age (optional)",
        required=False,
        min_value=0,
        max_value=130,
        help_text="Leave empty for no upper limit",
    )
    on = forms.DateField(
        label="Age on",
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="For example 31/03/2027",
        error_messages={"required": "Enter the date the age is counted on"},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            data["criteria"] = AgeCriteria(
                age_from=data.get("age_from"), age_to=data.get("age_to"), on=data["on"]
            )
        except CohortError as exc:
            self.add_error("age_to" if data.get("age_from") is not None else "age_from", exc)
        return data


def _campaign_or_404(request: HttpRequest, pk: int) -> Campaign:
    """The campaign views' rule: practice staff of any role (and support) for
    their practices' campaigns; another practice's campaign does not exist."""
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    return get_object_or_404(campaigns_for_user(user=request.user), pk=pk)


def _file_name(name: str | None) -> str:
    return (os.path.basename((name or "").replace("\\", "/")).strip() or "upload.csv")[:120]


def _url(name: str, campaign: Campaign) -> str:
    return reverse(name, kwargs={"pk": campaign.pk})


def _start_page(
    request: HttpRequest,
    campaign: Campaign,
    *,
    age_form: CohortAgeForm | None = None,
    upload_form: PatientImportForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "booking/cohort_start.html",
        {
            "campaign": campaign,
            "practice": campaign.practice,
            "age_form": age_form or CohortAgeForm(initial={"on": campaign.end_date}),
            "upload_form": upload_form or PatientImportForm(),
            "practice_patient_count": Patient.objects.filter(practice=campaign.practice).count(),
            "campaign_patient_count": campaign.entries.count(),
            "max_size": human_file_size(patient_import_max_bytes()),
        },
        status=status,
    )


def _confirm_page(
    request: HttpRequest,
    campaign: Campaign,
    preview: CohortPreview,
    *,
    back_url: str,
    report: Any = None,
) -> HttpResponse:
    return render(
        request,
        "booking/cohort_confirm.html",
        {
            "campaign": campaign,
            "practice": campaign.practice,
            "preview": preview,
            "back_url": back_url,
            "report": report,
            "error_rows": [e.as_dict() for e in report.errors[:ERROR_ROWS_SHOWN]] if report else [],
        },
    )


@login_required
@require_GET
def cohort_start(request: HttpRequest, pk: int) -> HttpResponse:
    return _start_page(request, _campaign_or_404(request, pk))


@login_required
@require_GET
def cohort_all(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    preview = cohort_preview(
        campaign=campaign,
        patient_ids=Patient.objects.filter(practice=campaign.practice).values_list("pk", flat=True),
        description=f"on {campaign.practice.name}'s patient list",
    )
    return _confirm_page(
        request, campaign, preview, back_url=_url("booking:cohort_start", campaign)
    )


@login_required
@require_GET
def cohort_age(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    form = CohortAgeForm(request.GET)
    if not form.is_valid():
        return _start_page(request, campaign, age_form=form, status=400)
    criteria: AgeCriteria = form.cleaned_data["criteria"]
    patients = cohort_by_age(
        practice=campaign.practice,
        age_from=criteria.age_from,
        age_to=criteria.age_to,
        on=criteria.on,
    )
    preview = cohort_preview(
        campaign=campaign,
        patient_ids=patients.order_by().values_list("pk", flat=True),
        description=criteria.describe(),
    )
    return _confirm_page(
        request, campaign, preview, back_url=_url("booking:cohort_start", campaign)
    )


@login_required
@csrf_exempt  # checked by _cohort_csv, once the size limit is in place
@require_POST
def cohort_csv(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)  # before a byte of the upload is read
    limiter = UploadSizeLimitHandler(request, max_bytes=patient_import_max_bytes())
    # Upload handlers can only be changed before the body is read, which is why
    # CSRF is checked inside instead of by the middleware (as the patient import).
    request.upload_handlers = [limiter, *request.upload_handlers]
    return _cohort_csv(request, campaign, limiter)


@csrf_protect
def _cohort_csv(
    request: HttpRequest, campaign: Campaign, limiter: UploadSizeLimitHandler
) -> HttpResponse:
    form = PatientImportForm(
        request.POST,
        request.FILES,
        too_large_message=file_too_large_message() if limiter.exceeded else "",
    )
    if form.is_valid():
        uploaded = form.cleaned_data["file"]
        try:
            if uploaded.size is None or uploaded.size > patient_import_max_bytes():
                raise PatientFileError(file_too_large_message(size=uploaded.size))
            uploaded.seek(0)
            report = cohort_from_nhs_numbers_csv(
                practice=campaign.practice,
                data=uploaded.read(patient_import_max_bytes() + 1),
                max_rows=int(getattr(settings, "PATIENT_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS)),
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        else:
            preview = cohort_preview(
                campaign=campaign,
                patient_ids=report.patient_ids,
                description=f"from the file {_file_name(uploaded.name)}",
            )
            return _confirm_page(
                request,
                campaign,
                preview,
                back_url=_url("booking:cohort_start", campaign),
                report=report,
            )
    return _start_page(request, campaign, upload_form=form, status=400)


def _pick_page(
    request: HttpRequest, campaign: Campaign, *, selected: list[int], error: str = ""
) -> HttpResponse:
    params = request.POST if request.method == "POST" else request.GET
    search_form = PatientSearchForm(params)
    search = search_form.cleaned_data["q"] if search_form.is_valid() else ""
    page = Paginator(
        cohort_pick_rows(campaign=campaign, search=search), PATIENTS_PER_PAGE
    ).get_page(params.get("page"))
    on_page = {patient.pk for patient in page.object_list}
    return render(
        request,
        "booking/cohort_pick.html",
        {
            "campaign": campaign,
            "practice": campaign.practice,
            "search": search,
            "page": page,
            "selected": set(selected),
            "selected_elsewhere": [pk for pk in selected if pk not in on_page],
            "selected_count": len(selected),
            "pick_max": PICK_MAX,
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def cohort_pick(request: HttpRequest, pk: int) -> HttpResponse:
    """The practice's patients, searched and paged (50 a page), to tick. Without
    JavaScript the ticks survive paging and searching: searching and the page
    buttons post the same form (a long list of ticks would not fit in a URL), and
    ticks from other pages travel as hidden fields. Nothing is saved here."""
    campaign = _campaign_or_404(request, pk)
    try:
        selected = cohort_pick_ids(campaign=campaign, values=request.POST.getlist("patient"))
    except CohortError as exc:
        return _pick_page(request, campaign, selected=[], error=exc.messages[0])
    return _pick_page(request, campaign, selected=selected)


@login_required
@require_POST
def cohort_pick_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The count of the ticked patients, before anything is added."""
    campaign = _campaign_or_404(request, pk)
    try:
        selected = cohort_pick_ids(campaign=campaign, values=request.POST.getlist("patient"))
    except CohortError as exc:
        return _pick_page(request, campaign, selected=[], error=exc.messages[0])
    if not selected:
        return _pick_page(request, campaign, selected=[], error="Tick at least one patient to add.")
    preview = cohort_preview(
        campaign=campaign, patient_ids=selected, description="ticked on the list"
    )
    return _confirm_page(request, campaign, preview, back_url=_url("booking:cohort_pick", campaign))


@login_required
@require_POST
def cohort_add(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    try:
        result = campaign_patients_add(
            user=request.user,  # type: ignore[arg-type]
            campaign=campaign,
            token=request.POST.get("selection", ""),
        )
    except CohortError as exc:
        messages.error(request, exc.messages[0])
        return redirect("booking:cohort_start", pk=campaign.pk)
    text = f"{result.added:,} patient{'s' if result.added != 1 else ''} {result.description} added"
    if result.already:
        text += f"; {result.already:,} were already in the campaign"
    messages.success(request, text + ".")
    return redirect("booking:campaign_detail", pk=campaign.pk)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_patient_remove_view(request: HttpRequest, pk: int, patient_pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    patient = get_object_or_404(
        Patient.objects.filter(pk__in=campaign.entries.values("patient_id")), pk=patient_pk
    )
    if request.method == "POST":
        try:
            campaign_patient_remove(
                user=request.user,  # type: ignore[arg-type]
                campaign=campaign,
                patient=patient,
            )
        except CohortError as exc:
            messages.error(request, exc.messages[0])
        else:
            messages.success(request, f"{patient.full_name} was removed from the campaign.")
            return redirect("booking:campaign_detail", pk=campaign.pk)
    booking = (
        Booking.objects.active()
        .filter(campaign=campaign, patient=patient)
        .order_by("start")
        .first()
    )
    return render(
        request,
        "booking/cohort_remove.html",
        {"campaign": campaign, "patient": patient, "booking": booking},
        status=409 if request.method == "POST" else 200,
    )
