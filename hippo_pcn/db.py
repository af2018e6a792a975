"""Fast reads for the poller's hot paths.

Django reads PostgreSQL `timestamptz` columns through a pure-Python loader (so
it can attach its own time zone), which costs several microseconds per value:
on a poll of 100,000 appointments that is seconds. `values_rows` runs a
`values_list` queryset on a plain psycopg cursor over Django's own connection
(so inside the current transaction) in binary format, with psycopg's C loaders:
date-times arrive as aware UTC datetimes, jsonb as Python objects."""

from __future__ import annotations

from typing import Any

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Field, Model, QuerySet
from psycopg.pq import Format

_C_LOADED = ("timestamptz", "jsonb")


def values_rows(queryset: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list(...)` queryset as plain tuples. On PostgreSQL
    field converters are skipped (date-times come back aware in UTC, jsonb
    decoded); elsewhere the queryset is simply evaluated."""
    if connection.vendor != "postgresql":
        return [tuple(row) for row in queryset]
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. an empty __in: Django answers [] without a query
        return []
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with psycopg.Cursor(raw) as cursor:
        for name in _C_LOADED:
            oid = psycopg.adapters.types[name].oid
            loader = psycopg.adapters.get_loader(oid, Format.BINARY)
            if loader is not None:
                cursor.adapters.register_loader(name, loader)
        # prepare=False: no server-side prepared statements (safe behind PgBouncer).
        cursor.execute(sql, params, binary=True, prepare=False)
        return cursor.fetchall()


def concrete_field(model: type[Model], name: str) -> Field[Any, Any]:
    """A model's concrete field by name, for writing its column into raw SQL."""
    found = model._meta.get_field(name)
    assert isinstance(found, Field)
    return found
