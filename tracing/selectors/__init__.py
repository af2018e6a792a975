"""Reads for tracing, by sub-domain: which tasks a user sees and the worklist's
filters (`tasks`), the PCN's policy (`policies`), the poller's health (`health`)
and the dashboard (`dashboard`). Every public name is importable from here."""

from ..planning import task_owner
from .dashboard import (
    CHART_BAR_WIDTH,
    CHART_BOTTOM,
    CHART_GAP,
    CHART_LEFT,
    CHART_PLOT_HEIGHT,
    CHART_TOP,
    DayBar,
    PcnPanel,
    _median_hours,
    tracing_dashboard,
)
from .health import (
    PollHealth,
    live_pcn_connection_ids,
    poll_alerts_raised,
    poll_health,
    poll_health_summary,
)
from .policies import policy_for_pcn, policy_view, tracing_policy_warning
from .tasks import (
    _DUE_RULES,
    ALL_STATUSES,
    TASK_DUE_CHOICES,
    _user_pk,
    pcns_administered_by,
    pcns_for_user,
    task_history,
    tracing_tasks_due,
    tracing_tasks_filtered,
    tracing_tasks_for_user,
    tracing_tasks_matching,
    tracing_tasks_search,
    tracing_tasks_with_status,
)

__all__ = [
    "task_owner",
    "CHART_BAR_WIDTH",
    "CHART_BOTTOM",
    "CHART_GAP",
    "CHART_LEFT",
    "CHART_PLOT_HEIGHT",
    "CHART_TOP",
    "DayBar",
    "PcnPanel",
    "_median_hours",
    "tracing_dashboard",
    "PollHealth",
    "live_pcn_connection_ids",
    "poll_alerts_raised",
    "poll_health",
    "poll_health_summary",
    "policy_for_pcn",
    "policy_view",
    "tracing_policy_warning",
    "_DUE_RULES",
    "ALL_STATUSES",
    "TASK_DUE_CHOICES",
    "_user_pk",
    "pcns_administered_by",
    "pcns_for_user",
    "task_history",
    "tracing_tasks_due",
    "tracing_tasks_filtered",
    "tracing_tasks_for_user",
    "tracing_tasks_matching",
    "tracing_tasks_search",
    "tracing_tasks_with_status",
]
