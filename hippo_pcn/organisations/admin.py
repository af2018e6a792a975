from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from hippo_pcn.accounts import services as accounts_services
from hippo_pcn.accounts.selectors import sign_in_security_summary
from hippo_pcn.admin_site import (
    NotFoundForHiddenObjectsMixin,
    SupportOnlyAdminMixin,
    TenantScopedAdmin,
)

from . import services
from .models import Membership, Organisation
from .selectors import organisations_administered_by, organisations_for_user, user_is_support

User = get_user_model()


class MemberPracticeInline(admin.TabularInline):
    model = Organisation
    fk_name = "pcn"
    fields = ("ods_code", "name")
    readonly_fields = ("ods_code", "name")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "member practice"
    verbose_name_plural = "member practices"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organisation]:
        return (
            super().get_queryset(request).filter(pk__in=organisations_for_user(user=request.user))
        )


@admin.register(Organisation)
class OrganisationAdmin(TenantScopedAdmin):
    tenant_field = "pk"
    list_display = ("name", "ods_code", "kind", "phone", "pcn", "member_count")
    list_filter = ("kind", ("pcn", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "ods_code")
    ordering = ("name",)
    list_select_related = ("pcn",)
    autocomplete_fields = ("pcn",)
    fields = ("kind", "ods_code", "name", "phone", "pcn", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organisation]:
        return super().get_queryset(request).annotate(_members=Count("memberships", distinct=True))

    @admin.display(description="Staff memberships", ordering="_members")
    def member_count(self, obj: Organisation) -> int:
        return getattr(obj, "_members", 0)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("kind")
        if "pcn_name" in self.get_fields(request, obj):
            fields.append("pcn_name")
        return fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """A page the user may only read names its PCN in words when they may not
        open the PCN's own page (a read-only link would lead to a 404)."""
        fields = list(super().get_fields(request, obj))
        if (
            obj is not None
            and obj.pcn_id is not None
            and not self.has_change_permission(request, obj)
            and not organisations_for_user(user=request.user).filter(pk=obj.pcn_id).exists()
        ):
            fields = ["pcn_name" if name == "pcn" else name for name in fields]
        return fields

    @admin.display(description="PCN")
    def pcn_name(self, obj: Organisation) -> str:
        return f"{obj.pcn.name} ({obj.pcn.ods_code})" if obj.pcn else "–"

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        if obj is not None and obj.is_pcn:
            return [MemberPracticeInline]
        return []

    def save_model(self, request: HttpRequest, obj: Organisation, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.organisation_update(
                actor=request.user,
                organisation=obj,
                name=data["name"],
                ods_code=data["ods_code"],
                phone=data.get("phone", ""),
                pcn=data.get("pcn"),
            )
        else:
            created = services.organisation_create(
                actor=request.user,
                kind=data["kind"],
                ods_code=data["ods_code"],
                name=data["name"],
                phone=data.get("phone", ""),
                pcn=data.get("pcn"),
            )
            obj.pk = created.pk
            obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Organisations are referenced by audit history: they are never deleted.
        return False


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ("user", "user_full_name", "organisation", "role", "created_at")
    list_filter = ("role", "organisation__kind", ("organisation", admin.RelatedOnlyFieldListFilter))
    search_fields = (
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
        "organisation__name",
        "organisation__ods_code",
    )
    list_select_related = ("user", "organisation")
    ordering = ("organisation__name", "user__username")
    fields = ("user", "organisation", "role", "created_at")
    readonly_fields = ("created_at",)
    actions = ["delete_selected_memberships"]

    @admin.display(description="Name")
    def user_full_name(self, obj: Membership) -> str:
        return obj.user.get_full_name()

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not self.has_delete_permission(request):
            actions.pop("delete_selected_memberships", None)
        return actions

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Only support may open users' admin pages: everyone else sees the member
        named in words, not a link that would lead to a 404."""
        fields = list(super().get_fields(request, obj))
        if obj is not None and not user_is_support(user=request.user):
            fields = ["member" if name == "user" else name for name in fields]
        return fields

    @admin.display(description="User")
    def member(self, obj: Membership) -> str:
        name = obj.user.get_full_name()
        return f"{obj.user.get_username()} ({name})" if name else obj.user.get_username()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["user", "organisation"]
        if "member" in self.get_fields(request, obj):
            fields.append("member")
        return fields

    def scoped_organisations(self, request: HttpRequest) -> QuerySet[Organisation]:
        return organisations_administered_by(user=request.user)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user" and not user_is_support(user=request.user):
            visible = organisations_for_user(user=request.user)
            kwargs["queryset"] = (
                User.objects.filter(is_active=True, memberships__organisation__in=visible)
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _administers(self, request: HttpRequest, obj: Membership | None) -> bool:
        administered = organisations_administered_by(user=request.user)
        if obj is None:
            return administered.exists()
        return administered.filter(pk=obj.organisation_id).exists()

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._administers(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._administers(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._administers(request, obj)

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if change:
            services.membership_update(actor=request.user, membership=obj, role=obj.role)
        else:
            created = services.membership_create(
                actor=request.user, user=obj.user, organisation=obj.organisation, role=obj.role
            )
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.membership_delete(actor=request.user, membership=obj)

    @admin.action(description="Remove selected memberships")
    def delete_selected_memberships(
        self, request: HttpRequest, queryset: QuerySet[Membership]
    ) -> None:
        allowed = queryset.filter(organisation__in=organisations_administered_by(user=request.user))
        removed = 0
        for membership in allowed.select_related("organisation", "user"):
            services.membership_delete(actor=request.user, membership=membership)
            removed += 1
        self.message_user(request, f"Removed {removed} membership(s).")


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class HippoUserAdmin(SupportOnlyAdminMixin, NotFoundForHiddenObjectsMixin, UserAdmin):
    """Staff accounts, for support. Only superusers may see or change a superuser,
    make anyone a superuser, or put anyone in the support group: for other support
    members a superuser's pages (change, password, history, delete) are a 404."""

    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_superuser",
        "two_step_verification",
    )
    actions = ["reset_two_step_verification", "unlock_sign_in"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = (
            super()
            .get_queryset(request)
            .annotate(
                _has_mfa=Exists(TOTPDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True))
            )
        )
        if not request.user.is_superuser:
            qs = qs.filter(is_superuser=False)
        return qs

    @admin.display(description="Two-step verification", boolean=True, ordering="_has_mfa")
    def two_step_verification(self, obj: Any) -> bool:
        return bool(getattr(obj, "_has_mfa", False))

    @admin.display(description="Two-step verification and lockout")
    def sign_in_security(self, obj: Any) -> str:
        return sign_in_security_summary(user=obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Sign-in security", {"fields": ("sign_in_security",)})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [*super().get_readonly_fields(request, obj), "sign_in_security"]
        if not request.user.is_superuser:
            # Support-group members manage accounts but cannot hand out superuser
            # status, the support group or raw Django permissions.
            fields += ["is_superuser", "user_permissions", "groups", "is_staff"]
        return fields

    # --- a superuser's pages are a 404 for everyone else (get_queryset hides them)
    _missing_message = "No such user."

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        self._object_or_404(request, id)
        return super().user_change_password(request, id, form_url)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Superusers are not in a support member's queryset and is_superuser is
        # read-only for them; this holds even if a form is ever built another way.
        if not request.user.is_superuser and obj.is_superuser:
            raise PermissionDenied("Only a superuser may make or change a superuser.")
        super().save_model(request, obj, form, change)

    # --- sign-in security ---------------------------------------------------
    @admin.action(description="Reset two-step verification (lost phone)")
    def reset_two_step_verification(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        reset = 0
        for user in queryset:
            if accounts_services.mfa_reset(actor=request.user, user=user):
                reset += 1
        self.message_user(
            request,
            f"Reset two-step verification for {reset} user(s). They will set it up again "
            "the next time they sign in.",
        )

    @admin.action(description="Unlock sign-in (clear failed password attempts)")
    def unlock_sign_in(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        cleared = 0
        for user in queryset:
            cleared += accounts_services.signin_unlock(
                actor=request.user, username=user.get_username(), user=user
            )
        self.message_user(
            request,
            f"Unlocked sign-in for {queryset.count()} user(s); cleared {cleared} "
            "failed-attempt record(s).",
        )


@admin.register(Group)
class HippoGroupAdmin(SupportOnlyAdminMixin, GroupAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)
