"""Opening tracing tasks for PCN appointments (found by the poller or made by
booking), with owner and due time from the PCN's policy."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from emis_integration.client import (
    AppointmentRecord,
)
from emis_integration.models import EmisConnection, EmisSystem
from hippo_pcn.audit.services import (
    Actor,
    audit_record,
)
from hippo_pcn.organisations.models import Organisation

from ..models import (
    ACTIVE_STATUSES,
    TaskSource,
    TaskStatus,
    TracingTask,
)
from ..planning import plan_due, task_owner
from ..selectors import policy_for_pcn, policy_view
from .actions import _audit_task

logger = logging.getLogger(__name__)


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
