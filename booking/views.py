"""Booking's staff pages. Thin: find the practice (404 if it is not one of the
user's), call one selector or service, render.

Sections:
* Patients: choose a practice, the patient list.
* Patient imports: upload a CSV file, preview it, confirm or cancel, see the result.
* Campaigns: list, create, edit, the campaign page, refresh slots, add patients.
* Booking: book, move (rebook), cancel.
"""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from emis_integration.forms import OnboardingRequestForm
from emis_integration.selectors import pcn_connection_diagnosis
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.selectors import user_has_staff_access

from . import slot_picker
from .csv_import import ALL_COLUMNS
from .forms import (
    BookingForm,
    CampaignForm,
    CancelForm,
    PatientImportForm,
    PatientSearchForm,
    UploadSizeLimitHandler,
)
from .invites import booking_staff_message_note, campaign_invite_panel
from .models import Booking, BookingStatus, Campaign, Patient, PatientImport, Slot
from .selectors import (
    PATIENTS_PER_PAGE,
    SlotFilterChoices,
    bookings_for_user,
    campaign_filter_description,
    campaign_no_match_message,
    campaign_offerable_slots,
    campaign_patient_rows,
    campaign_pcn_diagnosis,
    campaign_sources,
    campaigns_for_user,
    patient_import_sample_rows,
    patient_imports_for_practice,
    patients_for_practice,
    practices_for_patient_management,
    rows_with_bookings,
    slot_filter_choices,
)
from .services import (
    BookingError,
    PatientImportNotPending,
    SlotTaken,
    booking_cancel,
    booking_create,
    booking_rebook,
    campaign_add_patients,
    campaign_refresh_slots,
    campaign_update,
    file_too_large_message,
    human_file_size,
    patient_import_confirm,
    patient_import_discard,
    patient_import_max_bytes,
    patient_import_preview,
    practice_refresh_slots,
)
from .services import campaign_create as campaign_create_service

ERROR_ROWS_SHOWN = 50
SAMPLE_ROWS_SHOWN = 10
RECENT_IMPORTS_SHOWN = 5


def _practices(request: HttpRequest) -> QuerySet[Organisation]:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    return practices_for_patient_management(user=request.user)


def _practice_or_404(request: HttpRequest, ods_code: str) -> Organisation:
    return get_object_or_404(_practices(request), ods_code=ods_code.upper())


def _import_or_404(request: HttpRequest, ods_code: str, pk: int) -> PatientImport:
    practice = _practice_or_404(request, ods_code)
    return get_object_or_404(patient_imports_for_practice(practice=practice), pk=pk)


def _import_url(name: str, patient_import: PatientImport) -> str:
    return reverse(f"booking:{name}", args=[patient_import.practice.ods_code, patient_import.pk])


# --- Patients -----------------------------------------------------------------------------


@login_required
@require_GET
def patient_practice_choice(request: HttpRequest) -> HttpResponse:
    """/booking/patients/: straight to the practice's list when the user has one
    practice; a choice when they have several."""
    practices = list(_practices(request)[:1000])
    if not practices:
        raise Http404("You are not a member of a GP practice.")
    if len(practices) == 1:
        return redirect("booking:patient_list", practices[0].ods_code)
    return render(request, "booking/practice_choice.html", {"practices": practices})


@login_required
@require_GET
def patient_list(request: HttpRequest, ods_code: str) -> HttpResponse:
    practice = _practice_or_404(request, ods_code)
    form = PatientSearchForm(request.GET)
    search = form.cleaned_data["q"] if form.is_valid() else ""
    paginator = Paginator(
        patients_for_practice(practice=practice, search=search), PATIENTS_PER_PAGE
    )
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "booking/patient_list.html",
        {
            "practice": practice,
            "form": form,
            "search": search,
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "has_other_practices": _practices(request).exclude(pk=practice.pk).exists(),
        },
    )


# --- Patient imports ----------------------------------------------------------------------


@login_required
@csrf_exempt  # checked by _patient_import_upload, once the size limit is in place
@require_http_methods(["GET", "POST"])
def patient_import_upload(request: HttpRequest, ods_code: str) -> HttpResponse:
    practice = _practice_or_404(request, ods_code)  # before a byte of the upload is read
    limiter = UploadSizeLimitHandler(request, max_bytes=patient_import_max_bytes())
    if request.method == "POST":
        # Upload handlers can only be changed before the body is read, which is
        # why CSRF is checked inside instead of by the middleware.
        request.upload_handlers = [limiter, *request.upload_handlers]
    return _patient_import_upload(request, practice, limiter)


