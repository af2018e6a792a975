"""Poll health in admin: each PCN connection's poll cursor (live health, the
last error) and the record of each poll run. Read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from hippo_pcn.admin_site import TenantScopedAdmin

from .. import selectors
from ..models import PollCursor, PollRun


@admin.register(PollCursor)
class PollCursorAdmin(TenantScopedAdmin):
    tenant_field = "connection__organisation"
    list_display = (
        "connection",
        "health",
        "last_success_at",
        "last_full_sweep_at",
        "last_error_at",
        "last_error_short",
    )
    list_select_related = ("connection", "connection__organisation")
    readonly_fields = (
        "connection",
        "last_full_sweep_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "alert_raised_at",
    )

    @admin.display(description="Health")
    def health(self, obj: PollCursor) -> str:
        """Live, by the same rule as the banner and /healthz (selectors.poll_health),
        not from whether a scheduled check has raised the alert."""
        found = [
            h
            for h in selectors.poll_health(pcn_ids=[obj.connection.organisation_id])
            if h.connection_id == obj.connection_id
        ]
        if not found:
            return format_html('<span class="hippo-badge hippo-badge--grey">{}</span>', "Not live")
        if not found[0].healthy:
            return format_html(
                '<span class="hippo-badge hippo-badge--red">{}</span>', "Not polling"
            )
        return format_html('<span class="hippo-badge hippo-badge--green">{}</span>', "OK")

    @admin.display(description="Last error")
    def last_error_short(self, obj: PollCursor) -> str:
        return obj.last_error[:120]


@admin.register(PollRun)
class PollRunAdmin(TenantScopedAdmin):
    tenant_field = "connection__organisation"
    list_display = (
        "connection",
        "started_at",
        "status",
        "reading",
        "emis_calls",
        "task_changes",
        "notes",
    )
    list_filter = ("status", "full_sweep")
    list_select_related = ("connection", "connection__organisation")
    readonly_fields = [f.name for f in PollRun._meta.fields]

    @admin.display(description="Sessions read")
    def reading(self, obj: PollRun) -> str:
        kind = "full sweep" if obj.full_sweep else "changed only"
        return f"{obj.sessions_fetched:,} of {obj.sessions_listed:,} ({kind})"

    @admin.display(description="Tasks")
    def task_changes(self, obj: PollRun) -> str:
        parts = [
            (obj.created, "new"),
            (obj.cancelled, "cancelled"),
            (obj.moved, "re-dated"),
            (obj.updated, "updated"),
        ]
        changed = [f"{count:,} {label}" for count, label in parts if count]
        return ", ".join(changed) or "no change"

    @admin.display(description="Error or warnings")
    def notes(self, obj: PollRun) -> str:
        if obj.error:
            return obj.error[:160]
        lines = obj.warnings.count("\n") + 1 if obj.warnings else 0
        return f"{lines} warning{'s' if lines != 1 else ''}" if lines else ""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
