"""Which tasks a user may see, their history, and the worklist's search and
filters (one set of rules for the admin and the API)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.utils import timezone

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Membership, Organisation
from hippo_pcn.organisations.roles import PCN_ROLES, OrganisationKind, Role
from hippo_pcn.organisations.selectors import UserLike, organisations_for_user, user_is_support

from ..models import (
    TaskSource,
    TaskStatus,
    TracingTask,
    TracingTaskQuerySet,
)


def _user_pk(user: UserLike) -> int:
    return int(user.pk or 0)


def tracing_tasks_for_user(*, user: UserLike) -> QuerySet[TracingTask]:
    """The tasks a user may see: support all; PCN staff their PCN's; practice
    staff those their practice owns (practice-led) or booked."""
    qs = TracingTask.objects.all()
    if user_is_support(user=user):
        return qs
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return qs.none()
    pcn_ids: list[int] = []
    practice_ids: list[int] = []
    for organisation_id, role in Membership.objects.filter(user_id=_user_pk(user)).values_list(
        "organisation_id", "role"
    ):
        (pcn_ids if role in PCN_ROLES else practice_ids).append(organisation_id)
    scope = Q(pk__in=[])
    if pcn_ids:
        scope |= Q(pcn_id__in=pcn_ids)
    if practice_ids:
        scope |= Q(owner_id__in=practice_ids) | Q(booking_organisation_id__in=practice_ids)
    return qs.filter(scope)


def pcns_for_user(*, user: UserLike) -> QuerySet[Organisation]:
    """The PCNs whose tracing a user may look at (dashboard, policies)."""
    if user_is_support(user=user):
        return Organisation.objects.filter(kind=OrganisationKind.PCN)
    return organisations_for_user(user=user).filter(kind=OrganisationKind.PCN)


def pcns_administered_by(*, user: UserLike) -> QuerySet[Organisation]:
    """PCNs whose tracing policy the user may change: PCN admins' own, support all."""
    if user_is_support(user=user):
        return Organisation.objects.filter(kind=OrganisationKind.PCN)
    if not getattr(user, "is_authenticated", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(
        kind=OrganisationKind.PCN,
        pk__in=Membership.objects.filter(user_id=_user_pk(user), role=Role.PCN_ADMIN).values(
            "organisation_id"
        ),
    )


def task_history(*, task: TracingTask) -> QuerySet[AuditEntry]:
    """The task's audit entries, oldest first."""
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(TracingTask), object_id=str(task.pk)
    ).order_by("created_at", "id")


def tracing_tasks_search(*, queryset: QuerySet[TracingTask], term: str) -> QuerySet[TracingTask]:
    """The worklist's search, for the admin and the API: an NHS number with or
    without spaces or dashes matches exactly; otherwise every word must start the
    patient's given or family name."""
    digits = term.replace(" ", "").replace("-", "")
    if digits.isdigit():
        return queryset.filter(patient_nhs_number=digits)
    term = term.strip()
    if not term:
        return queryset
    query = Q()
    for word in term.split():
        query &= Q(patient_family_name__istartswith=word) | Q(patient_given_name__istartswith=word)
    return queryset.filter(query)


# --- the worklist's filters -------------------------------------------------------------------
# One home for the rules both the admin worklist's list filters (tracing/admin/filters.py)
# and the API's query parameters (tracing/api/filters.py) apply; each keeps its own
# parameter names and parses its own input.

ALL_STATUSES = "all"
TASK_DUE_CHOICES = [
    ("overdue", "Overdue"),
    ("today", "Due today"),
    ("week", "Due in the next 7 days"),
    ("soon", "Appointment within 24 hours"),
]
_DUE_RULES = {
    "overdue": TracingTaskQuerySet.overdue_q,
    "today": TracingTaskQuerySet.due_today_q,
    "week": TracingTaskQuerySet.due_within_week_q,
    "soon": TracingTaskQuerySet.within_24h_q,
}


def tracing_tasks_with_status(
    *,
    queryset: QuerySet[TracingTask],
    statuses: Iterable[str] = (),
    mine: bool = False,
    user_id: int | None = None,
) -> QuerySet[TracingTask]:
    """By status, as the worklist opens: `mine`, the tasks claimed by `user_id`
    (statuses are then not used); no statuses, the tasks still to do (open or
    claimed); `ALL_STATUSES` among them, every status; otherwise those statuses."""
    if mine:
        return queryset.filter(status=TaskStatus.CLAIMED, claimed_by_id=user_id)
    chosen = sorted(set(statuses))
    if not chosen:
        return queryset.filter(TracingTaskQuerySet.active_q())
    if ALL_STATUSES in chosen:
        return queryset
    if len(chosen) == 1:
        return queryset.filter(status=chosen[0])
    return queryset.filter(status__in=chosen)


def tracing_tasks_due(
    *, queryset: QuerySet[TracingTask], due: str | None, now: datetime | None = None
) -> QuerySet[TracingTask]:
    """By when a task is due (TASK_DUE_CHOICES), by TracingTaskQuerySet's rules,
    the ones the digest and the dashboard count: overdue; due from now to
    midnight; due in the next 7 days; appointment within 24 hours. No value, or
    one it does not know, does not filter."""
    rule = _DUE_RULES.get(due or "")
    if rule is None:
        return queryset
    return queryset.filter(rule(now or timezone.now()))


def tracing_tasks_matching(
    *,
    queryset: QuerySet[TracingTask],
    owner_id: int | None = None,
    pcn_id: int | None = None,
    practice_id: int | None = None,
    site: str | None = None,
    source: str | None = None,
) -> QuerySet[TracingTask]:
    """By the organisation that owns the task, its PCN, the patient's registered
    practice, the appointment's site (its full name) and where the task came
    from. A value not given (None or empty), or a source it does not know, does
    not filter."""
    lookups: dict[str, Any] = {}
    for field, value in (
        ("owner_id", owner_id),
        ("pcn_id", pcn_id),
        ("registered_practice_id", practice_id),
    ):
        if value is not None:
            lookups[field] = value
    if site:
        lookups["site_name"] = site
    if source and source in TaskSource.values:
        lookups["source"] = source
    return queryset.filter(**lookups) if lookups else queryset


def tracing_tasks_filtered(
    *,
    queryset: QuerySet[TracingTask],
    user_id: int | None = None,
    statuses: Iterable[str] = (),
    mine: bool = False,
    due: str | None = None,
    owner_id: int | None = None,
    pcn_id: int | None = None,
    practice_id: int | None = None,
    site: str | None = None,
    source: str | None = None,
    search: str = "",
    now: datetime | None = None,
) -> QuerySet[TracingTask]:
    """The worklist's filters together, then its search: what the API's task list
    takes. The admin's list filters apply the same functions one at a time."""
    queryset = tracing_tasks_with_status(
        queryset=queryset, statuses=statuses, mine=mine, user_id=user_id
    )
    queryset = tracing_tasks_due(queryset=queryset, due=due, now=now)
    queryset = tracing_tasks_matching(
        queryset=queryset,
        owner_id=owner_id,
        pcn_id=pcn_id,
        practice_id=practice_id,
        site=site,
        source=source,
    )
    if search:
        queryset = tracing_tasks_search(queryset=queryset, term=search)
    return queryset
