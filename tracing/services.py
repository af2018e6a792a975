"""Writes for tracing: opening tasks for PCN appointments, with owner and due
time from the PCN's policy."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection as db_connection
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
from emis_integration.services import connection_record_call
from hippo_pcn.audit.services import (
    Actor,
    AuditRow,
    audit_bulk_append,
    audit_record,
    system_actor,
)
from hippo_pcn.db import concrete_field, values_rows
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.prefetch import prefetched

from .models import (
    ACTIVE_STATUSES,
    CannotTraceReason,
    PollCursor,
    PollRun,
    PollRunStatus,
    TaskSource,
    TaskStatus,
    TracingPolicy,
    TracingTask,
)
from .planning import PolicyView, is_batch_day, plan_due
from .selectors import policy_for_pcn, policy_view, task_owner

logger = logging.getLogger(__name__)

POLLER = system_actor("poller")
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
    organisations: dict[str, Organisation] | None = None,
    policy: TracingPolicy | None = None,
    due_at: datetime | None = None,
) -> dict[str, Any]:
    """Everything a TracingTask holds about one PCN appointment, planned by the
    PCN's policy (or at `due_at` when the caller has planned it already: see
    page_due_planner). Shared by booking-time creation and the poller."""
    if connection.system != EmisSystem.EMIS_COMMUNITY:
        raise ValueError("Tracing tasks come from PCN (EMIS Community) connections only.")
    pcn = connection.organisation
    if organisations is None:
        organisations = _organisations_by_ods(
            {appointment.booking_org_ods, appointment.registered_practice_ods}
        )
    booking_org = organisations.get(appointment.booking_org_ods)
    registered = organisations.get(appointment.registered_practice_ods)
    if policy is None:
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
        "owner": owner,
        "due_at": due_at
        or plan_due(
            policy=policy_view(policy), found_at=found_at, appointment_start=appointment.start
        ),
    }


@transaction.atomic
def tracing_task_open_for_booking(
    *, connection: EmisConnection, appointment: AppointmentRecord, actor: Actor
) -> TracingTask:
    """A booking made through hippo-pcn into a PCN slot gets its task at once
    (source: booked via app). If the poller already found the appointment, that
    task is the one: an appointment is never two tasks."""
    now = timezone.now()
    fields = task_fields_for_appointment(
        connection=connection, appointment=appointment, found_at=now
    )
    fields.pop("connection")
    fields.pop("emis_appointment_id")
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


class PollRefused(ValueError):
    """A connection the poller must not read (not a live PCN connection)."""


# --- the poller ----------------------------------------------------------------------


@dataclass
class PageResult:
    seen: int = 0
    created: int = 0
    updated: int = 0


def _audit_row(
    *, action: str, task_id: int, task_repr: str, pcn_id: int, details: dict[str, Any]
) -> AuditRow:
    return AuditRow(
        actor_label=POLLER,
        action=action,
        content_type_id=ContentType.objects.get_for_model(TracingTask).pk,
        object_id=str(task_id),
        object_repr=task_repr[:200],
        organisation_id=pcn_id,
        details=details,
    )


def _latest_by_id(records: Iterable[AppointmentRecord]) -> dict[str, AppointmentRecord]:
    """One record per appointment id: the most recently updated wins."""
    latest: dict[str, AppointmentRecord] = {}
    for record in records:
        known = latest.get(record.appointment_id)
        if (
            known is None
            or known.last_updated is None
            or (record.last_updated is not None and record.last_updated >= known.last_updated)
        ):
            latest[record.appointment_id] = record
    return latest


_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def page_due_planner(view: PolicyView, found_at: datetime) -> Callable[[datetime], datetime]:
    """plan_due for many appointments found at the same moment. Under every
    policy the planned time depends on when the task was found, except that it
    is the appointment start on the day (and never after it): so the page's
    planned time is computed once and each task takes the earlier of it and its
    appointment's start. Equivalence with plan_due is tested per policy."""
    page_due = plan_due(policy=view, found_at=found_at, appointment_start=_FAR_FUTURE)

    def due(appointment_start: datetime) -> datetime:
        return min(page_due, appointment_start)

    return due


