"""The poller: appointments made in a PCN's EMIS, found through the EMIS Partner
API by sweeping sessions and diffing slots, become tracing tasks exactly once;
cancellations and moves follow."""

from __future__ import annotations

import dataclasses
import threading
from datetime import time, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.utils import timezone

from emis_integration.client import EmisUnavailable
from emis_integration.client.partner import PartnerApiClient
from emis_integration.models import ConnectionStatus
from emis_integration.sandbox.models import Appointment, AppointmentStatus, Patient
from hippo_pcn.audit.models import AuditEntry
from tracing.models import (
    PollCursor,
    PollPatient,
    PollRun,
    PollSession,
    PollSlot,
    TaskStatus,
    TracingPolicy,
    TracingTask,
)
from tracing.planning import plan_due
from tracing.poller import PollRefused, poll_connection
from tracing.poller import store as poll_store
from tracing.selectors import policy_view
from tracing.tasks import poll_all_pcn_connections

from .helpers import simulate


def tasks_by_patient(connection) -> dict[int, TracingTask]:
    return {t.emis_patient_number: t for t in TracingTask.objects.filter(connection=connection)}


def booked_in_emis() -> dict[int, Appointment]:
    """Booked sandbox appointments by the patient number the Partner API shows."""
    return {
        a.patient_record_id: a for a in Appointment.objects.filter(status=AppointmentStatus.BOOKED)
    }


def test_a_first_poll_finds_every_booking_made_in_emis(pcn_connection, pcn_a):
    simulate(25)
    run = poll_connection(connection=pcn_connection)
    assert run.status == "succeeded", run.error
    assert run.full_sweep
    assert run.sessions_listed == 3 and run.sessions_fetched == 3
    assert run.appointments_seen == 25
    assert (run.created, run.cancelled, run.moved) == (25, 0, 0)
    # One session list, one slot list per session, one demographics call per patient.
    assert run.emis_calls == 1 + 3 + 25
    tasks = TracingTask.objects.filter(connection=pcn_connection)
    assert tasks.count() == 25
    assert set(tasks.values_list("source", flat=True)) == {"found_by_poll"}
    assert set(tasks.values_list("status", flat=True)) == {"open"}
    emis = booked_in_emis()
    for task in tasks:
        appointment = emis[task.emis_patient_number]
        assert task.patient_nhs_number == appointment.patient_nhs_number
        assert task.patient_family_name.upper() == appointment.patient_snapshot["family"].upper()
        assert task.appointment_start == appointment.start
        assert task.emis_slot_id == appointment.slot_id
        assert task.registered_practice_ods in {"A10001", "A10002"}
        assert task.registered_practice is not None
        assert task.site_name == "Alpha Hub"
        assert task.emis_slot_status == "Booked"
    assert (
        AuditEntry.objects.filter(
            action="tracing_task.created", actor_label="system: poller"
        ).count()
        == 25
    )
    cursor = PollCursor.objects.get(connection=pcn_connection)
    assert cursor.last_full_sweep_at is not None and cursor.last_success_at is not None
    assert cursor.lease_token == ""
    assert PollSession.objects.count() == 3
    assert PollSlot.objects.count() == 25
    assert PollPatient.objects.count() == 25


def test_an_unchanged_pcn_costs_one_emis_call_and_changes_nothing(pcn_connection):
    simulate(10)
    poll_connection(connection=pcn_connection)
    before = list(TracingTask.objects.values_list("pk", "updated_at").order_by("pk"))
    again = poll_connection(connection=pcn_connection)
    assert again.status == "succeeded"
    assert not again.full_sweep
    assert again.emis_calls == 1
    assert again.sessions_fetched == 0
    assert (again.created, again.cancelled, again.moved, again.updated) == (0, 0, 0, 0)
    assert list(TracingTask.objects.values_list("pk", "updated_at").order_by("pk")) == before


