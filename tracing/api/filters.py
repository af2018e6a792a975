"""The worklist's filters and search, for the API: the same rules as the
filters in tracing/admin.py, taking validated query parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import serializers

from ..models import TaskSource, TaskStatus, TracingTask, TracingTaskQuerySet
from ..selectors import tracing_tasks_search

ALL_STATUSES = "all"
DUE_CHOICES = [
    ("overdue", "Overdue"),
    ("today", "Due today"),
    ("week", "Due in the next 7 days"),
    ("soon", "Appointment within 24 hours"),
]


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
    (StatusFilter, DueFilter, OwnerFilter, PcnFilter, PracticeFilter, SiteFilter,
    SourceFilter and the search)."""
    now = now or timezone.now()
    rules = TracingTaskQuerySet
    statuses = set(params.get("status") or ())
    if params.get("mine"):
        queryset = queryset.filter(status=TaskStatus.CLAIMED, claimed_by_id=user_id)
    elif not statuses:
        queryset = queryset.filter(rules.active_q())
    elif ALL_STATUSES not in statuses:
        queryset = queryset.filter(status__in=sorted(statuses))
    due = params.get("due")
    if due == "overdue":
        queryset = queryset.filter(rules.overdue_q(now))
    elif due == "today":
        queryset = queryset.filter(rules.due_today_q(now))
    elif due == "week":
        queryset = queryset.filter(rules.due_within_week_q(now))
    elif due == "soon":
        queryset = queryset.filter(rules.within_24h_q(now))
    for param, field in (
        ("owner", "owner_id"),
        ("pcn", "pcn_id"),
        ("practice", "registered_practice_id"),
        ("site", "site_name"),
        ("source", "source"),
    ):
        if params.get(param) not in (None, ""):
            queryset = queryset.filter(**{field: params[param]})
    if params.get("q"):
        queryset = tracing_tasks_search(queryset=queryset, term=params["q"])
    return queryset