# Columns of a new task that vary per appointment, in the order the PostgreSQL
# INSERT ... SELECT FROM unnest(...) takes them; the rest are constants.
_TASK_ROW_FIELDS = (
    "emis_appointment_id",
    "patient_nhs_number",
    "patient_family_name",
    "patient_given_name",
    "patient_birth_date",
    "patient_gender",
    "registered_practice_ods",
    "registered_practice_name",
    "registered_practice",
    "booking_org_ods",
    "booking_organisation",
    "appointment_start",
    "appointment_end",
    "site_name",
    "practitioner",
    "service",
    "emis_version",
    "emis_last_updated",
    "owner",
    "due_at",
)


@dataclass(frozen=True)
class InsertedTask:
    pk: int
    emis_appointment_id: str
    owner_id: int
    due_at: datetime


_STAGING_TABLE = "tracing_task_staging"


def _insert_tasks_postgresql(
    *, connection: EmisConnection, rows: list[dict[str, Any]], source: str, now: datetime
) -> list[InsertedTask]:
    """The page's new tasks go through a session-private staging table: COPY
    (psycopg writes its rows in C) and then one INSERT ... SELECT, where ON
    CONFLICT leaves an appointment that another poll (or a booking) has just
    stored alone. The staging table empties itself at commit. Returns the rows
    this insert stored."""
    meta = TracingTask._meta
    varying = [concrete_field(TracingTask, name) for name in _TASK_ROW_FIELDS]
    constants = {
        "connection": connection.pk,
        "pcn": connection.organisation_id,
        "source": source,
        "status": TaskStatus.OPEN,
        "cannot_trace_reason": "",
        "cannot_trace_note": "",
        "verification_note": "",
        "created_at": now,
        "updated_at": now,
    }
    constant_fields = [concrete_field(TracingTask, name) for name in constants]
    staging_columns = ", ".join(f"c{i} {f.db_type(db_connection)}" for i, f in enumerate(varying))
    columns = ", ".join(f'"{f.column}"' for f in [*constant_fields, *varying])
    select = ", ".join(["%s"] * len(constant_fields) + [f"c{i}" for i in range(len(varying))])
    unique = ", ".join(
        f'"{concrete_field(TracingTask, name).column}"'
        for name in ("connection", "emis_appointment_id")
    )
    # Identifiers come from the model's own metadata; every value is a parameter
    # or travels by COPY.
    insert = (
        f'INSERT INTO "{meta.db_table}" ({columns}) '  # noqa: S608
        f"SELECT {select} FROM {_STAGING_TABLE} "
        f"ON CONFLICT ({unique}) DO NOTHING "
        'RETURNING "id", "emis_appointment_id"'
    )
    getters = [(f.name, f.is_relation) for f in varying]
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING_TABLE} ({staging_columns}) "
            "ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {_STAGING_TABLE}")  # rows of an earlier call this transaction
        with cursor.cursor.copy(f"COPY {_STAGING_TABLE} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        (row[name].pk if row[name] is not None else None)
                        if is_relation
                        else row[name]
                        for name, is_relation in getters
                    ]
                )
        params: list[Any] = list(constants.values())
        cursor.execute(insert, params)
        stored = cursor.fetchall()
    # Owner and due time as written (reading them back would cost a date-time parse
    # each through Django's cursor).
    by_id = {row["emis_appointment_id"]: row for row in rows}
    return [
        InsertedTask(
            pk,
            appointment_id,
            by_id[appointment_id]["owner"].pk,
            by_id[appointment_id]["due_at"],
        )
        for pk, appointment_id in stored
    ]


def _insert_tasks_portable(
    *, connection: EmisConnection, rows: list[dict[str, Any]], source: str, now: datetime
) -> list[InsertedTask]:
    """The same through the ORM, for SQLite (the demo's embedded database)."""
    TracingTask.objects.bulk_create(
        [TracingTask(**row, connection=connection, source=source) for row in rows],
        batch_size=500,
        ignore_conflicts=True,
    )
    stored = TracingTask.objects.filter(
        connection=connection,
        emis_appointment_id__in=[row["emis_appointment_id"] for row in rows],
        source=source,
        created_at__gte=now,
    ).values_list("pk", "emis_appointment_id", "owner_id", "due_at")
    return [InsertedTask(*found) for found in stored]


