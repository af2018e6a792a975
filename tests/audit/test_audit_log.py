import pytest
from django.db import DatabaseError, connection, transaction

from hippo_pcn.audit.models import AppendOnlyError, AuditEntry
from hippo_pcn.audit.services import audit_record, system_actor


def test_audit_record_by_user_and_by_system(practice_a, practice_admin):
    by_user = audit_record(
        actor=practice_admin,
        action="booking.created",
        target=practice_a,
        organisation=practice_a,
        details={"slot": 7},
    )
    assert by_user.actor == practice_admin
    assert by_user.actor_label == "a.practice_admin"
    assert by_user.object_id == str(practice_a.pk)
    assert by_user.object_repr == "Alpha Surgery (A10001)"
    assert by_user.details == {"slot": 7}
    by_system = audit_record(actor=system_actor("poller"), action="tracing.found")
    assert by_system.actor is None
    assert by_system.actor_label == "system: poller"


@pytest.mark.parametrize("bad_actor", [None, "poller", "someone"])
def test_audit_record_needs_a_real_actor(db, bad_actor):
    with pytest.raises(ValueError):
        audit_record(actor=bad_actor, action="x")
    assert not AuditEntry.objects.exists()


def test_entries_cannot_be_changed_or_deleted_through_the_orm(practice_a, practice_admin):
    entry = audit_record(actor=practice_admin, action="x", organisation=practice_a)
    entry.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "x"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditentry SET action = 'rewritten' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ],
)
def test_postgresql_trigger_refuses_raw_update_and_delete(practice_a, practice_admin, sql):
    entry = audit_record(actor=practice_admin, action="x", organisation=practice_a)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).action == "x"


def test_audit_admin_is_read_only_even_for_superusers(client_for, superuser, practice_a):
    from django.urls import reverse

    entry = audit_record(actor=superuser, action="x", organisation=practice_a)
    client = client_for(superuser)
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"action": "rewritten"}).status_code == 403
    delete = reverse("admin:audit_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == "x"
