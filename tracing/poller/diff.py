"""Sweep and diff, as pure functions: no database, no EMIS.

The EMIS Partner API has no change feed and no change times. What the poller can
see is each session's slot counts and, for the sessions it reads, which patient
sits in which slot. It keeps a snapshot of the booked slots it last read and
compares:

- a patient appears in a slot: a new appointment;
- a patient leaves a slot (the slot is free, holds someone else, or is gone, or
  its whole session is gone): a cancellation;
- the same patient leaves one slot and appears in another within the same
  sweep: a move, and the task follows the patient;
- the same patient in the same slot at another time: a move too (re-dated).

Sessions that fall behind the window because time passed are forgotten, never
cancelled: their appointments happened."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class ListedSession:
    """What GetAppointmentSessions says of one session."""

    session_id: int
    session_date: date
    signature: str


@dataclass(frozen=True, slots=True)
class SnapSession:
    """A session as the snapshot last saw it."""

    session_id: int
    session_date: date
    signature: str


@dataclass(frozen=True, slots=True)
class SeenSlot:
    """A booked slot read from EMIS in this sweep."""

    slot_id: int
    session_id: int
    start: datetime
    end: datetime
    status: str
    patient_number: int


@dataclass(frozen=True, slots=True)
class SnapSlot:
    """A booked slot as the snapshot last saw it, with the task tracing it."""

    slot_id: int
    session_id: int
    start: datetime
    end: datetime
    status: str
    patient_number: int
    task_id: int | None


def session_signature(
    *, start: datetime, end: datetime, counts: Iterable[tuple[object, ...]]
) -> str:
    """A digest of what GetAppointmentSessions tells about a session: its times
    and its per-slot-type counts. A booking, cancellation or move in or out of
    the session changes it."""
    text = f"{start.isoformat()}|{end.isoformat()}|" + ";".join(
        ",".join(str(part) for part in row) for row in sorted(counts, key=repr)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Which sessions to read, which vanished, which aged out of the window."""

    to_fetch: tuple[int, ...]
    gone: tuple[int, ...]
    expired: tuple[int, ...]
    unchanged: int


def plan_sessions(
    *,
    listed: Iterable[ListedSession],
    snapshot: dict[int, SnapSession],
    window_start: date,
    full_sweep: bool,
) -> SessionPlan:
    """Read a session's slots when it is new or its signature changed (every
    session on a full sweep). A snapshot session no longer listed is gone
    (cancelled in EMIS) when its date is still in the window, else it simply
    aged out."""
    to_fetch: list[int] = []
    listed_ids: set[int] = set()
    unchanged = 0
    for session in listed:
        listed_ids.add(session.session_id)
        known = snapshot.get(session.session_id)
        if full_sweep or known is None or known.signature != session.signature:
            to_fetch.append(session.session_id)
        else:
            unchanged += 1
    gone: list[int] = []
    expired: list[int] = []
    for session_id, known in snapshot.items():
        if session_id in listed_ids:
            continue
        (expired if known.session_date < window_start else gone).append(session_id)
    return SessionPlan(tuple(to_fetch), tuple(sorted(gone)), tuple(sorted(expired)), unchanged)


@dataclass(frozen=True, slots=True)
class Move:
    old: SnapSlot
    new: SeenSlot


@dataclass
class SlotDiff:
    appeared: list[SeenSlot] = field(default_factory=list)
    departed: list[SnapSlot] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    # Same slot and patient and time, but EMIS words its status differently now.
    restatused: list[Move] = field(default_factory=list)
    # The same appointment, unchanged: its task carries over to the new snapshot.
    kept: list[Move] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.appeared) + len(self.departed) + len(self.moved) + len(self.restatused)

    def touched_sessions(self) -> set[int]:
        """The sessions whose booked slots differ from the snapshot: only these
        need their snapshot rewritten."""
        touched = {slot.session_id for slot in self.appeared}
        touched |= {slot.session_id for slot in self.departed}
        for move in (*self.moved, *self.restatused):
            touched.add(move.old.session_id)
            touched.add(move.new.session_id)
        return touched


def diff_slots(
    *,
    snapshot: Iterable[SnapSlot],
    seen: Iterable[SeenSlot],
    read_sessions: Iterable[int],
    gone_sessions: Iterable[int] = (),
) -> SlotDiff:
    """Compare the snapshot's booked slots in the sessions read this sweep (and
    in the sessions that are gone) with the booked slots just seen there.

    `snapshot` may hold slots of other sessions too: they are not compared
    (nothing is known of them this sweep)."""
    compared = set(read_sessions) | set(gone_sessions)
    gone = set(gone_sessions)
    before = {s.slot_id: s for s in snapshot if s.session_id in compared}
    after = {s.slot_id: s for s in seen if s.session_id in compared and s.session_id not in gone}
    result = SlotDiff()
    departures: list[SnapSlot] = []
    appearances: list[SeenSlot] = []
    for slot_id, old in before.items():
        new = after.get(slot_id)
        if new is None or new.patient_number != old.patient_number:
            departures.append(old)
            continue
        if new.start != old.start or new.end != old.end:
            result.moved.append(Move(old, new))
        elif new.status != old.status:
            result.restatused.append(Move(old, new))
        else:
            result.kept.append(Move(old, new))
    for slot_id, new in after.items():
        previous = before.get(slot_id)
        if previous is None or previous.patient_number != new.patient_number:
            appearances.append(new)
    # A patient who left one slot and appeared in another in this sweep moved.
    # Several of each for one patient pair up in time order.
    left_by_patient: dict[int, list[SnapSlot]] = defaultdict(list)
    for old in departures:
        left_by_patient[old.patient_number].append(old)
    for olds in left_by_patient.values():
        olds.sort(key=lambda s: (s.start, s.slot_id))
    for new in sorted(appearances, key=lambda s: (s.start, s.slot_id)):
        left = left_by_patient.get(new.patient_number)
        if left:
            result.moved.append(Move(left.pop(0), new))
        else:
            result.appeared.append(new)
    for left in left_by_patient.values():
        result.departed.extend(left)
    result.departed.sort(key=lambda s: (s.start, s.slot_id))
    return result


def sessions_to_settle(
    *,
    appeared: Iterable[SeenSlot],
    snapshot: Iterable[SnapSlot],
    read_sessions: Iterable[int],
    listed_sessions: Iterable[int],
) -> set[int]:
    """Sessions worth reading before calling an appearance new: the unread, still
    listed sessions where the snapshot holds the same patient. If the patient
    left one of them, the appearance is a move, not a second appointment (a move
    between two sessions whose other bookings kept their counts level)."""
    patients = {slot.patient_number for slot in appeared}
    if not patients:
        return set()
    read = set(read_sessions)
    listed = set(listed_sessions)
    return {
        slot.session_id
        for slot in snapshot
        if slot.patient_number in patients
        and slot.session_id not in read
        and slot.session_id in listed
    }
