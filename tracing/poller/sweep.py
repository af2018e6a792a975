"""One poll of one PCN's EMIS Community through the EMIS Partner API.

1. List the appointment sessions from today to TRACING_POLL_WINDOW_DAYS ahead
   (one call: all an unchanged PCN costs).
2. Read the slots of the sessions that are new or whose counts changed, or of
   every session on a full sweep (TRACING_POLL_FULL_SWEEP_SECONDS).
3. Diff the booked slots against the snapshot (`diff.py`): new appointments,
   cancellations, moves.
4. Resolve new patients' NHS numbers (GetPatientDemographics, cached).
5. In one transaction: tasks created, cancelled, re-dated; the snapshot moves
   with them. A poll killed before the commit changes nothing, and the next poll
   sees the same changes again; one killed after it has nothing left to do.

No database transaction is open while EMIS is called."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from emis_integration.client import EmisError, EmisRejected, EmisUnavailable, PatientNotFound
from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem
from emis_integration.selectors import partner_client
from emis_integration.services import connection_record_call
from hippo_pcn.audit.services import AuditRow, audit_bulk_append, system_actor
from hippo_pcn.organisations.models import Organisation

from ..models import (
    ACTIVE_STATUSES,
    PollCursor,
    PollRun,
    PollRunStatus,
    TaskSource,
    TaskStatus,
    TracingPolicy,
    TracingTask,
    tracing_task_label,
)
from ..planning import page_due_planner, plan_due, task_owner
from ..selectors import policy_for_pcn, policy_view
from . import store
from .diff import (
    ListedSession,
    Move,
    SeenSlot,
    SessionPlan,
    SlotDiff,
    SnapSession,
    SnapSlot,
    diff_slots,
    plan_sessions,
    session_signature,
    sessions_to_settle,
)

logger = logging.getLogger(__name__)

POLLER = system_actor("poller")
NHS_NUMBER_UNKNOWN = "NHS number not yet known: EMIS did not give the patient's demographics."

T = TypeVar("T")
R = TypeVar("R")


class PollRefused(ValueError):
    """A connection the poller must not read (not a live PCN connection)."""


class LeaseLost(Exception):
    """Another worker took over this connection's poll (our lease expired)."""


# --- EMIS side ------------------------------------------------------------------------


def _in_threads(
    function: Callable[[T], R], items: list[T], *, on_each: Callable[[], None] | None = None
) -> list[R]:
    """`function` over `items`, in up to TRACING_POLL_FETCH_CONCURRENCY threads
    (only HTTP happens there), results in order. The first exception is raised
    once every started call has finished. `on_each` runs in the calling thread
    as each result comes in (the poll's lease heartbeat: one per page read)."""
    workers = max(1, min(settings.TRACING_POLL_FETCH_CONCURRENCY, len(items)))
    results: list[R] = []
    if workers == 1:
        for item in items:
            results.append(function(item))
            if on_each is not None:
                on_each()
        return results
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll-fetch") as pool:
        for result in pool.map(function, items):
            results.append(result)
            if on_each is not None:
                on_each()
    return results


@dataclass
class SlotDetails:
    """What a task needs of a booked slot beyond what the diff compares."""

    session_name: str
    site_name: str
    practitioner: str
    service: str
    family_name: str
    given_names: str


@dataclass
class Sweep:
    """What one poll read from EMIS."""

    listed: dict[int, ListedSession] = field(default_factory=dict)
    read: set[int] = field(default_factory=set)
    seen: list[SeenSlot] = field(default_factory=list)
    details: dict[int, SlotDetails] = field(default_factory=dict)
    sessions: dict[int, Any] = field(default_factory=dict)
    # The snapshot's sessions before this poll.
    known: dict[int, SnapSession] = field(default_factory=dict)
    failed_reads: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unavailable: EmisUnavailable | None = None


