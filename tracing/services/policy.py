"""A PCN's tracing policy: changing it re-plans the open tasks."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from hippo_pcn.audit.services import (
    audit_record,
)
from hippo_pcn.organisations.models import Organisation

from ..models import (
    ACTIVE_STATUSES,
    TracingPolicy,
    TracingTask,
)
from ..planning import plan_due, task_owner
from ..selectors import policy_view
from .actions import TracingActionError

logger = logging.getLogger(__name__)

# --- policy ---------------------------------------------------------------------------


def tracing_tasks_replan(*, pcn: Organisation, policy: TracingPolicy) -> int:
    """Re-plan owner and due time of the PCN's open and claimed tasks under
    `policy`, from when each was found. Returns how many changed."""
    tasks = list(
        TracingTask.objects.filter(pcn=pcn, status__in=ACTIVE_STATUSES).select_related(
            "booking_organisation", "registered_practice"
        )
    )
    view = policy_view(policy)
    changed: list[TracingTask] = []
    for task in tasks:
        owner = task_owner(
            policy=policy,
            pcn=pcn,
            booking_organisation=task.booking_organisation,
            registered_practice=task.registered_practice,
        )
        due = plan_due(
            policy=view, found_at=task.created_at, appointment_start=task.appointment_start
        )
        if owner.pk != task.owner_id or due != task.due_at:
            task.owner = owner
            task.due_at = due
            changed.append(task)
    TracingTask.objects.bulk_update(changed, ["owner", "due_at"], batch_size=1000)
    return len(changed)


@transaction.atomic
def tracing_policy_update(*, policy: TracingPolicy, user: Any) -> int:
    """Save a PCN's policy (as edited) and re-plan its open tasks. Returns how
    many tasks were re-planned."""
    if policy.pcn_id is None or not policy.pcn.is_pcn:
        raise TracingActionError("A tracing policy belongs to a PCN.")
    policy.updated_by = user
    policy.full_clean()
    policy.save()
    replanned = tracing_tasks_replan(pcn=policy.pcn, policy=policy)
    audit_record(
        actor=user,
        action="tracing_policy.updated",
        target=policy,
        organisation=policy.pcn,
        details={
            "mode": policy.mode,
            "batch_time": policy.batch_time,
            "batch_weekday": policy.batch_weekday,
            "practice_working_hours": policy.practice_working_hours,
            "auto_verify": policy.auto_verify,
            "allow_register_at_pcn": policy.allow_register_at_pcn,
            "tasks_replanned": replanned,
        },
    )
    return replanned