def test_bookings_cancellations_and_moves_in_emis_reach_the_worklist(pcn_connection):
    simulate(25)
    poll_connection(connection=pcn_connection)
    first_tasks = tasks_by_patient(pcn_connection)
    before = {a.pk: (a.patient_record_id, a.slot_id) for a in Appointment.objects.all()}

    simulate(5, cancel=5, move=5)
    run = poll_connection(connection=pcn_connection)

    assert run.status == "succeeded", run.error
    assert (run.created, run.cancelled, run.moved) == (5, 5, 5)
    cancelled = Appointment.objects.filter(status=AppointmentStatus.CANCELLED)
    moved = [
        a
        for a in Appointment.objects.filter(status=AppointmentStatus.BOOKED)
        if a.pk in before and before[a.pk][1] != a.slot_id
    ]
    assert len(cancelled) == 5 and len(moved) == 5
    for appointment in cancelled:
        task = TracingTask.objects.get(pk=first_tasks[appointment.patient_record_id].pk)
        assert task.status == TaskStatus.CANCELLED
    for appointment in moved:
        task = TracingTask.objects.get(pk=first_tasks[appointment.patient_record_id].pk)
        assert task.status == TaskStatus.OPEN
        assert task.appointment_start == appointment.start
        assert task.emis_slot_id == appointment.slot_id
        assert task.due_at <= appointment.start
    new_patients = set(booked_in_emis()) - set(first_tasks)
    assert len(new_patients) == 5
    assert (
        TracingTask.objects.filter(
            emis_patient_number__in=new_patients, status=TaskStatus.OPEN
        ).count()
        == 5
    )
    assert TracingTask.objects.count() == 30
    # Everyone else untouched.
    untouched = set(first_tasks) - {a.patient_record_id for a in [*cancelled, *moved]}
    assert (
        TracingTask.objects.filter(
            emis_patient_number__in=untouched, status=TaskStatus.OPEN
        ).count()
        == 15
    )
    actions = AuditEntry.objects.values_list("action", flat=True)
    assert list(actions).count("tracing_task.cancelled") == 5
    assert list(actions).count("tracing_task.redated") == 5

    # A re-poll changes nothing and makes exactly one EMIS call.
    again = poll_connection(connection=pcn_connection)
    assert again.emis_calls == 1
    assert (again.created, again.cancelled, again.moved, again.updated) == (0, 0, 0, 0)


def test_a_move_inside_one_session_is_caught_by_the_full_sweep(pcn_connection, settings):
    simulate(3)
    poll_connection(connection=pcn_connection)
    appointment = Appointment.objects.order_by("pk").first()
    task = TracingTask.objects.get(emis_patient_number=appointment.patient_record_id)
    free = (
        type(appointment.slot)
        .objects.filter(session=appointment.slot.session, status="free")
        .order_by("-start")
        .first()
    )
    # Move the patient within the session, keeping its counts level.
    type(appointment.slot).objects.filter(pk=appointment.slot_id).update(status="free")
    type(appointment.slot).objects.filter(pk=free.pk).update(status="busy")
    Appointment.objects.filter(pk=appointment.pk).update(slot=free, start=free.start, end=free.end)
    quick = poll_connection(connection=pcn_connection)
    assert quick.emis_calls == 1 and quick.moved == 0
    PollCursor.objects.filter(connection=pcn_connection).update(
        last_full_sweep_at=timezone.now()
        - timedelta(seconds=settings.TRACING_POLL_FULL_SWEEP_SECONDS)
    )
    full = poll_connection(connection=pcn_connection)
    assert full.full_sweep and full.moved == 1 and full.created == 0
    task.refresh_from_db()
    assert task.appointment_start == free.start and task.emis_slot_id == free.pk


@pytest.mark.parametrize(
    "mode", ["pcn_batch_daily", "pcn_batch_weekly", "practice_led", "on_the_day"]
)
def test_detection_plans_owner_and_due_time_by_each_policy(
    pcn_connection, pcn_a, practice_a, practice_a2, mode
):
    policy = TracingPolicy.objects.create(
        pcn=pcn_a, mode=mode, batch_time=time(9, 15), batch_weekday=3, practice_working_hours=6
    )
    simulate(12)
    before = timezone.now()
    poll_connection(connection=pcn_connection)
    after = timezone.now()
    tasks = list(TracingTask.objects.filter(connection=pcn_connection).select_related("owner"))
    assert len(tasks) == 12
    view = policy_view(policy)
    for task in tasks:
        if mode == "practice_led":
            # The Partner API does not say who booked: the patient's practice traces.
            assert task.owner.ods_code == task.registered_practice_ods
            assert task.owner in (practice_a, practice_a2)
        else:
            assert task.owner == pcn_a
        assert task.due_at <= task.appointment_start
        assert (
            plan_due(policy=view, found_at=before, appointment_start=task.appointment_start)
            <= task.due_at
            <= plan_due(policy=view, found_at=after, appointment_start=task.appointment_start)
        )


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


