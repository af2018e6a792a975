"""Tracing in Django admin, one module per part:

* `worklist`: the worklist (TracingTaskAdmin): its list, the task's page and
  history, the dashboard page;
* `filters`: the worklist's list filters, over the selectors the API uses too;
* `actions`: what tracers do from the list (claim, release, traced, can't trace,
  verify now, register at the PCN);
* `policies`: each PCN's tracing policy;
* `poll_health`: poll cursors and poll runs;
* `dashboard`: the admin index's tracing panels, kept for a minute;
* `display`: badge colours and local times.

Importing this package registers the ModelAdmins. Public names stay importable
from here."""

from .actions import TASK_ACTIONS, WORKLIST_ACTIONS
from .dashboard import INDEX_PANELS_CACHE_SECONDS, INDEX_TRACING_PANELS, tracing_index_panels
from .display import STATUS_COLOURS, _local
from .filters import (
    DueFilter,
    OwnerFilter,
    PcnFilter,
    PracticeFilter,
    SiteFilter,
    SourceFilter,
    StatusFilter,
    _OrganisationFilter,
)
from .policies import TracingPolicyAdmin
from .poll_health import PollCursorAdmin, PollRunAdmin
from .worklist import TracingTaskAdmin

__all__ = [
    "INDEX_PANELS_CACHE_SECONDS",
    "INDEX_TRACING_PANELS",
    "STATUS_COLOURS",
    "TASK_ACTIONS",
    "WORKLIST_ACTIONS",
    "DueFilter",
    "OwnerFilter",
    "PcnFilter",
    "PollCursorAdmin",
    "PollRunAdmin",
    "PracticeFilter",
    "SiteFilter",
    "SourceFilter",
    "StatusFilter",
    "TracingPolicyAdmin",
    "TracingTaskAdmin",
    "_OrganisationFilter",
    "_local",
    "tracing_index_panels",
]
