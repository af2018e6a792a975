"""Writing the audit log. Services call `audit_record` inside their transaction,
so the entry exists exactly when the change does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils import timezone

from hippo_pcn.db import concrete_field, copy_rows

from .context import current_audit_channel
from .models import AuditEntry

SYSTEM_PREFIX = "system: "

# Who did something: a signed-in user, or a system label from `system_actor`.
Actor = AbstractBaseUser | AnonymousUser | str


def system_actor(name: str) -> str:
    """The label for work done by the system, e.g. system_actor("poller")."""
    return f"{SYSTEM_PREFIX}{name}"


def audit_record(
    *,
    actor: Actor | None,
    action: str,
    target: models.Model | None = None,
    organisation: Any = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry. `actor` is a user, or a system label from `system_actor`."""
    if actor is None:
        raise ValueError("An audit entry needs an actor: a user or system_actor(...).")
    if isinstance(actor, str):
        if not actor.startswith(SYSTEM_PREFIX):
            raise ValueError(f"System actors are labelled “{SYSTEM_PREFIX}<name>”, got {actor!r}.")
        user, label = None, actor
    elif not actor.is_authenticated:
        raise ValueError("An anonymous user cannot be an audit actor.")
    else:
        user, label = actor, actor.get_username()
    details = dict(details or {})
    channel = current_audit_channel()
    if channel is not None:
        # "API" (hippo_pcn.audit.context); apart from a service's own "via" (how a
        # booking was made: staff, self-book), which it does not replace.
        details["channel"] = channel
    entry = AuditEntry(
        actor_id=user.pk if user is not None else None,
        actor_label=label[:150],
        action=action,
        organisation=organisation,
        details=details,
    )
    if target is not None:
        entry.content_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        entry.object_id = str(target.pk)
        entry.object_repr = str(target)[:200]
    entry.save()
    return entry


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry for audit_bulk_append: plain values, no model instance (the
    poller appends thousands at a time)."""

    actor_label: str
    action: str
    content_type_id: int | None = None
    object_id: str = ""
    object_repr: str = ""
    organisation_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    actor_id: int | None = None


_COPY_FIELDS = (
    "created_at",
    "actor",
    "actor_label",
    "action",
    "content_type",
    "object_id",
    "object_repr",
    "organisation",
    "details",
)


def audit_bulk_append(rows: Sequence[AuditRow]) -> int:
    """Append many entries at once, for system work that changes many rows
    together (the poller writes one entry per task it opens or changes), in the
    caller's transaction. PostgreSQL takes them through COPY, the fastest way
    in; other databases through bulk_create. Returns how many."""
    if not rows:
        return 0
    for row in rows:
        if not row.actor_label.startswith(SYSTEM_PREFIX) and row.actor_id is None:
            raise ValueError("Bulk audit entries need a user or a system actor label.")
    channel = current_audit_channel()
    if channel is not None:
        rows = [replace(row, details={**row.details, "channel": channel}) for row in rows]
    now = timezone.now()
    if connection.vendor == "postgresql":
        _append_by_copy(rows, now=now)
    else:
        _append_by_orm(rows, now=now)
    return len(rows)


def _append_by_orm(rows: Sequence[AuditRow], *, now: Any) -> None:
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                created_at=now,
                actor_id=row.actor_id,
                actor_label=row.actor_label[:150],
                action=row.action,
                content_type_id=row.content_type_id,
                object_id=row.object_id,
                object_repr=row.object_repr[:200],
                organisation_id=row.organisation_id,
                details=row.details,
            )
            for row in rows
        ],
        batch_size=1000,
    )


def _append_by_copy(rows: Sequence[AuditRow], *, now: Any) -> None:
    encoder = DjangoJSONEncoder()
    copy_rows(
        table=AuditEntry._meta.db_table,
        columns=[concrete_field(AuditEntry, name).column for name in _COPY_FIELDS],
        rows=(
            (
                now,
                row.actor_id,
                row.actor_label[:150],
                row.action,
                row.content_type_id,
                row.object_id,
                row.object_repr[:200],
                row.organisation_id,
                encoder.encode(row.details),
            )
            for row in rows
        ),
    )
