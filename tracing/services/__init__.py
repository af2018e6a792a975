"""Writes for tracing, one module per sub-domain:

* `tasks`: opening tasks for PCN appointments, with owner and due time;
* `actions`: what tracers do with a task (claim, release, traced, can't trace,
  register at the PCN);
* `verification`: auto-verify against the PCN's EMIS;
* `policy`: changing a PCN's policy re-plans its open tasks;
* `alerts`: the poll-health check and its alert;
* `digest`: the owners' digest emails.

The poller lives in `tracing.poller`. Public names stay importable from here."""

from .actions import (
    TracingActionError,
    _user_label,
    tracing_task_cannot_trace,
    tracing_task_claim,
    tracing_task_mark_traced,
    tracing_task_register_at_pcn,
    tracing_task_release,
)
from .alerts import HealthCheckResult, poll_health_check
from .digest import (
    PRACTICE_DIGEST_EVERY,
    DigestCounts,
    tracing_digest_counts,
    tracing_digest_send,
    tracing_digests_send,
)
from .policy import tracing_policy_update, tracing_tasks_replan
from .tasks import emis_slot_id, task_fields_for_appointment, tracing_task_open_for_booking
from .verification import VERIFIER, VerifyOutcome, tracing_task_verify, tracing_tasks_auto_verify

__all__ = [
    "PRACTICE_DIGEST_EVERY",
    "VERIFIER",
    "DigestCounts",
    "HealthCheckResult",
    "TracingActionError",
    "VerifyOutcome",
    "_user_label",
    "emis_slot_id",
    "poll_health_check",
    "task_fields_for_appointment",
    "tracing_digest_counts",
    "tracing_digest_send",
    "tracing_digests_send",
    "tracing_policy_update",
    "tracing_task_cannot_trace",
    "tracing_task_claim",
    "tracing_task_mark_traced",
    "tracing_task_open_for_booking",
    "tracing_task_register_at_pcn",
    "tracing_task_release",
    "tracing_task_verify",
    "tracing_tasks_auto_verify",
    "tracing_tasks_replan",
]