@csrf_protect
def _patient_import_upload(
    request: HttpRequest, practice: Organisation, limiter: UploadSizeLimitHandler
) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = PatientImportForm(
            request.POST,
            request.FILES,
            too_large_message=file_too_large_message() if limiter.exceeded else "",
        )
        if form.is_valid():
            try:
                patient_import = patient_import_preview(
                    practice=practice,
                    uploaded_file=form.cleaned_data["file"],
                    user=request.user,  # type: ignore[arg-type]
                )
            except ValidationError as exc:
                form.add_error("file", exc.messages)
            else:
                return redirect(_import_url("patient_import_preview", patient_import))
        status = 400
    else:
        form = PatientImportForm()
    return render(
        request,
        "booking/patient_import_upload.html",
        {
            "practice": practice,
            "form": form,
            "columns": ALL_COLUMNS,
            "max_size": human_file_size(patient_import_max_bytes()),
            "recent_imports": patient_imports_for_practice(practice=practice).defer("errors")[
                :RECENT_IMPORTS_SHOWN
            ],
        },
        status=status,
    )


@login_required
@require_GET
def patient_import_template(request: HttpRequest, ods_code: str) -> HttpResponse:
    """An empty CSV file with the column headings, to fill in."""
    _practice_or_404(request, ods_code)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="patients-template.csv"'
    csv.writer(response).writerow(ALL_COLUMNS)
    return response


@login_required
@require_GET
def patient_import_preview_page(request: HttpRequest, ods_code: str, pk: int) -> HttpResponse:
    patient_import = _import_or_404(request, ods_code, pk)
    if not patient_import.is_previewed:
        return redirect(_import_url("patient_import_result", patient_import))
    return render(
        request,
        "booking/patient_import_preview.html",
        {
            "practice": patient_import.practice,
            "patient_import": patient_import,
            "error_rows": patient_import.errors[:ERROR_ROWS_SHOWN],
            "sample_rows": patient_import_sample_rows(
                patient_import=patient_import, limit=SAMPLE_ROWS_SHOWN
            ),
            "max_error_rows": ERROR_ROWS_SHOWN,
        },
    )


@login_required
@require_POST
def patient_import_confirm_view(request: HttpRequest, ods_code: str, pk: int) -> HttpResponse:
    patient_import = _import_or_404(request, ods_code, pk)
    try:
        patient_import = patient_import_confirm(
            patient_import=patient_import,
            user=request.user,  # type: ignore[arg-type]
        )
    except PatientImportNotPending as exc:
        messages.info(request, exc.messages[0])
    else:
        messages.success(
            request,
            f"Import complete: {patient_import.new_count:,} new patients added and "
            f"{patient_import.update_count:,} updated.",
        )
    return redirect(_import_url("patient_import_result", patient_import))


@login_required
@require_POST
def patient_import_discard_view(request: HttpRequest, ods_code: str, pk: int) -> HttpResponse:
    patient_import = _import_or_404(request, ods_code, pk)
    try:
        patient_import_discard(
            patient_import=patient_import,
            user=request.user,  # type: ignore[arg-type]
        )
    except PatientImportNotPending as exc:
        messages.info(request, exc.messages[0])
        return redirect(_import_url("patient_import_result", patient_import))
    messages.success(request, "Import cancelled: no patients were imported from that file.")
    return redirect("booking:patient_import_upload", patient_import.practice.ods_code)


@login_required
@require_GET
def patient_import_result(request: HttpRequest, ods_code: str, pk: int) -> HttpResponse:
    patient_import = _import_or_404(request, ods_code, pk)
    if patient_import.is_previewed:
        return redirect(_import_url("patient_import_preview", patient_import))
    return render(
        request,
        "booking/patient_import_result.html",
        {
            "practice": patient_import.practice,
            "patient_import": patient_import,
            "error_rows": patient_import.errors[:ERROR_ROWS_SHOWN],
            "max_error_rows": ERROR_ROWS_SHOWN,
        },
    )


# --- Campaigns ----------------------------------------------------------------------------


def _campaign_or_404(request: HttpRequest, pk: int) -> Campaign:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    return get_object_or_404(campaigns_for_user(user=request.user), pk=pk)


def _onboarding_form(request: HttpRequest) -> OnboardingRequestForm:
    user = request.user
    return OnboardingRequestForm(
        initial={
            "contact_name": user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
            "contact_email": getattr(user, "email", ""),
        }
    )


def _add_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _when(value: datetime) -> str:
    return timezone.localtime(value).strftime("%a %-d %b %Y at %H:%M")


