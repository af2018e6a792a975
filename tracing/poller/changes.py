"""Step 5 of a poll: what the changes found in EMIS do to the tracing tasks, and
the snapshot moved with them, in the caller's transaction (one page transaction
in `poll_connection`)."""

from __future__ import annotations

from django.utils import timezone

from emis_integration.models import EmisConnection
from hippo_pcn.audit.services import audit_bulk_append

from ..models import PollRun, TracingPolicy
from . import store
from .diff import SlotDiff, SnapSession
from .new_tasks import tasks_adopt, tasks_create_for_new
from .patients import Resolved
from .reading import Sweep
from .writer import Outcome, TaskWriter


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
    """One poll's writes: the tasks (created, cancelled, re-dated, matched,
    reopened; audited), the demographics cache, and the snapshot, rewritten only
    where it changed: the slots of the sessions with a changed booking, and the
    sessions read whose digest changed. `waiting`: tasks still without an NHS
    number (task id: patient number)."""
    writer = TaskWriter(
        connection=connection,
        run=run,
        policy=policy,
        sweep=sweep,
        resolved=resolved,
        found_at=timezone.now(),
    )
    # Each kind of change in EMIS, and what it does to the tasks:
    writer.kept(diff.kept)  # the same appointment: its task carries over
    writer.restatused(diff.restatused)  # EMIS words its status differently
    writer.cancelled(diff.departed)  # cancelled in EMIS: its task is cancelled
    unfollowed = writer.moved(diff.moved)  # moved: its task follows the patient
    # A patient in a slot: the task a booking through hippo-pcn opened (or a
    # cancelled one, re-booked) if there is one...
    new = tasks_adopt(writer, diff.appeared)
    # ...else a new appointment, and a new tracing task for it.
    tasks_create_for_new(writer, new + unfollowed)
    audit_bulk_append(writer.audit)

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