def _read_sessions(
    client: Any, sweep: Sweep, session_ids: Iterable[int], beat: Callable[[], None]
) -> None:
    """Read the slots of these sessions into the sweep. A session EMIS cannot
    serve now is left out (its snapshot stays, so the next poll reads it again)."""
    wanted = [sweep.sessions[i] for i in session_ids if i not in sweep.read]

    def read(session: Any) -> tuple[Any, list[Any] | EmisError]:
        try:
            return session, client.slots_for_session(
                session_id=session.id, session_date=session.date
            )
        except EmisUnavailable as exc:
            return session, exc
        except EmisRejected as exc:
            if exc.status_code == 404:
                # Deleted in EMIS since it was listed: nobody is booked in it now.
                sweep.notes.append(f"session {session.id} was deleted in EMIS while this poll ran.")
                return session, []
            raise

    for session, slots in _in_threads(read, wanted, on_each=beat):
        if isinstance(slots, EmisError):
            sweep.failed_reads.append(f"session {session.id}: {slots}")
            sweep.unavailable = slots if isinstance(slots, EmisUnavailable) else sweep.unavailable
            continue
        sweep.read.add(session.id)
        practitioner = ", ".join(session.holders)
        for slot in slots:
            if slot.patient_number is None:
                continue
            sweep.seen.append(
                SeenSlot(
                    slot_id=slot.id,
                    session_id=session.id,
                    start=slot.start,
                    end=slot.end,
                    status=slot.status,
                    patient_number=slot.patient_number,
                )
            )
            sweep.details[slot.id] = SlotDetails(
                session_name=session.name,
                site_name=session.site_name,
                practitioner=practitioner,
                service=slot.slot_type or session.name,
                family_name=slot.patient_family_name,
                given_names=slot.patient_given_names,
            )


@dataclass
class Resolved:
    patients: dict[int, store.CachedPatient] = field(default_factory=dict)
    fresh: list[store.CachedPatient] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _resolve_patients(
    *,
    client: Any,
    connection: EmisConnection,
    numbers: Iterable[int],
    now: datetime,
    beat: Callable[[], None] | None = None,
) -> Resolved:
    """NHS numbers and demographics for patient numbers: from the cache when
    fresh enough, else GetPatientDemographics (at most
    TRACING_POLL_DEMOGRAPHICS_PER_POLL calls). A patient EMIS cannot describe now
    stays unresolved; their task says so and the next poll asks again."""
    numbers = sorted(set(numbers))
    resolved = Resolved()
    if not numbers:
        return resolved
    max_age = timedelta(days=settings.TRACING_POLL_DEMOGRAPHICS_MAX_AGE_DAYS)
    cached = store.cached_patients(connection=connection, numbers=numbers)
    to_ask = []
    for number in numbers:
        known = cached.get(number)
        if known is not None and known.nhs_number and now - known.fetched_at <= max_age:
            resolved.patients[number] = known
        else:
            to_ask.append(number)
    limit = settings.TRACING_POLL_DEMOGRAPHICS_PER_POLL
    if len(to_ask) > limit:
        resolved.warnings.append(
            f"{len(to_ask) - limit} patients' demographics left for the next poll "
            f"(at most {limit} lookups a poll)."
        )
        to_ask = to_ask[:limit]
    stop = {"unavailable": False}

    def ask(number: int) -> tuple[int, Any]:
        if stop["unavailable"]:
            return number, None
        try:
            return number, client.patient_demographics(patient_number=number)
        except EmisUnavailable as exc:
            stop["unavailable"] = True
            return number, exc
        except EmisError as exc:
            return number, exc

    unavailable = 0
    for number, answer in _in_threads(ask, to_ask, on_each=beat):
        if answer is None or isinstance(answer, EmisUnavailable):
            unavailable += 1
            continue
        if isinstance(answer, PatientNotFound):
            resolved.warnings.append(f"patient number {number}: EMIS has no such patient.")
            continue
        if isinstance(answer, EmisError):
            resolved.warnings.append(f"patient number {number}: {answer}")
            continue
        patient = store.CachedPatient(
            patient_number=number,
            nhs_number=answer.nhs_number,
            family_name=answer.family_name,
            given_names=answer.given_names,
            birth_date=answer.birth_date,
            gender=answer.gender,
            registered_practice_ods=answer.registered_practice_ods,
            registered_practice_name=answer.registered_practice_name,
            fetched_at=now,
        )
        resolved.fresh.append(patient)
        if patient.nhs_number:
            resolved.patients[number] = patient
        else:
            resolved.warnings.append(f"patient number {number}: EMIS gave no NHS number.")
    if unavailable:
        resolved.warnings.append(
            f"{unavailable} patients' demographics could not be read (EMIS unavailable); "
            "asked again next poll."
        )
    return resolved