@login_required
@require_GET
def campaign_practice_choice(request: HttpRequest) -> HttpResponse:
    practices = list(_practices(request)[:1000])
    if not practices:
        raise Http404("You are not a member of a GP practice.")
    if len(practices) == 1:
        return redirect("booking:campaign_list", practices[0].ods_code)
    return render(
        request,
        "booking/practice_choice.html",
        {
            "practices": practices,
            "target": "booking:campaign_list",
            "caption": "Campaigns",
            "question": "Which practice's campaigns do you want to see?",
            "explanation": "You work for more than one GP practice. Choose one to see its "
            "campaigns and book its patients.",
        },
    )


@login_required
@require_http_methods(["GET"])
def campaign_list(request: HttpRequest, ods_code: str) -> HttpResponse:
    practice = _practice_or_404(request, ods_code)
    campaigns = (
        campaigns_for_user(user=request.user)
        .filter(practice=practice)
        .annotate(
            patient_count=Count("entries", distinct=True),
            booked_count=Count(
                "bookings", filter=Q(bookings__status=BookingStatus.BOOKED), distinct=True
            ),
        )
    )
    return render(
        request, "booking/campaigns/list.html", {"practice": practice, "campaigns": campaigns}
    )


def _slot_filter_choices(
    practice: Organisation, campaign: Campaign | None = None
) -> SlotFilterChoices:
    """The slot types (channels, sites, clinicians) campaign setup offers. When no
    slot has been mirrored for the practice yet, EMIS's slots are read first."""
    choices = slot_filter_choices(practice=practice, campaign=campaign)
    if not choices.service_types:
        practice_refresh_slots(practice=practice)
        choices = slot_filter_choices(practice=practice, campaign=campaign)
    return choices


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest, ods_code: str) -> HttpResponse:
    practice = _practice_or_404(request, ods_code)
    form = CampaignForm(
        request.POST if request.method == "POST" else None,
        filter_choices=_slot_filter_choices(practice),
    )
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_create_service(
                user=request.user, practice=practice, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Campaign “{campaign.name}” created.")
            return redirect("booking:campaign_detail", pk=campaign.pk)
    return render(
        request,
        "booking/campaigns/form.html",
        {
            "form": form,
            "practice": practice,
            "diagnosis": pcn_connection_diagnosis(practice=practice),
            "onboarding_form": _onboarding_form(request),
            "title": "New campaign",
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    initial = {name: getattr(campaign, name) for name in CampaignForm.base_fields}
    form = CampaignForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        filter_choices=_slot_filter_choices(campaign.practice, campaign),
    )
    if request.method == "POST" and form.is_valid():
        try:
            campaign_update(user=request.user, campaign=campaign, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Campaign saved.")
            return redirect("booking:campaign_detail", pk=campaign.pk)
    return render(
        request,
        "booking/campaigns/form.html",
        {
            "form": form,
            "practice": campaign.practice,
            "campaign": campaign,
            "diagnosis": campaign_pcn_diagnosis(campaign=campaign),
            "onboarding_form": _onboarding_form(request),
            "title": f"Edit {campaign.name}",
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    search = request.GET.get("q", "").strip()
    page = Paginator(campaign_patient_rows(campaign=campaign, search=search), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "booking/campaigns/detail.html",
        {
            "campaign": campaign,
            "sources": campaign_sources(campaign=campaign),
            "slot_filter": campaign_filter_description(campaign=campaign),
            "no_match_message": campaign_no_match_message(campaign=campaign),
            "diagnosis": campaign_pcn_diagnosis(campaign=campaign),
            "onboarding_form": _onboarding_form(request),
            "page": page,
            "rows": rows_with_bookings(campaign=campaign, patients=page.object_list),
            "search": search,
            "practice_patient_count": Patient.objects.filter(practice=campaign.practice).count(),
            # Invitations panel (booking/invites/).
            "invite_panel": campaign_invite_panel(campaign=campaign),
        },
    )


@login_required
@require_POST
def campaign_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    results = campaign_refresh_slots(campaign=campaign)
    if not results:
        messages.warning(request, "There is no live EMIS connection to refresh slots from.")
    for result in results:
        if result.error:
            messages.error(request, f"{result.source} slots could not be refreshed: {result.error}")
        else:
            messages.success(
                request,
                f"{result.source} slots refreshed: {result.seen} free, "
                f"{result.removed} no longer free.",
            )
    return redirect("booking:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_add_all_patients(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    added = campaign_add_patients(
        user=request.user,
        campaign=campaign,
        patients=Patient.objects.filter(practice=campaign.practice),
    )
    messages.success(request, f"{added} patient(s) added to the campaign.")
    return redirect("booking:campaign_detail", pk=campaign.pk)


# --- Booking ------------------------------------------------------------------------------


def _picker(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    """The row of days with free slots and the chosen day's slots, grouped by
    site (booking/slot_picker.py): `from` picks the row, `day` and `at` the
    day's page of times."""
    picker = slot_picker.staff_picker(
        campaign_offerable_slots(campaign=campaign),
        day=slot_picker.parse_day(request.GET.get("day")),
        at=slot_picker.parse_time(request.GET.get("at")),
        starting=slot_picker.parse_day(request.GET.get("from")),
    )
    return {
        "picker": picker,
        "no_match_message": ""
        if picker.days.days
        else campaign_no_match_message(campaign=campaign),
    }


def _booking_page(
    request: HttpRequest, campaign: Campaign, patient: Patient, booking: Booking | None
) -> HttpResponse:
    form = BookingForm(
        request.POST if request.method == "POST" else None,
        slots=campaign_offerable_slots(campaign=campaign),
    )
    alternatives: list[Slot] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        slot = form.cleaned_data["slot"]
        consent = form.cleaned_data["pcn_consent"]
        name = f"{patient.first_name} {patient.last_name}"
        try:
            if booking is None:
                made = booking_create(
                    campaign=campaign,
                    patient=patient,
                    slot=slot,
                    booked_by=request.user,
                    pcn_consent=consent,
                )
                messages.success(
                    request,
                    f"{name} is booked for {_when(made.start)} at "
                    f"{made.site_name or campaign.practice.name}. "
                    f"{booking_staff_message_note(booking=made)}",
                )
            else:
                made = booking_rebook(
                    booking=booking, slot=slot, user=request.user, pcn_consent=consent
                )
                booking.refresh_from_db()
                if booking.status == BookingStatus.CANCELLED:
                    messages.success(
                        request,
                        f"{name} is moved to {_when(made.start)}; the old appointment is "
                        f"cancelled. {booking_staff_message_note(booking=made)}",
                    )
                else:
                    messages.warning(
                        request,
                        f"{name} is booked for {_when(made.start)}, but the old appointment could "
                        f"not be cancelled in EMIS yet ({booking.cancel_error}). Cancel it from "
                        f"the campaign page. {booking_staff_message_note(booking=made)}",
                    )
        except SlotTaken as exc:
            form.add_error("slot", exc.message)
            alternatives = exc.alternatives
            status = 409
        except BookingError as exc:
            form.add_error(None, exc.message)
            status = 400
        else:
            return redirect("booking:campaign_detail", pk=campaign.pk)
    elif request.method == "POST":
        status = 400
    context = {
        "campaign": campaign,
        "patient": patient,
        "booking": booking,
        "form": form,
        "alternatives": slot_picker.group_by_site(alternatives),
        "diagnosis": campaign_pcn_diagnosis(campaign=campaign),
        "onboarding_form": _onboarding_form(request),
        **_picker(request, campaign),
    }
    return render(request, "booking/book.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def booking_new(request: HttpRequest, pk: int, patient_pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    patient = get_object_or_404(
        Patient.objects.filter(pk__in=campaign.entries.values("patient_id")), pk=patient_pk
    )
    return _booking_page(request, campaign, patient, None)


@login_required
@require_http_methods(["GET", "POST"])
def booking_move(request: HttpRequest, booking_pk: int) -> HttpResponse:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    booking = get_object_or_404(
        bookings_for_user(user=request.user), pk=booking_pk, status=BookingStatus.BOOKED
    )
    return _booking_page(request, booking.campaign, booking.patient, booking)


@login_required
@require_http_methods(["GET", "POST"])
def booking_cancel_view(request: HttpRequest, booking_pk: int) -> HttpResponse:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    booking = get_object_or_404(bookings_for_user(user=request.user), pk=booking_pk)
    form = CancelForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            booking_cancel(booking=booking, user=request.user, reason=form.cleaned_data["reason"])
        except BookingError as exc:
            form.add_error(None, exc.message)
            status = 400
        else:
            messages.success(
                request,
                "The appointment is cancelled in EMIS. "
                f"{booking_staff_message_note(booking=booking)}",
            )
            return redirect("booking:campaign_detail", pk=booking.campaign_id)
    elif request.method == "POST":
        status = 400
    return render(request, "booking/cancel.html", {"booking": booking, "form": form}, status=status)
