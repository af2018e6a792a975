from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from hippo_pcn.admin_site import TenantScopedAdmin
from hippo_pcn.organisations.selectors import user_is_support

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(TenantScopedAdmin):
    """Read-only for everyone, support included: the log is append-only."""

    list_display = ("created_at", "actor_label", "action", "object_repr", "organisation")
    list_filter = ("action", ("organisation", admin.RelatedOnlyFieldListFilter))
    search_fields = ("actor_label", "action", "object_repr", "object_id")
    list_select_related = ("organisation",)
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "actor_label",
        "action",
        "content_type",
        "object_id",
        "object_repr",
        "organisation",
        "details_pretty",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        qs = super().get_queryset(request)
        if not user_is_support(user=request.user):
            qs = qs.filter(organisation__isnull=False)
        return qs

    @admin.display(description="Details")
    def details_pretty(self, obj: AuditEntry) -> str:
        return format_html(
            "<pre class='hippo-json'>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True)
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
