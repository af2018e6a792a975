"""Reads of a PCN's tracing policy and what it means for staff."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from hippo_pcn.organisations.models import Organisation

from ..models import (
    PolicyMode,
    TracingPolicy,
    TracingTask,
    Weekday,
)
from ..planning import PolicyView, batch_after_appointment


def policy_for_pcn(*, pcn: Organisation) -> TracingPolicy:
    """The PCN's policy, or the recommended default (PCN-led daily batch at 08:00)
    when the PCN has not chosen one yet."""
    policy = TracingPolicy.objects.filter(pcn=pcn).first()
    return policy if policy is not None else TracingPolicy(pcn=pcn)


def policy_view(policy: TracingPolicy) -> PolicyView:
    return PolicyView(
        mode=policy.mode,
        batch_time=policy.batch_time,
        batch_weekday=policy.batch_weekday,
        practice_working_hours=policy.practice_working_hours,
    )


def tracing_policy_warning(*, policy: TracingPolicy, now: datetime | None = None) -> str:
    """A warning in words when a weekly batch falls after most (or all) of the
    PCN's upcoming appointments still to trace, planned from when each was
    found as the re-plan does: those patients would be traced only on the day.
    Empty when there is nothing to warn about."""
    if policy.mode != PolicyMode.PCN_BATCH_WEEKLY:
        return ""
    now = now or timezone.now()
    view = policy_view(policy)
    upcoming = list(
        TracingTask.objects.active()
        .filter(pcn_id=policy.pcn_id, appointment_start__gt=now)
        .values_list("created_at", "appointment_start")
    )
    late = sum(
        batch_after_appointment(policy=view, found_at=found, appointment_start=start)
        for found, start in upcoming
    )
    if not upcoming or late * 2 <= len(upcoming):
        return ""
    share = f"all {len(upcoming)}" if late == len(upcoming) else f"{late} of the {len(upcoming)}"
    noun = "appointment" if len(upcoming) == 1 else "appointments"
    return (
        f"The weekly batch on {Weekday(policy.batch_weekday).label} at "
        f"{policy.batch_time:%H:%M} comes after {share} upcoming {noun} still to trace "
        f"at {policy.pcn.name}, so those patients will only be traced on the day of their "
        "appointment. The policy is saved. To trace patients before they arrive, choose a "
        "daily batch or a weekday earlier in the week."
    )