def tracing_tasks_insert(
    *, connection: EmisConnection, rows: list[dict[str, Any]], source: str
) -> list[InsertedTask]:
    """Insert new tasks (fields from task_fields_for_appointment, without the
    connection), skipping appointments that already have one; returns those
    inserted now."""
    if not rows:
        return []
    now = timezone.now()
    if db_connection.vendor == "postgresql":
        return _insert_tasks_postgresql(connection=connection, rows=rows, source=source, now=now)
    return _insert_tasks_portable(connection=connection, rows=rows, source=source, now=now)


@dataclass
class _Known:
    """What the upsert needs of a stored task."""

    pk: int
    emis_appointment_id: str
    pcn_id: int
    status: str
    appointment_start: datetime
    appointment_end: datetime
    created_at: datetime


def _task_update(known: _Known, **changes: Any) -> TracingTask:
    """A partial TracingTask for bulk_update: only the fields being written."""
    task = TracingTask(
        pk=known.pk,
        emis_appointment_id=known.emis_appointment_id,
        pcn_id=known.pcn_id,
        status=known.status,
    )
    for name, value in changes.items():
        setattr(task, name, value)
    return task


def tracing_tasks_upsert_page(
    *,
    connection: EmisConnection,
    records: list[AppointmentRecord],
    policy: TracingPolicy,
    found_at: datetime,
) -> PageResult:
    """Store one page of EMIS appointments as tracing tasks, in the caller's
    transaction, with a constant number of queries per page:

    - a booked appointment never seen before opens a task (owner and due time by
      the policy, source "found by poll");
    - a cancelled one cancels its open or claimed task;
    - a moved one (new start or end) is re-dated, its due time re-planned;
    - a booked one whose task was cancelled (re-booked) reopens it;
    - anything else is left untouched. A cancelled appointment never seen makes
      no task."""
    latest = _latest_by_id(records)
    result = PageResult(seen=len(records))
    if not latest:
        return result
    existing = {
        row[1]: _Known(*row)
        for row in values_rows(
            TracingTask.objects.filter(
                connection=connection, emis_appointment_id__in=list(latest)
            ).values_list(
                "id",
                "emis_appointment_id",
                "pcn_id",
                "status",
                "appointment_start",
                "appointment_end",
                "created_at",
            )
        )
    }
    view = policy_view(policy)
    due_for = page_due_planner(view, found_at)
    organisations: dict[str, Organisation] | None = None
    audit: list[AuditRow] = []
    new_rows: list[dict[str, Any]] = []
    # Partial tasks, grouped by the fields they change: bulk_update writes every
    # listed field of every object, so each group is written on its own.
    changed: dict[frozenset[str], list[TracingTask]] = {}

    def change(known: _Known, **changes: Any) -> TracingTask:
        task = _task_update(known, **changes)
        changed.setdefault(frozenset(changes), []).append(task)
        return task

    for appointment_id, record in latest.items():
        known = existing.get(appointment_id)
        if known is None:
            if record.is_cancelled:
                continue
            if organisations is None:
                organisations = _organisations_by_ods(
                    {r.booking_org_ods for r in latest.values()}
                    | {r.registered_practice_ods for r in latest.values()}
                )
            fields = task_fields_for_appointment(
                connection=connection,
                appointment=record,
                found_at=found_at,
                organisations=organisations,
                policy=policy,
                due_at=due_for(record.start),
            )
            del fields["connection"]
            new_rows.append(fields)
            continue
        if record.is_cancelled:
            if known.status in ACTIVE_STATUSES:
                task = change(known, status=TaskStatus.CANCELLED, claimed_by=None, claimed_at=None)
                audit.append(
                    _audit_row(
                        action="tracing_task.cancelled",
                        task_id=known.pk,
                        task_repr=str(task),
                        pcn_id=known.pcn_id,
                        details={"reason": "appointment cancelled in EMIS"},
                    )
                )
            continue
        moved = record.start != known.appointment_start or record.end != known.appointment_end
        if known.status == TaskStatus.CANCELLED:
            task = change(
                known,
                status=TaskStatus.OPEN,
                appointment_start=record.start,
                appointment_end=record.end,
                due_at=due_for(record.start),
            )
            audit.append(
                _audit_row(
                    action="tracing_task.reopened",
                    task_id=known.pk,
                    task_repr=str(task),
                    pcn_id=known.pcn_id,
                    details={
                        "reason": "appointment re-booked in EMIS",
                        "previous_start": known.appointment_start,
                        "appointment_start": record.start,
                        "due_at": task.due_at,
                    },
                )
            )
        elif moved:
            moves: dict[str, Any] = {
                "appointment_start": record.start,
                "appointment_end": record.end,
            }
            if known.status in ACTIVE_STATUSES:
                moves["due_at"] = plan_due(
                    policy=view, found_at=known.created_at, appointment_start=record.start
                )
            task = change(known, **moves)
            audit.append(
                _audit_row(
                    action="tracing_task.redated",
                    task_id=known.pk,
                    task_repr=str(task),
                    pcn_id=known.pcn_id,
                    details={
                        "reason": "appointment moved in EMIS",
                        "previous_start": known.appointment_start,
                        "appointment_start": record.start,
                        # re-planned only while the task is still to be worked
                        **({"due_at": moves["due_at"]} if "due_at" in moves else {}),
                    },
                )
            )
    if new_rows:
        inserted = tracing_tasks_insert(
            connection=connection, rows=new_rows, source=TaskSource.FOUND_BY_POLL
        )
        owners = {org.pk: org.ods_code for org in (organisations or {}).values()}
        owners[connection.organisation_id] = connection.organisation.ods_code
        open_label = TaskStatus.OPEN.label
        for task_row in inserted:
            result.created += 1
            audit.append(
                _audit_row(
                    action="tracing_task.created",
                    task_id=task_row.pk,
                    task_repr=f"Trace appointment {task_row.emis_appointment_id} ({open_label})",
                    pcn_id=connection.organisation_id,
                    details={
                        "source": TaskSource.FOUND_BY_POLL,
                        "owner": owners.get(task_row.owner_id, ""),
                        "due_at": task_row.due_at,
                    },
                )
            )
    now = timezone.now()
    for fields_changed, tasks in changed.items():
        for task in tasks:
            task.updated_at = now
        TracingTask.objects.bulk_update(
            tasks, sorted(fields_changed | {"updated_at"}), batch_size=1000
        )
        result.updated += len(tasks)
    audit_bulk_append(audit)
    return result


