"""Writes for tracing: opening tasks for PCN appointments, with owner and due
time from the PCN's policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from emis_integration.client import AppointmentRecord
from emis_integration.models import EmisConnection, EmisSystem
from hippo_pcn.audit.services import Actor, audit_record
from hippo_pcn.organisations.models import Organisation

from .models import TaskSource, TracingTask
from .planning import plan_due
from .selectors import policy_for_pcn, policy_view, task_owner


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
) -> dict[str, Any]:
    """Everything a TracingTask holds about one PCN appointment, planned by the
    PCN's policy. Shared by booking-time creation and the poller."""
    if connection.system != EmisSystem.EMIS_COMMUNITY:
        raise ValueError("Tracing tasks come from PCN (EMIS Community) connections only.")
    pcn = connection.organisation
    if organisations is None:
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
        "owner": owner,
        "due_at": plan_due(
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