# --- the writes -------------------------------------------------------------------------


@dataclass
class Outcome:
    created: int = 0
    cancelled: int = 0
    moved: int = 0
    updated: int = 0


def _audit_row(
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


def _organisations_by_ods(codes: Iterable[str]) -> dict[str, Organisation]:
    wanted = {code for code in codes if code}
    if not wanted:
        return {}
    return {org.ods_code: org for org in Organisation.objects.filter(ods_code__in=wanted)}


class _Writer:
    """Applies one diff to the tasks and the snapshot, in the caller's transaction."""

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
        self._adopted: set[int] = set()
        # Patients whose move could not be followed (the snapshot had no task for
        # their old slot): they get new tasks with the appearances.
        self.appeared_new: list[SeenSlot] = []

    def _task_update(self, task_id: int, **changes: Any) -> int:
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

    def _emis_fields(self, seen: SeenSlot) -> dict[str, Any]:
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
                self.outcome.updated += self._task_update(
                    move.old.task_id, emis_slot_status=move.new.status[:40]
                )

    def cancelled(self, departed: list[SnapSlot]) -> None:
        ids = [slot.task_id for slot in departed if slot.task_id is not None]
        tasks = TracingTask.objects.filter(pk__in=ids, status__in=ACTIVE_STATUSES)
        for task in tasks.only("pk", "pcn_id", "emis_appointment_id", "status"):
            self.audit.append(
                _audit_row(
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

    def moved(self, moves: list[Move]) -> None:
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
                self.appeared_new.append(move.new)
                continue
            self.task_for_slot[move.new.slot_id] = task.pk
            changes: dict[str, Any] = {
                "appointment_start": move.new.start,
                "appointment_end": move.new.end,
                **self._emis_fields(move.new),
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
            self._task_update(task.pk, **changes)
            self.outcome.moved += 1
            self.audit.append(
                _audit_row(
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

    def appeared(self, appeared: list[SeenSlot]) -> None:
        """A patient in a slot the snapshot had no one in (for them): the task a
        booking through hippo-pcn opened for this slot, a cancelled task of the
        same appointment (re-booked), or else a new task."""
        remaining = self._adopt_by_slot(appeared)
        remaining = self._adopt_by_patient(remaining)
        self._create(remaining + self.appeared_new)

    def _adopt(self, task: TracingTask, seen: SeenSlot, *, reopen: bool) -> None:
        changes: dict[str, Any] = {
            **self._emis_fields(seen),
            "appointment_start": seen.start,
            "appointment_end": seen.end,
        }
        patient = self.resolved.patients.get(seen.patient_number)
        if patient is not None and not task.patient_nhs_number:
            changes.update(self._patient_fields(patient))
        if reopen:
            changes.update(status=TaskStatus.OPEN, due_at=self.due_for(seen.start))
            self.audit.append(
                _audit_row(
                    action="tracing_task.reopened",
                    task_id=task.pk,
                    task_repr=str(task),
                    pcn_id=task.pcn_id,
                    reason="appointment re-booked in EMIS",
                    appointment_start=seen.start,
                    due_at=changes["due_at"],
                )
            )
        self._task_update(task.pk, **changes)
        self._adopted.add(task.pk)
        self.task_for_slot[seen.slot_id] = task.pk
        self.outcome.updated += 1

    def _adopt_by_slot(self, appeared: list[SeenSlot]) -> list[SeenSlot]:
        if not appeared:
            return []
        candidates: dict[int, list[TracingTask]] = {}
        for task in TracingTask.objects.filter(
            connection=self.connection, emis_slot_id__in=[s.slot_id for s in appeared]
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
                if task.pk in self._adopted:
                    continue
                same_patient = task.emis_patient_number == seen.patient_number
                if task.status != TaskStatus.CANCELLED and (
                    same_patient
                    or (task.emis_patient_number is None and self._same_person(task, seen))
                ):
                    chosen = (task, False)
                    break
                if task.status == TaskStatus.CANCELLED and same_patient:
                    chosen = (task, True)
            if chosen is None:
                remaining.append(seen)
            else:
                self._adopt(chosen[0], seen, reopen=chosen[1])
        return remaining

    def _same_person(self, task: TracingTask, seen: SeenSlot) -> bool:
        """A task a booking opened (no patient number yet) is this appointment
        when the NHS numbers agree, or the NHS number is not known yet."""
        patient = self.resolved.patients.get(seen.patient_number)
        return (
            patient is None
            or not task.patient_nhs_number
            or (patient.nhs_number == task.patient_nhs_number)
        )

    def _adopt_by_patient(self, appeared: list[SeenSlot]) -> list[SeenSlot]:
        """A task with this patient's NHS number at the same start, not yet
        matched to a slot: the same appointment (a booking whose slot id EMIS
        words differently, or a task from before sweeping began)."""
        by_key: dict[tuple[str, datetime], SeenSlot] = {}
        for seen in appeared:
            patient = self.resolved.patients.get(seen.patient_number)
            if patient is not None:
                by_key[(patient.nhs_number, seen.start)] = seen
        if not by_key:
            return appeared
        adopted: set[int] = set()
        for task in TracingTask.objects.filter(
            connection=self.connection,
            emis_patient_number__isnull=True,
            patient_nhs_number__in={key[0] for key in by_key},
            appointment_start__in={key[1] for key in by_key},
        ).exclude(status=TaskStatus.CANCELLED):
            match = by_key.get((task.patient_nhs_number, task.appointment_start))
            if match is not None and match.slot_id not in adopted and task.pk not in self._adopted:
                adopted.add(match.slot_id)
                self._adopt(task, match, reopen=False)
        return [seen for seen in appeared if seen.slot_id not in adopted]

    def _patient_fields(self, patient: store.CachedPatient) -> dict[str, Any]:
        return {
            "patient_nhs_number": patient.nhs_number,
            "patient_family_name": patient.family_name[:100],
            "patient_given_name": patient.given_names[:100],
            "patient_birth_date": patient.birth_date,
            "patient_gender": patient.gender[:20],
            "registered_practice_ods": patient.registered_practice_ods[:10],
            "registered_practice_name": patient.registered_practice_name[:200],
        }

    def _create(self, appeared: list[SeenSlot]) -> None:
        if not appeared:
            return
        organisations = _organisations_by_ods(
            patient.registered_practice_ods
            for seen in appeared
            if (patient := self.resolved.patients.get(seen.patient_number)) is not None
        )
        pcn = self.connection.organisation
        rows = []
        for seen in appeared:
            details = self.sweep.details.get(seen.slot_id)
            patient = self.resolved.patients.get(seen.patient_number)
            registered = organisations.get(patient.registered_practice_ods) if patient else None
            if patient is not None:
                person = self._patient_fields(patient)
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
                        f"papi-{self.run.pk}-{seen.slot_id}-{seen.patient_number}"
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
                    **self._emis_fields(seen),
                    "owner": task_owner(
                        policy=self.policy,
                        pcn=pcn,
                        booking_organisation=None,
                        registered_practice=registered,
                    ),
                    "due_at": self.due_for(seen.start),
                }
            )
        inserted = store.tracing_tasks_insert(
            connection=self.connection, rows=rows, source=TaskSource.FOUND_BY_POLL
        )
        owners = {org.pk: org.ods_code for org in organisations.values()}
        owners[pcn.pk] = pcn.ods_code
        by_appointment = {row["emis_appointment_id"]: row for row in rows}
        for task_row in inserted:
            row = by_appointment[task_row.emis_appointment_id]
            self.task_for_slot[row["emis_slot_id"]] = task_row.pk
            self.outcome.created += 1
            self.audit.append(
                _audit_row(
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
        organisations = _organisations_by_ods(p.registered_practice_ods for p in found.values())
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
            self.outcome.updated += self._task_update(
                task.pk,
                **self._patient_fields(patient),
                registered_practice=registered,
                owner=owner,
            )

    def apply(self, diff: SlotDiff) -> None:
        self.kept(diff.kept)
        self.restatused(diff.restatused)
        self.cancelled(diff.departed)
        self.moved(diff.moved)
        self.appeared(diff.appeared)
        audit_bulk_append(self.audit)


# --- the poll ---------------------------------------------------------------------------


def lease_span() -> timedelta:
    """How long a poll's lease holds without a heartbeat: two pages' time (a page
    is one EMIS call, at most TRACING_POLL_PAGE_SECONDS). A poll beats after every
    page, so a lease whose holder stopped beating for two pages' time belongs to
    a dead process and may be taken over at once."""
    return timedelta(seconds=2 * settings.TRACING_POLL_PAGE_SECONDS)


class Lease:
    """A poll's hold on its connection's PollCursor (compare-and-swap on
    `lease_token`), renewed by `beat` after every page read."""

    # Beats closer together than this are skipped: a fast EMIS answering many
    # small pages needs no database write for each.
    MIN_BEAT_GAP = timedelta(seconds=1)

    def __init__(self, *, cursor_id: int, token: str, taken_at: datetime) -> None:
        self.cursor_id = cursor_id
        self.token = token
        self.last_beat = taken_at

    @classmethod
    def acquire(cls, *, cursor: PollCursor, now: datetime) -> Lease | None:
        token = str(uuid.uuid4())
        won = PollCursor.objects.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=cursor.pk
        ).update(lease_token=token, lease_until=now + lease_span())
        return cls(cursor_id=cursor.pk, token=token, taken_at=now) if won == 1 else None

    def beat(self) -> None:
        """Renew the lease; raise LeaseLost if another poll has taken it over."""
        now = timezone.now()
        if now - self.last_beat < self.MIN_BEAT_GAP:
            return
        self.renew(now=now)

    def renew(self, *, now: datetime, **moves: Any) -> None:
        if (
            PollCursor.objects.filter(pk=self.cursor_id, lease_token=self.token).update(
                lease_until=now + lease_span(), **moves
            )
            != 1
        ):
            raise LeaseLost(
                "Another worker took over this connection's poll (this one stopped beating "
                "for two pages' time); this poll's changes were not saved."
            )
        self.last_beat = now

    def release(self) -> None:
        PollCursor.objects.filter(pk=self.cursor_id, lease_token=self.token).update(
            lease_token="", lease_until=None
        )


def runs_abandoned_fail(*, connection: EmisConnection, now: datetime) -> int:
    """Mark failed the runs a dead process left `running`. Called by the poll
    that has just taken the lease: while it holds it, no other run of the
    connection can still be alive."""
    stamp = f"{timezone.localtime(now):%d %b %Y %H:%M}"
    return PollRun.objects.filter(connection=connection, status=PollRunStatus.RUNNING).update(
        status=PollRunStatus.FAILED,
        finished_at=now,
        error=(
            "The process running this poll stopped without finishing (it stopped renewing "
            f"its lease); marked failed at {stamp} by the next poll."
        ),
    )


def _check(connection: EmisConnection) -> None:
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


def _sweep(
    *,
    client: Any,
    connection: EmisConnection,
    cursor: PollCursor,
    run: PollRun,
    now: datetime,
    beat: Callable[[], None],
) -> tuple[Sweep, SlotDiff, SessionPlan]:
    today = timezone.localdate(now)
    window_end = today + timedelta(days=settings.TRACING_POLL_WINDOW_DAYS)
    sweep = Sweep()
    for session in client.appointment_sessions(start=today, end=window_end):
        sweep.sessions[session.id] = session
        sweep.listed[session.id] = ListedSession(
            session.id,
            session.date,
            session_signature(start=session.start, end=session.end, counts=session.counts),
        )
    run.sessions_listed = len(sweep.listed)
    beat()
    full = cursor.last_full_sweep_at is None or (
        now - cursor.last_full_sweep_at
        >= timedelta(seconds=settings.TRACING_POLL_FULL_SWEEP_SECONDS)
    )
    run.full_sweep = full
    sweep.known = store.snapshot_sessions(connection=connection)
    plan = plan_sessions(
        listed=sweep.listed.values(), snapshot=sweep.known, window_start=today, full_sweep=full
    )
    if not plan.to_fetch and not plan.gone and not plan.expired:
        return sweep, SlotDiff(), plan
    snapshot = store.snapshot_slots(connection=connection)
    _read_sessions(client, sweep, plan.to_fetch, beat)
    diff = diff_slots(
        snapshot=snapshot, seen=sweep.seen, read_sessions=sweep.read, gone_sessions=plan.gone
    )
    settle = sessions_to_settle(
        appeared=diff.appeared,
        snapshot=snapshot,
        read_sessions=sweep.read,
        listed_sessions=sweep.listed,
    )
    if settle:
        _read_sessions(client, sweep, sorted(settle), beat)
        diff = diff_slots(
            snapshot=snapshot, seen=sweep.seen, read_sessions=sweep.read, gone_sessions=plan.gone
        )
    return sweep, diff, plan


def poll_changes_store(
    *,
    connection: EmisConnection,
    run: PollRun,
    policy: TracingPolicy,
    sweep: Sweep,
    diff: SlotDiff,
    resolved: Resolved,
    forget: list[int],
    waiting: dict[int, int],
) -> Outcome:
    """One poll's writes, in the caller's transaction: the tasks (created,
    cancelled, re-dated, matched, reopened; audited), the demographics cache,
    and the snapshot, rewritten only where it changed: the slots of the sessions
    with a changed booking, and the sessions read whose digest changed."""
    writer = _Writer(
        connection=connection,
        run=run,
        policy=policy,
        sweep=sweep,
        resolved=resolved,
        found_at=timezone.now(),
    )
    writer.apply(diff)
    writer.fill_unknown_nhs_numbers(waiting)
    writer.flush()
    store.cache_patients(connection=connection, patients=resolved.fresh)
    touched = diff.touched_sessions() & sweep.read
    store.snapshot_replace_slots(
        connection=connection,
        session_ids=touched,
        slots=[
            (seen, writer.task_for_slot.get(seen.slot_id))
            for seen in sweep.seen
            if seen.session_id in touched
        ],
    )
    read_now = [
        SnapSession(listed.session_id, listed.session_date, listed.signature)
        for session_id, listed in sweep.listed.items()
        if session_id in sweep.read
    ]
    changed_sessions = [s for s in read_now if sweep.known.get(s.session_id) != s]
    store.snapshot_save_sessions(
        connection=connection, sessions=changed_sessions, forget=forget, now=timezone.now()
    )
    return writer.outcome


def poll_connection(*, connection: EmisConnection) -> PollRun:
    """Find one live PCN connection's new, moved and cancelled appointments and
    bring its tracing tasks up to date. EMIS failures are recorded on the run
    and the cursor; `EmisUnavailable` (and anything unexpected) is raised again
    afterwards so a Celery task can retry it."""
    _check(connection)
    now = timezone.now()
    cursor, _ = PollCursor.objects.get_or_create(connection=connection)
    lease = Lease.acquire(cursor=cursor, now=now)
    if lease is None:
        holder = PollCursor.objects.filter(pk=cursor.pk).values_list("lease_until", flat=True)
        until = holder[0] if holder else None
        return PollRun.objects.create(
            connection=connection,
            started_at=now,
            finished_at=now,
            status=PollRunStatus.SKIPPED,
            error=(
                "Another poll of this connection is running"
                + (
                    f" (its lease holds until {timezone.localtime(until):%H:%M:%S} unless it "
                    "renews it)."
                    if until
                    else "."
                )
            ),
        )
    runs_abandoned_fail(connection=connection, now=now)
    run = PollRun.objects.create(connection=connection, started_at=now)
    cursor.refresh_from_db()
    policy = policy_for_pcn(pcn=connection.organisation)
    failure: BaseException | None = None
    warnings: list[str] = []
    client: Any = None
    try:
        client = partner_client(connection=connection)
        sweep, diff, plan = _sweep(
            client=client, connection=connection, cursor=cursor, run=run, now=now, beat=lease.beat
        )
        run.sessions_fetched = len(sweep.read)
        run.appointments_seen = len(sweep.seen)
        warnings += sweep.failed_reads + sweep.notes
        # Patients to describe: those appearing, and tasks still without an NHS number.
        waiting: dict[int, int] = dict(
            TracingTask.objects.filter(  # type: ignore[arg-type]
                connection=connection,
                status__in=ACTIVE_STATUSES,
                patient_nhs_number="",
                emis_patient_number__isnull=False,
            ).values_list("pk", "emis_patient_number")[
                : settings.TRACING_POLL_DEMOGRAPHICS_PER_POLL
            ]
        )
        resolved = _resolve_patients(
            client=client,
            connection=connection,
            numbers=[s.patient_number for s in diff.appeared]
            + [m.new.patient_number for m in diff.moved if m.old.task_id is None]
            + list(waiting.values()),
            now=timezone.now(),
            beat=lease.beat,
        )
        lease.renew(now=timezone.now())  # the writes below start with a full lease
        warnings += resolved.warnings
        with transaction.atomic():
            store.relax_commit_durability()
            outcome = poll_changes_store(
                connection=connection,
                run=run,
                policy=policy,
                sweep=sweep,
                diff=diff,
                resolved=resolved,
                forget=[*plan.gone, *plan.expired],
                waiting=waiting,
            )
            moves: dict[str, Any] = {}
            if run.full_sweep and not sweep.failed_reads:
                moves["last_full_sweep_at"] = now
            # Still ours? If another poll took over, this raises and rolls back.
            lease.renew(now=timezone.now(), **moves)
        run.created = outcome.created
        run.cancelled = outcome.cancelled
        run.moved = outcome.moved
        run.updated = outcome.updated
        if sweep.unavailable is not None:
            failure = EmisUnavailable(
                f"{len(sweep.failed_reads)} of {len(plan.to_fetch)} sessions could not be read "
                f"({sweep.unavailable}); they are read again next poll.",
                status_code=sweep.unavailable.status_code,
                spine_code=sweep.unavailable.spine_code,
            )
    except LeaseLost as exc:
        run.status = PollRunStatus.SKIPPED
        run.error = str(exc)
        run.finished_at = timezone.now()
        run.emis_calls = getattr(client, "calls", 0)
        run.save()
        if client is not None:
            client.close()
        return run
    except Exception as exc:  # recorded, then raised: the run must not stay "running"
        failure = exc
    if client is not None:
        warnings += list(getattr(client, "warnings", []))
        run.emis_calls = client.calls
        client.close()
    return _finish(
        connection=connection,
        cursor=cursor,
        run=run,
        lease=lease,
        failure=failure,
        warnings=warnings,
    )


def _finish(
    *,
    connection: EmisConnection,
    cursor: PollCursor,
    run: PollRun,
    lease: Lease,
    failure: BaseException | None,
    warnings: list[str],
) -> PollRun:
    finished = timezone.now()
    run.finished_at = finished
    run.warnings = "\n".join(warnings)[:20_000]
    if failure is None:
        run.status = PollRunStatus.SUCCEEDED
        # The last error is cleared here; it stays in the history of runs (PollRun).
        PollCursor.objects.filter(pk=cursor.pk).update(
            last_success_at=finished, last_error="", last_error_at=None
        )
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
    lease.release()
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
