"""The poller's fast path: how a poll reads EMIS and writes PostgreSQL quickly,
and none of what it decides. What is new, moved or cancelled, which task to
open and what the audit says live in `changes.py` and `new_tasks.py`.

- `page_transaction()`: one poll's writes in one transaction whose commit does
  not wait for its WAL flush (`SET LOCAL synchronous_commit TO OFF`).
- `read_rows(queryset)`: a `values_list` read in binary format through psycopg's
  C loaders (Django's Python loader for `timestamptz` costs microseconds a value).
- `copy_rows(...)`: many rows into a table by COPY (psycopg writes them in C).
- `staged_insert(...)`: many rows into a table, skipping those that conflict, the
  ids of the stored ones returned: COPY into a temporary staging table dropped
  at commit, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING
  (`unnest` of one array a column is the measured alternative, kept for the bench).
- `prefetched(...)`: EMIS calls run ahead of their consumer in a few threads,
  always stopped and joined when the consumer leaves, however it leaves.

Statements that bypass Django's cursor (binary reads, COPY) go through the
connection's `execute_wrappers` and into `queries_log`, as Django's own cursor
does, so `CaptureQueriesContext` and `django_assert_num_queries` count them.

Nothing here keeps session state beyond one transaction (safe behind PgBouncer in
transaction mode): no session-level SET, no prepared statements, and temporary
tables are created `ON COMMIT DROP`. See docs/adr/0008-poll-fast-path.md."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import psycopg
from django.db import connection as db_connection
from django.db import connections, transaction
from django.db.models import Field

from hippo_pcn.db import copy_rows as copy_rows  # re-exported: the fast path's COPY
from hippo_pcn.db import on_postgresql, raw_connection, run_recorded, values_rows

T = TypeVar("T")
R = TypeVar("R")

# The name every fetching thread's name starts with.
FETCH_THREAD_PREFIX = "poll-fetch"


# --- the page transaction ---------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """An open page transaction. `relaxed`: its commit returns before its WAL
    reaches disk (PostgreSQL only)."""

    relaxed: bool


def relax_commit_durability() -> bool:
    """In the current transaction (PostgreSQL only), let the commit return before
    its WAL reaches disk. Returns whether it did. `SET LOCAL` ends with the
    transaction, so a pooled connection never carries it to the next one."""
    if not on_postgresql():
        return False
    with db_connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
    return True


@contextmanager
def page_transaction() -> Iterator[Page]:
    """A transaction for one poll's writes, committed with relaxed durability.

    Safe here because a poll is re-runnable: its tasks and its snapshot move in
    the same transaction, so a crash that loses the commit loses both, and the
    next poll sees the same changes again. Whatever happens inside, nothing
    outlives it: an exception rolls it back (with any staging table), a commit
    drops the staging tables, and the relaxed durability ends with it."""
    with transaction.atomic():
        yield Page(relaxed=relax_commit_durability())


# --- statements outside Django's cursor, seen as Django's own ---------------------------
# (hippo_pcn/db.py: binary reads and COPY through the execute wrappers and into
# queries_log, shared with the audit log's bulk append.)

read_rows = values_rows


# --- staged insert ----------------------------------------------------------------------

STAGING_METHODS = ("copy", "unnest")


def _quoted(name: str) -> str:
    return f'"{name}"'


def staged_insert(
    *,
    table: str,
    constants: Sequence[tuple[str, Any]],
    varying: Sequence[Field[Any, Any]],
    rows: Sequence[Sequence[Any]],
    conflict: Sequence[str],
    returning: Sequence[str],
    method: str = "copy",
) -> list[tuple[Any, ...]]:
    """Insert `rows` (values of the `varying` fields, in order) into `table`, each
    with the same `constants` (column, value); rows that conflict on the
    `conflict` columns are left alone. Returns the `returning` columns of the rows
    stored. PostgreSQL only.

    `method="copy"` (the product path): COPY into a temporary staging table
    created `ON COMMIT DROP` (a pooled connection never sees it after this
    transaction; it is also dropped as soon as it is used), then one
    INSERT ... SELECT. `method="unnest"`: one INSERT ... SELECT FROM unnest(...) of
    one array a column, sent as binary parameters."""
    if method not in STAGING_METHODS:
        raise ValueError(f"Unknown staging method {method!r}; use one of {STAGING_METHODS}.")
    types = [field.db_type(db_connection) for field in varying]
    columns = ", ".join(_quoted(name) for name, _ in constants)
    columns += ", " + ", ".join(_quoted(field.column) for field in varying)
    fixed = ", ".join(["%s"] * len(constants))
    tail = (
        f"ON CONFLICT ({', '.join(_quoted(name) for name in conflict)}) "
        f"DO NOTHING RETURNING {', '.join(_quoted(name) for name in returning)}"
    )
    values = [value for _, value in constants]
    if method == "unnest":
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        # Identifiers and types come from model metadata; values are parameters.
        insert = (
            f'INSERT INTO "{table}" ({columns}) '  # noqa: S608
            f"SELECT {fixed}, u.* FROM unnest({arrays}) AS u {tail}"
        )
        by_column = [list(column) for column in zip(*rows, strict=True)] if rows else []
        params = values + (by_column or [[] for _ in varying])

        def run_unnest(sql: str, params: Any) -> list[tuple[Any, ...]]:
            with psycopg.Cursor(raw_connection()) as cursor:
                cursor.execute(sql, params, binary=True, prepare=False)
                return cursor.fetchall()

        return run_recorded(insert, params, run_unnest)

    staging = f"poll_staging_{uuid.uuid4().hex[:12]}"
    definition = ", ".join(f"c{i} {kind}" for i, kind in enumerate(types))
    picked = ", ".join(f"c{i}" for i in range(len(varying)))
    insert = (
        f'INSERT INTO "{table}" ({columns}) '  # noqa: S608
        f"SELECT {fixed}, {picked} FROM {staging} {tail}"
    )
    with db_connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {staging} ({definition}) ON COMMIT DROP")

        def run_copy(sql: str, params: Any) -> None:
            with psycopg.Cursor(raw_connection()) as raw, raw.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)

        run_recorded(f"COPY {staging} FROM STDIN", None, run_copy)
        cursor.execute(insert, values)
        stored = cursor.fetchall()
        cursor.execute(f"DROP TABLE {staging}")
    return stored


# --- threads that read ahead ------------------------------------------------------------


def _close_thread_connections() -> None:
    """Close the database connections this (fetching) thread opened: a thread of
    its own never hands them back to anyone (in tests the in-process sandbox
    answers inside the fetching thread, through the database)."""
    for connection in connections.all(initialized_only=True):
        connection.close()


@contextmanager
def prefetched(
    function: Callable[[T], R], items: Iterable[T], *, workers: int, name: str = ""
) -> Iterator[Iterator[R]]:
    """`function` over `items`, results in order, computed up to `workers` calls
    ahead of the consumer in threads named FETCH_THREAD_PREFIX (`name` is added).

    On leaving the block, however it is left (the consumer done, an exception in
    the block, `function` raising in a thread), calls not yet started are
    cancelled and every thread is joined before the block's exit returns: a
    failed poll leaves no thread behind. A call already running is waited for
    (one EMIS call: bounded by the client's timeouts). An exception raised by
    `function` reaches the consumer when it takes that result. With one worker
    the calls run in the calling thread, one by one, as the consumer asks."""
    items = list(items)
    workers = max(1, min(workers, len(items)))
    if workers == 1:
        yield (function(item) for item in items)
        return

    def call(item: T) -> R:
        try:
            return function(item)
        finally:
            _close_thread_connections()

    pool = ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix=f"{FETCH_THREAD_PREFIX}{name}"
    )
    pending: deque[Future[R]] = deque()
    waiting = iter(items)

    def submit_next() -> None:
        for item in waiting:
            pending.append(pool.submit(call, item))
            return

    def results() -> Iterator[R]:
        for _ in range(2 * workers):
            submit_next()
        while pending:
            result = pending.popleft().result()
            submit_next()
            yield result

    try:
        yield results()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


# --- the bench's comparison -------------------------------------------------------------


def insert_methods_measure(
    *, connection: Any, count: int = 4800, repeats: int = 3
) -> dict[str, list[float]]:
    """Seconds to insert `count` new tracing tasks for `connection` (a live PCN
    connection) by each staging method, each run in its own page transaction,
    commit included, ids returned; `repeats` runs of each, alternating. The tasks
    are deleted after each run (not timed). For the bench; PostgreSQL only."""
    from django.utils import timezone

    from ..models import TaskSource, TracingTask
    from . import store

    if not on_postgresql():
        raise RuntimeError("The staging methods are PostgreSQL's; this database is not.")
    pcn = connection.organisation
    first = timezone.now() + timedelta(days=2)
    rows = [
        {
            "emis_appointment_id": f"measure-{i}",
            "patient_nhs_number": f"{9_000_000_000 + i}",
            "patient_family_name": f"FAMILY{i}",
            "patient_given_name": "Pat",
            "patient_birth_date": date(1950, 1, 1) + timedelta(days=i % 20_000),
            "patient_gender": "female",
            "registered_practice_ods": "",
            "registered_practice_name": "",
            "registered_practice": None,
            "booking_org_ods": "",
            "booking_organisation": None,
            "appointment_start": first + timedelta(minutes=10 * i),
            "appointment_end": first + timedelta(minutes=10 * i + 10),
            "site_name": "Hub",
            "practitioner": "Nurse",
            "service": "Clinic",
            "emis_version": "",
            "emis_last_updated": None,
            "emis_slot_id": 8_000_000 + i,
            "emis_session_id": 7_000 + i // 40,
            "emis_patient_number": 6_000_000 + i,
            "emis_slot_status": "Booked",
            "owner": pcn,
            "due_at": first + timedelta(minutes=10 * i) - timedelta(hours=8),
        }
        for i in range(count)
    ]
    timings: dict[str, list[float]] = {method: [] for method in STAGING_METHODS}
    for _ in range(repeats):
        for method in STAGING_METHODS:
            started = time.perf_counter()
            with page_transaction():
                inserted = store._insert_tasks_postgresql(
                    connection=connection,
                    rows=rows,
                    source=TaskSource.FOUND_BY_POLL,
                    now=timezone.now(),
                    method=method,
                )
            timings[method].append(time.perf_counter() - started)
            if len(inserted) != count:
                raise RuntimeError(f"{method}: {len(inserted)} of {count} tasks inserted")
            TracingTask.objects.filter(pk__in=[task.pk for task in inserted]).delete()
    return timings
