"""Patient imports: upload a CSV file, preview it, confirm or cancel, see the
result (services in booking/services/imports.py)."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hippo_pcn.organisations.models import Organisation

from ..csv_import import ALL_COLUMNS
from ..forms import PatientImportForm, UploadSizeLimitHandler
from ..models import PatientImport
from ..selectors import patient_import_sample_rows, patient_imports_for_practice
from ..services import (
    PatientImportNotPending,
    file_too_large_message,
    human_file_size,
    patient_import_confirm,
    patient_import_discard,
    patient_import_max_bytes,
    patient_import_preview,
)
from .common import _practice_or_404

ERROR_ROWS_SHOWN = 50
SAMPLE_ROWS_SHOWN = 10
RECENT_IMPORTS_SHOWN = 5


def _import_or_404(request: HttpRequest, ods_code: str, pk: int) -> PatientImport:
    practice = _practice_or_404(request, ods_code)
    return get_object_or_404(patient_imports_for_practice(practice=practice), pk=pk)


def _import_url(name: str, patient_import: PatientImport) -> str:
    return reverse(f"booking:{name}", args=[patient_import.practice.ods_code, patient_import.pk])


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
