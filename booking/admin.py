"""Booking in the admin.

Sections:
* Patients: read-only, scoped to the practices whose patients the user may see.
* Patient imports: read-only history of uploads.
* Messages to patients: read-only send records (invitation, reminders, booking
  confirmations and cancellations), so staff can answer "was I sent a text?".

Patients are changed only through the CSV import (which audits each import), so
both admins are read-only for everyone, support included.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from hippo_pcn.admin_site import TenantScopedAdmin

from .models import (
    MessageKind,
    MessageSend,
    MessageSendStatus,
    Patient,
    PatientImport,
    PatientImportStatus,
)
from .selectors import practices_for_patient_management

# Badge colour classes (static/css/admin.css: no inline styles under the CSP).
STATUS_COLOURS = {
    PatientImportStatus.PREVIEWED: "blue",
    PatientImportStatus.IMPORTED: "green",
    PatientImportStatus.DISCARDED: "grey",
}
SEND_COLOURS = {
    MessageSendStatus.PENDING: "grey",
    MessageSendStatus.SENDING: "orange",
    MessageSendStatus.SENT: "green",
    MessageSendStatus.FAILED: "red",
}
_NHS_NUMBER_SEARCH = re.compile(r"^[0-9]{3}[\s-]?[0-9]{3}[\s-]?[0-9]{4}$")


def _when(value: Any) -> str:
    if not value:
        return "—"
    return timezone.localtime(value).strftime("%d %b %Y %H:%M")


class ReadOnlyTenantAdmin(TenantScopedAdmin):
    """Scoped to the practices whose patients the user may see: their own
    practices, or all for support. PCN staff see their member practices as
    organisations, but not their patient lists (the same rule as the staff pages)."""

    tenant_field = "practice"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .filter(
                **{f"{self.tenant_field}__in": practices_for_patient_management(user=request.user)}
            )
        )

    def _may_see_patients(self, request: HttpRequest) -> bool:
        # Asked for every booking model on every admin page (the sidebar): once per request.
        cached = getattr(request, "_booking_may_see_patients", None)
        if cached is None:
            cached = practices_for_patient_management(user=request.user).exists()
            setattr(request, "_booking_may_see_patients", cached)  # noqa: B010
        return bool(cached)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) and self._may_see_patients(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._may_see_patients(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NhsNumberSearchMixin:
    """An NHS number typed with spaces or dashes ("943 476 5919") finds the patient."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if _NHS_NUMBER_SEARCH.match(term):
            term = re.sub(r"[\s-]", "", term)
        return super().get_search_results(request, queryset, term)  # type: ignore[misc]


# --- Patients -------------------------------------------------------------------------------


