"""When is a tracing task due, and who owns it (`task_owner`)? Pure functions of the PCN's
policy, the booking and the appointment; times are planned in Europe/London
(so BST/GMT changes land on the right wall-clock time) and returned aware.

Working days are Monday to Friday except bank holidays in England (from the
`holidays` package): no batch falls on a bank holiday, practice-led working
hours skip them, and a weekly batch whose weekday is a bank holiday moves to the
next working day."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import holidays
from django.utils import timezone

from hippo_pcn.organisations.roles import OrganisationKind

if TYPE_CHECKING:
    from hippo_pcn.organisations.models import Organisation

    from .models import TracingPolicy

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


@lru_cache(maxsize=32)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_bank_holiday(day: date) -> bool:
    return day in _bank_holidays(day.year)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a bank holiday in England."""
    return day.weekday() in WORKING_DAYS and not is_bank_holiday(day)


def _local(day: date, at: time) -> datetime:
    """`at` on `day`, local time (settings.TIME_ZONE: Europe/London)."""
    return timezone.make_aware(datetime.combine(day, at))


def _first_working_day_from(day: date) -> date:
    for offset in range(0, 15):  # Christmas and New Year together span under a week
        candidate = day + timedelta(days=offset)
        if is_working_day(candidate):
            return candidate
    raise AssertionError("a working day falls within any 15 days")


def next_daily_batch(after: datetime, batch_time: time) -> datetime:
    """The first working-day batch strictly after `after`."""
    day = _first_working_day_from(timezone.localdate(after))
    candidate = _local(day, batch_time)
    if candidate > after:
        return candidate
    return _local(_first_working_day_from(day + timedelta(days=1)), batch_time)


def next_weekly_batch(after: datetime, batch_time: time, weekday: int) -> datetime:
    """The first weekly batch strictly after `after`: on `weekday` at
    `batch_time`, or, when that day is a bank holiday, on the next working day."""
    day = timezone.localdate(after)
    first = day - timedelta(days=7)  # last week's batch may have moved into this week
    first += timedelta(days=(weekday - first.weekday()) % 7)
    for week in range(0, 4):
        scheduled = first + timedelta(weeks=week)
        candidate = _local(_first_working_day_from(scheduled), batch_time)
        if candidate > after:
            return candidate
    raise AssertionError("a weekly batch falls within any four weeks")


def is_batch_day(*, mode: str, batch_time: time, batch_weekday: int, day: date) -> bool:
    """Does a batch (daily or weekly, bank holidays considered) fall on `day`?"""
    just_before = _local(day, batch_time) - timedelta(seconds=1)
    if mode == "pcn_batch_weekly":
        batch = next_weekly_batch(just_before, batch_time, batch_weekday)
    else:
        batch = next_daily_batch(just_before, batch_time)
    return timezone.localdate(batch) == day


def add_working_hours(start: datetime, hours: int) -> datetime:
    """`hours` of working time (08:00–18:30 Europe/London on working days)
    after `start`."""
    remaining = timedelta(hours=hours)
    cursor = timezone.localtime(start)
    for _ in range(0, 400):  # bounded: days, however many hours and holidays
        day = cursor.date()
        if is_working_day(day):
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


def task_owner(
    *,
    policy: TracingPolicy,
    pcn: Organisation,
    booking_organisation: Organisation | None,
    registered_practice: Organisation | None,
) -> Organisation:
    """Who owns a task. Practice-led: the booking practice (or, for bookings made
    by the PCN itself, the patient's registered practice) when it is a member of
    the PCN. Otherwise, and in every other mode, the PCN."""
    if policy.mode == "practice_led":
        for candidate in (booking_organisation, registered_practice):
            if (
                candidate is not None
                and candidate.kind == OrganisationKind.PRACTICE
                and candidate.pcn_id == pcn.pk
            ):
                return candidate
    return pcn


_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def batch_after_appointment(
    *, policy: PolicyView, found_at: datetime, appointment_start: datetime
) -> bool:
    """Does the policy's batch for a task found at `found_at` come after its
    appointment starts? Then the task is due only at the appointment itself:
    in effect the patient is traced on the day."""
    return plan_due(policy=policy, found_at=found_at, appointment_start=_FAR_FUTURE) > (
        appointment_start
    )


def page_due_planner(view: PolicyView, found_at: datetime) -> Callable[[datetime], datetime]:
    """plan_due for many appointments found at the same moment (one poll). Under every
    policy the planned time depends on when the task was found, except that it
    is the appointment start on the day (and never after it): so the page's
    planned time is computed once and each task takes the earlier of it and its
    appointment's start. Equivalence with plan_due is tested per policy."""
    page_due = plan_due(policy=view, found_at=found_at, appointment_start=_FAR_FUTURE)

    def due(appointment_start: datetime) -> datetime:
        return min(page_due, appointment_start)

    return due
