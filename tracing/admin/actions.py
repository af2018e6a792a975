"""The worklist's actions: claim, release, mark traced, can't trace, verify now
and register at the PCN. Thin: each calls one service per task the user may act
on, and reports in words; tasks of another owner are named and left alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .. import services
from ..forms import CannotTraceForm
from ..models import TracingTask
from ..services.actions import tracing_task_verify_now, tracing_tasks_actionable_by

# The actions only those who may act on tracing are offered (TracingTaskAdmin.get_actions).
TASK_ACTIONS = (
    "claim",
    "release",
    "mark_traced",
    "cannot_trace",
    "verify_now",
    "register_at_pcn",
)


def _names(names: list[str]) -> str:
    shown = names[:10]
    more = len(names) - len(shown)
    listed = ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]
    return f"{listed} and {more} more" if more else listed


def _allowed(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[TracingTask]
) -> list[TracingTask]:
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
        model_admin.message_user(
            request,
            f"Nothing was done to {_names(names)}: {these} to {owner}, "
            f"so only its staff can trace {'it' if one else 'them'}.",
            messages.WARNING,
        )
    return [task for task in tasks if task.pk in allowed_ids]


def _each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[TracingTask],
    do: Callable[[TracingTask], Any],
    done: str,
) -> None:
    count = 0
    for task in _allowed(model_admin, request, queryset):
        try:
            do(task)
        except services.TracingActionError as exc:
            model_admin.message_user(request, exc.message, messages.WARNING)
        else:
            count += 1
    if count:
        noun = "task" if count == 1 else "tasks"
        model_admin.message_user(request, f"{count} {noun} {done}.", messages.SUCCESS)


_Action = Callable[[admin.ModelAdmin, HttpRequest, QuerySet[TracingTask]], None]


def _per_task(
    name: str,
    description: str,
    service: Callable[..., Any],
    done: str,
    related: tuple[str, ...] = (),
) -> _Action:
    """An action that calls `service(task=..., user=...)` for each selected task
    the user may act on and says how many were `done`. `name` is the action's
    name in the form (Django takes it from the function's name)."""

    def action(
        model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[TracingTask]
    ) -> None:
        _each(
            model_admin,
            request,
            queryset.select_related(*related) if related else queryset,
            lambda task: service(task=task, user=request.user),
            done,
        )

    action.__name__ = action.__qualname__ = name
    return admin.action(description=description)(action)


claim = _per_task(
    "claim", "Claim (I will trace these)", services.tracing_task_claim, "claimed by you"
)
release = _per_task(
    "release", "Release (back to the open list)", services.tracing_task_release, "released"
)
mark_traced = _per_task(
    "mark_traced", "Mark traced", services.tracing_task_mark_traced, "marked traced"
)


@admin.action(description="Cannot trace…")
def cannot_trace(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[TracingTask]
) -> HttpResponse | None:
    form = CannotTraceForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        _each(
            model_admin,
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
    tasks = _allowed(model_admin, request, queryset) if "apply" not in request.POST else queryset
    if not tasks:
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Why can these patients not be traced?",
        "form": form,
        "queryset": tasks,
        "action": "cannot_trace",
        "opts": model_admin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/tracing/cannot_trace.html", context)


@admin.action(description="Verify now (ask the PCN's EMIS)")
def verify_now(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[TracingTask]
) -> None:
    tasks = queryset.select_related("connection", "connection__organisation", "pcn")
    for task in _allowed(model_admin, request, tasks):
        try:
            outcome = tracing_task_verify_now(task=task, user=request.user)
        except services.TracingActionError as exc:
            model_admin.message_user(request, exc.message, messages.WARNING)
        else:
            model_admin.message_user(request, outcome.message, messages.SUCCESS)


register_at_pcn = _per_task(
    "register_at_pcn",
    "Register at PCN (temporary registration) and mark traced",
    services.tracing_task_register_at_pcn,
    "registered at the PCN and marked traced",
    related=("connection", "connection__organisation", "pcn"),
)


# In the order the worklist's action menu lists them.
WORKLIST_ACTIONS = [claim, release, mark_traced, cannot_trace, verify_now, register_at_pcn]
