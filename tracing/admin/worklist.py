"""The tracing worklist in Django admin: PCN staff's daily tool. The list (its
columns, scope and search), the task's page with its history, and the tracing
dashboard's page. Its filters are in `filters`, its actions in `actions`."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from hippo_pcn.admin_site import TenantScopedAdmin
from hippo_pcn.organisations.selectors import user_is_support

from .. import selectors
from ..history import tracing_task_history_lines, tracing_task_title, user_name
from ..models import TaskStatus, TracingTask
from ..services.actions import (
    tracing_task_may_act,
    tracing_task_refusal,
    user_may_act_on_tracing,
)
from . import actions as task_actions
from .display import STATUS_COLOURS, _local
from .filters import (
    DueFilter,
    OwnerFilter,
    PcnFilter,
    PracticeFilter,
    SiteFilter,
    SourceFilter,
    StatusFilter,
)


@admin.register(TracingTask)
class TracingTaskAdmin(TenantScopedAdmin):
    list_display = (
        "patient",
        "nhs_number",
        "registered_practice_display",
        "appointment",
        "due",
        "status_badge",
        "claimed_by_display",
    )
    list_display_links = ("patient",)
    list_filter = (
        StatusFilter,
        DueFilter,
        PcnFilter,
        OwnerFilter,
        SiteFilter,
        SourceFilter,
        PracticeFilter,
    )
    search_fields = ("patient_family_name", "patient_given_name")
    search_help_text = "Search by NHS number (with or without spaces) or the patient's name."
    list_select_related = ("claimed_by",)
    list_per_page = 100
    ordering = ("due_at", "id")
    show_full_result_count = False
    actions = task_actions.WORKLIST_ACTIONS
    fieldsets = (
        (
            "Patient",
            {
                "fields": (
                    "patient_display",
                    "nhs_number",
                    "patient_birth_date",
                    "patient_gender",
                    "registered_practice_display",
                )
            },
        ),
        (
            "Appointment",
            {
                "fields": (
                    "appointment",
                    "practitioner",
                    "service",
                    "emis_slot_status",
                    "emis_appointment_id",
                    "booking_org_ods",
                    "source",
                )
            },
        ),
        (
            "Tracing",
            {
                "fields": (
                    "status_badge",
                    "owner_name",
                    "due",
                    "claimed_by_display",
                    "claimed_at",
                    "done_by_name",
                    "done_at",
                    "cannot_trace_reason",
                    "cannot_trace_note",
                    "verified_at",
                    "verification_note",
                )
            },
        ),
    )
    # Every field shown is read-only: tasks change only through the actions.
    readonly_fields = tuple(
        name for _, section in fieldsets for name in cast(tuple[str, ...], section["fields"])
    )

    # --- scope ---------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Only what the list shows (claimed by). Joining the owner as well led
        # PostgreSQL, at 250,000 tasks, to walk the owner index to feed a merge
        # join instead of reading the PCN's open tasks by due time.
        return selectors.tracing_tasks_for_user(user=request.user).select_related("claimed_by")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        return selectors.tracing_tasks_search(queryset=queryset, term=search_term), False

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # tasks come from bookings and the poller

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the actions change tasks, through services

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # tasks are the audit trail of tracing

    # --- columns -------------------------------------------------------------------------
    @admin.display(description="Patient", ordering="patient_family_name")
    def patient(self, obj: TracingTask) -> str:
        name = f"{obj.patient_family_name.upper()}, {obj.patient_given_name}".strip(", ")
        return name or f"Appointment {obj.emis_appointment_id}"

    @admin.display(description="Patient")
    def patient_display(self, obj: TracingTask) -> str:
        return self.patient(obj)

    @admin.display(description="NHS number", ordering="patient_nhs_number")
    def nhs_number(self, obj: TracingTask) -> str:
        if not obj.has_nhs_number:
            label = (
                "NHS number not yet known (asked of EMIS again at each poll)"
                if obj.emis_patient_number is not None and obj.is_active
                else "No NHS number"
            )
            return format_html('<span class="hippo-badge hippo-badge--red">{}</span>', label)
        return obj.nhs_number_display

    @admin.display(description="Registered practice", ordering="registered_practice_name")
    def registered_practice_display(self, obj: TracingTask) -> str:
        name = obj.registered_practice_name or "Unknown practice"
        return f"{name} ({obj.registered_practice_ods})" if obj.registered_practice_ods else name

    @admin.display(description="Appointment", ordering="appointment_start")
    def appointment(self, obj: TracingTask) -> str:
        text = f"{_local(obj.appointment_start)} · {obj.site_name or 'site not given'}"
        if obj.is_within_24h(timezone.now()):
            return format_html(
                '<span class="hippo-due-soon" '
                'title="Appointment within 24 hours and not traced yet">{}</span>',
                text,
            )
        return text

    @admin.display(description="Due", ordering="due_at")
    def due(self, obj: TracingTask) -> str:
        text = _local(obj.due_at)
        if obj.is_overdue(timezone.now()):
            return format_html(
                '<strong class="hippo-overdue" title="Overdue">{} (overdue)</strong>', text
            )
        return text

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: TracingTask) -> str:
        return format_html(
            '<span class="hippo-badge hippo-badge--{}">{}</span>',
            STATUS_COLOURS.get(TaskStatus(obj.status), "grey"),
            TaskStatus(obj.status).label.split(" (")[0],
        )

    # Names, not links: the people who read the worklist may not open the user or
    # organisation admin pages (support-only users are a 404 for everyone else).
    @admin.display(description="Claimed by", ordering="claimed_by__username")
    def claimed_by_display(self, obj: TracingTask) -> str:
        if obj.claimed_by is None:
            return "–"
        return user_name(obj.claimed_by)

    @admin.display(description="Owner")
    def owner_name(self, obj: TracingTask) -> str:
        return obj.owner.name

    @admin.display(description="Done by")
    def done_by_name(self, obj: TracingTask) -> str:
        return "–" if obj.done_by is None else user_name(obj.done_by)

    # --- changelist: poll health of the user's PCNs ------------------------------------------
    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if user_is_support(user=request.user):
            health = [h for h in selectors.poll_health() if not h.healthy]
        else:
            pcn_ids = list(selectors.pcns_for_user(user=request.user).values_list("pk", flat=True))
            health = selectors.poll_health(pcn_ids=pcn_ids) if pcn_ids else []
        context = {**(extra_context or {}), "poll_health": health}
        return super().changelist_view(request, context)

    # --- change page: the task, named by patient and appointment, and its history ------------
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        task = self._object_or_404(request, object_id)
        title = tracing_task_title(task=task)
        context = {
            **(extra_context or {}),
            "title": title,
            "subtitle": None,
            "task_title": title,
            "task_history_lines": tracing_task_history_lines(task=task),
        }
        if not tracing_task_may_act(task=task, user=request.user):
            context["task_refusal"] = tracing_task_refusal(task=task, named=False)
        return super().change_view(request, object_id, form_url, context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The task's history is on its page, in words; Django's own history (of
        admin edits, which tasks never have) would be empty."""
        task = self._object_or_404(request, object_id)
        return HttpResponseRedirect(
            f"{reverse('admin:tracing_tracingtask_change', args=[task.pk])}#task-history"
        )

    # --- actions (tracing/admin/actions.py) ----------------------------------------------
    TASK_ACTIONS = task_actions.TASK_ACTIONS

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """Only actions the user could take: practice staff under a PCN-led policy
        see the tasks their practice booked, but cannot act on them."""
        actions = super().get_actions(request)
        if not user_may_act_on_tracing(user=request.user):
            for name in self.TASK_ACTIONS:
                actions.pop(name, None)
        return actions

    # --- the dashboard -------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        dashboard = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="tracing_dashboard",
        )
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Tracing dashboard",
            "opts": self.model._meta,
            "panels": selectors.tracing_dashboard(user=request.user),
        }
        return TemplateResponse(request, "admin/tracing/dashboard.html", context)
