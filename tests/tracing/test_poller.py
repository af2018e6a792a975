"""The poller: PCN appointments found in EMIS become tracing tasks, exactly once."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.utils import timezone

from emis_integration.client import EmisUnavailable
from emis_integration.models import ConnectionStatus
from emis_integration.sandbox.models import Appointment
from emis_integration.selectors import emis_client
from hippo_pcn.audit.models import AuditEntry
from tracing.models import PollCursor, PollRun, TaskStatus, TracingPolicy, TracingTask
from tracing.planning import plan_due
from tracing.selectors import policy_view
from tracing.services import (
    PollRefused,
    poll_connection,
    tracing_task_open_for_booking,
    tracing_tasks_upsert_page,
)
from tracing.tasks import poll_all_pcn_connections

from .helpers import emis_change, simulate

LONDON = ZoneInfo("Europe/London")


def test_a_poll_finds_every_booking_made_in_emis(pcn_connection, pcn_a):
    simulate(25)
    run = poll_connection(connection=pcn_connection)
    assert run.status == "succeeded"
    assert run.appointments_seen == 25
    assert run.created == 25
    tasks = TracingTask.objects.filter(connection=pcn_connection)
    assert tasks.count() == 25
    assert set(tasks.values_list("source", flat=True)) == {"found_by_poll"}
    assert set(tasks.values_list("status", flat=True)) == {"open"}
    assert all(t.has_nhs_number and t.patient_family_name for t in tasks)
    assert (
        AuditEntry.objects.filter(
            action="tracing_task.created", actor_label="system: poller"
        ).count()
        == 25
    )
    cursor = PollCursor.objects.get(connection=pcn_connection)
    assert cursor.cursor_at == max(Appointment.objects.values_list("last_updated", flat=True))
    assert cursor.last_success_at is not None
    assert cursor.lease_token == ""


@pytest.mark.parametrize(
    "mode", ["pcn_batch_daily", "pcn_batch_weekly", "practice_led", "on_the_day"]
)
def test_detection_plans_owner_and_due_time_by_each_policy(
    pcn_connection, pcn_a, practice_a, practice_a2, mode
):
    policy = TracingPolicy.objects.create(
        pcn=pcn_a, mode=mode, batch_time=time(9, 15), batch_weekday=3, practice_working_hours=6
    )
    simulate(25)
    before = timezone.now()
    poll_connection(connection=pcn_connection)
    after = timezone.now()
    tasks = list(TracingTask.objects.filter(connection=pcn_connection).select_related("owner"))
    assert len(tasks) == 25
    view = policy_view(policy)
    for task in tasks:
        if mode == "practice_led":
            assert task.owner.ods_code == task.booking_org_ods
            assert task.owner in (practice_a, practice_a2)
        else:
            assert task.owner == pcn_a
        assert task.due_at <= task.appointment_start
        # Planned from the moment the poll found it (between before and after).
        assert (
            plan_due(policy=view, found_at=before, appointment_start=task.appointment_start)
            <= (task.due_at)
            <= plan_due(policy=view, found_at=after, appointment_start=task.appointment_start)
        )


@pytest.mark.parametrize(
    "mode", ["pcn_batch_daily", "pcn_batch_weekly", "practice_led", "on_the_day"]
)
@pytest.mark.parametrize(
    ("found_at", "expected_offset_hours"),
    [
        # Friday before BST ends (Sun 25 Oct 2026), and before BST starts (Sun 29 Mar
        # 2026; in 2027 the change falls in the Easter bank holidays).
        (datetime(2026, 10, 23, 16, 0, tzinfo=LONDON), 0),
        (datetime(2026, 3, 27, 16, 0, tzinfo=LONDON), 1),
    ],
)
def test_page_planning_across_clock_changes(
    pcn_connection, pcn_a, mode, found_at, expected_offset_hours
):
    policy = TracingPolicy.objects.create(
        pcn=pcn_a, mode=mode, batch_time=time(8, 0), batch_weekday=0, practice_working_hours=4
    )
    simulate(25)
    client = emis_client(connection=pcn_connection)
    records = [
        r for page in client.list_appointments(timezone.now() - timedelta(days=1)) for r in page
    ]
    # Pretend the appointments are on the Tuesday after the clock change, at 14:00.
    appointment_day = found_at.date() + timedelta(days=4)
    start = datetime.combine(appointment_day, time(14, 0), tzinfo=LONDON)
    records = [
        type(r)(
            **{
                **{f: getattr(r, f) for f in r.__slots__},
                "start": start,
                "end": start + timedelta(minutes=10),
            }
        )
        for r in records
    ]
    result = tracing_tasks_upsert_page(
        connection=pcn_connection, records=records, policy=policy, found_at=found_at
    )
    assert result.created == 25
    monday = found_at.date() + timedelta(days=3)
    expected = {
        "pcn_batch_daily": datetime.combine(monday, time(8, 0), tzinfo=LONDON),
        "pcn_batch_weekly": datetime.combine(monday, time(8, 0), tzinfo=LONDON),
        # Friday 16:00 + 4 working hours: 2.5 h on Friday, 1.5 h on Monday from 08:00.
        "practice_led": datetime.combine(monday, time(9, 30), tzinfo=LONDON),
        "on_the_day": start,
    }[mode]
    for task in TracingTask.objects.filter(connection=pcn_connection):
        assert task.due_at == expected
        # Wall-clock London time, whatever the UTC offset that week.
        assert task.due_at.astimezone(LONDON).utcoffset() == timedelta(hours=expected_offset_hours)


def test_polling_the_same_data_twice_makes_one_task_per_appointment(pcn_connection):
    simulate(10)
    first = poll_connection(connection=pcn_connection)
    # Forget the cursor: the second poll re-reads everything.
    PollCursor.objects.filter(connection=pcn_connection).update(cursor_at=None)
    second = poll_connection(connection=pcn_connection)
    assert (first.created, second.created, second.updated) == (10, 0, 0)
    assert second.appointments_seen == 10
    assert TracingTask.objects.count() == 10
    assert AuditEntry.objects.filter(action="tracing_task.created").count() == 10


def test_pages_are_bounded_and_one_appointment_over_two_pages_is_one_task(pcn_connection, settings):
    settings.TRACING_POLL_PAGE_SIZE = 4
    simulate(10)
    run = poll_connection(connection=pcn_connection)
    assert run.pages == 3
    assert TracingTask.objects.count() == 10


@pytest.mark.django_db(transaction=True)
def test_two_polls_at_once_on_postgresql_make_one_task_each(
    emis_in_process, pcn_a, practice_a, practice_a2
):
    from tests.emis_world import EmisWorld, at

    from .helpers import sandbox_patients

    world = EmisWorld(base_url="http://localhost")
    world.add_pcn(pcn_a, [practice_a, practice_a2])
    sandbox_patients(world, "A10001", 15)
    world.slots("U10001", [at(2, 9) + timedelta(minutes=10 * i) for i in range(15)])
    simulate(15)
    connection = world.connections["U10001"]
    barrier = threading.Barrier(2)
    runs: list[PollRun] = []
    errors: list[BaseException] = []

    def worker(clear_lease: bool) -> None:
        try:
            barrier.wait()
            if clear_lease:
                # The second worker ignores the lease (as if it had expired): the
                # unique constraint alone must still keep rows single.
                PollCursor.objects.filter(connection=connection).update(lease_until=None)
            runs.append(poll_connection(connection=connection))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db_connection.close()

    PollCursor.objects.get_or_create(connection=connection)
    threads = [threading.Thread(target=worker, args=(i == 1,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert TracingTask.objects.filter(connection=connection).count() == 15
    assert sum(run.created for run in runs) == 15
    # And once more, sequentially: still 15.
    poll_connection(connection=connection)
    assert TracingTask.objects.filter(connection=connection).count() == 15


def test_a_second_poll_while_one_holds_the_lease_is_skipped(pcn_connection):
    simulate(3)
    cursor = PollCursor.objects.create(
        connection=pcn_connection,
        lease_token="someone-else",
        lease_until=timezone.now() + timedelta(minutes=5),
    )
    run = poll_connection(connection=pcn_connection)
    assert run.status == "skipped"
    assert not TracingTask.objects.exists()
    cursor.refresh_from_db()
    assert cursor.lease_token == "someone-else"


def test_a_failed_page_leaves_the_cursor_where_it_was(pcn_connection, pcn_world, settings):
    settings.TRACING_POLL_PAGE_SIZE = 5
    simulate(5)
    poll_connection(connection=pcn_connection)
    cursor_before = PollCursor.objects.get(connection=pcn_connection).cursor_at
    simulate(5)
    pcn_world.faults("U10001", reject_auth=True)
    run = poll_connection(connection=pcn_connection)
    assert run.status == "failed"
    assert run.error  # EMIS's reason, in words
    cursor = PollCursor.objects.get(connection=pcn_connection)
    assert cursor.cursor_at == cursor_before
    assert cursor.last_error == run.error
    assert cursor.lease_token == ""
    assert TracingTask.objects.count() == 5
    # EMIS recovers: the next poll catches up, nothing lost, nothing doubled.
    pcn_world.faults("U10001", reject_auth=False)
    again = poll_connection(connection=pcn_connection)
    assert again.status == "succeeded"
    assert again.created == 5
    assert TracingTask.objects.count() == 10


def test_a_crash_mid_page_rolls_the_page_back(pcn_connection, monkeypatch, settings):
    settings.TRACING_POLL_PAGE_SIZE = 3
    simulate(6)
    from tracing import services

    real = services.tracing_tasks_upsert_page
    calls = {"n": 0}

    def crash_on_second_page(**kwargs):
        calls["n"] += 1
        result = real(**kwargs)
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return result

    monkeypatch.setattr(services, "tracing_tasks_upsert_page", crash_on_second_page)
    with pytest.raises(RuntimeError):
        poll_connection(connection=pcn_connection)
    assert TracingTask.objects.count() == 3  # page 1 committed, page 2 rolled back
    run = PollRun.objects.get()
    assert run.status == "failed" and run.error == "RuntimeError"
    monkeypatch.setattr(services, "tracing_tasks_upsert_page", real)
    poll_connection(connection=pcn_connection)
    assert TracingTask.objects.count() == 6


def test_emis_unavailable_is_recorded_and_raised_for_retry(pcn_connection, pcn_world):
    simulate(2)
    pcn_world.faults("U10001", error_rate=1.0)
    with pytest.raises(EmisUnavailable):
        poll_connection(connection=pcn_connection)
    run = PollRun.objects.get()
    assert run.status == "failed"
    assert run.error
    assert PollCursor.objects.get(connection=pcn_connection).cursor_at is None
    assert not TracingTask.objects.exists()


def test_an_app_booking_is_matched_not_duplicated(pcn_connection, practice_staff):
    simulate(3)
    client = emis_client(connection=pcn_connection)
    record = next(iter(client.list_appointments(timezone.now() - timedelta(days=1))))[0]
    app_task = tracing_task_open_for_booking(
        connection=pcn_connection, appointment=record, actor=practice_staff
    )
    run = poll_connection(connection=pcn_connection)
    assert run.created == 2
    assert TracingTask.objects.count() == 3
    app_task.refresh_from_db()
    assert app_task.source == "booked_via_app"


def test_cancelled_moved_and_rebooked_appointments_follow(pcn_connection):
    simulate(4)
    poll_connection(connection=pcn_connection)
    cancelled, moved, traced_then_moved, untouched = list(
        TracingTask.objects.order_by("emis_appointment_id")
    )
    TracingTask.objects.filter(pk=traced_then_moved.pk).update(status=TaskStatus.TRACED)
    untouched_updated_at = untouched.updated_at
    emis_change(cancelled.emis_appointment_id, status="cancelled")
    new_start = moved.appointment_start + timedelta(days=1, hours=1)
    emis_change(moved.emis_appointment_id, start=new_start, end=new_start + timedelta(minutes=10))
    emis_change(
        traced_then_moved.emis_appointment_id,
        start=new_start,
        end=new_start + timedelta(minutes=10),
    )
    run = poll_connection(connection=pcn_connection)
    assert run.updated == 3 and run.created == 0
    cancelled.refresh_from_db()
    moved.refresh_from_db()
    traced_then_moved.refresh_from_db()
    untouched.refresh_from_db()
    assert cancelled.status == "cancelled"
    assert moved.status == "open"
    assert moved.appointment_start == new_start
    assert moved.due_at <= new_start
    assert traced_then_moved.status == "traced"
    assert traced_then_moved.appointment_start == new_start
    assert untouched.updated_at == untouched_updated_at
    # Re-booked after cancellation: the task reopens.
    emis_change(cancelled.emis_appointment_id, status="booked")
    poll_connection(connection=pcn_connection)
    cancelled.refresh_from_db()
    assert cancelled.status == "open"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"tracing_task.cancelled", "tracing_task.redated", "tracing_task.reopened"} <= actions


def test_a_cancelled_appointment_never_seen_makes_no_task(pcn_connection):
    simulate(2)
    first = Appointment.objects.order_by("pk").first()
    emis_change(first.pk, status="cancelled")
    run = poll_connection(connection=pcn_connection)
    assert run.created == 1
    assert TracingTask.objects.count() == 1


def test_a_patient_without_nhs_number_is_flagged_not_a_crash(pcn_connection):
    simulate(2)
    Appointment.objects.filter(pk=Appointment.objects.order_by("pk").first().pk).update(
        patient_nhs_number=""
    )
    run = poll_connection(connection=pcn_connection)
    assert run.status == "succeeded" and run.created == 2
    flags = sorted(t.has_nhs_number for t in TracingTask.objects.all())
    assert flags == [False, True]


def test_practice_connections_are_never_polled(emis_world, practice_a):
    practice_connection = emis_world.connections["A10001"]
    with pytest.raises(PollRefused, match="PCN"):
        poll_connection(connection=practice_connection)
    poll_all_pcn_connections()
    assert not PollRun.objects.filter(connection=practice_connection).exists()
    assert not TracingTask.objects.exists()


def test_non_live_pcn_connections_are_not_polled(pcn_connection):
    pcn_connection.status = ConnectionStatus.SUSPENDED
    pcn_connection.save()
    with pytest.raises(PollRefused, match="not live"):
        poll_connection(connection=pcn_connection)
    poll_all_pcn_connections()
    assert not PollRun.objects.exists()


def test_the_beat_fan_out_polls_each_live_pcn_connection(pcn_connection):
    simulate(5)
    poll_all_pcn_connections()
    assert PollRun.objects.get().created == 5
    assert TracingTask.objects.count() == 5


def test_the_command_polls_and_reports(pcn_connection):
    simulate(3)
    out = StringIO()
    call_command("poll_pcn_appointments", "--connection", str(pcn_connection.pk), stdout=out)
    assert "3 appointments seen, 3 tasks created" in out.getvalue()
    with pytest.raises(CommandError, match="no EMIS connection with id 999999"):
        call_command("poll_pcn_appointments", "--connection", "999999")
    out = StringIO()
    call_command("poll_pcn_appointments", stdout=out)
    assert "0 tasks created" in out.getvalue()


def test_the_celery_task_retries_only_emis_unavailable(pcn_connection, pcn_world):
    from celery.exceptions import Retry

    from tracing.tasks import poll_pcn_connection

    assert poll_pcn_connection.autoretry_for == (EmisUnavailable,)
    assert poll_pcn_connection.max_retries == 3
    assert poll_pcn_connection.soft_time_limit < poll_pcn_connection.time_limit
    simulate(1)
    pcn_world.faults("U10001", error_rate=1.0)
    with pytest.raises((EmisUnavailable, Retry)):  # eager Celery surfaces the retry
        poll_pcn_connection.delay(pcn_connection.pk)
    assert PollRun.objects.filter(status="failed").exists()
    PollRun.objects.all().delete()
    pcn_world.faults("U10001", error_rate=0.0, reject_auth=True)
    poll_pcn_connection.delay(pcn_connection.pk)  # refused credentials: recorded, not retried
    assert PollRun.objects.filter(status="failed").count() == 1


def test_the_celery_task_ignores_practice_connections(emis_world):
    from tracing.tasks import poll_pcn_connection

    poll_pcn_connection.delay(emis_world.connections["A10001"].pk)
    assert not PollRun.objects.exists()