@pytest.mark.django_db(transaction=True)
def test_two_polls_at_once_make_one_task_each(emis_in_process, pcn_a, practice_a, practice_a2):
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
                # snapshot's unique slots still keep the tasks single.
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
    # At most one of them lost the race on the snapshot (and changed nothing).
    assert len(errors) <= 1, errors
    assert TracingTask.objects.filter(connection=connection).count() == 15
    poll_connection(connection=connection)
    assert TracingTask.objects.filter(connection=connection).count() == 15


def test_a_failed_poll_changes_nothing_and_the_next_one_catches_up(pcn_connection, pcn_world):
    simulate(5)
    poll_connection(connection=pcn_connection)
    simulate(5, cancel=1)
    pcn_world.faults("U10001", reject_auth=True)
    run = poll_connection(connection=pcn_connection)
    assert run.status == "failed"
    assert run.error  # EMIS's reason, in words
    cursor = PollCursor.objects.get(connection=pcn_connection)
    assert cursor.last_error == run.error
    assert cursor.lease_token == ""
    assert TracingTask.objects.filter(status="open").count() == 5
    pcn_world.faults("U10001", reject_auth=False)
    again = poll_connection(connection=pcn_connection)
    assert again.status == "succeeded"
    assert (again.created, again.cancelled) == (5, 1)
    assert TracingTask.objects.count() == 10


