"""Writing the audit log. Services call `audit_record` inside their transaction,
so the entry exists exactly when the change does."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db import models

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
    entry = AuditEntry(
        actor_id=user.pk if user is not None else None,
        actor_label=label[:150],
        action=action,
        organisation=organisation,
        details=details or {},
    )
    if target is not None:
        entry.content_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        entry.object_id = str(target.pk)
        entry.object_repr = str(target)[:200]
    entry.save()
    return entry
