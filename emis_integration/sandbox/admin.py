"""The EMIS sandbox in the admin: for the support team only. Organisations carry
the fault knobs and the Partner API credentials; slots are read-mostly, sessions
and appointments read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from hippo_pcn.admin_site import SupportOnlyAdminMixin

from .models import (
    Appointment,
    AppointmentSession,
    BookingCap,
    Patient,
    SandboxOrganisation,
    Slot,
)


def _local(value: Any) -> str:
    return timezone.localtime(value).strftime("%d %b %Y %H:%M") if value else "—"


SECRET_FIELDS = ("client_secret", "partner_token")


class SandboxOrganisationForm(forms.ModelForm):
    """The organisation's secrets are write-only: the form never renders a stored
    secret back (not even in the page's HTML); a blank field keeps the stored one."""

    class Meta:
        model = SandboxOrganisation
        fields = (
            "ods_code",
            "name",
            "kind",
            "pcn",
            "phone",
            "asid",
            "client_secret",
            "partner_application_id",
            "partner_token",
            "reject_auth",
            "latency_ms",
            "error_rate",
            "force_timeout",
            "timeout_seconds",
            "commit_then_fail",
            "commit_then_fail_mode",
        )
        widgets = {name: forms.PasswordInput(render_value=False) for name in SECRET_FIELDS}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields.get(name)
            if field is None:
                continue
            if self.instance.pk and getattr(self.instance, name, ""):
                field.required = False
                field.help_text = (
                    "Set, and never shown. Leave blank to keep it; type a new value to replace it."
                )

    def _keep_stored(self, name: str) -> str:
        value: str = self.cleaned_data.get(name) or ""
        if not value and self.instance.pk:
            return str(getattr(self.instance, name, ""))
        return value

    def clean_client_secret(self) -> str:
        return self._keep_stored("client_secret")

    def clean_partner_token(self) -> str:
        return self._keep_stored("partner_token")


@admin.register(SandboxOrganisation)
class SandboxOrganisationAdmin(SupportOnlyAdminMixin, admin.ModelAdmin):
    form = SandboxOrganisationForm
    list_display = (
        "ods_code",
        "name",
        "kind",
        "pcn",
        "asid",
        "latency_ms",
        "error_rate",
        "force_timeout",
        "reject_auth",
    )
    list_editable = ("latency_ms", "error_rate", "force_timeout", "reject_auth")
    list_filter = ("kind", "force_timeout", "reject_auth", "commit_then_fail")
    search_fields = ("ods_code", "name", "asid")
    list_select_related = ("pcn",)
    raw_id_fields = ("pcn",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("ods_code", "name", "kind", "pcn", "phone")}),
        ("Credentials", {"fields": ("asid", "client_secret")}),
        (
            "Partner API",
            {
                "description": "Either blank: the Partner API answers 401 for this organisation.",
                "fields": ("partner_application_id", "partner_token"),
            },
        ),
        (
            "Fault knobs",
            {
                "description": "Applied to every request before anything else is checked "
                "(commit_then_fail: to bookings, after the appointment is made; its mode "
                "says whether the answer is a 504 or a timeout).",
                "fields": (
                    "reject_auth",
                    "latency_ms",
                    "error_rate",
                    "force_timeout",
                    "timeout_seconds",
                    "commit_then_fail",
                    "commit_then_fail_mode",
                ),
            },
        ),
    )


@admin.register(AppointmentSession)
class AppointmentSessionAdmin(SupportOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: sessions are made with their slots (services.slots_create)."""

    list_display = (
        "id",
        "organisation",
        "date",
        "start_time",
        "end_time",
        "name",
        "site",
        "holder",
        "slot_minutes",
    )
    list_filter = ("organisation__kind", "name")
    search_fields = ("=id", "organisation__ods_code", "name")
    list_select_related = ("organisation", "site", "holder")
    raw_id_fields = ("organisation", "schedule", "site", "holder")
    ordering = ("-date", "-start_time", "-id")
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AppointmentSession._meta.fields]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Slot)
class SlotAdmin(SupportOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "organisation", "start_local", "end_local", "status", "service_type")
    list_filter = ("status", "organisation__kind", "schedule__service_type")
    search_fields = ("=id", "organisation__ods_code")
    list_select_related = ("organisation", "schedule")
    raw_id_fields = ("organisation", "schedule", "session")
    readonly_fields = ("organisation", "schedule", "session", "start", "end", "status")
    fields = (
        "organisation",
        "schedule",
        "session",
        "start",
        "end",
        "status",
        "allowed_ods",
        "allowed_org_types",
    )
    ordering = ("-start",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    @admin.display(description="start", ordering="start")
    def start_local(self, obj: Slot) -> str:
        return _local(obj.start)

    @admin.display(description="end", ordering="end")
    def end_local(self, obj: Slot) -> str:
        return _local(obj.end)

    @admin.display(description="service", ordering="schedule__service_type")
    def service_type(self, obj: Slot) -> str:
        return obj.schedule.service_type


@admin.register(Appointment)
class AppointmentAdmin(SupportOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "organisation",
        "start_local",
        "status",
        "booking_org_ods",
        "location_display",
        "version",
        "last_updated",
    )
    list_filter = ("status", "organisation__kind")
    search_fields = ("=id", "=booking_org_ods", "=patient_nhs_number", "organisation__ods_code")
    list_select_related = ("organisation",)
    raw_id_fields = ("organisation", "slot", "patient", "patient_record")
    ordering = ("-last_updated", "-id")
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Appointment._meta.fields]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="start", ordering="start")
    def start_local(self, obj: Appointment) -> str:
        return _local(obj.start)


@admin.register(Patient)
class PatientAdmin(SupportOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "organisation",
        "nhs_number",
        "family",
        "given",
        "registration_type",
        "registered_practice_ods",
    )
    list_filter = ("registration_type", "organisation__kind")
    search_fields = ("=nhs_number", "family", "organisation__ods_code")
    list_select_related = ("organisation",)
    raw_id_fields = ("organisation",)
    ordering = ("organisation__ods_code", "family", "given")
    show_full_result_count = False


@admin.register(BookingCap)
class BookingCapAdmin(SupportOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("organisation", "booking_org_ods", "max_active_bookings")
    list_editable = ("max_active_bookings",)
    search_fields = ("booking_org_ods", "organisation__ods_code")
    list_select_related = ("organisation",)
    raw_id_fields = ("organisation",)
    show_full_result_count = False
