"""Statements Django's cursor cannot run, run as Django runs its own.

Two hot paths need psycopg directly:
- reads in binary format: Django reads PostgreSQL `timestamptz` through a
  pure-Python loader (so it can attach its own time zone), several microseconds
  a value; on a poll of 100,000 appointments that is seconds. `values_rows` runs
  a `values_list` queryset on a plain psycopg cursor over Django's own
  connection (so inside the current transaction), with psycopg's C loaders:
  date-times arrive as aware UTC datetimes, jsonb as Python objects;
- COPY (`copy_rows`): many rows into a table, written by psycopg in C.

Both go through `run_recorded`: the connection's `execute_wrappers`, Django's
database-error translation, and `queries_log` when queries are captured, so
`CaptureQueriesContext` and `django_assert_num_queries` count them like any
other statement. Nothing here keeps session state beyond the statement: no
prepared statements, no SET (safe behind PgBouncer in transaction mode)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Field, Model, QuerySet
from psycopg.pq import Format

R = TypeVar("R")

# Types whose binary values psycopg turns into Python objects in C.
_C_LOADED = ("timestamptz", "jsonb")


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def raw_connection() -> psycopg.Connection[Any]:
    """Django's own psycopg connection (opened if need be), for a plain cursor
    in the current transaction."""
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    return raw


def run_recorded(
    sql: str,
    params: Any,
    run: Callable[[str, Any], R],
    *,
    shown: Callable[[], str] | None = None,
) -> R:
    """Run one statement that Django's cursor cannot run (`run(sql, params)` on a
    plain psycopg cursor: a binary read, a COPY) as Django runs its own: through
    the connection's execute wrappers, with database errors turned into Django's,
    and logged in `queries_log` when queries are captured. `shown()` is what the
    log says instead of `sql` (asked only when something logs)."""

    def innermost(sql: str, params: Any, many: bool, context: dict[str, Any]) -> R:
        connection.validate_no_broken_transaction()
        with connection.wrap_database_errors:
            return run(sql, params)

    executor: Callable[..., R] = innermost
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    with connection.cursor() as cursor:
        context = {"connection": connection, "cursor": cursor}
        if not connection.queries_logged:
            return executor(sql, params, False, context)
        # The debug cursor's own logger: timed, into queries_log and django.db.backends.
        with cursor.debug_sql(shown() if shown is not None else sql, None):
            return executor(sql, params, False, context)


def _shown(sql: str, params: Sequence[Any]) -> str:
    """The statement as Django's debug cursor would log it: values inlined."""
    compose = getattr(connection.ops, "compose_sql", None)  # Django's, for psycopg 3
    if compose is None:
        return sql
    try:
        return str(compose(sql, params))
    except (psycopg.DataError, TypeError):
        return sql


def _binary_rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with psycopg.Cursor(raw_connection()) as cursor:
        for name in _C_LOADED:
            oid = psycopg.adapters.types[name].oid
            loader = psycopg.adapters.get_loader(oid, Format.BINARY)
            if loader is not None:
                cursor.adapters.register_loader(name, loader)
        # prepare=False: no server-side prepared statement (safe behind PgBouncer).
        cursor.execute(sql, params, binary=True, prepare=False)
        return cursor.fetchall()


def values_rows(queryset: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list(...)` queryset as plain tuples, in the current
    transaction. On PostgreSQL they come in binary format (date-times aware in
    UTC, jsonb decoded, no field converters run); elsewhere the queryset is
    simply evaluated."""
    if not on_postgresql():
        return [tuple(row) for row in queryset]
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. an empty __in: Django answers [] without a query
        return []
    return run_recorded(sql, params, _binary_rows, shown=lambda: _shown(sql, params))


def copy_rows(*, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows (in `columns` order, Python values) into `table` (PostgreSQL).
    Table and column names come from model metadata, never from input."""
    names = ", ".join(f'"{column}"' for column in columns)
    statement = f'COPY "{table}" ({names}) FROM STDIN'

    def run(sql: str, params: Any) -> None:
        with psycopg.Cursor(raw_connection()) as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)

    run_recorded(statement, None, run)


def concrete_field(model: type[Model], name: str) -> Field[Any, Any]:
    """A model's concrete field by name, for writing its column into raw SQL."""
    found = model._meta.get_field(name)
    assert isinstance(found, Field)
    return found
