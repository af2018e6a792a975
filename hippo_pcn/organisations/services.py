"""Writes to organisations and memberships. Each validates, saves in a
transaction and records an audit entry."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction

from hippo_pcn.audit.services import Actor, audit_record

from .models import Membership, Organisation


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


def _snapshot(org: Organisation) -> dict[str, Any]:
    return {
        "kind": org.kind,
        "ods_code": org.ods_code,
        "name": org.name,
        "phone": org.phone,
        "pcn_id": org.pcn_id,
    }


@transaction.atomic
def organisation_create(
    *,
    actor: Actor,
    kind: str,
    ods_code: str,
    name: str,
    pcn: Organisation | None = None,
    phone: str = "",
) -> Organisation:
    org = Organisation(
        kind=kind, ods_code=ods_code, name=name.strip(), pcn=pcn, phone=phone.strip()
    )
    org.full_clean()
    org.save()
    audit_record(
        actor=actor,
        action="organisation.created",
        target=org,
        organisation=org,
        details=_snapshot(org),
    )
    return org


@transaction.atomic
def organisation_update(*, actor: Actor, organisation: Organisation, **fields: Any) -> Organisation:
    """Change name, ODS code, phone number or PCN. Validation refuses a practice
    moved straight from one PCN to another, a changed kind and malformed ODS codes."""
    allowed = {"name", "ods_code", "phone", "pcn"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Cannot update {', '.join(sorted(unknown))} on an organisation.")
    before = _snapshot(Organisation.objects.get(pk=organisation.pk))
    for key, value in fields.items():
        setattr(organisation, key, value)
    organisation.full_clean()
    organisation.save()
    changes = _changes(before, _snapshot(organisation))
    if changes:
        audit_record(
            actor=actor,
            action="organisation.updated",
            target=organisation,
            organisation=organisation,
            details={"changes": changes},
        )
    return organisation


@transaction.atomic
def membership_create(
    *, actor: Actor, user: AbstractBaseUser, organisation: Organisation, role: str
) -> Membership:
    membership = Membership(user=user, organisation=organisation, role=role)  # type: ignore[misc]
    membership.full_clean()
    membership.save()
    audit_record(
        actor=actor,
        action="membership.created",
        target=membership,
        organisation=organisation,
        details={"user_id": user.pk, "role": role},
    )
    return membership


@transaction.atomic
def membership_update(*, actor: Actor, membership: Membership, role: str) -> Membership:
    old_role = Membership.objects.values_list("role", flat=True).get(pk=membership.pk)
    membership.role = role
    membership.full_clean()
    membership.save()
    if old_role != role:
        audit_record(
            actor=actor,
            action="membership.updated",
            target=membership,
            organisation=membership.organisation,
            details={"user_id": membership.user_id, "role": [old_role, role]},
        )
    return membership


@transaction.atomic
def membership_delete(*, actor: Actor, membership: Membership) -> None:
    audit_record(
        actor=actor,
        action="membership.deleted",
        target=membership,
        organisation=membership.organisation,
        details={"user_id": membership.user_id, "role": membership.role},
    )
    membership.delete()


# Third-party admins (django-celery-beat's schedules) check Django's model
# permissions; the support group holds them so its members can open those pages.
SUPPORT_PERMISSION_APPS = ("django_celery_beat",)


def support_group_ensure() -> Group:
    """The `support` group: its members are the support team."""
    group, _ = Group.objects.get_or_create(name=settings.SUPPORT_GROUP_NAME)
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=SUPPORT_PERMISSION_APPS)
    )
    return group
