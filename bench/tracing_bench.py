"""Tracing benchmarks: the poller (a full sweep of a large PCN over real HTTP to
the sandbox EMIS served by gunicorn in its own process, the same with the
sandbox in-process for comparison, a re-sweep, an unchanged poll), its diff and
store stage alone, the COPY insert of new tasks against bulk_create (and, for
context only, against one commit per row), the beat fan-out over 1,250 PCNs on
a Celery worker pool (and serially, for context), and the worklist changelist at
volume for a PCN tracer and for support.

`run(record)` expects Django set up against the bench database (bench/run.py
does that) and appends figures with `record(key, runs, target, how, label)`,
`runs` holding each run's value. The worklist volume comes from
TRACING_BENCH_TASKS; each figure says the volume it was measured at. Run alone
with `.venv/bin/python bench/tracing_bench.py [sweep|diff|fanout|worklist ...]`
(prints the figures)."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

Record = Callable[[str, Sequence[float], str, str, str], None]

ROOT = Path(__file__).resolve().parent.parent
TASKS = int(os.environ.get("TRACING_BENCH_TASKS", "250000"))
PCNS = 50

# The large PCN: 30 sessions a day (one per clinic) for 40 days, 10 slots each.
CLINICS = 30
DAYS = 40
SLOTS_PER_SESSION = 10
SESSIONS = CLINICS * DAYS
SLOTS = SESSIONS * SLOTS_PER_SESSION
SWEEP_RUNS = 3
NAIVE_ROWS = 1_200  # rows for the one-commit-per-row context figure


def _booked(index: int) -> bool:
    """Two slots in every five are booked (40 %), each by a different patient."""
    return index % 5 in (0, 2)


def _flush() -> None:
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)


def _analyze() -> None:
    """Vacuumed tables with fresh planner statistics after a bulk load, as on a
    live system where autovacuum has caught up (without statistics PostgreSQL
    plans as if the tables were empty; without the vacuum autovacuum would run
    during the measurement)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    return (
        f"median {statistics.median(values):.{digits}f} {unit}, "
        f"min {min(values):.{digits}f}, max {max(values):.{digits}f}"
    )


# --- the sandbox EMIS in a process of its own ----------------------------------------


def _sandbox_server() -> AbstractContextManager[str]:
    """The sandbox EMIS served over HTTP by gunicorn in a process of its own
    (bench/processes.py); yields its base URL."""
    from processes import sandbox_server

    return sandbox_server()


