"""Tracing's tables, one module per sub-domain:

* policies: each PCN's tracing policy;
* tasks: the worklist's tasks and the rules that sort them (one definition each,
  shared by the queryset filters and a task in memory);
* polling: the poller's cursor, runs and the snapshot it diffs against;
* digests: the scheduled digest's send-once mark.

Every public name stays importable from `tracing.models`."""

from .digests import DigestSent
from .policies import PolicyMode, TracingPolicy, Weekday
from .polling import (
    PollCursor,
    PollPatient,
    PollRun,
    PollRunStatus,
    PollSession,
    PollSlot,
)
from .tasks import (
    ACTIVE_STATUSES,
    APPOINTMENT_SOON,
    CannotTraceReason,
    TaskSource,
    TaskStatus,
    TaskTimeRule,
    TracingTask,
    TracingTaskQuerySet,
    due_today_rule,
    due_within_week_rule,
    end_of_london_day,
    overdue_rule,
    tracing_task_label,
    within_24h_rule,
)

__all__ = [
    "ACTIVE_STATUSES",
    "DigestSent",
    "APPOINTMENT_SOON",
    "CannotTraceReason",
    "PolicyMode",
    "PollCursor",
    "PollPatient",
    "PollRun",
    "PollRunStatus",
    "PollSession",
    "PollSlot",
    "TaskSource",
    "TaskStatus",
    "TaskTimeRule",
    "TracingPolicy",
    "TracingTask",
    "TracingTaskQuerySet",
    "Weekday",
    "due_today_rule",
    "due_within_week_rule",
    "end_of_london_day",
    "overdue_rule",
    "tracing_task_label",
    "within_24h_rule",
]
