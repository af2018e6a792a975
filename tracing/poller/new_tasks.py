"""New appointments (step 5 of a poll, for the patients who appeared): the task
a booking through hippo-pcn opened for the slot, or a cancelled task of the same
appointment (re-booked), is taken over; anyone else gets a new task, owned and
due by the PCN's policy, audited as found by the poller."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import TaskSource, TaskStatus, TracingTask, tracing_task_label
from ..planning import task_owner
from . import store
from .diff import SeenSlot
from .writer import TaskWriter, audit_row, organisations_by_ods

NHS_NUMBER_UNKNOWN = "NHS number not yet known: EMIS did not give the patient's demographics."


def tasks_adopt(writer: TaskWriter, appeared: list[SeenSlot]) -> list[SeenSlot]:
    """Patients in slots the snapshot had no one in (for them) whose appointment
    already has a task: one a booking through hippo-pcn opened for this slot (or
    for this NHS number at this start), or a cancelled one of the same
    appointment (re-booked: it reopens). Returns the others: new appointments."""
    remaining = _adopt_by_slot(writer, appeared)
    return _adopt_by_patient(writer, remaining)


def _adopt(writer: TaskWriter, task: TracingTask, seen: SeenSlot, *, reopen: bool) -> None:
    changes: dict[str, Any] = {
        **writer.emis_fields(seen),
        "appointment_start": seen.start,
        "appointment_end": seen.end,
    }
    patient = writer.resolved.patients.get(seen.patient_number)
    if patient is not None and not task.patient_nhs_number:
        changes.update(writer.patient_fields(patient))
    if reopen:
        changes.update(status=TaskStatus.OPEN, due_at=writer.due_for(seen.start))
        writer.audit.append(
            audit_row(
                action="tracing_task.reopened",
                task_id=task.pk,
                task_repr=str(task),
                pcn_id=task.pcn_id,
                reason="appointment re-booked in EMIS",
                appointment_start=seen.start,
                due_at=changes["due_at"],
            )
        )
    writer.task_update(task.pk, **changes)
    writer.adopted.add(task.pk)
    writer.task_for_slot[seen.slot_id] = task.pk
    writer.outcome.updated += 1


def _adopt_by_slot(writer: TaskWriter, appeared: list[SeenSlot]) -> list[SeenSlot]:
    if not appeared:
        return []
    candidates: dict[int, list[TracingTask]] = {}
    for task in TracingTask.objects.filter(
        connection=writer.connection, emis_slot_id__in=[s.slot_id for s in appeared]
    ).only(
        "pk",
        "pcn_id",
        "emis_appointment_id",
        "status",
        "emis_slot_id",
        "emis_patient_number",
        "patient_nhs_number",
        "source",
    ):
        candidates.setdefault(task.emis_slot_id or 0, []).append(task)
    remaining = []
    for seen in appeared:
        chosen = None
        for task in candidates.get(seen.slot_id, []):
            if task.pk in writer.adopted:
                continue
            same_patient = task.emis_patient_number == seen.patient_number
            if task.status != TaskStatus.CANCELLED and (
                same_patient
                or (task.emis_patient_number is None and _same_person(writer, task, seen))
            ):
                chosen = (task, False)
                break
            if task.status == TaskStatus.CANCELLED and same_patient:
                chosen = (task, True)
        if chosen is None:
            remaining.append(seen)
        else:
            _adopt(writer, chosen[0], seen, reopen=chosen[1])
    return remaining


def _same_person(writer: TaskWriter, task: TracingTask, seen: SeenSlot) -> bool:
    """A task a booking opened (no patient number yet) is this appointment
    when the NHS numbers agree, or the NHS number is not known yet."""
    patient = writer.resolved.patients.get(seen.patient_number)
    return (
        patient is None
        or not task.patient_nhs_number
        or (patient.nhs_number == task.patient_nhs_number)
    )


def _adopt_by_patient(writer: TaskWriter, appeared: list[SeenSlot]) -> list[SeenSlot]:
    """A task with this patient's NHS number at the same start, not yet
    matched to a slot: the same appointment (a booking whose slot id EMIS
    words differently, or a task from before sweeping began)."""
    by_key: dict[tuple[str, datetime], SeenSlot] = {}
    for seen in appeared:
        patient = writer.resolved.patients.get(seen.patient_number)
        if patient is not None:
            by_key[(patient.nhs_number, seen.start)] = seen
    if not by_key:
        return appeared
    adopted: set[int] = set()
    for task in TracingTask.objects.filter(
        connection=writer.connection,
        emis_patient_number__isnull=True,
        patient_nhs_number__in={key[0] for key in by_key},
        appointment_start__in={key[1] for key in by_key},
    ).exclude(status=TaskStatus.CANCELLED):
        match = by_key.get((task.patient_nhs_number, task.appointment_start))
        if match is not None and match.slot_id not in adopted and task.pk not in writer.adopted:
            adopted.add(match.slot_id)
            _adopt(writer, task, match, reopen=False)
    return [seen for seen in appeared if seen.slot_id not in adopted]


def tasks_create_for_new(writer: TaskWriter, appeared: list[SeenSlot]) -> None:
    """A new task for each new appointment: the patient's details (or "NHS
    number not yet known"), owner and due time by the policy, one audit row
    each; an appointment a booking stored meanwhile is left alone."""
    if not appeared:
        return
    organisations = organisations_by_ods(
        patient.registered_practice_ods
        for seen in appeared
        if (patient := writer.resolved.patients.get(seen.patient_number)) is not None
    )
    pcn = writer.connection.organisation
    rows = []
    for seen in appeared:
        details = writer.sweep.details.get(seen.slot_id)
        patient = writer.resolved.patients.get(seen.patient_number)
        registered = organisations.get(patient.registered_practice_ods) if patient else None
        if patient is not None:
            person = writer.patient_fields(patient)
        else:
            person = {
                "patient_nhs_number": "",
                "patient_family_name": (details.family_name if details else "")[:100],
                "patient_given_name": (details.given_names if details else "")[:100],
                "patient_birth_date": None,
                "patient_gender": "",
                "registered_practice_ods": "",
                "registered_practice_name": "",
            }
        rows.append(
            {
                "emis_appointment_id": (
                    f"papi-{writer.run.pk}-{seen.slot_id}-{seen.patient_number}"
                ),
                **person,
                "registered_practice": registered,
                "booking_org_ods": "",
                "booking_organisation": None,
                "appointment_start": seen.start,
                "appointment_end": seen.end,
                "site_name": (details.site_name if details else "")[:200],
                "practitioner": (details.practitioner if details else "")[:200],
                "service": (details.service if details else "")[:200],
                "emis_version": "",
                "emis_last_updated": None,
                **writer.emis_fields(seen),
                "owner": task_owner(
                    policy=writer.policy,
                    pcn=pcn,
                    booking_organisation=None,
                    registered_practice=registered,
                ),
                "due_at": writer.due_for(seen.start),
            }
        )
    inserted = store.tracing_tasks_insert(
        connection=writer.connection, rows=rows, source=TaskSource.FOUND_BY_POLL
    )
    owners = {org.pk: org.ods_code for org in organisations.values()}
    owners[pcn.pk] = pcn.ods_code
    by_appointment = {row["emis_appointment_id"]: row for row in rows}
    for task_row in inserted:
        row = by_appointment[task_row.emis_appointment_id]
        writer.task_for_slot[row["emis_slot_id"]] = task_row.pk
        writer.outcome.created += 1
        writer.audit.append(
            audit_row(
                action="tracing_task.created",
                task_id=task_row.pk,
                task_repr=tracing_task_label(
                    task_id=task_row.pk,
                    appointment_start=row["appointment_start"],
                    site_name=row["site_name"],
                ),
                pcn_id=pcn.pk,
                source=TaskSource.FOUND_BY_POLL,
                owner=owners.get(task_row.owner_id, ""),
                due_at=task_row.due_at,
                **({} if row["patient_nhs_number"] else {"note": NHS_NUMBER_UNKNOWN}),
            )
        )
