from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracing.planning import (
    PolicyView,
    add_working_hours,
    is_batch_day,
    is_working_day,
    plan_due,
)

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
    # Clocks go forward on Sunday 28 Mar 2027, in the Easter weekend: Good Friday
    # (26 Mar) and Easter Monday (29 Mar) are bank holidays, so Thursday's task is
    # due on Tuesday at 08:00 BST.
    tuesday = plan_due(
        policy=policy("pcn_batch_daily"), found_at=london(2027, 3, 25, 12, 0), appointment_start=FAR
    )
    assert tuesday == london(2027, 3, 30, 8, 0)
    assert tuesday.astimezone(UTC).hour == 7


def test_working_hours_across_the_clock_change_count_wall_clock_hours():
    due = add_working_hours(london(2026, 10, 23, 17, 30), 2)  # Fri 17:30 + 2h
    assert due == london(2026, 10, 26, 9, 0)


# --- bank holidays (England) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 25), True),  # a Wednesday
        (date(2026, 11, 28), False),  # a Saturday
        (date(2026, 12, 25), False),  # Christmas Day (Friday)
        (date(2026, 12, 28), False),  # Boxing Day, observed on the Monday
        (date(2026, 12, 29), True),
        (date(2027, 3, 26), False),  # Good Friday
        (date(2027, 3, 29), False),  # Easter Monday
        (date(2027, 5, 3), False),  # early May bank holiday
    ],
)
def test_working_days_skip_weekends_and_bank_holidays(day, working):
    assert is_working_day(day) is working


@pytest.mark.parametrize(
    ("found", "due"),
    [
        # Christmas Eve after the batch: Fri 25 Christmas, weekend, Mon 28 Boxing Day.
        (london(2026, 12, 24, 9, 0), london(2026, 12, 29, 8, 0)),
        # New Year's Eve after the batch: Fri 1 Jan 2027, then the weekend.
        (london(2026, 12, 31, 9, 0), london(2027, 1, 4, 8, 0)),
        # Friday before the early May bank holiday.
        (london(2027, 4, 30, 10, 0), london(2027, 5, 4, 8, 0)),
    ],
)
def test_daily_batch_is_never_on_a_bank_holiday(found, due):
    assert plan_due(policy=policy("pcn_batch_daily"), found_at=found, appointment_start=FAR) == due


def test_weekly_batch_on_a_bank_holiday_moves_to_the_next_working_day():
    mondays = policy("pcn_batch_weekly", time(8, 0), weekday=0)
    # Monday 28 Dec 2026 is Boxing Day (observed): that week's batch is Tuesday.
    assert plan_due(
        policy=mondays, found_at=london(2026, 12, 22, 12, 0), appointment_start=FAR
    ) == london(2026, 12, 29, 8, 0)
    # Found on the bank holiday itself, before the moved batch: still that Tuesday.
    assert plan_due(
        policy=mondays, found_at=london(2026, 12, 28, 12, 0), appointment_start=FAR
    ) == london(2026, 12, 29, 8, 0)
    # After it: the next Monday, 4 January.
    assert plan_due(
        policy=mondays, found_at=london(2026, 12, 29, 9, 0), appointment_start=FAR
    ) == london(2027, 1, 4, 8, 0)


def test_practice_led_hours_do_not_count_bank_holidays():
    # Thursday 24 Dec 2026 17:30 + 2 working hours: Tuesday 29 Dec 09:00.
    assert add_working_hours(london(2026, 12, 24, 17, 30), 2) == london(2026, 12, 29, 9, 0)
    # Booked on Good Friday 2027: the hours start on Tuesday after Easter Monday.
    assert add_working_hours(london(2027, 3, 26, 10, 0), 3) == london(2027, 3, 30, 11, 0)


def test_batch_days_follow_the_same_calendar():
    daily = {"mode": "pcn_batch_daily", "batch_time": time(8, 0), "batch_weekday": 0}
    assert is_batch_day(**daily, day=date(2026, 12, 24))
    assert not is_batch_day(**daily, day=date(2026, 12, 25))
    assert not is_batch_day(**daily, day=date(2026, 12, 26))
    weekly = {**daily, "mode": "pcn_batch_weekly"}
    assert not is_batch_day(**weekly, day=date(2026, 12, 28))  # Boxing Day observed
    assert is_batch_day(**weekly, day=date(2026, 12, 29))  # moved to Tuesday
    assert is_batch_day(**weekly, day=date(2027, 1, 4))
    assert not is_batch_day(**weekly, day=date(2027, 1, 5))


LATER = london(2028, 6, 1, 12, 0)  # beyond Christmas 2027


def test_christmas_2027_four_days_off_in_a_row():
    # Sat 25 and Sun 26 Dec 2027; Christmas Day observed Mon 27, Boxing Day observed Tue 28;
    # New Year's Day (Sat 1 Jan 2028) observed Mon 3 Jan.
    assert plan_due(
        policy=policy("pcn_batch_daily"),
        found_at=london(2027, 12, 24, 9, 0),
        appointment_start=LATER,
    ) == london(2027, 12, 29, 8, 0)
    assert plan_due(
        policy=policy("pcn_batch_daily"),
        found_at=london(2027, 12, 31, 9, 0),
        appointment_start=LATER,
    ) == london(2028, 1, 4, 8, 0)
    mondays = policy("pcn_batch_weekly", time(8, 0), weekday=0)
    assert plan_due(
        policy=mondays, found_at=london(2027, 12, 20, 9, 0), appointment_start=LATER
    ) == london(2027, 12, 29, 8, 0)
    assert plan_due(
        policy=mondays, found_at=london(2027, 12, 29, 9, 0), appointment_start=LATER
    ) == london(2028, 1, 4, 8, 0)
    assert add_working_hours(london(2027, 12, 24, 17, 0), 3) == london(2027, 12, 29, 9, 30)


