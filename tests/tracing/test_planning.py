from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracing.planning import PolicyView, add_working_hours, plan_due

LONDON = ZoneInfo("Europe/London")


def london(*args):
    return datetime(*args, tzinfo=LONDON)


def policy(mode, batch_time=time(8, 0), weekday=0, hours=4):
    return PolicyView(
        mode=mode, batch_time=batch_time, batch_weekday=weekday, practice_working_hours=hours
    )


FAR = london(2027, 6, 1, 12, 0)  # an appointment far away: the policy decides


@pytest.mark.parametrize(
    ("found", "due"),
    [
        (london(2026, 11, 25, 7, 0), london(2026, 11, 25, 8, 0)),  # Wed before the batch
        (london(2026, 11, 25, 8, 0), london(2026, 11, 26, 8, 0)),  # exactly at it: next one
        (london(2026, 11, 25, 15, 0), london(2026, 11, 26, 8, 0)),
        (london(2026, 11, 27, 9, 0), london(2026, 11, 30, 8, 0)),  # Fri -> Mon
        (london(2026, 11, 28, 9, 0), london(2026, 11, 30, 8, 0)),  # Sat -> Mon
    ],
)
def test_daily_batch_is_the_next_working_morning(found, due):
    assert plan_due(policy=policy("pcn_batch_daily"), found_at=found, appointment_start=FAR) == due


def test_weekly_batch_is_the_next_chosen_weekday():
    weekly = policy("pcn_batch_weekly", time(9, 30), weekday=2)  # Wednesdays 09:30
    assert plan_due(
        policy=weekly, found_at=london(2026, 11, 25, 9, 0), appointment_start=FAR
    ) == london(2026, 11, 25, 9, 30)
    assert plan_due(
        policy=weekly, found_at=london(2026, 11, 25, 10, 0), appointment_start=FAR
    ) == london(2026, 12, 2, 9, 30)


@pytest.mark.parametrize(
    ("found", "hours", "due"),
    [
        (london(2026, 11, 25, 10, 0), 4, london(2026, 11, 25, 14, 0)),
        (london(2026, 11, 25, 17, 0), 4, london(2026, 11, 26, 10, 30)),  # overnight
        (london(2026, 11, 27, 17, 30), 2, london(2026, 11, 30, 9, 0)),  # over the weekend
        (london(2026, 11, 28, 12, 0), 1, london(2026, 11, 30, 9, 0)),  # booked on Saturday
        (london(2026, 11, 25, 6, 0), 1, london(2026, 11, 25, 9, 0)),  # before opening
    ],
)
def test_practice_led_is_working_hours_after_booking(found, hours, due):
    assert add_working_hours(found, hours) == due
    assert (
        plan_due(policy=policy("practice_led", hours=hours), found_at=found, appointment_start=FAR)
        == due
    )


def test_on_the_day_is_the_appointment_start():
    start = london(2026, 12, 3, 14, 20)
    assert (
        plan_due(
            policy=policy("on_the_day"),
            found_at=london(2026, 11, 25, 10, 0),
            appointment_start=start,
        )
        == start
    )


@pytest.mark.parametrize(
    "mode", ["pcn_batch_daily", "pcn_batch_weekly", "practice_led", "on_the_day"]
)
def test_due_is_never_after_the_appointment(mode):
    found = london(2026, 11, 25, 16, 0)
    start = found + timedelta(minutes=30)
    assert (
        plan_due(policy=policy(mode, weekday=4), found_at=found, appointment_start=start) == start
    )


def test_batch_keeps_its_wall_clock_time_across_the_autumn_change():
    # Clocks go back on Sunday 25 Oct 2026: 08:00 is 07:00 UTC on Friday, 08:00 UTC on Monday.
    friday = plan_due(
        policy=policy("pcn_batch_daily"),
        found_at=london(2026, 10, 22, 12, 0),
        appointment_start=FAR,
    )
    monday = plan_due(
        policy=policy("pcn_batch_daily"),
        found_at=london(2026, 10, 23, 12, 0),
        appointment_start=FAR,
    )
    assert friday.astimezone(UTC).hour == 7
    assert monday == london(2026, 10, 26, 8, 0)
    assert monday.astimezone(UTC).hour == 8


def test_batch_keeps_its_wall_clock_time_across_the_spring_change():
    # Clocks go forward on Sunday 28 Mar 2027.
    monday = plan_due(
        policy=policy("pcn_batch_daily"), found_at=london(2027, 3, 26, 12, 0), appointment_start=FAR
    )
    assert monday == london(2027, 3, 29, 8, 0)
    assert monday.astimezone(UTC).hour == 7


def test_working_hours_across_the_clock_change_count_wall_clock_hours():
    due = add_working_hours(london(2026, 10, 23, 17, 30), 2)  # Fri 17:30 + 2h
    assert due == london(2026, 10, 26, 9, 0)
