"""The poller's fast path (tracing/poller/fastpath.py): the fetching threads are
stopped and joined however a poll ends; the page transaction leaves no session
state behind (no staging table, no relaxed durability) on a pooled connection;
both staging methods store the same tasks; and the statements that bypass
Django's cursor (binary reads, COPY) are seen by query capture and by execute
wrappers, so a poll's store stage has an exact, size-independent query count."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emis_integration.client import EmisUnavailable
from emis_integration.client.partner import PartnerApiClient
from emis_integration.selectors import partner_client
from tracing.models import PollCursor, PollRun, PollSlot, TaskSource, TracingTask
from tracing.poller import fastpath, poll_connection, store
from tracing.poller.changes import poll_changes_store
from tracing.poller.diff import SeenSlot
from tracing.poller.lease import Lease
from tracing.poller.patients import resolve_patients
from tracing.poller.reading import sweep_read
from tracing.selectors import policy_for_pcn

from .helpers import sandbox_patients, simulate


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(fastpath.FETCH_THREAD_PREFIX)]


def staging_tables() -> int:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'poll_staging_%%'")
        return cursor.fetchone()[0]


def synchronous_commit() -> str:
    with db_connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


# --- prefetched -----------------------------------------------------------------------------


def test_prefetched_stops_and_joins_its_threads_when_the_consumer_fails():
    started: list[int] = []

    def slow(item: int) -> int:
        started.append(item)
        time.sleep(0.02)
        return item * 2

    with (
        pytest.raises(RuntimeError, match="consumer failed"),
        fastpath.prefetched(slow, range(200), workers=4) as results,
    ):
        for result in results:
            assert result == 0
            assert 1 <= len(fetch_threads()) <= 4  # reading ahead while we work
            raise RuntimeError("consumer failed")
    assert fetch_threads() == []
    # Only the calls read ahead were made; the rest were cancelled, not run.
    assert 1 <= len(started) <= 2 * 4 + 1


def test_prefetched_hands_on_a_threads_exception_and_joins_the_others():
    def fails_on_three(item: int) -> int:
        if item == 3:
            raise ValueError("EMIS said no")
        time.sleep(0.01)
        return item

    got: list[int] = []
    with (
        pytest.raises(ValueError, match="EMIS said no"),
        fastpath.prefetched(fails_on_three, range(50), workers=3) as results,
    ):
        got.extend(results)
    assert got == [0, 1, 2]  # in order, up to the failure
    assert fetch_threads() == []


def test_prefetched_with_one_worker_runs_in_the_calling_thread_as_asked():
    calls: list[str] = []

    def where(item: int) -> int:
        calls.append(threading.current_thread().name)
        return item

    with fastpath.prefetched(where, [1, 2, 3], workers=1) as results:
        assert next(results) == 1
        assert len(calls) == 1  # nothing read ahead
    assert calls == [threading.current_thread().name]


# --- a poll that fails with the fetching threads on -------------------------------------------


@pytest.fixture
def threaded_world(emis_in_process, settings, pcn_a, practice_a, practice_a2):
    """Alpha PCN's sandbox with 12 bookings over six sessions (days), committed
    (the fetching threads read the sandbox on connections of their own), and the
    poll reading four sessions at once."""
    from tests.emis_world import EmisWorld, at

    settings.TRACING_POLL_FETCH_CONCURRENCY = 4
    world = EmisWorld(base_url="http://localhost")
    world.add_pcn(pcn_a, [practice_a, practice_a2])
    sandbox_patients(world, "A10001", 12)
    world.slots("U10001", [at(day, 9, 10 * i) for day in range(2, 8) for i in range(4)])
    simulate(12)
    return world


def fail_after_listing(monkeypatch, world, **faults) -> list[str]:
    """EMIS starts failing (the sandbox's fault knobs) once the sessions are
    listed; returns the names of the threads that read slots."""
    readers: list[str] = []
    list_sessions = PartnerApiClient.appointment_sessions
    read_slots = PartnerApiClient.slots_for_session

    def listed_then_fail(self, **kwargs):
        sessions = list_sessions(self, **kwargs)
        world.faults("U10001", **faults)
        return sessions

    def read(self, **kwargs):
        readers.append(threading.current_thread().name)
        return read_slots(self, **kwargs)

    monkeypatch.setattr(PartnerApiClient, "appointment_sessions", listed_then_fail)
    monkeypatch.setattr(PartnerApiClient, "slots_for_session", read)
    return readers


@pytest.mark.django_db(transaction=True)
def test_emis_refusing_mid_poll_leaves_no_fetching_thread(threaded_world, monkeypatch):
    readers = fail_after_listing(monkeypatch, threaded_world, reject_auth=True)
    connection = threaded_world.connections["U10001"]
    run = poll_connection(connection=connection)
    assert run.status == "failed" and run.error
    # The slots were being read in the fetching threads when EMIS began refusing.
    assert readers and all(r.startswith(fastpath.FETCH_THREAD_PREFIX) for r in readers)
    assert fetch_threads() == []
    assert not TracingTask.objects.exists() and not PollSlot.objects.exists()
    assert PollCursor.objects.get(connection=connection).lease_token == ""


@pytest.mark.django_db(transaction=True)
def test_emis_unavailable_mid_poll_leaves_no_fetching_thread(threaded_world, monkeypatch):
    readers = fail_after_listing(monkeypatch, threaded_world, error_rate=1.0)
    with pytest.raises(EmisUnavailable):
        poll_connection(connection=threaded_world.connections["U10001"])
    assert len(readers) == 6
    assert fetch_threads() == []
    assert PollRun.objects.get().status == "failed"
    assert not TracingTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_lease_taken_over_mid_sweep_leaves_no_fetching_thread(threaded_world, monkeypatch):
    connection = threaded_world.connections["U10001"]
    monkeypatch.setattr(Lease, "MIN_BEAT_GAP", timedelta(0))
    read_slots = PartnerApiClient.slots_for_session

    def taken_over(self, **kwargs):
        # Another worker took the lease while this poll was reading.
        PollCursor.objects.filter(connection=connection).update(lease_token="someone-else")
        return read_slots(self, **kwargs)

    monkeypatch.setattr(PartnerApiClient, "slots_for_session", taken_over)
    run = poll_connection(connection=connection)
    assert run.status == "skipped" and "took over" in run.error
    assert fetch_threads() == []
    assert not TracingTask.objects.exists()


# --- the page transaction and the staging table ---------------------------------------------


def _task_rows(connection, count: int, *, prefix: str = "S") -> list[dict]:
    start = datetime.now(UTC) + timedelta(days=2)
    return [
        {
            "emis_appointment_id": f"{prefix}{i}",
            "patient_nhs_number": f"{9_000_000_000 + i}",
            "patient_family_name": f"Family{i}",
            "patient_given_name": "Pat",
            "patient_birth_date": date(1960, 1, 1) + timedelta(days=i),
            "patient_gender": "female",
            "registered_practice_ods": "A10001",
            "registered_practice_name": "Alpha Surgery",
            "registered_practice": None,
            "booking_org_ods": "",
            "booking_organisation": None,
            "appointment_start": start + timedelta(minutes=10 * i),
            "appointment_end": start + timedelta(minutes=10 * i + 10),
            "site_name": "Alpha Hub",
            "practitioner": "Nurse Alex",
            "service": "Flu vaccination",
            "emis_version": "",
            "emis_last_updated": None,
            "emis_slot_id": 700_000 + i,
            "emis_session_id": 40,
            "emis_patient_number": 50_000 + i,
            "emis_slot_status": "Booked",
            "owner": connection.organisation,
            "due_at": start,
        }
        for i in range(count)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_page_transaction_leaves_no_session_state_whether_it_commits_or_fails(live_pcn_a):
    assert synchronous_commit() == "on"
    with fastpath.page_transaction() as page:
        assert page.relaxed and synchronous_commit() == "off"
        inserted = store.tracing_tasks_insert(
            connection=live_pcn_a, rows=_task_rows(live_pcn_a, 3), source=TaskSource.FOUND_BY_POLL
        )
        assert len(inserted) == 3
    assert staging_tables() == 0 and synchronous_commit() == "on"

    with pytest.raises(RuntimeError), fastpath.page_transaction():
        store.tracing_tasks_insert(
            connection=live_pcn_a,
            rows=_task_rows(live_pcn_a, 2, prefix="F"),
            source=TaskSource.FOUND_BY_POLL,
        )
        raise RuntimeError("the poll failed after the insert")
    assert staging_tables() == 0 and synchronous_commit() == "on"
    assert TracingTask.objects.count() == 3  # the failed page's tasks rolled back


def test_the_staging_table_is_created_on_commit_drop(live_pcn_a):
    with CaptureQueriesContext(db_connection) as captured:
        store.tracing_tasks_insert(
            connection=live_pcn_a, rows=_task_rows(live_pcn_a, 2), source=TaskSource.FOUND_BY_POLL
        )
    created = [q["sql"] for q in captured.captured_queries if "CREATE TEMP TABLE" in q["sql"]]
    assert len(created) == 1 and created[0].endswith("ON COMMIT DROP")
    assert staging_tables() == 0  # dropped as soon as it was used, too


def test_both_staging_methods_store_the_same_tasks(live_pcn_a):
    now = datetime.now(UTC)
    rows = _task_rows(live_pcn_a, 4)
    for method, prefix in (("copy", "C"), ("unnest", "U")):
        for row in rows:
            row["emis_appointment_id"] = prefix + row["emis_appointment_id"][1:]
        inserted = store._insert_tasks_postgresql(
            connection=live_pcn_a,
            rows=rows,
            source=TaskSource.FOUND_BY_POLL,
            now=now,
            method=method,
        )
        assert sorted(t.emis_appointment_id for t in inserted) == [f"{prefix}{i}" for i in range(4)]
        # Known appointments are left alone by either method.
        assert (
            store._insert_tasks_postgresql(
                connection=live_pcn_a,
                rows=rows,
                source=TaskSource.FOUND_BY_POLL,
                now=now,
                method=method,
            )
            == []
        )
    compared = [f.attname for f in TracingTask._meta.concrete_fields]
    compared = [name for name in compared if name not in ("id", "emis_appointment_id")]
    by_copy = list(
        TracingTask.objects.filter(emis_appointment_id__startswith="C")
        .order_by("emis_slot_id")
        .values(*compared)
    )
    by_unnest = list(
        TracingTask.objects.filter(emis_appointment_id__startswith="U")
        .order_by("emis_slot_id")
        .values(*compared)
    )
    assert by_copy == by_unnest and len(by_copy) == 4


# --- raw statements seen by query capture and execute wrappers ------------------------------


def test_binary_reads_and_copy_are_captured_and_pass_the_execute_wrappers(live_pcn_a):
    seen: list[str] = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    now = timezone.now()
    seen_slots = [
        (
            SeenSlot(
                slot_id=10 + i,
                session_id=5,
                start=now,
                end=now,
                status="Booked",
                patient_number=70 + i,
            ),
            None,
        )
        for i in range(3)
    ]
    with db_connection.execute_wrapper(spy), CaptureQueriesContext(db_connection) as captured:
        store.snapshot_replace_slots(connection=live_pcn_a, session_ids=[5], slots=seen_slots)
        rows = store.snapshot_slots(connection=live_pcn_a)
    assert len(rows) == 3
    logged = [q["sql"] for q in captured.captured_queries]
    copy = [sql for sql in logged if sql.startswith('COPY "tracing_pollslot"')]
    read = [sql for sql in logged if sql.startswith("SELECT") and "tracing_pollslot" in sql]
    assert len(copy) == 1 and len(read) == 1
    assert str(live_pcn_a.pk) in read[0]  # values shown, as Django logs its own
    assert any(sql.startswith('COPY "tracing_pollslot"') for sql in seen)
    assert any(sql.startswith("SELECT") and "tracing_pollslot" in sql for sql in seen)
    assert len(seen) == len(logged)


def _store_stage_queries(connection, pcn) -> tuple[int, list[str], int]:
    """Steps 1 to 4 of a poll (reading the sandbox), then step 5 as
    poll_connection runs it, captured: (queries, their SQL, tasks created)."""
    cursor, _ = PollCursor.objects.get_or_create(connection=connection)
    run = PollRun.objects.create(connection=connection, started_at=timezone.now())
    client = partner_client(connection=connection)
    sweep, diff, plan = sweep_read(
        client=client,
        connection=connection,
        cursor=cursor,
        run=run,
        now=timezone.now(),
        beat=lambda: None,
    )
    resolved = resolve_patients(
        client=client,
        connection=connection,
        numbers=[s.patient_number for s in diff.appeared],
        now=timezone.now(),
    )
    client.close()
    policy = policy_for_pcn(pcn=pcn)
    with CaptureQueriesContext(db_connection) as captured, fastpath.page_transaction():
        outcome = poll_changes_store(
            connection=connection,
            run=run,
            policy=policy,
            sweep=sweep,
            diff=diff,
            resolved=resolved,
            forget=[*plan.gone, *plan.expired],
            waiting={},
        )
    return len(captured), [q["sql"] for q in captured.captured_queries], outcome.created


# Step 5 of a poll that finds new appointments, statement by statement (inside a
# test's transaction, so the page transaction is a savepoint). The audit rows go
# in by COPY too (hippo_pcn.db.copy_rows, shared with the poller), and are counted.
STORE_STAGE = [
    "SAVEPOINT",
    "SET LOCAL synchronous_commit TO OFF",
    'SELECT "tracing_tracingtask"',  # tasks a booking opened for these slots
    'SELECT "tracing_tracingtask"',  # ... or for these NHS numbers at these starts
    'SELECT "organisations_organisation"',  # the patients' practices
    "CREATE TEMP TABLE poll_staging_",
    "COPY poll_staging_",
    'INSERT INTO "tracing_tracingtask"',
    "DROP TABLE poll_staging_",
    'COPY "audit_auditentry"',  # an audit entry per new task
    'DELETE FROM "tracing_pollpatient"',
    'INSERT INTO "tracing_pollpatient"',
    'DELETE FROM "tracing_pollslot"',
    'DELETE FROM "tracing_pollslot"',
    'COPY "tracing_pollslot"',
    'DELETE FROM "tracing_pollsession"',
    'INSERT INTO "tracing_pollsession"',
    "RELEASE SAVEPOINT",
]


@pytest.mark.parametrize("bookings", [4, 25])
def test_a_polls_store_stage_makes_the_same_exact_queries_whatever_its_size(
    pcn_connection, pcn_a, bookings
):
    from django.contrib.contenttypes.models import ContentType

    simulate(bookings)
    ContentType.objects.get_for_model(TracingTask)  # cached in a worker after its first poll
    count, sql, created = _store_stage_queries(pcn_connection, pcn_a)
    assert created == bookings
    assert count == len(STORE_STAGE) == 18
    for statement, expected in zip(sql, STORE_STAGE, strict=True):
        assert statement.startswith(expected), (statement[:80], expected)


def test_the_snapshot_and_cache_reads_are_counted(pcn_connection, django_assert_num_queries):
    simulate(5)
    poll_connection(connection=pcn_connection)
    with django_assert_num_queries(1) as captured:
        assert len(store.snapshot_slots(connection=pcn_connection)) == 5
    assert '"tracing_pollslot"' in captured.captured_queries[0]["sql"]
    with django_assert_num_queries(1):
        assert len(store.snapshot_sessions(connection=pcn_connection)) == 3
    numbers = list(PollSlot.objects.values_list("patient_number", flat=True))
    with django_assert_num_queries(1) as captured:
        assert set(store.cached_patients(connection=pcn_connection, numbers=numbers)) == set(
            numbers
        )
    assert '"tracing_pollpatient"' in captured.captured_queries[0]["sql"]
    with django_assert_num_queries(0):  # nothing asked, nothing read
        assert store.cached_patients(connection=pcn_connection, numbers=[]) == {}
