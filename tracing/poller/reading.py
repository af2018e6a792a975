"""Steps 1 to 3 of a poll: read EMIS (the sessions listed, then the slots of the
sessions that changed, a few at once) and diff the booked slots against the
snapshot. No database transaction is open while EMIS is called."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from emis_integration.client import EmisError, EmisRejected, EmisUnavailable
from emis_integration.models import EmisConnection

from ..models import PollCursor, PollRun
from . import fastpath, store
from .diff import (
    ListedSession,
    SeenSlot,
    SessionPlan,
    SlotDiff,
    SnapSession,
    diff_slots,
    plan_sessions,
    session_signature,
    sessions_to_settle,
)


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


def read_sessions(
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

    with fastpath.prefetched(
        read, wanted, workers=settings.TRACING_POLL_FETCH_CONCURRENCY, name="-slots"
    ) as answers:
        for session, slots in answers:
            beat()
            _take_slots(sweep, session, slots)


def _take_slots(sweep: Sweep, session: Any, slots: list[Any] | EmisError) -> None:
    """One session's answer into the sweep: its booked slots, or its failure."""
    if isinstance(slots, EmisError):
        sweep.failed_reads.append(f"session {session.id}: {slots}")
        sweep.unavailable = slots if isinstance(slots, EmisUnavailable) else sweep.unavailable
        return
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


def sweep_read(
    *,
    client: Any,
    connection: EmisConnection,
    cursor: PollCursor,
    run: PollRun,
    now: datetime,
    beat: Callable[[], None],
) -> tuple[Sweep, SlotDiff, SessionPlan]:
    """List the sessions in the window, read the slots of those that are new or
    changed (every one on a full sweep), and diff them against the snapshot. A
    patient appearing where the snapshot holds them in an unread session gets
    that session read too, so a move is not taken for a second appointment."""
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
    read_sessions(client, sweep, plan.to_fetch, beat)
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
        read_sessions(client, sweep, sorted(settle), beat)
        diff = diff_slots(
            snapshot=snapshot, seen=sweep.seen, read_sessions=sweep.read, gone_sessions=plan.gone
        )
    return sweep, diff, plan
