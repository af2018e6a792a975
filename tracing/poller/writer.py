"""The task writer: one poll's changes to its tasks, queued and written at once,
with their audit rows, in the caller's transaction. The changes to known tasks
(kept, re-statused, cancelled, moved) and the late NHS numbers are here; new
appointments are in `new_tasks.py`; the order is in `changes.py`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from emis_integration.models import EmisConnection
from hippo_pcn.audit.services import AuditRow, system_actor
from hippo_pcn.organisations.models import Organisation

from ..models import ACTIVE_STATUSES, PollRun, TaskStatus, TracingPolicy, TracingTask
from ..planning import page_due_planner, plan_due, task_owner
from ..selectors import policy_view
from . import store
from .diff import Move, SeenSlot, SnapSlot
from .patients import Resolved
from .reading import Sweep

POLLER = system_actor("poller")


@dataclass
class Outcome:
    """What one poll did to its tasks (the run's counts)."""

    created: int = 0
    cancelled: int = 0
    moved: int = 0
    updated: int = 0


def audit_row(
    *, action: str, task_id: int, task_repr: str, pcn_id: int, **details: Any
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


def organisations_by_ods(codes: Iterable[str]) -> dict[str, Organisation]:
    wanted = {code for code in codes if code}
    if not wanted:
        return {}
    return {org.ods_code: org for org in Organisation.objects.filter(ods_code__in=wanted)}


class TaskWriter:
    """Applies one diff to the tasks, in the caller's transaction: changes are
    queued (`task_update`) and written by `flush`, audit rows gathered in `audit`."""

    def __init__(
        self,
        *,
        connection: EmisConnection,
        run: PollRun,
        policy: TracingPolicy,
        sweep: Sweep,
        resolved: Resolved,
        found_at: datetime,
    ) -> None:
        self.connection = connection
        self.run = run
        self.policy = policy
        self.view = policy_view(policy)
        self.due_for = page_due_planner(self.view, found_at)
        self.sweep = sweep
        self.resolved = resolved
        self.found_at = found_at
        self.audit: list[AuditRow] = []
        self.outcome = Outcome()
        # Slot id -> the task now tracing the patient in it (for the snapshot).
        self.task_for_slot: dict[int, int | None] = {}
        self._pending: dict[frozenset[str], list[tuple[int, dict[str, Any]]]] = {}
        # Tasks matched to an appearance in this poll (each at most once).
        self.adopted: set[int] = set()

    def task_update(self, task_id: int, **changes: Any) -> int:
        """Queue a change to one task; `flush` writes them all at once."""
        self._pending.setdefault(frozenset(changes), []).append((task_id, changes))
        return 1

    def flush(self) -> None:
        now = timezone.now()
        store.tracing_tasks_update(
            changes={
                names | {"updated_at"}: [(pk, {**values, "updated_at": now}) for pk, values in rows]
                for names, rows in self._pending.items()
            }
        )
        self._pending = {}

    def emis_fields(self, seen: SeenSlot) -> dict[str, Any]:
        return {
            "emis_slot_id": seen.slot_id,
            "emis_session_id": seen.session_id,
            "emis_patient_number": seen.patient_number,
            "emis_slot_status": seen.status[:40],
        }

    # Each kind of change --------------------------------------------------------------
    def kept(self, moves: list[Move]) -> None:
        for move in moves:
            self.task_for_slot[move.new.slot_id] = move.old.task_id

    def restatused(self, moves: list[Move]) -> None:
        for move in moves:
            self.task_for_slot[move.new.slot_id] = move.old.task_id
            if move.old.task_id is not None:
                self.outcome.updated += self.task_update(
                    move.old.task_id, emis_slot_status=move.new.status[:40]
                )

    def cancelled(self, departed: list[SnapSlot]) -> None:
        ids = [slot.task_id for slot in departed if slot.task_id is not None]
        tasks = TracingTask.objects.filter(pk__in=ids, status__in=ACTIVE_STATUSES)
        for task in tasks.only("pk", "pcn_id", "emis_appointment_id", "status"):
            self.audit.append(
                audit_row(
                    action="tracing_task.cancelled",
                    task_id=task.pk,
                    task_repr=str(task),
                    pcn_id=task.pcn_id,
                    reason="appointment cancelled in EMIS",
                )
            )
        self.outcome.cancelled += tasks.update(
            status=TaskStatus.CANCELLED,
            claimed_by=None,
            claimed_at=None,
            updated_at=timezone.now(),
        )

    def moved(self, moves: list[Move]) -> list[SeenSlot]:
        """Re-date the task of each patient who moved; returns the patients whose
        move cannot be followed (the snapshot had no task for their old slot):
        they are new appointments."""
        unfollowed: list[SeenSlot] = []
        by_id = {
            task.pk: task
            for task in TracingTask.objects.filter(
                pk__in=[m.old.task_id for m in moves if m.old.task_id is not None]
            ).only(
                "pk", "pcn_id", "emis_appointment_id", "status", "created_at", "appointment_start"
            )
        }
        for move in moves:
            task = by_id.get(move.old.task_id) if move.old.task_id is not None else None
            if task is None:
                # The snapshot knew the slot but no task (a task deleted by hand):
                # treat the patient's new slot as a new appointment.
                self.task_for_slot[move.new.slot_id] = None
                unfollowed.append(move.new)
                continue
            self.task_for_slot[move.new.slot_id] = task.pk
            changes: dict[str, Any] = {
                "appointment_start": move.new.start,
                "appointment_end": move.new.end,
                **self.emis_fields(move.new),
            }
            details = self.sweep.details.get(move.new.slot_id)
            if details is not None:
                changes.update(
                    site_name=details.site_name[:200],
                    practitioner=details.practitioner[:200],
                    service=details.service[:200],
                )
            if task.status in ACTIVE_STATUSES:
                changes["due_at"] = plan_due(
                    policy=self.view, found_at=task.created_at, appointment_start=move.new.start
                )
            self.task_update(task.pk, **changes)
            self.outcome.moved += 1
            self.audit.append(
                audit_row(
                    action="tracing_task.redated",
                    task_id=task.pk,
                    task_repr=str(task),
                    pcn_id=task.pcn_id,
                    reason="appointment moved in EMIS",
                    previous_start=task.appointment_start,
                    appointment_start=move.new.start,
                    **({"due_at": changes["due_at"]} if "due_at" in changes else {}),
                )
            )
        return unfollowed

    def patient_fields(self, patient: store.CachedPatient) -> dict[str, Any]:
        return {
            "patient_nhs_number": patient.nhs_number,
            "patient_family_name": patient.family_name[:100],
            "patient_given_name": patient.given_names[:100],
            "patient_birth_date": patient.birth_date,
            "patient_gender": patient.gender[:20],
            "registered_practice_ods": patient.registered_practice_ods[:10],
            "registered_practice_name": patient.registered_practice_name[:200],
        }

    def fill_unknown_nhs_numbers(self, task_ids: dict[int, int]) -> None:
        """Tasks opened while EMIS could not describe the patient get their NHS
        number and demographics once it can, and their owner by the policy now
        that the patient's practice is known."""
        found = {
            task_id: patient
            for task_id, number in task_ids.items()
            if (patient := self.resolved.patients.get(number)) is not None
        }
        if not found:
            return
        organisations = organisations_by_ods(p.registered_practice_ods for p in found.values())
        pcn = self.connection.organisation
        for task in TracingTask.objects.filter(pk__in=found, patient_nhs_number="").select_related(
            "booking_organisation"
        ):
            patient = found[task.pk]
            registered = organisations.get(patient.registered_practice_ods)
            owner = task_owner(
                policy=self.policy,
                pcn=pcn,
                booking_organisation=task.booking_organisation,
                registered_practice=registered,
            )
            self.outcome.updated += self.task_update(
                task.pk,
                **self.patient_fields(patient),
                registered_practice=registered,
                owner=owner,
            )
