"""The tracing worklist in Django admin: PCN staff's daily tool. Thin: every
action calls one service and reports in words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from hippo_pcn.admin_site import TenantScopedAdmin
from hippo_pcn.organisations.roles import OrganisationKind
from hippo_pcn.organisations.selectors import (
    organisations_for_user,
    user_has_staff_access,
    user_is_support,
)

from . import selectors, services
from .forms import CannotTraceForm
from .history import tracing_task_history_lines, tracing_task_title, user_name
from .models import (
    ACTIVE_STATUSES,
    PollCursor,
    PollRun,
    TaskSource,
    TaskStatus,
    TracingPolicy,
    TracingTask,
    TracingTaskQuerySet,
)
from .services.actions import (
    tracing_task_may_act,
    tracing_task_refusal,
    tracing_task_verify_now,
    tracing_tasks_actionable_by,
    user_may_act_on_tracing,
)

# Badge colour classes (static/css/admin.css: no inline styles under the CSP).
STATUS_COLOURS = {
    TaskStatus.OPEN: "blue",
    TaskStatus.CLAIMED: "purple",
    TaskStatus.TRACED: "green",
    TaskStatus.CANNOT_TRACE: "red",
    TaskStatus.NOT_NEEDED: "grey",
    TaskStatus.CANCELLED: "pale-grey",
}


def _local(value: datetime | None) -> str:
    if value is None:
        return "–"
    return f"{timezone.localtime(value):%a %d %b %H:%M}"


# --- filters ---------------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """Defaults to what tracers work on: open and claimed tasks."""

    title = "status"
    parameter_name = "status"
    DEFAULT = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (self.DEFAULT, "To do (open or claimed)"),
            ("mine", "Claimed by me"),
            *[(value, label) for value, label in TaskStatus.choices],
            ("all", "All"),
        ]

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        current = self.value() or self.DEFAULT
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value() or self.DEFAULT
        if value == self.DEFAULT:
            return queryset.filter(TracingTaskQuerySet.active_q())
        if value == "mine":
            return queryset.filter(status=TaskStatus.CLAIMED, claimed_by_id=request.user.pk)
        if value in TaskStatus.values:
            return queryset.filter(status=value)
        return queryset


class DueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("overdue", "Overdue"),
            ("today", "Due today"),
            ("week", "Due in the next 7 days"),
            ("soon", "Appointment within 24 hours"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # Overdue, due today and within 24 hours are TracingTaskQuerySet's rules,
        # the same ones the digest and the dashboard count.
        now = timezone.now()
        value = self.value()
        rules = TracingTaskQuerySet
        if value == "overdue":
            return queryset.filter(rules.overdue_q(now))
        if value == "today":
            return queryset.filter(rules.due_today_q(now))
        if value == "week":
            return queryset.filter(rules.due_within_week_q(now))
        if value == "soon":
            return queryset.filter(rules.within_24h_q(now))
        return queryset


class _OrganisationFilter(admin.SimpleListFilter):
    field = ""
    kinds: tuple[str, ...] = (OrganisationKind.PCN, OrganisationKind.PRACTICE)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        orgs = organisations_for_user(user=request.user).filter(kind__in=self.kinds)
        return [(str(pk), name) for pk, name in orgs.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(**{f"{self.field}_id": int(value)})
        return queryset


class OwnerFilter(_OrganisationFilter):
    title = "owner"
    parameter_name = "owner"
    field = "owner"


class PcnFilter(_OrganisationFilter):
    title = "PCN"
    parameter_name = "pcn"
    field = "pcn"
    kinds = (OrganisationKind.PCN,)


class PracticeFilter(_OrganisationFilter):
    title = "registered practice"
    parameter_name = "practice"
    field = "registered_practice"
    kinds = (OrganisationKind.PRACTICE,)


class SiteFilter(admin.SimpleListFilter):
    title = "site"
    parameter_name = "site"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sites = (
            selectors.tracing_tasks_for_user(user=request.user)
            .filter(status__in=ACTIVE_STATUSES)
            .exclude(site_name="")
            .order_by("site_name")
            .values_list("site_name", flat=True)
            .distinct()[:100]
        )
        return [(site, site) for site in sites]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(site_name=value) if value else queryset


class SourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(TaskSource.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(source=value) if value in TaskSource.values else queryset


# --- the worklist ----------------------------------------------------------------------


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
    actions = [
        "claim",
        "release",
        "mark_traced",
        "cannot_trace",
        "verify_now",
        "register_at_pcn",
    ]
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
    readonly_fields = (
        "patient_display",
        "nhs_number",
        "patient_birth_date",
        "patient_gender",
        "registered_practice_display",
        "appointment",
        "practitioner",
        "service",
        "emis_slot_status",
        "emis_appointment_id",
        "booking_org_ods",
        "source",
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

    # --- actions -------------------------------------------------------------------------
    TASK_ACTIONS = (
        "claim",
        "release",
        "mark_traced",
        "cannot_trace",
        "verify_now",
        "register_at_pcn",
    )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """Only actions the user could take: practice staff under a PCN-led policy
        see the tasks their practice booked, but cannot act on them."""
        actions = super().get_actions(request)
        if not user_may_act_on_tracing(user=request.user):
            for name in self.TASK_ACTIONS:
                actions.pop(name, None)
        return actions

    def _allowed(self, request: HttpRequest, queryset: QuerySet[TracingTask]) -> list[TracingTask]:
        """The selected tasks the user may act on. Each refused one is named in a
        message, grouped by owner, and nothing happens to it."""
        tasks = list(queryset.select_related("owner"))
        allowed_ids = set(
            tracing_tasks_actionable_by(
                user=request.user, queryset=TracingTask.objects.filter(pk__in=[t.pk for t in tasks])
            ).values_list("pk", flat=True)
        )
        refused: dict[str, list[str]] = {}
        for task in tasks:
            if task.pk not in allowed_ids:
                refused.setdefault(task.owner.name, []).append(task.patient_label)
        for owner, names in refused.items():
            one = len(names) == 1
            these = "this task belongs" if one else "these tasks belong"
            self.message_user(
                request,
                f"Nothing was done to {self._names(names)}: {these} to {owner}, "
                f"so only its staff can trace {'it' if one else 'them'}.",
                messages.WARNING,
            )
        return [task for task in tasks if task.pk in allowed_ids]

    @staticmethod
    def _names(names: list[str]) -> str:
        shown = names[:10]
        more = len(names) - len(shown)
        listed = ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]
        return f"{listed} and {more} more" if more else listed

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[TracingTask],
        do: Callable[[TracingTask], Any],
        done: str,
    ) -> None:
        count = 0
        for task in self._allowed(request, queryset):
            try:
                do(task)
            except services.TracingActionError as exc:
                self.message_user(request, exc.message, messages.WARNING)
            else:
                count += 1
        if count:
            noun = "task" if count == 1 else "tasks"
            self.message_user(request, f"{count} {noun} {done}.", messages.SUCCESS)

    @admin.action(description="Claim (I will trace these)")
    def claim(self, request: HttpRequest, queryset: QuerySet[TracingTask]) -> None:
        self._each(
            request,
            queryset,
            lambda task: services.tracing_task_claim(task=task, user=request.user),
            "claimed by you",
        )

    @admin.action(description="Release (back to the open list)")
    def release(self, request: HttpRequest, queryset: QuerySet[TracingTask]) -> None:
        self._each(
            request,
            queryset,
            lambda task: services.tracing_task_release(task=task, user=request.user),
            "released",
        )

    @admin.action(description="Mark traced")
    def mark_traced(self, request: HttpRequest, queryset: QuerySet[TracingTask]) -> None:
        self._each(
            request,
            queryset,
            lambda task: services.tracing_task_mark_traced(task=task, user=request.user),
            "marked traced",
        )

    @admin.action(description="Cannot trace…")
    def cannot_trace(
        self, request: HttpRequest, queryset: QuerySet[TracingTask]
    ) -> HttpResponse | None:
        form = CannotTraceForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._each(
                request,
                queryset,
                lambda task: services.tracing_task_cannot_trace(
                    task=task,
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                ),
                "recorded as cannot trace",
            )
            return None
        # Ask only about the tasks the user may act on; the others are named once,
        # when the form is first shown, and left alone.
        tasks = self._allowed(request, queryset) if "apply" not in request.POST else queryset
        if not tasks:
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Why can these patients not be traced?",
            "form": form,
            "queryset": tasks,
            "action": "cannot_trace",
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/tracing/cannot_trace.html", context)

    @admin.action(description="Verify now (ask the PCN's EMIS)")
    def verify_now(self, request: HttpRequest, queryset: QuerySet[TracingTask]) -> None:
        tasks = queryset.select_related("connection", "connection__organisation", "pcn")
        for task in self._allowed(request, tasks):
            try:
                outcome = tracing_task_verify_now(task=task, user=request.user)
            except services.TracingActionError as exc:
                self.message_user(request, exc.message, messages.WARNING)
            else:
                self.message_user(request, outcome.message, messages.SUCCESS)

    @admin.action(description="Register at PCN (temporary registration) and mark traced")
    def register_at_pcn(self, request: HttpRequest, queryset: QuerySet[TracingTask]) -> None:
        self._each(
            request,
            queryset.select_related("connection", "connection__organisation", "pcn"),
            lambda task: services.tracing_task_register_at_pcn(task=task, user=request.user),
            "registered at the PCN and marked traced",
        )

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


# --- policies --------------------------------------------------------------------------


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


# --- poll health -----------------------------------------------------------------------


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


# --- the admin index's tracing panels (registered in tracing/apps.py) ---------------------

INDEX_TRACING_PANELS = 6


def tracing_index_panels(request: HttpRequest) -> dict[str, Any]:
    """A panel per PCN the user can see on the admin index. Only the first few are
    computed (support can see hundreds), over the last 7 days."""
    if not user_has_staff_access(user=request.user):
        return {"tracing_panels": [], "tracing_panels_more": 0}
    panels = selectors.tracing_dashboard(user=request.user, days=7, limit=INDEX_TRACING_PANELS)
    more = 0
    if len(panels) == INDEX_TRACING_PANELS:
        more = max(selectors.pcns_for_user(user=request.user).count() - len(panels), 0)
    return {"tracing_panels": panels, "tracing_panels_more": more}
