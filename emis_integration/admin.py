from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from hippo_pcn.admin_site import TenantScopedAdmin
from hippo_pcn.organisations.selectors import user_is_support

from . import services
from .forms import EmisConnectionAdminForm, ReasonForm, SupportOnboardingRequestForm
from .models import ConnectionStatus, EmisConnection, OnboardingRequest, OnboardingRequester
from .selectors import (
    SECRET_LABELS,
    connection_secrets_stored,
    onboarding_own_practices,
    onboarding_requests_for_user,
)

# Badge colour classes (static/css/admin.css: no inline styles under the CSP).
BADGE_COLOURS = {
    ConnectionStatus.REQUESTED: "grey",
    ConnectionStatus.IN_PROGRESS: "blue",
    ConnectionStatus.TESTING: "purple",
    ConnectionStatus.LIVE: "green",
    ConnectionStatus.SUSPENDED: "orange",
    ConnectionStatus.FAILED: "red",
    "open": "blue",
    "in_progress": "purple",
    "done": "green",
    "declined": "grey",
}


def badge(value: str, label: str) -> str:
    return format_html(
        '<span class="hippo-badge hippo-badge--{}">{}</span>',
        BADGE_COLOURS.get(value, "grey"),
        label,
    )


def _when(value: Any) -> str:
    if not value:
        return "—"
    return timezone.localtime(value).strftime("%d %b %Y %H:%M")


