"""hippo_pcn.db.values_rows: the same rows as Django's values_list, through
psycopg's C loaders, inside the current transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.audit.services import audit_record, system_actor
from hippo_pcn.db import values_rows


def test_rows_equal_values_list_with_datetimes_json_and_nulls(db, pcn_a):
    audit_record(
        actor=system_actor("test"),
        action="a",
        organisation=pcn_a,
        details={"n": 1, "when": "2026-11-25", "nested": {"list": [1, "two", None]}},
    )
    audit_record(actor=system_actor("test"), action="b")  # no organisation: NULL
    queryset = AuditEntry.objects.order_by("id").values_list(
        "id", "created_at", "action", "organisation_id", "details"
    )
    fast = values_rows(queryset)
    assert fast == [tuple(row) for row in queryset]
    created = fast[0][1]
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)
    assert fast[1][3] is None and fast[0][4]["nested"] == {"list": [1, "two", None]}


def test_rows_see_the_current_transaction(db, pcn_a):
    # Written in this test's (uncommitted) transaction, read through the same
    # connection by the plain psycopg cursor.
    audit_record(actor=system_actor("test"), action="uncommitted", organisation=pcn_a)
    rows = values_rows(AuditEntry.objects.filter(action="uncommitted").values_list("action"))
    assert rows == [("uncommitted",)]


def test_a_query_that_cannot_match_gives_no_rows(db):
    assert values_rows(AuditEntry.objects.filter(pk__in=[]).values_list("id")) == []
