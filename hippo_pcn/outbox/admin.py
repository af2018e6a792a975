"""The outbox in the admin: support only, read-only, with the unpublished count,
the oldest unpublished row's age, and a "publish now" action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html

from hippo_pcn.admin_site import SupportOnlyAdminMixin

from .models import OutboxMessage
from .selectors import outbox_stats
from .services import outbox_publish_now


class PublishedFilter(admin.SimpleListFilter):
    """Unpublished first: what support needs to see."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("", "Unpublished"), ("published", "Published"), ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "") == value,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value} if value else {}, [self.parameter_name]
                ),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "published":
            return queryset.filter(published_at__isnull=False)
        if value == "all":
            return queryset
        return queryset.filter(published_at__isnull=True)


def _when(value: Any) -> str:
    if not value:
        return "—"
    return timezone.localtime(value).strftime("%d %b %Y %H:%M:%S")


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{seconds // 60} minutes"
    return f"{seconds // 3600} hours"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(SupportOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "task", "created", "state_badge", "attempts", "next_try", "last_error")
    list_filter = (PublishedFilter, "task")
    search_fields = ("task", "dedupe_key")
    show_full_result_count = False
    actions = ["publish_now"]
    fields = (
        "task",
        "args",
        "kwargs",
        "dedupe_key",
        "task_id",
        "created_at",
        "available_at",
        "published_at",
        "attempts",
        "last_error",
    )
    readonly_fields = fields

    @admin.display(description="Written", ordering="created_at")
    def created(self, obj: OutboxMessage) -> str:
        return _when(obj.created_at)

    @admin.display(description="Next try")
    def next_try(self, obj: OutboxMessage) -> str:
        return "—" if obj.is_published else _when(obj.available_at)

    @admin.display(description="State")
    def state_badge(self, obj: OutboxMessage) -> str:
        if obj.is_published:
            return format_html(
                '<span class="hippo-badge hippo-badge--green">Published {}</span>',
                _when(obj.published_at),
            )
        if obj.last_error:
            return format_html(
                '<span class="hippo-badge hippo-badge--red">{}</span>', "Broker error: retrying"
            )
        return format_html('<span class="hippo-badge hippo-badge--blue">{}</span>', "Waiting")

    @admin.action(description="Publish now")
    def publish_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        ids = list(queryset.filter(published_at__isnull=True).values_list("pk", flat=True))
        if not ids:
            self.message_user(request, "Nothing to publish: those are published already.")
            return
        result = outbox_publish_now(ids=ids)
        if result.failed:
            self.message_user(
                request,
                f"{result.published} published; {result.failed} not accepted by the broker "
                f"({result.error}). The relay keeps trying.",
                messages.WARNING,
            )
        else:
            self.message_user(request, f"{result.published} published.", messages.SUCCESS)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        stats = outbox_stats()
        oldest = stats.oldest_age
        context = {
            **(extra_context or {}),
            "outbox_stats": stats,
            "outbox_oldest_age": _age(oldest.total_seconds()) if oldest is not None else "",
        }
        return super().changelist_view(request, context)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