def ask_reason(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action: str,
    title: str,
    apply: Callable[[str], None],
) -> HttpResponse | None:
    """An admin action that needs a reason: show the reason form first, then
    `apply(reason)` once it is given (the reason goes to the audit log)."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        apply(form.cleaned_data["reason"])
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "action": action,
        "opts": model_admin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/emis_integration/reason_action.html", context)


@admin.register(EmisConnection)
class EmisConnectionAdmin(TenantScopedAdmin):
    form = EmisConnectionAdminForm
    list_display = (
        "organisation",
        "system",
        "status_badge",
        "last_success",
        "last_test",
        "last_error_short",
    )
    list_filter = ("status", "system")
    search_fields = ("organisation__name", "organisation__ods_code", "base_url")
    list_select_related = ("organisation",)
    ordering = ("organisation__name",)
    autocomplete_fields = ("organisation",)
    actions = [
        "test_connection",
        "mark_live",
        "suspend",
        "resume",
        "move_to_in_progress",
        "move_to_testing",
        "mark_failed",
    ]
    readonly_fields = (
        "system",
        "status_badge",
        "status_changed_at",
        "status_changed_by",
        "status_reason",
        "credentials_state",
        "last_success_at",
        "last_test_summary",
        "last_error",
        "last_error_at",
        "config_changed_at",
        "created_at",
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        endpoint = [
            "organisation",
            "base_url",
            "provider_ods_code",
            "asid_from",
            "asid_to",
            "sign_jwt",
        ]
        partner = ["partner_base_url"]
        if self.has_change_permission(request, obj):
            endpoint.append("client_secret")
            partner += ["partner_application_id", "partner_token"]
        else:
            # An API's base URL is not a page to open: shown as text, not a link.
            endpoint[endpoint.index("base_url")] = "base_url_text"
            partner = ["partner_base_url_text"]
        if obj is not None:
            endpoint.insert(1, "system")
        fieldsets: list[Any] = [("Endpoint (GP Connect: booking)", {"fields": endpoint})]
        if obj is None or obj.uses_partner_api:
            fieldsets.append(
                (
                    "Partner API (finding appointments)",
                    {
                        "fields": partner,
                        "description": (
                            "EMIS Community (PCN) connections only. GP Connect has no list "
                            "of the appointments made in EMIS, so hippo-pcn finds them "
                            "through the EMIS Partner API; a PCN connection cannot go live "
                            "without its base URL, application id and token."
                        ),
                    },
                )
            )
        if obj is not None:
            fieldsets += [
                (
                    "Status",
                    {
                        "fields": [
                            "status_badge",
                            "status_changed_at",
                            "status_changed_by",
                            "status_reason",
                            "credentials_state",
                        ]
                    },
                ),
                (
                    "Health",
                    {
                        "fields": [
                            "last_success_at",
                            "last_test_summary",
                            "last_error",
                            "last_error_at",
                            "config_changed_at",
                            "created_at",
                        ]
                    },
                ),
            ]
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("organisation")
        return [*fields, "base_url_text", "partner_base_url_text"]

    # --- display -----------------------------------------------------------------
    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: EmisConnection) -> str:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="FHIR base URL")
    def base_url_text(self, obj: EmisConnection) -> str:
        return obj.base_url or "—"

    @admin.display(description="Partner API base URL")
    def partner_base_url_text(self, obj: EmisConnection) -> str:
        return obj.partner_base_url or "—"

    @admin.display(description="Last successful call", ordering="last_success_at")
    def last_success(self, obj: EmisConnection) -> str:
        return _when(obj.last_success_at)

    @admin.display(description="Last test", ordering="last_test_at")
    def last_test(self, obj: EmisConnection) -> str:
        if obj.last_test_at is None:
            return "Not tested"
        outcome = "passed" if obj.last_test_ok else "failed"
        return f"{outcome}, {obj.last_test_latency_ms} ms, {_when(obj.last_test_at)}"

    @admin.display(description="Last test result")
    def last_test_summary(self, obj: EmisConnection) -> str:
        if obj.last_test_at is None:
            return "Not tested yet"
        return format_html(
            "{} · {} ms · {}<br>{}",
            badge(
                "live" if obj.last_test_ok else "failed", "Passed" if obj.last_test_ok else "Failed"
            ),
            obj.last_test_latency_ms,
            _when(obj.last_test_at),
            obj.last_test_message,
        )

    @admin.display(description="Last error")
    def last_error_short(self, obj: EmisConnection) -> str:
        if not obj.last_error:
            return "—"
        text = obj.last_error if len(obj.last_error) <= 90 else obj.last_error[:87] + "…"
        return f"{text} ({_when(obj.last_error_at)})"

    @admin.display(description="Credentials")
    def credentials_state(self, obj: EmisConnection) -> str:
        if not obj.has_credentials:
            return "None stored"
        stored = connection_secrets_stored(connection=obj)
        if stored is None:
            return "Stored, but they cannot be decrypted with the configured FERNET_KEYS"
        names = [SECRET_LABELS[name] for name, present in stored.items() if present]
        return f"Stored, encrypted: {', '.join(names)}" if names else "None stored"

    # --- saving through services -------------------------------------------------
    def save_model(
        self, request: HttpRequest, obj: EmisConnection, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        # Only what the form showed: a practice's change form has no Partner API part.
        shown = set(flatten_fieldsets(self.get_fieldsets(request, obj if change else None)))
        config = {name: data.get(name, "") for name in services.CONFIG_FIELDS if name in shown}
        secrets = {name: data.get(name) or "" for name in services.SECRET_FIELDS if name in shown}
        sign_jwt = bool(data.get("sign_jwt")) if "sign_jwt" in shown else None
        if change:
            services.connection_update_config(
                actor=request.user,
                connection=obj,
                client_secret=secrets.get("client_secret") or None,
                partner_application_id=secrets.get("partner_application_id") or None,
                partner_token=secrets.get("partner_token") or None,
                sign_jwt=sign_jwt,
                **config,
            )
        else:
            created = services.connection_create(
                actor=request.user,
                organisation=data["organisation"],
                sign_jwt=bool(sign_jwt),
                **secrets,
                **config,
            )
            obj.pk = created.pk
            obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # connections are suspended, never deleted: their history matters

    # --- actions -----------------------------------------------------------------
    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not user_is_support(user=request.user):
            return {}
        return super().get_actions(request)

    def _require_support(self, request: HttpRequest) -> None:
        if not user_is_support(user=request.user):
            raise PermissionDenied

    @admin.action(description="Test connection (calls EMIS)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[EmisConnection]) -> None:
        self._require_support(request)
        for connection in queryset.select_related("organisation"):
            result = services.connection_test(actor=request.user, connection=connection)
            level = messages.SUCCESS if result.ok else messages.ERROR
            verdict = "passed" if result.ok else "failed"
            self.message_user(
                request,
                f"{connection}: test {verdict} in {result.latency_ms} ms. {result.message}",
                level,
            )

    def _transition(
        self,
        request: HttpRequest,
        queryset: QuerySet[EmisConnection],
        to_status: str,
        reason: str = "",
    ) -> None:
        self._require_support(request)
        for connection in queryset.select_related("organisation"):
            try:
                services.connection_change_status(
                    actor=request.user, connection=connection, to_status=to_status, reason=reason
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{connection} is now {ConnectionStatus(to_status).label.lower()}.",
                    messages.SUCCESS,
                )

    @admin.action(description="Mark live (after a passed test)")
    def mark_live(self, request: HttpRequest, queryset: QuerySet[EmisConnection]) -> None:
        self._transition(request, queryset, ConnectionStatus.LIVE, "Marked live by support")

    @admin.action(description="Suspend…")
    def suspend(
        self, request: HttpRequest, queryset: QuerySet[EmisConnection]
    ) -> HttpResponse | None:
        self._require_support(request)
        return ask_reason(
            self,
            request,
            queryset,
            action="suspend",
            title="Suspend EMIS connections",
            apply=lambda reason: self._transition(
                request, queryset, ConnectionStatus.SUSPENDED, reason
            ),
        )

    @admin.action(description="Resume (back to live)")
    def resume(self, request: HttpRequest, queryset: QuerySet[EmisConnection]) -> None:
        self._transition(request, queryset, ConnectionStatus.LIVE, "Resumed by support")

    @admin.action(description="Move to in progress")
    def move_to_in_progress(self, request: HttpRequest, queryset: QuerySet[EmisConnection]) -> None:
        self._transition(request, queryset, ConnectionStatus.IN_PROGRESS)

    @admin.action(description="Move to testing")
    def move_to_testing(self, request: HttpRequest, queryset: QuerySet[EmisConnection]) -> None:
        self._transition(request, queryset, ConnectionStatus.TESTING)

    @admin.action(description="Mark failed…")
    def mark_failed(
        self, request: HttpRequest, queryset: QuerySet[EmisConnection]
    ) -> HttpResponse | None:
        self._require_support(request)
        return ask_reason(
            self,
            request,
            queryset,
            action="mark_failed",
            title="Mark EMIS connections failed",
            apply=lambda reason: self._transition(
                request, queryset, ConnectionStatus.FAILED, reason
            ),
        )


class OnboardingRequesterInline(admin.TabularInline):
    """Everyone who asked. Other staff see only their own practices' requesters:
    another practice's contacts and notes are for support."""

    model = OnboardingRequester
    fields = ("user", "practice", "contact_email", "notes", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OnboardingRequester]:
        qs = super().get_queryset(request).select_related("user", "practice")
        if user_is_support(user=request.user):
            return qs
        return qs.filter(practice__in=onboarding_own_practices(user=request.user))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


