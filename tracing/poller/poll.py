"""One poll of one PCN's EMIS Community through the EMIS Partner API: the run
from start to finish (`poll_connection`), each step in a module of its own.

1. List the appointment sessions from today to TRACING_POLL_WINDOW_DAYS ahead
   (one call: all an unchanged PCN costs).                       `reading.py`
2. Read the slots of the sessions that are new or whose counts changed, or of
   every session on a full sweep (TRACING_POLL_FULL_SWEEP_SECONDS). `reading.py`
3. Diff the booked slots against the snapshot: new appointments,
   cancellations, moves.                                            `diff.py`
4. Resolve new patients' NHS numbers (GetPatientDemographics, cached).
                                                                 `patients.py`
5. In one page transaction: tasks created, cancelled, re-dated; the snapshot
   moves with them (`changes.py`: each kind of change and what it does). A poll
   killed before the commit changes nothing, and the next poll sees the same
   changes again; one killed after it has nothing left to do.

No database transaction is open while EMIS is called. The poll holds a lease
on its connection throughout (`lease.py`)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from emis_integration.client import EmisError, EmisUnavailable
from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem
from emis_integration.selectors import partner_client
from emis_integration.services import connection_record_call

from ..models import ACTIVE_STATUSES, PollCursor, PollRun, PollRunStatus, TracingTask
from ..selectors import policy_for_pcn
from . import fastpath
from .changes import poll_changes_store
from .lease import Lease, LeaseLost, runs_abandoned_fail
from .patients import resolve_patients
from .reading import sweep_read

logger = logging.getLogger(__name__)


class PollRefused(ValueError):
    """A connection the poller must not read (not a live PCN connection)."""


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
        return _skipped(connection=connection, cursor=cursor, now=now)
    runs_abandoned_fail(connection=connection, now=now)
    run = PollRun.objects.create(connection=connection, started_at=now)
    cursor.refresh_from_db()
    policy = policy_for_pcn(pcn=connection.organisation)
    failure: BaseException | None = None
    warnings: list[str] = []
    client: Any = None
    try:
        client = partner_client(connection=connection)
        # Steps 1 to 3: the sessions listed, the changed ones read, and diffed.
        sweep, diff, plan = sweep_read(
            client=client, connection=connection, cursor=cursor, run=run, now=now, beat=lease.beat
        )
        run.sessions_fetched = len(sweep.read)
        run.appointments_seen = len(sweep.seen)
        warnings += sweep.failed_reads + sweep.notes
        # Step 4: patients to describe: those appearing, and tasks still without
        # an NHS number.
        waiting = _tasks_without_nhs_number(connection)
        resolved = resolve_patients(
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
        # Step 5: the tasks and the snapshot, together or not at all.
        with fastpath.page_transaction():
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


def _skipped(*, connection: EmisConnection, cursor: PollCursor, now: datetime) -> PollRun:
    """The run of a poll that found another holding the lease, saying until when."""
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


def _tasks_without_nhs_number(connection: EmisConnection) -> dict[int, int]:
    """Active tasks whose patient EMIS could not describe yet: task id to patient
    number (at most TRACING_POLL_DEMOGRAPHICS_PER_POLL)."""
    return dict(
        TracingTask.objects.filter(  # type: ignore[arg-type]
            connection=connection,
            status__in=ACTIVE_STATUSES,
            patient_nhs_number="",
            emis_patient_number__isnull=False,
        ).values_list("pk", "emis_patient_number")[: settings.TRACING_POLL_DEMOGRAPHICS_PER_POLL]
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