@pytest.mark.parametrize(
    "mode", ["pcn_batch_daily", "pcn_batch_weekly", "practice_led", "on_the_day"]
)
def test_due_is_never_after_an_appointment_just_after_the_bank_holidays(mode):
    # Found on Christmas Eve 2026 at 18:00, seen on Tuesday 29 Dec at 07:00: every policy
    # would land after the bank holidays (batch 08:00, one working hour 08:30).
    start = london(2026, 12, 29, 7, 0)
    assert (
        plan_due(
            policy=policy(mode, weekday=0, hours=1),
            found_at=london(2026, 12, 24, 18, 0),
            appointment_start=start,
        )
        == start
    )


def test_a_batch_after_the_appointment_is_tracing_on_the_day():
    from tracing.planning import batch_after_appointment

    weekly = policy("pcn_batch_weekly", time(8, 0), weekday=4)  # Fridays 08:00
    found = london(2026, 11, 23, 10, 0)  # Monday
    assert batch_after_appointment(
        policy=weekly, found_at=found, appointment_start=london(2026, 11, 26, 9, 0)
    )  # Thursday: before Friday's batch
    assert not batch_after_appointment(
        policy=weekly, found_at=found, appointment_start=london(2026, 11, 27, 9, 0)
    )  # Friday 09:00: after the 08:00 batch


# --- the policy form warns when a weekly batch comes too late ------------------------------

MONDAY_10 = london(2026, 11, 23, 10, 0)


def _weekly_policy_form(weekday: int) -> dict[str, str]:
    return {
        "mode": "pcn_batch_weekly",
        "batch_time": "08:00",
        "batch_weekday": str(weekday),
        "practice_working_hours": "4",
        "auto_verify": "on",
    }


def test_policy_admin_warns_when_a_weekly_batch_falls_after_most_appointments(
    client_for, pcn_admin, pcn_a, live_pcn_a
):
    import time_machine
    from django.urls import reverse

    from tests.tracing.helpers import make_task
    from tests.tracing.test_worklist_admin import messages_of
    from tracing.models import TracingPolicy

    policy = TracingPolicy.objects.create(pcn=pcn_a)
    url = reverse("admin:tracing_tracingpolicy_change", args=[policy.pk])
    with time_machine.travel(MONDAY_10, tick=False):
        for day in (24, 25, 26):  # Tuesday to Thursday
            make_task(live_pcn_a, appointment_start=london(2026, 11, day, 10, 0))
        make_task(live_pcn_a, appointment_start=london(2026, 12, 2, 10, 0))
        client = client_for(pcn_admin)
        # Fridays: after Tuesday's to Thursday's appointments (3 of the 4).
        response = client.post(url, _weekly_policy_form(4), follow=True)
        policy.refresh_from_db()
        assert policy.mode == "pcn_batch_weekly"  # saved: a warning, not an error
        warnings = [m for m in response.context["messages"] if m.level_tag == "warning"]
        assert len(warnings) == 1
        text = str(warnings[0])
        assert "The weekly batch on Friday at 08:00 comes after 3 of the 4 upcoming" in text
        assert "appointments still to trace at Alpha PCN" in text
        assert "traced on the day of their appointment" in text
        assert "choose a daily batch" in text
        assert any("re-planned" in m for m in messages_of(response))
        # Tuesdays: before every appointment; a daily batch: nothing to warn about.
        for form in (_weekly_policy_form(1), {**_weekly_policy_form(0), "mode": "pcn_batch_daily"}):
            response = client.post(url, form, follow=True)
            assert not [m for m in response.context["messages"] if m.level_tag == "warning"]


def test_policy_warning_says_all_and_stays_quiet_below_most(pcn_a, live_pcn_a):
    from tests.tracing.helpers import make_task
    from tracing.models import TracingPolicy, TracingTask
    from tracing.selectors import tracing_policy_warning

    make_task(live_pcn_a, appointment_start=london(2026, 11, 24, 10, 0))  # Tuesday
    make_task(live_pcn_a, appointment_start=london(2026, 11, 25, 10, 0))  # Wednesday
    make_task(live_pcn_a, status="traced", appointment_start=london(2026, 11, 24, 11, 0))
    TracingTask.objects.update(created_at=MONDAY_10)

    def warning(weekday: int) -> str:
        weekly = TracingPolicy(pcn=pcn_a, mode="pcn_batch_weekly", batch_weekday=weekday)
        return tracing_policy_warning(policy=weekly, now=MONDAY_10)

    assert "comes after all 2 upcoming appointments still to trace" in warning(4)  # Friday
    assert warning(2) == ""  # Wednesday 08:00: after 1 of 2, not most
    assert warning(1) == ""  # Tuesday 08:00: before both
