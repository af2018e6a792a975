"""Each PCN's tracing policy in admin: its admins change it, and its open tasks
are re-planned for the new policy (services.tracing_policy_update)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from hippo_pcn.admin_site import TenantScopedAdmin

from .. import selectors, services
from ..models import TracingPolicy


@admin.register(TracingPolicy)
class TracingPolicyAdmin(TenantScopedAdmin):
    tenant_field = "pcn"
    list_display = (
        "pcn",
        "mode",
        "batch_time",
        "auto_verify",
        "allow_register_at_pcn",
        "updated_at",
    )
    list_select_related = ("pcn",)
    readonly_fields = ("updated_at", "updated_by")
    fields = (
        "pcn",
        "mode",
        "batch_time",
        "batch_weekday",
        "practice_working_hours",
        "auto_verify",
        "allow_register_at_pcn",
        "updated_at",
        "updated_by",
    )

    def _may_edit(self, request: HttpRequest, obj: TracingPolicy | None) -> bool:
        administered = selectors.pcns_administered_by(user=request.user)
        if obj is None:
            return administered.exists()
        return administered.filter(pk=obj.pcn_id).exists()

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._may_edit(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*self.readonly_fields, "pcn") if obj is not None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "pcn":
            kwargs["queryset"] = selectors.pcns_administered_by(user=request.user).exclude(
                tracing_policy__isnull=False
            )
        return super(TenantScopedAdmin, self).formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: TracingPolicy, form: Any, change: bool) -> None:
        replanned = services.tracing_policy_update(policy=obj, user=request.user)
        noun = "task was" if replanned == 1 else "tasks were"
        self.message_user(
            request,
            f"{replanned} open {noun} re-planned for {obj.pcn.name}'s new policy.",
            messages.INFO,
        )
        warning = selectors.tracing_policy_warning(policy=obj)
        if warning:
            self.message_user(request, warning, messages.WARNING)