@admin.register(Patient)
class PatientAdmin(NhsNumberSearchMixin, ReadOnlyTenantAdmin):
    list_display = (
        "name",
        "nhs_number_formatted",
        "date_of_birth",
        "practice",
        "mobile_masked_display",
        "opted_out_of_messages",
        "updated_at",
    )
    list_filter = ("opted_out_of_messages", ("practice", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=nhs_number", "last_name", "first_name")
    search_help_text = "Search by NHS number (spaces allowed), last name or first name."
    list_select_related = ("practice",)
    ordering = ("last_name", "first_name", "pk")
    list_per_page = 50
    fields = (
        "practice",
        "nhs_number_formatted",
        "first_name",
        "last_name",
        "date_of_birth",
        "mobile_display_full",
        "email",
        "opted_out_of_messages",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="Name", ordering="last_name")
    def name(self, obj: Patient) -> str:
        return f"{obj.last_name}, {obj.first_name}"

    @admin.display(description="NHS number", ordering="nhs_number")
    def nhs_number_formatted(self, obj: Patient) -> str:
        return obj.nhs_number_display

    @admin.display(description="Mobile")
    def mobile_masked_display(self, obj: Patient) -> str:
        return obj.mobile_masked or "—"

    @admin.display(description="Mobile number")
    def mobile_display_full(self, obj: Patient) -> str:
        return obj.mobile_display or "—"


# --- Patient imports --------------------------------------------------------------------------


@admin.register(PatientImport)
class PatientImportAdmin(ReadOnlyTenantAdmin):
    list_display = (
        "created",
        "practice",
        "file_name",
        "status_badge",
        "uploaded_by",
        "new_count",
        "update_count",
        "error_count",
    )
    list_filter = ("status", ("practice", admin.RelatedOnlyFieldListFilter))
    search_fields = ("file_name", "practice__name", "practice__ods_code")
    list_select_related = ("practice", "uploaded_by")
    ordering = ("-created_at", "-pk")
    date_hierarchy = "created_at"
    fieldsets = (
        (
            "File",
            {"fields": ("practice", "file_name", "file_size", "encoding", "columns_summary")},
        ),
        (
            "Outcome",
            {
                "fields": (
                    "status_badge",
                    "row_count",
                    "valid_count",
                    "new_count",
                    "update_count",
                    "unchanged_count",
                    "error_count",
                    "errors_summary",
                )
            },
        ),
        (
            "Who and when",
            {
                "fields": (
                    "uploaded_by",
                    "created_at",
                    "imported_by",
                    "imported_at",
                    "discarded_by",
                    "discarded_at",
                )
            },
        ),
    )
    readonly_fields = (
        "practice",
        "file_name",
        "file_size",
        "encoding",
        "columns_summary",
        "status_badge",
        "row_count",
        "valid_count",
        "new_count",
        "update_count",
        "unchanged_count",
        "error_count",
        "errors_summary",
        "uploaded_by",
        "created_at",
        "imported_by",
        "imported_at",
        "discarded_by",
        "discarded_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PatientImport]:
        # The stored rows can be megabytes: never load them here.
        return super().get_queryset(request).defer("rows")

    @admin.display(description="Uploaded", ordering="created_at")
    def created(self, obj: PatientImport) -> str:
        return _when(obj.created_at)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: PatientImport) -> str:
        return format_html(
            '<span class="hippo-badge hippo-badge--{}">{}</span>',
            STATUS_COLOURS.get(PatientImportStatus(obj.status), "grey"),
            obj.get_status_display(),
        )

    @admin.display(description="Columns")
    def columns_summary(self, obj: PatientImport) -> str:
        optional = ", ".join(obj.optional_columns) or "none"
        ignored = ", ".join(obj.ignored_columns) or "none"
        return f"Optional columns present: {optional}. Ignored columns: {ignored}."

    @admin.display(description="Rows with errors (first 20)")
    def errors_summary(self, obj: PatientImport) -> str:
        errors = (obj.errors or [])[:20]
        if not errors:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>Row {}: {}</li>",
                ((error["row"], "; ".join(error["messages"])) for error in errors),
            ),
        )


# --- Messages to patients ---------------------------------------------------------------------


@admin.register(MessageSend)
class MessageSendAdmin(NhsNumberSearchMixin, ReadOnlyTenantAdmin):
    """Each message the app sends a patient, once: written by the send tasks
    (booking/invites/), never edited here."""

    tenant_field = "invite__campaign__practice"
    list_display = (
        "created",
        "patient",
        "kind_display",
        "status_badge",
        "sent",
        "campaign",
        "attempts",
        "error",
    )
    list_filter = ("status", "kind")
    search_fields = ("=invite__patient__nhs_number", "invite__patient__last_name")
    search_help_text = "Search by NHS number or last name."
    list_select_related = ("invite__patient", "invite__campaign")
    ordering = ("-created_at", "-id")
    list_per_page = 50
    fields = (
        "patient",
        "campaign",
        "kind_display",
        "number",
        "status_badge",
        "created",
        "sent",
        "attempts",
        "error",
        "reference",
        "provider_id",
    )
    readonly_fields = fields

    @admin.display(description="Patient", ordering="invite__patient__last_name")
    def patient(self, obj: MessageSend) -> str:
        patient = obj.invite.patient
        return f"{patient.last_name}, {patient.first_name} ({patient.nhs_number_display})"

    @admin.display(description="Campaign")
    def campaign(self, obj: MessageSend) -> str:
        return str(obj.invite.campaign)

    @admin.display(description="Message", ordering="kind")
    def kind_display(self, obj: MessageSend) -> str:
        label = obj.get_kind_display()
        return f"{label} {obj.number}" if obj.kind == MessageKind.REMINDER else label

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: MessageSend) -> str:
        colour = SEND_COLOURS.get(MessageSendStatus(obj.status), "grey")
        return format_html(
            '<span class="hippo-badge hippo-badge--{}">{}</span>',
            colour,
            obj.get_status_display(),
        )

    @admin.display(description="Queued", ordering="created_at")
    def created(self, obj: MessageSend) -> str:
        return _when(obj.created_at)

    @admin.display(description="Sent", ordering="sent_at")
    def sent(self, obj: MessageSend) -> str:
        return _when(obj.sent_at)
