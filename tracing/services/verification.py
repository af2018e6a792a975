"""Auto-verify: asking the PCN's EMIS whether the patient is already registered
there, so a task needs no manual trace."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from emis_integration.client import (
    EmisError,
    EmisUnavailable,
)
from emis_integration.models import ConnectionStatus
from emis_integration.selectors import emis_client
from hippo_pcn.audit.services import (
    Actor,
    system_actor,
)

from ..models import (
    ACTIVE_STATUSES,
    TaskStatus,
    TracingTask,
)
from .actions import TracingActionError, _audit_task

logger = logging.getLogger(__name__)

VERIFIER = system_actor("auto-verify")
# The note a check that found no registration leaves; auto-verify asks again
# about tasks carrying it once RECHECK_AFTER has passed, until they fall due.
NOT_REGISTERED_NOTE = "Not registered at the PCN's EMIS when checked."
RECHECK_AFTER = timedelta(days=1)

# --- auto-verify and "Register at PCN" ---------------------------------------------------


@dataclass(frozen=True)
class VerifyOutcome:
    registered: bool
    message: str


def _verify_with_client(*, task: TracingTask, client: Any, actor: Actor) -> VerifyOutcome:
    if not task.has_nhs_number:
        raise TracingActionError(
            f"{task.patient_label} has no NHS number, so the PCN's EMIS cannot be asked."
        )
    found = client.find_patient(task.patient_nhs_number)
    now = timezone.now()
    if found is None:
        TracingTask.objects.filter(pk=task.pk).update(
            verified_at=now,
            verification_note=NOT_REGISTERED_NOTE,
            updated_at=now,
        )
        return VerifyOutcome(False, f"{task.patient_label} is not registered at the PCN yet.")
    if (
        found.birth_date is not None
        and task.patient_birth_date is not None
        and found.birth_date != task.patient_birth_date
    ):
        # The same NHS number with another date of birth: perhaps another person. The
        # task stays open for a person to check; nothing is closed on this evidence.
        note = (
            "The PCN's EMIS holds this NHS number with a different date of birth: check "
            "the patient's identity before tracing (the task was not closed)."
        )
        TracingTask.objects.filter(pk=task.pk).update(
            verified_at=now, verification_note=note, updated_at=now
        )
        _audit_task(actor=actor, action="tracing_task.identity_mismatch", task=task)
        return VerifyOutcome(False, f"{task.patient_label}: {note}")
    evidence = (
        f"Registered at the PCN's EMIS (patient id {found.patient_id}, registration type "
        f"{found.registration_type or 'unknown'}) when checked on "
        f"{timezone.localtime(now):%d %b %Y %H:%M}."
    )
    with transaction.atomic():
        changed = TracingTask.objects.filter(pk=task.pk, status__in=ACTIVE_STATUSES).update(
            status=TaskStatus.NOT_NEEDED,
            verified_at=now,
            verification_note=evidence,
            done_at=now,
            claimed_by=None,
            claimed_at=None,
            updated_at=now,
        )
        if changed:
            task.refresh_from_db()
            _audit_task(
                actor=actor,
                action="tracing_task.not_needed",
                task=task,
                evidence=evidence,
            )
    return VerifyOutcome(True, f"{task.patient_label} is already registered at the PCN.")


def tracing_task_verify(*, task: TracingTask, actor: Actor) -> VerifyOutcome:
    """Ask the PCN's EMIS whether the patient is already registered there; if so
    the task is not needed, with the evidence recorded."""
    if task.status not in ACTIVE_STATUSES:
        raise TracingActionError(
            f"{task.patient_label} is “{task.get_status_display()}”: nothing to verify."
        )
    connection = task.connection
    if not connection.is_live:
        raise TracingActionError("The PCN's EMIS connection is not live, so it cannot be asked.")
    client = emis_client(connection=connection, purpose="tracing verification")
    try:
        return _verify_with_client(task=task, client=client, actor=actor)
    except EmisError as exc:
        raise TracingActionError(f"The PCN's EMIS could not be asked: {exc}") from exc
    finally:
        client.close()


def tracing_tasks_auto_verify(*, now: datetime | None = None) -> int:
    """Before tasks fall due, ask each PCN's EMIS (where the PCN's policy allows)
    about patients not checked yet, and again, once a day until the task is due,
    about those it last found not registered at the PCN (the patient may have
    registered since). Returns how many became not needed."""
    now = now or timezone.now()
    horizon = now + timedelta(hours=settings.TRACING_VERIFY_AHEAD_HOURS)
    never_checked = Q(verified_at__isnull=True)
    recheck = Q(
        verification_note=NOT_REGISTERED_NOTE,
        verified_at__lte=now - RECHECK_AFTER,
        due_at__gt=now,
    )
    tasks = list(
        TracingTask.objects.active()
        .filter(never_checked | recheck)
        .filter(due_at__lte=horizon, connection__status=ConnectionStatus.LIVE)
        .exclude(patient_nhs_number="")
        .exclude(pcn__tracing_policy__auto_verify=False)
        .select_related("connection", "connection__organisation", "pcn")
        # Never-checked tasks first, then the soonest due.
        .order_by(F("verified_at").asc(nulls_first=True), "due_at")[
            : settings.TRACING_VERIFY_BATCH_SIZE
        ]
    )
    by_connection: dict[int, list[TracingTask]] = {}
    for task in tasks:
        by_connection.setdefault(task.connection_id, []).append(task)
    not_needed = 0
    for batch in by_connection.values():
        client = emis_client(connection=batch[0].connection, purpose="tracing verification")
        try:
            for task in batch:
                try:
                    if _verify_with_client(task=task, client=client, actor=VERIFIER).registered:
                        not_needed += 1
                except EmisUnavailable:
                    logger.warning("Auto-verify: connection %s unavailable", task.connection_id)
                    break
                except EmisError as exc:
                    logger.warning("Auto-verify of task %s failed: %s", task.pk, exc)
        finally:
            client.close()
    return not_needed
