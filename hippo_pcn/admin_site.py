"""hippo-pcn's admin site and the tenancy rules every ModelAdmin builds on.

Access is by role, not by Django's per-model permissions: support (superusers and
the `support` group) may do everything; other staff see what
`organisations_for_user` allows, read-only unless a ModelAdmin says otherwise.
Objects of another organisation are a 404, never a redirect or a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.selectors import (
    organisations_for_user,
    user_has_staff_access,
    user_is_support,
)

_View = TypeVar("_View", bound=Callable[..., Any])


class HippoAdminSite(admin.AdminSite):
    site_header = "hippo-pcn"
    site_title = "hippo-pcn admin"
    index_title = "Administration"
    enable_nav_sidebar = False

    def has_permission(self, request: HttpRequest) -> bool:
        return user_has_staff_access(user=request.user)

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Every view of a ModelAdmin the user may not use at all (support-only
        models, for everyone else) is a 404: the changelist, add, change, delete and
        history pages alike, whether the id exists or not. Answering 403 for ids that
        exist and a redirect for ids that don't would let staff enumerate them."""
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, admin.ModelAdmin):
            return super().admin_view(view, cacheable)

        def hidden_unless_allowed(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not model_admin_usable_by(model_admin, request):
                raise Http404("The requested admin page does not exist.")
            return view(request, *args, **kwargs)

        guarded = cast(_View, update_wrapper(hidden_unless_allowed, view))
        return super().admin_view(guarded, cacheable)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The admin index, with what each app adds to it (`register_index_panel`:
        tracing adds a panel per PCN the user can see). The project never imports
        the apps for it."""
        context = dict(extra_context or {})
        for panel in _INDEX_PANELS:
            context.update(panel(request))
        return super().index(request, context)

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """One sign-in page for the whole service: the staff login. A signed-in
        user without admin access goes home, which explains why (no loop)."""
        if request.user.is_authenticated:
            return HttpResponseRedirect(resolve_url("home"))
        next_url = request.GET.get("next") or resolve_url("admin:index")
        query = urlencode({"next": next_url})
        return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?{query}")


IndexPanel = Callable[[HttpRequest], dict[str, Any]]
_INDEX_PANELS: list[IndexPanel] = []


def register_index_panel(panel: IndexPanel) -> None:
    """Add to the admin index: `panel(request)` returns template context (the
    template, templates/admin/index.html, shows it)."""
    if panel not in _INDEX_PANELS:
        _INDEX_PANELS.append(panel)


def model_admin_usable_by(model_admin: admin.ModelAdmin, request: HttpRequest) -> bool:
    """May the user use this ModelAdmin at all (view, change, add or delete)? The
    same question the admin index asks to decide whether to list the model."""
    return any(model_admin.get_model_perms(request).values())


class NotFoundForHiddenObjectsMixin:
    """An object the user may not see answers 404 on its change, delete and history
    pages, exactly as a missing one does, instead of Django's "perhaps it was
    deleted" redirect: ids cannot be probed. `get_queryset` decides what is hidden."""

    _missing_message = "No such record, or it belongs to another organisation."

    def _object_or_404(self, request: HttpRequest, object_id: str) -> Any:
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is None:
            raise Http404(self._missing_message)
        return obj

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        self._object_or_404(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._object_or_404(request, object_id)
        return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._object_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)  # type: ignore[misc]


class TenantScopedAdmin(NotFoundForHiddenObjectsMixin, admin.ModelAdmin):
    """Scopes a ModelAdmin to the user's organisations.

    `tenant_field` is the lookup path from the model to its Organisation
    ("organisation", "booking__practice", ...). Support sees everything.
    """

    tenant_field: str = "organisation"
    show_full_result_count = False

    # --- scoping -----------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if user_is_support(user=request.user):
            return qs
        orgs = organisations_for_user(user=request.user)
        return qs.filter(**{f"{self.tenant_field}__in": orgs})

    def scoped_organisations(self, request: HttpRequest) -> QuerySet[Organisation]:
        return organisations_for_user(user=request.user)

    def action_checkbox(self, obj: Any) -> SafeString:
        """Each row's checkbox for the actions: the markup Django's own renders,
        without rendering a widget's templates per row (at 100 rows a page that
        was about a third of the worklist's server time)."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            gettext("Select this object for an action - {}").format(obj),
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Organisation:
            kwargs["queryset"] = self.scoped_organisations(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- role-based permissions -------------------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_has_staff_access(user=request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has_staff_access(user=request.user)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return user_is_support(user=request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_support(user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_support(user=request.user)


class SupportOnlyAdminMixin:
    """For models only the support team manages (users, groups, the sandbox). Every
    other user gets a 404 for all of its pages (HippoAdminSite.admin_view)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_is_support(user=request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_support(user=request.user)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return user_is_support(user=request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_support(user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_support(user=request.user)