def test_a_poll_killed_mid_sweep_loses_and_duplicates_nothing(pcn_connection, monkeypatch):
    simulate(10)
    real_read = PartnerApiClient.slots_for_session
    calls = {"n": 0}

    def killed_on_third_session(self, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return real_read(self, **kwargs)

    monkeypatch.setattr(PartnerApiClient, "slots_for_session", killed_on_third_session)
    with pytest.raises(SystemExit):
        poll_connection(connection=pcn_connection)
    assert not TracingTask.objects.exists() and not PollSlot.objects.exists()
    PollCursor.objects.filter(connection=pcn_connection).update(lease_until=None)
    monkeypatch.setattr(PartnerApiClient, "slots_for_session", real_read)

    # Killed again, this time while storing: the transaction rolls everything back.
    real_save = poll_store.snapshot_save_sessions

    def killed_while_storing(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(poll_store, "snapshot_save_sessions", killed_while_storing)
    with pytest.raises(RuntimeError):
        poll_connection(connection=pcn_connection)
    run = PollRun.objects.order_by("-pk").first()
    assert run.status == "failed" and run.error == "RuntimeError"
    assert not TracingTask.objects.exists() and not PollSlot.objects.exists()
    monkeypatch.setattr(poll_store, "snapshot_save_sessions", real_save)

    poll_connection(connection=pcn_connection)
    poll_connection(connection=pcn_connection)
    assert TracingTask.objects.count() == 10
    assert AuditEntry.objects.filter(action="tracing_task.created").count() == 10


def test_emis_unavailable_is_recorded_and_raised_for_retry(pcn_connection, pcn_world):
    simulate(2)
    pcn_world.faults("U10001", error_rate=1.0)
    with pytest.raises(EmisUnavailable):
        poll_connection(connection=pcn_connection)
    run = PollRun.objects.get()
    assert run.status == "failed"
    assert run.error
    assert run.emis_calls >= 1
    assert PollCursor.objects.get(connection=pcn_connection).last_full_sweep_at is None
    assert not TracingTask.objects.exists()


def test_an_app_booking_is_matched_not_duplicated(pcn_connection, practice_a, practice_staff):
    from emis_integration.client import BookingOrganisation, PatientDetails, book_patient
    from emis_integration.selectors import emis_client
    from tracing.services import tracing_task_open_for_booking

    simulate(2)
    patient = Patient.objects.filter(organisation__ods_code="A10001").order_by("-pk").first()
    client = emis_client(connection=pcn_connection, requesting_organisation=practice_a)
    slot = client.search_free_slots(timezone.now(), timezone.now() + timedelta(days=7))[0]
    record = book_patient(
        client,
        slot=slot,
        patient=PatientDetails(
            nhs_number=patient.nhs_number,
            family_name=patient.family,
            given_name=patient.given,
            birth_date=patient.birth_date,
            gender=patient.gender,
            registered_practice_ods="A10001",
        ),
        booking_organisation=BookingOrganisation(
            ods_code="A10001", name="Alpha Surgery", phone="01632 960000"
        ),
    ).appointment
    app_task = tracing_task_open_for_booking(
        connection=pcn_connection, appointment=record, actor=practice_staff
    )
    assert app_task.emis_slot_id == int(slot.slot_id)
    run = poll_connection(connection=pcn_connection)
    assert (run.created, run.updated) == (2, 1)
    assert TracingTask.objects.count() == 3
    app_task.refresh_from_db()
    assert app_task.source == "booked_via_app"
    assert app_task.emis_patient_number is not None
    # And the other way round: a booking's task after the poll found it first.
    assert (
        tracing_task_open_for_booking(
            connection=pcn_connection, appointment=record, actor=practice_staff
        ).pk
        == app_task.pk
    )


def test_a_traced_task_follows_a_move_and_a_cancelled_one_reopens_on_rebooking(pcn_connection):
    simulate(2)
    poll_connection(connection=pcn_connection)
    first, second = list(Appointment.objects.order_by("pk"))
    traced = TracingTask.objects.get(emis_patient_number=first.patient_record_id)
    TracingTask.objects.filter(pk=traced.pk).update(status=TaskStatus.TRACED)
    SlotModel = type(first.slot)
    # First moves to another day; second is cancelled.
    target = SlotModel.objects.filter(status="free").exclude(session=first.slot.session).first()
    SlotModel.objects.filter(pk=first.slot_id).update(status="free")
    SlotModel.objects.filter(pk=target.pk).update(status="busy")
    Appointment.objects.filter(pk=first.pk).update(slot=target, start=target.start, end=target.end)
    SlotModel.objects.filter(pk=second.slot_id).update(status="free")
    Appointment.objects.filter(pk=second.pk).update(status="cancelled")
    run = poll_connection(connection=pcn_connection)
    assert (run.moved, run.cancelled) == (1, 1)
    traced.refresh_from_db()
    assert traced.status == TaskStatus.TRACED
    assert traced.appointment_start == target.start
    cancelled = TracingTask.objects.get(emis_patient_number=second.patient_record_id)
    assert cancelled.status == TaskStatus.CANCELLED
    # Re-booked into the same slot: the cancelled task reopens.
    SlotModel.objects.filter(pk=second.slot_id).update(status="busy")
    Appointment.objects.filter(pk=second.pk).update(status="booked")
    run = poll_connection(connection=pcn_connection)
    assert (run.created, run.updated) == (0, 1)
    cancelled.refresh_from_db()
    assert cancelled.status == TaskStatus.OPEN
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"tracing_task.cancelled", "tracing_task.redated", "tracing_task.reopened"} <= actions


def test_a_deleted_session_cancels_and_a_past_one_is_only_forgotten(pcn_connection, monkeypatch):
    simulate(25)  # the first day's session full, five on the second
    poll_connection(connection=pcn_connection)
    sessions = list(PollSession.objects.order_by("session_date"))
    deleted, aged = sessions[0], sessions[1]
    PollSession.objects.filter(pk=aged.pk).update(
        session_date=timezone.localdate() - timedelta(days=1)
    )
    real = PartnerApiClient.appointment_sessions

    def without_two(self, **kwargs):
        return [
            s for s in real(self, **kwargs) if s.id not in (deleted.session_id, aged.session_id)
        ]

    monkeypatch.setattr(PartnerApiClient, "appointment_sessions", without_two)
    in_deleted = set(
        PollSlot.objects.filter(session_id=deleted.session_id).values_list("task_id", flat=True)
    )
    in_aged = set(
        PollSlot.objects.filter(session_id=aged.session_id).values_list("task_id", flat=True)
    )
    run = poll_connection(connection=pcn_connection)
    assert run.cancelled == len(in_deleted) > 0
    assert (
        set(TracingTask.objects.filter(status="cancelled").values_list("pk", flat=True))
        == in_deleted
    )
    assert set(TracingTask.objects.filter(pk__in=in_aged).values_list("status", flat=True)) == {
        "open"
    }
    assert not PollSession.objects.filter(
        session_id__in=[deleted.session_id, aged.session_id]
    ).exists()


def test_an_unknown_slot_status_is_kept_and_shown(
    pcn_connection, monkeypatch, superuser, client_for
):
    simulate(1)
    real = PartnerApiClient.slots_for_session

    def sent_in(self, **kwargs):
        return [
            dataclasses.replace(slot, status="Sent In") if slot.patient_number else slot
            for slot in real(self, **kwargs)
        ]

    monkeypatch.setattr(PartnerApiClient, "slots_for_session", sent_in)
    poll_connection(connection=pcn_connection)
    task = TracingTask.objects.get()
    assert task.emis_slot_status == "Sent In"
    page = client_for(superuser).get(f"/admin/tracing/tracingtask/{task.pk}/change/")
    assert page.status_code == 200
    assert "Sent In" in page.content.decode()


def test_malformed_items_are_skipped_with_a_warning(pcn_connection, monkeypatch):
    simulate(2)
    real = PartnerApiClient.slots_for_session

    def with_a_bad_slot(self, **kwargs):
        self.warnings.append("slot without a dbid skipped")
        return real(self, **kwargs)

    monkeypatch.setattr(PartnerApiClient, "slots_for_session", with_a_bad_slot)
    run = poll_connection(connection=pcn_connection)
    assert run.status == "succeeded" and run.created == 2
    assert "slot without a dbid skipped" in run.warnings


def test_demographics_that_fail_leave_the_nhs_number_unknown_until_the_next_poll(
    pcn_connection, monkeypatch, superuser, client_for
):
    simulate(2)
    real = PartnerApiClient.patient_demographics

    def unavailable(self, **kwargs):
        raise EmisUnavailable("EMIS is busy")

    monkeypatch.setattr(PartnerApiClient, "patient_demographics", unavailable)
    run = poll_connection(connection=pcn_connection)
    assert run.status == "succeeded" and run.created == 2
    assert "could not be read" in run.warnings
    tasks = list(TracingTask.objects.all())
    assert all(t.patient_nhs_number == "" and t.status == "open" for t in tasks)
    # The slot still named the patient.
    assert all(t.patient_family_name for t in tasks)
    page = client_for(superuser).get(f"/admin/tracing/tracingtask/{tasks[0].pk}/change/")
    assert "NHS number not yet known" in page.content.decode()

    monkeypatch.setattr(PartnerApiClient, "patient_demographics", real)
    again = poll_connection(connection=pcn_connection)
    assert again.updated == 2 and again.created == 0
    assert again.emis_calls == 1 + 2  # the session list and the two patients
    emis = booked_in_emis()
    for task in TracingTask.objects.all():
        assert task.patient_nhs_number == emis[task.emis_patient_number].patient_nhs_number
        assert task.registered_practice is not None


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
    assert "3 booked slots seen; tasks: 3 created, 0 cancelled, 0 re-dated" in out.getvalue()
    with pytest.raises(CommandError, match="no EMIS connection with id 999999"):
        call_command("poll_pcn_appointments", "--connection", "999999")
    out = StringIO()
    call_command("poll_pcn_appointments", stdout=out)
    assert "0 created" in out.getvalue() and "(1 EMIS calls)" in out.getvalue()


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


def test_poll_runs_say_what_each_poll_read_and_changed(pcn_connection, superuser, client_for):
    simulate(4)
    poll_connection(connection=pcn_connection)
    simulate(cancel=1)
    poll_connection(connection=pcn_connection)
    page = client_for(superuser).get("/admin/tracing/pollrun/").content.decode()
    assert "3 of 3 (full sweep)" in page and "4 new" in page
    assert "1 of 3 (changed only)" in page and "1 cancelled" in page
