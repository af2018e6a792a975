"""What tracers do with a task: claim, release, mark traced, can't trace, and
"Register at PCN"."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from emis_integration.client import (
    EmisError,
    PatientAlreadyRegistered,
    PatientDetails,
)
from emis_integration.selectors import emis_client
from hippo_pcn.audit.services import (
    Actor,
    audit_record,
)
from hippo_pcn.organisations.models import Membership
from hippo_pcn.organisations.roles import PCN_ROLES, PRACTICE_ROLES
from hippo_pcn.organisations.selectors import UserLike, user_is_support

from ..models import (
    ACTIVE_STATUSES,
    CannotTraceReason,
    PolicyMode,
    TaskStatus,
    TracingTask,
)
from ..selectors import policy_for_pcn

if TYPE_CHECKING:
    from .verification import VerifyOutcome

logger = logging.getLogger(__name__)


OTHER_NEEDS_A_NOTE = "Say why the patient cannot be traced: “Other” needs a note."


class TracingActionError(Exception):
    """A tracing action that cannot be done, with a message for staff."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- who may act on a task ------------------------------------------------------------
#
# Seeing a task is wider than acting on it: practice staff see the tasks their
# practice booked (tracing.selectors.tracing_tasks_for_user), but trace only those
# their practice owns under the PCN's policy. PCN staff act on every task of their
# PCN; support on any task, audited as support.


