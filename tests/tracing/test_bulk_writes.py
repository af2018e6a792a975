"""The poller's bulk writes: the per-poll due planner agrees with plan_due, the
PostgreSQL insert and the portable (SQLite) insert store the same tasks and
both leave already-known appointments alone, and bulk audit entries land by
COPY or by the ORM alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType

from emis_integration.client import AppointmentRecord
from hippo_pcn.audit.models import AppendOnlyError, AuditEntry
from hippo_pcn.audit.services import (
    AuditRow,
    _append_by_copy,
    _append_by_orm,
    audit_bulk_append,
    system_actor,
)
from tracing.models import TaskSource, TracingPolicy, TracingTask
from tracing.planning import PolicyView, page_due_planner, plan_due
from tracing.poller.store import _insert_tasks_portable, _insert_tasks_postgresql
from tracing.services import task_fields_for_appointment, tracing_task_open_for_booking

MODES = ["pcn_batch_daily", "pcn_batch_weekly", "practice_led", "on_the_day"]


@pytest.mark.parametrize("mode", MODES)
def test_page_planner_is_plan_due_for_every_policy(mode):
    view = PolicyView(mode=mode, batch_time=time(8, 0), batch_weekday=2, practice_working_hours=8)
    # Found at times around a weekend and both clock changes of 2026.
    found_times = [
        datetime(2026, 3, 27, 17, 0, tzinfo=UTC),
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
        datetime(2026, 10, 23, 7, 59, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    ]
    for found in found_times:
        due_for = page_due_planner(view, found)
        for minutes in (5, 90, 60 * 20, 60 * 49, 60 * 24 * 9):
            start = found + timedelta(minutes=minutes)
            assert due_for(start) == plan_due(
                policy=view, found_at=found, appointment_start=start
            ), (mode, found, start)


def record(appointment_id: str, start: datetime, **fields) -> AppointmentRecord:
    base = {
        "appointment_id": appointment_id,
        "version": "1",
        "status": "booked",
        "start": start,
        "end": start + timedelta(minutes=10),
        "last_updated": start - timedelta(days=2),
        "booking_org_ods": "A10001",
        "booking_org_name": "Alpha Surgery",
        "patient_nhs_number": "9434765919",
        "patient_family_name": "Smith",
        "patient_given_name": "Jane",
        "patient_birth_date": date(1980, 4, 2),
        "patient_gender": "female",
        "registered_practice_ods": "A10002",
        "registered_practice_name": "Alpha Second Surgery",
        "site_name": "Alpha Hub",
        "practitioner": "Nurse Alex",
        "description": "Flu vaccination",
    }
    base.update(fields)
    return AppointmentRecord(**base)


def rows_for(connection, records):
    found = datetime.now(UTC)
    rows = []
    for r in records:
        fields = task_fields_for_appointment(connection=connection, appointment=r, found_at=found)
        # Only what the insert takes (the connection and PCN come with it).
        del fields["connection"], fields["pcn"]
        # What the poller adds from the Partner API.
        fields.update(
            emis_slot_id=900_000 + len(rows),
            emis_session_id=4000,
            emis_patient_number=5500 + len(rows),
            emis_slot_status="Booked",
        )
        rows.append(fields)
    return rows


COMPARED = [
    "emis_appointment_id",
    "pcn_id",
    "patient_nhs_number",
    "patient_family_name",
    "patient_given_name",
    "patient_birth_date",
    "patient_gender",
    "registered_practice_ods",
    "registered_practice_name",
    "registered_practice_id",
    "booking_org_ods",
    "booking_organisation_id",
    "appointment_start",
    "appointment_end",
    "site_name",
    "practitioner",
    "service",
    "emis_version",
    "emis_last_updated",
    "emis_session_id",
    "emis_slot_status",
    "source",
    "owner_id",
    "due_at",
    "status",
    "cannot_trace_reason",
    "claimed_by_id",
]


@pytest.mark.parametrize("insert", [_insert_tasks_postgresql, _insert_tasks_portable])
def test_both_insert_paths_store_the_same_task_and_skip_known_ones(
    insert, live_pcn_a, pcn_a, practice_a, practice_a2
):
    TracingPolicy.objects.create(pcn=pcn_a, mode="practice_led")
    start = datetime.now(UTC) + timedelta(days=3)
    # One appointment the app booked a moment ago: already a task.
    booked = tracing_task_open_for_booking(
        connection=live_pcn_a, appointment=record("B1", start), actor=system_actor("test")
    )
    records = [
        record("B1", start),
        record("N1", start + timedelta(hours=1)),
        record("N2", start, patient_nhs_number="", registered_practice_ods=""),
    ]
    inserted = insert(
        connection=live_pcn_a,
        rows=rows_for(live_pcn_a, records),
        source=TaskSource.FOUND_BY_POLL,
        now=datetime.now(UTC),
    )
    assert sorted(t.emis_appointment_id for t in inserted) == ["N1", "N2"]
    assert TracingTask.objects.count() == 3
    booked_after = TracingTask.objects.get(pk=booked.pk)
    assert booked_after.source == TaskSource.BOOKED_VIA_APP  # left alone
    n1 = TracingTask.objects.get(emis_appointment_id="N1")
    assert n1.owner == practice_a and n1.registered_practice == practice_a2
    assert n1.booking_organisation == practice_a and n1.status == "open"
    n2 = TracingTask.objects.get(emis_appointment_id="N2")
    assert n2.patient_nhs_number == "" and n2.registered_practice is None
    by_id = {t.emis_appointment_id: t for t in inserted}
    assert by_id["N1"].pk == n1.pk and by_id["N1"].owner_id == practice_a.pk
    assert by_id["N1"].due_at == n1.due_at


def test_the_two_insert_paths_write_identical_rows(live_pcn_a, pcn_a, practice_a, practice_a2):
    start = datetime.now(UTC) + timedelta(days=2)
    rows = rows_for(live_pcn_a, [record("P1", start), record("O1", start)])
    now = datetime.now(UTC)
    _insert_tasks_postgresql(
        connection=live_pcn_a, rows=rows[:1], source=TaskSource.FOUND_BY_POLL, now=now
    )
    _insert_tasks_portable(
        connection=live_pcn_a, rows=rows[1:], source=TaskSource.FOUND_BY_POLL, now=now
    )
    fast, portable = (
        TracingTask.objects.filter(emis_appointment_id=i).values(*COMPARED).get()
        for i in ("P1", "O1")
    )
    fast.pop("emis_appointment_id")
    portable.pop("emis_appointment_id")
    assert fast == portable


@pytest.mark.parametrize("append", [_append_by_copy, _append_by_orm])
def test_bulk_audit_rows_land_by_copy_or_orm(append, pcn_a, db):
    when = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)
    task_type = ContentType.objects.get_for_model(TracingTask)
    rows = [
        AuditRow(
            actor_label=system_actor("poller"),
            action="tracing_task.created",
            content_type_id=task_type.pk,
            object_id=str(i),
            object_repr=f"Trace appointment {i} (Open) — “quoted”\ttab\\slash",
            organisation_id=pcn_a.pk,
            details={"due_at": when, "owner": "U10001", "n": i},
        )
        for i in range(3)
    ]
    now = datetime.now(UTC)
    append(rows, now=now)
    entries = list(AuditEntry.objects.order_by("object_id"))
    assert [e.object_id for e in entries] == ["0", "1", "2"]
    first = entries[0]
    assert first.actor_label == "system: poller" and first.actor is None
    assert abs(first.created_at - now) < timedelta(seconds=5)
    assert first.organisation == pcn_a
    assert first.object_repr.endswith("“quoted”\ttab\\slash")
    assert first.details == {"due_at": "2026-11-25T09:30:15.123Z", "owner": "U10001", "n": 0}
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=first.pk).update(action="changed")


def test_bulk_audit_needs_an_actor(db):
    with pytest.raises(ValueError, match="system actor"):
        audit_bulk_append([AuditRow(actor_label="somebody", action="x")])
    assert audit_bulk_append([]) == 0