def _poll_in_worker_process(connection_id: int, *, in_process: bool = False) -> dict[str, Any]:
    """One poll in a fresh process (bench/poll_worker.py), over real HTTP to the
    connection's base URL, or with `in_process` through the in-process (WSGI)
    transport: the sandbox answering inside the worker process, no sockets."""
    import json
    import subprocess

    from django.db import connection as db

    db.close()  # the worker must see everything committed so far
    script = Path(__file__).resolve().parent / "poll_worker.py"
    done = subprocess.run(  # noqa: S603 - our own interpreter and script, an integer argument
        [
            sys.executable,
            str(script),
            str(connection_id),
            *(["--in-process"] if in_process else []),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=os.environ.copy(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"poll worker failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- a large PCN in the sandbox ------------------------------------------------------------


def _sweep_world(base_url: str) -> tuple[Any, int]:
    """A live PCN (U10001, member practice A10001) whose sandbox EMIS holds
    SESSIONS sessions of SLOTS_PER_SESSION slots in the poll window, 40 % of the
    slots booked by distinct patients (appointment-only records at the PCN,
    registered at A10001). Slots and sessions come from the sandbox's
    slots_create; patients and appointments are bulk-created. Returns the PCN's
    connection (its Partner API base URL at `base_url`) and the number booked."""
    from django.utils import timezone

    from emis_integration.sandbox import models as sandbox
    from emis_integration.sandbox.services import slots_create
    from tests.emis_integration.sandbox.helpers import nhs_numbers
    from tests.emis_world import EmisWorld
    from tests.factories import PcnFactory, PracticeFactory

    pcn = PcnFactory(ods_code="U10001", name="Alpha PCN")
    practice = PracticeFactory(ods_code="A10001", name="Alpha Surgery", pcn=pcn)
    world = EmisWorld(base_url=base_url).add_pcn(pcn, [practice])
    org = world.orgs["U10001"]
    first = world.schedules["U10001"]
    sites = [first.site] + [
        sandbox.Site.objects.create(
            organisation=org,
            name=f"Hub {i}",
            address_line1=f"{i} Clinic Road",
            city="Testtown",
            postcode="TT1 1AA",
        )
        for i in range(1, 5)
    ]
    schedules = [first] + [
        sandbox.Schedule.objects.create(
            organisation=org,
            site=sites[i % len(sites)],
            practitioner=sandbox.Practitioner.objects.create(
                organisation=org, family=f"Nurse{i}", given="Alex", gender="female", role="Nurse"
            ),
            service_type=f"Clinic {i}",
            service_category="Vaccinations",
            delivery_channel="In-person",
        )
        for i in range(1, CLINICS)
    ]
    today = timezone.localdate()
    for schedule in schedules:
        slots_create(
            schedule=schedule,
            starts=[
                timezone.make_aware(datetime.combine(today + timedelta(days=day), clock(9)))
                + timedelta(minutes=10 * i)
                for day in range(1, DAYS + 1)
                for i in range(SLOTS_PER_SESSION)
            ],
            minutes=10,
            allowed_ods=["U10001", "A10001"],
            allowed_org_types=[],
        )
    slots = list(
        sandbox.Slot.objects.filter(organisation=org)
        .order_by("session_id", "start")
        .values_list("pk", "start", "end")
    )
    assert len(slots) == SLOTS, len(slots)
    booked = [slot for i, slot in enumerate(slots) if _booked(i)]
    patients = sandbox.Patient.objects.bulk_create(
        [
            sandbox.Patient(
                organisation=org,
                nhs_number=number,
                family=f"Family{i}",
                given="Pat",
                birth_date=date(1950, 1, 1) + timedelta(days=i),
                gender=sandbox.Gender.FEMALE,
                registration_type=sandbox.RegistrationType.APPOINTMENT_ONLY,
                registered_practice_ods="A10001",
            )
            for i, number in enumerate(nhs_numbers(len(booked), start=990_000_000))
        ],
        batch_size=2000,
    )
    now = timezone.now()
    sandbox.Appointment.objects.bulk_create(
        [
            sandbox.Appointment(
                organisation=org,
                slot_id=slot_id,
                status=sandbox.AppointmentStatus.BOOKED,
                version=1,
                last_updated=now,
                created=now,
                start=start,
                end=end,
                booking_org_ods="A10001",
                booking_org_name="Alpha Surgery",
                patient_nhs_number=patient.nhs_number,
                patient_snapshot={
                    "family": patient.family,
                    "given": patient.given,
                    "birthDate": patient.birth_date.isoformat(),
                    "gender": "female",
                    "registeredPracticeOds": "A10001",
                    "registeredPracticeName": "Alpha Surgery",
                },
                patient_record=patient,
                description="Flu vaccination",
            )
            for (slot_id, start, end), patient in zip(booked, patients, strict=True)
        ],
        batch_size=2000,
    )
    sandbox.Slot.objects.filter(pk__in=[slot_id for slot_id, _, _ in booked]).update(
        status=sandbox.SlotStatus.BUSY
    )
    return world.connections["U10001"], len(booked)


def _forget_polls(connection: Any) -> None:
    """Back to a connection never polled: no snapshot, tasks, runs or cursor."""
    from tracing.models import (
        PollCursor,
        PollPatient,
        PollRun,
        PollSession,
        PollSlot,
        TracingTask,
    )

    for model in (PollSlot, PollSession, PollPatient, TracingTask, PollRun, PollCursor):
        model.objects.filter(connection=connection).delete()


def _first_sweeps(connection: Any, booked: int, *, in_process: bool) -> list[dict[str, Any]]:
    """SWEEP_RUNS first (full) sweeps, each from an empty snapshot, worklist and cursor."""
    runs = []
    for _ in range(SWEEP_RUNS):
        _forget_polls(connection)
        _analyze()
        worker = _poll_in_worker_process(connection.pk, in_process=in_process)
        assert worker["status"] == "succeeded", worker
        assert worker["full_sweep"] and worker["created"] == booked, worker
        assert worker["sessions_fetched"] == SESSIONS, worker
        runs.append(worker)
    return runs


def bench_sweep(record: Record) -> None:
    """The poller against a large PCN over real HTTP: first (full) sweeps from
    nothing, the same through the in-process transport for comparison, then full
    re-sweeps of the unchanged PCN, then unchanged polls."""
    from django.conf import settings
    from django.test import override_settings
    from processes import WEB_THREADS, WEB_WORKERS

    from hippo_pcn.settings import base
    from tracing.models import PollCursor, TracingTask
    from tracing.poller import poll_connection

    _flush()
    with _sandbox_server() as base_url:
        connection, booked = _sweep_world(base_url)
        volume = (
            f"{SESSIONS:,} sessions ({CLINICS} a day × {DAYS} days) of {SLOTS_PER_SESSION} slots "
            f"= {SLOTS:,} slots, {booked:,} booked by distinct patients"
        )
        worker_text = (
            "poll_connection in a fresh worker process (bench/poll_worker.py: worker GC "
            f"tuning, production defaults: {base.TRACING_POLL_FETCH_CONCURRENCY} fetch threads, "
            f"{base.TRACING_POLL_DEMOGRAPHICS_PER_POLL:,} demographics lookups a poll)"
        )
        where = (
            f"over HTTP to the sandbox EMIS in its own process (gunicorn, {WEB_WORKERS} workers "
            f"× {WEB_THREADS} threads, bench/processes.py); {worker_text}"
        )

        runs = _first_sweeps(connection, booked, in_process=False)
        local = _first_sweeps(connection, booked, in_process=True)
        times = [w["elapsed_s"] for w in runs]
        local_times = [w["elapsed_s"] for w in local]
        lookups = min(booked, base.TRACING_POLL_DEMOGRAPHICS_PER_POLL)
        calls = runs[0]["emis_calls"]
        calls_text = (
            f"{calls:,} EMIS calls (1 session list, {SESSIONS:,} slot reads, {lookups:,} "
            f"demographics; the other {booked - lookups:,} patients' are read by the next polls)"
            if calls == 1 + SESSIONS + lookups
            else f"{calls:,} EMIS calls, retries included"
        )
        record(
            "poll_sweep_1200_sessions_s",
            times,
            "≤ 30 s",
            f"{volume}: a first (full) sweep from an empty snapshot, {where}; {calls_text}; "
            f"{booked:,} tasks created",
            "Full sweep of 1,200 sessions over HTTP (s)",
        )
        record(
            "poll_ingest_appts_per_s",
            [booked / t for t in times],
            f"report (the sweep goal, {booked:,} in ≤ 30 s, is ≥ {booked / 30:,.0f}/s)",
            "the same first sweeps: booked appointments found and made tasks (with audit "
            "entries and the snapshot) per second, end to end over HTTP",
            "Poll ingestion, end to end over HTTP (appointments/s)",
        )
        record(
            "poll_ingest_appts_per_s_inprocess",
            [booked / t for t in local_times],
            "context only (no network, no sandbox server)",
            f"the same first sweeps with the sandbox EMIS answering inside the worker process "
            f"(in-process WSGI transport, emis_integration.inprocess): sweep time "
            f"{_spread(local_times)}; in-process the sandbox's work shares the worker's "
            "process (and its GIL) with the poller's fetch threads, over HTTP it runs in "
            "gunicorn's processes, so neither is simply the faster",
            "Poll ingestion, sandbox in-process (appointments/s)",
        )
        record(
            "poll_worker_peak_rss_mb",
            [w["peak_rss_mb"] for w in runs],
            "≤ 200 MB",
            f"{volume}: peak RSS (VmHWM) of the worker process during a first sweep over HTTP "
            "(the sandbox runs in another process)",
            "Peak RSS while polling (MB)",
        )

        # Demographics beyond the per-poll cap are read by the next polls; read
        # them now (one poll in this process, cap lifted) so the re-sweep below
        # re-reads slots only.
        with override_settings(
            EMIS_HTTP_TRANSPORT_FACTORY="",
            TRACING_POLL_FETCH_CONCURRENCY=base.TRACING_POLL_FETCH_CONCURRENCY,
            TRACING_POLL_DEMOGRAPHICS_PER_POLL=booked,
        ):
            poll_connection(connection=connection)
        assert not TracingTask.objects.filter(connection=connection, patient_nhs_number="").exists()

        # A full re-sweep of the unchanged PCN (forced by forgetting the last one).
        resweeps = []
        for _ in range(SWEEP_RUNS):
            PollCursor.objects.filter(connection=connection).update(last_full_sweep_at=None)
            worker = _poll_in_worker_process(connection.pk)
            assert worker["status"] == "succeeded" and worker["full_sweep"], worker
            assert worker["appointments_seen"] == booked, worker
            changed = [worker[k] for k in ("created", "cancelled", "moved", "updated")]
            assert changed == [0, 0, 0, 0], worker
            resweeps.append(worker)
        times = [w["elapsed_s"] for w in resweeps]
        record(
            "repoll_appts_per_s",
            [booked / t for t in times],
            "nothing new: faster than ingestion",
            f"{volume}, unchanged since the last poll: a full re-sweep ({resweeps[0]['emis_calls']:,}"
            f" EMIS calls, every session's slots read again, nothing changed), {where}; booked "
            f"slots re-read per second; sweep time {_spread(times)}",
            "Full re-sweep, nothing new (booked slots/s)",
        )

        # An unchanged PCN right after a poll: the session list alone.
        unchanged = []
        for _ in range(SWEEP_RUNS):
            worker = _poll_in_worker_process(connection.pk)
            assert worker["status"] == "succeeded" and not worker["full_sweep"], worker
            assert worker["sessions_fetched"] == 0, worker
            unchanged.append(worker)
        record(
            "poll_unchanged_emis_calls",
            [w["emis_calls"] for w in unchanged],
            "1",
            f"{volume}, polled again right after a poll, nothing changed, over HTTP: "
            f"PollRun.emis_calls (in the worker: "
            f"{_spread([w['elapsed_s'] * 1000 for w in unchanged], 'ms', 0)})",
            "EMIS calls of a poll of an unchanged PCN",
        )
    assert settings.EMIS_HTTP_TRANSPORT_FACTORY == ""
    _flush()


# --- the diff and store stage alone --------------------------------------------------------


@dataclass
class _Inputs:
    """One sweep's inputs as poll_connection holds them after reading EMIS."""

    sweep: Any
    resolved: Any


def _sweep_inputs(*, churn: bool) -> _Inputs:
    """SESSIONS sessions of SLOTS_PER_SESSION slots in memory: the Sweep (listed
    and read sessions, the booked slots seen with their details) and the
    resolved patients. `churn=False`: every booked patient new (a first sweep),
    all resolved. `churn=True`: the same PCN an hour later with about 4 % of the
    booked slots changed: 1 in 100 cancelled, 1 in 100 moved to a free slot
    three sessions on, 1 in 100 with another status text, and one new patient
    in every 50th group of five slots (only the new ones need resolving)."""
    from django.utils import timezone

    from tracing.poller import store
    from tracing.poller.diff import ListedSession, SeenSlot, session_signature
    from tracing.poller.sweep import Resolved, SlotDetails, Sweep

    today = timezone.localdate()
    now = timezone.now()
    starts = []
    sessions = []
    for s in range(SESSIONS):
        day = today + timedelta(days=1 + s // CLINICS)
        begin = timezone.make_aware(datetime.combine(day, clock(9)))
        sessions.append((500_000 + s, day, begin))
        starts += [begin + timedelta(minutes=10 * i) for i in range(SLOTS_PER_SESSION)]
    booked = [i for i in range(SLOTS) if _booked(i)]
    occupant: dict[int, tuple[int, str]] = {i: (700_000 + i, "Booked") for i in booked}
    new_patients: set[int] = set()
    if churn:
        for k, i in enumerate(booked):
            if k % 100 == 1:
                del occupant[i]
            elif k % 100 == 3:
                # Slot i - i % 5 + 1 is free; 300 slots on is three sessions later.
                target = (i - i % 5 + 1 + 300) % SLOTS
                occupant[target] = occupant.pop(i)
            elif k % 100 == 5:
                occupant[i] = (occupant[i][0], "Arrived")
        for group in range(0, SLOTS // 5):
            if group % 50 == 7:
                occupant[group * 5 + 3] = (800_000 + group, "Booked")
                new_patients.add(800_000 + group)
    sweep = Sweep()
    for s, (session_id, day, begin) in enumerate(sessions):
        indices = range(s * SLOTS_PER_SESSION, (s + 1) * SLOTS_PER_SESSION)
        taken = sum(1 for i in indices if i in occupant)
        sweep.listed[session_id] = ListedSession(
            session_id,
            day,
            session_signature(
                start=begin,
                end=begin + timedelta(minutes=10 * SLOTS_PER_SESSION),
                counts=[(s % CLINICS, SLOTS_PER_SESSION, taken, SLOTS_PER_SESSION - taken)],
            ),
        )
        sweep.read.add(session_id)
    resolved = Resolved()
    for i in sorted(occupant):
        number, status = occupant[i]
        session_id = sessions[i // SLOTS_PER_SESSION][0]
        slot_id = 9_000_000 + i
        sweep.seen.append(
            SeenSlot(
                slot_id=slot_id,
                session_id=session_id,
                start=starts[i],
                end=starts[i] + timedelta(minutes=10),
                status=status,
                patient_number=number,
            )
        )
        sweep.details[slot_id] = SlotDetails(
            session_name=f"Clinic {(i // SLOTS_PER_SESSION) % CLINICS}",
            site_name="Alpha Hub",
            practitioner="Nurse Alex",
            service="Flu vaccination",
            family_name=f"FAMILY{number}",
            given_names="Pat",
        )
        if not churn or number in new_patients:
            patient = store.CachedPatient(
                patient_number=number,
                nhs_number=f"{9_000_000_000 + number}",
                family_name=f"FAMILY{number}",
                given_names="Pat",
                birth_date=date(1950, 1, 1) + timedelta(days=number % 20_000),
                gender="female",
                registered_practice_ods="A10001",
                registered_practice_name="Alpha Surgery",
                fetched_at=now,
            )
            resolved.patients[number] = patient
            resolved.fresh.append(patient)
    return _Inputs(sweep=sweep, resolved=resolved)


def _store_stage(
    *, connection: Any, run: Any, policy: Any, inputs: _Inputs, snapshot: list[Any]
) -> Any:
    """What poll_connection does between reading EMIS and moving the cursor
    (tracing/poller/poll.py): diff_slots, then in one page transaction
    (fastpath.page_transaction) poll_changes_store (tasks created, cancelled,
    re-dated, with audit rows; the demographics cache; the snapshot where it
    changed)."""
    from tracing.poller import fastpath, store
    from tracing.poller.diff import diff_slots
    from tracing.poller.sweep import poll_changes_store

    sweep, resolved = inputs.sweep, inputs.resolved
    sweep.known = store.snapshot_sessions(connection=connection)
    diff = diff_slots(snapshot=snapshot, seen=sweep.seen, read_sessions=sweep.read)
    with fastpath.page_transaction():
        poll_changes_store(
            connection=connection,
            run=run,
            policy=policy,
            sweep=sweep,
            diff=diff,
            resolved=resolved,
            forget=[],
            waiting={},
        )
    return diff


def _small_world() -> tuple[Any, Any, Any]:
    """A live PCN (U10001) with a member practice (A10001); no EMIS calls are made."""
    from tests.emis_world import EmisWorld
    from tests.factories import PcnFactory, PracticeFactory

    pcn = PcnFactory(ods_code="U10001", name="Alpha PCN")
    practice = PracticeFactory(ods_code="A10001", name="Alpha Surgery", pcn=pcn)
    world = EmisWorld(base_url="http://localhost").add_pcn(pcn, [practice])
    return world.connections["U10001"], pcn, practice


def bench_diff(record: Record, repeats: int = 5) -> None:
    """The diff and store stage of a full sweep alone: no EMIS, inputs in memory,
    in this process with the worker's GC tuning (as a Celery worker runs it; the
    tuning stays on for the benchmarks after this one, as before)."""
    from django.utils import timezone

    from hippo_pcn.gc_tuning import tune_gc_for_worker
    from tracing.models import PollRun
    from tracing.poller import store
    from tracing.selectors import policy_for_pcn

    _flush()
    tune_gc_for_worker()
    connection, pcn, _ = _small_world()
    policy = policy_for_pcn(pcn=pcn)
    first = _sweep_inputs(churn=False)
    later = _sweep_inputs(churn=True)
    booked_first, booked_later = len(first.sweep.seen), len(later.sweep.seen)
    first_times, later_times = [], []
    changes = 0
    for _ in range(repeats):
        _forget_polls(connection)
        _analyze()
        run = PollRun.objects.create(connection=connection, started_at=timezone.now())
        started = time.perf_counter()
        diff = _store_stage(
            connection=connection, run=run, policy=policy, inputs=first, snapshot=[]
        )
        first_times.append(time.perf_counter() - started)
        assert len(diff.appeared) == booked_first, len(diff.appeared)
        snapshot = store.snapshot_slots(connection=connection)  # as the poll reads it
        run = PollRun.objects.create(connection=connection, started_at=timezone.now())
        started = time.perf_counter()
        diff = _store_stage(
            connection=connection, run=run, policy=policy, inputs=later, snapshot=snapshot
        )
        later_times.append(time.perf_counter() - started)
        changes = diff.changes
        assert diff.departed and diff.moved and diff.restatused and diff.appeared, diff.changes
    rates = [SLOTS / t for t in later_times]
    first_rates = [SLOTS / t for t in first_times]
    record(
        "poll_diff_slots_per_s",
        rates,
        "≥ 50,000",
        f"diff_slots + poll_changes_store (tasks, audit, demographics cache, the snapshot where "
        f"it changed), in "
        f"one transaction (commit included), of a full re-sweep of {SESSIONS:,} sessions / "
        f"{SLOTS:,} slots built in memory against the snapshot and tasks of the previous sweep, "
        f"{changes} changes (cancelled, moved, re-statused, new; about 4 %); counted: all "
        f"{SLOTS:,} slots of the sessions read, of which the {booked_later:,} booked reach this "
        f"stage (free slots are dropped while reading); {repeats} runs: "
        f"{_spread(later_times, 's', 3)} = {statistics.median(rates):,.0f} "
        f"slots/s ({booked_later / statistics.median(later_times):,.0f} booked/s). Same runs, "
        f"a first sweep (empty snapshot, {booked_first:,} new tasks by COPY with audit rows): "
        f"{_spread(first_times, 's', 3)} = {statistics.median(first_rates):,.0f} slots/s",
        "Poll diff + store stage, full re-sweep (slots/s)",
    )

    # New tasks: the COPY path against bulk_create(ignore_conflicts=True), same rows.
    insert_rows = _task_rows(first, pcn=pcn)
    copy_times: list[float] = []
    bulk_times: list[float] = []
    for _ in range(repeats):
        for kind, times in (("copy", copy_times), ("bulk", bulk_times)):
            _forget_polls(connection)
            started = time.perf_counter()
            stored = _insert(kind, connection=connection, rows=insert_rows)
            times.append(time.perf_counter() - started)
            assert stored == len(insert_rows), (kind, stored)
    copy_rates = [len(insert_rows) / t for t in copy_times]
    bulk_rates = [len(insert_rows) / t for t in bulk_times]
    record(
        "poll_upsert_appts_per_s",
        copy_rates,
        "report (against bulk_create below)",
        f"store.tracing_tasks_insert (COPY into a staging table, one INSERT … SELECT … ON "
        f"CONFLICT DO NOTHING RETURNING) of {len(insert_rows):,} new tasks, in a transaction "
        f"(commit included), ids returned; insert time {_spread(copy_times, 's', 3)}",
        "Poll insert of new tasks, COPY path (tasks/s)",
    )
    record(
        "poll_speedup_vs_bulk_create",
        [b / c for c, b in zip(copy_times, bulk_times, strict=True)],
        "> 1× (faster than the simplest alternative)",
        f"each run: the same {len(insert_rows):,} rows through TracingTask.objects.bulk_create("
        f"ignore_conflicts=True, batch_size=500) and the inserted ids read back, in the same "
        f"kind of transaction (synchronous_commit off, commit included), against the COPY path "
        f"just before it (the two alternate, from an empty table each time): bulk_create "
        f"{statistics.median(bulk_rates):,.0f} tasks/s ({_spread(bulk_times, 's', 3)})",
        "COPY insert speed-up over bulk_create (×)",
    )

    # Context only: the first comparison the bench made, against a loop that
    # commits once per row. Not a fair baseline (nobody would write the poller so),
    # kept so the old 40-odd times can be read against the fair figure above.
    naive_rows = insert_rows[:NAIVE_ROWS]
    naive_times = []
    for _ in range(3):
        _forget_polls(connection)
        started = time.perf_counter()
        stored = _insert("naive", connection=connection, rows=naive_rows)
        naive_times.append(time.perf_counter() - started)
        assert stored == len(naive_rows), stored
    naive_rates = [len(naive_rows) / t for t in naive_times]
    record(
        "poll_naive_appts_per_s",
        naive_rates,
        "context only (not a fair baseline)",
        f"{len(naive_rows):,} of the same rows, one TracingTask.objects.get_or_create per row in "
        "autocommit: a commit (and its WAL flush) per row",
        "Context: one commit per row (tasks/s)",
    )
    record(
        "poll_speedup_vs_naive",
        [c / statistics.median(naive_rates) for c in copy_rates],
        "context only (the fair figure is the bulk_create one)",
        "poll_upsert_appts_per_s of each COPY run / the median of the one-commit-per-row runs",
        "Context: COPY insert speed-up over one commit per row (×)",
    )
    _forget_polls(connection)
    _fastpath_staging_rows(record, connection)
    _flush()


def _task_rows(inputs: _Inputs, *, pcn: Any) -> list[dict[str, Any]]:
    """New-task rows (store.TASK_ROW_FIELDS) for every booked slot, as the writer builds them."""
    from hippo_pcn.organisations.models import Organisation

    practice = Organisation.objects.get(ods_code="A10001")
    rows = []
    for seen in inputs.sweep.seen:
        patient = inputs.resolved.patients[seen.patient_number]
        details = inputs.sweep.details[seen.slot_id]
        rows.append(
            {
                "emis_appointment_id": f"papi-0-{seen.slot_id}-{seen.patient_number}",
                "patient_nhs_number": patient.nhs_number,
                "patient_family_name": patient.family_name,
                "patient_given_name": patient.given_names,
                "patient_birth_date": patient.birth_date,
                "patient_gender": patient.gender,
                "registered_practice_ods": patient.registered_practice_ods,
                "registered_practice_name": patient.registered_practice_name,
                "registered_practice": practice,
                "booking_org_ods": "",
                "booking_organisation": None,
                "appointment_start": seen.start,
                "appointment_end": seen.end,
                "site_name": details.site_name,
                "practitioner": details.practitioner,
                "service": details.service,
                "emis_version": "",
                "emis_last_updated": None,
                "emis_slot_id": seen.slot_id,
                "emis_session_id": seen.session_id,
                "emis_patient_number": seen.patient_number,
                "emis_slot_status": seen.status,
                "owner": pcn,
                "due_at": seen.start - timedelta(hours=8),
            }
        )
    return rows


def _insert(kind: str, *, connection: Any, rows: list[dict[str, Any]]) -> int:
    """Insert new tasks for `rows` one of three ways and return how many went in:
    "copy", the store's path; "bulk", the store's ORM path (bulk_create with
    ignore_conflicts=True, the new ids read back), in the same kind of transaction (the fair
    alternative); "naive", get_or_create row by row, each committed alone. The
    first two in a page transaction as a poll writes (fastpath.page_transaction:
    synchronous_commit off, commit included)."""
    from django.utils import timezone

    from tracing.models import TaskSource, TracingTask
    from tracing.poller import fastpath, store

    source = TaskSource.FOUND_BY_POLL
    if kind == "naive":
        made = 0
        for row in rows:
            fields = {name: row[name] for name in store.TASK_ROW_FIELDS}
            key = fields.pop("emis_appointment_id")
            _, created = TracingTask.objects.get_or_create(
                connection=connection,
                emis_appointment_id=key,
                defaults={**fields, "pcn_id": connection.organisation_id, "source": source},
            )
            made += created
        return made
    with fastpath.page_transaction():
        if kind == "copy":
            return len(store.tracing_tasks_insert(connection=connection, rows=rows, source=source))
        # The store's own ORM path (what it runs on SQLite): bulk_create with
        # ignore_conflicts, then the new ids read back, as COPY's RETURNING gives them.
        return len(
            store._insert_tasks_portable(
                connection=connection, rows=rows, source=source, now=timezone.now()
            )
        )


def _fastpath_staging_rows(record: Record, connection: Any) -> None:
    """The fast path's two ways of staging new tasks, COPY into an ON COMMIT DROP
    table against one INSERT ... SELECT FROM unnest(...), measured by the fast
    path itself (fastpath.insert_methods_measure), when it offers that."""
    from tracing.poller import fastpath

    measure = getattr(fastpath, "insert_methods_measure", None)
    if measure is None:
        return
    count = 4_800
    timings: dict[str, list[float]] = measure(connection=connection, count=count, repeats=3)
    copy, unnest = timings.get("copy"), timings.get("unnest")
    if not copy or not unnest:
        return
    how = (
        f"fastpath.insert_methods_measure: {count:,} new tasks, each run in its own page "
        "transaction (commit included, ids returned), the two methods alternating"
    )
    record(
        "poll_insert_copy_drop_tasks_per_s",
        [count / t for t in copy],
        "context only (the choice of staging)",
        f"{how}; COPY into a temporary table created ON COMMIT DROP, then INSERT … SELECT; "
        f"{_spread(copy, 's', 3)}",
        "Context: new tasks staged by COPY, ON COMMIT DROP (tasks/s)",
    )
    record(
        "poll_insert_unnest_tasks_per_s",
        [count / t for t in unnest],
        "context only (the choice of staging)",
        f"{how}; one INSERT … SELECT FROM unnest(arrays) with binary parameters; "
        f"{_spread(unnest, 's', 3)}",
        "Context: new tasks staged by unnest (tasks/s)",
    )


# --- fan-out --------------------------------------------------------------------------------


def _fanout_world(codes: list[str], base_url: str) -> list[Any]:
    """One live PCN connection per code, each PCN's sandbox EMIS holding two
    sessions (tomorrow and the day after) of six slots with one booked; the
    connections' base URLs are the sandbox server at `base_url`. Returns the
    sandbox organisations."""
    from django.utils import timezone

    from emis_integration.crypto import encrypt_credentials
    from emis_integration.demo_identities import (
        HIPPO_CONSUMER_ASID,
        demo_client_secret,
        demo_partner_application_id,
        demo_partner_token,
        demo_provider_asid,
    )
    from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem
    from emis_integration.sandbox import models as sandbox
    from hippo_pcn.organisations.models import Organisation
    from tests.emis_integration.sandbox.helpers import nhs_numbers

    pcns = Organisation.objects.bulk_create(
        [Organisation(kind="pcn", ods_code=code, name=f"Fan-out PCN {code}") for code in codes]
    )
    orgs = sandbox.SandboxOrganisation.objects.bulk_create(
        [
            sandbox.SandboxOrganisation(
                ods_code=code,
                name=f"Fan-out PCN {code}",
                kind="pcn",
                asid=demo_provider_asid(code),
                client_secret=demo_client_secret(code),
                partner_application_id=demo_partner_application_id(code),
                partner_token=demo_partner_token(code),
            )
            for code in codes
        ]
    )
    EmisConnection.objects.bulk_create(
        [
            EmisConnection(
                organisation=pcn,
                system=EmisSystem.EMIS_COMMUNITY,
                status=ConnectionStatus.LIVE,
                base_url=f"{base_url}/emis-sandbox/{pcn.ods_code}/fhir",
                partner_base_url=f"{base_url}/emis-sandbox/{pcn.ods_code}/partner",
                provider_ods_code=pcn.ods_code,
                asid_from=HIPPO_CONSUMER_ASID,
                asid_to=demo_provider_asid(pcn.ods_code),
                credentials_encrypted=encrypt_credentials(
                    {
                        "client_secret": demo_client_secret(pcn.ods_code),
                        "partner_application_id": demo_partner_application_id(pcn.ods_code),
                        "partner_token": demo_partner_token(pcn.ods_code),
                    }
                ),
            )
            for pcn in pcns
        ]
    )
    sites = sandbox.Site.objects.bulk_create(
        [
            sandbox.Site(
                organisation=org,
                name="Hub",
                address_line1="1 Clinic Road",
                city="Testtown",
                postcode="TT1 1AA",
            )
            for org in orgs
        ]
    )
    nurses = sandbox.Practitioner.objects.bulk_create(
        [
            sandbox.Practitioner(organisation=org, family="Nurse", given="Alex", role="Nurse")
            for org in orgs
        ]
    )
    schedules = sandbox.Schedule.objects.bulk_create(
        [
            sandbox.Schedule(
                organisation=org,
                site=site,
                practitioner=nurse,
                service_type="Flu vaccination",
                delivery_channel="In-person",
            )
            for org, site, nurse in zip(orgs, sites, nurses, strict=True)
        ]
    )
    today = timezone.localdate()
    days = [today + timedelta(days=1), today + timedelta(days=2)]
    # Sessions and their slots as slots_create makes them (bulk, for 1,250 PCNs).
    sessions = sandbox.AppointmentSession.objects.bulk_create(
        [
            sandbox.AppointmentSession(
                organisation=schedule.organisation,
                schedule=schedule,
                site=schedule.site,
                holder=schedule.practitioner,
                name=schedule.service_type,
                date=day,
                start_time=clock(9),
                end_time=clock(10),
                slot_minutes=10,
            )
            for schedule in schedules
            for day in days
        ],
        batch_size=2000,
    )
    slots = sandbox.Slot.objects.bulk_create(
        [
            sandbox.Slot(
                organisation=session.organisation,
                schedule=session.schedule,
                session=session,
                start=timezone.make_aware(datetime.combine(session.date, clock(9)))
                + timedelta(minutes=10 * i),
                end=timezone.make_aware(datetime.combine(session.date, clock(9)))
                + timedelta(minutes=10 * i + 10),
                status=sandbox.SlotStatus.BUSY if i == 0 else sandbox.SlotStatus.FREE,
                allowed_ods=[session.organisation.ods_code],
            )
            for session in sessions
            for i in range(6)
        ],
        batch_size=5000,
    )
    _book(
        [slot for slot in slots if slot.status == sandbox.SlotStatus.BUSY],
        nhs_numbers(len(sessions), start=991_000_000),
    )
    return list(orgs)


def _book(slots: list[Any], numbers: list[str]) -> None:
    """One appointment per slot, each with its own appointment-only patient record,
    written straight into the sandbox (as EMIS staff booking)."""
    from django.utils import timezone

    from emis_integration.sandbox import models as sandbox

    patients = sandbox.Patient.objects.bulk_create(
        [
            sandbox.Patient(
                organisation_id=slot.organisation_id,
                nhs_number=number,
                family=f"Family{number}",
                given="Pat",
                birth_date=date(1960, 1, 1),
                registration_type=sandbox.RegistrationType.APPOINTMENT_ONLY,
            )
            for slot, number in zip(slots, numbers, strict=True)
        ],
        batch_size=5000,
    )
    now = timezone.now()
    sandbox.Appointment.objects.bulk_create(
        [
            sandbox.Appointment(
                organisation_id=slot.organisation_id,
                slot=slot,
                status=sandbox.AppointmentStatus.BOOKED,
                last_updated=now,
                created=now,
                start=slot.start,
                end=slot.end,
                booking_org_ods="",
                booking_org_name="",
                patient_nhs_number=patient.nhs_number,
                patient_record=patient,
            )
            for slot, patient in zip(slots, patients, strict=True)
        ],
        batch_size=5000,
    )
    sandbox.Slot.objects.filter(pk__in=[slot.pk for slot in slots]).update(
        status=sandbox.SlotStatus.BUSY
    )


FANOUT_CONNECTIONS = int(os.environ.get("BENCH_FANOUT_CONNECTIONS", "1250"))
FANOUT_RUNS = 3
FANOUT_TIMEOUT_S = 600


def _fanout_cycle(orgs: list[Any], *, offset: int, changed_every: int, pool: bool) -> float:
    """One beat cycle after a new booking at every `changed_every`-th PCN (from
    `offset`): with `pool`, beat's fan-out task goes through the broker to the
    Celery worker, which enqueues the polls and runs them; without, the same
    cycle runs eagerly in this process, one poll after another. Both over HTTP
    to the sandbox server, with the production EMIS timeouts and fetch threads.
    Returns the seconds until every connection's poll of the cycle finished."""
    from django.db.models import Sum
    from django.test import override_settings

    from emis_integration.sandbox import models as sandbox
    from hippo_pcn.celery import app
    from hippo_pcn.settings import base
    from tests.emis_integration.sandbox.helpers import nhs_numbers
    from tracing.models import PollRun
    from tracing.tasks import poll_all_pcn_connections

    changed = orgs[offset::changed_every]
    free = [
        sandbox.Slot.objects.filter(organisation=org, status=sandbox.SlotStatus.FREE)
        .order_by("start")
        .first()
        for org in changed
    ]
    _book(free, nhs_numbers(len(free), start=992_000_000 + 1_000 * offset))
    _analyze()
    cycle = PollRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    measured = PollRun.objects.filter(pk__gt=cycle)
    count = len(orgs)
    production = override_settings(
        EMIS_HTTP_TRANSPORT_FACTORY="",
        EMIS_CONNECT_TIMEOUT=base.EMIS_CONNECT_TIMEOUT,
        EMIS_READ_TIMEOUT=base.EMIS_READ_TIMEOUT,
        EMIS_MAX_RETRIES=base.EMIS_MAX_RETRIES,
        EMIS_RETRY_BACKOFF=base.EMIS_RETRY_BACKOFF,
        TRACING_POLL_FETCH_CONCURRENCY=base.TRACING_POLL_FETCH_CONCURRENCY,
    )
    if pool:
        eager = app.conf.task_always_eager
        app.conf.task_always_eager = False
        try:
            started = time.perf_counter()
            poll_all_pcn_connections.apply_async()  # as beat sends it
            deadline = time.monotonic() + FANOUT_TIMEOUT_S
            while measured.exclude(status="running").count() < count:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"fan-out: {measured.exclude(status='running').count()} of {count} "
                        f"polls finished after {FANOUT_TIMEOUT_S} s"
                    )
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
        finally:
            app.conf.task_always_eager = eager
    else:
        with production:
            started = time.perf_counter()
            poll_all_pcn_connections()  # eager here: one process, one poll after another
            elapsed = time.perf_counter() - started
    assert measured.filter(status="succeeded").count() == count, measured.values("status")
    totals = measured.aggregate(calls=Sum("emis_calls"), created=Sum("created"))
    assert totals["created"] == len(changed), totals
    return elapsed


def bench_fanout(
    record: Record, connections: int = FANOUT_CONNECTIONS, changed_every: int = 50
) -> None:
    """Beat cycles over `connections` live PCN connections, each polled once
    before; one PCN in `changed_every` has a new booking since each cycle. The
    polls run on a Celery worker with the production pool (prefork, 4
    processes) against the sandbox EMIS served by gunicorn; the same cycle run
    serially in one process stands beside it."""
    from django.conf import settings
    from django.test import override_settings
    from processes import WEB_THREADS, WEB_WORKERS, WORKER_CONCURRENCY, celery_worker

    from tracing.models import PollRun
    from tracing.tasks import poll_all_pcn_connections

    _flush()
    with _sandbox_server() as base_url:
        orgs = _fanout_world([f"Y{i:05d}" for i in range(connections)], base_url)
        _analyze()
        # The previous cycle (each PCN's first, full, sweep): set-up, not measured,
        # in this process with the sandbox in-process.
        with override_settings(
            EMIS_HTTP_TRANSPORT_FACTORY="emis_integration.inprocess.in_process_transport"
        ):
            poll_all_pcn_connections()
        assert PollRun.objects.filter(status="succeeded").count() == connections
        pooled: list[float] = []
        serial: list[float] = []
        with celery_worker():
            for n in range(FANOUT_RUNS):
                # Alternating, so that both see the same database (it grows by a
                # cycle of PollRuns each time).
                pooled.append(
                    _fanout_cycle(orgs, offset=2 * n, changed_every=changed_every, pool=True)
                )
                serial.append(
                    _fanout_cycle(orgs, offset=2 * n + 1, changed_every=changed_every, pool=False)
                )
                print(
                    f"(fan-out run {n + 1}: worker pool {pooled[-1]:.1f} s, "
                    f"serial {serial[-1]:.1f} s)",
                    flush=True,
                )
    changed = len(range(0, connections, changed_every))
    world = (
        f"{connections:,} live PCN connections (each with 2 sessions of 6 slots, 1 booked, in "
        f"its window), all polled once before; {changed} of them (1 in {changed_every}) with a "
        f"new booking since (1 session list per PCN, and 1 slot read per changed PCN); the "
        f"sandbox EMIS over HTTP in its own process (gunicorn, {WEB_WORKERS} workers × "
        f"{WEB_THREADS} threads)"
    )
    record(
        "fanout_1250_connections_s",
        pooled,
        f"well inside the {settings.TRACING_POLL_INTERVAL_SECONDS} s interval",
        f"{world}: beat's fan-out task sent through the broker (Redis) to a Celery worker "
        f"(prefork pool, -c {WORKER_CONCURRENCY}, the production pool), which enqueues one "
        "poll per connection and runs them; from the send to the last PollRun finished",
        f"Fan-out over {connections:,} PCN connections, Celery worker pool (s)",
    )
    record(
        "fanout_1250_connections_serial_s",
        serial,
        "context only (one process, one poll at a time)",
        f"{world}: the same cycle run eagerly in one process, the polls one after another "
        "(production EMIS timeouts and fetch threads), alternating with the pooled runs",
        f"Fan-out over {connections:,} PCN connections, serial in one process (s)",
    )
    _flush()


# --- worklist -------------------------------------------------------------------------------


def _worklist_tasks(total: int) -> tuple[Any, Any]:
    """`total` tasks over 50 PCNs, spread over states and due times."""
    from django.db import connection as db
    from django.utils import timezone

    from emis_integration.models import ConnectionStatus, EmisConnection, EmisSystem
    from hippo_pcn.organisations.models import Membership
    from tests.factories import PcnFactory, UserFactory
    from tracing.models import TracingTask

    pcns: list[Any] = [
        PcnFactory(ods_code=f"U{90000 + i}", name=f"Bench PCN {i}") for i in range(PCNS)
    ]
    connections = EmisConnection.objects.bulk_create(
        [
            EmisConnection(
                organisation=p, system=EmisSystem.EMIS_COMMUNITY, status=ConnectionStatus.LIVE
            )
            for p in pcns
        ]
    )
    now = timezone.now()
    statuses = ["open"] * 3 + ["claimed", "traced", "traced", "cancelled", "not_needed"]
    batch = 10_000
    for offset in range(0, total, batch):
        rows = []
        for i in range(offset, min(offset + batch, total)):
            conn = connections[i % PCNS]
            start = now + timedelta(hours=(i % 500) - 100)
            rows.append(
                TracingTask(
                    connection=conn,
                    emis_appointment_id=str(i),
                    pcn_id=conn.organisation_id,
                    patient_nhs_number=f"{9_100_000_000 + i}",
                    patient_family_name=f"Family{i}",
                    patient_given_name="Pat",
                    patient_birth_date=date(1970, 1, 1),
                    registered_practice_ods="A10001",
                    registered_practice_name="Alpha Surgery",
                    appointment_start=start,
                    appointment_end=start + timedelta(minutes=10),
                    site_name=f"Site {i % 3}",
                    source="found_by_poll",
                    owner_id=conn.organisation_id,
                    due_at=start - timedelta(hours=8),
                    status=statuses[i % len(statuses)],
                )
            )
        TracingTask.objects.bulk_create(rows)
    with db.cursor() as cursor:
        cursor.execute("ANALYZE tracing_tracingtask")
    tracer: Any = UserFactory(username="bench.tracer")
    Membership.objects.create(user=tracer, organisation=pcns[0], role="pcn_tracer")
    return tracer, pcns[0]


WORKLIST_ROUNDS = 3
WORKLIST_REQUESTS = 30  # a round


def _changelist_rounds(client: Any, url: str, **headers: str) -> tuple[list[float], list[float]]:
    """WORKLIST_ROUNDS rounds of WORKLIST_REQUESTS GETs: every request's time
    (ms) and each round's p95."""
    timings: list[float] = []
    p95s: list[float] = []
    for _ in range(WORKLIST_ROUNDS):
        batch = []
        for _ in range(WORKLIST_REQUESTS):
            started = time.perf_counter()
            response = client.get(url, **headers)
            batch.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        timings += batch
        p95s.append(sorted(batch)[int(len(batch) * 0.95) - 1])
    return timings, p95s


def bench_worklist(record: Record) -> None:
    from django.db import connection as db
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from hippo_pcn.organisations.services import support_group_ensure
    from tests.factories import UserFactory
    from tracing.admin import TracingTaskAdmin

    _flush()
    tracer, _ = _worklist_tasks(TASKS)
    client = Client()
    client.force_login(tracer)
    url = reverse("admin:tracing_tracingtask_changelist")
    client.get(url)
    timings, p95s = _changelist_rounds(client, url)
    volume = f"{TASKS:,} tasks over {PCNS} PCNs"
    tracer_view = (
        f"{volume}, as a PCN tracer (5,000 of them theirs), default view (open + claimed by due)"
    )
    each = f"through the test client, {WORKLIST_ROUNDS} rounds of {WORKLIST_REQUESTS} requests"
    record(
        "worklist_250k_median_ms",
        timings,
        "≤ 150 ms",
        f"{tracer_view}, {each}; each run one request",
        "Worklist changelist, PCN tracer: median server time (ms)",
    )
    record(
        "worklist_250k_p95_ms",
        p95s,
        "report",
        f"{tracer_view}, the same requests: each run the p95 of a round",
        "Worklist changelist, PCN tracer: p95 server time (ms)",
    )
    for size, key in ((100, "worklist_queries_page_100"), (20, "worklist_queries_page_20")):
        counts = []
        TracingTaskAdmin.list_per_page = size
        try:
            for _ in range(3):
                with CaptureQueriesContext(db) as queries:
                    client.get(url)
                counts.append(len(queries.captured_queries))
        finally:
            TracingTaskAdmin.list_per_page = 100
        record(
            key,
            counts,
            "constant (same for 20 and 100 rows)",
            f"{tracer_view}, {size} rows per page, SQL queries in one request a run",
            f"Worklist queries, page of {size}",
        )

    # Support's view: every PCN's tasks, the same default view.
    support: Any = UserFactory(username="bench.support")
    support.groups.add(support_group_ensure())
    support_client = Client()
    support_client.force_login(support)
    support_client.get(url)
    support_timings, support_p95s = _changelist_rounds(support_client, url)
    with CaptureQueriesContext(db) as queries:
        support_client.get(url)
    record(
        "worklist_250k_support_median_ms",
        support_timings,
        "≤ 150 ms",
        f"{volume}, as support (a member of the support group: every PCN's tasks), default "
        f"view (open + claimed by due), {each}; each run one request; p95 of the rounds "
        f"{_spread(support_p95s, 'ms', 0)}; {len(queries.captured_queries)} SQL queries a "
        "request",
        "Worklist changelist, support (all PCNs): median server time (ms)",
    )
    _bench_api_tasks(record, tracer, client, tracer_view)
    _flush()


def _bench_api_tasks(record: Record, tracer: Any, client: Any, volume: str) -> None:
    """The API's task list (/api/v1/tracing-tasks/, its default view: open and
    claimed by due time, a page of 50) with a token, over the same 250,000 tasks."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from hippo_pcn.api.services import api_token_create

    issued = api_token_create(user=tracer, name="bench", days=7)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    url = "/api/v1/tracing-tasks/"
    assert client.get(url, **headers).status_code == 200
    timings, _ = _changelist_rounds(client, url, **headers)
    record(
        "api_tasks_page_250k_median_ms",
        timings,
        "≤ 150 ms",
        f"{volume}, GET /api/v1/tracing-tasks/ with an API token (50 a page, cursor), through "
        f"the test client, {WORKLIST_ROUNDS} rounds of {WORKLIST_REQUESTS} requests; each run "
        "one request",
        "API task list, 250,000 tasks: median server time (ms)",
    )
    counts: dict[int, list[int]] = {20: [], 100: []}
    for _ in range(3):
        for size in (20, 100):
            with CaptureQueriesContext(db) as queries:
                client.get(url, {"page_size": size}, **headers)
            counts[size].append(len(queries.captured_queries))
    record(
        "api_tasks_queries_per_page",
        counts[100],
        "constant (same for 20 and 100 rows)",
        f"{volume}, SQL queries in one request of 100 rows a run (20 rows: "
        f"{', '.join(map(str, counts[20]))})",
        "API task list: queries per page",
    )


PARTS: dict[str, Callable[[Record], None]] = {
    "sweep": bench_sweep,
    "diff": bench_diff,
    "fanout": bench_fanout,
    "worklist": bench_worklist,
}


def run(record: Record) -> None:
    """Every part, or those named in BENCH_TRACING_PARTS (comma-separated; for
    development runs)."""
    only = {n.strip() for n in os.environ.get("BENCH_TRACING_PARTS", "").split(",") if n.strip()}
    for name, bench in PARTS.items():
        if not only or name in only:
            started = time.perf_counter()
            bench(record)
            print(f"bench:   tracing {name} took {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    # Alone, use a database of its own: `make bench` may be flushing the shared one.
    os.environ.setdefault(
        "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hippo_pcn_bench_tracing"
    )
    import importlib

    importlib.import_module("run")  # sets Django up against the bench database
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    def show(key: str, runs: Sequence[float], target: str, how: str, label: str) -> None:
        print(
            f"{key}: median {statistics.median(runs):,.2f}, min {min(runs):,.2f}, "
            f"max {max(runs):,.2f} over {len(runs)} runs  (target {target}; {how})",
            flush=True,
        )

    only = set(sys.argv[1:])
    for name, bench in PARTS.items():
        if not only or name in only:
            started = time.perf_counter()
            bench(show)
            print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