def _signed_in(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def tracing_tasks_actionable_by(
    *, user: UserLike, queryset: QuerySet[TracingTask]
) -> QuerySet[TracingTask]:
    """The tasks of `queryset` the user may claim, release, trace, record as
    "cannot trace", verify or register: the one rule, as a queryset."""
    if user_is_support(user=user):
        return queryset
    if not _signed_in(user):
        return queryset.none()
    memberships = Membership.objects.filter(user_id=int(user.pk or 0))
    pcn_ids = memberships.filter(role__in=PCN_ROLES).values("organisation_id")
    practice_ids = memberships.filter(role__in=PRACTICE_ROLES).values("organisation_id")
    return queryset.filter(Q(pcn_id__in=pcn_ids) | Q(owner_id__in=practice_ids))


def tracing_task_may_act(*, task: TracingTask, user: UserLike) -> bool:
    """May `user` act on `task`? Support: any task. PCN staff: every task of
    their PCN. Practice staff: only tasks their practice owns."""
    if user_is_support(user=user):
        return True
    if not _signed_in(user):
        return False
    return (
        Membership.objects.filter(user_id=int(user.pk or 0))
        .filter(
            Q(organisation_id=task.pcn_id, role__in=PCN_ROLES)
            | Q(organisation_id=task.owner_id, role__in=PRACTICE_ROLES)
        )
        .exists()
    )


def user_may_act_on_tracing(*, user: UserLike) -> bool:
    """Could the user ever act on a task? Support and PCN staff can; practice
    staff only when their PCN's policy is practice-led, or their practice still
    owns an open task. The worklist offers its actions only to them."""
    if user_is_support(user=user):
        return True
    if not _signed_in(user):
        return False
    memberships = Membership.objects.filter(user_id=int(user.pk or 0))
    if memberships.filter(role__in=PCN_ROLES).exists():
        return True
    practices = memberships.filter(role__in=PRACTICE_ROLES)
    if practices.filter(organisation__pcn__tracing_policy__mode=PolicyMode.PRACTICE_LED).exists():
        return True
    return TracingTask.objects.filter(
        owner_id__in=practices.values("organisation_id"), status__in=ACTIVE_STATUSES
    ).exists()


def tracing_task_refusal(*, task: TracingTask, named: bool = True) -> str:
    """Why someone who is not its owner's staff cannot act on the task, naming
    the patient (for a list of tasks) or not (on the task's own page)."""
    owner = task.owner.name
    if not named:
        return f"This task belongs to {owner}: only its staff can trace it."
    return f"{task.patient_label}: this task belongs to {owner}, and only its staff can trace it."


def _ensure_may_act(*, task: TracingTask, user: Any) -> None:
    if not tracing_task_may_act(task=task, user=user):
        raise TracingActionError(tracing_task_refusal(task=task))


# --- staff actions on tasks ------------------------------------------------------------


def _user_label(user: Any) -> str:
    full = f"{getattr(user, 'first_name', '')} {getattr(user, 'last_name', '')}".strip()
    return full or user.get_username()


def _audit_task(*, actor: Actor, action: str, task: TracingTask, **details: Any) -> None:
    if not isinstance(actor, str) and user_is_support(user=actor):
        details = {**details, "as": "support"}
    audit_record(actor=actor, action=action, target=task, organisation=task.pcn, details=details)


def _refused_because(task: TracingTask, doing: str) -> TracingActionError:
    current = TracingTask.objects.select_related("claimed_by").filter(pk=task.pk).first()
    if current is None:
        return TracingActionError(f"The task for {task.patient_label} no longer exists.")
    if current.status == TaskStatus.CLAIMED and current.claimed_by is not None:
        return TracingActionError(
            f"Could not {doing} {current.patient_label}: {_user_label(current.claimed_by)} "
            "has just claimed it."
        )
    return TracingActionError(
        f"Could not {doing} {current.patient_label}: it is now “{current.get_status_display()}”."
    )


@transaction.atomic
def tracing_task_claim(*, task: TracingTask, user: Any) -> TracingTask:
    """Claim an open task for `user`. Compare-and-swap: of two people claiming
    at once exactly one wins; the other gets a message saying who did."""
    _ensure_may_act(task=task, user=user)
    now = timezone.now()
    won = TracingTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(
        status=TaskStatus.CLAIMED, claimed_by=user, claimed_at=now, updated_at=now
    )
    if won != 1:
        raise _refused_because(task, "claim")
    task.refresh_from_db()
    _audit_task(actor=user, action="tracing_task.claimed", task=task)
    return task


@transaction.atomic
def tracing_task_release(*, task: TracingTask, user: Any) -> TracingTask:
    """Give a claimed task back to the open list (anyone who may act on it may, so
    work does not stall when a colleague is away)."""
    current = TracingTask.objects.select_for_update().get(pk=task.pk)
    _ensure_may_act(task=current, user=user)
    if current.status != TaskStatus.CLAIMED:
        raise TracingActionError(
            f"{current.patient_label} is not claimed (it is “{current.get_status_display()}”), "
            "so there is nothing to release."
        )
    previous = current.claimed_by_id
    current.status = TaskStatus.OPEN
    current.claimed_by = None
    current.claimed_at = None
    current.save(update_fields=["status", "claimed_by", "claimed_at", "updated_at"])
    _audit_task(
        actor=user, action="tracing_task.released", task=current, previous_claimed_by=previous
    )
    return current


def _finish(
    *, task: TracingTask, user: Any, status: str, action: str, doing: str, **fields: Any
) -> TracingTask:
    """Move an open task, or one claimed by `user`, to a final status (CAS)."""
    _ensure_may_act(task=task, user=user)
    now = timezone.now()
    done = (
        TracingTask.objects.filter(pk=task.pk)
        .filter(
            Q(status=TaskStatus.OPEN)
            | Q(status=TaskStatus.CLAIMED, claimed_by=user if getattr(user, "pk", None) else None)
        )
        .update(
            status=status,
            done_by=user if getattr(user, "pk", None) else None,
            done_at=now,
            updated_at=now,
            **fields,
        )
    )
    if done != 1:
        raise _refused_because(task, doing)
    task.refresh_from_db()
    _audit_task(actor=user, action=action, task=task, **{k: str(v) for k, v in fields.items()})
    return task


@transaction.atomic
def tracing_task_mark_traced(*, task: TracingTask, user: Any) -> TracingTask:
    """The tracer pulled the patient's record into the PCN's EMIS Community."""
    return _finish(
        task=task,
        user=user,
        status=TaskStatus.TRACED,
        action="tracing_task.traced",
        doing="mark as traced",
    )


@transaction.atomic
def tracing_task_cannot_trace(
    *, task: TracingTask, user: Any, reason: str, note: str = ""
) -> TracingTask:
    _ensure_may_act(task=task, user=user)
    if reason not in CannotTraceReason.values:
        raise TracingActionError("Choose why the patient cannot be traced from the list.")
    note = note.strip()
    if reason == CannotTraceReason.OTHER and not note:
        raise TracingActionError(OTHER_NEEDS_A_NOTE)
    return _finish(
        task=task,
        user=user,
        status=TaskStatus.CANNOT_TRACE,
        action="tracing_task.cannot_trace",
        doing="record “cannot trace” for",
        cannot_trace_reason=reason,
        cannot_trace_note=note[:2000],
    )


def tracing_task_register_at_pcn(*, task: TracingTask, user: Any) -> TracingTask:
    """Register the patient at the PCN through GP Connect (always a temporary
    registration) and mark the task traced."""
    _ensure_may_act(task=task, user=user)
    policy = policy_for_pcn(pcn=task.pcn)
    if not policy.allow_register_at_pcn:
        raise TracingActionError(
            f"{task.pcn.name}'s tracing policy does not allow “Register at PCN”. A PCN admin "
            "can switch it on in the tracing policy."
        )
    if task.status not in ACTIVE_STATUSES:
        raise TracingActionError(
            f"{task.patient_label} is “{task.get_status_display()}”: nothing to register."
        )
    if task.status == TaskStatus.CLAIMED and task.claimed_by_id != getattr(user, "pk", None):
        raise TracingActionError(
            f"{task.patient_label} is claimed by someone else; ask them or release it first."
        )
    if not task.has_nhs_number or task.patient_birth_date is None or not task.patient_family_name:
        raise TracingActionError(
            f"{task.patient_label} lacks an NHS number, birth date or family name, which "
            "registration needs. Trace them by hand."
        )
    if not task.connection.is_live:
        raise TracingActionError("The PCN's EMIS connection is not live.")
    details = PatientDetails(
        nhs_number=task.patient_nhs_number,
        family_name=task.patient_family_name,
        given_name=task.patient_given_name,
        birth_date=task.patient_birth_date,
        gender=task.patient_gender or "unknown",
        registered_practice_ods=task.registered_practice_ods,
        registered_practice_name=task.registered_practice_name,
    )
    client = emis_client(connection=task.connection, user=user, purpose="tracing registration")
    try:
        record = client.register_patient(details)
    except PatientAlreadyRegistered:
        now = timezone.now()
        with transaction.atomic():
            TracingTask.objects.filter(pk=task.pk, status__in=ACTIVE_STATUSES).update(
                status=TaskStatus.NOT_NEEDED,
                verified_at=now,
                verification_note="The PCN's EMIS says the patient is already registered there.",
                done_by=user,
                done_at=now,
                updated_at=now,
            )
            task.refresh_from_db()
            _audit_task(actor=user, action="tracing_task.not_needed", task=task, evidence="409")
        return task
    except EmisError as exc:
        raise TracingActionError(f"The PCN's EMIS did not register the patient: {exc}") from exc
    finally:
        client.close()
    with transaction.atomic():
        TracingTask.objects.filter(pk=task.pk).update(
            verification_note=(
                f"Registered at the PCN (temporary registration, patient id {record.patient_id})."
            )
        )
        return _finish(
            task=task,
            user=user,
            status=TaskStatus.TRACED,
            action="tracing_task.registered_at_pcn",
            doing="mark as traced",
        )


def tracing_task_verify_now(*, task: TracingTask, user: Any) -> VerifyOutcome:
    """Staff ask the PCN's EMIS now whether the patient is registered there: as
    auto-verify, for those who may act on the task only. A patient found there
    is audited by verification ("not needed"); one not found is audited here."""
    from .verification import tracing_task_verify  # verification imports this module

    _ensure_may_act(task=task, user=user)
    outcome = tracing_task_verify(task=task, actor=user)
    if not outcome.registered:
        _audit_task(actor=user, action="tracing_task.verify_requested", task=task, registered=False)
    return outcome
