"""Writes for tracing: opening tasks for PCN appointments, with owner and due
time from the PCN's policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from emis_integration.client import (
    AppointmentRecord,
    EmisError,
    EmisUnavailable,
    PatientAlreadyRegistered,
    PatientDetails,
)
from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem
from emis_integration.selectors import emis_client
from hippo_pcn.audit.services import (
    Actor,
    audit_record,
    system_actor,
)
from hippo_pcn.organisations.models import Organisation

from .models import (
    ACTIVE_STATUSES,
    CannotTraceReason,
    PollCursor,
    TaskSource,
    TaskStatus,
    TracingPolicy,
    TracingTask,
)
from .planning import is_batch_day, plan_due
from .selectors import policy_for_pcn, policy_view, task_owner

logger = logging.getLogger(__name__)

VERIFIER = system_actor("auto-verify")


def _organisations_by_ods(codes: set[str]) -> dict[str, Organisation]:
    codes.discard("")
    if not codes:
        return {}
    return {org.ods_code: org for org in Organisation.objects.filter(ods_code__in=codes)}


def task_fields_for_appointment(
    *,
    connection: EmisConnection,
    appointment: AppointmentRecord,
    found_at: datetime,
) -> dict[str, Any]:
    """Everything a TracingTask holds about one PCN appointment as GP Connect
    describes it (a booking made through hippo-pcn), with owner and due time
    planned by the PCN's policy. The poller builds its tasks from the Partner
    API instead (tracing/poller/sweep.py), with the same planning rules."""
    if connection.system != EmisSystem.EMIS_COMMUNITY:
        raise ValueError("Tracing tasks come from PCN (EMIS Community) connections only.")
    pcn = connection.organisation
    organisations = _organisations_by_ods(
        {appointment.booking_org_ods, appointment.registered_practice_ods}
    )
    booking_org = organisations.get(appointment.booking_org_ods)
    registered = organisations.get(appointment.registered_practice_ods)
    policy = policy_for_pcn(pcn=pcn)
    owner = task_owner(
        policy=policy, pcn=pcn, booking_organisation=booking_org, registered_practice=registered
    )
    return {
        "connection": connection,
        "emis_appointment_id": appointment.appointment_id,
        "pcn": pcn,
        "patient_nhs_number": appointment.patient_nhs_number,
        "patient_family_name": appointment.patient_family_name[:100],
        "patient_given_name": appointment.patient_given_name[:100],
        "patient_birth_date": appointment.patient_birth_date,
        "patient_gender": appointment.patient_gender[:20],
        "registered_practice_ods": appointment.registered_practice_ods[:10],
        "registered_practice_name": appointment.registered_practice_name[:200],
        "registered_practice": registered,
        "booking_org_ods": appointment.booking_org_ods[:10],
        "booking_organisation": booking_org,
        "appointment_start": appointment.start,
        "appointment_end": appointment.end,
        "site_name": appointment.site_name[:200],
        "practitioner": appointment.practitioner[:200],
        "service": appointment.description[:200],
        "emis_version": appointment.version[:32],
        "emis_last_updated": appointment.last_updated,
        "emis_slot_id": emis_slot_id(appointment),
        "owner": owner,
        "due_at": plan_due(
            policy=policy_view(policy), found_at=found_at, appointment_start=appointment.start
        ),
    }


def emis_slot_id(appointment: AppointmentRecord) -> int | None:
    """The slot the appointment fills, as a number: GP Connect's Slot id, which
    is the slot id the Partner API shows the poller."""
    for slot_id in appointment.slot_ids:
        if slot_id.isdigit() and len(slot_id) <= 18:
            return int(slot_id)
    return None


@transaction.atomic
def tracing_task_open_for_booking(
    *,
    connection: EmisConnection,
    appointment: AppointmentRecord,
    actor: Actor,
    registered_patient_id: str = "",
) -> TracingTask:
    """A booking made through hippo-pcn into a PCN slot gets its task at once
    (source: booked via app). If the poller already found the appointment, that
    task is the one: an appointment is never two tasks. `registered_patient_id`:
    booking registered the patient at the PCN (temporary registration, GP
    Connect's flow), which is the tracing done: the task is closed as traced."""
    task = _task_for_booking(connection=connection, appointment=appointment, actor=actor)
    if registered_patient_id:
        _registered_at_booking(task=task, actor=actor, patient_id=registered_patient_id)
    return task


def _registered_at_booking(*, task: TracingTask, actor: Actor, patient_id: str) -> None:
    now = timezone.now()
    note = (
        f"Registered at the PCN at booking (temporary registration, patient id {patient_id[:64]})."
    )
    user = actor if getattr(actor, "pk", None) and not isinstance(actor, str) else None
    done = TracingTask.objects.filter(pk=task.pk, status__in=ACTIVE_STATUSES).update(
        status=TaskStatus.TRACED,
        verification_note=note,
        done_by=user,
        done_at=now,
        updated_at=now,
    )
    if done:
        task.refresh_from_db()
        _audit_task(
            actor=actor, action="tracing_task.registered_at_pcn", task=task, at_booking=True
        )


def _task_for_booking(
    *, connection: EmisConnection, appointment: AppointmentRecord, actor: Actor
) -> TracingTask:
    now = timezone.now()
    fields = task_fields_for_appointment(
        connection=connection, appointment=appointment, found_at=now
    )
    fields.pop("connection")
    fields.pop("emis_appointment_id")
    slot_id = fields["emis_slot_id"]
    if slot_id is not None and appointment.patient_nhs_number:
        # The poller may have found this appointment in its slot first.
        found = (
            TracingTask.objects.filter(
                connection=connection,
                emis_slot_id=slot_id,
                patient_nhs_number=appointment.patient_nhs_number,
                appointment_start=appointment.start,
            )
            .exclude(status=TaskStatus.CANCELLED)
            .first()
        )
        if found is not None:
            return found
    task, created = TracingTask.objects.get_or_create(
        connection=connection,
        emis_appointment_id=appointment.appointment_id,
        defaults={**fields, "source": TaskSource.BOOKED_VIA_APP},
    )
    if created:
        audit_record(
            actor=actor,
            action="tracing_task.created",
            target=task,
            organisation=task.pcn,
            details={
                "source": task.source,
                "owner": task.owner.ods_code,
                "due_at": task.due_at,
                "appointment_start": task.appointment_start,
            },
        )
    return task


class TracingActionError(Exception):
    """A tracing action that cannot be done, with a message for staff."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- staff actions on tasks ------------------------------------------------------------


def _user_label(user: Any) -> str:
    full = f"{getattr(user, 'first_name', '')} {getattr(user, 'last_name', '')}".strip()
    return full or user.get_username()


def _audit_task(*, actor: Actor, action: str, task: TracingTask, **details: Any) -> None:
    audit_record(actor=actor, action=action, target=task, organisation=task.pcn, details=details)


def _refused_because(task: TracingTask, doing: str) -> TracingActionError:
    current = TracingTask.objects.select_related("claimed_by").filter(pk=task.pk).first()
    if current is None:
        return TracingActionError(f"{task} no longer exists.")
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
    """Give a claimed task back to the open list (anyone who can see it may, so
    work does not stall when a colleague is away)."""
    current = TracingTask.objects.select_for_update().get(pk=task.pk)
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
    if reason not in CannotTraceReason.values:
        raise TracingActionError("Choose why the patient cannot be traced from the list.")
    note = note.strip()
    if reason == CannotTraceReason.OTHER and not note:
        raise TracingActionError("Explain in a few words why the patient cannot be traced.")
    return _finish(
        task=task,
        user=user,
        status=TaskStatus.CANNOT_TRACE,
        action="tracing_task.cannot_trace",
        doing="record “cannot trace” for",
        cannot_trace_reason=reason,
        cannot_trace_note=note[:2000],
    )


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
            verification_note="Not registered at the PCN's EMIS when checked.",
            updated_at=now,
        )
        return VerifyOutcome(False, f"{task.patient_label} is not registered at the PCN yet.")
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
    about patients not checked yet. Returns how many became not needed."""
    now = now or timezone.now()
    horizon = now + timedelta(hours=settings.TRACING_VERIFY_AHEAD_HOURS)
    tasks = list(
        TracingTask.objects.filter(
            status__in=ACTIVE_STATUSES,
            verified_at__isnull=True,
            due_at__lte=horizon,
            connection__status=ConnectionStatus.LIVE,
        )
        .exclude(patient_nhs_number="")
        .exclude(pcn__tracing_policy__auto_verify=False)
        .select_related("connection", "connection__organisation", "pcn")
        .order_by("due_at")[: settings.TRACING_VERIFY_BATCH_SIZE]
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


def tracing_task_register_at_pcn(*, task: TracingTask, user: Any) -> TracingTask:
    """Register the patient at the PCN through GP Connect (always a temporary
    registration) and mark the task traced."""
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


# --- poll health -----------------------------------------------------------------------


def _support_emails() -> list[str]:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(
        Q(is_superuser=True) | Q(groups__name=settings.SUPPORT_GROUP_NAME), is_active=True
    )
    return sorted(set(users.exclude(email="").values_list("email", flat=True)))


@dataclass(frozen=True)
class HealthCheckResult:
    raised: list[int]
    cleared: list[int]


def poll_health_check(*, now: datetime | None = None) -> HealthCheckResult:
    """Raise an alert, once, for each live PCN connection with no successful poll
    for TRACING_POLL_ALERT_AFTER_SECONDS (a log line at ERROR and one email to
    support); clear it when polling recovers or the connection stops being live."""
    from django.core.mail import send_mail

    from .selectors import poll_health

    now = now or timezone.now()
    raised: list[int] = []
    cleared: list[int] = []
    live_ids: list[int] = []
    for health in poll_health(now=now):
        live_ids.append(health.connection_id)
        cursor, _ = PollCursor.objects.get_or_create(connection_id=health.connection_id)
        if not health.healthy:
            if (
                PollCursor.objects.filter(pk=cursor.pk, alert_raised_at__isnull=True).update(
                    alert_raised_at=now
                )
                == 1
            ):
                raised.append(health.connection_id)
                since = (
                    f"since {timezone.localtime(health.last_success_at):%d %b %Y %H:%M}"
                    if health.last_success_at
                    else "since it went live"
                )
                logger.error(
                    "Tracing poller: connection %s (%s) has had no successful poll %s. "
                    "Last error: %s",
                    health.connection_id,
                    health.ods_code,
                    since,
                    health.last_error or "none recorded",
                )
                audit_record(
                    actor=system_actor("poll-health"),
                    action="tracing_poll.alert_raised",
                    details={"connection": health.connection_id, "last_error": health.last_error},
                )
                recipients = _support_emails()
                if recipients:
                    send_mail(
                        subject=f"hippo-pcn: tracing poller cannot read {health.organisation}",
                        message=(
                            f"The tracing poller has had no successful poll of "
                            f"{health.organisation} ({health.ods_code}) EMIS Community {since}.\n"
                            f"Last error: {health.last_error or 'none recorded'}.\n\n"
                            "New bookings at this PCN are not reaching the tracing worklist "
                            "until polling recovers. This alert is sent once; it clears by "
                            "itself when a poll succeeds."
                        ),
                        from_email=None,
                        recipient_list=recipients,
                    )
        elif (
            PollCursor.objects.filter(pk=cursor.pk, alert_raised_at__isnull=False).update(
                alert_raised_at=None
            )
            == 1
        ):
            cleared.append(health.connection_id)
            logger.warning(
                "Tracing poller: connection %s (%s) is polling again; alert cleared.",
                health.connection_id,
                health.ods_code,
            )
            audit_record(
                actor=system_actor("poll-health"),
                action="tracing_poll.alert_cleared",
                details={"connection": health.connection_id},
            )
    stale = PollCursor.objects.filter(alert_raised_at__isnull=False).exclude(
        connection_id__in=live_ids
    )
    cleared += list(stale.values_list("connection_id", flat=True))
    stale.update(alert_raised_at=None)
    return HealthCheckResult(raised=raised, cleared=cleared)


# --- digest ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestCounts:
    due_today: int
    overdue: int
    next_24h_untraced: int
    # Practice-led owners: tasks that arrived since the last hourly digest.
    new_since_last: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.due_today or self.overdue or self.next_24h_untraced or self.new_since_last)


PRACTICE_DIGEST_EVERY = timedelta(hours=1)


def tracing_digest_counts(*, owner: Organisation, now: datetime) -> DigestCounts:
    """What the owner's digest reports. A practice (practice-led tracing) also
    hears about tasks created in the last hour, whatever their due time: that
    is its "after bookings" digest."""
    from django.db.models import Count

    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    new_filter = (
        Q(created_at__gte=now - PRACTICE_DIGEST_EVERY, created_at__lte=now)
        if owner.is_practice
        else Q(pk__in=[])
    )
    counts = TracingTask.objects.filter(owner=owner, status__in=ACTIVE_STATUSES).aggregate(
        due_today=Count("pk", filter=Q(due_at__gte=now, due_at__lte=end_of_day)),
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        soon=Count(
            "pk",
            filter=Q(appointment_start__gte=now, appointment_start__lt=now + timedelta(hours=24)),
        ),
        new=Count("pk", filter=new_filter),
    )
    return DigestCounts(counts["due_today"], counts["overdue"], counts["soon"], counts["new"])


def _tracer_emails(owner: Organisation) -> list[str]:
    from django.contrib.auth import get_user_model

    return sorted(
        set(
            get_user_model()
            .objects.filter(memberships__organisation=owner, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def tracing_digest_send(*, owner: Organisation, now: datetime | None = None) -> bool:
    """One email to the owner organisation's tracers: tasks due today, overdue,
    and appointments in the next 24 hours still untraced, with a link to the
    filtered worklist. Nothing is sent when there is nothing to do."""
    from django.core.mail import send_mail
    from django.urls import reverse

    now = now or timezone.now()
    counts = tracing_digest_counts(owner=owner, now=now)
    recipients = _tracer_emails(owner)
    if not counts.anything or not recipients:
        return False
    link = (
        f"{settings.PUBLIC_BASE_URL.rstrip('/')}"
        f"{reverse('admin:tracing_tracingtask_changelist')}?owner={owner.pk}"
    )
    send_mail(
        subject=(
            f"Tracing for {owner.name}: {counts.overdue} overdue, {counts.due_today} due today"
        ),
        message=(
            f"Tracing worklist for {owner.name} ({owner.ods_code}), "
            f"{timezone.localtime(now):%A %d %B %Y %H:%M}:\n\n"
            + (
                f"  New bookings to trace in the last hour: {counts.new_since_last}\n"
                if owner.is_practice
                else ""
            )
            + f"  Overdue: {counts.overdue}\n"
            f"  Due today: {counts.due_today}\n"
            f"  Appointments in the next 24 hours not traced yet: {counts.next_24h_untraced}\n\n"
            f"Open the worklist: {link}\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )
    audit_record(
        actor=system_actor("digest"),
        action="tracing_digest.sent",
        organisation=owner,
        details={
            "due_today": counts.due_today,
            "overdue": counts.overdue,
            "next_24h_untraced": counts.next_24h_untraced,
            "new_since_last": counts.new_since_last,
            "recipients": len(recipients),
        },
    )
    return True


def _digest_due_now(*, owner: Organisation, now: datetime) -> bool:
    local = timezone.localtime(now)
    if owner.is_practice:
        # Practice-led: batched hourly, only when new tasks arrived in the last hour.
        return TracingTask.objects.filter(
            owner=owner,
            status__in=ACTIVE_STATUSES,
            created_at__gte=now - PRACTICE_DIGEST_EVERY,
            created_at__lte=now,
        ).exists()
    policy = policy_for_pcn(pcn=owner)
    if local.hour != policy.batch_time.hour:
        return False
    return is_batch_day(
        mode=policy.mode,
        batch_time=policy.batch_time,
        batch_weekday=policy.batch_weekday,
        day=local.date(),
    )


def tracing_digests_send(*, now: datetime | None = None) -> int:
    """Hourly: each owner organisation whose batch time it is gets its digest.
    Returns how many emails went out."""
    now = now or timezone.now()
    owner_ids = (
        TracingTask.objects.filter(status__in=ACTIVE_STATUSES)
        .values_list("owner_id", flat=True)
        .distinct()
    )
    sent = 0
    for owner in Organisation.objects.filter(pk__in=owner_ids):
        if _digest_due_now(owner=owner, now=now) and tracing_digest_send(owner=owner, now=now):
            sent += 1
    return sent
