"""When is a tracing task due, and who owns it? Pure functions of the PCN's
policy, the booking and the appointment; times are planned in Europe/London
(so BST/GMT changes land on the right wall-clock time) and returned aware.

Working days are Monday to Friday; bank holidays are not modelled (a batch on a
bank holiday simply waits for whoever traces that day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
WORKDAY_START = time(8, 0)
WORKDAY_END = time(18, 30)
WORKING_DAYS = frozenset({0, 1, 2, 3, 4})


@dataclass(frozen=True)
class PolicyView:
    """The parts of a TracingPolicy planning needs."""

    mode: str
    batch_time: time
    batch_weekday: int
    practice_working_hours: int


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LONDON)


def next_daily_batch(after: datetime, batch_time: time) -> datetime:
    """The first working-day batch strictly after `after`."""
    day = after.astimezone(LONDON).date()
    for offset in range(0, 8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in WORKING_DAYS:
            continue
        candidate = _local(candidate_day, batch_time)
        if candidate > after:
            return candidate
    raise AssertionError("a working day falls within any 8 days")


def next_weekly_batch(after: datetime, batch_time: time, weekday: int) -> datetime:
    day = after.astimezone(LONDON).date()
    for offset in range(0, 8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() == weekday:
            candidate = _local(candidate_day, batch_time)
            if candidate > after:
                return candidate
    return _local(day + timedelta(days=7 + (weekday - day.weekday()) % 7), batch_time)


def add_working_hours(start: datetime, hours: int) -> datetime:
    """`hours` of Mon–Fri 08:00–18:30 (Europe/London) working time after `start`."""
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(LONDON)
    for _ in range(0, 400):  # bounded: 40 hours is at most ~5 working days
        day = cursor.date()
        if day.weekday() in WORKING_DAYS:
            open_at, close_at = _local(day, WORKDAY_START), _local(day, WORKDAY_END)
            if cursor < open_at:
                cursor = open_at
            if cursor < close_at:
                available = close_at - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
        cursor = _local(day + timedelta(days=1), WORKDAY_START)
    raise AssertionError("working hours planning did not converge")


def plan_due(*, policy: PolicyView, found_at: datetime, appointment_start: datetime) -> datetime:
    """The due time under the policy, never after the appointment start."""
    if policy.mode == "pcn_batch_weekly":
        due = next_weekly_batch(found_at, policy.batch_time, policy.batch_weekday)
    elif policy.mode == "practice_led":
        due = add_working_hours(found_at, policy.practice_working_hours)
    elif policy.mode == "on_the_day":
        due = appointment_start
    else:
        due = next_daily_batch(found_at, policy.batch_time)
    return min(due, appointment_start)
