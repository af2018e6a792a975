"""The worklist's filters and search, for the API: its query parameters, named
and worded as the worklist's filters in the admin (tracing/admin/filters.py),
and applied by the same selectors (tracing.selectors.tracing_tasks_filtered)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from ..models import TaskSource, TaskStatus, TracingTask
from ..selectors import ALL_STATUSES, TASK_DUE_CHOICES, tracing_tasks_filtered

DUE_CHOICES = TASK_DUE_CHOICES


MAX_ID = 2**63 - 1


def _choose(name: str, choices: list[tuple[str, str]]) -> dict[str, str]:
    values = ", ".join(value for value, _ in choices)
    return {"invalid_choice": f"Choose {name} from: {values}."}


def _id_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text=help_text,
        error_messages={"invalid": "Give the id as a whole number."},
    )


STATUS_CHOICES = [*TaskStatus.choices, (ALL_STATUSES, "All")]


class TracingTaskListQuerySerializer(serializers.Serializer):
    """The list's query parameters, named and worded as the worklist's filters."""

    status = serializers.MultipleChoiceField(
        choices=STATUS_CHOICES,
        required=False,
        help_text="Repeat to combine statuses; “all” for every status. "
        "Without it, the tasks still to do (open or claimed), like the worklist.",
        error_messages=_choose("a status", STATUS_CHOICES),
    )
    mine = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only the tasks claimed by me, as the worklist's “Claimed by me” "
        "(status is then not used).",
    )
    due = serializers.ChoiceField(
        choices=DUE_CHOICES,
        required=False,
        allow_blank=True,
        help_text="overdue: due time passed; today: due from now to midnight (London); "
        "week: due in the next 7 days; soon: appointment within 24 hours.",
        error_messages=_choose("when due", DUE_CHOICES),
    )
    owner = _id_field("The id of the organisation that owns the task.")
    pcn = _id_field("The PCN's id.")
    practice = _id_field("The id of the patient's registered practice.")
    site = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The appointment's site, by its full name.",
    )
    source = serializers.ChoiceField(
        choices=TaskSource.choices,
        required=False,
        allow_blank=True,
        error_messages=_choose("a source", TaskSource.choices),
    )
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="An NHS number (with or without spaces) or the start of the "
        "patient's given or family names.",
    )


def tracing_tasks_filter(
    *,
    queryset: QuerySet[TracingTask],
    params: dict[str, Any],
    user_id: int | None,
    now: datetime | None = None,
) -> QuerySet[TracingTask]:
    """Apply validated TracingTaskListQuerySerializer data, by the worklist's rules
    (the selectors behind StatusFilter, DueFilter, OwnerFilter, PcnFilter,
    PracticeFilter, SiteFilter, SourceFilter and the search)."""
    return tracing_tasks_filtered(
        queryset=queryset,
        user_id=user_id,
        statuses=params.get("status") or (),
        mine=bool(params.get("mine")),
        due=params.get("due"),
        owner_id=params.get("owner"),
        pcn_id=params.get("pcn"),
        practice_id=params.get("practice"),
        site=params.get("site"),
        source=params.get("source"),
        search=params.get("q") or "",
        now=now,
    )
