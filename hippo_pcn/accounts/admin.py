"""Sign-in security in the admin, for support only: failed sign-ins and lockouts
(django-axes), with an action that unlocks, and the log of successful sign-ins.

django-otp's own device admins are taken off the site: they show the secrets
that would let someone copy a user's authenticator. Support resets a user's
second factor from the user admin instead (see organisations/admin.py)."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from hippo_pcn.admin_site import SupportOnlyAdminMixin

from . import services

for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(AccessAttempt)
class SignInFailureAdmin(SupportOnlyAdminMixin, AccessAttemptAdmin):  # type: ignore[misc]
    """Failed sign-ins by username and address; "Locked out" once they reach the limit."""

    list_display = [
        "attempt_time",
        "username",
        "ip_address",
        "failures_since_start",
        "status",
        "user_agent",
    ]
    search_fields = ["username", "ip_address"]
    ordering = ["-attempt_time"]
    show_full_result_count = False
    actions = ["unlock_selected"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Unlocking is the audited action below, not a bare delete.
        return False

    @admin.action(description="Unlock: clear these failed sign-ins")
    def unlock_selected(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        pairs = set(queryset.values_list("username", "ip_address"))
        cleared = 0
        for username, ip_address in sorted(pairs, key=lambda p: (p[0] or "", p[1] or "")):
            cleared += services.signin_unlock(
                actor=request.user, username=username, ip_address=ip_address
            )
        self.message_user(
            request,
            f"Unlocked {len(pairs)} username and address pair(s); cleared {cleared} record(s).",
        )


@admin.register(AccessLog)
class SignInLogAdmin(SupportOnlyAdminMixin, AccessLogAdmin):  # type: ignore[misc]
    """Successful sign-ins and sign-outs."""

    ordering = ["-attempt_time"]
    show_full_result_count = False
    actions = None

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