def _lease_acquire(*, cursor: PollCursor, now: datetime) -> str | None:
    token = str(uuid.uuid4())
    won = PollCursor.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=cursor.pk
    ).update(
        lease_token=token, lease_until=now + timedelta(seconds=settings.TRACING_POLL_LEASE_SECONDS)
    )
    return token if won == 1 else None


def _lease_release(*, cursor: PollCursor, token: str) -> None:
    PollCursor.objects.filter(pk=cursor.pk, lease_token=token).update(
        lease_token="", lease_until=None
    )


def _relax_commit_durability() -> None:
    """On PostgreSQL, let this page's commit return before its WAL reaches disk.
    Safe here, and only here: the page's tasks and the cursor move in the same
    transaction, so a crash that loses the last few pages loses the cursor move
    with them, and the next poll reads those appointments again. It saves a disk
    flush per page (most of a page's time on a fast poll)."""
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class LeaseLost(Exception):
    """Another worker took over this connection's poll (our lease expired)."""


def poll_connection(*, connection: EmisConnection) -> PollRun:
    """Read one live PCN connection's changed appointments from EMIS into tracing
    tasks. One transaction per page: the page's tasks and the cursor move
    together, so a failure (or a killed worker) loses nothing and the next poll
    re-reads from the unchanged cursor. A per-connection lease keeps two workers
    apart; the unique (connection, appointment id) keeps rows single anyway.

    EMIS failures are recorded on the run and the cursor; `EmisUnavailable` is
    raised again afterwards so a Celery task can retry it."""
    if connection.system != EmisSystem.EMIS_COMMUNITY:
        raise PollRefused(
            f"Connection {connection.pk} is a practice's EMIS Web: only PCN EMIS Community "
            "connections are polled for tracing."
        )
    if connection.status != ConnectionStatus.LIVE:
        raise PollRefused(
            f"Connection {connection.pk} is {connection.get_status_display().lower()}, "
            "not live: it is not polled."
        )
    now = timezone.now()
    cursor, _ = PollCursor.objects.get_or_create(connection=connection)
    token = _lease_acquire(cursor=cursor, now=now)
    if token is None:
        return PollRun.objects.create(
            connection=connection,
            started_at=now,
            finished_at=now,
            status=PollRunStatus.SKIPPED,
            error="Another poll of this connection is running.",
        )
    run = PollRun.objects.create(connection=connection, started_at=now)
    cursor.refresh_from_db()
    start_from = cursor.cursor_at or (
        now - timedelta(days=settings.TRACING_POLL_INITIAL_LOOKBACK_DAYS)
    )
    updated_since = start_from - timedelta(seconds=settings.TRACING_POLL_OVERLAP_SECONDS)
    policy = policy_for_pcn(pcn=connection.organisation)
    failure: BaseException | None = None
    try:
        client = emis_client(connection=connection, purpose="poller")
        try:
            pages = client.list_appointments(
                updated_since, page_size=settings.TRACING_POLL_PAGE_SIZE
            )
            if settings.TRACING_POLL_PREFETCH:
                # Fetch the next page from EMIS while this one is stored.
                pages = prefetched(pages, name=f"poll-prefetch-{connection.pk}")
            for page in pages:
                with transaction.atomic():
                    _relax_commit_durability()
                    result = tracing_tasks_upsert_page(
                        connection=connection, records=page, policy=policy, found_at=timezone.now()
                    )
                    newest = max(
                        (r.last_updated for r in page if r.last_updated is not None),
                        default=None,
                    )
                    moves: dict[str, Any] = {
                        "lease_until": timezone.now()
                        + timedelta(seconds=settings.TRACING_POLL_LEASE_SECONDS)
                    }
                    if newest is not None and (
                        cursor.cursor_at is None or newest > cursor.cursor_at
                    ):
                        moves["cursor_at"] = newest
                    if (
                        PollCursor.objects.filter(pk=cursor.pk, lease_token=token).update(**moves)
                        != 1
                    ):
                        raise LeaseLost(
                            "Another worker took over this connection's poll; this page was "
                            "rolled back."
                        )
                    if "cursor_at" in moves:
                        cursor.cursor_at = moves["cursor_at"]
                run.pages += 1
                run.appointments_seen += result.seen
                run.created += result.created
                run.updated += result.updated
        finally:
            client.close()
    except LeaseLost as exc:
        # Another worker holds the connection now and carries on from the cursor.
        run.status = PollRunStatus.SKIPPED
        run.error = str(exc)
        run.finished_at = timezone.now()
        run.save()
        return run
    except EmisError as exc:
        failure = exc
    except Exception as exc:  # recorded, then raised: the run must not stay "running"
        failure = exc
    finished = timezone.now()
    run.finished_at = finished
    if failure is None:
        run.status = PollRunStatus.SUCCEEDED
        PollCursor.objects.filter(pk=cursor.pk).update(last_success_at=finished)
        connection_record_call(connection=connection)
    else:
        run.status = PollRunStatus.FAILED
        reason = str(failure) if isinstance(failure, EmisError) else type(failure).__name__
        run.error = (reason or type(failure).__name__)[:2000]
        PollCursor.objects.filter(pk=cursor.pk).update(last_error=run.error, last_error_at=finished)
        if isinstance(failure, EmisError):
            connection_record_call(connection=connection, error=failure)
        logger.warning(
            "Poll of connection %s failed: %s", connection.pk, run.error, exc_info=failure
        )
    run.save()
    _lease_release(cursor=cursor, token=token)
    if failure is not None and (
        isinstance(failure, EmisUnavailable) or not isinstance(failure, EmisError)
    ):
        raise failure
    return run


def live_pcn_connections() -> list[EmisConnection]:
    return list(
        EmisConnection.objects.filter(
            system=EmisSystem.EMIS_COMMUNITY, status=ConnectionStatus.LIVE
        ).select_related("organisation")
    )


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
