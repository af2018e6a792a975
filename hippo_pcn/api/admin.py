"""API tokens for support: every user's tokens (never a secret: only a digest is
stored), with "Revoke" as the one change."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from hippo_pcn.admin_site import NotFoundForHiddenObjectsMixin, SupportOnlyAdminMixin

from . import services
from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(SupportOnlyAdminMixin, NotFoundForHiddenObjectsMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "starts_with",
        "created_at",
        "expires_at",
        "last_used_at",
        "state",
    )
    list_select_related = ("user",)
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "user__username", "key_id")
    raw_id_fields = ("user", "revoked_by")
    show_full_result_count = False
    fields = (
        "name",
        "user",
        "starts_with",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
        "state",
    )
    readonly_fields = fields
    actions = ["revoke_tokens"]

    @admin.display(description="Starts with")
    def starts_with(self, obj: ApiToken) -> str:
        return f"hpcn_{obj.key_id}"

    @admin.display(description="Status")
    def state(self, obj: ApiToken) -> str:
        return obj.status()

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(
            services.api_token_revoke(token=token, actor=request.user)
            for token in queryset.select_related("user")
        )
        self.message_user(
            request,
            f"{revoked} token{'s' if revoked != 1 else ''} revoked; they no longer work.",
            messages.SUCCESS,
        )