SUPPORT_REQUEST_FIELDS = ("pcn", "contact_name", "contact_email", "contact_phone", "notes")
# What practice and PCN staff see of a request: that it is open, since when, and
# whether their own practice has joined; never who raised it or their contact details.
STAFF_LIST_DISPLAY = ("pcn", "created_at", "status_badge", "own_practice_joined", "connection")
STAFF_FIELDS = (
    "pcn",
    "status",
    "status_note",
    "own_practice_joined",
    "connection",
    "created_at",
    "closed_at",
)
STAFF_SEARCH_FIELDS = ("pcn__name", "pcn__ods_code")


@admin.register(OnboardingRequest)
class OnboardingRequestAdmin(TenantScopedAdmin):
    list_display = (
        "pcn",
        "practice",
        "requested_by",
        "created_at",
        "status_badge",
        "requester_count",
        "connection",
    )
    list_filter = ("status",)
    search_fields = (
        "pcn__name",
        "pcn__ods_code",
        "practice__name",
        "practice__ods_code",
        "contact_name",
    )
    list_select_related = (
        "pcn",
        "practice",
        "requested_by",
        "connection",
        "connection__organisation",
    )
    ordering = ("-created_at",)
    inlines = [OnboardingRequesterInline]
    actions = ["start_onboarding", "decline"]
    fields = (
        "pcn",
        "practice",
        "requested_by",
        "contact_name",
        "contact_email",
        "contact_phone",
        "notes",
        "status",
        "status_note",
        "connection",
        "created_at",
        "closed_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OnboardingRequest]:
        own = OnboardingRequester.objects.filter(
            request=OuterRef("pk"), practice__in=onboarding_own_practices(user=request.user)
        )
        return onboarding_requests_for_user(user=request.user).annotate(own_joined=Exists(own))

    def get_list_display(self, request: HttpRequest) -> Any:
        if user_is_support(user=request.user):
            return self.list_display
        return STAFF_LIST_DISPLAY

    def get_search_fields(self, request: HttpRequest) -> Any:
        # A search on the contact's name would tell other staff whose request it is.
        if user_is_support(user=request.user):
            return self.search_fields
        return STAFF_SEARCH_FIELDS

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: OnboardingRequest) -> str:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="Your practice has joined", boolean=True)
    def own_practice_joined(self, obj: OnboardingRequest) -> bool | None:
        joined = getattr(obj, "own_joined", None)
        return None if joined is None else bool(joined)

    @admin.display(description="Requesters")
    def requester_count(self, obj: OnboardingRequest) -> int:
        return obj.requesters.count()

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        # Practices ask from the staff page; support may raise one for a PCN here.
        return user_is_support(user=request.user)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = SupportOnboardingRequestForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return SUPPORT_REQUEST_FIELDS
        if not user_is_support(user=request.user):
            return STAFF_FIELDS
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        if not user_is_support(user=request.user):
            return STAFF_FIELDS
        return self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: OnboardingRequest, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        created, _ = services.onboarding_request_raise(
            user=request.user,  # type: ignore[arg-type]
            pcn=data["pcn"],
            contact_name=data["contact_name"],
            contact_email=data["contact_email"],
            contact_phone=data.get("contact_phone", ""),
            notes=data.get("notes", ""),
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return  # nothing related to save: the service wrote the request and its requester

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not user_is_support(user=request.user):
            return {}
        return super().get_actions(request)

    @admin.action(description="Start onboarding (creates the PCN's connection)")
    def start_onboarding(self, request: HttpRequest, queryset: QuerySet[OnboardingRequest]) -> None:
        if not user_is_support(user=request.user):
            raise PermissionDenied
        for onboarding in queryset:
            try:
                connection = services.onboarding_request_start(
                    actor=request.user, request=onboarding
                )
            except ValidationError as exc:
                self.message_user(
                    request, f"{onboarding}: {' '.join(exc.messages)}", messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    f"{onboarding.pcn.name}: onboarding started; connection “{connection}” is "
                    f"{connection.get_status_display().lower()}. Fill in its endpoint, test it, then "
                    "mark it live.",
                    messages.SUCCESS,
                )

    @admin.action(description="Decline…")
    def decline(
        self, request: HttpRequest, queryset: QuerySet[OnboardingRequest]
    ) -> HttpResponse | None:
        if not user_is_support(user=request.user):
            raise PermissionDenied

        def apply(reason: str) -> None:
            for onboarding in queryset:
                try:
                    services.onboarding_request_decline(
                        actor=request.user, request=onboarding, reason=reason
                    )
                except ValidationError as exc:
                    self.message_user(
                        request, f"{onboarding}: {' '.join(exc.messages)}", messages.ERROR
                    )
                else:
                    self.message_user(request, f"{onboarding} declined.", messages.SUCCESS)

        return ask_reason(
            self,
            request,
            queryset,
            action="decline",
            title="Decline onboarding requests",
            apply=apply,
        )
