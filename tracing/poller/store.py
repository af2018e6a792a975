"""The poller's storage: the snapshot of what EMIS showed, the demographics
cache, and tasks inserted or changed many at once.

On PostgreSQL each function takes the fast path (`fastpath.py`: binary reads,
COPY, a staging table dropped at commit); on SQLite (the demo's embedded
database) the same function uses the ORM. What a change means for a task is
decided in `changes.py` and `new_tasks.py`, not here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection as db_connection
from django.utils import timezone

from emis_integration.models import EmisConnection
from hippo_pcn.db import concrete_field

from ..models import PollPatient, PollSession, PollSlot, TaskStatus, TracingTask
from . import fastpath
from .diff import SeenSlot, SnapSession, SnapSlot

# --- the snapshot ---------------------------------------------------------------------


def snapshot_sessions(*, connection: EmisConnection) -> dict[int, SnapSession]:
    return {
        row[0]: SnapSession(*row)
        for row in fastpath.read_rows(
            PollSession.objects.filter(connection=connection).values_list(
                "session_id", "session_date", "signature"
            )
        )
    }


def snapshot_slots(*, connection: EmisConnection) -> list[SnapSlot]:
    return [
        SnapSlot(*row)
        for row in fastpath.read_rows(
            PollSlot.objects.filter(connection=connection).values_list(
                "slot_id", "session_id", "start", "end", "status", "patient_number", "task_id"
            )
        )
    ]


def snapshot_save_sessions(
    *,
    connection: EmisConnection,
    sessions: Iterable[SnapSession],
    forget: Iterable[int],
    now: datetime,
) -> None:
    """Record the sessions just read (their signatures now) and forget the
    sessions that are gone or aged out, with their slots."""
    forget = list(forget)
    sessions = list(sessions)
    ids = [s.session_id for s in sessions] + forget
    if ids:
        PollSession.objects.filter(connection=connection, session_id__in=ids).delete()
    PollSession.objects.bulk_create(
        [
            PollSession(
                connection=connection,
                session_id=s.session_id,
                session_date=s.session_date,
                signature=s.signature,
                fetched_at=now,
            )
            for s in sessions
        ],
        batch_size=1000,
    )
    if forget:
        PollSlot.objects.filter(connection=connection, session_id__in=forget).delete()


def snapshot_replace_slots(
    *,
    connection: EmisConnection,
    session_ids: Iterable[int],
    slots: Iterable[tuple[SeenSlot, int | None]],
) -> None:
    """The booked slots of the sessions just read, each with its task, replace
    what the snapshot held for those sessions."""
    session_ids = list(session_ids)
    rows = list(slots)
    if session_ids:
        PollSlot.objects.filter(connection=connection, session_id__in=session_ids).delete()
    if not rows:
        return
    # A slot can move from one session to another only through EMIS deleting and
    # re-creating it; drop any row of it left under a session not read this sweep.
    PollSlot.objects.filter(
        connection=connection, slot_id__in=[seen.slot_id for seen, _ in rows]
    ).delete()
    if fastpath.on_postgresql():
        _copy_rows(
            PollSlot,
            ["connection", "session_id", "slot_id", "start", "end", "status", "patient_number"]
            + ["task"],
            (
                (
                    connection.pk,
                    seen.session_id,
                    seen.slot_id,
                    seen.start,
                    seen.end,
                    seen.status[:40],
                    seen.patient_number,
                    task_id,
                )
                for seen, task_id in rows
            ),
        )
        return
    PollSlot.objects.bulk_create(
        [
            PollSlot(
                connection=connection,
                session_id=seen.session_id,
                slot_id=seen.slot_id,
                start=seen.start,
                end=seen.end,
                status=seen.status[:40],
                patient_number=seen.patient_number,
                task_id=task_id,
            )
            for seen, task_id in rows
        ],
        batch_size=1000,
    )


def _copy_rows(model: Any, field_names: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    fastpath.copy_rows(
        table=model._meta.db_table,
        columns=[concrete_field(model, name).column for name in field_names],
        rows=rows,
    )


# --- demographics cache ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedPatient:
    patient_number: int
    nhs_number: str
    family_name: str
    given_names: str
    birth_date: Any
    gender: str
    registered_practice_ods: str
    registered_practice_name: str
    fetched_at: datetime


def cached_patients(
    *, connection: EmisConnection, numbers: Iterable[int]
) -> dict[int, CachedPatient]:
    numbers = list(set(numbers))
    if not numbers:
        return {}
    return {
        row[0]: CachedPatient(*row)
        for row in fastpath.read_rows(
            PollPatient.objects.filter(
                connection=connection, patient_number__in=numbers
            ).values_list(
                "patient_number",
                "nhs_number",
                "family_name",
                "given_names",
                "birth_date",
                "gender",
                "registered_practice_ods",
                "registered_practice_name",
                "fetched_at",
            )
        )
    }


def cache_patients(*, connection: EmisConnection, patients: Iterable[CachedPatient]) -> None:
    patients = list(patients)
    if not patients:
        return
    PollPatient.objects.filter(
        connection=connection, patient_number__in=[p.patient_number for p in patients]
    ).delete()
    PollPatient.objects.bulk_create(
        [
            PollPatient(
                connection=connection,
                patient_number=p.patient_number,
                nhs_number=p.nhs_number[:10],
                family_name=p.family_name[:100],
                given_names=p.given_names[:100],
                birth_date=p.birth_date,
                gender=p.gender[:20],
                registered_practice_ods=p.registered_practice_ods[:10],
                registered_practice_name=p.registered_practice_name[:200],
                fetched_at=p.fetched_at,
            )
            for p in patients
        ],
        batch_size=1000,
    )


# --- tasks -----------------------------------------------------------------------------

# Columns of a new task that vary per appointment, in the order the PostgreSQL
# INSERT ... SELECT takes them; the rest are constants.
TASK_ROW_FIELDS = (
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
    "emis_slot_id",
    "emis_session_id",
    "emis_patient_number",
    "emis_slot_status",
    "owner",
    "due_at",
)


@dataclass(frozen=True)
class InsertedTask:
    pk: int
    emis_appointment_id: str
    owner_id: int
    due_at: datetime


def _insert_tasks_postgresql(
    *,
    connection: EmisConnection,
    rows: list[dict[str, Any]],
    source: str,
    now: datetime,
    method: str = "copy",
) -> list[InsertedTask]:
    """New tasks in one statement through a staging table (`fastpath.staged_insert`:
    COPY, then INSERT ... SELECT), where ON CONFLICT leaves an appointment that a
    booking has just stored alone. `method="unnest"` is the measured alternative."""
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
    varying = [concrete_field(TracingTask, name) for name in TASK_ROW_FIELDS]
    getters = [(f.name, f.is_relation) for f in varying]
    stored = fastpath.staged_insert(
        table=TracingTask._meta.db_table,
        constants=[
            (concrete_field(TracingTask, name).column, value) for name, value in constants.items()
        ],
        varying=varying,
        rows=[
            [
                (row[name].pk if row[name] is not None else None) if is_relation else row[name]
                for name, is_relation in getters
            ]
            for row in rows
        ],
        conflict=[concrete_field(TracingTask, name).column for name in _UNIQUE],
        returning=["id", "emis_appointment_id"],
        method=method,
    )
    by_id = {row["emis_appointment_id"]: row for row in rows}
    return [
        InsertedTask(
            pk, appointment_id, by_id[appointment_id]["owner"].pk, by_id[appointment_id]["due_at"]
        )
        for pk, appointment_id in stored
    ]


# A task per appointment of a connection.
_UNIQUE = ("connection", "emis_appointment_id")


def _insert_tasks_portable(
    *, connection: EmisConnection, rows: list[dict[str, Any]], source: str, now: datetime
) -> list[InsertedTask]:
    """The same through the ORM, for SQLite (the demo's embedded database)."""
    TracingTask.objects.bulk_create(
        [
            TracingTask(
                **{name: row[name] for name in TASK_ROW_FIELDS},
                connection=connection,
                pcn_id=connection.organisation_id,
                source=source,
            )
            for row in rows
        ],
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
    """Insert new tasks (the TASK_ROW_FIELDS of each), skipping appointment ids
    that already have one; returns those inserted now."""
    if not rows:
        return []
    now = timezone.now()
    if fastpath.on_postgresql():
        return _insert_tasks_postgresql(connection=connection, rows=rows, source=source, now=now)
    return _insert_tasks_portable(connection=connection, rows=rows, source=source, now=now)


def tracing_tasks_update(
    *, changes: dict[frozenset[str], list[tuple[int, dict[str, Any]]]]
) -> None:
    """Write many tasks' changes: for each set of fields changed, one UPDATE
    statement executed for every task (psycopg pipelines them: one round trip,
    no per-row SQL to compile, unlike the ORM's bulk_update with its CASE WHEN
    per row and field). `changes` maps field names to (task id, values) pairs;
    values are model values (organisations, date-times...)."""
    table = TracingTask._meta.db_table
    with db_connection.cursor() as cursor:
        for names, rows in changes.items():
            fields = [concrete_field(TracingTask, name) for name in sorted(names)]
            assignments = ", ".join(f'"{field.column}" = %s' for field in fields)
            # Identifiers come from the model's own metadata; values are parameters.
            statement = f'UPDATE "{table}" SET {assignments} WHERE "id" = %s'  # noqa: S608
            cursor.executemany(
                statement,
                [
                    [
                        field.get_db_prep_save(
                            _pk_of(values[field.name]) if field.is_relation else values[field.name],
                            db_connection,
                        )
                        for field in fields
                    ]
                    + [task_id]
                    for task_id, values in rows
                ],
            )


def _pk_of(value: Any) -> Any:
    return getattr(value, "pk", value)


def relax_commit_durability() -> None:
    """Let the current transaction's commit return before its WAL reaches disk
    (PostgreSQL). `fastpath.page_transaction()` does this for a poll's writes."""
    fastpath.relax_commit_durability()
