"""The tracing API: the worklist's tasks and actions, poll health and the
dashboard's figures. Thin: each view reads through the selectors the admin uses
(so a user sees exactly what the worklist shows them, and another
organisation's task is a 404) and writes through the services, which audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hippo_pcn.api.errors import ProblemError
from hippo_pcn.api.errors import problem_responses as problems
from hippo_pcn.organisations.models import Organisation

from ..history import tracing_task_history_lines
from ..models import TracingTask
from ..selectors import pcns_for_user, poll_health, tracing_dashboard, tracing_tasks_for_user
from ..services import (
    TracingActionError,
    tracing_task_cannot_trace,
    tracing_task_claim,
    tracing_task_mark_traced,
    tracing_task_release,
)
from ..services.actions import tracing_task_may_act, tracing_task_refusal, tracing_task_verify_now
from .filters import TracingTaskListQuerySerializer, tracing_tasks_filter
from .serializers import (
    CannotTraceSerializer,
    DashboardPanelSerializer,
    PollHealthSerializer,
    TracingTaskDetailSerializer,
    TracingTaskSerializer,
    VerifyResultSerializer,
)

TAGS = ["tracing"]
T = TypeVar("T")


READ_PROBLEMS = (400, 401, 403, 429)
ACTION_PROBLEMS = (401, 403, 404, 409, 429)


def _organisation_names(tasks: list[TracingTask]) -> dict[int, str]:
    """The owners' and PCNs' names for a page of tasks, in one query (joining the
    owner to every row slows the worklist's query at scale: see the admin)."""
    ids = {task.owner_id for task in tasks} | {task.pcn_id for task in tasks}
    if not ids:
        return {}
    return dict(Organisation.objects.filter(pk__in=ids).values_list("pk", "name"))


class TracingTaskViewSet(viewsets.GenericViewSet):
    """The tracing worklist as data."""

    serializer_class = TracingTaskSerializer
    ordering = ("due_at", "id")  # the worklist's order, and its indexes'

    def get_queryset(self) -> QuerySet[TracingTask]:
        tasks = tracing_tasks_for_user(user=self.request.user).select_related(
            "claimed_by", "done_by"
        )
        if self.detail:  # one task: what its page, its history and the actions read
            tasks = tasks.select_related("owner", "pcn", "connection", "connection__organisation")
        return tasks

    # --- reading ---------------------------------------------------------------------------

    @extend_schema(
        operation_id="tracing_tasks_list",
        summary="List tracing tasks",
        description="The worklist: by default the tasks still to do (open or claimed), "
        "soonest due first, with the worklist's filters and search.",
        parameters=[TracingTaskListQuerySerializer],
        responses={200: TracingTaskSerializer(many=True), **problems(*READ_PROBLEMS)},
        tags=TAGS,
    )
    def list(self, request: Request) -> Response:
        query = TracingTaskListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        tasks = tracing_tasks_filter(
            queryset=self.get_queryset(),
            params=query.validated_data,
            user_id=request.user.pk,
            now=now,
        )
        page = self.paginate_queryset(tasks)
        rows = list(page if page is not None else tasks)
        context = {
            **self.get_serializer_context(),
            "now": now,
            "organisation_names": _organisation_names(rows),
        }
        data = TracingTaskSerializer(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(
        operation_id="tracing_tasks_retrieve",
        summary="A tracing task and its history",
        description="The task as its page in the worklist shows it, its history in words, "
        "and whether you may act on it.",
        responses={200: TracingTaskDetailSerializer, **problems(401, 403, 404, 429)},
        tags=TAGS,
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(self._detail_data(self.get_object()))

    def _detail_data(self, task: TracingTask) -> Any:
        may_act = tracing_task_may_act(task=task, user=self.request.user)
        context = {
            **self.get_serializer_context(),
            "now": timezone.now(),
            "organisation_names": {task.owner_id: task.owner.name, task.pcn_id: task.pcn.name},
            "history": tracing_task_history_lines(task=task),
            "may_act": may_act,
            "refusal": None if may_act else tracing_task_refusal(task=task, named=False),
        }
        return TracingTaskDetailSerializer(task, context=context).data

    def _done(self, task: TracingTask) -> Any:
        """The task as it is now, after an action."""
        return self._detail_data(self.get_queryset().get(pk=task.pk))

    # --- actions ---------------------------------------------------------------------------

    def _actionable_task(self) -> TracingTask:
        """The task named in the URL, among those the user may see (else a 404),
        and theirs to act on: a task they can see but may not act on (practice
        staff and a PCN-owned task) is a 403 in words; nothing leaks."""
        task: TracingTask = self.get_object()
        if not tracing_task_may_act(task=task, user=self.request.user):
            raise ProblemError(
                status=403,
                title="Only the owner's staff can trace this task",
                detail=tracing_task_refusal(task=task, named=False),
            )
        return task

    @staticmethod
    def _run(title: str, do: Callable[[], T]) -> T:
        """Run a service; its refusal (TracingActionError) is a 409 in its words."""
        try:
            return do()
        except TracingActionError as exc:
            raise ProblemError(status=409, title=title, detail=exc.message) from exc

    @extend_schema(
        operation_id="tracing_task_claim",
        summary="Claim a task (I will trace it)",
        description="Of two people claiming at once, exactly one wins; the other gets "
        "a 409 saying who did.",
        request=None,
        responses={200: TracingTaskDetailSerializer, **problems(*ACTION_PROBLEMS)},
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="claim")
    def claim(self, request: Request, pk: str | None = None) -> Response:
        task = self._actionable_task()
        self._run(
            "The task could not be claimed",
            lambda: tracing_task_claim(task=task, user=request.user),
        )
        return Response(self._done(task))

    @extend_schema(
        operation_id="tracing_task_release",
        summary="Release a claimed task (back to the open list)",
        request=None,
        responses={200: TracingTaskDetailSerializer, **problems(*ACTION_PROBLEMS)},
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="release")
    def release(self, request: Request, pk: str | None = None) -> Response:
        task = self._actionable_task()
        self._run(
            "The task could not be released",
            lambda: tracing_task_release(task=task, user=request.user),
        )
        return Response(self._done(task))

    @extend_schema(
        operation_id="tracing_task_mark_traced",
        summary="Mark a task traced",
        description="An open task, or one claimed by you.",
        request=None,
        responses={200: TracingTaskDetailSerializer, **problems(*ACTION_PROBLEMS)},
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="mark-traced")
    def mark_traced(self, request: Request, pk: str | None = None) -> Response:
        task = self._actionable_task()
        self._run(
            "The task could not be marked traced",
            lambda: tracing_task_mark_traced(task=task, user=request.user),
        )
        return Response(self._done(task))

    @extend_schema(
        operation_id="tracing_task_cannot_trace",
        summary="Record that the patient cannot be traced",
        description="With a reason from the list, and a note (needed for “Other”).",
        request=CannotTraceSerializer,
        responses={200: TracingTaskDetailSerializer, **problems(400, *ACTION_PROBLEMS)},
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="cannot-trace")
    def cannot_trace(self, request: Request, pk: str | None = None) -> Response:
        task = self._actionable_task()
        body = CannotTraceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self._run(
            "“Cannot trace” could not be recorded",
            lambda: tracing_task_cannot_trace(
                task=task,
                user=request.user,
                reason=body.validated_data["reason"],
                note=body.validated_data["note"],
            ),
        )
        return Response(self._done(task))

    @extend_schema(
        operation_id="tracing_task_verify",
        summary="Verify now: ask the PCN's EMIS whether the patient is registered there",
        description="If the PCN's EMIS holds the patient, the task is not needed, with "
        "the evidence recorded; if not, it stays as it was.",
        request=None,
        responses={200: VerifyResultSerializer, **problems(*ACTION_PROBLEMS)},
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="verify")
    def verify(self, request: Request, pk: str | None = None) -> Response:
        task = self._actionable_task()
        outcome = self._run(
            "The PCN's EMIS could not be asked",
            lambda: tracing_task_verify_now(task=task, user=request.user),
        )
        return Response(
            {
                "registered": outcome.registered,
                "message": outcome.message,
                "task": self._done(task),
            }
        )


class PollHealthView(APIView):
    """Poll health of the live PCN connections the user may see."""

    pagination_class = None

    @extend_schema(
        operation_id="poll_health_list",
        summary="Poll health per live PCN connection",
        description="One entry per live EMIS Community connection of the PCNs you may "
        "see, by the same rule as the worklist's banner and /healthz.",
        responses={200: PollHealthSerializer(many=True), **problems(401, 403, 429)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        pcn_ids = list(pcns_for_user(user=request.user).values_list("pk", flat=True))
        health = poll_health(pcn_ids=pcn_ids) if pcn_ids else []
        return Response(PollHealthSerializer(health, many=True).data)


class TracingDashboardView(APIView):
    """The tracing dashboard's figures, per PCN the user may see."""

    pagination_class = None

    @extend_schema(
        operation_id="tracing_dashboard_list",
        summary="Tracing dashboard figures per PCN",
        description="The admin dashboard's figures: open, overdue, traced today, the "
        "share traced before the appointment, the median time to trace with what it "
        "counts from, tasks found and traced per day, and poll health.",
        responses={200: DashboardPanelSerializer(many=True), **problems(401, 403, 429)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        panels = tracing_dashboard(user=request.user)
        return Response(DashboardPanelSerializer(panels, many=True).data)
